#!/usr/bin/env bash
# Virtualenv with the bandit peers (MABWiser, Vowpal Wabbit), kept apart from recloop's own.
set -euo pipefail
VENV="${1:-.bench-venvs/bandit-peers}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
fi
"$VENV/bin/pip" install -q "mabwiser>=2.7" "vowpalwabbit>=9.9" numpy
echo "$VENV/bin/python"
