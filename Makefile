# Set-up and everyday commands. Needs only python3 on the machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JOBS   ?= 2

LAB    := $(VENV)/.lab-installed

.PHONY: help venv demo test lint-imports wheel-check test-slow bench bench-seeds bench-perf lab lint clean

help:
	@echo "make demo        - set up .venv and run the quarterly job on the synthetic demo intake"
	@echo "make test        - set up .venv if needed, check the import layers and run the test suite"
	@echo "make wheel-check - build the wheel, install it in a fresh venv outside the checkout, run synth and run"
	@echo "make bench       - the quarter on 20 unseen generator seeds (failed notebooks, target 0), then bench-perf"
	@echo "make bench-seeds - only the seeds: BENCH_SEEDS=4101-4120 BENCH_SCALE=1 (scripts/bench_seeds.py)"
	@echo "make bench-perf  - national-scale benchmarks (validation speed, full run, coverage over seeds)"
	@echo "make lab         - install JupyterLab (the lab extra) and open notebooks/ with the project kernel"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (evaluation)" >/dev/null
	touch $(STAMP)

venv: $(STAMP)

lint-imports: $(STAMP)
	$(VENV)/bin/lint-imports

test: $(STAMP) lint-imports
	$(PY) -m pytest -n $(JOBS) -q -m "not slow"

wheel-check: $(STAMP)
	PYTHON=$(PYTHON) scripts/wheel_check.sh $(PY)

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

demo: $(STAMP)
	$(PY) -m evaluation synth --out demo_intake --seed 20260930 --scale 1
	$(PY) -m evaluation run --intake demo_intake --quarter 2026Q3 --out reports --language nl,en --jobs $(JOBS) --force

BENCH_SEEDS ?= 4101-4120
BENCH_SCALE ?= 1

bench: bench-seeds bench-perf

bench-seeds: $(STAMP)
	$(PY) scripts/bench_seeds.py --seeds $(BENCH_SEEDS) --scale $(BENCH_SCALE) --jobs $(JOBS)

bench-perf: $(STAMP)
	$(PY) benchmarks/run_all.py
	$(PY) -m pytest -q -m slow

$(LAB): $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,lab]'
	touch $(LAB)

lab: $(LAB)
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

lint: $(STAMP)
	$(VENV)/bin/ruff check evaluation tests

clean:
	rm -rf $(VENV) .pytest_cache dist build
