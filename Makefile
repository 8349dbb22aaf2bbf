# Each target does its own set-up: a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS ?= all
# Where torch comes from. Empty: pip's configured index. On a machine whose index has no CPU wheel
# (PyPI on Linux serves the multi-GB CUDA build), use PyTorch's CPU index:
#   make test TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
TORCH_VERSION := 2.13.0
TORCH_ARGS := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX),)

.PHONY: demo test lint typecheck-all bench docs clean venv data constraints

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and exactly: any looser request can pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==$(TORCH_VERSION) $(TORCH_ARGS)
	# every other package at the versions the suite last passed with (refresh: make constraints)
	$(PY) -m pip install -q -e ".[$(EXTRAS)]" -c constraints.txt
	$(MAKE) --no-print-directory data
	touch $(STAMP)

# MovieLens-100k, fetched at set-up time (never at run time). Offline, the rest still works:
# the MovieLens commands then say how to fetch it, and its tests skip.
data:
	$(VENV)/bin/recloop data fetch || echo "MovieLens-100k not fetched (offline?): run 'recloop data fetch' later"

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

# The docs site in site/: runs every tutorial (full budget; RECLOOP_TUTORIAL_FAST=1 for the CI one).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

bench: $(STAMP)
	$(PY) benchmarks/bandit_throughput.py

# Re-resolve every dependency in a fresh venv and pin the result: the one command that refreshes
# constraints.txt (run it, then make test, then commit both).
constraints:
	rm -rf .constraints-venv
	$(PYTHON) -m venv .constraints-venv
	.constraints-venv/bin/python -m pip install -q --upgrade pip
	.constraints-venv/bin/python -m pip install -q torch==$(TORCH_VERSION) $(TORCH_ARGS)
	.constraints-venv/bin/python -m pip install -q ".[all]"
	# Two ways the pins go wrong: a package asks for another torch, so pip replaced ours; or torch came as
	# PyPI's Linux (CUDA) build, whose nvidia-* wheels every CPU install would then be pinned to (GBs).
	@.constraints-venv/bin/python -m pip freeze | grep -q -E '^torch==$(TORCH_VERSION)(\+|$$)' || { \
	  echo "make constraints: torch is no longer $(TORCH_VERSION); a package asked for another" \
	       "(pip install --dry-run --report shows which)"; exit 1; }
	@if .constraints-venv/bin/python -m pip freeze | grep -i -E '^(nvidia-|triton[=@ ])'; then \
	  echo "make constraints: CUDA packages (above); install the CPU build of torch:" \
	       "make constraints TORCH_INDEX=https://download.pytorch.org/whl/cpu"; exit 1; fi
	( echo "# pip constraints: the versions the test suite passed with. Refresh: make constraints"; \
	  .constraints-venv/bin/python -m pip freeze --exclude-editable | grep -v -i '^recloop[= @]' \
	  | sed -E 's/\+[A-Za-z0-9.]+$$//' ) > constraints.txt
	rm -rf .constraints-venv build

clean:
	rm -rf $(VENV) runs site .pytest_cache .hypothesis
