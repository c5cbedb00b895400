"""Readable labels at the report step: exact names, families and suffixes, both languages."""

import pandas as pd
import pytest

from evaluation.publish.labels import ESTIMANDS, endpoint_label, estimand_label, group_label


def test_exact_family_and_suffix_labels():
    assert estimand_label("hazard_ratio", "en") == "hazard ratio"
    assert estimand_label("prevalence_730d_crude", "nl") == "recidive binnen twee jaar (730 dagen; personen met volledige follow-up)"
    assert estimand_label("retention_12m", "en") == "still active after 12 months"
    # suffix on top of a family: the base is labelled first
    assert estimand_label("prevalence_730d_crude_tau2", "en") == (
        "reoffended within two years (730 days; people with full follow-up): between-programme variance (tau²)")
    assert endpoint_label("SPECIAL", "nl") == "speciale recidive"
    assert group_label("difference", "en") == "difference (programme minus comparison)"


def test_unknown_names_fall_back_to_the_machine_name():
    assert estimand_label("something_new_42", "nl") == "something_new_42"
    assert endpoint_label("NEW_ENDPOINT", "en") == "NEW_ENDPOINT"
    assert group_label("risk_level=high", "nl") == "risk_level=high"


def test_every_estimand_in_a_demo_like_results_table_gets_words_in_both_languages():
    """Each exact label pair is non-empty and differs between the languages (a missed translation
    would show the same text twice)."""
    for name, (en, nl) in ESTIMANDS.items():
        assert en and nl and en != nl, name


def test_index_table_uses_labels(tmp_path):
    from evaluation.publish.site import results_table

    df = pd.DataFrame([{"analysis": "recidivism", "estimand": "prevalence_365d_km", "endpoint": "GENERAL",
                        "group": "comparison", "estimate": 0.31, "ci_lower": 0.25, "ci_upper": 0.37,
                        "n": 120, "causal": True}])
    html = str(results_table(df, "nl", "t", "P1", max_rows=10))
    assert "recidive binnen een jaar (365 dagen; Kaplan-Meier) (algemene recidive)" in html
    assert "vergelijkingsgroep" in html and "prevalence_365d_km" not in html


def test_report_keeps_only_the_prose_of_its_language():
    """Cells tagged lang-nl / lang-en carry the same prose in two languages; the rendered report
    shows only the one asked for, and untagged cells always."""
    import nbformat

    from evaluation.publish.report import clean_notebook_for_report

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("Recidive", metadata={"tags": ["lang-nl"]}),
        nbformat.v4.new_markdown_cell("Reoffending", metadata={"tags": ["lang-en"]}),
        nbformat.v4.new_markdown_cell("both"),
    ]
    nl = [c.source for c in clean_notebook_for_report(nb, language="nl").cells]
    en = [c.source for c in clean_notebook_for_report(nb, language="en").cells]
    assert nl == ["Recidive", "both"] and en == ["Reoffending", "both"]
    assert len(clean_notebook_for_report(nb).cells) == 3  # no language: nothing dropped


# ---------------------------------------------------------------- display_table

def _results_frame():
    from evaluation.contract.results import make_results

    return make_results([
        {"programme_id": "all", "analysis": "retention", "estimand": "retention_12m", "endpoint": "VOLUNTEER_STOP",
         "group": "risk_level=high", "estimate": 0.676905, "ci_lower": 0.622396, "ci_upper": float("nan"),
         "n": 325, "events": 194, "method": "Kaplan-Meier", "causal": False,
         "note": "only 7 units: imprecise; something unforeseen"},
    ]).assign(extra_column=["kept"])


def test_display_table_dutch_headers_values_and_numbers():
    from evaluation.publish.labels import display_table

    shown = display_table(_results_frame(), "nl")
    row = shown.iloc[0]
    # headers: from COLUMNS; the unknown column keeps its name, in its place
    assert list(shown.columns[:6]) == ["programma", "analyse", "maat", "uitkomst", "groep", "schatting"]
    assert shown.columns[-1] == "extra_column" and row["extra_column"] == "kept"
    # values: labels of estimand / endpoint / group (subgroup key and code) / analysis / causal
    assert row["maat"] == "na 12 maanden nog actief"
    assert row["uitkomst"] == "vrijwilligers die stoppen"
    assert row["groep"] == "risiconiveau: hoog"
    assert row["analyse"] == "behoud" and row["programma"] == "alle" and row["causaal"] == "nee"
    # numbers: 3 decimals with a decimal comma, missing shown blank, integers untouched
    assert row["schatting"] == "0,677" and row["95%-BI ondergrens"] == "0,622" and row["95%-BI bovengrens"] == ""
    assert row["aantal (n)"] == 325  # integer column: left as it is
    # note: the known part in Dutch, the unknown part as written
    assert row["toelichting"] == "slechts 7 eenheden: onnauwkeurig; something unforeseen"


