"""The tutorial's code blocks run as written (in a scratch folder), and say what the page says."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pyarrow.parquet as pq

DOC = Path(__file__).resolve().parents[2] / "docs" / "ope.md"


def test_tutorial_code_runs_and_its_estimates_cover_the_truth(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S):
            exec(compile(block, str(DOC), "exec"), namespace)
    # step 1 wrote the logs it promised, with a propensity for every event
    table = pq.read_table(tmp_path / "logs.parquet")
    assert table.num_rows == 3000 and 0 < min(table.column("propensity").to_pylist()) <= 1
    # step 2 printed IPS, SNIPS and DR with intervals, and the simulator's truth
    text = out.getvalue()
    truth = float(re.search(r"^truth ([0-9.]+)$", text, re.M).group(1))
    rows = re.findall(r"^(ips|snips|dr): ([0-9.]+) \[([0-9.]+), ([0-9.]+)\] ESS (\d+)$", text, re.M)
    assert [r[0] for r in rows] == ["ips", "snips", "dr"]
    for name, value, lo, hi, ess in rows:
        assert float(lo) <= truth <= float(hi), (name, value, lo, hi, truth)
        assert int(ess) > 100
    # step 4 evaluated the LinUCB candidate with every estimator
    assert text.count("'estimator'") >= 5
