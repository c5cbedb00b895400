"""No row-level data in outputs (scan_outputs) and owner-only files at rest."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from evaluation.publish.disclosure import (
    DisclosureError,
    assert_no_identifiers,
    collect_identifiers,
    scan_outputs,
)

CLEAN_INTAKE = Path(__file__).parent / "fixtures" / "raw_export_identifiers"

IDS = {
    "participant_id": {"P-5d81ba3013ca75f5", "P-0476b5752ad52df3", "p001"},
    "volunteer_id": {"V-55ea94368595f7ea"},
    "match_id": {"M-bb06d3ae6e9a9384"},
    "event_id": {"J-1f2e3d4c5b6a7988"},
}


def _png(path: Path, metadata: dict[str, str] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [1, 0.6])
    fig.savefig(path, metadata=metadata or {})
    plt.close(fig)


def _clean_report(folder: Path) -> Path:
    folder.mkdir(parents=True)
    pd.DataFrame(
        {"programme_id": ["P1", "all"], "estimand": ["prevalence_2y"] * 2, "estimate": [0.31, 0.29], "n": [120, 410]}
    ).to_csv(folder / "results.csv", index=False)
    (folder / "headline.json").write_text(
        json.dumps({"status": "ok", "title": "Recidivism", "sentences": ["Of 410 participants, 29% reoffended within 2 years."]})
    )
    (folder / "report.html").write_text(
        "<html><body><table><tr><th>programme_id</th><th>n</th></tr><tr><td>P1</td><td>120</td></tr></table></body></html>"
    )
    (folder / "figure.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><path id="line_1" d="M0 0L1 1"/></svg>')
    nb = {
        "cells": [{"cell_type": "code", "source": ["results = recidivism.estimates(tables)"], "metadata": {},
                   "outputs": [{"output_type": "stream", "name": "stdout", "text": ["n = 410\n"]}]}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }
    (folder / "recidivism.ipynb").write_text(json.dumps(nb))
    (folder / "figures").mkdir()
    _png(folder / "figures" / "km.png", {"Title": "Kaplan-Meier, programme vs comparison"})
    return folder


def test_clean_folder_passes(tmp_path):
    folder = _clean_report(tmp_path / "report")
    findings = scan_outputs(folder, IDS)
    assert list(findings.columns) == ["file", "identifier_kind", "value", "location"]
    assert findings.empty, findings.to_string()
    assert_no_identifiers(folder, IDS)


def test_planted_identifiers_are_found_with_location(tmp_path):
    folder = _clean_report(tmp_path / "report")
    html = folder / "report.html"
    html.write_text(html.read_text() + "\n<p>See case P-5d81ba3013ca75f5.</p>\n")
    (folder / "notes.md").write_text("ok\nfile_M-bb06d3ae6e9a9384.csv (row 3)\n")
    _png(folder / "figures" / "km.png", {"Description": "outlier V-55ea94368595f7ea"})
    findings = scan_outputs(folder, IDS)
    got = {(r.file, r.identifier_kind, r.location) for r in findings.itertuples()}
    assert ("report.html", "participant_id", "line 2") in got
    assert ("notes.md", "match_id", "line 2") in got
    assert any(f == os.path.join("figures", "km.png") and k == "volunteer_id" and "PNG chunk Description" in loc
               for f, k, loc in got)
    # values are masked: never the full identifier
    assert "P-5d81ba3013ca75f5" not in findings["value"].tolist()
    assert set(findings["value"]) >= {"P-****************"}
    with pytest.raises(DisclosureError) as exc:
        assert_no_identifiers(folder, IDS)
    assert "report.html: 1 x participant_id" in str(exc.value)
    assert "5d81ba3013ca75f5" not in str(exc.value)
    assert len(exc.value.findings) == len(findings)


def test_identifier_inside_notebook_output_and_json(tmp_path):
    folder = _clean_report(tmp_path / "report")
    nb = json.loads((folder / "recidivism.ipynb").read_text())
    nb["cells"][0]["outputs"].append(
        {"output_type": "execute_result", "data": {"text/plain": ["  participant_id  days\n0  p001  365"]}, "metadata": {}}
    )
    (folder / "recidivism.ipynb").write_text(json.dumps(nb))
    (folder / "headline.json").write_text(json.dumps({"sentences": ["worst case: J-1f2e3d4c5b6a7988"]}))
    findings = scan_outputs(folder, IDS)
    assert set(zip(findings["file"], findings["identifier_kind"], strict=True)) == {
        ("recidivism.ipynb", "participant_id"),
        ("headline.json", "event_id"),
    }


def test_per_person_tables_are_flagged_by_column_names(tmp_path):
    folder = _clean_report(tmp_path / "report")
    # ids unknown to the scan (e.g. another quarter), but the table is per person
    pd.DataFrame({"Participant ID": ["x9", "x8"], "days": [3, 4]}).to_csv(folder / "per_person.csv", index=False)
    (folder / "table.html").write_text("<table><tr><th>volunteer_id</th><th>hours</th></tr></table>")
    pd.DataFrame({"a": [1]}).to_parquet(folder / "analysis.parquet")
    findings = scan_outputs(folder, IDS)
    kinds = dict(zip(findings["file"], findings["identifier_kind"], strict=True))
    assert kinds == {"per_person.csv": "id_column", "table.html": "id_column", "analysis.parquet": "row_level_file"}


def test_short_numeric_ids_warn_and_are_not_searched(tmp_path):
    folder = _clean_report(tmp_path / "report")
    with pytest.warns(UserWarning, match="1 purely numeric identifier"):
        findings = scan_outputs(folder, {"participant_id": {"410"}})  # 410 also appears as a count
    assert findings.empty


def test_collect_identifiers_from_validation_result_and_folder():
    validate = pytest.importorskip("evaluation.validation.validate")
    intake = Path(__file__).parent / "fixtures" / "intake_clean"
    if not intake.exists():
        pytest.skip("validator's clean fixture not present")
    res = validate.validate_intake(intake)
    ids = collect_identifiers(res)
    expected_participants = set(pd.read_csv(intake / "participants.csv", dtype=str)["participant_id"])
    assert ids["participant_id"] == expected_participants
    assert ids["contact_id"] == set(pd.read_csv(intake / "contacts.csv", dtype=str)["contact_id"])
    # event ids of both event tables, under one kind
    ev = set(pd.read_csv(intake / "justice_events.csv", dtype=str)["event_id"]) | set(
        pd.read_csv(intake / "volunteer_support.csv", dtype=str)["event_id"]
    )
    assert ids["event_id"] == ev
    assert collect_identifiers(intake) == ids


def test_collect_identifiers_includes_quarantine():
    class Result:  # the shape of ValidationResult that matters here
        tables = {"participants": pd.DataFrame({"participant_id": ["a1"], "_row": [2]})}
        quarantine = {"participants": pd.DataFrame({"participant_id": [" q7 "], "_row": [3]})}

    assert collect_identifiers(Result())["participant_id"] == {"a1", "q7"}
    with pytest.raises(TypeError, match="collect_identifiers"):
        collect_identifiers(42)


# ----------------------------------------------------------------------------- files at rest


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_raw_fixture_identifiers_are_caught_in_a_report(tmp_path):
    # end-to-end: identifiers collected from an intake folder, leaked into a report table
    ids = collect_identifiers(CLEAN_INTAKE)
    folder = _clean_report(tmp_path / "report")
    leaked = sorted(ids["volunteer_id"])[0]
    (folder / "extra.csv").write_text(f"group,who\nA,{leaked}\n")
    findings = scan_outputs(folder, ids)
    assert findings[["file", "identifier_kind", "location"]].values.tolist() == [["extra.csv", "volunteer_id", "line 2"]]


def test_identifiers_in_embedded_images_are_found(tmp_path):
    import base64

    folder = _clean_report(tmp_path / "report")
    _png(tmp_path / "leaky.png", {"Title": "case P-0476b5752ad52df3"})
    b64 = base64.b64encode((tmp_path / "leaky.png").read_bytes()).decode()
    (folder / "report.html").write_text(f'<html><img src="data:image/png;base64,{b64}"></html>')
    nb = json.loads((folder / "recidivism.ipynb").read_text())
    nb["cells"][0]["outputs"].append({"output_type": "display_data", "data": {"image/png": b64}, "metadata": {}})
    (folder / "recidivism.ipynb").write_text(json.dumps(nb))
    findings = scan_outputs(folder, IDS)
    assert sorted(findings["file"]) == ["recidivism.ipynb", "report.html"]
    assert all(loc.startswith("embedded image 1, PNG chunk Title") for loc in findings["location"])
    assert set(findings["identifier_kind"]) == {"participant_id"}


@pytest.mark.parametrize(
    "text",
    ["__P-5d81ba3013ca75f5", "x.P-5d81ba3013ca75f5", "(P-5d81ba3013ca75f5)", '"P-5d81ba3013ca75f5",',
     "P-5d81ba3013ca75f5.", "id=P-5d81ba3013ca75f5&x=1", "file_P-5d81ba3013ca75f5.csv"],
)
def test_identifier_found_whatever_surrounds_it(tmp_path, text):
    (tmp_path / "a.txt").write_text(f"first line\nsecond {text} line\n")
    findings = scan_outputs(tmp_path, IDS)
    assert findings[["identifier_kind", "location"]].values.tolist() == [["participant_id", "line 2"]]


def test_longer_token_containing_an_id_prefix_is_not_a_hit(tmp_path):
    # "P-5d81ba3013ca75f5a" is another value, not the identifier followed by "a"
    (tmp_path / "a.txt").write_text("P-5d81ba3013ca75f5a P-5d81ba3013ca75f\n")
    assert scan_outputs(tmp_path, IDS).empty


def test_bsn_like_numbers_are_found_even_if_not_in_the_intake(tmp_path):
    # 111222333: 9*1+8*1+7*1+6*2+5*2+4*2+3*3+2*3-1*3 = 66 = 6 x 11 -> passes the 11-check;
    # 111222334 gives 65 -> fails; 1112223330 has ten digits.
    (tmp_path / "t.csv").write_text("group,x\nA,111222333\nB,111222334\nC,1112223330\nD,2026.111222333\n")
    findings = scan_outputs(tmp_path, {})
    assert findings[["identifier_kind", "value", "location"]].values.tolist() == [
        ["bsn_like", "11*******", "line 2"],
        ["bsn_like", "11*******", "line 5"],
    ]
    assert scan_outputs(tmp_path, {}, bsn_check=False).empty


def test_fractional_digits_of_a_computed_number_are_no_bsn(tmp_path):
    """Seed 4242 of the generator, scale 0.5: the total cost 4341672.279999999 (float repr) blocked the
    whole quarter, because its fractional digits 279999999 pass the eleven-test
    (2*9+7*8+9*7+9*6+9*5+9*4+9*3+9*2-9 = 18+56+63+54+45+36+27+18-9 = 308 = 28*11)."""
    from evaluation.contract.identifiers import is_bsn

    assert is_bsn("279999999")
    (tmp_path / "results.csv").write_text("estimand,estimate\ncost_total_eur,4341672.279999999\n")
    assert scan_outputs(tmp_path, {}).empty
    # a BSN stored in a numeric column is still found through its whole part
    (tmp_path / "leak.csv").write_text("estimand,estimate\nx,123456782.0\n")
    found = scan_outputs(tmp_path, {})
    assert list(found["identifier_kind"]) == ["bsn_like"] and list(found["file"]) == ["leak.csv"]