def test_display_table_english_and_input_not_modified():
    from evaluation.contract.results import RESULT_COLUMNS
    from evaluation.publish.labels import display_table

    df = _results_frame()
    before = df.copy()
    shown = display_table(df, "en", digits=2)
    pd.testing.assert_frame_equal(df, before)  # display only: the caller's frame is untouched
    assert list(df.columns) == RESULT_COLUMNS + ["extra_column"]
    row = shown.iloc[0]
    assert row["measure"] == "still active after 12 months" and row["group"] == "risk level: high"
    assert row["estimate"] == "0.68" and row["causal"] == "no"
    assert row["note"] == "only 7 units: imprecise; something unforeseen"  # English notes stay as written
    unlabelled = display_table(pd.DataFrame({"xyz": ["a"], "rule": ["enum"]}), "nl")
    assert list(unlabelled.columns) == ["xyz", "regel"] and unlabelled.iloc[0].tolist() == ["a", "enum"]
    with pytest.raises(ValueError, match="language"):
        display_table(df, "de")


def test_every_result_column_has_a_header_in_both_languages():
    from evaluation.contract.results import RESULT_COLUMNS
    from evaluation.publish.labels import COLUMNS, column_label

    for col in RESULT_COLUMNS:
        assert col in COLUMNS, col
        en, nl = column_label(col, "en"), column_label(col, "nl")
        assert en and nl, col
    # the headers a reader sees in the two reports differ for every result column but the
    # ones that are the same word in both languages
    same = {c for c in RESULT_COLUMNS if column_label(c, "en") == column_label(c, "nl")}
    assert same == set(), same


def test_notebook_tables_get_words():
    """Columns of the data-quality, fidelity and trend tables and their codes (hand-picked rows)."""
    from evaluation.publish.labels import display_table

    rec = pd.DataFrame({"table": ["justice_events", "(all tables)"], "rows_read": [10, 20],
                        "blocking": [False, True], "share_accepted": [1.0, 0.95]})
    shown = display_table(rec, "nl")
    assert list(shown.columns) == ["tabel", "rijen gelezen", "tabel geweigerd", "aandeel goedgekeurd"]
    assert shown["tabel"].tolist() == ["strafzaken", "(alle tabellen)"]
    assert shown["tabel geweigerd"].tolist() == ["nee", "ja"]
    assert shown["aandeel goedgekeurd"].tolist() == ["1,000", "0,950"]
    # a count stored as float (NaN present) is shown without decimals; a share column that is all 1 keeps them
    counts = display_table(pd.DataFrame({"rows_read": [3.0, float("nan")], "share_filled": [1.0, 1.0]}), "en")
    assert counts["rows read"].tolist() == ["3", ""] and counts["share filled"].tolist() == ["1.000", "1.000"]
    fid = pd.DataFrame({"indicator": ["matched_within_8_weeks"], "target_source": ["not set"],
                        "note": ["target risk levels: low, medium; 3 match(es) with sex unknown or other not assessed"]})
    f = display_table(fid, "nl").iloc[0]
    assert f["indicator"] == "deelnemers binnen 8 weken gekoppeld" and f["bron van het doel"] == "niet vastgelegd"
    assert f["toelichting"] == ("risiconiveaus van de doelgroep: laag, gemiddeld; "
                                "3 koppeling(en) met geslacht onbekend of anders: niet beoordeeld")
    trend = pd.DataFrame({"estimand": ["change_hazard_ratio"], "group": ["recruitment_channel[education]"],
                          "note": ["retention: 2026Q2 to 2026Q3; descriptive change, not an effect"]})
    t = display_table(trend, "nl").iloc[0]
    assert t["maat"] == "verandering t.o.v. het vorige kwartaal in: hazardratio"
    assert t["groep"] == "wervingskanaal: onderwijs"
    assert t["toelichting"] == "behoud: 2026Q2 tot 2026Q3; beschrijvende verandering, geen effect"
    assert display_table(trend, "en").iloc[0]["measure"] == (
        "change since the previous quarter in: hazard ratio")


