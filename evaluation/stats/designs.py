"""Comparison designs: design checks, propensity scores, matching, IPW, balance.

Three designs are supported (docs/methods.md, section 'Comparison groups and designs'):

``rct``
    Randomised trial: both groups randomised; the comparison is causal by design.
``matched``
    Observational comparison pool: a propensity score (PS) from a logistic
    model on intake covariates, then nearest-neighbour caliper matching on the
    logit of the PS (the UK Justice Data Lab approach) or inverse-probability
    weighting. The estimand is the average effect on the treated (ATT). A
    causal reading rests on *no unmeasured confounding* (all common causes of
    taking part and reoffending are among the covariates) and on overlap.
``descriptive``
    No comparison group: the programme's rate is compared with a user-supplied
    reference rate; never causal.

References
----------
Rosenbaum, P.R. & Rubin, D.B. (1985). Constructing a control group using
multivariate matched sampling methods that incorporate the propensity score.
*The American Statistician* 39, 33-38.
Austin, P.C. (2011). Optimal caliper widths for propensity-score matching.
*Pharmaceutical Statistics* 10, 150-161 (caliper 0.2 SD of the logit).
Ho, D., Imai, K., King, G. & Stuart, E. (2011). MatchIt. *J. Stat. Softw.* 42(8).
Austin, P.C. & Stuart, E.A. (2015). Moving towards best practice when using
inverse probability of treatment weighting. *Statistics in Medicine* 34, 3661-3679.
Cole, S.R. & Hernan, M.A. (2008). Constructing inverse probability weights for
marginal structural models. *Am. J. Epidemiol.* 168, 656-664.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evaluation.datasets.recidivism import COVARIATES

DESIGNS = ("rct", "matched", "descriptive")
SMD_THRESHOLD = 0.1
OVERLAP_THRESHOLD = 0.10
MIN_LEVEL_SUPPORT = 10  # people a level (or the rarer value of a 0/1 column) needs in the PS model and balance
POOLED_LEVEL = "other (pooled)"
RIDGE_ALPHA = 1e-3
SUPPORT_COLUMNS = ["covariate", "term", "n", "n_programme", "n_comparison", "action", "into", "reason"]


def _row_label(df: pd.DataFrame, idx) -> str:
    return f"row {df.loc[idx, '_row']}" if "_row" in df.columns else f"index {idx}"


def check_design(participants: pd.DataFrame, design: str, reference_rate: float | None = None) -> None:
    """Check that the data support the requested design; raise ``ValueError`` if not.

    * ``rct``: both groups present and every person's ``assignment`` is
      ``randomised``.
    * ``matched``: at least one programme participant and one comparison
      person.
    * ``descriptive``: at least one programme participant and a
      ``reference_rate`` (a proportion in [0, 1]).
    """
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}, not {design!r}")
    for col in ("group",) + (("assignment",) if design == "rct" else ()):
        if col not in participants.columns:
            raise ValueError(f"table 'participants' lacks column {col!r} needed for design {design!r}")
    n_prog = int((participants["group"] == "programme").sum())
    n_comp = int((participants["group"] == "comparison").sum())
    if n_prog == 0:
        raise ValueError(f"table 'participants': no programme participants for design {design!r}")
    if design == "rct":
        if n_comp == 0:
            raise ValueError("design 'rct' needs a randomised comparison group, but table 'participants' has none")
        bad = participants["assignment"] != "randomised"
        if bad.any():
            idx = participants.index[bad.to_numpy()][0]
            raise ValueError(
                f"design 'rct' requires randomised assignment in both groups: table 'participants', "
                f"{_row_label(participants, idx)}, field 'assignment' is {participants.loc[idx, 'assignment']!r} "
                f"({int(bad.sum())} person(s) not randomised); use design 'matched' instead"
            )
    elif design == "matched":
        if n_comp == 0:
            raise ValueError(
                "design 'matched' needs comparison persons (group 'comparison') in table 'participants', "
                "but there are none; use design 'descriptive' with a reference rate"
            )
    else:
        if reference_rate is None:
            raise ValueError("design 'descriptive' needs a reference_rate (e.g. a published national rate)")
        if not 0 <= float(reference_rate) <= 1:
            raise ValueError(f"reference_rate must be a proportion between 0 and 1, not {reference_rate}")


def design_matrix(df: pd.DataFrame, covariates: Sequence[str] = COVARIATES) -> pd.DataFrame:
    """Numeric model matrix for the PS model with missing values handled explicitly.

    Numeric (and 0/1 boolean) columns: missing values are set to the observed
    mean and a ``<name>_missing`` indicator is added (missing-indicator
    method; it keeps everyone in the model and balances missingness
    patterns). Text/categorical columns: one dummy per level, with missing as
    its own level ``missing``, dropping the most frequent level as reference.
    Constant columns are dropped.
    """
    cols = {}
    for c in covariates:
        if c not in df.columns:
            raise ValueError(f"propensity model: covariate {c!r} is not a column of the analysis data")
        s = df[c]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            x = pd.to_numeric(s.astype("Float64"), errors="coerce").astype(float)
            miss = x.isna()
            if miss.all():
                continue
            if miss.any():
                cols[f"{c}_missing"] = miss.astype(float)
                x = x.fillna(x.mean())
            cols[c] = x
        else:
            lev = s.astype(object).where(s.notna(), "missing").astype(str)
            counts = lev.value_counts()
            ref = counts.index[0]
            for level in sorted(counts.index):
                if level != ref:
                    cols[f"{c}[{level}]"] = (lev == level).astype(float)
    X = pd.DataFrame(cols, index=df.index)
    return X.loc[:, X.nunique() > 1]


def covariates_used(columns: Sequence[str], covariates: Sequence[str]) -> list[str]:
    """The covariates (in the given order) that contribute at least one column to a model matrix.

    ``columns`` are the columns of :func:`design_matrix`: ``name``,
    ``name_missing`` or ``name[level]``; a covariate whose columns were all
    dropped (constant or all missing) is not used by the model and is left
    out, so that a report lists exactly the covariates each model used.
    """
    cols = list(columns)
    return [c for c in covariates if any(x == c or x == f"{c}_missing" or x.startswith(f"{c}[") for x in cols)]


def model_covariates(covariates: Sequence[str], dataset: pd.DataFrame) -> tuple[str, ...]:
    """The intake covariates plus the extra ones declared for this intake.

    ``dataset`` is the output of
    :func:`evaluation.datasets.recidivism.recidivism_endpoints`, whose
    ``attrs["extra_covariates"]`` lists the declared ``participant_covariates``
    (docs/methods.md, section 'Comparison groups and designs').
    """
    extra = [c for c in dataset.attrs.get("extra_covariates", []) if c not in covariates]
    return tuple(covariates) + tuple(extra)


def describe_covariates(used: Sequence[str], same_as: Sequence[str] | None = None) -> str:
    """``"k covariates: a, b, c"`` for a results row's method text
    (``"the same k covariates"`` when ``used`` equals ``same_as``, e.g. the PS model's)."""
    s = "s" if len(used) != 1 else ""
    if same_as is not None and list(used) == list(same_as):
        return f"the same {len(used)} covariate{s}"
    return f"{len(used)} covariate{s}: {', '.join(used) if used else 'none'}"


def _is_categorical(s: pd.Series) -> bool:
    return not (pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s))


