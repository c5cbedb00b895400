"""The command-line entry points: every subcommand documents itself.

Runs the real console entry (``python -m evaluation``) in a subprocess, as a
user or cron job would.
"""

import subprocess
import sys

import pytest

from evaluation.cli import SUBCOMMANDS, main

# Options each subcommand must offer (issue texts).
EXPECTED_OPTIONS = {
    "validate": ["INTAKE_DIR", "--language"],
    "synth": ["--out", "--seed", "--scale", "--format", "--inject-errors"],
    "run": ["--intake", "--quarter", "--out", "--programmes", "--language", "--jobs", "--force"],
    "pseudonymise": ["--key-file"],
}


def _run(*args):
    return subprocess.run([sys.executable, "-m", "evaluation", *args], capture_output=True, text=True, timeout=120)


def test_top_level_help_lists_every_subcommand():
    proc = _run("--help")
    assert proc.returncode == 0, proc.stderr
    for name in SUBCOMMANDS:
        assert name in proc.stdout


@pytest.mark.parametrize("command", sorted(EXPECTED_OPTIONS))
def test_subcommand_help_shows_its_options(command):
    proc = _run(command, "--help")
    assert proc.returncode == 0, proc.stderr
    for option in EXPECTED_OPTIONS[command]:
        assert option in proc.stdout, f"{command} --help does not mention {option}"


def test_unknown_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
