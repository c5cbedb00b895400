"""Controlled rounding of stock-flow tables, and its audit by linear programming.

A table of stocks and flows per period (``start + in - out = end``, the end stock of a period
being the start stock of the next, groups adding up to a total group) defeats cell suppression:
a suppressed flow is the difference of two stocks shown in neighbouring rows. Such tables are
published after *controlled rounding* (:func:`round_stock_flow`): each count moves to a
neighbouring multiple of the threshold with every relation still exact, so a count of 1..9 is
shown as 0 or 10 and nothing is suppressed. :func:`audit_rounding` checks by linear programming,
with every relation and the totals published elsewhere declared, that each true count of 1..9
keeps at least as many possible values as ``"<10"`` would leave (docs/methods.md, section
'Disclosure control').

References
----------
Hundepool A et al. (2012). *Statistical Disclosure Control*, sections 4.3 and 5.4. Wiley.
Cox LH (1987). A constructive procedure for unbiased controlled rounding. *JASA* 82:520-524.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from evaluation.contract.results import SUPPRESSION_THRESHOLD
from evaluation.publish.cells import _check_threshold, _counts_as_float

# ----------------------------------------------------------------------------

STOCK_FLOW_COLUMNS: tuple[str, str, str, str] = ("active_start", "joiners", "leavers", "active_end")
"""Default columns of a stock-flow table: stock at the start, inflow, outflow, stock at the end."""


def _stock_flow_chains(
    df: pd.DataFrame, group: str, order: str, columns: Sequence[str], what: str
) -> dict[Any, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Per group: row positions (in ``order``), stocks ``S_0..S_T``, inflows and outflows (checked)."""
    for c in (group, order):
        if c not in df.columns:
            raise ValueError(f"{what}: column {c!r} not in table (columns: {list(df.columns)})")
    if len(columns) != 4:
        raise ValueError(f"{what}: columns must name start stock, inflow, outflow and end stock, got {list(columns)}")
    cs, cj, cl, ce = columns
    values = _counts_as_float(df, list(columns), what)
    for c in columns:
        col = values[c].to_numpy()
        bad = np.isnan(col) | (col != np.round(col))
        if bad.any():
            row = df.index[np.flatnonzero(bad)[0]]
            raise ValueError(f"{what}: column {c!r}, row {row}: {df.at[row, c]!r} is not a whole count")
    v = values.to_numpy(dtype=np.int64)
    rel = v[:, 0] + v[:, 1] - v[:, 2] - v[:, 3]
    if (rel != 0).any():
        row = df.index[np.flatnonzero(rel)[0]]
        raise ValueError(f"{what}: row {row}: {cs} + {cj} - {cl} != {ce} "
                         f"({df.at[row, cs]} + {df.at[row, cj]} - {df.at[row, cl]} != {df.at[row, ce]})")
    out: dict[Any, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    keys = df[group].to_numpy()
    ords = df[order].to_numpy()
    for g in pd.unique(keys):
        pos = np.flatnonzero(keys == g)
        pos = pos[np.argsort(ords[pos], kind="stable")]
        if len(set(ords[pos].tolist())) != len(pos):
            raise ValueError(f"{what}: group {g!r} has the same {order!r} in more than one row")
        sub = v[pos]
        broken = np.flatnonzero(sub[1:, 0] != sub[:-1, 3])
        if len(broken):
            k = broken[0]
            raise ValueError(f"{what}: group {g!r}, row {df.index[pos[k + 1]]}: {cs} {sub[k + 1, 0]} differs from "
                             f"{ce} {sub[k, 3]} of the previous {order} (row {df.index[pos[k]]})")
        stocks = np.concatenate([sub[:, 0], sub[-1:, 3]])
        out[g] = (pos, stocks, sub[:, 1].copy(), sub[:, 2].copy())
    return out


def _round_chain(s: np.ndarray, j: np.ndarray, lv: np.ndarray, base: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Controlled rounding of one chain by dynamic programming (exact; see :func:`round_stock_flow`)."""

    def opts(x: int) -> tuple[int, ...]:
        lo = base * (int(x) // base)
        return (lo,) if lo == x else (lo, lo + base)

    layers: list[dict[int, tuple[int, tuple[int, int, int] | None]]] = [
        {r: (abs(r - int(s[0])), None) for r in opts(s[0])}]
    for q in range(len(j)):
        nxt: dict[int, tuple[int, tuple[int, int, int] | None]] = {}
        l_opts = opts(lv[q])
        for sv, (cost, _) in layers[-1].items():
            for jv in opts(j[q]):
                for s2 in opts(s[q + 1]):
                    lq = sv + jv - s2
                    if lq not in l_opts:
                        continue
                    c = cost + abs(jv - int(j[q])) + abs(lq - int(lv[q])) + abs(s2 - int(s[q + 1]))
                    if s2 not in nxt or c < nxt[s2][0]:
                        nxt[s2] = (c, (sv, jv, lq))
        if not nxt:  # impossible for consistent counts (the constraint matrix is a network matrix)
            raise RuntimeError(f"round_stock_flow: no controlled rounding at position {q}")
        layers.append(nxt)
    rs = np.zeros(len(s), dtype=np.int64)
    rj = np.zeros(len(j), dtype=np.int64)
    rl = np.zeros(len(j), dtype=np.int64)
    last = min(layers[-1].items(), key=lambda kv: (kv[1][0], kv[0]))[0]
    rs[-1] = last
    for q in range(len(j), 0, -1):
        back = layers[q][int(rs[q])][1]
        if back is None:  # every state after layer 0 has a predecessor
            raise RuntimeError(f"round_stock_flow: broken back-pointer at position {q}")
        rs[q - 1], rj[q - 1], rl[q - 1] = back
    return rs, rj, rl


def round_stock_flow(
    df: pd.DataFrame,
    base: int = SUPPRESSION_THRESHOLD,
    group: str = "group",
    order: str = "quarter",
    columns: Sequence[str] = STOCK_FLOW_COLUMNS,
) -> pd.DataFrame:
    """Controlled rounding of a stock-flow table: every count to a neighbouring multiple of ``base``.

    For each group (e.g. a programme, or all programmes) the rows form a
    chain in ``order`` (quarters): ``start + inflow - outflow = end`` in
    every row, and the end stock of a row is the start stock of the next.
    Each count ``x`` is replaced by ``base * floor(x / base)`` or
    ``base * ceil(x / base)`` (a multiple of ``base``, including 0, stays as
    it is) such that both identities still hold exactly for the rounded
    counts, and the total absolute change over the chain is the smallest
    possible.

    Parameters
    ----------
    df : DataFrame
        One row per group and period, columns ``group``, ``order`` and the
        four ``columns`` (whole, non-negative counts).
    base : int, default :data:`SUPPRESSION_THRESHOLD`
        Rounding base. With ``base`` equal to the disclosure threshold a
        count of 1 to ``threshold - 1`` is shown as 0 or ``threshold``, and
        a reader learns no more about it than ``"<10"`` would tell (see
        :func:`audit_rounding`).
    group, order : str
        Columns naming the chain and the position in it.
    columns : four column names
        Start stock, inflow, outflow, end stock.

    Returns
    -------
    DataFrame
        A copy of ``df`` with the four columns rounded (int64);
        ``attrs["rounding_base"]`` records ``base``. Rounding a rounded table
        again returns it unchanged.

    Notes
    -----
    A chain is a network flow (nodes are periods plus "outside"; stocks are
    arcs from one period to the next, inflows arcs from outside, outflows
    arcs to outside), so its constraint matrix is totally unimodular and a
    controlled rounding always exists (Cox 1987). The chain is rounded
    exactly by dynamic programming over the two possible rounded values of
    each stock (at most eight transitions per period), in linear time.
    Groups with identical counts (all programmes and a single programme) get
    identical roundings. Groups are rounded independently, so the rounded
    "all programmes" rows need not equal the sum of the rounded programme
    rows (as in the rounded tables of ONS and CBS).

    References
    ----------
    Cox LH (1987). A constructive procedure for unbiased controlled rounding.
    *JASA* 82(398):520-524.
    Hundepool A et al. (2012). *Statistical Disclosure Control*, section
    5.4 (rounding). Wiley.
    """
    base = _check_threshold(base)
    cols = list(columns)
    chains = _stock_flow_chains(df, group, order, cols, "round_stock_flow")
    out = df.copy()
    rounded = np.zeros((len(df), 4), dtype=np.int64)
    done: dict[tuple[bytes, bytes, bytes], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for pos, s, j, lv in chains.values():
        key = (s.tobytes(), j.tobytes(), lv.tobytes())
        if key not in done:
            done[key] = _round_chain(s, j, lv, base)
        rs, rj, rl = done[key]
        rounded[pos] = np.column_stack([rs[:-1], rj, rl, rs[1:]])
    for k, c in enumerate(cols):
        out[c] = pd.Series(rounded[:, k], index=out.index, dtype="int64")
    out.attrs["rounding_base"] = base
    return out


class _BoundsLP:
    """min and max of single variables over ``{A x = b, lo <= x <= hi}``, one model solved repeatedly.

    Uses the HiGHS solver that ships with SciPy; when its Python binding
    (``scipy.optimize._highspy``, not public API) is available the model is
    built once and re-solved from the previous basis for each objective,
    otherwise every bound is a :func:`scipy.optimize.linprog` call (same
    solver, same answers, slower).
    """

    def __init__(self, a_eq: Any, b_eq: np.ndarray, lo: np.ndarray, hi: np.ndarray):
        from scipy.sparse import csc_matrix

        self.a = csc_matrix(a_eq)
        self.b = np.asarray(b_eq, dtype=float)
        self.lo = np.asarray(lo, dtype=float)
        self.hi = np.asarray(hi, dtype=float)
        self.n = self.a.shape[1]
        self.highs: Any = None
        try:
            from scipy.optimize._highspy import _core

            h = _core._Highs()
            h.setOptionValue("output_flag", False)
            # primal simplex from the previous optimal basis: only the objective changes between solves
            h.setOptionValue("presolve", "off")
            h.setOptionValue("simplex_strategy", 4)
            lp = _core.HighsLp()
            lp.num_col_, lp.num_row_ = self.n, self.a.shape[0]
            lp.col_cost_ = np.zeros(self.n)
            lp.col_lower_, lp.col_upper_ = self.lo, self.hi
            lp.row_lower_, lp.row_upper_ = self.b, self.b
            lp.a_matrix_.format_ = _core.MatrixFormat.kColwise
            lp.a_matrix_.start_ = self.a.indptr
            lp.a_matrix_.index_ = self.a.indices
            lp.a_matrix_.value_ = self.a.data
            lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = self.n, self.a.shape[0]
            if h.passModel(lp) == _core.HighsStatus.kOk:
                self.highs, self.core = h, _core
        except (ImportError, AttributeError, TypeError):  # binding moved or changed: use linprog
            self.highs = None

    def bounds(self, k: int) -> tuple[float, float]:
        out = []
        for sense in (1.0, -1.0):
            if self.highs is not None:
                self.highs.changeColCost(k, sense)
                self.highs.run()
                ok = self.highs.getModelStatus() == self.core.HighsModelStatus.kOptimal
                val = sense * self.highs.getInfo().objective_function_value
                self.highs.changeColCost(k, 0.0)
            else:
                from scipy.optimize import linprog

                obj = np.zeros(self.n)
                obj[k] = sense
                res = linprog(obj, A_eq=self.a, b_eq=self.b, bounds=np.column_stack([self.lo, self.hi]),
                              method="highs")
                ok, val = res.status == 0, sense * float(res.fun) if res.status == 0 else float("nan")
            out.append(float(val) if ok else float("nan"))
        return out[0], out[1]


def _stock_flow_lp(
    var: Mapping[Any, Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]]],
    groups: Sequence[Any],
    parts: Sequence[Any],
    total_group: Any,
    known: Mapping[Any, Sequence[bool]],
    first_known: bool,
    q0: int,
    q1: int,
) -> tuple[_BoundsLP, dict[tuple[Any, str], int]]:
    """The reader's linear programme of :func:`audit_rounding` on periods ``q0..q1`` of ``groups``.

    ``known[g]``: whether group g's total inflow and total outflow are known; ``first_known``: whether
    the first stocks are.

    Variables: per group the stocks ``S_q0..S_{q1+1}``, inflows and outflows of
    the periods. Outside the window every count is fixed at its true value
    (for a window smaller than the table this is a restriction of the
    reader's feasible set, so its bounds lie inside the reader's bounds).
    """
    from scipy.sparse import coo_matrix

    t_full = len(var[groups[0]]["J"][0])
    w = q1 - q0 + 1
    offset: dict[tuple[Any, str], int] = {}
    lo_l: list[np.ndarray] = []
    hi_l: list[np.ndarray] = []
    n = 0
    for g in groups:
        for k, m in (("S", w + 1), ("J", w), ("L", w)):
            offset[(g, k)] = n
            n += m
            _, lo, hi = var[g][k]
            lo_l.append(lo[q0:q0 + m])
            hi_l.append(hi[q0:q0 + m])
    rows: list[int] = []
    cidx: list[int] = []
    vals: list[float] = []
    rhs: list[float] = []

    def add(coef: Mapping[int, float], b: float) -> None:
        for c, wt in coef.items():
            rows.append(len(rhs))
            cidx.append(c)
            vals.append(wt)
        rhs.append(b)

    for g in groups:
        os_, oj, ol = offset[(g, "S")], offset[(g, "J")], offset[(g, "L")]
        s, j, lv = var[g]["S"][0], var[g]["J"][0], var[g]["L"][0]
        for q in range(w):
            add({os_ + q: 1.0, oj + q: 1.0, ol + q: -1.0, os_ + q + 1: -1.0}, 0.0)
        if q0 > 0 or first_known:  # the first stock: known, or fixed by the periods before the window
            add({os_: 1.0}, float(s[q0]))
        if q1 < t_full - 1 or all(known[g]):
            add({os_ + w: 1.0}, float(s[q1 + 1]))
        # totals published elsewhere (at least `known_totals` people; outside the window the counts are fixed)
        if known[g][0]:
            add({oj + q: 1.0 for q in range(w)}, float(j[q0:q1 + 1].sum()))
        if known[g][1]:
            add({ol + q: 1.0 for q in range(w)}, float(lv[q0:q1 + 1].sum()))
    for k, m in (("S", w + 1), ("J", w), ("L", w)) if parts else ():
        for q in range(m):
            coef = {offset[(total_group, k)] + q: 1.0}
            coef.update({offset[(p, k)] + q: -1.0 for p in parts})
            add(coef, 0.0)
    a_eq = coo_matrix((vals, (rows, cidx)), shape=(len(rhs), n))
    return _BoundsLP(a_eq, np.asarray(rhs), np.concatenate(lo_l), np.concatenate(hi_l)), offset


def audit_rounding(
    df: pd.DataFrame,
    published: pd.DataFrame,
    base: int = SUPPRESSION_THRESHOLD,
    threshold: int = SUPPRESSION_THRESHOLD,
    group: str = "group",
    order: str = "quarter",
    columns: Sequence[str] = STOCK_FLOW_COLUMNS,
    total_group: Any = "all",
    known_totals: bool = True,
    window: int | None = 8,
) -> pd.DataFrame:
    """What a reader can infer about each small count of a rounded stock-flow table (the attacker's view).

    The reader knows the published (rounded) counts, that each true count
    lies less than ``base`` away from its published value (and is not
    negative), and every relation between the true counts:

    * ``start + inflow - outflow - end = 0`` in every row;
    * the end stock of a period is the start stock of the next;
    * the rows of ``total_group`` are the sums of the other groups' rows
      (declared when the true counts add up, which is checked; otherwise a
      warning says the relation was left out);
    * with ``known_totals``: each group's first stock, and its total inflow
      and its total outflow when they are at least ``threshold``, as other
      published tables give them exactly (numbers of volunteers and of stops
      per programme; smaller totals are shown there as ``"<10"``); a total
      below ``threshold`` is still known when it is the total group's minus
      all the others (differencing), and the unknown ones together add up
      to a known residual. The last stock is then known when both totals
      are; stocks known that way are not audited (other tables reveal them,
      not this one).

    For every other true count from 1 to ``threshold - 1`` (each stock once),
    the smallest and largest value consistent with all of this are found by
    linear programming (the audit of Hundepool et al. 2012, sections 4.3 and
    5.4). To keep this fast, each count is first audited in a *window* of
    ``window`` periods either side, every count outside the window fixed at
    its true value: that restricts the reader's feasible set, so every value
    the window allows is also consistent with the whole publication (inner
    bounds). Only counts that the window cannot show to be protected are
    audited over the whole table (exact bounds; ``window=None`` does that
    for every count).

    Returns
    -------
    DataFrame
        ``group``, the ``order`` value, ``column`` (a stock is reported once,
        as the start stock of its period or the end stock of the last),
        ``value``, ``published``, ``lower``, ``upper`` (every value in
        between is consistent with the publication), ``n_values`` (integers in
        ``[lower, upper]``), ``required`` and ``protected`` (``n_values >=
        required``), ``method`` (``"window"`` inner bounds or ``"lp"`` exact
        bounds). ``required`` is ``threshold - 1``, the values ``"<10"``
        leaves open (1..9), or fewer when the totals known from other tables
        already bound the count (a programme with 6 volunteers in all has at
        most 6 joiners in a quarter, table or no table): the reader then
        knows no more than ``"<threshold"`` plus those totals would tell.
    """
    base = _check_threshold(base)
    threshold = _check_threshold(threshold)
    if window is not None and (isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1):
        raise ValueError(f"audit_rounding: window must be a positive integer or None, got {window!r}")
    cols = list(columns)
    chains = _stock_flow_chains(df, group, order, cols, "audit_rounding (true counts)")
    if len(published) != len(df) or not published.index.equals(df.index):
        raise ValueError("audit_rounding: the published table must have the same rows (index) as the true table")
    pub = _stock_flow_chains(published, group, order, cols, "audit_rounding (published counts)")
    # per group and kind (S stocks S_0..S_T, J inflows, L outflows): true values, reader's lower and upper bounds
    var: dict[Any, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    shown: dict[tuple[Any, str], np.ndarray] = {}
    for g, (pos, s, j, lv) in chains.items():
        if g not in pub or not np.array_equal(pub[g][0], pos):
            raise ValueError(f"audit_rounding: group {g!r} has other rows in the published table")
        var[g] = {}
        for k, x, r in (("S", s, pub[g][1]), ("J", j, pub[g][2]), ("L", lv, pub[g][3])):
            far = np.flatnonzero(np.abs(r - x) >= base)
            if len(far):
                raise ValueError(f"audit_rounding: group {g!r}: published count {r[far[0]]} is {base} or more "
                                 f"away from the true count {x[far[0]]}")
            var[g][k] = (x.astype(float), np.maximum(0.0, r - (base - 1.0)), r + (base - 1.0))
            shown[(g, k)] = r
    labels = {g: df[order].to_numpy()[chains[g][0]] for g in chains}
    parts: list[Any] = []
    if total_group is not None and total_group in chains and len(chains) > 1:
        parts = [g for g in chains if g != total_group]
        for g in parts:
            if not np.array_equal(labels[g], labels[total_group]):
                raise ValueError(f"audit_rounding: group {g!r} does not have the periods of {total_group!r}")
        if not all(np.array_equal(sum(var[g][k][0] for g in parts), var[total_group][k][0]) for k in "SJL"):
            warnings.warn(f"audit_rounding: the groups do not add up to {total_group!r}; that relation is not "
                          "declared", UserWarning, stacklevel=2)
            parts = []
    # totals the reader knows from other tables: at least `threshold`, or derived from the total group
    # minus the other groups; a count can never be shown to be better protected than those totals allow
    known = {g: [bool(known_totals and var[g][k][0].sum() >= threshold) for k in "JL"] for g in chains}
    cap = {g: [np.inf, np.inf] for g in chains}
    for i, k in enumerate("JL"):
        if parts:
            unknown = [p for p in parts if not known[p][i]]
            if known[total_group][i]:
                residual = float(sum(var[p][k][0].sum() for p in unknown))
                for p in unknown:
                    cap[p][i] = residual
                if len(unknown) == 1:
                    known[unknown[0]][i] = True
            elif known_totals and not unknown:
                known[total_group][i] = True
        for g in chains:
            if known[g][i]:
                cap[g][i] = float(var[g][k][0].sum())

    def required(g: Any, k: str) -> float:
        s0 = var[g]["S"][0][0] if known_totals else np.inf
        c = {"J": cap[g][0], "L": min(cap[g][1], s0 + cap[g][0]), "S": s0 + cap[g][0]}[k]
        return float(min(threshold - 1, c))

    components = [list(chains)] if parts else [[g] for g in chains]
    out = []
    for comp in components:
        t = len(var[comp[0]]["J"][0])
        full: tuple[_BoundsLP, dict[tuple[Any, str], int]] | None = None
        for q in range(t + 1):
            targets = []
            for g in comp:
                lab = labels[g]
                if (0 < q or not known_totals) and (q < t or not all(known[g])) and 0 < var[g]["S"][0][q] < threshold:
                    targets.append((g, "S", q, lab[q] if q < t else lab[t - 1], cols[0] if q < t else cols[3]))
                for k, col in (("J", cols[1]), ("L", cols[2])):
                    if q < t and 0 < var[g][k][0][q] < threshold:
                        targets.append((g, k, q, lab[q], col))
            if not targets:
                continue
            local = None
            if window is not None and t > 1:
                q0, q1 = max(0, q - window), min(t - 1, q + window - (1 if q == t else 0))
                local = (_stock_flow_lp(var, comp, parts, total_group, known, known_totals, q0, q1), q0)
            for g, k, qq, label, col in targets:
                lower = upper = float("nan")
                method = "lp"
                if local is not None:
                    (lp, off), q0 = local
                    lower, upper = lp.bounds(off[(g, k)] + qq - q0)
                    method = "window"
                need = required(g, k)
                if not np.isfinite(lower + upper) or _n_values(lower, upper) < need:
                    if full is None:
                        full = _stock_flow_lp(var, comp, parts, total_group, known, known_totals, 0, t - 1)
                    lower, upper = full[0].bounds(full[1][(g, k)] + qq)
                    method = "lp"
                nv = _n_values(lower, upper)
                out.append({"group": g, order: label, "column": col, "value": int(var[g][k][0][qq]),
                            "published": int(shown[(g, k)][qq]),
                            "lower": lower, "upper": upper, "n_values": nv, "required": int(need),
                            "protected": nv >= need, "method": method})
    return pd.DataFrame(out, columns=["group", order, "column", "value", "published", "lower", "upper", "n_values",
                                      "required", "protected", "method"])


def _n_values(lower: float, upper: float) -> int:
    """Number of integers in ``[lower, upper]`` (0 when a bound is missing)."""
    if not np.isfinite(lower + upper):
        return 0
    return int(max(0.0, np.floor(upper + 1e-7) - np.ceil(lower - 1e-7) + 1))
