"""The optional contract fields of issue 16, added to a generated intake on request.

``evaluation synth --contract-additions`` (``generate_intake(...,
contract_additions=True)``) adds a per-person ``observation_end``, the
justice events' ``kind``, ``date_precision`` and ``custodial`` flag (some
custodial outcomes without their length), a few ``unknown`` offence
categories and disposals, and a ``participant_covariates`` table with three
covariates declared in ``extract.yaml``. The default intake (the demo) has
none of these. The additions draw from their own random generator (seeded
from the seed), so the rest of the intake is the same with or without them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: Fields of issue 16 the default intake leaves out (per table); the whole
#: ``participant_covariates`` table is left out too.
ADDITION_FIELDS: dict[str, frozenset[str]] = {
    "participants": frozenset({"observation_end"}),
    "justice_events": frozenset({"kind", "date_precision", "custodial"}),
}
ADDITION_TABLES = frozenset({"participant_covariates"})

#: The declarations written to extract.yaml (``covariates``) with the additions.
COVARIATE_DECLARATIONS: list[dict[str, Any]] = [
    {"name": "months_last_custody", "type": "numeric", "title": "Months in the last custody",
     "title_nl": "Maanden in de laatste detentie"},
    {"name": "marital_status", "type": "categorical", "levels": ["single", "partner", "divorced"],
     "title": "Marital status", "title_nl": "Burgerlijke staat"},
    {"name": "under_supervision", "type": "binary", "title": "Under probation supervision",
     "title_nl": "Onder reclasseringstoezicht"},
]


def add_contract_additions(tables: dict[str, pd.DataFrame], seed: int, cutoff: str) -> dict[str, pd.DataFrame]:
    """Return a copy of the typed tables with the issue-16 fields and table filled in."""
    rng = np.random.default_rng([int(seed), 16])
    out = dict(tables)
    cut = pd.Timestamp(cutoff)
    p = tables["participants"].copy()
    n = len(p)
    start = pd.to_datetime(p["follow_up_start"])
    end = start + pd.to_timedelta(rng.integers(180, 900, n), unit="D")
    use = (rng.random(n) < 0.15) & (end < cut)
    p["observation_end"] = end.where(use)
    unknown_idx = rng.random(n) < 0.02
    p["index_offence_category"] = p["index_offence_category"].astype(object).where(~unknown_idx, "unknown")
    out["participants"] = p

    j = tables["justice_events"].copy()
    m = len(j)
    days = pd.array(j["custodial_days"], dtype="Int64")
    cust = pd.Series(pd.array([pd.NA] * m, dtype="boolean"))
    has = ~pd.isna(days)
    cust[has] = pd.Series(days).fillna(0).to_numpy()[has] > 0
    unknown_len = cust.fillna(False).to_numpy(dtype=bool) & (rng.random(m) < 0.2)
    j["custodial_days"] = pd.Series(days).mask(unknown_len).astype("Int64")
    j["custodial"] = cust.to_numpy()
    j["kind"] = np.where(j["disposal"].astype(object) == "conviction", "conviction", "charge").astype(object)
    prec = rng.choice(np.array(["day", "week", "month"], dtype=object), m, p=[0.85, 0.10, 0.05])
    od = pd.to_datetime(j["offence_date"])
    od = od.where(prec != "week", od - pd.to_timedelta(od.dt.dayofweek, unit="D"))
    od = od.where(prec != "month", od - pd.to_timedelta(od.dt.day - 1, unit="D"))
    j["offence_date"] = od.to_numpy(dtype="datetime64[ns]")
    j["date_precision"] = prec
    j["offence_category"] = j["offence_category"].astype(object).where(rng.random(m) >= 0.03, "unknown")
    j["disposal"] = j["disposal"].astype(object).where(rng.random(m) >= 0.02, "unknown")
    out["justice_events"] = j

    ids = p["participant_id"].astype(str).to_numpy()
    months = np.round(rng.gamma(2.0, 4.0, n), 1)
    months_txt = np.where(rng.random(n) < 0.3, "", months.astype(str)).astype(object)
    marital = rng.choice(np.array(["single", "partner", "divorced"], dtype=object), n, p=[0.6, 0.25, 0.15])
    marital = np.where(rng.random(n) < 0.05, "", marital).astype(object)
    sup = np.where(rng.random(n) < 0.5, "true", "false").astype(object)
    rows = pd.DataFrame({
        "participant_id": np.concatenate([ids, ids, ids]),
        "covariate": np.repeat(np.array([d["name"] for d in COVARIATE_DECLARATIONS], dtype=object), n),
        "value": np.concatenate([months_txt, marital, sup]),
    })
    rows["value"] = rows["value"].where(rows["value"] != "", None)
    out["participant_covariates"] = rows.sort_values(["participant_id", "covariate"], kind="stable").reset_index(
        drop=True)
    return out
