#!/usr/bin/env bash
# Open Bandit Pipeline 0.5.7 in its own virtualenv (.bench-venvs/obp).
# obp declares python <3.10 and old pins; we install it without its pins
# (--no-deps --ignore-requires-python) next to current scientific packages,
# which is what a user on Python 3.11 would have to do.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=.bench-venvs/obp
PY=${PYTHON:-python3.11}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
"$VENV/bin/python" -m pip install -q numpy scipy pandas scikit-learn matplotlib seaborn tqdm pyyaml torch==2.13.0
"$VENV/bin/python" -m pip install -q --no-deps --ignore-requires-python obp==0.5.7
"$VENV/bin/python" -c "import obp; print('obp', obp.__version__)"
