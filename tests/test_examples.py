"""Examples run as smoke tests on tiny budgets (as a new user would run them)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


# Area examples with their own smoke tests live beside those areas' tests.
@pytest.mark.parametrize("script,args,expect", [
    ("bandits_quickstart.py", ["--rounds", "200"], "regret"),
    ("serve_loop.py", [], "after roll-back"),
    ("scale_tour.py", [], "grid on Ray == local: True"),
])
def test_example_runs(script, args, expect):
    out = subprocess.run([sys.executable, str(ROOT / "examples" / script), *args],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert expect in out.stdout
