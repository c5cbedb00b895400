"""The static page check (evaluation/publish/page_check.py) on hand-made pages: each check fires on a
page built to fail it and stays silent on clean Dutch and English pages (hand-written fixtures; the
defects are those issue 18 found on the demo quarter)."""

from __future__ import annotations

import json

import pytest

from evaluation.publish import page_check
from evaluation.publish.page_check import check_pages, is_other_language

CLEAN_NL = """<!DOCTYPE html><html lang="nl"><head><meta charset="utf-8">
<title>Maatje na detentie Rijnmond (MENT-RDM) · 2026Q3</title></head><body>
<header><p>Kwartaal 2026Q3 · peildatum 30-09-2026 · versie 0.4.0 · run 2026Q3-20261203T154739Z-16069</p></header>
<main><h1>Maatje na detentie Rijnmond (MENT-RDM)</h1>
<p>Deelnemers hadden na twee jaar minder vaak een nieuwe zaak dan de vergelijkingsgroep: hazardratio 0,82
(95%-BI 0,70 tot 0,96). De vergelijking is gematcht op kenmerken bij instroom, dus het verschil kan als
effect van het programma worden gelezen. Bron: WODC Recidivemonitor; HR en RMST volgens het Justice Data Lab.</p>
<p>Kosten per deelnemer: € 4.802,73. In totaal 30.180 rijen goedgekeurd. Aantal kleiner dan 10: &lt;10.</p>
<figure><img src="km_GENERAL.png" alt="Kaplan-Meiercurven: na 1 jaar had 31% van de deelnemers en 41% van de
vergelijkingsgroep een nieuwe zaak"><figcaption>Recidive na het programma</figcaption></figure>
<table><caption>Primaire uitkomst</caption><thead><tr><th scope="col">Maat</th><th scope="col">Schatting</th></tr>
</thead><tbody><tr><td>hazardratio</td><td>0,82</td></tr><tr><td>niet te schatten: te weinig gebeurtenissen</td>
<td></td></tr></tbody></table>
<p>Wat u kunt zeggen: het programma gaat samen met minder recidive.</p>
</main></body></html>"""

