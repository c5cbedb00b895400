"""Recovery of the synthetic re-integration truth over generator seeds (issue 19).

For each seed: generate an intake (``evaluation synth``), validate it, fit
:class:`evaluation.analyses.reintegration.ReintegrationAnalysis` per programme with assessments under its
design (the truth.json design), and compare each estimate with the truth recorded for that intake
(sample-conditional, exact: see truth.json ``reintegration.estimand_notes``):

* ``mean_change_end`` (programme and comparison group, complete case = everyone due has an end score);
* ``mean_change_follow_up`` with inverse-probability-of-observation weights against the true change, and
  complete case against the complete-case limit (the bias IPW removes);
* ``ancova_difference_end`` against ``att_end`` (randomised and matched programmes).

Prints, per quantity, the coverage of the 95% intervals, the mean bias and the mean SE, and writes the
rows to ``--out`` (CSV). Used by the slow test ``tests/test_reintegration_recovery.py``; run by hand:

    .venv/bin/python scripts/bench_reintegration_coverage.py --seeds 7000-7099 --scale 0.3
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.analyses.reintegration import ReintegrationAnalysis
from evaluation.synth.generate import generate_intake
from evaluation.validation.validate import validate_intake

QUANTITIES = {
    # name: (estimand, group, missing_data, truth key path inside the domain entry)
    "mean_change_end programme": ("mean_change_end", "programme", "complete_case", ("programme", "mean_change_end")),
    "mean_change_end comparison": ("mean_change_end", "comparison", "complete_case", ("comparison", "mean_change_end")),
    "mean_change_follow_up programme, IPW": ("mean_change_follow_up", "programme", "ipw_observation",
                                             ("programme", "mean_change_follow_up")),
    "mean_change_follow_up programme, complete case vs truth": (
        "mean_change_follow_up", "programme", "complete_case", ("programme", "mean_change_follow_up")),
    "ancova_difference_end (ATT)": ("ancova_difference_end", "difference", "complete_case", ("att_end",)),
}


def one_seed(seed: int, scale: float, programmes: list[str] | None = None) -> pd.DataFrame:
    """Estimates beside their truth for one generator seed (one row per programme x domain x quantity)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = generate_intake(Path(tmp) / "intake", seed=seed, scale=scale)
        truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))["reintegration"]["programmes"]
        validated = validate_intake(folder, "en")
        for pid, entry in truth.items():
            if programmes and pid not in programmes:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = ReintegrationAnalysis(entry["design"], seed=seed).fit(validated, pid, warn=False).results_
            for dom, t in entry["domains"].items():
                ep = f"{entry['instrument']}:{dom}"
                for name, (estimand, group, md, path) in QUANTITIES.items():
                    r = res[(res["estimand"] == estimand) & (res["endpoint"] == ep) & (res["group"] == group)
                            & (res["missing_data"] == md)]
                    true = t
                    for k in path:
                        true = true.get(k) if isinstance(true, dict) else None
                    if r.empty or true is None or pd.isna(r["estimate"].iloc[0]):
                        continue
                    x = r.iloc[0]
                    rows.append({"seed": seed, "programme_id": pid, "design": entry["design"], "domain": dom,
                                 "quantity": name, "estimate": float(x["estimate"]), "ci_lower": float(x["ci_lower"]),
                                 "ci_upper": float(x["ci_upper"]), "truth": float(true), "n": int(x["n"])})
    return pd.DataFrame(rows)


def summarise(df: pd.DataFrame) -> pd.DataFrame:
    df = df.assign(covered=(df["ci_lower"] <= df["truth"]) & (df["truth"] <= df["ci_upper"]),
                   bias=df["estimate"] - df["truth"], se=(df["ci_upper"] - df["ci_lower"]) / (2 * 1.96))
    return df.groupby("quantity").agg(rows=("covered", "size"), coverage=("covered", "mean"),
                                      mean_bias=("bias", "mean"), mean_se=("se", "mean")).reset_index()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="7000-7099", help="range A-B (inclusive)")
    p.add_argument("--scale", type=float, default=0.3)
    p.add_argument("--programmes", default="", help="comma-separated; default every programme with assessments")
    p.add_argument("--out", default="")
    a = p.parse_args(argv)
    lo, hi = (int(x) for x in a.seeds.split("-"))
    progs = [x for x in a.programmes.split(",") if x] or None
    t0 = time.perf_counter()
    frames = []
    for seed in range(lo, hi + 1):
        frames.append(one_seed(seed, a.scale, progs))
        print(f"seed {seed}: {len(frames[-1])} rows, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    df = pd.concat(frames, ignore_index=True)
    if a.out:
        df.to_csv(a.out, index=False)
    print(summarise(df).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
