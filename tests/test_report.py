"""Tests of the report step (evaluation.publish.report): wording, numbers, clean HTML, the index page."""

from __future__ import annotations

import json

import nbformat
import pandas as pd
import pytest

from evaluation.contract.results import make_results
from evaluation.publish import report, site


def test_format_number_dutch_and_english():
    assert report.format_number(0.2345, "nl") == "0,23"
    assert report.format_number(0.2345, "en") == "0.23"
    assert report.format_number(120.0, "nl") == "120"
    assert report.format_number(float("nan"), "nl") == ""
    assert report.format_number(None, "en") == ""
    with pytest.raises(ValueError, match="language must be one of"):
        report.format_number(1, "de")


def test_sanitize_error_hides_paths_and_traceback():
    msg = report.sanitize_error(
        "FileNotFoundError", "[Errno 2] No such file: '/srv/secret/intake/participants.csv'",
        {"/srv/secret/intake": "<intake>"})
    assert msg == "FileNotFoundError: [Errno 2] No such file: '<intake>/participants.csv'"
    assert report.sanitize_error("KeyError", "/home/u/x/y.py failed") == "KeyError: y.py failed"
    assert len(report.sanitize_error("E", "x" * 1000)) == len("E: ") + 300


def _failed_notebook():
    nb = nbformat.v4.new_notebook()
    marker = nbformat.v4.new_markdown_cell("<span style='color:red'>An Exception was encountered at 'In [2]'.</span>")
    marker.metadata["tags"] = ["papermill-error-cell-tag"]
    code = nbformat.v4.new_code_cell("secret_code_line = 1\nraise ValueError('bad')")
    code.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text=(
            "/opt/venv/lib/python3.12/site-packages/evaluation/recidivism.py:88: UserWarning: fewer than 60 participants\n"
            "  warnings.warn(msg)\n")),
        nbformat.v4.new_output("error", ename="ValueError", evalue="bad value in /data/intake/x.csv",
                               traceback=["Traceback (most recent call last)", "  File /opt/x.py, line 3"]),
    ]
    nb.cells = [marker, nbformat.v4.new_markdown_cell("# Title for readers"), code]
    return nb


def test_clean_notebook_keeps_warnings_and_error_line_only():
    clean = report.clean_notebook_for_report(_failed_notebook())
    assert len(clean.cells) == 2  # papermill's red marker cell removed
    outs = clean.cells[1].outputs
    assert [o["text"] for o in outs] == ["UserWarning: fewer than 60 participants\n", "ValueError: bad value in x.csv\n"]


def test_render_html_without_code_or_traceback(tmp_path):
    src = tmp_path / "nb.ipynb"
    nbformat.write(_failed_notebook(), str(src))
    out = report.render_html(src, tmp_path / "r.html", language="en")
    body = out.read_text(encoding="utf-8")
    assert "Title for readers" in body and "ValueError: bad value in x.csv" in body
    assert "secret_code_line" not in body and "Traceback" not in body and "/opt/venv" not in body
    assert "An Exception was encountered" not in body
    assert '<html lang="en">' in body and body.count("lang=") == 1
    assert 'src="http' not in body  # self-contained: no external scripts (require.js, MathJax)
    assert "<title>Title for readers</title>" in body  # the page is named after the notebook's first heading


