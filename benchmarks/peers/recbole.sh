#!/usr/bin/env bash
# Build RecBole 1.2.1's own virtualenv under .bench-venvs/recbole (the external reference for
# benchmarks/movielens_ranking.py). Run from the repository root; idempotent.
#
# Why the care: recbole 1.2.1 pins ray<=2.6.3 (no wheel for current Pythons, and unused by the
# quick-start path) and a loose torch (pip would fetch a multi-GB CUDA build). So torch==2.13.0 is
# installed first, then recbole without dependencies, then only the dependencies its
# quick-start import path needs. Numpy-2 incompatibilities are patched at run time by
# benchmarks/peers/recbole_run.py, not here.
set -euo pipefail
VENV=.bench-venvs/recbole
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  $PY -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q torch==2.13.0
"$VENV/bin/python" -m pip install -q --no-deps recbole==1.2.1
"$VENV/bin/python" -m pip install -q numpy scipy pandas tqdm "colorlog==4.7.2" "colorama==0.4.4" \
  scikit-learn pyyaml tensorboard thop tabulate plotly texttable psutil
"$VENV/bin/python" -c "import recbole, torch, numpy; print('recbole', recbole.__version__, 'torch', torch.__version__, 'numpy', numpy.__version__)"
