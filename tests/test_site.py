"""The quarter site (evaluation/publish/site.py): pages rendered from the published files.

A small fake quarter is published through the writer (results through disclosure control, a figure with
and one without a sidecar, a table with floats, booleans and gaps, a failed notebook) and the site is
built on it. The expected numbers are worked by hand from the rows written here.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from evaluation.contract.results import make_results
from evaluation.publish import site
from evaluation.publish.writer import publish_outputs, write_json, write_table

EVIL_NAME = "Mentor <script>alert(1)</script> Noord"
EVIL_SENTENCE = "Van 100 deelnemers <img src=x onerror=alert(1)> pleegden er 30 een nieuw delict."


def _rows(pid: str, est: dict, n: dict, events: dict, causal: bool, ci: dict, note: str = "") -> list[dict]:
    out = []
    for g in est:
        out.append({"programme_id": pid, "analysis": "recidivism", "estimand": "prevalence_730d_crude",
                    "endpoint": "GENERAL", "group": g, "estimate": est[g], "ci_lower": ci[g][0],
                    "ci_upper": ci[g][1], "n": n.get(g, np.nan), "events": events.get(g, np.nan),
                    "causal": causal, "note": note, "role": "primary"})
    out.append({"programme_id": pid, "analysis": "recidivism", "estimand": "hazard_ratio", "endpoint": "GENERAL",
                "group": "difference", "estimate": 0.71, "ci_lower": 0.52, "ci_upper": 0.97,
                "n": 240, "causal": causal, "role": "secondary"})
    return out


def _figure() -> Figure:
    fig = Figure(figsize=(3, 2))
    fig.add_subplot().plot([0, 1], [0, 1])
    return fig


@pytest.fixture(scope="module")
def quarter(tmp_path_factory) -> Path:
    q = tmp_path_factory.mktemp("site") / "2026Q3"
    # P1 matched, causal: programme 31.2% (n 120), comparison 41.5% (n 120), difference -10.3 points
    # (-18.4 to -2.2): significant, lower
    p1 = make_results(_rows("P1", {"programme": 0.312, "comparison": 0.415, "difference": -0.103},
                            {"programme": 120, "comparison": 120, "difference": 240},
                            {"programme": 37, "comparison": 50}, True,
                            {"programme": (0.23, 0.40), "comparison": (0.33, 0.50), "difference": (-0.184, -0.022)}))
    publish_outputs(q / "P1" / "recidivism", p1, {"status": "ok", "title": "Recidive",
                                                  "sentences": [EVIL_SENTENCE, "Tweede zin."]},
                    tables={"key_results": pd.DataFrame({"group": ["programme", "comparison"],
                                                         "estimate": [0.312, 0.415], "n": [120, 120]})},
                    figures={"km_GENERAL": _figure()})
    # P2 rct with a withheld primary: 8 participants (below 10) -> disclosure control blanks the rates
    p2 = make_results(_rows("P2", {"programme": 0.5, "comparison": 0.4, "difference": 0.1},
                            {"programme": 8, "comparison": 30, "difference": 38}, {"programme": 4, "comparison": 12},
                            True, {"programme": (0.2, 0.8), "comparison": (0.2, 0.6), "difference": (-0.3, 0.5)}))
    publish_outputs(q / "P2" / "recidivism", p2, {"status": "warning", "title": "Recidive",
                                                  "sentences": ["Het cijfer wordt niet gepubliceerd."]})
    # P1 retention: a table with floats, booleans and a gap; a figure with a sidecar and its data
    ret = q / "P1" / "retention"
    table = pd.DataFrame({"quarter": ["2026Q2", "2026Q3"], "annual_turnover": [0.2345, np.nan], "share_active": [0.5, 0.25],
                          "meets_target": [True, False], "cost_eur": [4802.731143, 41249.37], "n_risk": ["<10", 25]})
    publish_outputs(ret, make_results([{"programme_id": "P1", "analysis": "retention", "estimand": "share",
                                        "group": "programme", "estimate": 0.25, "ci_lower": 0.1, "ci_upper": 0.4,
                                        "n": 40, "causal": False}]),
                    {"status": "ok", "title": "Behoud", "sentences": ["Vrijwilligers blijven gemiddeld lang."]},
                    tables={"workforce_flow": table}, figures={"workforce": _figure(), "cif_reasons": _figure()})
    write_table(ret / "workforce_data.csv", pd.DataFrame({"maand": [1, 2], "vrijwilligers": [30, 32]}))
    write_json(ret / "workforce.json", {"title": "Vrijwilligers per maand", "alt": "Lijn: 30 tot 32 vrijwilligers",
                                        "data": "workforce_data.csv"})
    # all programmes together: descriptive, the participants' own rate
    al = make_results(_rows("all", {"programme": 0.30}, {"programme": 400}, {"programme": 120}, False,
                            {"programme": (0.26, 0.35)}))
    publish_outputs(q / "all" / "recidivism", al, {"status": "ok", "title": "Recidive", "sentences": ["Alle."]})
    jobs = [
        {"programme_id": "P1", "notebook": "recidivism", "title": "Recidive", "folder": "P1/recidivism",
         "status": "ok", "error": ""},
        {"programme_id": "P1", "notebook": "retention", "title": "Behoud", "folder": "P1/retention",
         "status": "ok", "error": ""},
        {"programme_id": "P2", "notebook": "recidivism", "title": "Recidive", "folder": "P2/recidivism",
         "status": "ok", "error": ""},
        {"programme_id": "P2", "notebook": "retention", "title": "Behoud", "folder": "P2/retention",
         "status": "failed", "error": "ValueError: <b>deliberate</b>"},
        {"programme_id": "all", "notebook": "recidivism", "title": "Recidive", "folder": "all/recidivism",
         "status": "ok", "error": ""},
    ]
    site.build_site(q, "2026Q3", jobs, language="nl", cutoff_date="2026-09-30", run_id="r-123",
                    programme_names={"P1": EVIL_NAME, "P2": "Cirkels"},
                    designs={"P1": "matched", "P2": "rct", "all": "descriptive"})
    return q


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.title = ""
        self._in_title = False
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_title = tag == "title"
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag):
        self._in_title = False
        self._skip -= tag in ("style", "script")

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        if not self._skip:
            self.text.append(data)


def _parse(path: Path) -> _Page:
    p = _Page()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def _pages(q: Path) -> list[Path]:
    return sorted(q.rglob("index.html"))


def test_every_page_has_landmarks_lang_and_a_title_naming_programme_and_quarter(quarter):
    pages = _pages(quarter)
    assert {p.relative_to(quarter).as_posix() for p in pages} == {
        "index.html", "P1/index.html", "P2/index.html", "all/index.html", "P1/recidivism/index.html",
        "P1/retention/index.html", "P2/recidivism/index.html", "P2/retention/index.html",
        "all/recidivism/index.html"}
    for page in pages:
        p = _parse(page)
        tags = [t for t, _ in p.tags]
        assert ("html", {"lang": "nl"}) in p.tags, page
        for landmark in ("header", "nav", "main", "footer"):
            assert tags.count(landmark) == 1, (page, landmark)
        assert "2026Q3" in p.title, page
        rel = page.relative_to(quarter).parts
        if len(rel) > 1:  # a programme's page names the programme (name and id)
            who = "Alle programma's samen" if rel[0] == "all" else rel[0]
            assert who in p.title and (rel[0] != "P1" or "Mentor" in p.title), (page, p.title)
        text = " ".join(p.text)
        assert "r-123" in text and "2026-09-30" in text and site.__version__ in text  # the metadata line
        for th in (a for t, a in p.tags if t == "th"):
            assert th.get("scope") == "col", page
        assert tags.count("table") == tags.count("caption"), page
        for img in (a for t, a in p.tags if t == "img"):
            assert img.get("alt", "").strip(), page


def test_summary_states_the_primary_result_in_dutch_notation(quarter):
    text = " ".join(_parse(quarter / "P1" / "index.html").text)
    # difference -0.103 -> "10 fewer per 100", interval -0.184 to -0.022 -> "18 minder tot 2 minder" (whole
    # people per 100, in words: a minus sign in front of a difference is easy to misread)
    assert "10 minder per 100 deelnemers" in text and "18 minder tot 2 minder" in text
    assert "gematchte vergelijking" in text and "Causaal: ja" in text
    assert "Wat u kunt zeggen" in text and "Wat u niet kunt zeggen" in text
    assert "minder vaak een nieuw delict" in text  # the interval excludes 0, below it
    # participant flow: the published n per group
    assert re.search(r"deelnemers\s+120\s+37", text) and re.search(r"vergelijkingsgroep\s+120\s+50", text)
    detail = " ".join(_parse(quarter / "P1" / "recidivism" / "index.html").text)
    assert "-10,3 procentpunt" in detail and "-18,4 tot -2,2 procentpunt" in detail  # decimal comma
    assert "0,71" in detail and "0,52 tot 0,97" in detail  # the hazard ratio


def test_index_overview_has_every_programme_with_its_primary_and_names_failures(quarter):
    text = " ".join(_parse(quarter / "index.html").text)
    assert "Cirkels (P2)" in text and "Alle programma's samen" in text
    assert "10 minder per 100 deelnemers" in text and "30 van de 100 deelnemers" in text
    assert "mislukt" in text and "ValueError: <b>deliberate</b>" in text  # named, as text
    body = (quarter / "index.html").read_text(encoding="utf-8")
    assert 'href="./P1/index.html"' in body and 'href="./P1/recidivism/index.html"' in body
    assert 'href="./P1/recidivism/report.html"' not in body  # no report.html was published in this fixture


def test_withheld_primary_shows_its_reason(quarter):
    text = " ".join(_parse(quarter / "P2" / "index.html").text)
    assert "<10: berust op minder dan 10 mensen" in text
    assert "Het kerncijfer" in text
    index = " ".join(_parse(quarter / "index.html").text)
    assert "<10: berust op minder dan 10 mensen" in index


def test_injection_is_escaped_everywhere(quarter):
    for page in _pages(quarter):
        body = page.read_text(encoding="utf-8")
        assert "<script>alert" not in body and "<img src=x" not in body and "<b>deliberate" not in body, page
    body = (quarter / "P1" / "index.html").read_text(encoding="utf-8")
    assert html.escape(EVIL_NAME, quote=False) in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body


def test_no_machine_debris_in_rendered_text(quarter):
    for page in _pages(quarter):
        words = set(re.findall(r"[A-Za-z]+", " ".join(_parse(page).text)))
        assert not words & {"nan", "NaN", "inf", "Inf", "True", "False", "None"}, (page, words & {"nan", "True"})


def test_detail_page_tables_and_figures(quarter):
    page = quarter / "P1" / "retention" / "index.html"
    p = _parse(page)
    text = " ".join(p.text)
    assert "4.802,73" in text and "41.249,37" in text  # thousands separator and decimal comma
    assert "0,23" in text and "25,0%" in text  # two decimals, decimal comma; a share as a percentage
    assert "ja" in text and "nee" in text and "<10" in text
    imgs = {a["src"]: a["alt"] for t, a in p.tags if t == "img"}
    assert imgs["./workforce.png"] == "Lijn: 30 tot 32 vrijwilligers"  # from the sidecar
    assert imgs["./cif_reasons.png"] == "Figuur: Waarom vrijwilligers stoppen"  # from the file name, in words
    assert "Vrijwilligers per maand" in text and "vrijwilligers" in text  # caption and data table
    body = page.read_text(encoding="utf-8")
    assert 'role="region"' in body and 'tabindex="0"' in body and "@media print" in body and "A4" in body


def test_html_table_escapes_and_formats():
    df = pd.DataFrame({"<b>x</b>": ["<i>y</i>"], "estimate": [0.5], "causal": [True]})
    out = str(site.html_table(df, "en", caption="A <caption>"))
    assert "<b>" not in out and "<i>" not in out and "&lt;b&gt;x&lt;/b&gt;" in out
    assert "<caption>A &lt;caption&gt;</caption>" in out and "0.50" in out and ">yes<" in out
    assert site.html_table(df, "nl", caption="c").count('scope="col"') == 3


def test_primary_summary_in_english_nonsignificant_small_and_descriptive():
    """Hand-worked: difference +0.05 (-0.07 to 0.17) with 45 participants: compatible with no difference,
    not causal (matched, imbalance), small sample; a descriptive rate says it is not an effect."""
    rows = {"programme": {"group": "programme", "estimand": "prevalence_730d_crude", "estimate": 0.4, "n": 45},
            "difference": {"group": "difference", "estimand": "prevalence_730d_crude", "endpoint": "GENERAL",
                           "estimate": 0.05, "ci_lower": -0.07, "ci_upper": 0.17, "causal": False}}
    s = site.primary_summary({"main": rows["difference"], "groups": rows, "comparison": True}, "matched", "P1", "en")
    assert s["result"] == "5 more per 100 participants" and s["ci"] == "7 fewer to 17 more" and s["causal"] == "no"
    assert any("compatible with no difference" in c for c in s["can"])
    assert any(c.startswith("That the programme causes") for c in s["cannot"])
    assert any("fewer than 60 participants" in c for c in s["cannot"])
    own = {"programme": {"group": "programme", "estimand": "prevalence_730d_crude", "estimate": 0.3,
                         "ci_lower": 0.26, "ci_upper": 0.35, "n": 400, "causal": False},
           "reference": {"group": "reference", "estimate": 0.45, "ci_lower": 0.44, "ci_upper": 0.46},
           "difference_vs_reference": {"group": "difference_vs_reference", "estimand": "prevalence_730d_crude",
                                       "estimate": -0.15, "ci_lower": -0.2, "ci_upper": -0.1}}
    frame = pd.DataFrame([dict(r, role="primary", programme_id="all") for r in own.values()])
    p = site.primary_of(frame, "all")
    assert p["main"]["group"] == "programme"  # a descriptive answer is the own rate, never a "difference"
    d = site.primary_summary(p, "descriptive", "all", "en")
    assert d["result"] == "30 of 100 participants" and d["ci"] == "26 to 35"
    assert any("reference rate of another population is 45 per 100" in c for c in d["can"])
    assert any("lowers or raises" in c for c in d["cannot"])


def test_links_to_a_programme_folder_stay_relative(tmp_path):
    pid = "javascript:alert"
    publish_outputs(tmp_path / pid / "nb", make_results([{"programme_id": pid, "analysis": "x", "estimand": "share",
                                                          "group": "programme", "estimate": 0.5, "n": 40}]),
                    {"status": "ok", "title": "t", "sentences": ["s"]}, {"t": pd.DataFrame({"n": [40]})})
    jobs = [{"programme_id": pid, "notebook": "nb", "title": "t", "folder": f"{pid}/nb", "status": "ok", "error": ""}]
    site.build_site(tmp_path, "2026Q3", jobs, language="en")
    for page in _pages(tmp_path):
        hrefs = [a.get("href", "") for t, a in _parse(page).tags if t == "a"]
        assert hrefs and not any(h.lower().startswith("javascript") for h in hrefs), page
    assert 'href="./javascript%3Aalert/index.html"' in (tmp_path / "index.html").read_text(encoding="utf-8")


def test_results_table_shows_p_values_in_the_readers_notation_and_none_for_withheld_rows():
    """The key results said "its p-value in the p column" without a p column (found on the demo pages)."""
    import pandas as pd

    from evaluation.publish.site import results_table

    df = pd.DataFrame([
        {"programme_id": "P1", "analysis": "recidivism", "estimand": "ph_test", "endpoint": "GENERAL",
         "group": "difference", "estimate": 0.0312, "p_value": 0.86012, "n": 300, "causal": True, "note": ""},
        {"programme_id": "P1", "analysis": "recidivism", "estimand": "hazard_ratio", "endpoint": "GENERAL",
         "group": "difference", "estimate": 0.61, "ci_lower": 0.45, "ci_upper": 0.83, "p_value": 0.0002, "n": 300,
         "causal": True, "note": ""},
        {"programme_id": "P1", "analysis": "recidivism", "estimand": "hazard_ratio", "endpoint": "SERIOUS",
         "group": "difference", "estimate": None, "p_value": None, "n": "<10", "causal": True,
         "note": "suppressed: based on fewer than 10 events", "suppressed": True},
    ])
    html = str(results_table(df, "nl", "Resultaten", "P1"))
    assert '<th scope="col" class="num">p</th>' in html
    assert ">0,860<" in html and ">&lt; 0,001<" in html
    assert html.count("<tr>") == 4  # header and three rows; the withheld row has no p-value
    assert ">0.860<" in str(results_table(df, "en", "Results", "P1"))


def test_a_primary_nobody_has_follow_up_for_is_not_estimable_not_small():
    """Found on Rossi (52 weeks of follow-up, 2-year default primary): the summary said '<10: rests on fewer
    than 10 people' for an estimate of 0 people."""
    rows = {"programme": {"group": "programme", "estimand": "prevalence_730d_crude", "n": 0, "suppressed": True},
            "difference": {"group": "difference", "estimand": "prevalence_730d_crude", "endpoint": "GENERAL",
                           "n": 0, "suppressed": True, "causal": True,
                           "note": "randomised comparison (intention to treat); suppressed: based on fewer than 10"}}
    for lang, word in (("en", "nobody has the full follow-up"), ("nl", "nog niemand heeft de volledige follow-up")):
        s = site.primary_summary({"main": rows["difference"], "groups": rows, "comparison": True}, "rct", "P1", lang)
        assert word in s["result"] and "<10" not in s["result"]