CLEAN_EN = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Mentoring after detention Rijnmond (MENT-RDM), 2026 Q3</title></head><body><main>
<h1>Mentoring after detention Rijnmond (MENT-RDM)</h1>
<p>After two years participants had a new case less often than the comparison group: hazard ratio 0.82
(95% CI 0.70 to 0.96). The comparison was matched on intake characteristics, so the difference can be read as
an effect of the programme. None of the participants was excluded. Source: WODC Recidivemonitor.</p>
<p>Cost per participant: EUR 4,802.73. In total 30,180 rows were accepted.</p>
<img src="km_GENERAL.png" alt="Kaplan-Meier curves: after 1 year 31% of participants and 41% of the comparison
group had a new case">
<table><tr><th scope="col">Measure</th><th scope="col">Estimate</th></tr><tr><td>hazard ratio</td><td>0.82</td>
</tr></table></main></body></html>"""


def _quarter(tmp_path, pages: dict[str, str], language: str = "nl"):
    q = tmp_path / "2026Q3"
    q.mkdir()
    (q / "manifest.json").write_text(json.dumps({"quarter": "2026Q3", "programmes": ["MENT-RDM"],
                                                 "parameters": {"language": language}}), encoding="utf-8")
    for rel, text in pages.items():
        (q / rel).parent.mkdir(parents=True, exist_ok=True)
        (q / rel).write_text(text, encoding="utf-8")
    return q


def _checks(tmp_path, html: str, rel: str = "MENT-RDM/index.html") -> list[str]:
    df = check_pages(_quarter(tmp_path, {rel: html}))
    return sorted(df["check"])


@pytest.mark.parametrize("html", [CLEAN_NL, CLEAN_EN], ids=["nl", "en"])
def test_a_clean_page_has_no_findings(tmp_path, html):
    df = check_pages(_quarter(tmp_path, {"index.html": html, "MENT-RDM/index.html": html}))
    assert df.empty, df.to_string()
    assert list(df.columns) == ["check", "page", "detail"]


@pytest.mark.parametrize(("old", "new", "check"), [
    ('lang="nl"', "", "lang"),
    ("<main>", "<div>", "main"),
    ("<title>Maatje na detentie Rijnmond (MENT-RDM) · 2026Q3</title>", "", "title"),
    ("<title>Maatje na detentie Rijnmond (MENT-RDM) · 2026Q3</title>", "<title>Recidive na het programma</title>",
     "title"),
    ('alt="Kaplan-Meiercurven', 'data-x="', "image_alt"),
])
def test_each_structural_check_fires(tmp_path, old, new, check):
    html = CLEAN_NL.replace(old, new)
    assert html != CLEAN_NL
    assert check in _checks(tmp_path, html)


@pytest.mark.parametrize("alt", ["", "  ", "image", "Figure", "km_GENERAL.png", "km_GENERAL",
                                 "No description has been provided for this image"])
def test_empty_or_generic_alt_is_found(tmp_path, alt):
    html = CLEAN_EN.replace('alt="Kaplan-Meier curves: after 1 year 31% of participants and 41% of the comparison\n'
                            'group had a new case"', f'alt="{alt}"')
    assert html != CLEAN_EN
    found = check_pages(_quarter(tmp_path, {"index.html": html}, "en"))
    assert list(found.loc[found["check"] == "image_alt", "page"]) == ["index.html"]


def test_a_table_without_header_cells_is_found(tmp_path):
    html = CLEAN_NL.replace("</main>", "<table><tr><td>1</td><td>2</td></tr></table></main>")
    found = check_pages(_quarter(tmp_path, {"index.html": html}))
    assert list(found["check"]) == ["table_header"]
    assert "table 2" in found["detail"].iloc[0]  # the first table has headers


def test_title_must_name_programme_on_its_pages_only(tmp_path):
    title = "<title>Maatje na detentie Rijnmond (MENT-RDM) · 2026Q3</title>"
    html = CLEAN_NL.replace(title, "<title>Recidive na het programma, 2026Q3</title>")
    q = _quarter(tmp_path, {"index.html": html, "MENT-RDM/recidivism/index.html": html})
    found = check_pages(q)
    assert list(found["page"]) == ["MENT-RDM/recidivism/index.html"]
    assert "MENT-RDM" in found["detail"].iloc[0]
    # the programme's name counts as naming it
    assert check_pages(q, programme_names={"MENT-RDM": "Recidive na het programma"}).empty
    # other ways to write the quarter
    for t in ("3e kwartaal 2026", "Q3 2026", "derde kwartaal 2026", "2026-Q3", "2026 K3"):
        other = CLEAN_NL.replace(title, f"<title>MENT-RDM, {t}</title>")
        (tmp_path / t).mkdir()
        assert check_pages(_quarter(tmp_path / t, {"MENT-RDM/index.html": other})).empty, t


@pytest.mark.parametrize(("text", "check"), [
    ("<td>NaN</td>", "raw_value"),
    ("<td>nan</td>", "raw_value"),
    ("<td>inf</td>", "raw_value"),
    ("<p>interval 1,20 – inf</p>", "raw_value"),
    ("<td>True</td>", "raw_value"),
    ("<td>False</td>", "raw_value"),
    ("<td>None</td>", "raw_value"),
    ("<p>array([1, 2])</p>", "python_repr"),
    ("<p>Timestamp('2026-09-30 00:00:00')</p>", "python_repr"),
    ("<p>{'a': 1}</p>", "python_repr"),
    ("<p>Name: estimate, dtype: float64</p>", "python_repr"),
    ("<p>110 rows × 12 columns</p>", "python_repr"),
    ("<td>4802.731143</td>", "decimals"),
    ("<td>0,12345</td>", "decimals"),
    ("<p>Cijfers over minder dan {threshold} personen worden niet getoond.</p>", "placeholder"),
    ("<p>Cijfers over minder dan threshold personen worden niet getoond.</p>", "placeholder"),
    ("<p>{{ estimate }}</p>", "placeholder"),
    ("<p>TODO tekst</p>", "placeholder"),
    ("<p>Stel het uurloon in met hourly_rate_eur.</p>", "machine_name"),
])
def test_each_text_check_fires(tmp_path, text, check):
    html = CLEAN_NL.replace("</main>", text + "</main>")
    assert check in _checks(tmp_path, html)


@pytest.mark.parametrize("sentence", [
    "Design 'rct': no balance diagnostics needed.",
    "Check the current figure and override the hourly rate, e.g. in the parameters.",
    "randomised comparison (intention to treat)",
    "not estimable",
    "fewer than 60 participants",
    "synthetic stand-in for a published WODC Recidivemonitor two-year rate of comparable probation clients.",
])
def test_an_english_sentence_on_a_dutch_page_is_found(tmp_path, sentence):
    html = CLEAN_NL.replace("</main>", f"<p>{sentence}</p></main>")
    found = check_pages(_quarter(tmp_path, {"index.html": html}))
    assert list(found["check"]) == ["language"], found.to_string()
    assert sentence[:20] in found["detail"].iloc[0]


@pytest.mark.parametrize("sentence", [
    "De schatting is niet te maken: te weinig gebeurtenissen in de vergelijkingsgroep.",
    "niet te schatten",
    "Deelnemers hadden minder vaak een nieuwe zaak dan de vergelijkingsgroep.",
])
def test_a_dutch_sentence_on_an_english_page_is_found(tmp_path, sentence):
    html = CLEAN_EN.replace("</main>", f"<p>{sentence}</p></main>")
    found = check_pages(_quarter(tmp_path, {"index.html": html}, "en"))
    assert list(found["check"]) == ["language"], found.to_string()


@pytest.mark.parametrize(("sentence", "language"), [
    # loan words, abbreviations, proper names and programme ids are not the other language
    ("Hazardratio van MENT-RDM volgens het Justice Data Lab (HR, RMST, BI), WODC Recidivemonitor.", "nl"),
    ("De propensity score en de follow-up at risk: Kaplan-Meier, landmark en caliper.", "nl"),
    ("Waarschuwing: zie issues_by_rule.csv en reconciliation.csv voor de details.", "nl"),
    ("The hazard ratio of MENT-RDM (HR, RMST, CI) follows the WODC Recidivemonitor.", "en"),
    ("Source: Movisie, De waarde van vrijwillige inzet, at a conservative lower bound.", "en"),
])
def test_names_abbreviations_and_loan_words_do_not_trip_the_language_check(sentence, language):
    assert not is_other_language(sentence, language)


def test_audit_pages_are_skipped_unless_asked(tmp_path):
    audit = CLEAN_NL.replace('alt="Kaplan-Meiercurven', 'alt="No description has been provided for this image" x="')
    q = _quarter(tmp_path, {"index.html": CLEAN_NL, "MENT-RDM/recidivism/report.html": audit})
    assert check_pages(q).empty
    found = check_pages(q, include_audit=True)
    assert set(found["check"]) == {"image_alt", "language"}  # nbconvert's default alt is also English
    assert set(found["page"]) == {"MENT-RDM/recidivism/report.html"}


def test_hidden_text_and_code_are_not_read(tmp_path):
    html = CLEAN_NL.replace("</head>", "<style>.x{width:0.123456px}</style><script>var x = None;</script></head>")
    html = html.replace("</main>", '<div class="jp-InputArea">df = pd.DataFrame({"a": [True]})</div></main>')
    assert _checks(tmp_path, html) == []


def test_a_missing_quarter_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        check_pages(tmp_path / "2026Q3")
    with pytest.raises(ValueError):
        page_check.other_language_share("de", "fr")


@pytest.mark.parametrize("note", [
    # notes written by the analyses (English) that reach Dutch pages through labels.note_label / warning_line;
    # found by this check on the demo quarter (seed 20260930, scale 0.3)
    "recorded total for the whole programme (census, no sampling interval); contact hours only x EUR 14.71/hour; "
    "source: {source}",
    "randomised comparison (intention to treat)",
    "not causal: programme participants compared with a reference rate; all programmes pooled: an average over "
    "programmes of different types",
    "not estimable: no recidivism effect with a confidence interval for this programme",
    "the reduction in reoffending is not statistically significant: the cost per reoffender avoided is not reported "
    "as a point estimate; only its interval (unbounded above) and the probabilities are; upper limit infinite: the "
    "interval includes the possibility of no reduction",
    "share of simulated effects showing a reduction in reoffending; not causal: the comparison behind the effect is "
    "not randomised or not balanced, so the cost is not set against an effect of the programme",
    "CoxModel: coefficient(s) not estimable: lived_experience (monotone likelihood (no events in one group / complete "
    "separation)); basic_training (monotone likelihood (no events in one group / complete separation))",
    "KaplanMeier (comparison): no events among 24 rows; S(t) = 1 throughout",
    "workforce flow: after rounding, small counts of group(s) MENT-RDM could still be narrowed down from the "
    "published table; their counts are not published",
    "only 6 programmes: moderator tests have low power and tau2 is imprecise; absence of evidence of moderation is "
    "not evidence of its absence",
    "fewer than 60 participants: indicative only",
    "not estimable: no trajectory completed in the period",
    "12 contacts without minutes are not counted",
])
def test_notes_of_the_analyses_read_as_dutch(tmp_path, note):
    from evaluation.analyses.costs import HOURLY_RATE_SOURCE
    from evaluation.publish.labels import note_label

    note = note.replace("{source}", HOURLY_RATE_SOURCE)
    assert any(is_other_language(p, "nl") for p in note.split("; "))  # the English note is caught ...
    dutch = note_label(note, "nl")
    assert not [p for p in dutch.split("; ") if is_other_language(p, "nl")], dutch  # ... and its Dutch is clean
    found = check_pages(_quarter(tmp_path, {"index.html": CLEAN_NL.replace("</main>", f"<p>{dutch}</p></main>")}))
    assert found.empty, found.to_string()
    assert note_label(note, "en") == note
