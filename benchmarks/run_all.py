"""Run every benchmark in this folder (``bench_*.py``) in name order.

Benchmarks print their own numbers and ratios; they are not tests and never
fail on speed, only on errors.
"""

import runpy
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
failed = []
for script in sorted(here.glob("bench_*.py")):
    print(f"\n=== {script.name}", flush=True)
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (0, None):
            failed.append(script.name)
    except Exception as exc:  # report and go on with the others
        print(f"{script.name} failed: {exc!r}", flush=True)
        failed.append(script.name)
sys.exit(1 if failed else 0)
