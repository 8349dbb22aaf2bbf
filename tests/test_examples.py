"""Examples run as smoke tests on tiny budgets (as a new user would run them)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script,args", [("bandits_quickstart.py", ["--rounds", "200"])])
def test_example_runs(script, args):
    out = subprocess.run([sys.executable, str(ROOT / "examples" / script), *args],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "regret" in out.stdout