def test_site_pages_english_with_failure_and_escaping(tmp_path):
    """The quarter site (not the old index) escapes names, formats numbers per language and shows a failure."""
    ok = tmp_path / "P1" / "recidivism"
    ok.mkdir(parents=True)
    make_results([{"programme_id": "P1", "analysis": "recidivism", "estimand": "hazard_ratio", "endpoint": "GENERAL",
                   "group": "difference", "estimate": 0.5, "ci_lower": 0.25, "ci_upper": 1.0, "n": 100,
                   "causal": True}]).to_csv(ok / "results.csv", index=False)
    (ok / "headline.json").write_text(json.dumps({"status": "warning", "title": "Reoffending <b>",
                                                  "sentences": ["Few <i>participants</i>: read with care."]}))
    (ok / "report.html").write_text("<html></html>")
    jobs = [
        {"programme_id": "P1", "notebook": "recidivism", "title": "Reoffending", "folder": "P1/recidivism",
         "status": "ok", "error": ""},
        {"programme_id": "all", "notebook": "synthesis", "title": "Synthesis", "folder": "all/synthesis",
         "status": "failed", "error": "ValueError: deliberate"},
    ]
    index = site.build_site(tmp_path, "2026Q3", jobs, language="en", cutoff_date="2026-08-15",
                            cutoff_source="extract", run_id="r1", programme_names={"P1": "Mentor <Noord>"})
    body = index.read_text(encoding="utf-8")
    detail = (ok / "index.html").read_text(encoding="utf-8")
    assert "<html lang='en'>" in body and "<html lang='en'>" in detail
    assert "Mentor &lt;Noord&gt;" in body and "<Noord>" not in body  # escaped
    assert "Few &lt;i&gt;participants&lt;/i&gt;" in detail and "<i>" not in detail
    assert ">0.50<" in detail and "0.25 to 1.00" in detail  # estimate and its 95% CI, fixed decimals
    assert "failed" in body and "ValueError: deliberate" in body
    assert "the extract&#39;s cutoff date" in body
    assert "./P1/recidivism/report.html" in body and "./report.html" in detail
    site.build_site(tmp_path, "2026Q3", jobs, language="nl")
    nl = (ok / "index.html").read_text(encoding="utf-8")
    assert ">0,50<" in nl and "0,25 tot 1,00" in nl and ">ja<" in nl
    assert "mislukt" in (tmp_path / "index.html").read_text(encoding="utf-8")


def test_trend_headline_wording():
    empty = pd.DataFrame(columns=["quarter"])
    assert report.trend_headline(empty, pd.DataFrame(), "nl")["status"] == "not_estimable"
    history = pd.DataFrame({"quarter": ["2026Q2", "2026Q3"]})
    # hand-checked: a hazard ratio whose change (a ratio) lies above 1 moved; a difference whose interval
    # holds 0 did not; a row with a missing limit is not counted (the trends table shows the same rows)
    changes = pd.DataFrame({"estimand": ["change_hazard_ratio", "change_prevalence_365d_km", "change_share"],
                            "ci_lower": [1.1, -0.1, None], "ci_upper": [1.5, 0.05, 0.5],
                            "quarter_from": "2026Q2", "quarter_to": "2026Q3"})
    from evaluation.pipeline.store import changes_excluding_no_change

    clear = changes_excluding_no_change(changes)
    head = report.trend_headline(history, changes, "en", clear=clear)
    assert head["sentences"][0] == ("1 of 3 measures changed between 2026Q2 and 2026Q3: their 95% interval "
                                    "excludes 'no change'.")
    assert report.trend_headline(history, changes, "nl", clear=clear)["sentences"][0].startswith(
        "1 van de 3 maten veranderden")
    with pytest.raises(ValueError, match="clear="):
        report.trend_headline(history, changes, "en")


def test_index_table_lists_key_measures_first_and_counts_the_rest_in_its_language():
    from evaluation.publish.site import key_rows_first, results_table

    rows = [("prevalence_365d_km", "SERIOUS", "programme"), ("prevalence_365d_km", "GENERAL", "programme"),
            ("prevalence_365d_km", "GENERAL", "difference"), ("hazard_ratio", "GENERAL", "programme vs comparison"),
            ("prevalence_365d_km", "SERIOUS", "difference")]
    df = pd.DataFrame([{"analysis": "recidivism", "estimand": e, "endpoint": p, "group": g, "estimate": 0.1,
                        "ci_lower": 0.0, "ci_upper": 0.2, "n": 100, "causal": True} for e, p, g in rows])
    ordered = key_rows_first(df)
    # main endpoint first, comparisons before levels; the notebook's order kept within each rank
    assert list(ordered.index) == [2, 3, 1, 4, 0]
    assert key_rows_first(df.drop(columns="endpoint")).index[0] == 2  # no endpoint column: comparisons first
    html = str(results_table(df, "nl", "t", "P1", max_rows=2))
    assert "Nog 3 rijen staan in het CSV-bestand." in html and "more rows" not in html
    assert ">Analyse</th>" not in html  # the caption already names the analysis
    assert "3 more rows are in the CSV file." in str(results_table(df, "en", "t", "P1", max_rows=2))


