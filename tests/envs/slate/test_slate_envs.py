"""Interest evolution and long-term satisfaction: Gymnasium conformance, hand-computed
transitions, vectorised == single-user trajectories, RecSim defaults, bad input."""

import importlib.util

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from recloop.envs.slate import rng
from recloop.envs.slate import (InterestEvolution, InterestEvolutionVectorEnv, LongTermSatisfaction,
                                LongTermSatisfactionVectorEnv, MultinomialLogit, MultinomialProportional)
from recloop.envs.slate.choice import Cascade
from recloop.envs.slate.documents import ClusterDocumentSampler


@pytest.mark.parametrize("make", [InterestEvolution, lambda: InterestEvolution(choice="cascade" and Cascade(
    attention_prob=0.65, score_scaling=0.05)), lambda: LongTermSatisfaction(),
    lambda: LongTermSatisfaction(preset="meaningful", slate_size=3)])
def test_check_env(make):
    check_env(make(), skip_render_check=True)


def test_recsim_defaults():
    env = InterestEvolutionVectorEnv(2)
    um, ds = env.user_model, env.document_sampler
    assert (um.num_topics, um.time_budget, um.step_penalty) == (20, 200.0, 0.5)
    assert um.user_update_alpha == pytest.approx(0.9 / 3.4)
    assert (um.alpha_x_intercept, um.alpha_y_intercept) == (1.0, 0.3)
    assert (env.num_candidates, env.slate_size, env.resample_documents) == (10, 2, True)
    assert isinstance(env.choice_model, MultinomialProportional)
    assert (env.choice_model.no_click_mass, env.choice_model.min_normalizer) == (1.0, -1.0)
    np.testing.assert_allclose(ds.cluster_means, np.r_[np.linspace(-3, 0, 14), np.linspace(0, 3, 6)])
    assert (ds.quality_std, ds.video_length) == (0.1, 4.0)
    lts = LongTermSatisfactionVectorEnv(1)
    assert {k: lts.params[k] for k in ("memory_discount", "sensitivity", "innovation_stddev", "choc_mean",
                                       "choc_stddev", "kale_mean", "kale_stddev", "time_budget")} == dict(
        memory_discount=0.7, sensitivity=0.01, innovation_stddev=0.05, choc_mean=5.0, choc_stddev=1.0,
        kale_mean=4.0, kale_stddev=1.0, time_budget=60)


def _next_words(env, n):
    """The words the env will draw next (without consuming them)."""
    s = rng.UserStreams(env.num_envs)
    s.keys[:], s.counters[:] = env.streams.keys, env.streams.counters
    return s.words(n)


def test_interest_evolution_click_transition_by_hand():
    # MNL without a no-click option and a slate of one: the user surely clicks item 0.
    env = InterestEvolutionVectorEnv(1, slate_size=1, choice=MultinomialLogit())
    env.reset(seed=7)
    k = int(env.cluster[0, 0])
    env.interests[0, k] = 0.5
    q = float(env.quality[0, 0])
    w = _next_words(env, env.step_words)
    towards = rng.lo_uniform(w[:, 0])[0] < 0.75            # (I + 1) / 2
    step = (0.3 - 0.3 * 0.5) * (1 - 0.5)                    # alpha(I) (1 - I)
    expected_interest = 0.5 + step if towards else 0.5 - step
    before = env.interests.copy()
    obs, reward, term, _, _ = env.step([[0]])
    assert reward[0] == 4.0
    assert env.interests[0, k] == pytest.approx(expected_interest)
    others = np.delete(np.arange(20), k)
    np.testing.assert_array_equal(env.interests[0, others], before[0, others])
    assert env.budget[0] == pytest.approx(200 - 4 + (0.9 / 3.4) * 4 * q)
    assert obs["response"]["click"].tolist() == [[1]] and obs["response"]["cluster_id"][0, 0] == k
    # the next candidates are the documents encoded in the step's words
    docs = ClusterDocumentSampler().sample(w[:, 1:])
    np.testing.assert_array_equal(env.cluster, docs["cluster"])


