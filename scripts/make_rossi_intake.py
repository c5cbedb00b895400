"""Convert the Rossi et al. (1980) recidivism trial into the data contract (tests/fixtures/intake_rossi/).

Source: ``lifelines.datasets.load_rossi()`` (lifelines 0.30; the same 432 rows as
tests/fixtures/survival_rossi.csv and R's ``carData::Rossi`` columns week..prio).
432 men released from Maryland state prisons, followed for one year; half were
randomly given financial aid on release (``fin``). ``week`` is the week of the
first arrest after release (``arrest = 1``) or 52 (censored, ``arrest = 0``).

Run from the repository root (needs lifelines; the output is checked in)::

    python scripts/make_rossi_intake.py [--out tests/fixtures/intake_rossi]

The output is deterministic: running the script again gives the same bytes.

Mapping
-------
* One programme ``ROSSI-FIN`` (financial aid). ``fin = 1`` -> ``group =
  programme``, ``fin = 0`` -> ``group = comparison``; ``assignment =
  randomised`` for everyone, so the run derives design ``rct``.
* Everyone is released on one fixed date, :data:`RELEASE` (1970-01-05): the
  data give only weeks since release, not calendar dates (the real releases
  were spread over the early 1970s). ``intake_date = follow_up_start =
  RELEASE``, ``detained_at_intake = true`` (follow-up starts at release).
* **Arrest week rule.** An arrest in week ``w`` (days ``7(w-1)+1 .. 7w`` after
  release) becomes one justice event dated on the *last* day of that week,
  ``RELEASE + 7w`` days. The package's follow-up time is ``offence_date -
  follow_up_start`` in days, so ``time = 7 * week`` exactly and ``time / 7``
  gives the week back; no arrest falls on the release day itself (which the
  WODC counting rule would drop). Weeks 13, 26 and 52 are days 91, 182 and
  364.
* **Censoring at 52 weeks** through the extract's cutoff: ``cutoff_date =
  RELEASE + 364 days`` (1971-01-04), so everyone without an arrest is
  censored at 364 days = 52 weeks; week-52 arrests fall on the cutoff day
  (allowed: not after the cutoff). Quarter to run: 1971Q1 (the analysis
  cutoff is the extract's, which is earlier than the quarter's end).
* ``age`` -> ``birth_year = 1970 - age``, so ``age_at_intake`` (intake year
  minus birth year) equals ``age``.
* ``prio`` (prior convictions) -> ``prior_cases``.
* ``sex = male`` (the study's sample was male).
* Justice events: ``kind = arrest``, ``disposal = unknown`` (an arrest has
  no disposal in the data; an unknown disposal counts, with a warning),
  ``offence_category = unknown``; no registration date, maximum penalty,
  pre-trial detention flag or custodial days.
* ``race``, ``wexp`` (full-time work experience before prison), ``mar``
  (married at release) and ``paro`` (released on parole): declared binary
  covariates (``participant_covariates``, declared in extract.yaml), so the
  adjusted Cox model is R's ``coxph(Surv(week, arrest) ~ fin + age + race +
  wexp + mar + paro + prio)``.

Not expressible in the contract
-------------------------------
* ``carData::Rossi`` also has ``educ`` and the weekly employment indicators
  ``emp1..emp52`` (not in the lifelines copy): time-varying covariates have
  no place in the contract.
* ``prio`` counts prior *convictions*; the contract has ``prior_cases``
  (criminal cases), the closest field.
* ``age`` in years at release: the contract holds a birth year only.
* Individual release dates: a common release date stands in for them.
* Date precision: the arrest is dated to the last day of its week with
  ``date_precision`` left at ``day`` (rule above): the week rule of the
  contract dates an event to the *start* of its week, which would move each
  arrest 6 days earlier than the trial's week count.
* ``risk_level``, ``index_offence_category``: not in the data; ``unknown``.
* Programme descriptors: financial aid is none of the four
  ``programme_type`` values (``mentoring`` is invented) and
  ``planned_dosage`` is invented; the other descriptors are ``unknown``.
* ``detention_periods`` is required by the contract and written as a
  header-only file (nobody is detained during follow-up in the data);
  the volunteer tables, ``rj_sessions`` and ``costs`` are optional and left
  out.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
from pathlib import Path

RELEASE = dt.date(1970, 1, 5)
FOLLOW_UP_WEEKS = 52
CUTOFF = RELEASE + dt.timedelta(days=7 * FOLLOW_UP_WEEKS)
PROGRAMME_ID = "ROSSI-FIN"
CONTRACT = Path(__file__).resolve().parent.parent / "evaluation" / "contract" / "data_schema" / "datapackage.json"
EMPTY_TABLES = ("detention_periods",)
#: Rossi's other baseline variables, as declared covariates (participant_covariates, extract.yaml).
COVARIATES = {"race": "black", "wexp": "full-time work experience before prison", "mar": "married at release",
              "paro": "released on parole"}

PROGRAMMES_YAML = f"""\
# Made by scripts/make_rossi_intake.py from the Rossi et al. (1980) recidivism trial (lifelines load_rossi).
# Values marked "invented" in tidier.modifications have no source (the contract has no 'unknown' for them).
programmes:
  - programme_id: {PROGRAMME_ID}
    name: Financial aid on release (Rossi et al. 1980)
    programme_type: mentoring
    organisation: Maryland Department of Correction (LIFE experiment)
    organisation_model: unknown
    cooperation_model: unknown
    task_type: unknown
    vision_focus: unknown
    country: US
    planned_dosage:
      contacts_per_month: 0
      duration_months: 3
    target_group:
      risk_levels: [unknown]
    tidier:
      brief_name: Financial aid after release from prison
      why: null
      what_procedures: Half of the prisoners were randomly given financial aid when they were released.
      who_provides: null
      how: null
      where: Baltimore, Maryland (USA)
      when_and_how_much: null
      tailoring: null
      modifications: >-
        Converted data set: programme_type and planned_dosage are invented (financial aid is not a volunteer
        programme and the contract has no 'unknown' for them); the other descriptors are 'unknown'.
      how_well_planned: null
      how_well_actual: null
