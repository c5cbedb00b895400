"""Subgroup results of the recidivism analysis: the study's own questions (exploratory).

Restorative justice: drug vs other index offences; mentoring and peer
mentoring: by risk level. Each gives a Cox HR per subgroup and a Wald test of
the programme x subgroup interaction(s).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

SUBGROUPS = {
    "restorative_justice": ("index_offence_category", "drugs vs other index offences"),
    "mentoring": ("risk_level", "risk level"),
    "peer_mentoring": ("risk_level", "risk level"),
}


def subgroup_rows(analysis) -> list[dict]:
    """Cox HR per subgroup and the interaction test for the study's subgroup questions (exploratory).

    ``analysis`` is a fitted :class:`evaluation.analyses.recidivism.RecidivismAnalysis`
    (its dataset, design and Cox helper); see its module docstring, section
    'Subgroups', and docs/methods.md, section 'Recidivism measures'.
    """
    ptype = analysis.programme_type_
    if analysis.design == "descriptive" or ptype not in SUBGROUPS or "GENERAL" not in analysis.endpoints:
        return []
    col, label = SUBGROUPS[ptype]
    e = analysis.dataset_[analysis.dataset_["endpoint"] == "GENERAL"].copy()
    if ptype == "restorative_justice":
        e["_sub"] = np.where(e[col] == "drugs", "drugs", "other")
    else:
        e["_sub"] = e[col].astype(str)
    levels = sorted(e["_sub"].unique())
    rows = []
    for lev in levels:
        s = e[e["_sub"] == lev]
        n_ev = int((s["cnsr"] == 0).sum())
        ev_by_arm = s[s["cnsr"] == 0]["treated"].nunique()
        if s["treated"].nunique() < 2 or ev_by_arm < 2:
            rows.append(analysis._base("GENERAL", estimand="hazard_ratio", group=f"subgroup {col}={lev}",
                                   n=len(s), events=n_ev, headline_eligible=False,
                                   note="not estimable: one group only, or no events in one group, in this "
                                        "subgroup"))
            continue
        try:
            cox, _ = analysis._cox(s, ["treated"])
            rec = cox.to_results("treated", **analysis._base("GENERAL", estimand="hazard_ratio",
                                                         group=f"subgroup {col}={lev}",
                                                         headline_eligible=False)).iloc[0].to_dict()
            rows.append(rec)
        except (ValueError, np.linalg.LinAlgError) as exc:
            rows.append(analysis._base("GENERAL", estimand="hazard_ratio", group=f"subgroup {col}={lev}",
                                   note=f"not estimable: {exc}", headline_eligible=False))
    if len(levels) < 2:
        return rows
    ref = levels[-1] if ptype == "restorative_justice" else levels[0]
    inter = []
    for lev in levels:
        if lev == ref:
            continue
        e[f"sub_{lev}"] = (e["_sub"] == lev).astype(float)
        e[f"int_{lev}"] = e[f"sub_{lev}"] * e["treated"]
        inter.append(lev)
    covs = ["treated"] + [f"sub_{v}" for v in inter] + [f"int_{v}" for v in inter]
    try:
        cox, _ = analysis._cox(e, covs, e[covs[1:]])
        k = [covs.index(f"int_{v}") for v in inter]
        if not cox.estimable_.iloc[k].all():
            bad = cox.reasons_.iloc[k]
            raise ValueError(str(bad[bad != ""].iloc[0]).removeprefix("not estimable: "))
        b = cox.params_.to_numpy()[k]
        V = (cox.robust_var_ if cox.robust_var_ is not None else cox.var_)[np.ix_(k, k)]
        stat = float(b @ np.linalg.solve(V, b))
        p = float(stats.chi2.sf(stat, len(k)))
        rows.append(analysis._base("GENERAL", estimand="interaction_test", group=f"by {col}", estimate=stat,
                               p_value=p, n=len(e), events=int((e["cnsr"] == 0).sum()),
                               method=f"Wald test of programme x {label} interaction(s) in a Cox model, "
                                      f"chi-square on {len(k)} df (reference level {ref})",
                               headline_eligible=False,
                               note="subgroup results are exploratory"))
    except (ValueError, np.linalg.LinAlgError) as exc:
        rows.append(analysis._base("GENERAL", estimand="interaction_test", group=f"by {col}",
                               note=f"not estimable: {exc}", headline_eligible=False))
    return rows