def _count_phrase(n: int, min_count: int) -> str:
    """``"12 people"``, or ``"fewer than 10 people"`` for a count below 10 (it can reach a report)."""
    return f"fewer than {min_count} people" if 0 < n < min_count else f"{n} people"


def _where(n_prog: int, n_comp: int) -> str:
    if n_comp == 0:
        return "programme group only"
    if n_prog == 0:
        return "comparison group only"
    return ""


def _binary_support(x: np.ndarray, t: np.ndarray) -> tuple[float, int, int, int]:
    """For a 0/1 column: the rarer value and how many people (all, programme, comparison) have it."""
    ones = int(x.sum())
    rare = 1.0 if ones <= len(x) - ones else 0.0
    m = x == rare
    return rare, int(m.sum()), int((m & t).sum()), int((m & ~t).sum())


def pool_rare_levels(
    df: pd.DataFrame,
    covariates: Sequence[str],
    treated: Sequence[bool] | pd.Series,
    min_count: int = MIN_LEVEL_SUPPORT,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Model matrix for the propensity model after pooling levels with too little support.

    Rules (docs/methods.md, section 'Comparison groups and designs'):

    * A level of a categorical covariate (missing and ``unknown`` are levels
      like any other) is *rare* when fewer than ``min_count`` people have it
      or it occurs in one group only. Two or more rare levels are pooled into
      one level ``"other (pooled)"``; when that pool (or a single rare level)
      is itself rare, it joins the most frequent level, the reference.
    * A 0/1 column (a 0/1 covariate or a missing indicator) whose rarer value
      is rare by the same rule is dropped: a 0/1 covariate leaves the model, a
      missing indicator leaves its missing values at the observed mean.
    * Other numeric covariates are kept; one that is constant within a group
      is kept and recorded (the fit decides whether this separates).

    Returns
    -------
    X : DataFrame
        The model matrix (no constant), as :func:`design_matrix` of the pooled data.
    support : DataFrame
        One row per pooled level, dropped column or recorded covariate with
        :data:`SUPPORT_COLUMNS`: ``covariate``, ``term`` (level or column),
        ``n``, ``n_programme``, ``n_comparison``, ``action`` (``pooled``,
        ``dropped`` or ``kept``), ``into`` (the level it joined) and
        ``reason``. Row-level counts: never publish it as it is
        (:func:`describe_support` words it with small counts protected).
    """
    t = np.asarray(treated, dtype=bool)
    if len(t) != len(df):
        raise ValueError("pool_rare_levels: treated must have one value per row of df")
    data = df.copy()
    records: list[dict] = []
    for c in covariates:
        if c not in data.columns:
            raise ValueError(f"propensity model: covariate {c!r} is not a column of the analysis data")
        s = data[c]
        if not _is_categorical(s):
            continue
        lev = s.astype(object).where(s.notna(), "missing").astype(str)
        counts = lev.value_counts()
        ref = counts.index[0]
        by = pd.crosstab(lev, t).reindex(columns=[True, False], fill_value=0)
        rare = [lv for lv in counts.index
                if counts[lv] < min_count or by.loc[lv, True] == 0 or by.loc[lv, False] == 0]
        rare = [lv for lv in rare if lv != ref] if len(rare) < len(counts) else rare
        if not rare:
            data[c] = lev
            continue
        pool = lev.isin(rare)
        n_pool, n_pool_t = int(pool.sum()), int((pool & t).sum())
        pool_ok = (len(rare) >= 2 and n_pool >= min_count and 0 < n_pool_t < n_pool
                   and POOLED_LEVEL not in counts.index)
        into = POOLED_LEVEL if pool_ok else ref
        for lv in rare:
            if lv == into:
                continue
            n, n_t = int(counts[lv]), int(by.loc[lv, True])
            why = [f"fewer than {min_count} people"] if n < min_count else []
            if _where(n_t, n - n_t):
                why.append(_where(n_t, n - n_t))
            records.append({"covariate": c, "term": lv, "n": n, "n_programme": n_t, "n_comparison": n - n_t,
                            "action": "pooled", "into": into, "reason": ", ".join(why)})
        data[c] = lev.where(~pool, into)
    X = design_matrix(data, covariates)
    keep = []
    for col in X.columns:
        x = X[col].to_numpy(dtype=float)
        cov = next((c for c in covariates if col == c or col == f"{c}_missing"), None)
        if cov is None or not set(np.unique(x)) <= {0.0, 1.0}:
            if cov is not None and col == cov:
                const = [g for g, m in (("programme", t), ("comparison", ~t)) if m.any() and np.ptp(x[m]) == 0]
                if const:
                    records.append({"covariate": cov, "term": col, "n": len(x), "n_programme": int(t.sum()),
                                    "n_comparison": int((~t).sum()), "action": "kept", "into": "",
                                    "reason": f"constant in the {' and '.join(const)} group"})
            keep.append(col)
            continue
        value, n, n_t, n_c = _binary_support(x, t)
        if n >= min_count and n_t > 0 and n_c > 0:
            keep.append(col)
            continue
        why = [f"fewer than {min_count} people"] if n < min_count else []
        if _where(n_t, n_c):
            why.append(_where(n_t, n_c))
        missing = col.endswith("_missing") and col != cov
        records.append({"covariate": cov, "term": col if missing else f"{col}={value:g}", "n": n,
                        "n_programme": n_t, "n_comparison": n_c, "action": "dropped",
                        "into": "observed mean" if missing else "", "reason": ", ".join(why)})
    support = pd.DataFrame(records, columns=SUPPORT_COLUMNS)
    return X.loc[:, keep], support


def describe_support(support: pd.DataFrame, min_count: int = MIN_LEVEL_SUPPORT) -> list[str]:
    """One English message per pooled level or left-out column of :func:`pool_rare_levels`.

    ``"propensity model: sex=unknown pooled into 'male' (fewer than 10
    people, programme group only)"``, ``"propensity model: psychiatric_problem
    left out (psychiatric_problem=1: fewer than 10 people, in both groups)"``.
    Counts below ``min_count`` are written as "fewer than ..." (they can reach
    a report; docs/methods.md, section 'Comparison groups and designs').
    """
    out = []
    for r in support.itertuples():
        where = _where(r.n_programme, r.n_comparison) or "in both groups"
        count = _count_phrase(int(r.n), min_count)
        if r.action == "pooled":
            out.append(f"propensity model: {r.covariate}={r.term} pooled into '{r.into}' ({count}, {where})")
        elif r.action == "dropped" and r.into == "observed mean":
            out.append(f"propensity model: missing indicator of {r.covariate} left out, missing values set to the "
                       f"observed mean ({count} missing, {where})")
        elif r.action == "dropped":
            out.append(f"propensity model: {r.covariate} left out ({r.term}: {count}, {where})")
    return out


def _ridge_logit(X: np.ndarray, y: np.ndarray, alpha: float = RIDGE_ALPHA, tol: float = 1e-10,
                 maxiter: int = 200) -> np.ndarray:
    """Ridge-penalised logistic regression with an unpenalised intercept (column 0 of ``X``).

    Maximises ``loglik / n - alpha / 2 * sum(b_j**2)`` over the slopes ``b_j``
    of the *standardised* columns (SD 1, as glmnet), by Newton-Raphson with
    step halving; the intercept is not penalised, so its score equation
    ``sum(y - p) = 0`` holds and the mean fitted PS equals the treated share.
    Returns the coefficients on the original scale of ``X`` (docs/methods.md,
    section 'Comparison groups and designs').
    """
    n = len(y)
    sd = X[:, 1:].std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    Z = X.copy()
    Z[:, 1:] = X[:, 1:] / sd
    lam = np.r_[0.0, np.full(X.shape[1] - 1, alpha * n)]

    def objective(b):
        eta = Z @ b
        return float(np.sum(y * eta - np.logaddexp(0, eta)) - 0.5 * np.sum(lam * b**2))

    share = np.clip(y.mean(), 1e-12, 1 - 1e-12)
    b = np.zeros(X.shape[1])
    b[0] = np.log(share / (1 - share))
    f = objective(b)
    for _ in range(maxiter):
        p = 1 / (1 + np.exp(-(Z @ b)))
        grad = Z.T @ (y - p) - lam * b
        hess = (Z * (p * (1 - p))[:, None]).T @ Z + np.diag(lam)
        step = np.linalg.solve(hess + 1e-12 * np.eye(len(b)), grad)
        k = 1.0
        while k > 1e-8:
            f_new = objective(b + k * step)
            if f_new >= f - 1e-12:
                break
            k /= 2
        b, f = b + k * step, f_new
        if np.max(np.abs(k * step)) < tol:
            break
    return np.r_[b[0], b[1:] / sd]


def propensity_scores(
    df: pd.DataFrame,
    covariates: Sequence[str] = COVARIATES,
    treated: Sequence[bool] | pd.Series | None = None,
    min_count: int = MIN_LEVEL_SUPPORT,
) -> pd.DataFrame:
    """Propensity score from a logistic regression (statsmodels) on intake covariates.

    Estimand: P(programme | covariates), the probability of being a programme
    participant given the covariates, used for matching/weighting (ATT).
    Rare levels are pooled first (:func:`pool_rare_levels`); a penalised fit
    is used only on (quasi-)separation or non-convergence (docs/methods.md,
    section 'Comparison groups and designs').

    Parameters
    ----------
    df : DataFrame
        One row per person with the covariates (e.g. one endpoint's rows of
        :func:`evaluation.datasets.recidivism.recidivism_endpoints`).
    covariates : sequence of str
        Covariate columns (default :data:`evaluation.datasets.recidivism.COVARIATES`).
    treated : bool array, optional
        Treatment indicator; defaults to ``df["group"] == "programme"``.
    min_count : int
        People a level needs (default :data:`MIN_LEVEL_SUPPORT`).

    Returns
    -------
    DataFrame
        Indexed like ``df``: ``treated`` (bool), ``ps``, ``distance`` (logit
        of the PS). ``attrs``: ``coefficients`` (fitted model terms),
        ``method`` (maximum likelihood, or the ridge fit with unpenalised
        intercept after separation/non-convergence), ``penalised`` (bool) and
        ``penalised_reason``, ``covariates_used`` (:func:`covariates_used`),
        ``support`` (what was pooled or dropped, :func:`pool_rare_levels`).
    """
    from statsmodels.discrete.discrete_model import Logit
    from statsmodels.tools.sm_exceptions import (
        ConvergenceWarning,
        HessianInversionWarning,
        PerfectSeparationError,
        PerfectSeparationWarning,
    )

    t = (df["group"] == "programme") if treated is None else pd.Series(np.asarray(treated, dtype=bool), index=df.index)
    t = t.astype(bool)
    if t.all() or not t.any():
        raise ValueError("propensity model needs both programme participants and comparison persons")
    X, support = pool_rare_levels(df, covariates, t.to_numpy(), min_count)
    X.insert(0, "const", 1.0)
    y = t.astype(float).to_numpy()
    method = "logistic regression (maximum likelihood)"
    trouble = ""
    params = None
    triggers = (PerfectSeparationWarning, ConvergenceWarning, HessianInversionWarning)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = Logit(y, X).fit(disp=0, maxiter=200)
            params = res.params
        except (PerfectSeparationError, np.linalg.LinAlgError) as exc:
            trouble = f"{type(exc).__name__}: {exc}"
    for w in sorted(caught, key=lambda w: [issubclass(w.category, c) for c in triggers], reverse=True):
        if issubclass(w.category, triggers):  # separation first, then non-convergence, then a singular Hessian
            trouble = trouble or f"{w.category.__name__}: {w.message}"
        elif not issubclass(w.category, RuntimeWarning):  # overflow in exp during separation: not news
            warnings.warn(str(w.message), w.category, stacklevel=2)
    if not trouble and params is not None:
        if not res.mle_retvals.get("converged", True):
            trouble = "maximum likelihood did not converge"
        elif not np.all(np.isfinite(params)) or np.max(np.abs(params.to_numpy()[1:]), initial=0) > 15:
            trouble = "quasi-separation (a coefficient beyond 15 on the logit scale)"
    if trouble:
        params = pd.Series(_ridge_logit(X.to_numpy(float), y), index=X.columns)
        method = (f"logistic regression, ridge-penalised (alpha={RIDGE_ALPHA:g} on standardised covariates, "
                  "intercept unpenalised) after (quasi-)separation or non-convergence")
        warnings.warn(
            "propensity model: maximum likelihood failed (separation: some covariate pattern occurs in one group "
            "only, or no convergence); a ridge-penalised fit was used. Check overlap.",
            UserWarning,
            stacklevel=2,
        )
    lin = X.to_numpy() @ np.asarray(params)
    # as R's binomial()$linkinv, the linear predictor is bounded at +-30 for the probability (a PS within
    # 1e-13 of 0 or 1), so that a separated person gets a PS strictly inside (0, 1) instead of a float 1.0
    # (found on 6-person intakes: matching then refused the scores); the overlap summary flags them
    ps = 1 / (1 + np.exp(-np.clip(lin, -30.0, 30.0)))
    out = pd.DataFrame({"treated": t.to_numpy(), "ps": ps, "distance": lin}, index=df.index)
    out.attrs["coefficients"] = pd.Series(np.asarray(params), index=X.columns)
    out.attrs["method"] = method
    out.attrs["penalised"] = bool(trouble)
    out.attrs["penalised_reason"] = trouble
    out.attrs["covariates_used"] = covariates_used(X.columns, covariates)
    out.attrs["support"] = support
    return out


def match_nearest(
    ps: Sequence[float] | pd.Series,
    treated: Sequence[bool] | pd.Series,
    caliper_sd: float | None = 0.2,
    replace: bool = False,
    ratio: int = 1,
    seed: int | None = None,
    order: str = "largest",
    on: str = "logit",
) -> pd.DataFrame:
    """Greedy nearest-neighbour matching on the logit of the PS with a caliper.

    Algorithm (as R ``MatchIt::matchit(method="nearest", distance="glm",
    link="linear.logit", caliper=0.2, m.order="largest")``): the distance is
    the logit of the PS (``on="logit"``; ``on="ps"`` uses the PS itself); the
    caliper is ``caliper_sd`` times the standard deviation (n-1) of the
    distance over all units. Treated units are taken in descending PS order
    (``order="largest"``; ``"smallest"``, ``"data"`` or ``"random"`` with
    ``seed``); each takes the nearest available control; a treated unit whose
    nearest available control lies outside the caliper stays unmatched. With
    ``ratio > 1`` matching runs in rounds (every treated unit gets its first
    control before any gets a second). Without replacement a control is used
    once; with replacement controls may be reused. Ties in distance go to the
    control that comes first in the data.

    Returns
    -------
    DataFrame
        Indexed like ``ps``: ``treated``, ``distance``, ``matched`` (bool),
        ``subclass`` (matched-set id, Int64; NA when unmatched, and for
        controls when ``replace=True`` because a control can belong to several
        sets), ``weight`` (ATT matching weights as MatchIt: treated 1; a
        control gets the sum over its sets of 1/k (k = controls in the set),
        rescaled so that control weights sum to the number of matched
        controls; unmatched 0) and ``times_used``. ``attrs["pairs"]`` lists
        (subclass, treated_index, control_index); ``attrs["caliper"]`` the
        caliper on the distance scale.
    """
    ps = pd.Series(ps).astype(float)
    t = pd.Series(np.asarray(treated, dtype=bool), index=ps.index)
    if ps.isna().any() or ((ps <= 0) | (ps >= 1)).any():
        raise ValueError("match_nearest: propensity scores must lie strictly between 0 and 1 (no missing values)")
    if ratio < 1 or int(ratio) != ratio:
        raise ValueError("match_nearest: ratio must be a positive integer")
    d = np.log(ps / (1 - ps)).to_numpy() if on == "logit" else ps.to_numpy()
    tr = t.to_numpy()
    cal = np.inf if caliper_sd is None else float(caliper_sd) * float(np.std(d, ddof=1))
    ti = np.flatnonzero(tr)
    ci = np.flatnonzero(~tr)
    if order == "largest":
        ti = ti[np.argsort(-ps.to_numpy()[ti], kind="stable")]
    elif order == "smallest":
        ti = ti[np.argsort(ps.to_numpy()[ti], kind="stable")]
    elif order == "random":
        ti = np.random.default_rng(seed).permutation(ti)
    elif order != "data":
        raise ValueError("order must be 'largest', 'smallest', 'data' or 'random'")
    available = np.ones(len(ci), dtype=bool)
    dc = d[ci]
    sets: dict[int, list[int]] = {int(i): [] for i in ti}
    active = {int(i) for i in ti}
    for _ in range(int(ratio)):
        for i in ti:
            i = int(i)
            if i not in active:
                continue
            dist = np.abs(dc - d[i])
            mask = available.copy()
            if replace and sets[i]:
                mask[np.isin(ci, sets[i])] = False
            if not mask.any():
                active.discard(i)
                continue
            dist = np.where(mask, dist, np.inf)
            j = int(np.argmin(dist))  # first minimum = first in data order
            if dist[j] > cal:
                active.discard(i)  # no (further) control within the caliper
                continue
            sets[i].append(int(ci[j]))
            if not replace:
                available[j] = False
    n = len(ps)
    matched = np.zeros(n, dtype=bool)
    subclass = pd.array([pd.NA] * n, dtype="Int64")
    weight = np.zeros(n)
    used = np.zeros(n, dtype=int)
    pairs = []
    sc = 0
    for i in sorted(k for k, v in sets.items() if v):  # subclass numbered in data order of treated units
        sc += 1
        controls = sets[i]
        matched[i] = True
        subclass[i] = sc
        weight[i] = 1.0
        for c in controls:
            matched[c] = True
            used[c] += 1
            weight[c] += 1.0 / len(controls)
            if not replace:
                subclass[c] = sc
            pairs.append((sc, ps.index[i], ps.index[c]))
        used[i] = 1
    cmask = matched & ~tr
    if cmask.any():
        weight[cmask] *= cmask.sum() / weight[cmask].sum()
    out = pd.DataFrame(
        {"treated": tr, "distance": d, "matched": matched, "subclass": subclass, "weight": weight, "times_used": used},
        index=ps.index,
    )
    out.attrs["pairs"] = pd.DataFrame(pairs, columns=["subclass", "treated_index", "control_index"])
    out.attrs["caliper"] = cal
    n_unmatched = int((tr & ~matched).sum())
    if n_unmatched:
        warnings.warn(
            f"matching: {n_unmatched} of {int(tr.sum())} programme participants found no comparison person within "
            f"the caliper ({caliper_sd} SD of the logit PS) and are left out; the estimate then describes the "
            "matched participants only",
            UserWarning,
            stacklevel=2,
        )
    return out


def ipw_weights(
    ps: Sequence[float] | pd.Series,
    treated: Sequence[bool] | pd.Series,
    estimand: str = "ATT",
    stabilise: bool = True,
    truncate_quantile: float | None = None,
) -> pd.Series:
    """Inverse-probability-of-treatment weights.

    ATT: treated 1, controls ``ps / (1 - ps)``; stabilised by multiplying the
    control weights by ``(1 - p) / p`` with ``p`` the share treated, so that
    control weights sum to about the number of controls (Austin & Stuart 2015).
    ATE: ``1 / ps`` and ``1 / (1 - ps)``, stabilised by the marginal shares
    ``p`` and ``1 - p`` (Cole & Hernan 2008). Stabilisation rescales the
    weights within each group and does not change a weighted estimate; it
    makes the weights readable (mean about 1).

    Trimming: none by default. ``truncate_quantile=q`` (e.g. 0.99) truncates
    weights above the q-th quantile of each group's weights to that quantile
    (weight truncation, Cole & Hernan 2008); this trades a little bias for
    variance and changes the estimand slightly, so it is reported.
    """
    ps = pd.Series(ps).astype(float)
    t = pd.Series(np.asarray(treated, dtype=bool), index=ps.index)
    if ps.isna().any() or ((ps <= 0) | (ps >= 1)).any():
        raise ValueError("ipw_weights: propensity scores must lie strictly between 0 and 1 (no missing values)")
    p = t.mean()
    if estimand == "ATT":
        w = np.where(t, 1.0, ps / (1 - ps))
        if stabilise:
            w = np.where(t, w, w * (1 - p) / p)
    elif estimand == "ATE":
        w = np.where(t, 1 / ps, 1 / (1 - ps))
        if stabilise:
            w = np.where(t, w * p, w * (1 - p))
    else:
        raise ValueError("estimand must be 'ATT' or 'ATE'")
    w = pd.Series(w, index=ps.index, name="weight")
    if truncate_quantile is not None:
        for g in (True, False):
            m = t == g
            cap = w[m].quantile(truncate_quantile)
            w[m] = w[m].clip(upper=cap)
    return w


def _wmean_var(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    ok = ~np.isnan(x) & (w > 0)
    x, w = x[ok], w[ok]
    if len(x) == 0 or w.sum() == 0:
        return np.nan, np.nan
    m = np.average(x, weights=w)
    if len(x) < 2:
        return m, np.nan
    # unbiased weighted variance with frequency-type correction (equals the usual s^2 for unit weights)
    v1, v2 = w.sum(), (w**2).sum()
    var = (w * (x - m) ** 2).sum() / (v1 - v2 / v1)
    return m, var


def balance_table(
    df: pd.DataFrame,
    covariates: Sequence[str],
    treated: Sequence[bool] | pd.Series,
    weights: Sequence[float] | pd.Series | None = None,
    min_count: int = MIN_LEVEL_SUPPORT,
) -> pd.DataFrame:
    """Covariate balance before and after adjustment.

    For each model-matrix column (see :func:`design_matrix`; categories as
    dummies, missingness as indicators, all variables standardised as MatchIt
    does), followed by the pooled levels of the propensity model
    (:func:`pool_rare_levels`): group means, the standardised mean difference
    and the variance ratio, unadjusted and weighted by ``weights`` (matching
    weights with 0 for unmatched units, or IPW weights).

    SMD definition: ``(mean_treated - mean_comparison) / s_pooled`` with
    ``s_pooled = sqrt((s2_treated + s2_comparison) / 2)`` computed on the
    **unadjusted** sample, and the same denominator used before and after
    adjustment (cobalt ``s.d.denom="pooled"``), so that a change in SMD
    reflects only a change in means. Variance ratio: treated over comparison
    variance (weighted after adjustment), for non-binary variables only.
    ``|SMD| >= 0.1`` after adjustment is flagged (``imbalanced``).
    ``supported`` is False for a 0/1 column whose rarer value fewer than
    ``min_count`` people have: its SMD is shown but does not decide the causal
    label, and only supported imbalanced columns are warned
    (docs/methods.md, section 'Comparison groups and designs').
    """
    t = np.asarray(treated, dtype=bool)
    X = design_matrix(df, covariates)
    X = X.loc[:, [not c.endswith("_missing") or X[c].sum() > 0 for c in X.columns]]
    Xp, _ = pool_rare_levels(df, covariates, t, min_count)
    extra = [c for c in Xp.columns if c not in X.columns and c.endswith(f"[{POOLED_LEVEL}]")]
    order = []
    for cov in covariates:
        own = [c for c in X.columns if c == cov or c == f"{cov}_missing" or c.startswith(f"{cov}[")]
        order += own + [c for c in extra if c.startswith(f"{cov}[")]
    X = pd.concat([X, Xp[extra]], axis=1)[order]
    w = np.ones(len(X)) if weights is None else np.asarray(weights, dtype=float)
    one = np.ones(len(X))
    rows = []
    for col in X.columns:
        x = X[col].to_numpy(dtype=float)
        binary = set(np.unique(x[~np.isnan(x)])) <= {0.0, 1.0}
        mt0, vt0 = _wmean_var(x[t], one[t])
        mc0, vc0 = _wmean_var(x[~t], one[~t])
        sd = np.sqrt((vt0 + vc0) / 2)
        mt1, vt1 = _wmean_var(x[t], w[t])
        mc1, vc1 = _wmean_var(x[~t], w[~t])
        smd0 = (mt0 - mc0) / sd if sd > 0 else 0.0
        smd1 = (mt1 - mc1) / sd if sd > 0 else 0.0
        rows.append(
            {
                "covariate": col,
                "binary": binary,
                "supported": (not binary) or _binary_support(x, t)[1] >= min_count,
                "mean_programme": mt0,
                "mean_comparison": mc0,
                "smd_before": smd0,
                "variance_ratio_before": np.nan if binary or vc0 == 0 else vt0 / vc0,
                "mean_programme_adjusted": mt1,
                "mean_comparison_adjusted": mc1,
                "smd_after": smd1,
                "variance_ratio_after": np.nan if binary or not vc1 else vt1 / vc1,
            }
        )
    out = pd.DataFrame(rows, columns=["covariate", "binary", "supported", "mean_programme", "mean_comparison",
                                      "smd_before", "variance_ratio_before", "mean_programme_adjusted",
                                      "mean_comparison_adjusted", "smd_after", "variance_ratio_after"])
    if weights is not None and len(out):
        out["imbalanced"] = out["smd_after"].abs() >= SMD_THRESHOLD
        bad = out.loc[out["imbalanced"] & out["supported"], "covariate"].tolist()
        if bad:
            warnings.warn(
                f"balance: |SMD| >= {SMD_THRESHOLD} after adjustment for {len(bad)} covariate(s): "
                f"{', '.join(bad[:8])}{' ...' if len(bad) > 8 else ''}; the comparison may be biased",
                UserWarning,
                stacklevel=2,
            )
    else:
        out["imbalanced"] = out["smd_before"].abs() >= SMD_THRESHOLD
    return out


def causal_judgement(balance: pd.DataFrame, overlap: pd.DataFrame | None = None,
                     adjustment: str = "matching") -> tuple[bool, str]:
    """Whether a matched/weighted comparison is labelled causal, and why (short English note parts).

    Causal when every *supported* column of :func:`balance_table` has
    ``|SMD| < 0.1`` after adjustment and overlap is adequate
    (:func:`overlap_summary`); unsupported columns (fewer than
    :data:`MIN_LEVEL_SUPPORT` people) are listed as "not judged" but do not
    decide (docs/methods.md, section 'Comparison groups and designs').
    The reason is ``"; "``-separated note parts, e.g. ``"causal: all supported
    covariates balanced after matching (max |SMD| 0.060)"`` or ``"not causal:
    imbalance after matching in age_at_intake (SMD 0.140)"``.
    """
    supported = balance["supported"].astype(bool) if "supported" in balance else pd.Series(True, balance.index)
    smd = balance["smd_after"].abs()
    bad = balance[supported & (smd >= SMD_THRESHOLD)]
    bad = bad.assign(a=bad["smd_after"].abs()).sort_values("a", ascending=False)
    poor = overlap is not None and bool(overlap["poor_overlap"].any())
    parts = []
    if len(bad):
        listed = ", ".join(f"{r.covariate} (SMD {r.smd_after:.3f})" for r in bad.head(3).itertuples())
        parts.append(f"not causal: imbalance after {adjustment} in {listed}{', ...' if len(bad) > 3 else ''}")
    if poor:
        share = float(overlap.loc[0, "share_outside_other_range"])
        parts.append(f"not causal: poor overlap ({share:.0%} of participants outside the comparison group's "
                     "PS range)")
    if not parts:
        mx = float(smd[supported].max()) if supported.any() else 0.0
        parts.append(f"causal: all supported covariates balanced after {adjustment} (max |SMD| {mx:.3f})")
    unjudged = balance.loc[~supported & (smd >= SMD_THRESHOLD), "covariate"].tolist()
    if unjudged:
        parts.append(f"not judged (fewer than {MIN_LEVEL_SUPPORT} people): {', '.join(unjudged[:5])}"
                     + (", ..." if len(unjudged) > 5 else ""))
    return not (len(bad) or poor), "; ".join(parts)


def overlap_summary(ps: Sequence[float] | pd.Series, treated: Sequence[bool] | pd.Series) -> pd.DataFrame:
    """Common-support summary of the propensity score.

    Returns one row per group (``programme``, ``comparison``) with n, min,
    quartiles, max of the PS and the share of the group outside the other
    group's PS range. Warns when more than 10% of programme participants lie
    outside the comparison group's range (poor overlap: matching will drop
    them and IPW weights become extreme).
    """
    ps = np.asarray(ps, dtype=float)
    t = np.asarray(treated, dtype=bool)
    rows = []
    for name, m, other in (("programme", t, ~t), ("comparison", ~t, t)):
        x, o = ps[m], ps[other]
        outside = float(np.mean((x < o.min()) | (x > o.max()))) if len(o) and len(x) else np.nan
        q = np.quantile(x, [0, 0.25, 0.5, 0.75, 1]) if len(x) else [np.nan] * 5
        rows.append(
            {"group": name, "n": int(m.sum()), "ps_min": q[0], "ps_q25": q[1], "ps_median": q[2], "ps_q75": q[3],
             "ps_max": q[4], "share_outside_other_range": outside}
        )
    out = pd.DataFrame(rows)
    share = out.loc[0, "share_outside_other_range"]
    out["poor_overlap"] = False
    if share > OVERLAP_THRESHOLD:
        out.loc[0, "poor_overlap"] = True
        warnings.warn(
            f"overlap: {share:.0%} of programme participants have a propensity score outside the comparison "
            "group's range; estimates rely on extrapolation or describe only part of the participants",
            UserWarning,
            stacklevel=2,
        )
    return out


def love_plot(balance: pd.DataFrame, threshold: float = SMD_THRESHOLD, labels: dict | None = None,
              colours: dict | None = None):
    """Love plot of absolute SMDs before and after adjustment; returns a Figure.

    Uses the object-oriented matplotlib API (no pyplot state, no style change).
    ``labels`` may map legend keys ``before``/``after``/``title``/``xlabel`` to
    translated text; ``colours`` may map ``before``/``after``/``threshold`` to colours.
    """
    from matplotlib.figure import Figure

    lab = {"before": "before adjustment", "after": "after adjustment", "xlabel": "absolute standardised mean difference",
           "title": "Covariate balance"}
    lab.update(labels or {})
    col = {"before": "0.4", "after": "C0", "threshold": "C3", **(colours or {})}
    b = balance.iloc[::-1]
    fig = Figure(figsize=(7, max(2.5, 0.28 * len(b) + 1.2)))
    ax = fig.subplots()
    y = np.arange(len(b))
    ax.scatter(b["smd_before"].abs(), y, marker="o", facecolors="none", edgecolors=col["before"],
               label=lab["before"])
    ax.scatter(b["smd_after"].abs(), y, marker="o", color=col["after"], label=lab["after"])
    ax.axvline(threshold, color=col["threshold"], linestyle="--", linewidth=1)
    ax.set_yticks(y)
    ax.set_yticklabels(b["covariate"], fontsize=8)
    ax.set_xlabel(lab["xlabel"])
    ax.set_title(lab["title"])
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def min_count_bins(x: Sequence[float], edges: Sequence[float], min_count: int = 10) -> list[tuple[float, float, int]]:
    """Histogram bars with at least ``min_count`` people each: adjacent bins of ``edges`` are merged from
    the left until the bar holds ``min_count`` or more; a remainder below it joins the last bar, and a
    group of fewer than ``min_count`` people gets no bar at all. Returns ``(left, right, count)``.

    A bar of 1-9 people in a published figure would give a small number back (docs/methods.md,
    section 'Disclosure control'); merged bars show the same shape at a coarser resolution.
    """
    counts, edges = np.histogram(np.asarray(x, dtype=float), np.asarray(edges, dtype=float))
    bars: list[list] = []
    start, acc = 0, 0
    for i, c in enumerate(counts):
        acc += int(c)
        if acc >= min_count:
            bars.append([float(edges[start]), float(edges[i + 1]), acc])
            start, acc = i + 1, 0
    if acc:
        if bars:
            bars[-1][1], bars[-1][2] = float(edges[-1]), bars[-1][2] + acc
        # else: fewer than min_count people in all: nothing is drawn
    return [(a, b, int(c)) for a, b, c in bars if c > 0]


def overlap_plot(ps: Sequence[float], treated: Sequence[bool], labels: dict | None = None,
                 colours: dict | None = None, min_count: int = 10):
    """Histograms of the propensity score by group (mirrored); returns a Figure. ``colours`` may map
    ``programme``/``comparison`` to colours. Every bar holds at least ``min_count`` people
    (:func:`min_count_bins`): bins are merged where needed, so no bar shows a small number."""
    from matplotlib.figure import Figure

    lab = {"programme": "programme", "comparison": "comparison", "xlabel": "propensity score",
           "ylabel": "number of people", "title": "Overlap of propensity scores"}
    lab.update(labels or {})
    col = {"programme": "C0", "comparison": "0.6", **(colours or {})}
    ps = np.asarray(ps, dtype=float)
    t = np.asarray(treated, dtype=bool)
    bins = np.linspace(0, 1, 26)
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    for group, sign in (("programme", 1), ("comparison", -1)):
        bars = min_count_bins(ps[t] if sign == 1 else ps[~t], bins, min_count)
        if bars:
            ax.bar([b[0] for b in bars], [sign * b[2] for b in bars], width=[b[1] - b[0] for b in bars],
                   align="edge", color=col[group], label=lab[group], edgecolor="white", linewidth=0.5)
    ax.axhline(0, color="black", linewidth=0.5)
    ticks = ax.get_yticks()
    ax.set_yticks(ticks)
    ax.set_yticklabels([f"{abs(int(v))}" for v in ticks])
    ax.set_xlabel(lab["xlabel"])
    ax.set_ylabel(lab["ylabel"])
    ax.set_title(lab["title"])
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


@dataclass
class DesignAdjustment:
    """What :func:`adjust_design` did: per-person ``weights`` and ``cluster`` (indexed like the
    person frame), the causal label and its reason, the method text and the diagnostics."""

    weights: pd.Series
    cluster: pd.Series
    causal: bool
    causal_reason: str
    causal_note: str
    method_suffix: str = ""
    ps: pd.DataFrame | None = None
    ps_covariates: list[str] | None = None
    ps_support: pd.DataFrame | None = None
    overlap: pd.DataFrame | None = None
    matching: pd.DataFrame | None = None
    balance: pd.DataFrame | None = None
    warnings: list[str] = field(default_factory=list)


def adjust_design(
    person: pd.DataFrame,
    covariates: Sequence[str],
    treated: pd.Series,
    design: str,
    weighting: str = "matching",
    caliper_sd: float = 0.2,
    replace: bool = False,
    ratio: int = 1,
    seed: int | None = None,
    no_confounding_note: str = "causal reading assumes no unmeasured confounding and adequate overlap; estimand ATT",
) -> DesignAdjustment:
    """Adjust a person-level comparison for its design (shared by the recidivism and re-integration analyses).

    ``rct``: weights 1, one cluster per person, causal. ``matched``: PS model (:func:`propensity_scores`)
    on ``covariates``, then 1:``ratio`` caliper matching (:func:`match_nearest`; cluster = matched set
    when without replacement) or ATT weights (:func:`ipw_weights`; cluster = person), balance after
    adjustment (:func:`balance_table`) and the causal label (:func:`causal_judgement`), with
    ``no_confounding_note`` before the reason. ``descriptive``: weights 1, not causal.
    See docs/methods.md, section 'Comparison groups and designs'.
    """
    if design not in DESIGNS:
        raise ValueError(f"design must be one of {DESIGNS}, not {design!r}")
    if weighting not in ("matching", "ipw"):
        raise ValueError(f"weighting must be 'matching' or 'ipw', not {weighting!r}")
    treated = pd.Series(np.asarray(treated, dtype=bool), index=person.index)
    out = DesignAdjustment(
        weights=pd.Series(1.0, index=person.index),
        cluster=pd.Series(person.index, index=person.index),
        causal=design == "rct",
        causal_reason={"rct": "causal: randomised comparison",
                       "descriptive": "not causal: compared with a reference rate"}.get(design, ""),
        causal_note="randomised comparison (intention to treat)" if design == "rct" else "",
    )
    if design != "matched":
        return out
    covs = list(covariates)
    ps = propensity_scores(person, covs, treated)
    out.ps_covariates = ps.attrs["covariates_used"]
    out.ps = ps
    out.ps_support = ps.attrs["support"]
    out.warnings += describe_support(out.ps_support)
    out.overlap = overlap_summary(ps["ps"], treated)
    if weighting == "matching":
        m = match_nearest(ps["ps"], treated, caliper_sd=caliper_sd, replace=replace, ratio=ratio, seed=seed)
        out.matching = m
        out.weights = m["weight"]
        if not replace:
            out.cluster = m["subclass"].astype("string").fillna("unmatched")
        out.method_suffix = (
            f"nearest-neighbour matching 1:{ratio} on logit PS, caliper {caliper_sd} SD"
            + (", with replacement" if replace else "")
        ) + f" (PS model on {describe_covariates(out.ps_covariates)})"
        n_unm = int((treated & ~m["matched"]).sum())
        if n_unm:
            out.warnings.append(
                f"{n_unm} programme participants had no comparison person within the caliper and are "
                "not in the matched analysis"
            )
    else:
        out.weights = ipw_weights(ps["ps"], treated, estimand="ATT")
        out.method_suffix = ("ATT inverse-probability weights (stabilised) "
                             f"(PS model on {describe_covariates(out.ps_covariates)})")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out.balance = balance_table(person, covs, treated, weights=out.weights.to_numpy())
    for c in caught:
        out.warnings.append(str(c.message))
    out.causal, out.causal_reason = causal_judgement(
        out.balance, out.overlap, "matching" if weighting == "matching" else "weighting")
    out.causal_note = f"{no_confounding_note}; {out.causal_reason}"
    return out
