# Set-up and everyday commands. Needs only python3 on the machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JOBS   ?= 2

.PHONY: help venv demo test test-slow bench lab lint clean

help:
	@echo "make demo   - set up .venv and run the quarterly job on the synthetic demo intake"
	@echo "make test   - set up .venv if needed and run the test suite"
	@echo "make bench  - national-scale benchmarks (validation speed, full run, coverage over seeds)"
	@echo "make lab    - JupyterLab on notebooks/ with the project kernel"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (evaluation)" >/dev/null
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) -q -m "not slow"

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

demo: $(STAMP)
	$(PY) -m evaluation synth --out demo_intake --seed 20260930 --scale 1
	$(PY) -m evaluation run --intake demo_intake --quarter 2026Q3 --out reports --jobs $(JOBS) --force

bench: $(STAMP)
	$(PY) benchmarks/run_all.py
	$(PY) -m pytest -q -m slow

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

lint: $(STAMP)
	$(VENV)/bin/ruff check evaluation tests

clean:
	rm -rf $(VENV) .pytest_cache
