"""The MovieLens example runs (smoke test on a tiny budget)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from recloop.data.movielens import cache_dir

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not (cache_dir() / "ml-100k" / "ml-100k.inter").is_file(), reason="ML-100k not cached here")
def test_example_runs():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(ROOT / "examples/movielens_sqn.py"), "--budget", "1"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "for user 42:" in out.stdout
