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
    # no OMP_NUM_THREADS here: the example itself must hold torch to one thread (its budget is CPU time)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["PYTHONPATH"] = str(ROOT / "src")
    out = subprocess.run([sys.executable, str(ROOT / "examples/movielens_sqn.py"), "--budget", "1"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "for user 42:" in out.stdout
    assert "torch threads: 1" in out.stdout
