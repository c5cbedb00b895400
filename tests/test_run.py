"""Tests of the quarterly run (evaluation.pipeline.quarter and its modules) against tiny fixture notebooks.

The fixture notebooks live in tests/fixtures/notebooks/: ``ok`` counts the
participants and writes results/headline/figure/table, ``fails`` raises
ValueError, ``sleeps`` sleeps (timeouts) and, given ``marker``, first writes its
kernel's pid to that file, so that a test can act when the kernel is running. The intake is validated by a small
stand-in (fixtures/notebooks/fake_validator.py) so these tests do not depend
on the validator; tests/test_run_real.py runs the real validator and notebooks.

Expected numbers are hand-worked from the fixture intake: P1 has 3 participants
(2 programme, 1 comparison, all randomised -> design "rct"), P2 has 2 programme
participants (-> "descriptive"), all programmes together 5.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from evaluation.pipeline import plan, quarter, registry, workers
from evaluation.pipeline.store import read_store

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
sys.path.insert(0, str(FIXTURES))
from fake_validator import fake_validate  # noqa: E402

PARTICIPANTS = """participant_id,programme_id,group,assignment
PX-1001,P1,programme,randomised
PX-1002,P1,programme,randomised
PX-1003,P1,comparison,randomised
PX-2001,P2,programme,observational
PX-2002,P2,programme,observational
"""


def make_intake(root: Path, participants: str = PARTICIPANTS, cutoff: str = "2026-09-30") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "participants.csv").write_text(participants, encoding="utf-8")
    (root / "programmes.yaml").write_text(yaml.safe_dump({"programmes": [
        {"programme_id": "P1", "name": "Mentor Noord"}, {"programme_id": "P2", "name": "COSA Zuid"}]}))
    (root / "extract.yaml").write_text(yaml.safe_dump({"cutoff_date": cutoff, "format": "csv"}))
    return root


def make_registry(path: Path, entries: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"notebooks": entries}), encoding="utf-8")
    return path


OK_BOTH = {"id": "ok", "file": "ok.ipynb", "scope": "both", "timeout": 120, "derived": ["design"],
           "title": {"nl": "Telling", "en": "Count"}}
FAILS_OVERALL = {"id": "fails", "file": "fails.ipynb", "scope": "overall", "timeout": 120}


def run(intake, out, registry, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("validator", fake_validate)
    return quarter.run_quarter(intake, "2026Q3", out, notebooks_dir=FIXTURES, registry=registry, **kw)


# --------------------------------------------------------------------------- pure helpers

def test_quarter_bounds_hand_checked():
    assert quarter.quarter_bounds("2026Q3") == (pd.Timestamp("2026-07-01").date(), pd.Timestamp("2026-09-30").date())
    assert quarter.quarter_bounds("2024Q1")[1] == pd.Timestamp("2024-03-31").date()
    assert quarter.quarter_bounds("2026Q4") == (pd.Timestamp("2026-10-01").date(), pd.Timestamp("2026-12-31").date())
    with pytest.raises(ValueError, match="2026Q3"):
        quarter.quarter_bounds("2026-Q3")


def test_registry_errors_name_file_entry_and_field(tmp_path):
    reg = make_registry(tmp_path / "r.yaml", [OK_BOTH, {"id": "x", "file": "x.ipynb", "scope": "weekly", "timeout": 5}])
    with pytest.raises(ValueError, match=r"r\.yaml: notebooks entry 2 \(x\): field 'scope'"):
        registry.load_registry(reg)
    reg = make_registry(tmp_path / "r.yaml", [{"id": "x", "file": "x.ipynb", "scope": "both"}])
    with pytest.raises(ValueError, match="entry 1: field 'timeout' is required"):
        registry.load_registry(reg)
    reg = make_registry(tmp_path / "r.yaml", [dict(OK_BOTH, derived=["colour"])])
    with pytest.raises(ValueError, match="unknown name"):
        registry.load_registry(reg)
    specs = registry.load_registry(make_registry(tmp_path / "r.yaml", [OK_BOTH]))
    assert specs[0].derived == ("design",) and specs[0].phase == 1


def test_reference_parameters_from_programmes_yaml():
    ref = {"rate": 0.45, "ci_lower": 0.44, "ci_upper": 0.46, "horizon_days": 730, "source": "WODC 2024, table 3"}
    assert plan.reference_parameters({"programme_id": "P", "reference_rate": ref}) == {
        "reference_rate": 0.45, "reference_ci": [0.44, 0.46], "reference_horizon": 730,
        "reference_endpoint": "GENERAL", "reference_source": "WODC 2024, table 3"}
    assert plan.reference_parameters({"programme_id": "P"}) == {}
    no_ci = {k: v for k, v in ref.items() if not k.startswith("ci_")}
    assert plan.reference_parameters({"programme_id": "P", "reference_rate": no_ci})["reference_ci"] is None
    with pytest.raises(ValueError, match="programme 'P', field 'reference_rate': the interval 0.46-0.5 does not"):
        plan.reference_parameters({"programme_id": "P", "reference_rate": dict(ref, ci_lower=0.46, ci_upper=0.5)})
    with pytest.raises(ValueError, match="give both ci_lower and ci_upper"):
        plan.reference_parameters({"programme_id": "P", "reference_rate": dict(no_ci, ci_lower=0.4)})


def test_reference_rate_reaches_only_programmes_without_comparison(tmp_path):
    intake = make_intake(tmp_path / "intake")
    ref = {"rate": 0.45, "horizon_days": 730, "source": "WODC 2024, table 3"}
    (intake / "programmes.yaml").write_text(yaml.safe_dump({"programmes": [
        {"programme_id": "P1", "name": "Mentor Noord", "reference_rate": ref},
        {"programme_id": "P2", "name": "COSA Zuid", "reference_rate": ref}]}))
    reg = make_registry(tmp_path / "r.yaml", [dict(OK_BOTH, derived=["design", "reference"])])
    result = run(intake, tmp_path / "reports", reg)
    assert result.exit_code == 0
    params = {j.job_id: j.parameters for j in result.jobs}
    # P1 has a randomised comparison group: its own comparison, not a published rate; "all" pools designs
    assert "reference_rate" not in params["P1/ok"] and "reference_rate" not in params["all/ok"]
    assert params["P2/ok"]["design"] == "descriptive"
    assert (params["P2/ok"]["reference_rate"], params["P2/ok"]["reference_horizon"]) == (0.45, 730)


# --------------------------------------------------------------------------- end to end

@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """One run with a notebook for each programme + all together, and one failing notebook."""
    root = tmp_path_factory.mktemp("e2e")
    intake = make_intake(root / "intake")
    bad = {"id": "bad", "file": "ok.ipynb", "scope": "overall", "timeout": 120, "parameters": {"bad_results": True}}
    reg = make_registry(root / "registry.yaml", [OK_BOTH, FAILS_OVERALL, bad])
    out = root / "reports"
    result = run(intake, out, reg, jobs=2)
    return root, intake, reg, out, result


def test_run_layout_and_failed_notebook(first_run):
    root, intake, reg, out, result = first_run
    assert result.status == "published"
    assert result.exit_code == 1  # one notebook failed -> exit 1, the others published
    q = out / "2026Q3"
    assert result.quarter_dir == q and q.is_dir()
    for rel in ["index.html", "manifest.json", "run.log", "results.csv",
                "P1/ok/notebook.ipynb", "P1/ok/report.html", "P1/ok/results.csv", "P1/ok/headline.json",
                "P1/ok/count.png", "P1/ok/count.svg", "P1/ok/count_table.csv", "P2/ok/report.html",
                "all/ok/report.html", "all/fails/notebook.ipynb", "all/fails/report.html"]:
        assert (q / rel).is_file(), rel
    # nothing private or temporary is published
    assert not (q / "_private").exists() and not list(q.rglob("participants.csv"))
    assert not (q / "_log").exists() and not (q / "owner.json").exists() and not (q / ".store.parquet").exists()
    # the files the run itself publishes come through the one writer: readable by others, not executable
    for rel in ["manifest.json", "run.log", "results.csv", "validation/reconciliation.csv",
                "P1/ok/notebook.ipynb", "P1/ok/report.html", "all/fails/report.html"]:
        assert (q / rel).stat().st_mode & 0o777 == 0o644, rel
    assert "finished P1/ok: ok" in (q / "run.log").read_text(encoding="utf-8")
    assert not list(out.glob(".tmp-*"))
    status = {j.job_id: j.status for j in result.jobs}
    assert status == {"P1/ok": "ok", "P2/ok": "ok", "all/ok": "ok", "all/fails": "failed", "all/bad": "failed"}
    errors = {j.job_id: j.error for j in result.jobs}
    assert errors["all/fails"] == "ValueError: deliberate fixture failure"
    # a notebook that runs but writes a malformed results.csv fails on its own; its rows stay out of the store
    assert errors["all/bad"] == ("ResultsError: all/bad/results.csv: row 1, field 'estimate': "
                                 "'about three' is not a number")


def test_notebook_numbers_and_derived_design(first_run):
    _, _, _, out, _ = first_run
    q = out / "2026Q3"
    counts = {}
    for pid in ["P1", "P2", "all"]:
        df = pd.read_csv(q / pid / "ok" / "results.csv")
        row = df[df["estimand"] == "participants"].iloc[0]
        counts[pid] = (row["estimate"], row["note"])
    # hand count from PARTICIPANTS; design: P1 all randomised with comparison -> rct, P2 no comparison
    # -> descriptive, together the designs differ -> descriptive
    assert counts == {"P1": (3.0, "design=rct"), "P2": (2.0, "design=descriptive"), "all": (5.0, "design=descriptive")}
    combined = pd.read_csv(q / "results.csv")
    assert len(combined) == 6 and set(combined["notebook"]) == {"ok"}


def test_manifest_provenance(first_run):
    _, intake, _, out, result = first_run
    m = json.loads((out / "2026Q3" / "manifest.json").read_text())
    files = {f["file"]: f for f in m["intake"]["files"]}
    assert set(files) == {"participants.csv", "programmes.yaml", "extract.yaml"}
    for name, f in files.items():
        data = (intake / name).read_bytes()
        assert f["sha256"] == hashlib.sha256(data).hexdigest() and f["bytes"] == len(data)
    assert m["reconciliation"] == [{"table": "participants", "rows_read": 5, "rows_accepted": 5,
                                    "rows_quarantined": 0, "blocking": False}]
    assert m["cutoff_date"] == "2026-09-30" and m["cutoff_source"] == "quarter_end"
    assert m["parameters"]["jobs"] == 2 and m["parameters"]["seed"] == 20260930
    assert m["software"]["python"] and m["software"]["libraries"]["papermill"]
    jobs = {j["job_id"]: j for j in m["jobs"]}
    assert jobs["all/fails"]["status"] == "failed" and jobs["P1/ok"]["status"] == "ok"
    for j in jobs.values():
        assert j["started"] <= j["ended"] and j["seconds"] > 0
    # parameters recorded without the private absolute paths
    assert jobs["P1/ok"]["parameters"]["design"] == "rct"
    assert "/" not in jobs["P1/ok"]["parameters"]["intake_dir"]
    assert m["privacy_scan"]["findings"] == 0 and m["privacy_scan"]["identifier_values"] == 5


def test_html_reports_have_no_code_and_no_tracebacks(first_run):
    _, _, _, out, _ = first_run
    q = out / "2026Q3"
    for html_file in q.rglob("*.html"):
        body = html_file.read_text(encoding="utf-8")
        assert "Traceback" not in body, html_file
        assert "make_results(" not in body and "import pandas" not in body, html_file  # code cells hidden
        assert "/tmp/" not in body and str(out) not in body, html_file  # no paths
    ok = (q / "P1" / "ok" / "report.html").read_text(encoding="utf-8")
    assert "3 participants" in ok  # the printed output is kept
    assert "Fixture: a notebook that succeeds" in ok  # markdown kept
    fails = (q / "all" / "fails" / "report.html").read_text(encoding="utf-8")
    assert "ValueError: deliberate fixture failure" in fails
    index = (q / "index.html").read_text(encoding="utf-8")
    assert "<html lang='nl'>" in index and "mislukt" in index and "ValueError: deliberate fixture failure" in index
    assert "Mentor Noord" in index and "P1/ok/report.html" in index and "Peildatum" in index
    # the detail page of a notebook shows the headline sentence from its headline.json
    assert "3 participants in P1." in (q / "P1" / "ok" / "index.html").read_text(encoding="utf-8")
    assert "P1/ok/index.html" in index and "P1/index.html" in index  # the overview links the pages behind it


def test_published_notebooks_show_folder_names_only(first_run):
    """The parameters cell and papermill's metadata of a published notebook name folders, as the
    manifest does (``Path(value).name``), never the server's absolute paths."""
    root, _, _, out, _ = first_run
    q = out / "2026Q3"
    for nb_file in q.rglob("notebook.ipynb"):
        text = nb_file.read_text(encoding="utf-8")
        assert str(root) not in text and str(out) not in text and "/tmp/" not in text, nb_file
    nb = json.loads((q / "P1" / "ok" / "notebook.ipynb").read_text(encoding="utf-8"))
    injected = next(c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", []))
    source = "".join(injected["source"])
    assert 'intake_dir = "intake"' in source and 'output_dir = "ok"' in source
    meta = nb["metadata"]["papermill"]
    assert meta["parameters"]["intake_dir"] == "intake" and meta["parameters"]["output_dir"] == "ok"
    assert meta["input_path"] == "ok.ipynb" and meta["output_path"] == "notebook.ipynb"
    html = (q / "P1" / "ok" / "report.html").read_text(encoding="utf-8")
    assert str(root) not in html


def test_store_gains_the_quarter(first_run):
    _, _, _, out, result = first_run
    s = read_store(out)
    assert set(s["quarter"]) == {"2026Q3"} and len(s) == 6
    assert set(s["run_id"]) == {result.manifest["run_id"]}
    assert s.loc[(s.programme_id == "P2") & (s.estimand == "participants"), "estimate"].item() == 2.0
    assert str(s["causal"].dtype) == "boolean"


def test_second_run_refused_then_force_keeps_old_and_same_numbers(first_run):
    root, intake, reg, out, first = first_run
    again = run(intake, out, reg)
    assert again.exit_code == 3 and again.status == "refused" and "--force" in again.messages[0]
    assert not list(out.glob("2026Q3.replaced-*"))
    trends = {"id": "trends", "file": str(FIXTURES.parent.parent.parent / "notebooks" / "60_trends.ipynb"),
              "scope": "overall", "timeout": 120, "phase": 2, "derived": ["results_store"]}
    reg_all = make_registry(root / "registry_all.yaml", [dict(OK_BOTH, scope="overall"), trends])
    forced = run(intake, out, reg_all, force=True)
    assert forced.exit_code == 0 and forced.status == "published"
    kept = list(out.glob("2026Q3.replaced-*"))
    assert len(kept) == 1 and forced.replaced_dir == kept[0]
    assert (kept[0] / "all" / "fails" / "report.html").is_file()  # the old report is intact
    assert not (out / "2026Q3" / "all" / "fails").exists()
    # same intake and parameters -> identical results file
    assert (kept[0] / "all" / "ok" / "results.csv").read_bytes() == (out / "2026Q3" / "all" / "ok" / "results.csv").read_bytes()
    # the store's partition was replaced, not appended
    s = read_store(out)
    assert len(s) == 2 and set(s["run_id"]) == {forced.manifest["run_id"]}
    # the trends notebook ran after the others and saw this quarter's (pending) rows: one quarter only
    headline = json.loads((out / "2026Q3" / "all" / "trends" / "headline.json").read_text())
    assert headline["status"] == "not_estimable" and "2026Q3" in headline["sentences"][0]
    table = pd.read_csv(out / "2026Q3" / "all" / "trends" / "trend_table.csv")
    assert sorted(table["estimand"]) == ["participants", "seeded_draw"] and "run_id" not in table.columns
    index = (out / "2026Q3" / "index.html").read_text(encoding="utf-8")
    assert "mislukt" not in index


def test_blocking_validation_stops_with_exit_2(tmp_path):
    intake = make_intake(tmp_path / "intake")
    (intake / "participants.csv").unlink()
    reg = make_registry(tmp_path / "r.yaml", [OK_BOTH])
    result = run(intake, tmp_path / "reports", reg)
    assert result.exit_code == 2 and result.status == "failed_validation"
    assert not (tmp_path / "reports" / "2026Q3").exists()
    report = tmp_path / "reports" / "2026Q3.failed-validation"
    assert (report / "STOPPED.txt").read_text().count("blocking errors: rules missing_table") == 1
    assert report.stat().st_mode & 0o777 == 0o700  # internal: it may quote values of the intake
    assert (report / "issues.csv").stat().st_mode & 0o777 == 0o600  # the stand-in's issues, row-level
    assert not list((tmp_path / "reports").glob(".tmp-*"))


def test_quarantine_share_above_maximum_stops(tmp_path):
    # 1 of 6 rows quarantined (unknown programme) = 16.7% > 5%, but <= 20%
    intake = make_intake(tmp_path / "intake", PARTICIPANTS + "PX-9001,P9,programme,observational\n")
    reg = make_registry(tmp_path / "r.yaml", [OK_BOTH])
    result = run(intake, tmp_path / "reports", reg)
    assert result.exit_code == 2
    assert "1 of 6 rows quarantined (16.7%)" in result.messages[0]
    assert not (tmp_path / "reports" / "2026Q3").exists()


def test_cutoff_before_quarter_stops(tmp_path):
    intake = make_intake(tmp_path / "intake", cutoff="2026-05-31")
    reg = make_registry(tmp_path / "r.yaml", [OK_BOTH])
    result = run(intake, tmp_path / "reports", reg)
    assert result.exit_code == 2 and "before the quarter's first day 2026-07-01" in result.messages[0]


def test_unknown_programme_is_an_error(tmp_path):
    intake = make_intake(tmp_path / "intake")
    reg = make_registry(tmp_path / "r.yaml", [OK_BOTH])
    with pytest.raises(ValueError, match=r"unknown programme id\(s\) \['P7'\]"):
        run(intake, tmp_path / "reports", reg, programmes="P1,P7")


def test_planted_identifier_blocks_publication(tmp_path):
    # earlier extract cutoff is used and stated; the planted participant id must stop the run
    intake = make_intake(tmp_path / "intake", cutoff="2026-08-15")
    reg = make_registry(tmp_path / "r.yaml", [dict(OK_BOTH, scope="overall", parameters={"plant_identifier": True})])
    out = tmp_path / "reports"
    result = run(intake, out, reg)
    assert result.exit_code == 1 and result.status == "privacy_failure"
    assert not (out / "2026Q3").exists() and not list(out.glob(".tmp-*"))
    assert {"file": "all/ok/count_table.csv", "field": "participant_id", "location": "line 2"} in result.privacy_findings
    assert all(f["file"].startswith("all/ok/") for f in result.privacy_findings)
    assert result.manifest["cutoff_date"] == "2026-08-15" and result.manifest["cutoff_source"] == "extract"
    assert read_store(out).empty


def _kernel_gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_for(condition, seconds: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail after a generous ``seconds`` (a loaded machine is slow)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {seconds:.0f} s")
        time.sleep(0.2)


def test_notebook_timeout_reported_as_timeout(tmp_path):
    """papermill's cell timeout (3 s) stops a cell that would sleep 10 minutes: the job is a timeout
    with papermill's own error, not the scheduler's wall-clock kill (limit 3 + 120 + 30 s)."""
    # (that the other notebooks complete when one fails is shown by first_run)
    intake = make_intake(tmp_path / "intake")
    reg = make_registry(tmp_path / "r.yaml", [
        {"id": "sleeps", "file": "sleeps.ipynb", "scope": "overall", "timeout": 3,
         "parameters": {"sleep_seconds": 600, "marker": str(tmp_path / "sleeping")}},
    ])
    result = run(intake, tmp_path / "reports", reg)
    job = result.jobs[0]
    assert job.status == "timeout" and "CellTimeoutError" in job.error, (job.status, job.error)
    assert "was stopped" not in job.error  # not the wall-clock kill
    assert (tmp_path / "sleeping").is_file()  # the cell did start sleeping before it was cut off
    assert job.seconds < 600  # so the sleep was interrupted, not waited out
    assert result.exit_code == 1 and result.status == "published"
    index = (tmp_path / "reports" / "2026Q3" / "index.html").read_text(encoding="utf-8")
    assert "afgebroken (tijdslimiet)" in index


def test_outer_timeout_kills_and_publishes_nothing(tmp_path):
    intake = make_intake(tmp_path / "intake")
    reg = make_registry(tmp_path / "r.yaml", [
        {"id": "sleeps", "file": "sleeps.ipynb", "scope": "overall", "timeout": 900, "parameters": {"sleep_seconds": 600}},
    ])
    t0 = time.monotonic()
    result = run(intake, tmp_path / "reports", reg, timeout=8)
    assert time.monotonic() - t0 < 300  # far below the 10-minute sleep: the run was stopped
    assert result.exit_code == 1 and result.status == "timeout"
    assert [(j.status, j.error) for j in result.jobs] == [("timeout", "TimeoutError: run timeout reached")]
    assert not (tmp_path / "reports" / "2026Q3").exists() and not list((tmp_path / "reports").glob(".tmp-*"))


def test_worker_pool_reuses_workers_and_replaces_a_killed_one(tmp_path):
    """One worker process runs notebook after notebook; one killed at its wall-clock limit is replaced.

    The scheduler's clock is a fake: it jumps 10,000 s ahead once notebook c has started its
    hour-long sleep (c writes a marker file then), so c exceeds its 600 s limit at that moment
    however slow the machine is, and only the scheduler's kill can stop it (cell timeout 3600 s).
    """
    import logging

    work = tmp_path / "jobs"
    work.mkdir()
    marker = tmp_path / "c-sleeping"

    def job(name: str, sleep: int, **params) -> workers.Job:
        spec = {"input": str(FIXTURES / "sleeps.ipynb"), "output_dir": str(tmp_path / name),
                "parameters": {"sleep_seconds": sleep, **params}, "cwd": str(FIXTURES), "execution_timeout": 3600,
                "start_timeout": 120, "language": "nl", "replacements": {}}
        return workers.Job(result=workers.JobResult(name, "sleeps", "all", name), spec=spec, phase=1, wall_limit=600)

    def clock() -> float:
        return time.monotonic() + (10_000 if marker.exists() else 0)

    jobs = [job("a", 0), job("b", 0), job("c", 3600, marker=str(marker)), job("d", 0)]
    pool = workers.WorkerPool(1, work, logging.getLogger("test-pool"))
    try:
        assert workers.run_jobs(jobs, pool, None, logging.getLogger("test-pool"), clock=clock)
    finally:
        pool.close()
    assert [j.result.status for j in jobs] == ["ok", "ok", "timeout", "ok"], [j.result.error for j in jobs]
    assert jobs[2].result.error == "TimeoutError: notebook exceeded 600 s and was stopped"
    _wait_for(lambda: _kernel_gone(int(marker.read_text())), 60, "the killed notebook's kernel ending")
    # four notebooks, two processes: a, b, c shared the first worker; d ran in its replacement
    assert pool._started == 2 and pool.workers == []
    assert all((tmp_path / n / "report.html").is_file() for n in "abd")
    assert not (tmp_path / "c" / "report.html").exists()
    assert all(j.result.cell_seconds is not None for j in jobs if j.result.status == "ok")


KILL_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {fixtures!r})
    from fake_validator import fake_validate
    from evaluation.pipeline.quarter import run_quarter
    r = run_quarter({intake!r}, "2026Q3", {out!r}, notebooks_dir={fixtures!r}, registry={reg!r},
                    validator=fake_validate, progress=False, jobs=2)
    sys.exit(r.exit_code)
""")


def _worker_pids(marker: str) -> list[int]:
    import psutil

    pids = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            if any(marker in part for part in (p.info["cmdline"] or [])):
                pids.append(p.info["pid"])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return pids


def test_killed_run_leaves_no_partial_quarter_and_rerun_succeeds(tmp_path):
    """A run killed (SIGKILL) in the middle, i.e. one notebook done and the other's kernel sleeping
    (it writes a marker file then): no quarter is published, its workers and their kernels stop by
    themselves, and the next run cleans up and publishes."""
    intake = make_intake(tmp_path / "intake")
    out = tmp_path / "reports"
    marker = tmp_path / "sleeping"
    reg = make_registry(tmp_path / "r.yaml", [
        dict(OK_BOTH, scope="overall"),
        {"id": "sleeps", "file": "sleeps.ipynb", "scope": "overall", "timeout": 900,
         "parameters": {"sleep_seconds": 600, "marker": str(marker)}},
    ])
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT.format(fixtures=str(FIXTURES), intake=str(intake), out=str(out), reg=str(reg)))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: marker.is_file() and list(out.glob(".tmp-2026Q3-*/all/ok/results.csv")), 180,
                  "the run reaching its middle")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (out / "2026Q3").exists()
    assert list(out.glob(".tmp-2026Q3-*"))  # a leftover build folder, cleaned by the next run
    # the orphaned notebook workers notice their run is gone and stop, with their kernels
    _wait_for(lambda: _worker_pids(str(out)) == [], 120, "the orphaned workers stopping")
    _wait_for(lambda: _kernel_gone(int(marker.read_text())), 60, "the orphaned kernel stopping")
    rerun = run(intake, out, make_registry(tmp_path / "r2.yaml", [dict(OK_BOTH, scope="overall")]))
    assert rerun.exit_code == 0 and (out / "2026Q3" / "index.html").is_file()
    assert not list(out.glob(".tmp-2026Q3-*"))


def test_cli_parser_and_exit_code_for_missing_intake(tmp_path, capsys):
    import argparse

    p = argparse.ArgumentParser()
    quarter.configure_parser(p)
    args = p.parse_args(["--intake", str(tmp_path / "nope"), "--quarter", "2026Q3", "--out", str(tmp_path / "r"),
                         "--jobs", "2", "--language", "en", "--no-progress"])
    assert args.jobs == 2 and args.max_quarantine_share == 0.05 and args.programmes == "all"
    assert quarter.main(args) == 2
    assert "intake folder not found" in capsys.readouterr().err


def test_job_of_all_programmes_runs_after_them_and_gets_their_results(tmp_path):
    """With the derived parameter ``programme_results``, all/ok starts after P1/ok and P2/ok ended
    and reads their published rows (2 estimands x 2 programmes; counts from PARTICIPANTS: 3 and 2)
    and tables; the manifest records the folder name only."""
    intake = make_intake(tmp_path / "intake")
    reg = make_registry(tmp_path / "registry.yaml", [dict(OK_BOTH, derived=["design", "programme_results"])])
    result = run(intake, tmp_path / "reports", reg, jobs=2)
    assert result.exit_code == 0, result.messages
    jobs = {j.job_id: j for j in result.jobs}
    assert jobs["all/ok"].started >= max(jobs["P1/ok"].ended, jobs["P2/ok"].ended)
    assert jobs["all/ok"].parameters["programme_results"] == "ok"
    assert "programme_results" not in jobs["P1/ok"].parameters
    seen = pd.read_csv(tmp_path / "reports" / "2026Q3" / "all" / "ok" / "programmes_seen.csv")
    got = seen[seen["estimand"] == "participants"].set_index("programme_id")["estimate"].to_dict()
    assert got == {"P1": 3.0, "P2": 2.0} and len(seen) == 4
    # and their other tables, each row with its programme: count_table.csv holds the same count
    assert (seen["value"] == seen["programme_id"].map({"P1": 3, "P2": 2})).all()
    assert (seen["people"] == seen["value"]).all()  # by_programme.csv named its programme itself


def test_job_waits_for_its_needs_and_a_failing_preparation_fails_only_that_job(tmp_path):
    """Scheduling by hand: 'pooled' needs 'a' and 'b' and starts after both ended (its prepare sees
    them ended); 'broken' cannot prepare its inputs: it fails with the reason, the others run."""
    import logging

    work = tmp_path / "jobs"
    work.mkdir()

    def job(name: str) -> workers.Job:
        spec = {"input": str(FIXTURES / "sleeps.ipynb"), "output_dir": str(tmp_path / name),
                "parameters": {"sleep_seconds": 0}, "cwd": str(FIXTURES), "execution_timeout": 120,
                "start_timeout": 60, "language": "nl", "replacements": {}}
        return workers.Job(result=workers.JobResult(name, "sleeps", "all", name), spec=spec, phase=1, wall_limit=120)

    a, b, pooled, broken = job("a"), job("b"), job("pooled"), job("broken")
    seen = []
    pooled.needs, pooled.prepare = (a, b), lambda: seen.append((a.result.status, b.result.status))

    def fail():
        raise ValueError("no programme results")

    broken.prepare = fail
    jobs = [pooled, broken, a, b]  # queue order puts the pooled job first: it must still wait
    pool = workers.WorkerPool(2, work, logging.getLogger("test-needs"))
    try:
        assert workers.run_jobs(jobs, pool, None, logging.getLogger("test-needs"))
    finally:
        pool.close()
    assert seen == [("ok", "ok")]
    assert [j.result.status for j in jobs] == ["ok", "failed", "ok", "ok"]
    assert broken.result.error == "PrepareError: ValueError: no programme results"
    assert pooled.result.started >= max(a.result.ended, b.result.ended)


# --------------------------------------------------------------------------- both languages in one run


def test_two_languages_in_one_run_are_linked_page_by_page_with_the_same_numbers(tmp_path):
    """Issue 18 item 5: ``--language nl,en`` publishes the Dutch version at the quarter's root and the
    English one in ``en/``; every page links to its counterpart (hreflang), and the numbers are equal."""
    intake = make_intake(tmp_path / "intake")
    out = tmp_path / "reports"
    result = run(intake, out, make_registry(tmp_path / "r.yaml", [OK_BOTH]), language="nl,en", jobs=2)
    assert result.exit_code == 0, result.messages
    q = out / "2026Q3"
    m = json.loads((q / "manifest.json").read_text(encoding="utf-8"))
    assert m["parameters"]["languages"] == ["nl", "en"] and m["parameters"]["language"] == "nl"
    assert [j["folder"] for j in m["translations"]["en"]] == ["en/P1/ok", "en/P2/ok", "en/all/ok"]
    assert m["publication_check"]["blocking"] == 0
    for rel in ("P1/ok", "P2/ok", "all/ok"):
        nl_results = (q / rel / "results.csv").read_bytes()
        assert nl_results == (q / "en" / rel / "results.csv").read_bytes()  # language-neutral numbers
        assert json.loads((q / rel / "headline.json").read_text())["title"] == "Deelnemers"
        assert json.loads((q / "en" / rel / "headline.json").read_text())["title"] == "Participants"
    pages = [p.relative_to(q).as_posix() for p in q.rglob("index.html") if not p.is_relative_to(q / "en")]
    assert len(pages) == 7  # overview, 3 summaries, 3 detail pages
    for page in pages:
        nl = (q / page).read_text(encoding="utf-8")
        en = (q / "en" / page).read_text(encoding="utf-8")
        assert "<html lang='nl'>" in nl and "<html lang='en'>" in en
        link_en = re.search(r'<a href="([^"]+)" hreflang="en" lang="en">English</a>', nl).group(1)
        link_nl = re.search(r'<a href="([^"]+)" hreflang="nl" lang="nl">Nederlands</a>', en).group(1)
        assert ((q / page).parent / link_en).resolve() == (q / "en" / page).resolve()
        assert ((q / "en" / page).parent / link_nl).resolve() == (q / page).resolve()
    assert 'href="../manifest.json"' in (q / "en" / "index.html").read_text(encoding="utf-8")
    # rebuilding the site from the manifest rebuilds both versions with the same language links (titles may
    # differ: the rebuild takes them from the headlines, the run from the registry)
    from evaluation.publish.site import rebuild_site

    def links():
        return {p: re.findall(r'<li class="lang">.*?</li>', p.read_text(encoding="utf-8")) for p in q.rglob("index.html")}

    before = links()
    assert len(before) == 14 and all(len(v) == 1 for v in before.values())
    for page in (q / "en" / "index.html", q / "en" / "P1" / "ok" / "index.html"):
        page.unlink()
    rebuild_site(q, programme_names={"P1": "Mentor Noord", "P2": "COSA Zuid"})
    assert links() == before


def test_a_language_that_changes_a_number_stops_publication(tmp_path):
    intake = make_intake(tmp_path / "intake")
    reg = make_registry(tmp_path / "r.yaml", [dict(OK_BOTH, scope="overall",
                                                   parameters={"language_changes_numbers": True})])
    result = run(intake, tmp_path / "reports", reg, language="nl,en")
    assert result.exit_code == 1 and result.status == "publication_check_failed"
    assert "language_versions_differ" in result.messages[0]
    assert not (tmp_path / "reports" / "2026Q3").exists()
    # one language alone: the same notebook publishes
    assert run(intake, tmp_path / "reports", reg, language="en").exit_code == 0


def test_language_argument_parsing():
    import argparse

    from evaluation.publish.formatting import parse_languages

    assert parse_languages("nl,en") == ["nl", "en"] and parse_languages(" en , nl ") == ["en", "nl"]
    assert parse_languages("nl,nl") == ["nl"] and parse_languages(["en"]) == ["en"]
    for bad in ("de", "", "nl,fr"):
        with pytest.raises(ValueError, match="language"):
            parse_languages(bad)
    p = argparse.ArgumentParser()
    quarter.configure_parser(p)
    assert p.parse_args(["--intake", "i", "--quarter", "2026Q3", "--language", "nl,en"]).language == ["nl", "en"]
    with pytest.raises(SystemExit):
        p.parse_args(["--intake", "i", "--quarter", "2026Q3", "--language", "nl,de"])


def test_a_kernel_that_dies_at_start_is_started_again(tmp_path, monkeypatch):
    """The wheel check once failed one of 110 notebooks with "Kernel died before replying to kernel_info"
    (two kernels started at the same moment can collide on a port; jupyter/jupyter_client#154). No cell
    has run then, so the worker starts the kernel again, at most KERNEL_START_ATTEMPTS times in all."""
    import papermill

    calls = []

    def flaky(*args, fails=2, message="Kernel died before replying to kernel_info", **kw):
        calls.append(1)
        if len(calls) <= fails:
            raise RuntimeError(message)

    spec = {"input": "x.ipynb", "output_dir": str(tmp_path / "out"), "parameters": {}, "cwd": str(tmp_path),
            "execution_timeout": 5, "start_timeout": 5, "executed": str(tmp_path / "e.ipynb"),
            "rendered": str(tmp_path / "r.html"), "replacements": {}}
    monkeypatch.setattr(workers.time, "sleep", lambda s: None)
    monkeypatch.setattr(papermill, "execute_notebook", flaky)
    rec = workers.execute_job(spec)
    assert rec["status"] == "ok" and rec["kernel_restarts"] == 2 and len(calls) == 3
    calls.clear()
    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: flaky(*a, fails=9, **k))
    rec = workers.execute_job(spec)
    assert rec["status"] == "failed" and "kernel_info" in rec["error"] and len(calls) == workers.KERNEL_START_ATTEMPTS
    calls.clear()  # any other error is the notebook's own: never retried
    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: flaky(*a, fails=9, message="boom", **k))
    assert workers.execute_job(spec)["status"] == "failed" and len(calls) == 1
