"""The MovieLens benchmark's own helpers: model specs and the seed-level comparison."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "movielens_ranking.py"
_spec = importlib.util.spec_from_file_location("movielens_ranking", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_model_specs_parse_numbers_and_strings():
    assert bench.parse_model("sqn") == ("sqn", {})
    assert bench.parse_model("sqn[lr=0.01,next_action=ce,negatives=50]") == (
        "sqn", {"lr": 0.01, "next_action": "ce", "negatives": 50})


def _runs(name, values):
    return [{"model": name, "seed": i, "test": {"ndcg@10": v}} for i, v in enumerate(values)]


def test_compare_is_welchs_t_on_the_seeds():
    a, b = [0.066, 0.068, 0.070, 0.072], [0.071, 0.073, 0.074]
    out = bench.compare(_runs("a", a) + _runs("b", b) + [{"model": "b", "seed": 9, "error": "x"}], "a", "b")
    se = np.sqrt(np.var(a, ddof=1) / 4 + np.var(b, ddof=1) / 3)
    assert out["difference"] == pytest.approx(np.mean(b) - np.mean(a))
    assert out["standard_error"] == pytest.approx(se)
    assert out["welch_t"] == pytest.approx((np.mean(b) - np.mean(a)) / se)
    assert 0 < out["p_one_sided"] < 0.05 and out["b"]["n"] == 3
    # Brown-Forsythe: one-way ANOVA of the absolute deviations from each group's median
    z = [np.abs(np.array(x) - np.median(x)) for x in (a, b)]
    grand = np.concatenate(z).mean()
    between = sum(len(x) * (x.mean() - grand) ** 2 for x in z)
    within = sum(((x - x.mean()) ** 2).sum() for x in z)
    assert out["spread_p_two_sided"] == pytest.approx(stats.f.sf(between / (within / (7 - 2)), 1, 5))
    # the other way round the one-sided p-value flips
    assert bench.compare(_runs("a", a) + _runs("b", b), "b", "a")["p_one_sided"] == pytest.approx(1 - out["p_one_sided"])
    with pytest.raises(SystemExit, match="needs >= 2 seeds"):
        bench.compare(_runs("a", a) + _runs("b", b[:1]), "a", "b")


def test_compare_counts_each_seed_once():
    # seed 0 of "a" ran twice (two invocations): its runs are averaged into one sample
    runs = _runs("a", [0.066, 0.070, 0.072]) + [{"model": "a", "seed": 0, "test": {"ndcg@10": 0.068}}]
    runs += _runs("b", [0.071, 0.073, 0.074])
    out = bench.compare(runs, "a", "b")
    assert out["a"]["n"] == 3 and out["a"]["runs"] == 4
    assert out["a"]["mean"] == pytest.approx(np.mean([0.067, 0.070, 0.072]))
    assert out["welch_t"] == pytest.approx(stats.ttest_ind([0.071, 0.073, 0.074], [0.067, 0.070, 0.072],
                                                           equal_var=False).statistic)
