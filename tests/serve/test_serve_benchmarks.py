"""The serving benchmarks' own arithmetic: worst of runs in a row, and the scale-out
benchmark's on-paper capacity from measured per-request costs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_DIR = Path(__file__).resolve().parents[2] / "benchmarks"  # serve_scale puts it on sys.path for serve_load
_spec = importlib.util.spec_from_file_location("serve_scale", _DIR / "serve_scale.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)
load = sys.modules["serve_load"]  # imported by serve_scale


def _run(rate, *, saturated=False, lost=0, ranker=0.5, learner=0.25, pg=0.2):
    return {"target_requests_per_s": 2 * rate, "sustained_requests_per_s": 2 * rate, "saturated": saturated,
            "lost_events": lost, "ranker_cpu_ms_per_request": ranker, "learner_cpu_ms_per_reward": learner,
            "postgres_cpu_ms_per_request": pg}


def test_capacity_is_the_smaller_of_ranker_cores_and_the_one_learner():
    # 0.5 ms per request: 2,000 req/s per core, 8,000 per 4-core host; a learner at 0.25 ms
    # per reward takes 4,000 rewards/s = 8,000 req/s (each reward comes with its rank).
    out = bench.on_paper([_run(500), _run(1000), _run(2000, saturated=True)], host_cores=4)
    assert out["from_run"]["sustained_requests_per_s"] == 2000  # the busiest unsaturated run
    assert out["requests_per_s_per_ranker_host"] == 8000
    assert out["learner_limit_requests_per_s"] == 8000
    assert out["requests_per_s_by_ranker_hosts"] == {1: 8000, 2: 8000, 4: 8000, 8: 8000, 16: 8000}
    assert out["postgres_cores_needed_per_1000_requests_per_s"] == 0.2
    assert out["postgres_cores_needed_at_the_learner_limit"] == 1.6
    slow_rankers = bench.on_paper([_run(500, ranker=4.0)], host_cores=4)  # 1,000 req/s per host
    assert slow_rankers["requests_per_s_by_ranker_hosts"] == {1: 1000, 2: 2000, 4: 4000, 8: 8000, 16: 8000}
    assert slow_rankers["first_limit"] == "learner"


def test_no_estimate_from_saturated_or_lossy_runs():
    out = bench.on_paper([_run(500, saturated=True), _run(1000, lost=3)], host_cores=4)
    assert "no unsaturated" in out["note"]


def test_a_goal_over_runs_in_a_row_is_judged_by_the_worst_run():
    def run(client, p99, lost=0, saturated=False):
        return {"client": client, "store": "sqlite", "target_events_per_s": 1000.0, "rank_p99_ms": p99,
                "lost_events": lost, "saturated": saturated}
    out = load.worst_of_repeats([run("wrk", 5.5), run("wrk", 10.2), run("wrk", 6.0, lost=1),
                                 run("python", 4.7), run("python", None, saturated=True)])
    assert out == [
        {"client": "wrk", "store": "sqlite", "target_events_per_s": 1000.0, "runs": 3,
         "rank_p99_ms": [5.5, 10.2, 6.0], "worst_rank_p99_ms": 10.2, "lost_events": 1, "any_saturated": False},
        {"client": "python", "store": "sqlite", "target_events_per_s": 1000.0, "runs": 2,
         "rank_p99_ms": [4.7, None], "worst_rank_p99_ms": 4.7, "lost_events": 0, "any_saturated": True},
    ]


def test_capacity_within_the_latency_bound_is_the_best_run_that_kept_it():
    def run(layout, rps, p99, saturated=False, lost=0):
        return {"layout": layout, "sustained_requests_per_s": rps, "rank_p99_ms": p99, "saturated": saturated,
                "lost_events": lost}
    runs = [run("one all process", 500, 6.0), run("learner + 2 rankers", 500, 4.0),
            run("one all process", 1000, 10.9), run("learner + 2 rankers", 1000, 7.5),
            run("one all process", 1500, 9.0, saturated=True), run("learner + 2 rankers", 1500, 9.9, lost=1)]
    out = bench.at_p99_bound(runs, 10.0)
    assert out["requests_per_s"] == {"one all process": 500, "learner + 2 rankers": 1000}
    assert out["ratio"] == 2.0
    assert bench.at_p99_bound(runs, 3.0)["ratio"] is None  # neither kept the bound