def test_a_withheld_primary_falls_back_to_the_secondary_hazard_ratio_labelled_as_such():
    """Issue 18: the randomised COSA pilot's primary was withheld and its summary gave no answer at all. The
    summary now offers the published secondary hazard ratio, named as secondary, and says it does not replace
    the primary (hand-built rows)."""
    rows = [
        {"programme_id": "T", "estimand": "prevalence_730d_crude", "endpoint": "GENERAL", "group": g, "role": "primary",
         "estimate": None, "ci_lower": None, "ci_upper": None, "n": "<10", "causal": True,
         "note": "suppressed: fewer than 10 people"} for g in ("programme", "comparison", "difference")
    ] + [{"programme_id": "T", "estimand": "hazard_ratio", "endpoint": "GENERAL", "group": "difference",
          "role": "secondary", "estimate": 0.61, "ci_lower": 0.32, "ci_upper": 1.17, "n": 96, "causal": True,
          "note": ""}]
    results = pd.DataFrame(rows)
    prim = site.primary_of(results, "T")
    assert prim["fallback"]["estimate"] == 0.61
    nl = site.primary_summary(prim, "rct", "T", "nl")
    assert nl["withheld"] and nl["result"].startswith("<10")
    assert nl["can"] == ["Als secundaire maat, niet de primaire uitkomst: de hazard ratio voor algemene recidive over "
                         "alle follow-up tot nu toe is 0,61 (95%-BI 0,32 tot 1,17); causaal: ja."]
    assert any("vervangt die niet" in c for c in nl["cannot"])
    en = site.primary_summary(prim, "rct", "T", "en")
    assert "0.61 (95% CI 0.32 to 1.17)" in en["can"][0] and "not the primary outcome" in en["can"][0]
    # a withheld or degenerate hazard ratio is no fallback; nor is any fallback offered for a descriptive design
    for est, lo, hi in ((None, None, None), (0.0, 0.0, float("inf"))):
        results.loc[3, ["estimate", "ci_lower", "ci_upper"]] = [est, lo, hi]
        assert site.primary_of(results, "T")["fallback"] is None
    assert site.primary_summary(prim, "descriptive", "T", "en")["can"] == [site.TEXT["en"]["can_withheld"]]
