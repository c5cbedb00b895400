#!/usr/bin/env bash
# The package runs from a wheel: build it, install it into a fresh venv outside the
# checkout, and from a folder outside the checkout run `evaluation synth` and
# `evaluation run`. Fails (non-zero) when a step fails, when the report's index.html or
# manifest.json is missing, or when the installed package would be imported from the
# checkout instead of the venv. Called by `make wheel-check` (and .ci/run).
#
# Usage: scripts/wheel_check.sh [BUILD_PYTHON]   (default .venv/bin/python; any python3 with pip)
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd -P)
BUILD_PY=${1:-.venv/bin/python}
SEED=7301   # a seed no test uses
# scale 0.2: at 0.05 some programmes are too small for every analysis and three notebooks fail
SCALE=0.2

rm -rf dist
"$BUILD_PY" -m pip wheel --quiet --no-deps -w dist .
WHEEL=$(ls "$REPO"/dist/evaluation-*.whl)
echo "wheel-check: built $(basename "$WHEEL")"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
case "$WORK" in "$REPO"/*) echo "wheel-check: temporary folder inside the checkout" >&2; exit 1;; esac
"${PYTHON:-python3}" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install --quiet --upgrade pip
"$WORK/venv/bin/python" -m pip install --quiet "$WHEEL"

# Nothing from the checkout: no PYTHONPATH, no user site, cwd outside the checkout.
cd "$WORK"
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP VIRTUAL_ENV
export PYTHONNOUSERSITE=1 JUPYTER_DATA_DIR="$WORK/jupyter" MPLBACKEND=Agg
EV="$WORK/venv/bin/evaluation"

where=$("$WORK/venv/bin/python" -c 'import evaluation, pathlib; print(pathlib.Path(evaluation.__file__).resolve())')
case "$where" in
  "$WORK/venv/"*) ;;
  *) echo "wheel-check: evaluation imported from $where, not from the wheel's venv" >&2; exit 1;;
esac
kernel=$("$WORK/venv/bin/jupyter" kernelspec list --json | "$WORK/venv/bin/python" -c \
  'import json, sys; print(json.load(sys.stdin)["kernelspecs"]["python3"]["resource_dir"])')
case "$kernel" in
  "$WORK/venv/"*) ;;
  *) echo "wheel-check: the python3 kernel comes from $kernel, not from the wheel's venv" >&2; exit 1;;
esac

"$EV" synth --out "$WORK/intake" --seed "$SEED" --scale "$SCALE"
"$EV" run --intake "$WORK/intake" --quarter 2026Q3 --out "$WORK/reports" --jobs 2
for f in index.html manifest.json; do
  if [ ! -s "$WORK/reports/2026Q3/$f" ]; then
    echo "wheel-check: reports/2026Q3/$f is missing" >&2; exit 1
  fi
done
if grep -rqs -- "$REPO" "$WORK/reports/2026Q3"; then
  echo "wheel-check: the report names the checkout ($REPO): something ran from it" >&2; exit 1
fi
echo "wheel-check: OK (synth and run from the installed wheel, outside the checkout)"
