# Each target does its own set-up: a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS ?= all

.PHONY: demo test lint typecheck-all bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and exactly: any looser request pulls a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/recloop demo

test: $(STAMP)
	$(PY) -m pytest -n 2 --durations=15 --doctest-modules tests src/recloop; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

# The layer rules (import contracts), lint, and types where the code is typed clean.
lint: $(STAMP)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/mypy

# Every package; not yet clean, so not part of `make lint`.
typecheck-all: $(STAMP)
	$(VENV)/bin/mypy src/recloop

bench: $(STAMP)
	$(PY) benchmarks/bandit_throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