def test_interest_evolution_no_click_and_end_of_session():
    env = InterestEvolutionVectorEnv(1)
    env.reset(seed=3)
    env.interests[:] = -1.0                                 # weights 0 vs no-click 2: never clicks
    env.budget[:] = 0.75
    obs, reward, term, _, _ = env.step([[0, 1]])
    assert reward[0] == 0.0 and env.budget[0] == pytest.approx(0.25) and not term[0]
    obs, reward, term, _, info = env.step([[2, 3]])
    assert term[0] and info["_final_obs"][0]
    assert env.budget[0] == 200.0                           # autoreset: a fresh user took the seat
    # watch time is cut by what is left of the budget
    env.reset(seed=3)
    env.interests[:] = 1.0
    env.budget[:] = 1.5
    env.choice_model = MultinomialLogit()                  # always clicks
    _, reward, term, _, _ = env.step([[0, 1]])
    assert reward[0] == 1.5


def test_choice_probabilities_by_hand():
    env = InterestEvolutionVectorEnv(1)
    env.reset(seed=3)
    env.interests[:] = 1.0
    np.testing.assert_allclose(env.choice_probabilities(np.array([[0, 1]])), [[1 / 3, 1 / 3, 1 / 3]])


def test_long_term_satisfaction_transition_by_hand():
    env = LongTermSatisfactionVectorEnv(1, preset="meaningful")
    env.reset(seed=11)
    p = env.params
    npe0, sat0, c = env.npe[0], env.satisfaction[0], env.clickbait[0, 4]
    w = _next_words(env, env.step_words)
    z_eng = rng.normal(rng.hi_uniform(w[:, 1]))[0]
    z_inn = rng.normal(rng.lo_uniform(w[:, 0]))[0]
    obs, reward, term, _, _ = env.step([[4]])
    loc = (c * 5.0 + (1 - c) * 4.0) * sat0
    scale = c * 0.2 + (1 - c) * 0.2
    assert reward[0] == pytest.approx(np.exp(loc + scale * z_eng))
    npe1 = p["memory_discount"] * npe0 - 2 * (c - 0.5) + p["innovation_stddev"] * z_inn
    assert env.npe[0] == pytest.approx(npe1)
    assert obs["user"][0, 0] == pytest.approx(1 / (1 + np.exp(-0.5 * npe1)), rel=1e-6)
    assert env.budget[0] == 59


def test_long_term_satisfaction_initial_npe_range():
    env = LongTermSatisfactionVectorEnv(5000)
    env.reset(seed=0)
    bound = 0.5 / (1 - 0.7)
    assert env.npe.min() >= -bound and env.npe.max() <= bound and env.npe.std() > 0.9 * bound / np.sqrt(3)


@pytest.mark.parametrize("vec, single, kw", [
    (InterestEvolutionVectorEnv, InterestEvolution, {}),
    (InterestEvolutionVectorEnv, InterestEvolution, {"num_candidates": 5, "slate_size": 3}),
    (LongTermSatisfactionVectorEnv, LongTermSatisfaction, {"preset": "meaningful", "slate_size": 2}),
])
def test_vectorised_equals_single_user_trajectories(vec, single, kw):
    B, T, seed = 4, 260, 42  # long enough for every interest-evolution user to finish a session
    venv = vec(B, **kw)
    envs = [single(**kw) for _ in range(B)]
    vobs, _ = venv.reset(seed=seed)
    sobs = [e.reset(seed=seed + i)[0] for i, e in enumerate(envs)]
    act_rng = np.random.default_rng(0)
    K, S = venv.num_candidates, venv.slate_size
    ends = 0
    for _ in range(T):
        for i in range(B):
            np.testing.assert_array_equal(vobs["user"][i], sobs[i]["user"])
            np.testing.assert_array_equal(vobs["doc"][i], sobs[i]["doc"])
        slates = np.stack([act_rng.permutation(K)[:S] for _ in range(B)])
        vobs, vrew, vterm, _, info = venv.step(slates)
        for i, e in enumerate(envs):
            o, r, t, _, _ = e.step(slates[i])
            assert r == vrew[i] and t == vterm[i]
            if t:
                ends += 1
                for key in o["response"]:
                    np.testing.assert_array_equal(info["final_obs"]["response"][key][i], o["response"][key])
                o, _ = e.reset()
            else:
                np.testing.assert_array_equal(vobs["response"]["click"][i], o["response"]["click"])
            sobs[i] = o
    assert ends >= B