def test_code_and_column_labels_differ_between_languages_where_words_differ():
    """A missing translation shows as the same text twice; only names that are the same word in
    both languages (indicator, COSA, peer mentoring) may repeat."""
    from evaluation.publish.labels import ANALYSES, CODES, COLUMNS, SUBGROUP_KEYS

    allowed = {"indicator", "cosa", "peer_mentoring", "log_hazard_ratio"}
    for table in (COLUMNS, ANALYSES, CODES, SUBGROUP_KEYS):
        for name, (en, nl) in table.items():
            assert en and nl, name
            assert en != nl or name in allowed, name


def test_suppression_notes_of_protect_results_read_in_dutch():
    """Every note protect_results writes (primary, difference, withheld total) has Dutch wording."""
    import numpy as np
    import pandas as pd

    from evaluation.publish.disclosure import protect_results
    from evaluation.publish.labels import note_label

    def row(pid, group, n, k):
        return {"programme_id": pid, "analysis": "recidivism", "estimand": "prevalence_365d_crude",
                "endpoint": "GENERAL", "group": group, "estimate": 0.3, "ci_lower": np.nan, "ci_upper": np.nan,
                "p_value": np.nan, "n": n, "events": k, "note": ""}

    res = pd.DataFrame([row("P1", "programme", 5, 2), row("P2", "programme", 83, 8), row("P2", "comparison", 90, 30),
                        row("P2", "difference", 173, 38), row("P3", "programme", 100, 50),
                        row("all", "programme", 188, 60)])
    notes = [n for n in protect_results(res)["note"] if n]
    # P1 (n < 10), P2 (events < 10), P2's difference, and the total: its n gives P1's back (188 - 83 - 100 = 5)
    assert len(notes) == 4 and "cannot be derived from this total" in notes[-1]
    for n in notes:
        dutch = note_label(n, "nl")
        assert dutch.startswith("onderdrukt: ") and "suppressed" not in dutch, n


def test_not_estimable_reasons_of_the_cox_fitter_and_rmst_are_in_dutch():
    # the fitter's reasons are constants of evaluation.stats.survival.cox: a change there without a Dutch
    # wording here would leave English in a Dutch report
    from evaluation.publish.labels import note_label
    from evaluation.stats.survival import cox

    for reason in (cox.NOT_ESTIMABLE_MONOTONE, cox.NOT_ESTIMABLE_SINGULAR, cox.NOT_ESTIMABLE_CONSTANT,
                   cox.NOT_ESTIMABLE_NO_CONVERGENCE, cox.NOT_ESTIMABLE_RANGE):
        assert note_label(reason, "nl").startswith("niet te schatten: "), reason
    rmst = ("not estimable: horizon of 730 days lies beyond the follow-up: the longest time observed in group "
            "'programme' is 364 days")
    assert note_label(rmst, "nl") == ("niet te schatten: de horizon van 730 dagen ligt voorbij de follow-up: de "
                                      "langste geobserveerde tijd in groep 'programme' is 364 dagen")


def test_counts_of_volunteers_in_notes_are_plural_and_protected():
    # issue 17 item 2: notes printed "7 volunteer(s)", a small count of people in plain view
    from evaluation.contract.results import volunteer_count
    from evaluation.publish.labels import note_label

    assert [volunteer_count(n) for n in (0, 1, 7, 10, 31)] == [
        "0 volunteers", "fewer than 10 volunteers", "fewer than 10 volunteers", "10 volunteers", "31 volunteers"]
    note = "landmark at 6 months: fewer than 10 volunteers who stopped or were censored before it are not in this analysis"
    assert note_label(note, "nl") == ("landmark na 6 maanden: minder dan 10 vrijwilligers die daarvoor stopten of "
                                      "gecensureerd werden, tellen niet mee")
    assert note_label("31 volunteers started too recently to assess", "nl") == (
        "31 vrijwilligers te kort geleden begonnen om te beoordelen")