def test_warnings_in_a_report_read_in_its_language():
    nb = _failed_notebook()
    nb.cells[2].outputs[0]["text"] = (
        "/x/evaluation/retention.py:170: UserWarning: 786 row(s) have a missing covariate and are left out of "
        "the Cox model\n  warnings.warn(\n")
    nl = report.clean_notebook_for_report(nb, language="nl").cells[1].outputs[0]["text"]
    assert nl == "Waarschuwing: 786 rij(en) met een ontbrekende covariaat zijn weggelaten uit het Cox-model\n"
    en = report.clean_notebook_for_report(nb, language="en").cells[1].outputs[0]["text"]
    assert en == "Warning: 786 row(s) have a missing covariate and are left out of the Cox model\n"
    # an unknown warning keeps its English words under the Dutch label
    nb.cells[2].outputs[0]["text"] = "/x/y.py:1: RuntimeWarning: something new\n"
    assert report.clean_notebook_for_report(nb, language="nl").cells[1].outputs[0]["text"] == (
        "Waarschuwing: something new\n")


def test_index_groups_in_words_for_ratios_and_covariate_terms():
    from evaluation.publish.site import group_words as _group_words

    # a ratio's "difference" row is a comparison, not a subtraction
    assert _group_words("difference", "hazard_ratio", "nl") == "programma t.o.v. vergelijkingsgroep"
    assert _group_words("difference", "prevalence_365d_km", "en") == "difference (programme minus comparison)"
    # a covariate term of the volunteer-stopping model, and an unknown group kept as given
    assert _group_words("recruitment_channel[education]", "hazard_ratio", "nl") == "wervingskanaal: onderwijs"
    assert _group_words("something_new", "x", "en") == "something_new"


def test_recidivism_warnings_read_in_dutch():
    from evaluation.publish.labels import warning_line

    assert warning_line("GENERAL: 13 programme participants reoffended (fewer than 30): time-to-event results are "
                        "not headline results", "nl") == (
        "Waarschuwing: GENERAL: 13 deelnemers recidiveerden (minder dan 30): resultaten over de tijd tot recidive "
        "zijn geen kernresultaten")
    nl = warning_line("balance: |SMD| >= 0.1 after adjustment for 2 covariate(s): age_at_intake, prior_cases; "
                      "the comparison may be biased", "nl")
    # the covariates' machine names in words too (issue 18 item 3: no machine names on a page)
    assert nl == ("Waarschuwing: balans: |SMD| >= 0,1 na correctie bij 2 kenmerk(en): leeftijd bij instroom, "
                  "eerdere strafzaken; "
                  "de vergelijking kan vertekend zijn")


def test_pooled_index_table_shows_pooled_rows_first_and_names_each_programme():
    """Issue 17 item 10: the pooled costs table on the index showed COSA-NO's 2020Q1 rows, unlabelled."""
    from evaluation.publish.site import own_rows_first, results_table

    rows = [("COSA-NO", "2020Q1"), ("COSA-NO", "total"), ("all", "2020Q1"), ("all", "total"), ("MENT-RDM", "total")]
    df = pd.DataFrame([{"programme_id": p, "analysis": "costs", "estimand": "cost_total_eur", "endpoint": "",
                        "group": "all", "period": q, "estimate": 1000.0 + i, "ci_lower": None, "ci_upper": None,
                        "n": 50, "causal": False} for i, (p, q) in enumerate(rows)])
    ordered = own_rows_first(df, "all")
    # the pooled whole-period row, then pooled quarters, then the programmes' own rows
    assert list(zip(ordered["programme_id"], ordered["period"], strict=True))[:2] == [("all", "total"), ("all", "2020Q1")]
    html = str(results_table(df, "en", "t", "all", max_rows=3))
    assert '<th scope="col">Programme</th>' in html
    assert html.index("All programmes together") < html.index("COSA-NO")
    assert ", 2020Q1" in html  # a single quarter is named, never shown as if it were the whole period
    only_all = str(results_table(df[df.programme_id == "all"], "en", "t", "all", max_rows=3))
    assert ">Programme</th>" not in only_all  # one programme's own table needs no programme column


def test_primary_outcome_row_leads_the_index_table_and_says_so():
    from evaluation.publish.site import results_table

    df = pd.DataFrame([{"programme_id": "P1", "analysis": "recidivism", "estimand": e, "endpoint": "GENERAL",
                        "group": "difference", "estimate": 0.1, "ci_lower": 0.0, "ci_upper": 0.2, "n": 100,
                        "causal": True, "role": r}
                       for e, r in [("hazard_ratio", "secondary"), ("prevalence_730d_crude", "primary")]])
    html = str(results_table(df, "nl", "t", "P1", max_rows=5))
    first_row = html.split("<tr>")[2]
    assert first_row.startswith("<td>Primair: ")
