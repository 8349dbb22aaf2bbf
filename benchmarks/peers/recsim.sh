#!/usr/bin/env bash
# Google RecSim (TensorFlow-free build) in its own virtualenv, for benchmarks/slate_throughput.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=.bench-venvs/recsim
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# recsim-no-tf imports six without declaring it; gym 0.26 is what it resolves to.
"$VENV/bin/pip" install -q recsim-no-tf six
echo "$VENV/bin/python"
