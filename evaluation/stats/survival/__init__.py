"""Survival analysis core: Kaplan-Meier, RMST, Aalen-Johansen, Cox, PH test.

Every estimator here is checked against R (``survival`` 3.5, ``cmprsk``,
``MASS``) on stored fixtures; see ``tests/r/survival_*.R`` for the reference
scripts and ``tests/test_survival_*.py`` for the tolerances.

Conventions
-----------
* Times are in days unless stated otherwise; durations must be >= 0.
* Events are coded 1 (event) and 0 (censored); competing-risk codes are
  0 = censored and 1..k = cause.
* Weights are case weights (R's ``weights=``): a weight of 2 counts a row
  twice in every sum. Inverse-probability weights enter the same way; the
  variance formulas that treat weights as frequencies are stated per method.
* Bad input raises ``ValueError`` naming the argument, the position (index
  label) and the problem. Nothing is dropped silently.

References
----------
Kaplan EL, Meier P (1958). Nonparametric estimation from incomplete
observations. JASA 53:457-481.
Therneau TM, Grambsch PM (2000). Modeling Survival Data: Extending the Cox
Model. Springer.
Royston P, Parmar MKB (2013). Restricted mean survival time. BMC Med Res
Methodol 13:152.
Efron B (1977). The efficiency of Cox's likelihood function for censored
data. JASA 72:557-565.
Lin DY, Wei LJ (1989). The robust inference for the Cox proportional hazards
model. JASA 84:1074-1078.
"""


from __future__ import annotations

from evaluation.stats.survival.cox import NOT_ESTIMABLE_MONOTONE, CoxModel, ratio_degenerate
from evaluation.stats.survival.cuminc import CumulativeIncidence
from evaluation.stats.survival.effects import (
    e_value,
    negative_binomial_rate_ratio,
    rmst_difference,
    survival_difference,
)
from evaluation.stats.survival.km import KaplanMeier, kaplan_meier_by_group, numbers_at_risk

__all__ = [
    "KaplanMeier",
    "kaplan_meier_by_group",
    "numbers_at_risk",
    "rmst_difference",
    "survival_difference",
    "CoxModel",
    "NOT_ESTIMABLE_MONOTONE",
    "ratio_degenerate",
    "CumulativeIncidence",
    "e_value",
    "negative_binomial_rate_ratio",
]
