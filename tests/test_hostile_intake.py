"""A delivered intake treated as hostile: what reading and validating it may and may not do (issue 15).

Each test states the exact expected behaviour of one case, from the attack list of the issue
(D4 memory bombs, D5 links and special files, D6/D7 keys and raw exports inside an intake, D10
encodings and duplicate YAML keys). The memory bombs run ``evaluation validate`` in a child
process whose address space is limited to 2 GiB (``RLIMIT_AS``): the expected outcome is a clear
refusal and exit code 2, where the code before this issue aborted at 5.8 GB (a 2 MB header),
was OOM-killed at 24 GB (a 200 MB header), reached 1.5 GB (a 396-byte YAML alias bomb) and asked
for 9.4 GiB (a 300 MB shared string in an .xlsx).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from _intake_fixtures import copy_clean  # noqa: E402
from _xlsx_bomb import write_xlsx_bomb  # noqa: E402

from evaluation.intake.files import MAX_CELL_BYTES, MAX_COLUMNS, looks_like_key_file  # noqa: E402
from evaluation.intake.read import IntakeError, read_csv_table, read_intake  # noqa: E402
from evaluation.pipeline.manifest import describe_inputs  # noqa: E402

LIMIT_MB = 2048
_RUNNER = textwrap.dedent(
    """
    import resource, sys
    lim = int(sys.argv[1]) << 20
    resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    from evaluation.cli import main
    sys.exit(main(sys.argv[2:]))
    """
)


def validate_limited(intake: Path, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``evaluation validate INTAKE`` in a child process limited to 2 GiB of address space."""
    return subprocess.run(
        [sys.executable, "-c", _RUNNER, str(LIMIT_MB), "validate", str(intake), *extra],
        capture_output=True, text=True, timeout=timeout, cwd=Path(__file__).parents[1],
    )


