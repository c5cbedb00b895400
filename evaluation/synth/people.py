"""The generator of the synthetic intake: people, justice events, volunteers, matches, contacts, costs.

:class:`_Gen` holds the single random stream and draws the tables in a fixed
order (the order is part of the seed contract: the same seed gives the same
bytes). The model is described in :mod:`evaluation.synth.generate`; its
parameters are in :mod:`evaluation.synth.model`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from evaluation.contract.schema import Contract
from evaluation.synth.model import (
    _CAT,
    _EPOCH,
    BASE_H730,
    CATEGORIES,
    COSTS,
    CUTOFF,
    CUTOFF_DAY,
    DEATH_RATE_YEAR,
    EMIGRATION_RATE_YEAR,
    HORIZON,
    INTAKE_FIRST_DAY,
    MATCH_BREAKDOWN_REASONS,
    MATCH_COEF,
    MATCH_SHAPE,
    MAX_PENALTY,
    NEW_CASE_MIX,
    NOISE_RATE_YEAR,
    P_MATCH_ENDS_ON_REOFFENCE,
    P_NEVER_MATCHED,
    P_REMATCH,
    P_SAME_CATEGORY,
    VOLUNTEER_BASE_H365,
    VOLUNTEER_COEF,
    VOLUNTEER_END_REASONS,
    VOLUNTEER_FIRST_DAY,
    VOLUNTEER_SHAPE,
    WEIBULL_SHAPE,
    _choice,
    _day,
    _draw_covariates,
    _group_starts,
    _match_reason,
    _n_scaled,
    _programme_log_hr,
    _programme_reason,
    _pseudonyms,
    _rank_in_group,
    _seq_ids,
    _special_share_rows,
    _tv_weibull_times,
    _weibull_inverse,
    _year,
    outcome_linear_predictor,
)
from evaluation.synth.programmes import ROLE_BY_TYPE, TYPE_EFFECTS, catalogue


# ---------------------------------------------------------------- the generator
class _Gen:
    """Holds the random stream and the tables while an intake is generated."""

    def __init__(self, seed: int, scale: float, contract: Contract):
        if isinstance(scale, bool) or not (isinstance(scale, int | float | np.integer | np.floating)
                                           and math.isfinite(scale) and scale > 0):
            raise ValueError(f"synth: scale must be a positive number, got {scale!r}")
        self.seed = int(seed)
        self.scale = float(scale)
        self.contract = contract
        self.rng = np.random.default_rng(self.seed)
        self.progs = catalogue()
        self.tables: dict[str, pd.DataFrame] = {}
        self.truth: dict[str, Any] = {}

    # ------------------------------------------------------------ participants
    def participants(self) -> None:
        rng = self.rng
        parts = []
        for k, prog in enumerate(self.progs):
            sim = prog["sim"]
            n_p = _n_scaled(sim["n_programme"], self.scale, 6)
            n_c = _n_scaled(sim["n_comparison"], self.scale, 6)
            design = sim["design"]
            if design == "rct":
                n = n_p + n_c
                treated = np.zeros(n, dtype=bool)
                treated[rng.permutation(n)[:n_p]] = True
                selected = np.ones(n, dtype=bool)
            else:
                n = n_p + n_c
                treated = np.r_[np.ones(n_p, dtype=bool), np.zeros(n_c, dtype=bool)]
                selected = treated.copy()
            cov = _draw_covariates(rng, sim, n, selected)
            cov["prog"] = np.full(n, k)
            cov["treated"] = treated
            cov["randomised"] = np.full(n, design == "rct")
            parts.append(cov)
        P = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        n = len(P["prog"])
        intake = INTAKE_FIRST_DAY + np.floor(rng.random(n) * (CUTOFF_DAY - INTAKE_FIRST_DAY)).astype(np.int64)
        detained_share = np.array([p["sim"]["detained_share"] for p in self.progs])[P["prog"]]
        delay = np.floor(rng.uniform(14, 270, n)).astype(np.int64)
        detained = (rng.random(n) < detained_share) & (intake + delay <= CUTOFF_DAY)
        fus = np.where(detained, intake + delay, intake)
        det_start = np.where(detained, intake - np.floor(rng.uniform(30, 720, n)).astype(np.int64), -1)
        intake_year = _year(intake)
        P.update(intake=intake, fus=fus, detained=detained, det_start=det_start,
                 birth_year=intake_year - P["age"])
        # death and emigration (independent competing events from follow-up start)
        death = fus + np.ceil(rng.exponential(365.25 / (DEATH_RATE_YEAR * np.exp(0.04 * (P["age"] - 35))))).astype(np.int64)
        emig = fus + np.ceil(rng.exponential(365.25 / EMIGRATION_RATE_YEAR, n)).astype(np.int64)
        P["death"] = np.where(death <= CUTOFF_DAY, death, -1)
        P["emig"] = np.where((emig <= CUTOFF_DAY) & ((P["death"] < 0) | (emig < death)), emig, -1)
        P["lp"] = outcome_linear_predictor(P)
        ptypes = np.array([p["description"]["programme_type"] for p in self.progs], dtype=object)
        P["ptype"] = ptypes[P["prog"]]
        beta = np.zeros(n)
        for t in TYPE_EFFECTS:
            m = P["ptype"] == t
            beta[m] = _programme_log_hr(t, P["index_cat"][m])
        P["beta"] = np.where(P["treated"], beta, 0.0)
        P["pid"] = _pseudonyms(rng, n, "p")
        self.P = P

    # ------------------------------------------------------------ justice events
    def justice(self) -> None:
        rng, P = self.rng, self.P
        n = len(P["prog"])
        end_window = np.full(n, CUTOFF_DAY, dtype=np.int64)
        for key in ("death", "emig"):
            d = P[key]
            end_window = np.where((d >= 0) & (d < end_window), d, end_window)
        W = np.maximum(end_window - P["fus"], 0).astype(float)
        h_i = BASE_H730 * np.exp(P["lp"] + P["beta"])
        lam_W = h_i * np.power(W / HORIZON, WEIBULL_SHAPE)
        n_ev = rng.poisson(lam_W)
        who = np.repeat(np.arange(n), n_ev)
        u = rng.random(len(who))
        order = np.lexsort((u, who))
        who, u = who[order], u[order]
        c = u * lam_W[who]
        t = _weibull_inverse(c, h_i[who], HORIZON, WEIBULL_SHAPE)
        tday = np.maximum(np.ceil(t), 1).astype(np.int64)
        # category by independent thinning: a case repeats the index category with probability
        # q (COSA: sexual share, lower under the programme); otherwise it is drawn from the
        # general mix (never sexual for COSA), so P(special) = _special_share(...) exactly.
        ptype = P["ptype"][who]
        idx = P["index_cat"][who]
        cosa = ptype == "cosa"
        q = np.where(cosa, _special_share_rows(P, who), P_SAME_CATEGORY)
        repeat = rng.random(len(who)) < q
        non_sex_mix = NEW_CASE_MIX.copy()
        non_sex_mix[_CAT["sexual"]] = 0
        other_cat = _choice(rng, np.arange(len(CATEGORIES)), NEW_CASE_MIX, len(who))
        cosa_other = _choice(rng, np.arange(len(CATEGORIES)), non_sex_mix, len(who))
        cat = np.where(repeat, idx, np.where(cosa, cosa_other, other_cat))
        maxpen, pretrial = self._penalties(cat)
        reg, disposal, cust_days = self._disposals(cat)
        # calendar placement with detention gaps
        gap = np.where(cust_days > 0, cust_days + 1, 0)
        csum = np.cumsum(gap)
        first = _group_starts(who)
        prev_gap = csum - gap - (csum[first] - gap[first])
        offence = P["fus"][who] + tday + prev_gap
        keep = offence <= end_window[who]
        who, offence, cat, maxpen, pretrial = who[keep], offence[keep], cat[keep], maxpen[keep], pretrial[keep]
        disposal, cust_days = disposal[keep], cust_days[keep]
        reg_delay = reg[keep]
        registration = offence + reg_delay
        late = registration > CUTOFF_DAY
        registration = np.where(late, -1, registration)
        recent = (registration < 0) | (registration > CUTOFF_DAY - 120)
        pend = recent & (rng.random(len(who)) < 0.7)
        disposal = np.where(pend | late, "pending", disposal).astype(object)
        # detention from the offence date for every case placed with a detention gap; when the
        # case is still pending this is pre-trial detention (custodial_days not yet known)
        det_days = cust_days.copy()
        det_mask = det_days > 0
        cust_days = np.where(disposal == "pending", -1, cust_days)  # -1 = missing
        post = dict(who=who, offence=offence, registration=registration, cat=cat, maxpen=maxpen,
                    pretrial=pretrial, disposal=disposal, custodial=cust_days)
        self._post_events = post
        # first counting case per person (for match endings and checks)
        first_case = np.full(n, -1, dtype=np.int64)
        if len(who):
            f = _group_starts(who)
            firsts = np.unique(f)
            first_case[who[firsts]] = offence[firsts]
        P["first_case"] = first_case
        P["n_cases"] = np.bincount(who, minlength=n)
        det = {"who": who[det_mask], "start": offence[det_mask], "end": offence[det_mask] + det_days[det_mask]}
        # noise: acquittals and technical dismissals (do not count)
        rate = NOISE_RATE_YEAR / 365.25 * np.exp(0.5 * P["lp"])
        n_noise = rng.poisson(rate * W)
        nw = np.repeat(np.arange(n), n_noise)
        noff = P["fus"][nw] + 1 + np.floor(rng.random(len(nw)) * np.maximum(W[nw] - 1, 0)).astype(np.int64)
        noff = np.minimum(noff, end_window[nw])
        ncat = _choice(rng, np.arange(len(CATEGORIES)), NEW_CASE_MIX, len(nw))
        nmax, npre = self._penalties(ncat)
        nreg = noff + np.ceil(rng.lognormal(math.log(25), 1.0, len(nw))).astype(np.int64)
        nreg = np.where(nreg > CUTOFF_DAY, -1, nreg)
        ndisp = _choice(rng, np.array(["acquittal", "technical_dismissal"], dtype=object), [0.4, 0.6], len(nw))
        noise = dict(who=nw, offence=noff, registration=nreg, cat=ncat, maxpen=nmax, pretrial=npre,
                     disposal=ndisp, custodial=np.zeros(len(nw), dtype=np.int64))
        # prior and index cases
        prior = self._prior_events()
        self._justice_parts = [prior, post, noise]
        self._detentions = det

    def _penalties(self, cat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rng = self.rng
        m = np.zeros(len(cat))
        for name, (vals, probs) in MAX_PENALTY.items():
            sel = cat == _CAT[name]
            if sel.any():
                m[sel] = _choice(rng, np.array(vals), probs, int(sel.sum()))
        pre = m >= 4
        # a few offences with lower maxima allow pretrial detention (art. 67 Sv list)
        pre = pre | ((m >= 1) & (m < 4) & (rng.random(len(cat)) < 0.10))
        return m, pre

    def _disposals(self, cat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = self.rng
        n = len(cat)
        reg_delay = np.ceil(rng.lognormal(math.log(25), 1.0, n)).astype(np.int64)
        disp = _choice(rng, np.array(["conviction", "prosecutor_sanction", "policy_dismissal", "pending"], dtype=object),
                       [0.62, 0.22, 0.10, 0.06], n)
        p_cust = np.where((cat == _CAT["violence"]) | (cat == _CAT["sexual"]), 0.5, 0.25)
        cust = (disp == "conviction") & (rng.random(n) < p_cust)
        median = np.where(cat == _CAT["sexual"], 365.0, 60.0)
        days = np.clip(np.ceil(median * rng.lognormal(0.0, 0.9, n)), 1, 3650).astype(np.int64)
        return reg_delay, disp, np.where(cust, days, 0)

    def _prior_events(self) -> dict[str, np.ndarray]:
        rng, P = self.rng, self.P
        n = len(P["prog"])
        # index case: offence 30-365 days before intake
        idx_off = P["intake"] - np.floor(rng.uniform(30, 365, n)).astype(np.int64)
        first_allowed = np.array([_day(f"{y}-01-01") for y in range(1900, 2030)])
        by = P["birth_year"]
        afc_day = first_allowed[np.clip(by + P["age_first_case"] - 1900, 0, 129)]
        afc_day = np.minimum(afc_day + np.floor(rng.random(n) * 365).astype(np.int64), idx_off - 30)
        min_day = first_allowed[np.clip(by + 12 - 1900, 0, 129)]
        afc_day = np.maximum(afc_day, min_day)
        k = P["prior_cases"]
        who = np.repeat(np.arange(n), k)
        rank = _rank_in_group(who)
        lo, hi = afc_day[who], np.maximum(idx_off[who] - 30, afc_day[who])
        off = np.where(rank == 0, lo, lo + np.floor(rng.random(len(who)) * (hi - lo + 1)).astype(np.int64))
        cat = np.where(rng.random(len(who)) < 0.4, P["index_cat"][who],
                       _choice(rng, np.arange(len(CATEGORIES)), NEW_CASE_MIX, len(who)))
        maxpen, pre = self._penalties(cat)
        # custodial prior sentences on a random subset of rows matching prior_custodial_sentences
        order = np.lexsort((rng.random(len(who)), who))
        crank = np.empty(len(who), dtype=np.int64)
        crank[order] = _rank_in_group(who[order])
        custodial = crank < P["prior_custodial_sentences"][who]
        cdays = np.where(custodial, np.clip(np.ceil(45 * rng.lognormal(0, 1.0, len(who))), 1, 3650), 0).astype(np.int64)
        disp = np.where(custodial, "conviction",
                        _choice(rng, np.array(["conviction", "prosecutor_sanction", "policy_dismissal"], dtype=object),
                                [0.6, 0.3, 0.1], len(who))).astype(object)
        reg = np.minimum(off + np.ceil(rng.lognormal(math.log(25), 1.0, len(who))).astype(np.int64), P["intake"][who])
        # index cases
        i_cat = P["index_cat"]
        i_max, i_pre = self._penalties(i_cat)
        i_reg = np.minimum(idx_off + np.floor(rng.uniform(1, 25, n)).astype(np.int64), P["intake"])
        i_disp = _choice(rng, np.array(["conviction", "prosecutor_sanction"], dtype=object), [0.8, 0.2], n)
        i_cust = np.where(P["detained"], P["fus"] - P["det_start"], 0)
        i_disp = np.where(P["detained"], "conviction", i_disp).astype(object)
        return dict(
            who=np.r_[who, np.arange(n)], offence=np.r_[off, idx_off], registration=np.r_[reg, i_reg],
            cat=np.r_[cat, i_cat], maxpen=np.r_[maxpen, i_max], pretrial=np.r_[pre, i_pre],
            disposal=np.r_[disp, i_disp], custodial=np.r_[cdays, i_cust],
        )


    # ------------------------------------------------------------ volunteers
    def volunteers(self) -> None:
        rng = self.rng
        progs, starts = [], []
        for k, prog in enumerate(self.progs):
            n_v = _n_scaled(prog["sim"]["n_volunteers"], self.scale, 3)
            progs.append(np.full(n_v, k))
            # inflow grows slowly over time (density proportional to 1 + u)
            u = np.sqrt(1 + 3 * rng.random(n_v)) - 1
            starts.append(VOLUNTEER_FIRST_DAY + np.floor(u * (CUTOFF_DAY - 30 - VOLUNTEER_FIRST_DAY)).astype(np.int64))
        prog = np.concatenate(progs)
        start = np.concatenate(starts)
        self.V = self._volunteer_block(prog, start, None)

    def _volunteer_block(self, prog: np.ndarray, start: np.ndarray, want_sex: np.ndarray | None) -> dict[str, np.ndarray]:
        rng = self.rng
        n = len(prog)
        types = np.array([p["description"]["programme_type"] for p in self.progs], dtype=object)[prog]
        pid = np.array([p["description"]["programme_id"] for p in self.progs], dtype=object)[prog]
        peer = types == "peer_mentoring"
        cosa = types == "cosa"
        female_p = np.where(peer, 0.30, np.where(cosa, 0.55, 0.60))
        u = rng.random(n)
        sex = np.where(u < female_p, "female", "male").astype(object)
        sex[u > 0.995] = "other"
        if want_sex is not None:
            force = np.isin(want_sex, ["male", "female"])
            sex[force] = want_sex[force]
        age = np.clip(np.round(np.where(peer, rng.normal(40, 10, n), rng.normal(50, 14, n))), 20, 80).astype(np.int64)
        start_year = _year(start)
        le_p = np.where(peer, 0.85, np.where(cosa, 0.03, np.where(pid == "MENT-RDM", 0.15, 0.08)))
        le = rng.random(n) < le_p
        channels = np.array(self.contract.resources["volunteers"].field("recruitment_channel")["constraints"]["enum"], dtype=object)
        channel = np.empty(n, dtype=object)
        t_train = np.full(n, -1, dtype=np.int64)
        t_sup = np.full(n, -1, dtype=np.int64)
        t_rec = np.full(n, -1, dtype=np.int64)
        cert = np.zeros(n, dtype=bool)
        agree = np.zeros(n, dtype=bool)
        allowance = np.zeros(n)
        for k, p in enumerate(self.progs):
            m = prog == k
            nk = int(m.sum())
            if nk == 0:
                continue
            d = p["description"]
            own = d.get("recruitment_channels", [])
            w = np.array([0.8 / len(own) if c in own else 0.2 / (len(channels) - len(own)) for c in channels])
            channel[m] = _choice(rng, channels, w, nk)
            cond = d.get("volunteer_conditions", {})
            cert[m] = rng.random(nk) < (0.98 if cond.get("certificate_of_conduct_required") else 0.6)
            agree[m] = rng.random(nk) < (0.97 if cond.get("agreement_required", True) else 0.5)
            mx = float(cond.get("expense_allowance_max_eur_month", 0))
            amt = np.round(rng.uniform(0.3, 1.0, nk) * mx / 5) * 5
            allowance[m] = np.where(rng.random(nk) < 0.4, 0.0, amt)
            tr = d.get("training", {})
            sup = d.get("supervision", {})
            has_sup = any(sup.get(x) for x in ("individual", "group", "peer"))
            t_train[m] = np.where(rng.random(nk) < (0.9 if tr.get("basic_mandatory") else 0.5),
                                  np.floor(rng.uniform(0, 183, nk)), -1)
            t_sup[m] = np.where(rng.random(nk) < (0.85 if has_sup else 0.3), np.floor(rng.uniform(14, 121, nk)), -1)
            t_rec[m] = np.where(rng.random(nk) < (0.7 if d.get("recognition") else 0.3),
                                np.floor(rng.uniform(60, 541, nk)), -1)
        fixed = VOLUNTEER_COEF["lived_experience"] * le + VOLUNTEER_COEF["personal_invitation"] * (channel == "personal_invitation")
        t_stop = _tv_weibull_times(
            rng.exponential(size=n), fixed.astype(float),
            [(t_train, VOLUNTEER_COEF["basic_training"]), (t_sup, VOLUNTEER_COEF["supervision"]),
             (t_rec, VOLUNTEER_COEF["recognition"])],
            VOLUNTEER_BASE_H365, 365.0, VOLUNTEER_SHAPE)
        end = start + np.maximum(np.ceil(t_stop), 1).astype(np.int64)
        ended = end <= CUTOFF_DAY
        reasons = np.array(list(VOLUNTEER_END_REASONS), dtype=object)
        reason = np.where(ended, _choice(rng, reasons, list(VOLUNTEER_END_REASONS.values()), n), None)
        return {
            "prog": prog, "start": start, "sex": sex, "birth_year": start_year - age, "le": le,
            "channel": channel, "cert": cert, "agree": agree, "allowance": allowance,
            "t_train": t_train, "t_sup": t_sup, "t_rec": t_rec, "t_stop": t_stop,
            "end": np.where(ended, end, -1), "end_reason": reason,
            "active_until": np.where(ended, end, np.iinfo(np.int64).max // 4),
            "slots": np.full((n, 3), -1, dtype=np.int64),  # busy-until days of current assignments
        }

    def _add_volunteers(self, prog: np.ndarray, start: np.ndarray, want_sex: np.ndarray | None) -> np.ndarray:
        """Recruit new volunteers starting on the given dates (when nobody is available)."""
        new = self._volunteer_block(prog, start, want_sex)
        base = len(self.V["prog"])
        self.V = {k: np.concatenate([self.V[k], new[k]]) for k in self.V}
        return base + np.arange(len(prog))

    def _pick_volunteers(self, prog: np.ndarray, date: np.ndarray, want_sex: np.ndarray | None,
                         exclude: list[np.ndarray], busy_until: np.ndarray, cap: np.ndarray) -> np.ndarray:
        """For each match, a random available volunteer of the programme.

        Available: started on or before ``date``, not yet stopped, and fewer than
        ``cap`` other assignments running (an assignment keeps a volunteer busy
        until ``busy_until``, the planned end). Matches are assigned in monthly
        batches in date order. Prefers the wanted sex when given (same-sex
        matching); excludes volunteers in ``exclude`` (same circle). When nobody
        is available, a new volunteer is recruited who starts on the match date.
        """
        rng = self.rng
        m = len(prog)
        res = np.full(m, -1, dtype=np.int64)
        K = 48
        month = (date - INTAKE_FIRST_DAY) // 61  # two-month batches
        sorted_vidx: dict[int, np.ndarray] = {}
        for b in np.unique(month):
            in_b = month == b
            for k in np.unique(prog[in_b]):
                V = self.V
                mm = np.flatnonzero(in_b & (prog == k))
                if k not in sorted_vidx:  # volunteers of programme k by start date (refreshed after recruiting)
                    vk = np.flatnonzero(V["prog"] == k)
                    sorted_vidx[k] = vk[np.argsort(V["start"][vk], kind="stable")]
                vidx = sorted_vidx[k]
                if len(vidx) == 0:
                    continue
                navail = np.searchsorted(V["start"][vidx], date[mm], side="right")
                cand_pos = np.floor(rng.random((len(mm), K)) * np.maximum(navail, 1)[:, None]).astype(np.int64)
                cidx = vidx[cand_pos]
                d = date[mm][:, None]
                ok = (navail[:, None] > 0) & (V["active_until"][cidx] > d)
                within_cap = np.arange(V["slots"].shape[1]) < cap[mm][:, None, None]
                ok &= ((V["slots"][cidx] < d[:, :, None]) & within_cap).any(axis=2)
                for ex in exclude:
                    ok &= cidx != ex[mm][:, None]
                first_ok = np.where(ok.any(axis=1), ok.argmax(axis=1), -1)
                pick = np.where(first_ok >= 0, cidx[np.arange(len(mm)), np.maximum(first_ok, 0)], -1)
                if want_sex is not None:
                    pref = ok & (V["sex"][cidx] == want_sex[mm][:, None])
                    has = pref.any(axis=1)
                    pick = np.where(has, cidx[np.arange(len(mm)), pref.argmax(axis=1)], pick)
                lack = pick < 0
                if lack.any():
                    pick[lack] = self._add_volunteers(prog[mm[lack]], date[mm[lack]],
                                                      None if want_sex is None else want_sex[mm[lack]])
                    sorted_vidx.pop(k)
                slots = self.V["slots"]
                usable = np.arange(slots.shape[1]) < cap[mm][:, None]
                j = np.where(usable, slots[pick], np.iinfo(np.int64).max).argmin(axis=1)
                slots[pick, j] = np.minimum(busy_until[mm], self.V["active_until"][pick])
                res[mm] = pick
        return res

    # ------------------------------------------------------------ matches
    def _next_case_after(self, pidx: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Offence date of the person's first counting case strictly after ``day`` (-1 if none)."""
        ev = self._post_events
        big = np.int64(1) << 32
        key = ev["who"].astype(np.int64) * big + ev["offence"]
        order = np.argsort(key, kind="stable")
        key = key[order]
        q = pidx.astype(np.int64) * big + day
        pos = np.searchsorted(key, q, side="right")
        ok = pos < len(key)
        out = np.full(len(pidx), -1, dtype=np.int64)
        hit = ok.copy()
        hit[ok] = (key[pos[ok]] // big) == pidx[ok]
        out[hit] = key[pos[hit]] % big
        return out

    def _relationship_end(self, pidx, start, planned_end, lp_m, h12):
        rng, P = self.rng, self.P
        m = len(pidx)
        inf = np.iinfo(np.int64).max // 4
        href = -np.log1p(-h12)
        tb = _weibull_inverse(rng.exponential(size=m), href * np.exp(lp_m), 365.0, MATCH_SHAPE)
        b = start + np.maximum(np.ceil(tb), 1).astype(np.int64)
        breason = _choice(rng, np.array(list(MATCH_BREAKDOWN_REASONS), dtype=object),
                          list(MATCH_BREAKDOWN_REASONS.values()), m)
        nxt = self._next_case_after(pidx, start)
        r = np.where((nxt > 0) & (rng.random(m) < P_MATCH_ENDS_ON_REOFFENCE),
                     nxt + np.floor(rng.uniform(3, 46, m)).astype(np.int64), inf)
        death = np.where(P["death"][pidx] >= 0, P["death"][pidx], inf)
        emig = np.where(P["emig"][pidx] >= 0, P["emig"][pidx], inf)
        cand = np.stack([planned_end, b, r, death, emig], axis=1)
        kind = cand.argmin(axis=1)
        end = cand[np.arange(m), kind]
        return end, kind, breason

    def matches(self) -> None:
        rng, P = self.rng, self.P
        ptype = P["ptype"]
        dur = np.array([p["description"]["planned_dosage"]["duration_months"] for p in self.progs])
        h12 = np.array([p["sim"]["breakdown_h12"] for p in self.progs])
        same_rule = np.array([bool(p["description"]["target_group"].get("same_sex_matching")) for p in self.progs])
        n = len(ptype)
        alive_at = lambda idx, day: ((P["death"][idx] < 0) | (day < P["death"][idx])) & ((P["emig"][idx] < 0) | (day < P["emig"][idx]))  # noqa: E731
        rows: list[dict[str, np.ndarray]] = []
        prog_end = np.full(n, -1, dtype=np.int64)
        prog_reason = np.full(n, None, dtype=object)
        # --- one-to-one matches (mentoring, peer mentoring, restorative justice)
        one = np.flatnonzero(P["treated"] & (ptype != "cosa"))
        never = rng.random(len(one)) < P_NEVER_MATCHED
        drop_day = P["intake"][one] + np.floor(rng.uniform(14, 91, len(one))).astype(np.int64)
        d_ok = never & (drop_day <= CUTOFF_DAY) & alive_at(one, drop_day)
        prog_end[one[d_ok]] = drop_day[d_ok]
        prog_reason[one[d_ok]] = "dropped_out"
        start = P["intake"][one] + np.floor(rng.uniform(7, 61, len(one))).astype(np.int64)
        go = ~never & (start <= CUTOFF_DAY) & alive_at(one, start)
        pidx, start = one[go], start[go]
        for round_no in (1, 2):
            if len(pidx) == 0:
                break
            k = P["prog"][pidx]
            want = np.where(same_rule[k] & (rng.random(len(pidx)) < 0.95), P["sex"][pidx], None)
            planned = start + np.round(dur[k] * 30.44).astype(np.int64)
            cap = np.where(ptype[pidx] == "restorative_justice", 3, 2)  # concurrent cases per volunteer
            vol = self._pick_volunteers(k, start, want, [], planned, cap)
            psex = P["sex"][pidx]
            same = (self.V["sex"][vol] == psex) & np.isin(psex, ["male", "female"])
            goals = rng.random(len(pidx)) < 0.75
            vle = self.V["le"][vol]
            lp_m = (MATCH_COEF["same_sex"] * same + MATCH_COEF["volunteer_lived_experience"] * vle
                    + MATCH_COEF["goals_agreed"] * goals + MATCH_COEF["participant_risk_high"] * (P["risk_level"][pidx] == "high"))
            planned = start + np.round(dur[k] * 30.44).astype(np.int64)
            end, kind, breason = self._relationship_end(pidx, start, planned, lp_m, h12[k])
            vend = self.V["active_until"][vol]
            by_vol = vend < end
            end = np.where(by_vol, vend, end)
            kind = np.where(by_vol, 5, kind)
            reason = _match_reason(kind, breason)
            open_ = end > CUTOFF_DAY
            role = np.array([ROLE_BY_TYPE[t] for t in ptype[pidx]], dtype=object)
            goals_out = np.where(rng.random(len(pidx)) < 0.03, None, goals).astype(object)
            rows.append(dict(pidx=pidx, vol=vol, role=role, circle=np.full(len(pidx), None, dtype=object),
                             start=start, planned=planned, end=np.where(open_, -1, end),
                             reason=np.where(open_, None, reason), goals=goals_out,
                             same=same, vle=vle, goals_true=goals, risk_high=P["risk_level"][pidx] == "high",
                             kind=kind, breakdown=(kind == 1)))
            prog_end[pidx] = np.where(open_, -1, end)
            prog_reason[pidx] = np.where(open_, None, _programme_reason(kind, breason))
            # a second match after an early end not caused by the participant
            early = (~open_) & ((kind == 5) | ((kind == 1) & (breason != "participant_withdrew"))) \
                & ((end - start) < 0.5 * (planned - start)) & (ptype[pidx] != "restorative_justice")
            again = early & (rng.random(len(pidx)) < P_REMATCH)
            s2 = end + np.floor(rng.uniform(14, 46, len(pidx))).astype(np.int64)
            again &= (s2 <= CUTOFF_DAY) & alive_at(pidx, s2)
            if round_no == 1:
                prog_end[pidx[again]] = -1
                prog_reason[pidx[again]] = None
                pidx, start = pidx[again], s2[again]
            else:
                break
        # --- COSA circles
        core = np.flatnonzero(P["treated"] & (ptype == "cosa"))
        start = P["intake"][core] + np.floor(rng.uniform(14, 91, len(core))).astype(np.int64)
        go = (start <= CUTOFF_DAY) & alive_at(core, start)
        core, start = core[go], start[go]
        if len(core):
            k = P["prog"][core]
            planned = start + np.round(dur[k] * 30.44).astype(np.int64)
            goals = rng.random(len(core)) < 0.9
            lp_c = MATCH_COEF["goals_agreed"] * goals + MATCH_COEF["participant_risk_high"] * (P["risk_level"][core] == "high")
            cend, ckind, cbreason = self._relationship_end(core, start, planned, lp_c, h12[k])
            copen = cend > CUTOFF_DAY
            prog_end[core] = np.where(copen, -1, cend)
            prog_reason[core] = np.where(copen, None, _programme_reason(ckind, cbreason))
            circle_ids = np.array([f"circle{i:06d}" for i in range(1, len(core) + 1)], dtype=object)
            size = 3 + rng.binomial(3, 0.5, len(core))
            has_fac = rng.random(len(core)) < 0.3
            chosen: list[np.ndarray] = []
            for slot in range(7):
                active = (slot < size) if slot < 6 else has_fac
                sel = np.flatnonzero(active)
                if len(sel) == 0:
                    continue
                vol_all = np.full(len(core), -1, dtype=np.int64)
                vol_all[sel] = self._pick_volunteers(k[sel], start[sel], None, [c[sel] for c in chosen],
                                                     planned[sel], np.full(len(sel), 3 if slot == 6 else 2))
                chosen.append(vol_all)
                vol = vol_all[sel]
                vend = self.V["active_until"][vol]
                by_vol = vend < cend[sel]
                end = np.where(by_vol, vend, cend[sel])
                kind = np.where(by_vol, 5, ckind[sel])
                reason = _match_reason(kind, cbreason[sel])
                open_ = end > CUTOFF_DAY
                role = np.full(len(sel), "facilitator" if slot == 6 else "circle_member", dtype=object)
                rows.append(dict(pidx=core[sel], vol=vol, role=role, circle=circle_ids[sel], start=start[sel],
                                 planned=planned[sel], end=np.where(open_, -1, end),
                                 reason=np.where(open_, None, reason), goals=goals[sel].astype(object),
                                 same=np.zeros(len(sel), dtype=bool), vle=self.V["le"][vol],
                                 goals_true=goals[sel], risk_high=P["risk_level"][core[sel]] == "high",
                                 kind=kind, breakdown=(kind == 1)))
        M = {key: np.concatenate([r[key] for r in rows]) for key in rows[0]}
        order = np.lexsort((M["role"].astype(str), M["start"], M["pidx"]))
        M = {key: v[order] for key, v in M.items()}
        M["mid"] = _seq_ids("m", len(M["pidx"]), 7)
        self.M = M
        # programme end for persons who died/emigrated before any end
        P["prog_end"] = prog_end
        P["prog_reason"] = prog_reason
        # a participant who died/emigrated while in the programme without a match
        for key, why in (("death", "died"), ("emig", "moved")):
            d = P[key]
            m = P["treated"] & (prog_end < 0) & (d >= 0) & (prog_reason == None)  # noqa: E711
            has_match = np.zeros(n, dtype=bool)
            has_match[M["pidx"]] = True
            m &= ~has_match & ~np.isin(np.arange(n), one[d_ok])
            P["prog_end"][m] = d[m]
            P["prog_reason"][m] = why

    # ------------------------------------------------------------ contacts
    def contacts(self) -> None:
        rng, M = self.rng, self.M
        k = self.P["prog"][M["pidx"]]
        cpm = np.array([p["description"]["planned_dosage"]["contacts_per_month"] for p in self.progs], dtype=float)[k]
        sd = np.array([p["sim"]["contact_rate_sd"] for p in self.progs])[k]
        mult = rng.gamma(1 / sd**2, sd**2)
        # circle members attend about two thirds of the weekly circle meetings; facilitators half
        cpm = np.where(M["role"] == "facilitator", cpm * 0.5, np.where(M["role"] == "circle_member", cpm * 0.65, cpm))
        last = np.where(M["end"] >= 0, M["end"], CUTOFF_DAY)
        days = last - M["start"] + 1
        n_c = rng.poisson(cpm / 30.44 * mult * days)
        mi = np.repeat(np.arange(len(k)), n_c)
        date = M["start"][mi] + np.floor(rng.random(len(mi)) * days[mi]).astype(np.int64)
        order = np.lexsort((date, mi))
        mi, date = mi[order], date[order]
        role = M["role"][mi]
        modes = np.array(["face_to_face", "phone", "video", "message", "group_meeting", "other"], dtype=object)
        mode = _choice(rng, modes, [0.65, 0.2, 0.05, 0.08, 0.0, 0.02], len(mi))
        circ = np.isin(role, ["circle_member", "facilitator"])
        mode[circ] = _choice(rng, modes, [0.25, 0.15, 0.0, 0.0, 0.6, 0.0], int(circ.sum()))
        med = role == "mediator"
        mode[med] = _choice(rng, modes, [0.5, 0.45, 0.0, 0.0, 0.0, 0.05], int(med.sum()))
        mpc = np.array([p["description"]["planned_dosage"].get("minutes_per_contact", 60) for p in self.progs], dtype=float)
        base = mpc[k[mi]]
        base = np.where(mode == "phone", 20.0, np.where(mode == "message", 5.0, np.where(mode == "group_meeting", 120.0, base)))
        minutes = np.clip(np.round(base * rng.lognormal(0, 0.35, len(mi))), 1, 720).astype(np.int64)
        minutes = np.where(rng.random(len(mi)) < 0.02, -1, minutes)
        sig = rng.random(len(mi)) < 0.008
        signal = np.full(len(mi), "none", dtype=object)
        signal[sig] = _choice(rng, np.array(["suicide", "child_safety", "reoffending_risk", "other"], dtype=object),
                              [0.2, 0.15, 0.5, 0.15], int(sig.sum()))
        rep = np.full(len(mi), None, dtype=object)
        u = rng.random(int(sig.sum()))
        # always recorded for a signal in clean data, so that a clean intake has no warnings
        rep[sig] = u < 0.93
        self.C = dict(mi=mi, date=date, mode=mode, minutes=minutes, signal=signal, reported=rep,
                      cid=_seq_ids("c", len(mi), 8))

    # ------------------------------------------------------------ volunteer support
    def support(self) -> None:
        rng, V = self.rng, self.V
        # the volunteer list is final now (after recruiting on demand): give pseudonyms
        V["vid"] = _pseudonyms(rng, len(V["prog"]), "v")
        n = len(V["prog"])
        stop_day = np.minimum(V["t_stop"], CUTOFF_DAY - V["start"] + 1.0)  # events strictly before stop
        parts = []

        def emit(who, day, kind, hours):
            ok = (day < stop_day[who]) & (V["start"][who] + day <= CUTOFF_DAY) & (day >= 0)
            parts.append((who[ok], V["start"][who[ok]] + day[ok], np.full(int(ok.sum()), kind, dtype=object), hours[ok]))

        basic_h = np.array([float(p["description"].get("training", {}).get("basic_hours", 12)) for p in self.progs])[V["prog"]]
        has_t = np.flatnonzero(V["t_train"] >= 0)
        emit(has_t, V["t_train"][has_t], "basic_training", basic_h[has_t])
        task = np.array([bool(p["description"].get("training", {}).get("task_specific")) for p in self.progs])[V["prog"]]
        tt = np.flatnonzero((V["t_train"] >= 0) & task & (rng.random(n) < 0.6))
        emit(tt, V["t_train"][tt] + np.floor(rng.uniform(30, 181, len(tt))).astype(np.int64), "task_training",
             np.round(rng.uniform(2, 8, len(tt))))
        # optional training: Poisson 0.4 a year over the active period
        span = np.maximum(stop_day, 0)
        n_opt = rng.poisson(0.4 * span / 365.25)
        w = np.repeat(np.arange(n), n_opt)
        emit(w, np.floor(rng.random(len(w)) * span[w]).astype(np.int64), "optional_training", np.round(rng.uniform(2, 6, len(w))))
        # regular supervision from t_sup on, every 90 / sessions_per_quarter days
        spq = np.array([float(p["description"].get("supervision", {}).get("sessions_per_quarter", 1) or 1) for p in self.progs])[V["prog"]]
        interval = 91.0 / spq
        has_s = V["t_sup"] >= 0
        n_s = np.where(has_s, np.floor(np.maximum(span - V["t_sup"], 0) / interval) + 1, 0).astype(np.int64)
        w = np.repeat(np.arange(n), n_s)
        r = _rank_in_group(w)
        day = V["t_sup"][w] + np.round(r * interval[w] + np.where(r > 0, rng.uniform(-7, 7, len(w)), 0)).astype(np.int64)
        kinds = np.full(len(w), "group_supervision", dtype=object)
        for kk, p in enumerate(self.progs):
            sup = p["description"].get("supervision", {})
            avail = [x for x in ("individual", "group", "peer") if sup.get(x)] or ["group"]
            m = V["prog"][w] == kk
            kinds[m] = _choice(rng, np.array([f"{a}_supervision" for a in avail], dtype=object),
                               np.ones(len(avail)), int(m.sum()))
        for kind in ("individual_supervision", "group_supervision", "peer_supervision"):
            m = kinds == kind
            emit(w[m], day[m], kind, np.where(kind == "group_supervision", 2.0, 1.0) * np.ones(int(m.sum())))
        # recognition from t_rec on, yearly
        has_r = V["t_rec"] >= 0
        n_r = np.where(has_r, np.floor(np.maximum(span - V["t_rec"], 0) / 365.25) + 1, 0).astype(np.int64)
        w = np.repeat(np.arange(n), n_r)
        r = _rank_in_group(w)
        emit(w, V["t_rec"][w] + np.round(r * 365.25).astype(np.int64), "recognition", np.full(len(w), 3.0))
        # personal support, rare
        n_p = rng.poisson(0.15 * span / 365.25)
        w = np.repeat(np.arange(n), n_p)
        emit(w, np.floor(rng.random(len(w)) * span[w]).astype(np.int64), "personal_support", np.round(rng.uniform(0.5, 2, len(w)), 1))
        who = np.concatenate([p[0] for p in parts])
        date = np.concatenate([p[1] for p in parts])
        kind = np.concatenate([p[2] for p in parts])
        hours = np.concatenate([p[3] for p in parts]).astype(float)
        order = np.lexsort((kind.astype(str), date, who))
        self.S = dict(who=who[order], date=date[order], kind=kind[order], hours=hours[order],
                      eid=_seq_ids("s", len(who), 8))

    # ------------------------------------------------------------ restorative justice sessions
    def rj_sessions(self) -> None:
        rng, M, P = self.rng, self.M, self.P
        med = np.flatnonzero(M["role"] == "mediator")
        last = np.where(M["end"][med] >= 0, M["end"][med], CUTOFF_DAY)
        span = last - M["start"][med]
        ok = span >= 14
        med, last, span = med[ok], last[ok], span[ok]
        n_s = 1 + rng.binomial(2, 0.2, len(med))
        mi = np.repeat(med, n_s)
        date = M["start"][mi] + 7 + np.floor(rng.random(len(mi)) * (np.repeat(span, n_s) - 6)).astype(np.int64)
        date = np.minimum(date, np.repeat(last, n_s))
        order = np.lexsort((date, mi))
        mi, date = mi[order], date[order]
        k = P["prog"][M["pidx"][mi]]
        pids = np.array([p["description"]["programme_id"] for p in self.progs], dtype=object)[k]
        kinds = np.array(["conference", "mediation", "victim_offender_dialogue", "victim_panel"], dtype=object)
        kind = np.where(pids == "RJ-CONF", _choice(rng, kinds, [0.85, 0.0, 0.05, 0.10], len(mi)),
                        _choice(rng, kinds, [0.05, 0.75, 0.15, 0.05], len(mi))).astype(object)
        victim = np.where(kind == "victim_panel", False, rng.random(len(mi)) < 0.85)
        agree = rng.random(len(mi)) < 0.75
        fulfilled = np.where(agree, rng.random(len(mi)) < 0.8, False).astype(object)
        fulfilled[~agree] = None
        fulfilled[agree & (date > CUTOFF_DAY - 90)] = None  # not yet known
        sat = np.where(victim, _choice(rng, np.arange(1, 6), [0.03, 0.07, 0.15, 0.40, 0.35], len(mi)), -1)
        self.R = dict(mi=mi, date=date, kind=kind, victim=victim, agree=agree, fulfilled=fulfilled,
                      sat=sat, sid=_seq_ids("rj", len(mi), 7))

    # ------------------------------------------------------------ costs
    def costs(self) -> None:
        """True costs per programme, quarter and category from the activity in the tables."""
        P, V, S = self.P, self.V, self.S
        q_starts = pd.date_range("2020-01-01", CUTOFF, freq="QS")
        qs = (q_starts.values.astype("datetime64[D]") - _EPOCH).astype(np.int64)
        qe = np.r_[qs[1:] - 1, CUTOFF_DAY]
        frac = (qe - qs + 1) / 91.31
        rows = []
        pend = np.where(P["prog_end"] >= 0, P["prog_end"], CUTOFF_DAY)
        vend = np.where(V["end"] >= 0, V["end"], CUTOFF_DAY)
        s_prog = V["prog"][S["who"]]
        s_q = np.searchsorted(qs, S["date"], side="right") - 1
        nq = len(qs)
        training_kinds = np.isin(S["kind"], ["basic_training", "task_training", "optional_training"])
        sup_kinds = np.isin(S["kind"], ["individual_supervision", "group_supervision", "peer_supervision"])
        for kk, p in enumerate(self.progs):
            pid = p["description"]["programme_id"]
            tp = P["treated"] & (P["prog"] == kk)
            # active participants: intake <= quarter end and (programme end or cutoff) >= quarter start
            act_p = (np.searchsorted(np.sort(P["intake"][tp]), qe, side="right")
                     - np.searchsorted(np.sort(pend[tp]), qs, side="left"))
            vp = V["prog"] == kk
            v_start, v_end, allow = V["start"][vp], vend[vp], V["allowance"][vp]
            overlap = np.clip(np.minimum(v_end[:, None], qe[None, :]) - np.maximum(v_start[:, None], qs[None, :]) + 1, 0, None)
            act_v = (overlap > 0).sum(axis=0)
            expenses = (allow[:, None] * overlap / 30.44).sum(axis=0)
            new_v = np.bincount(np.clip(np.searchsorted(qs, v_start[v_start >= qs[0]], side="right") - 1, 0, nq - 1),
                                minlength=nq)
            in_p = (s_prog == kk) & (s_q >= 0)
            train_h = np.bincount(s_q[in_p & training_kinds], weights=S["hours"][in_p & training_kinds], minlength=nq)
            sup_n = np.bincount(s_q[in_p & sup_kinds], minlength=nq)
            amounts = {
                # a fixed coordinator share per programme plus caseload-driven staff time
                "coordination_staff": (COSTS["coordination_fte_base"] + COSTS["coordination_fte_per_active_participant"] * act_p)
                * COSTS["coordination_fte_year_eur"] / 4 * frac,
                "volunteer_expenses": expenses,
                "recruitment_screening": new_v * COSTS["recruitment_screening_per_new_volunteer"],
                "training": train_h * COSTS["training_per_hour_per_volunteer"],
                "supervision": sup_n * COSTS["supervision_per_session"],
                "insurance": act_v * COSTS["insurance_per_volunteer_quarter"] * frac,
                "materials_activities": act_p * COSTS["materials_per_active_participant_quarter"] * frac,
            }
            amounts["overhead"] = COSTS["overhead_share"] * sum(amounts.values())
            for q in range(nq):
                for cat, amt in amounts.items():
                    rows.append((pid, int(qs[q]), int(qe[q]), cat, round(float(amt[q]), 2)))
        self.K = pd.DataFrame(rows, columns=["programme_id", "period_start", "period_end", "category", "amount_eur"])
