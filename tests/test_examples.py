"""Examples run as smoke tests on tiny budgets (as a new user would run them)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


# The slate and MovieLens examples are smoke-tested beside their areas' tests (own env / data needs).
# Each example names the optional extra it needs; without it the test skips and says which.
@pytest.mark.parametrize("script,args,expect,needs", [
    ("bandits_quickstart.py", ["--rounds", "200"], "regret", ()),
    ("serve_loop.py", [], "after roll-back", ("fastapi", "sqlalchemy", "httpx")),
    ("scale_tour.py", [], "grid on Ray == local: True", ("ray",)),
    ("tabular_tour.py", ["--steps", "2000"], "clicks per session", ()),
    ("deep_cartpole.py", ["--steps", "256"], "greedy return", ("torch",)),
    ("ope_evaluate.py", ["--n", "1000"], "true value", ()),
    ("own_logs.py", ["--events", "3000"], "serve it: recloop serve --policy", ()),
])
def test_example_runs(script, args, expect, needs):
    for module in needs:
        pytest.importorskip(module, reason=f"examples/{script} needs {module} (pip install 'recloop[all]')")
    out = subprocess.run([sys.executable, str(ROOT / "examples" / script), *args],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert expect in out.stdout