def test_reset_is_reproducible_and_seeds_differ():
    a, b = InterestEvolutionVectorEnv(3), InterestEvolutionVectorEnv(3)
    oa, ob = a.reset(seed=5)[0], b.reset(seed=5)[0]
    np.testing.assert_array_equal(oa["user"], ob["user"])
    assert not np.array_equal(oa["user"][0], oa["user"][1])
    assert not np.array_equal(a.reset(seed=6)[0]["user"], oa["user"])


def test_user_interest_and_quality_distributions():
    env = InterestEvolutionVectorEnv(4000)
    obs, _ = env.reset(seed=1)
    u = obs["user"]
    assert u.min() >= -1 and u.max() <= 1 and abs(u.mean()) < 0.01 and abs(u.var() - 1 / 3) < 0.01
    resid = env.quality - env.document_sampler.cluster_means[env.cluster]
    assert abs(resid.std() - 0.1) < 0.002 and abs(resid.mean()) < 0.002
    counts = np.bincount(env.cluster.ravel(), minlength=20)
    assert counts.min() > 0.9 * counts.mean()


@pytest.mark.parametrize("slates, match", [
    ([[1, 1]], "twice"), ([[0, 10]], "out of range"), ([[-1, 2]], "out of range"), ([[0, 1, 2]], "shape"),
    ([[0.5, 1]], "integer"),
])
def test_bad_slates_raise_clearly(slates, match):
    env = InterestEvolutionVectorEnv(1)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        env.step(slates)
    single = InterestEvolution()
    single.reset(seed=0)
    with pytest.raises(ValueError, match=match):
        single.step(slates[0])


@pytest.mark.parametrize("make, match", [
    (lambda: InterestEvolutionVectorEnv(1, num_candidates=2, slate_size=3), "cannot exceed"),
    (lambda: InterestEvolution(slate_size=0), "slate_size"),
    (lambda: InterestEvolutionVectorEnv(0), "num_envs"),
    (lambda: InterestEvolutionVectorEnv(1, user_model={"time_budget": -1}), "time_budget"),
    (lambda: InterestEvolutionVectorEnv(1, user_model={"num_topics": 5}, document_sampler={"num_clusters": 20}),
     "clusters"),
    (lambda: InterestEvolutionVectorEnv(1, document_sampler={"quality_std": -0.1}), "quality_std"),
    (lambda: LongTermSatisfaction(preset="tasty"), "unknown preset"),
    (lambda: LongTermSatisfaction(memory_discount=1.0), "memory_discount"),
    (lambda: LongTermSatisfaction(time_budget=0), "time_budget"),
])
def test_bad_config_raises_clearly(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_step_before_reset_raises():
    with pytest.raises(RuntimeError, match="reset"):
        InterestEvolutionVectorEnv(1).step([[0, 1]])


def test_meaningful_preset_punishes_clickbait():
    """Always serving the most clickbaity item earns far less than a planned mix (docs/slate.md)."""
    def run(policy, **kw):
        env = LongTermSatisfactionVectorEnv(300, **kw)
        obs, _ = env.reset(seed=0)
        total, done = np.zeros(300), np.zeros(300, bool)
        while not done.all():
            obs, r, t, _, _ = env.step(policy(obs)[:, None])
            total += np.where(done, 0, r)
            done |= t
        return total.mean()
    myopic = lambda o: o["doc"][..., 0].argmax(1)
    mix = lambda o: np.where(o["user"][:, 0] > 0.95, o["doc"][..., 0].argmax(1), o["doc"][..., 0].argmin(1))
    assert run(mix, preset="meaningful") > 10 * run(myopic, preset="meaningful")
    # with RecSim's defaults clickbait wins: there is no long-term trade-off to learn
    assert run(myopic) > 1.2 * run(lambda o: o["doc"][..., 0].argmin(1))


def test_registered_under_env_kind(monkeypatch):
    from recloop.core import registry
    present = [m for m in registry._PROVIDERS["env"] if importlib.util.find_spec(m) is not None]
    monkeypatch.setitem(registry._PROVIDERS, "env", present)
    assert isinstance(registry.make("env", "interest-evolution"), InterestEvolution)
    assert isinstance(registry.make("env", "long-term-satisfaction", num_envs=3), LongTermSatisfactionVectorEnv)