def no_traceback(proc: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "MemoryError" not in proc.stderr


@pytest.fixture
def intake(tmp_path) -> Path:
    return copy_clean(tmp_path)


# ---------------------------------------------------------------------------------------- D4 memory


def test_d4_header_of_2mb_is_refused_under_2gb(intake):
    # a header-only CSV of 2 MB: one name per column, no line break
    (intake / "costs.csv").write_text(",".join(f"c{i}" for i in range(300_000))[:2_000_000])
    proc = validate_limited(intake)
    no_traceback(proc)
    assert proc.returncode == 2
    assert "costs.csv: the header line is longer than 256 KiB" in proc.stdout


def test_d4_header_of_200mb_is_refused_under_2gb(intake):
    with open(intake / "costs.csv", "w") as fh:
        chunk = ",".join(["abcdefghi"] * 100_000)  # 1 MB
        for _ in range(200):
            fh.write(chunk + ",")
    proc = validate_limited(intake)
    no_traceback(proc)
    assert proc.returncode == 2
    assert "costs.csv: the header line is longer than 256 KiB" in proc.stdout


def test_d4_too_many_columns_are_refused(intake):
    # 30,000 short names: within the header-length bound, beyond the width bound
    (intake / "costs.csv").write_text(",".join(f"c{i}" for i in range(30_000)) + "\n" + "1," * 29_999 + "1\n")
    proc = validate_limited(intake)
    no_traceback(proc)
    assert proc.returncode == 2
    assert f"costs.csv: 30,000 columns; a table of the contract has far fewer, and at most {MAX_COLUMNS:,}" in proc.stdout


def test_d4_duplicate_header_check_is_linear():
    # the old check (header.count per name) was O(n^2): 1,000 names x 1,000 = 1e6 steps is harmless,
    # so check the result, and that the width bound comes first for anything wider
    from evaluation.intake.read import _duplicates

    assert _duplicates(["a", "b", "a", "c", "b", "a"]) == ["a", "b"]
    assert _duplicates([str(i) for i in range(100_000)]) == []


def test_d4_one_cell_of_150mb_is_refused_under_2gb(intake):
    lines = (intake / "costs.csv").read_text().splitlines()
    cells = lines[1].split(",")
    cells[-1] = '"' + "x" * 150_000_000 + '"'
    (intake / "costs.csv").write_text(lines[0] + "\n" + ",".join(cells) + "\n")
    proc = validate_limited(intake)
    no_traceback(proc)
    assert proc.returncode == 2
    assert f"costs.csv: a cell of more than {MAX_CELL_BYTES >> 20} MiB (150,000,002 bytes" in proc.stdout


BILLION_LAUGHS = """a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@pytest.mark.parametrize("name", ["extract.yaml", "programmes.yaml"])
def test_d4_yaml_alias_bomb_is_refused_under_2gb(intake, name):
    assert len(BILLION_LAUGHS) < 400  # the bomb was 396 bytes
    (intake / name).write_text(BILLION_LAUGHS)
    proc = validate_limited(intake)
    no_traceback(proc)
    assert proc.returncode == 2
    assert proc.stderr == f"error: {intake / name}: line 2: YAML aliases (*a) are not allowed; write the value out in full\n"


def test_d4_yaml_depth_and_size_are_bounded(intake):
    (intake / "extract.yaml").write_text("x: " + "[" * 200 + "]" * 200 + "\n")
    with pytest.raises(IntakeError, match=r"extract.yaml: line 1: nested deeper than 32 levels"):
        read_intake(intake)
    (intake / "extract.yaml").write_text("# " + "x" * (1 << 20) + "\n")
    with pytest.raises(IntakeError, match=r"extract.yaml: larger than 1,048,576 bytes"):
        read_intake(intake)


def test_d4_xlsx_shared_string_bomb_is_refused_under_2gb(tmp_path):
    intake = tmp_path / "intake"
    intake.mkdir()
    src = copy_clean(tmp_path / "src")
    for y in ("programmes.yaml", "extract.yaml"):
        shutil.copy(src / y, intake / y)
    bomb = write_xlsx_bomb(intake / "intake.xlsx", 300)
    assert bomb.stat().st_size < 1_200_000  # the bomb: 1.16 MB asking for 9.4 GiB
    proc = validate_limited(intake)
    no_traceback(proc)
    assert proc.returncode == 2
    assert "intake.xlsx: part 'xl/sharedStrings.xml' unpacks to 300,000,215 bytes" in proc.stderr
    assert "refused as a zip bomb" in proc.stderr


def test_d4_small_workbook_of_the_same_shape_is_read(tmp_path):
    # the same workbook with an empty third string: read, so the refusal above is about the size
    from evaluation.intake.read import read_workbook

    got = read_workbook(write_xlsx_bomb(tmp_path / "ok.xlsx", 0))
    assert list(got) == ["participants"]
    assert got["participants"].data[["participant_id", "programme_id"]].values.tolist() == [["", "programme_id"]]


# ---------------------------------------------------------------------------- D5 links, FIFOs, devices


def test_d5_table_that_is_a_symlink_is_not_read(intake, tmp_path):
    outside = tmp_path / "outside.csv"
    shutil.copy(intake / "costs.csv", outside)
    outside.write_text(outside.read_text().replace("\n", "\n", 1) + "SECRET-OUTSIDE-ROW\n")
    (intake / "costs.csv").unlink()
    (intake / "costs.csv").symlink_to(outside)
    with pytest.raises(IntakeError, match=r"costs.csv: is a symbolic link; deliver the file itself"):
        read_intake(intake)
    proc = validate_limited(intake)
    no_traceback(proc)
    assert proc.returncode == 2
    assert "costs.csv: is a symbolic link" in proc.stdout
    written = "".join(p.read_text() for p in (intake / "_validation").rglob("*") if p.is_file())
    assert "SECRET-OUTSIDE-ROW" not in written


def test_d5_yaml_that_is_a_symlink_is_not_read(intake, tmp_path):
    outside = tmp_path / "p.yaml"
    shutil.move(intake / "programmes.yaml", outside)
    (intake / "programmes.yaml").symlink_to(outside)
    with pytest.raises(IntakeError, match=r"programmes.yaml: is a symbolic link"):
        read_intake(intake)


@pytest.mark.parametrize("link", ["_validation", "_validation/quarantine"])
def test_d5_validate_never_writes_through_a_planted_link(intake, tmp_path, link):
    target = tmp_path / "victim"
    target.mkdir(mode=0o755)
    (target / "validation_report.json").write_text("keep me")
    (intake / link).parent.mkdir(parents=True, exist_ok=True)
    (intake / link).symlink_to(target)
    proc = validate_limited(intake)
    no_traceback(proc)
    assert proc.returncode == 2
    assert f"error: cannot write the validation report to {intake / '_validation'}" in proc.stderr
    assert "is a symbolic link; refusing to write private data through it" in proc.stderr
    assert sorted(p.name for p in target.iterdir()) == ["validation_report.json"]
    assert (target / "validation_report.json").read_text() == "keep me"
    assert oct(target.stat().st_mode & 0o777) == "0o755"


def test_d5_fifo_as_a_table_is_refused_without_blocking(intake):
    (intake / "costs.csv").unlink()
    os.mkfifo(intake / "costs.csv")
    proc = validate_limited(intake, timeout=60)  # (a blocking open would hang until the timeout)
    no_traceback(proc)
    assert proc.returncode == 2
    assert "costs.csv: is a named pipe (FIFO), not a regular file; deliver a plain file" in proc.stdout


def test_d5_device_as_a_table_is_refused(intake):
    (intake / "costs.csv").unlink()
    (intake / "costs.csv").symlink_to("/dev/zero")
    with pytest.raises(IntakeError, match=r"costs.csv: is a symbolic link"):
        read_intake(intake)


# ------------------------------------------------------------------- D6/D7 keys and raw exports inside


@pytest.mark.parametrize("where", ["pseudonym.key", ".hidden", "old/notes.txt"])
def test_d6_a_key_inside_the_intake_is_refused_before_anything_is_read(intake, where):
    p = intake / where
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("9f" * 32 + "\n")
    with pytest.raises(IntakeError) as exc:
        read_intake(intake)
    msg = str(exc.value)
    assert f"{where}: looks like a pseudonym key" in msg
    assert "move it out of the intake" in msg
    proc = validate_limited(intake)
    assert proc.returncode == 2 and "looks like a pseudonym key" in proc.stderr
    assert not (intake / "_validation").exists()  # nothing read, nothing written


def test_d6_manifest_describes_contract_files_only(intake):
    (intake / "README.txt").write_text("delivered with care\n")
    (intake / "sub").mkdir()
    (intake / "sub" / "participants.csv").write_text("x\n")
    (intake / "costs.csv").rename(intake / "costs_real.csv")
    (intake / "costs.csv").symlink_to(intake / "costs_real.csv")
    got = [f["file"] for f in describe_inputs(intake)]
    expected = sorted(p.name for p in intake.iterdir()
                      if p.suffix in {".csv", ".yaml"} and not p.is_symlink() and p.name != "costs_real.csv")
    assert got == expected
    assert "README.txt" not in got and "costs.csv" not in got


def test_d7_raw_export_inside_the_intake_is_refused(intake):
    pd.DataFrame({"BSN": ["111222333"], "Naam": ["Jan"], "x": [1]}).to_csv(intake / "export_2026.csv", index=False)
    pd.DataFrame({"geboortedatum": ["1990-01-01"]}).to_parquet(intake / "raw.parquet")
    with pytest.raises(IntakeError) as exc:
        read_intake(intake)
    msg = str(exc.value)
    assert "export_2026.csv: holds identifier column(s) BSN, Naam: a raw export does not belong in an intake" in msg
    assert "raw.parquet: holds identifier column(s) geboortedatum" in msg


def test_d7_raw_export_sheet_in_a_workbook_is_refused(intake, tmp_path):
    wb = tmp_path / "wb"
    wb.mkdir()
    for y in ("programmes.yaml", "extract.yaml"):
        shutil.copy(intake / y, wb / y)
    with pd.ExcelWriter(wb / "intake.xlsx") as xw:
        pd.read_csv(intake / "participants.csv", dtype=str).to_excel(xw, sheet_name="participants", index=False)
        pd.DataFrame({"bsn": ["111222333"]}).to_excel(xw, sheet_name="ruw", index=False)
    with pytest.raises(IntakeError, match=r"sheet 'ruw' holds identifier column\(s\) bsn: a raw export"):
        read_intake(wb)


def test_d6_ordinary_files_are_not_taken_for_keys(tmp_path):
    (tmp_path / "README.txt").write_text("Levering Q3, zie extract.yaml\n")
    (tmp_path / "participants.csv").write_text("participant_id\n" + "a" * 64 + "\n")
    assert looks_like_key_file(tmp_path / "README.txt") is None
    assert looks_like_key_file(tmp_path / "participants.csv") is None


# ----------------------------------------------------------------------- D10 encodings and YAML keys


def test_d10_duplicate_yaml_key_is_refused_with_both_lines(intake):
    text = (intake / "extract.yaml").read_text()
    first = next(line for line in text.splitlines() if line.startswith("cutoff_date:"))
    lines = text.splitlines()
    where = lines.index(first) + 1
    (intake / "extract.yaml").write_text(text + first.replace("30", "29") + "\n")
    with pytest.raises(IntakeError) as exc:
        read_intake(intake)
    assert str(exc.value) == (f"{intake / 'extract.yaml'}: line {len(lines) + 1}: key 'cutoff_date' given twice "
                              f"(first on line {where}); keep one")


def test_d10_utf16_csv_with_bom_reads_as_its_utf8_twin(intake, tmp_path):
    text = (intake / "participants.csv").read_text(encoding="utf-8")
    (tmp_path / "p16.csv").write_bytes(text.encode("utf-16"))  # (with a byte-order mark)
    a = read_csv_table(intake / "participants.csv", "participants")
    b = read_csv_table(tmp_path / "p16.csv", "participants")
    assert b.encoding == "utf-16"
    pd.testing.assert_frame_equal(a.data.astype(str), b.data.astype(str))


def test_d10_utf16_without_bom_is_refused_not_read_as_cp1252(intake):
    text = (intake / "participants.csv").read_text(encoding="utf-8")
    (intake / "participants.csv").write_bytes(text.encode("utf-16-le"))
    with pytest.raises(IntakeError, match=r"participants.csv: holds NUL bytes \(first at position 1\): UTF-16 "
                                          r"without a byte-order mark"):
        read_csv_table(intake / "participants.csv", "participants")


def test_d10_utf16_yaml_with_bom_is_read(intake):
    before = read_intake(intake)
    text = (intake / "programmes.yaml").read_text(encoding="utf-8")
    (intake / "programmes.yaml").write_bytes(text.encode("utf-16"))
    assert read_intake(intake).programmes == before.programmes


# --------------------------------------------------------------------------- property: any bytes


@settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.one_of(
    st.binary(max_size=400),
    st.text(alphabet=st.sampled_from(list('ab,;"\n\r\t 1\x00é<=+')), max_size=300).map(lambda t: t.encode("utf-8")),
))
def test_any_bytes_as_a_table_are_read_or_refused_with_a_message(tmp_path_factory, payload):
    """Whatever bytes a supplier puts in a table file, reading ends in a table or in an IntakeError
    naming the file, never in another exception; and every parsed row keeps its source row number."""
    folder = tmp_path_factory.mktemp("any")
    p = folder / "costs.csv"
    p.write_bytes(payload)
    try:
        t = read_csv_table(p, "costs")
    except IntakeError as exc:
        assert str(p) in str(exc)
        return
    rows = t.data["_row"].tolist()
    assert rows == list(range(2, 2 + len(rows)))


def test_d6_run_with_a_key_inside_stops_before_anything_is_published(intake, tmp_path):
    (intake / "pseudonym.key").write_text("ab" * 32 + "\n")
    out = tmp_path / "reports"
    proc = subprocess.run(
        [sys.executable, "-m", "evaluation", "run", "--intake", str(intake), "--out", str(out),
         "--quarter", "2026Q3", "--no-progress"],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[1],
    )
    no_traceback(proc)
    assert proc.returncode == 2
    assert f"evaluation run: {intake}: the intake folder holds files that must not be there:\n" \
           "  pseudonym.key: looks like a pseudonym key (its name 'pseudonym.key' is a key file's name)" in proc.stderr
    assert [p.name for p in out.iterdir() if not p.name.endswith(".lock")] == []
