# Set-up and everyday commands. Needs only python3 on the machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JOBS   ?= 2

LAB    := $(VENV)/.lab-installed

.PHONY: help venv demo test lint-imports wheel-check test-slow bench lab lint clean

help:
	@echo "make demo        - set up .venv and run the quarterly job on the synthetic demo intake"
	@echo "make test        - set up .venv if needed, check the import layers and run the test suite"
	@echo "make wheel-check - build the wheel, install it in a fresh venv outside the checkout, run synth and run"
	@echo "make bench       - national-scale benchmarks (validation speed, full run, coverage over seeds)"
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
	$(PY) -m evaluation run --intake demo_intake --quarter 2026Q3 --out reports --jobs $(JOBS) --force

bench: $(STAMP)
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
