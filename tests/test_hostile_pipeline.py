"""A delivered intake and an operator's arguments treated as hostile: the quarterly run (pipeline part).

Each test states the exact expected behaviour (message and exit code) of one case:

- D1: a forged ``.validated/result.pickle`` inside an intake, whose payload would create a marker
  file when unpickled, is never loaded: not when a notebook opens the intake by hand, not when a
  notebook of a run opens it, not with a key other than the run's;
- D2: intake and reports folders that overlap (either inside the other, also through a symbolic
  link) are refused before anything moves (exit 2);
- D9: publication stopped at each of its steps, by SIGTERM (deferred: the publication finishes), by
  a process death (simulated by a BaseException from the seam ``publication._fault_point``: the next
  run completes or rolls back) and by a full disk (handled at once, exit 4);
- D10: reserved programme ids (exit 2), a read-only reports folder and a full disk (exit 4), a
  quarter written with full-width digits (exit 2), never a traceback.

The run uses the fixture notebooks and the stand-in validator of tests/test_run.py (hand-counted
intake: 5 participants), except the D1 run, which needs the real validator and cache.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import pickle
import shutil
import signal
import stat
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest
import yaml

from evaluation.pipeline import publication, quarter
from evaluation.pipeline.store import read_store
from evaluation.validation.cache import (
    CACHE_ENV,
    KEY_ENV,
    intake_fingerprint,
    load_validated,
    new_cache_key,
)

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
sys.path.insert(0, str(FIXTURES))
sys.path.insert(0, str(Path(__file__).parent))
from fake_validator import fake_validate  # noqa: E402
from test_run import OK_BOTH, make_intake, make_registry  # noqa: E402

OK_OVERALL = dict(OK_BOTH, scope="overall")


def said(err: str) -> str:
    """The CLI's own lines of stderr (the run's log lines, with their time stamps, left out)."""
    return "".join(line + "\n" for line in err.splitlines() if line.startswith("evaluation run:"))


def cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    quarter.configure_parser(p)
    return quarter.main(p.parse_args(argv))


def run(intake, out, registry, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("validator", fake_validate)
    return quarter.run_quarter(intake, "2026Q3", out, notebooks_dir=FIXTURES, registry=registry, **kw)


# --------------------------------------------------------------------------- D1: the forged pickle

class _Payload:
    """Unpickling this creates ``path`` (what an attacker's code would do, harmlessly)."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def plant_forged_cache(intake: Path, marker: Path) -> None:
    """A cache as the old run wrote it (format 1) and one in the new layout, owner-only, with the
    intake's true fingerprint: everything tar/cp -a/scp -p would preserve."""
    d = intake / ".validated"
    d.mkdir(mode=0o700)
    data = pickle.dumps(_Payload(marker))
    for name in ("result.pickle",):
        (d / name).write_bytes(data)
    (d / "fingerprint.json").write_text(json.dumps(
        {"format": 1, "pandas": pd.__version__, "files": intake_fingerprint(intake)}))
    (d / "cache.json").write_text(json.dumps(
        {"format": 2, "pandas": pd.__version__, "intake": str(intake.resolve()),
         "files": intake_fingerprint(intake), "hmac_sha256": "0" * 64}))
    for f in d.iterdir():
        os.chmod(f, 0o600)
    assert not marker.exists()


@pytest.fixture(scope="module")
def synth_intake(tmp_path_factory):
    synth = pytest.importorskip("evaluation.synth.generate")
    return synth.generate_intake(tmp_path_factory.mktemp("hostile") / "intake", seed=20260930, scale=0.1)


def test_forged_pickle_in_an_intake_opened_by_hand_is_never_loaded(synth_intake, tmp_path, monkeypatch):
    intake = tmp_path / "intake"
    shutil.copytree(synth_intake, intake)
    marker = tmp_path / "pwned"
    plant_forged_cache(intake, marker)
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.delenv(KEY_ENV, raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even a warning: the folder's hidden files are never looked at
        res = load_validated(intake, language="en")
    assert not marker.exists()
    assert not res.blocking and len(res.tables["participants"]) > 0  # a fresh validation
    # an attacker who also controls the environment but not the key: the signature fails first
    monkeypatch.setenv(CACHE_ENV, str(intake / ".validated"))
    monkeypatch.setenv(KEY_ENV, new_cache_key().hex())
    with pytest.warns(UserWarning, match="does not carry this run's signature; validating afresh"):
        load_validated(intake, language="en")
    assert not marker.exists()


PROBE = {
    "cells": [
        {"cell_type": "code", "execution_count": None, "id": "p0", "metadata": {"tags": ["parameters"]},
         "outputs": [], "source": 'intake_dir = ""\ndelivered = ""\noutput_dir = "out"\nprogramme_id = "all"\n'
                                  'language = "nl"\ncutoff_date = None\nseed = 1\n'},
        {"cell_type": "code", "execution_count": None, "id": "p1", "metadata": {}, "outputs": [], "source":
            "from pathlib import Path\n"
            "from evaluation.contract.results import make_results\n"
            "from evaluation.validation import cache\n"
            "used = cache._read_cache(Path(intake_dir)) is not None\n"
            "delivered_result = cache.load_validated(delivered)\n"
            "Path(output_dir).mkdir(parents=True, exist_ok=True)\n"
            "make_results([{'programme_id': 'all', 'analysis': 'probe', 'estimand': 'run_cache_used',\n"
            "  'endpoint': '', 'group': 'all', 'estimate': float(used), 'n': 1, 'method': 'probe',\n"
            "  'causal': False, 'note': ''}]).to_csv(Path(output_dir) / 'results.csv', index=False)\n"},
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}


def test_forged_pickle_in_a_run_intake_is_never_loaded(synth_intake, tmp_path):
    intake = tmp_path / "intake"
    shutil.copytree(synth_intake, intake)
    marker = tmp_path / "pwned"
    plant_forged_cache(intake, marker)
    probe = tmp_path / "probe.ipynb"
    probe.write_text(json.dumps(PROBE))
    reg = make_registry(tmp_path / "r.yaml", [{"id": "probe", "file": str(probe), "scope": "overall", "timeout": 300,
                                               "parameters": {"delivered": str(intake)}}])
    res = quarter.run_quarter(intake, "2026Q3", tmp_path / "reports", notebooks_dir=FIXTURES, registry=reg,
                              progress=False)
    assert res.exit_code == 0, (res.messages, [j.error for j in res.jobs])
    assert not marker.exists()  # neither the run nor its notebook (opening the delivered folder) unpickled it
    # the run's own cache (signed, in its private folder) was used for the staged folder
    rows = pd.read_csv(tmp_path / "reports" / "2026Q3" / "all" / "probe" / "results.csv")
    assert rows["estimate"].tolist() == [1.0]
    # and nothing of the cache, its key or the intake is in the published folder
    published = tmp_path / "reports" / "2026Q3"
    assert not list(published.rglob("*.pickle")) and not list(published.rglob("cache.json"))
    nb = (published / "all" / "probe" / "notebook.ipynb").read_text(encoding="utf-8")
    assert KEY_ENV not in nb and str(tmp_path) not in nb


# --------------------------------------------------------------------------- D2: overlapping folders

@pytest.mark.parametrize("layout", ["intake_inside_out", "out_inside_intake", "same", "through_symlink"])
def test_overlapping_intake_and_reports_refused_before_anything_moves(tmp_path, capsys, layout):
    x = tmp_path / "x"
    intake = make_intake(x / "2026Q3")
    (x / "2026Q3" / "published-looking").mkdir()
    out = {"intake_inside_out": x, "out_inside_intake": intake / "reports", "same": intake}.get(layout)
    if layout == "through_symlink":
        (tmp_path / "link").symlink_to(x)
        out = tmp_path / "link"
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code = cli(["--intake", str(intake), "--out", str(out), "--quarter", "2026Q3", "--force", "--no-progress"])
    err = said(capsys.readouterr().err)
    assert code == 2
    how = {"intake_inside_out": "overlap: the intake lies inside the reports folder",
           "through_symlink": "overlap: the intake lies inside the reports folder",
           "out_inside_intake": "overlap: the reports folder lies inside the intake",
           "same": "are the same folder"}[layout]
    assert err == (f"evaluation run: the intake folder {intake.resolve()} and the reports folder "
                   f"{Path(out).resolve()} {how}; use separate folders (the reports folder is shared, "
                   "the intake holds row-level data)\n")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing moved or created


# --------------------------------------------------------------------------- D9: publication windows

WINDOWS = ["journal_written", "old_quarter_kept", "quarter_renamed", "store_updated"]
BEFORE_COMMIT = {"journal_written", "old_quarter_kept"}


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A published 2026Q3 (the 'old' quarter of every window test) and its run id."""
    root = tmp_path_factory.mktemp("published")
    intake = make_intake(root / "intake")
    reg = make_registry(root / "r.yaml", [OK_OVERALL])
    res = run(intake, root / "reports", reg)
    assert res.exit_code == 0
    return root, intake, reg, res.manifest["run_id"]


def _copy(published, tmp_path):
    root, intake, reg, old_run = published
    out = tmp_path / "reports"
    shutil.copytree(root / "reports", out, symlinks=True)
    return intake, reg, old_run, out


def _run_id(out: Path) -> str:
    return json.loads((out / "2026Q3" / "manifest.json").read_text())["run_id"]


def _seam(monkeypatch, window: str, action) -> None:
    def fault(step: str) -> None:
        if step == window:
            action()
    monkeypatch.setattr(publication, "_fault_point", fault)


@pytest.mark.parametrize("window", WINDOWS)
def test_sigterm_during_publication_waits_until_it_is_done(published, tmp_path, monkeypatch, capsys, window):
    intake, reg, old_run, out = _copy(published, tmp_path)
    _seam(monkeypatch, window, lambda: os.kill(os.getpid(), signal.SIGTERM))
    # through the CLI, whose SIGTERM handler raises KeyboardInterrupt; with the stand-in validator
    monkeypatch.setattr(quarter, "default_validator", fake_validate)
    code = cli(["--intake", str(intake), "--out", str(out), "--quarter", "2026Q3", "--force", "--no-progress",
                "--notebooks", str(FIXTURES), "--registry", str(reg)])
    assert code == 0
    new_run = _run_id(out)
    assert new_run != old_run
    assert set(read_store(out)["run_id"]) == {new_run}  # store and folder agree
    assert len(list(out.glob("2026Q3.replaced-*"))) == 1
    assert not publication.journal_path(out, "2026Q3").exists() and not list(out.glob(".tmp-2026Q3-*"))
    assert not (out / "2026Q3" / publication.STAGED_STORE).exists()
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out / "2026Q3" / "index.html")
    assert "signal(s) [15] received during the publication of 2026Q3: the publication was finished first" in captured.err


class Crash(BaseException):
    """The process dying at the seam (SIGKILL, power loss): nothing of the run's clean-up follows."""


@pytest.mark.parametrize("window", WINDOWS)
def test_process_death_during_publication_is_completed_or_rolled_back_by_the_next_run(
        published, tmp_path, monkeypatch, window):
    intake, reg, old_run, out = _copy(published, tmp_path)

    def die():
        raise Crash(window)
    _seam(monkeypatch, window, die)
    with pytest.raises(Crash):
        run(intake, out, reg, force=True)
    journal = json.loads(publication.journal_path(out, "2026Q3").read_text())
    new_run = journal["run_id"]
    assert stat.S_IMODE(publication.journal_path(out, "2026Q3").stat().st_mode) == 0o600
    monkeypatch.setattr(publication, "_fault_point", lambda step: None)
    # a plain rerun (no --force) first finishes the publication, then refuses: the quarter exists
    again = run(intake, out, reg)
    assert again.exit_code == 3 and again.status == "refused"
    if window in BEFORE_COMMIT:
        where = "back in place" if window == "old_quarter_kept" else "in place"  # moved away, or not yet
        assert again.messages[0] == (f"rolled back the interrupted publication of 2026Q3 (run {new_run}): "
                                     f"the previous quarter is {where}")
        assert _run_id(out) == old_run and set(read_store(out)["run_id"]) == {old_run}
        assert not list(out.glob("2026Q3.replaced-*"))
    else:
        assert again.messages[0] == (f"completed the interrupted publication of 2026Q3 (run {new_run}): the "
                                     "quarter and its results-store partition are in place")
        assert _run_id(out) == new_run and set(read_store(out)["run_id"]) == {new_run}
        assert len(list(out.glob("2026Q3.replaced-*"))) == 1
        assert not (out / "2026Q3" / publication.STAGED_STORE).exists()
    assert again.messages[1].startswith(f"{out / '2026Q3'} exists; use --force")
    assert not publication.journal_path(out, "2026Q3").exists() and not list(out.glob(".tmp-2026Q3-*"))


@pytest.mark.parametrize("window", ["journal_written", "old_quarter_kept", "quarter_renamed"])
def test_full_disk_during_publication_is_rolled_back_or_completed_at_once(published, tmp_path, monkeypatch,
                                                                          capsys, window):
    intake, reg, old_run, out = _copy(published, tmp_path)

    def full():
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "x"))
    _seam(monkeypatch, window, full)
    monkeypatch.setattr(quarter, "default_validator", fake_validate)
    code = cli(["--intake", str(intake), "--out", str(out), "--quarter", "2026Q3", "--force", "--no-progress",
                "--notebooks", str(FIXTURES), "--registry", str(reg)])
    err = said(capsys.readouterr().err)
    assert code == 4
    state = "nothing published; 2026Q3 is unchanged" if window in BEFORE_COMMIT else "2026Q3 was published"
    assert err == (f"evaluation run: cannot write the reports: the disk is full ({out / 'x'})\n"
                   f"evaluation run: {state}\n")
    expected = old_run if window in BEFORE_COMMIT else _run_id(out)
    assert _run_id(out) == expected and set(read_store(out)["run_id"]) == {expected}
    if window in BEFORE_COMMIT:
        assert _run_id(out) == old_run and not list(out.glob("2026Q3.replaced-*"))
    else:
        assert _run_id(out) != old_run
    assert not publication.journal_path(out, "2026Q3").exists() and not list(out.glob(".tmp-2026Q3-*"))


# --------------------------------------------------------------------------- D10: odd ids, folders, quarters

@pytest.mark.parametrize("pid", ["index.html", "manifest.json", "Results.CSV", "all"])
def test_reserved_programme_id_is_refused_with_exit_2(tmp_path, monkeypatch, capsys, pid):
    intake = make_intake(tmp_path / "intake", participants=f"participant_id,programme_id,group,assignment\n"
                                                           f"PX-1,{pid},programme,observational\n")
    (intake / "programmes.yaml").write_text(yaml.safe_dump({"programmes": [{"programme_id": pid, "name": "X"}]}))
    reg = make_registry(tmp_path / "r.yaml", [OK_BOTH])
    monkeypatch.setattr(quarter, "default_validator", fake_validate)
    out = tmp_path / "reports"
    code = cli(["--intake", str(intake), "--out", str(out), "--quarter", "2026Q3", "--no-progress",
                "--notebooks", str(FIXTURES), "--registry", str(reg)])
    assert code == 2
    assert said(capsys.readouterr().err) == (f"evaluation run: programmes.yaml: programme_id {pid!r} is reserved (the "
                                       f"quarter folder uses {pid.lower()!r} itself); choose another id\n")
    assert not (out / "2026Q3").exists() and not list(out.glob(".tmp-*"))


def test_programme_id_that_is_not_a_plain_folder_name_is_refused():
    with pytest.raises(ValueError, match=r"programme_id 'P1\\n' cannot name a report folder"):
        quarter.check_programme_ids(["P1\n"])
    with pytest.raises(ValueError, match=r"programme_id '\.\./x' cannot name a report folder"):
        quarter.check_programme_ids(["../x"])
    assert quarter.check_programme_ids(["P1", "COSA-TRIAL", "v1.2"]) == ["P1", "COSA-TRIAL", "v1.2"]


@pytest.mark.parametrize("q", ["２０２６Q3", "2026Q3\n", "٢٠٢٦Q3", "2026q3"])
def test_quarter_with_non_ascii_digits_is_refused_with_exit_2(tmp_path, capsys, q):
    intake = make_intake(tmp_path / "intake")
    out = tmp_path / "reports"
    code = cli(["--intake", str(intake), "--out", str(out), "--quarter", q, "--no-progress"])
    assert code == 2
    assert said(capsys.readouterr().err) == (f"evaluation run: quarter must look like 2026Q3 (four ASCII digits, 'Q', "
                                       f"1-4), got {q!r}\n")
    assert not out.exists()


def test_read_only_reports_folder_ends_with_exit_4(tmp_path, monkeypatch, capsys):
    # as root a mode cannot make a folder read-only: the seam raises what the lock's open() would raise
    intake = make_intake(tmp_path / "intake")
    out = tmp_path / "reports"
    out.mkdir()
    lock = out / ".2026Q3.lock"

    def read_only(out_dir, q):
        raise OSError(errno.EROFS, "Read-only file system", str(lock))
    monkeypatch.setattr(quarter, "_quarter_lock", read_only)
    code = cli(["--intake", str(intake), "--out", str(out), "--quarter", "2026Q3", "--no-progress",
                "--notebooks", str(FIXTURES), "--registry", str(make_registry(tmp_path / "r.yaml", [OK_OVERALL]))])
    assert code == 4
    assert said(capsys.readouterr().err) == (
        f"evaluation run: cannot write the reports: the reports folder is on a read-only file system ({lock})\n"
        "evaluation run: nothing published; 2026Q3 is unchanged\n")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a folder of mode 0555")
def test_read_only_reports_folder_by_mode_ends_with_exit_4(tmp_path, capsys):
    intake = make_intake(tmp_path / "intake")
    out = tmp_path / "reports"
    out.mkdir()
    os.chmod(out, 0o555)
    try:
        code = cli(["--intake", str(intake), "--out", str(out), "--quarter", "2026Q3", "--no-progress"])
    finally:
        os.chmod(out, 0o755)
    assert code == 4
    assert said(capsys.readouterr().err) == (
        f"evaluation run: cannot write the reports: permission denied ({out / '.2026Q3.lock'})\n"
        "evaluation run: nothing published; 2026Q3 is unchanged\n")


def test_full_disk_while_building_ends_with_exit_4_and_nothing_published(published, tmp_path, monkeypatch, capsys):
    intake, reg, old_run, out = _copy(published, tmp_path)
    target = {}

    def full(path, df):
        target["path"] = path
        raise OSError(errno.ENOSPC, "No space left on device", str(path))
    monkeypatch.setattr(quarter, "write_table", full)
    monkeypatch.setattr(quarter, "default_validator", fake_validate)
    code = cli(["--intake", str(intake), "--out", str(out), "--quarter", "2026Q3", "--force", "--no-progress",
                "--notebooks", str(FIXTURES), "--registry", str(reg)])
    assert code == 4
    assert said(capsys.readouterr().err) == (f"evaluation run: cannot write the reports: the disk is full "
                                       f"({target['path']})\nevaluation run: nothing published; 2026Q3 is unchanged\n")
    assert _run_id(out) == old_run and not list(out.glob(".tmp-*")) and not list(out.glob("2026Q3.replaced-*"))
