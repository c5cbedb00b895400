"""The old worker entry point of the quarterly run.

The quarterly run lives in :mod:`evaluation.pipeline.quarter` (``evaluation
run``); its notebook workers in :mod:`evaluation.pipeline.workers`; the
recidivism design of a programme in :func:`evaluation.datasets.design.derive_design`.
``python -m evaluation.pipeline.run --serve PARENT_PID WORK_DIR`` starts a
notebook worker, any other arguments are those of ``evaluation run``.
"""

from __future__ import annotations

import runpy
import sys

if __name__ == "__main__":
    # run by module name, so that importing this module starts nothing
    if sys.argv[1:2] == ["--serve"]:
        runpy.run_module("evaluation.pipeline.workers", run_name="__main__")
    else:
        runpy.run_module("evaluation.pipeline.quarter", run_name="__main__")
