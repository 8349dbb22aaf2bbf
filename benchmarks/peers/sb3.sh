#!/usr/bin/env bash
# Creates .bench-venvs/sb3 with Stable-Baselines3 for benchmarks/cartpole_vs_sb3.py.
# torch is installed first and pinned to the CPU build recloop uses: an unpinned
# request would make pip fetch a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=.bench-venvs/sb3
PYTHON=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q torch==2.13.0
"$VENV/bin/python" -m pip install -q "stable-baselines3>=2.3" "gymnasium>=1.0"
"$VENV/bin/python" -c "import stable_baselines3, torch; print('sb3', stable_baselines3.__version__, 'torch', torch.__version__)"
