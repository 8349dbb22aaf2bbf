"""The re-ranking MDP: conformance, candidates, and features built only from what a system sees."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from recloop.envs.rerank import FEATURES, CandidateRerankEnv

from agents.deep.toy_envs import boredom_rerank_world, play_rerank  # tests/ is on the path


def test_rerank_env_passes_check_env_and_shows_the_generator_shortlist():
    env, scores = boredom_rerank_world()
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert obs.shape == (5, len(FEATURES))
    assert info["candidates"].tolist() == [0, 1, 2, 3, 4]  # the generator's top 5, best first
    assert obs[:, FEATURES.index("rank")].tolist() == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])
    _, _, _, _, info = env.step(2)
    assert info["item"] == 2 and 2 not in info["candidates"].tolist()  # shown films leave the shortlist
    assert info["candidates"].tolist() == [0, 1, 3, 4, 5]


def test_overlap_features_follow_the_genres_of_what_was_shown():
    env, _ = boredom_rerank_world()
    obs, _ = env.reset(seed=0)
    assert np.all(obs[:, FEATURES.index("overlap_1")] == 0) and np.all(obs[:, FEATURES.index("since_genre")] == 1)
    genres = env.genres
    obs, *_ = env.step(0)  # film 0 is of genre 1; candidates now 1..5
    cand = env.candidates_
    expected = genres[cand] @ genres[0]
    assert obs[:, FEATURES.index("overlap_1")].tolist() == pytest.approx(expected.tolist())
    assert obs[:, FEATURES.index("since_genre")].tolist() == pytest.approx(np.where(expected > 0, 0.0, 1.0).tolist())


def test_observation_never_reads_the_simulators_user_model():
    """The same episode log gives the same observation whatever the simulated user's tastes."""
    env, _ = boredom_rerank_world()
    first, _ = env.reset(seed=3)
    env.sim.p_[:] = 7.0  # another user model: the system cannot know it
    env.sim.bi_[:] = -2.0
    second, _ = env.reset(seed=3)
    assert np.array_equal(first, second)


def test_bad_input_is_refused():
    env, _ = boredom_rerank_world()
    with pytest.raises(RuntimeError, match="reset"):
        CandidateRerankEnv(env.sim, env.scorer, n_candidates=5).step(0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="candidate index"):
        env.step(5)
    with pytest.raises(ValueError, match="n_candidates"):
        CandidateRerankEnv(env.sim, env.scorer, n_candidates=1)
    with pytest.raises(ValueError, match="exceeds the catalogue"):
        CandidateRerankEnv(env.sim, env.scorer, n_candidates=30)


def test_fresh_genres_beat_the_generators_order_in_the_boredom_world():
    """The known answer the learning tests rely on: rotating genres earns far more."""
    env, _ = boredom_rerank_world()
    top = play_rerank(env, lambda o: 0)
    fresh = play_rerank(env, lambda o: int(np.argmin(o[:, FEATURES.index("overlap_3")])))
    assert fresh > 1.6 * top  # measured: 3.15 against 1.73
