#!/usr/bin/env bash
# The benchmark-only venv for d3rlpy (the offline-RL peer of benchmarks/movielens_long_term.py).
# CPU torch 2.13.0 (the same build as recloop's venv) from the local wheel, then d3rlpy from the registry.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${D3RLPY_VENV:-$ROOT/.bench-venvs/d3rlpy}"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q "torch==2.13.0+cpu" "d3rlpy==2.8.1"
