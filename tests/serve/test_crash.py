"""kill -9 under load, restart, repeat: nothing acknowledged is lost, learning is exactly-once.

(The ten-kill version runs in ``benchmarks/serve_load.py --crash``.)
"""

import pytest

from recloop.apps.crash import drill


@pytest.mark.slow
def test_kill9_under_load_loses_nothing_and_learns_exactly_once(tmp_path):
    r = drill(tmp_path, kills=3, seed=1)
    assert r.acked_rewards > 20, r
    assert r.missing_decisions == [] and r.wrong_decisions == [] and r.missing_rewards == []
    assert r.stored_decisions >= r.acked_decisions and r.stored_rewards >= r.acked_rewards
    assert r.model_equal, r


@pytest.mark.slow
def test_kill9_of_rankers_and_the_learner_loses_nothing(db, tmp_path):
    """Scale-out: a random one of learner, ranker, ranker is killed each time."""
    url, schema = db
    if url.startswith("sqlite"):
        pytest.skip("scale-out needs PostgreSQL")
    from recloop.apps.crash import scaled_drill
    r = scaled_drill(tmp_path, url, schema=schema, kills=4, seed=3)
    assert r.acked_rewards > 20, r
    assert r.missing_decisions == [] and r.wrong_decisions == [] and r.missing_rewards == []
    assert r.stored_decisions >= r.acked_decisions and r.stored_rewards >= r.acked_rewards
    assert r.model_equal, r
