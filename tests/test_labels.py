"""Readable labels at the report step: exact names, families and suffixes, both languages."""

import pandas as pd

from evaluation.labels import ESTIMANDS, endpoint_label, estimand_label, group_label


def test_exact_family_and_suffix_labels():
    assert estimand_label("hazard_ratio", "en") == "hazard ratio (programme vs comparison)"
    assert estimand_label("prevalence_730d_crude", "nl") == "recidive binnen 730 dagen (personen met volledige follow-up)"
    assert estimand_label("retention_12m", "en") == "still active after 12 months"
    # suffix on top of a family: the base is labelled first
    assert estimand_label("prevalence_730d_crude_tau2", "en") == (
        "reoffended within 730 days (people with full follow-up): between-programme variance (tau²)")
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
    from evaluation.report import _results_table

    df = pd.DataFrame([{"analysis": "recidivism", "estimand": "prevalence_365d_km", "endpoint": "GENERAL",
                        "group": "comparison", "estimate": 0.31, "ci_lower": 0.25, "ci_upper": 0.37,
                        "n": 120, "causal": True}])
    html = _results_table(df, "nl", 10)
    assert "recidive binnen 365 dagen (Kaplan-Meier) (algemene recidive)" in html
    assert "vergelijkingsgroep" in html and "prevalence_365d_km" not in html


def test_report_keeps_only_the_prose_of_its_language():
    """Cells tagged lang-nl / lang-en carry the same prose in two languages; the rendered report
    shows only the one asked for, and untagged cells always."""
    import nbformat

    from evaluation.report import clean_notebook_for_report

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