"""

EXTRACT_YAML = f"""\
cutoff_date: "{CUTOFF.isoformat()}"
supplier: "Rossi, Berk & Lenihan (1980), via lifelines.datasets.load_rossi (scripts/make_rossi_intake.py)"
format: csv
synthetic: false
covariates:
  - name: race
    type: binary
    title: black
    title_nl: zwart
  - name: wexp
    type: binary
    title: full-time work experience before prison
    title_nl: voltijds werkervaring voor de detentie
  - name: mar
    type: binary
    title: married at release
    title_nl: getrouwd bij vrijlating
  - name: paro
    type: binary
    title: released on parole
    title_nl: voorwaardelijk vrijgelaten (toezicht)
notes: >-
  Everyone released on {RELEASE.isoformat()}; an arrest in week w is dated {RELEASE.isoformat()} + 7w days
  (last day of the week); the cutoff {CUTOFF.isoformat()} censors at 52 weeks. Run as quarter 1971Q1.
"""


def _fields(resource: str) -> list[str]:
    package = json.loads(CONTRACT.read_text(encoding="utf-8"))
    for res in package["resources"]:
        if res["name"] == resource:
            return [f["name"] for f in res["schema"]["fields"]]
    raise ValueError(f"resource {resource!r} is not in {CONTRACT}")


def _write(path: Path, fields: list[str], rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        for row in rows:
            w.writerow({f: row.get(f, "") for f in fields})


def convert(rossi, out: Path) -> None:
    """Write the intake for the Rossi data frame ``rossi`` (columns week, arrest, fin, age, prio, race, wexp, mar,
    paro) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    people, events, covariates = [], [], []
    for i, r in enumerate(rossi.itertuples(index=False), start=1):
        week, arrest = int(r.week), int(r.arrest)
        if not 1 <= week <= FOLLOW_UP_WEEKS or arrest not in (0, 1) or (arrest == 0 and week != FOLLOW_UP_WEEKS):
            raise ValueError(f"row {i}: week {week}, arrest {arrest} does not fit 52 weeks of follow-up")
        pid = f"rossi-p{i:04d}"
        people.append({
            "participant_id": pid, "programme_id": PROGRAMME_ID,
            "group": "programme" if int(r.fin) == 1 else "comparison", "assignment": "randomised",
            "sex": "male", "birth_year": RELEASE.year - int(r.age), "intake_date": RELEASE.isoformat(),
            "follow_up_start": RELEASE.isoformat(), "detained_at_intake": "true", "risk_level": "unknown",
            "index_offence_category": "unknown", "prior_cases": int(r.prio),
        })
        covariates.extend({"participant_id": pid, "covariate": c, "value": "true" if int(getattr(r, c)) else "false"}
                          for c in COVARIATES)
        if arrest:
            events.append({
                "event_id": f"rossi-a{i:04d}", "participant_id": pid,
                "offence_date": (RELEASE + dt.timedelta(days=7 * week)).isoformat(),
                "offence_category": "unknown", "disposal": "unknown", "kind": "arrest",
            })
    _write(out / "participants.csv", _fields("participants"), people)
    _write(out / "justice_events.csv", _fields("justice_events"), events)
    _write(out / "participant_covariates.csv", _fields("participant_covariates"), covariates)
    for name in EMPTY_TABLES:
        _write(out / f"{name}.csv", _fields(name), [])
    (out / "programmes.yaml").write_text(PROGRAMMES_YAML, encoding="utf-8")
    (out / "extract.yaml").write_text(EXTRACT_YAML, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "tests" / "fixtures"
                        / "intake_rossi", help="folder to write (default tests/fixtures/intake_rossi)")
    args = parser.parse_args(argv)
    from lifelines.datasets import load_rossi  # lifelines only for this script, not for the package

    convert(load_rossi(), args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
