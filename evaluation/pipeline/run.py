"""The recidivism design of a programme, and the old worker entry point.

The quarterly run lives in :mod:`evaluation.pipeline.quarter` (``evaluation
run``); its notebook workers in :mod:`evaluation.pipeline.workers`. This
module keeps :func:`derive_design` (used by the run for the ``design``
parameter, and by the synthesis) and the old command line:
``python -m evaluation.pipeline.run --serve PARENT_PID WORK_DIR`` starts a
notebook worker, any other arguments are those of ``evaluation run``.

The recidivism ``design`` parameter is derived from the accepted
participants table, per programme (:func:`derive_design`): ``rct`` when the
programme has comparison persons and everyone in it (participants and
comparison) was randomised, ``matched`` when it has comparison persons
otherwise, ``descriptive`` when it has none. For all programmes together the
common design is passed when all selected programmes share one, otherwise
``descriptive`` (pooling different designs is not a causal comparison).
"""

from __future__ import annotations

import runpy
import sys

import pandas as pd


def derive_design(participants: pd.DataFrame | None, programme_id: str) -> str:
    """Recidivism design of one programme from the accepted participants table.

    ``rct`` when the programme has comparison persons and every person of the
    programme (both groups) has ``assignment == "randomised"``; ``matched``
    when it has comparison persons otherwise (observational pool: matching or
    weighting); ``descriptive`` when it has no comparison persons.
    """
    if participants is None or participants.empty or "group" not in participants.columns:
        return "descriptive"
    rows = participants[participants["programme_id"] == programme_id]
    comparison = rows["group"] == "comparison"
    if not comparison.any():
        return "descriptive"
    if "assignment" in rows.columns and (rows["assignment"] == "randomised").all():
        return "rct"
    return "matched"


if __name__ == "__main__":
    # run by module name, so that this module does not import the run (which imports derive_design from here)
    if sys.argv[1:2] == ["--serve"]:
        runpy.run_module("evaluation.pipeline.workers", run_name="__main__")
    else:
        runpy.run_module("evaluation.pipeline.quarter", run_name="__main__")
