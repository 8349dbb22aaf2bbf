"""MovieLens environments: Gymnasium conformance, replay semantics, simulator truth."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from recloop.data.movielens import MovieLens
from recloop.data.splits import sequences_split
from recloop.envs.movielens import FrameEnv, MovieLensSimulator, SeqEnv


def tiny():
    rng = np.random.default_rng(0)
    n_users, n_items = 20, 12
    users = np.repeat(np.arange(n_users), 10)
    items = np.concatenate([rng.permutation(n_items)[:10] for _ in range(n_users)])
    ratings = rng.integers(1, 6, len(users)).astype(np.float32)
    times = np.tile(np.arange(10), n_users)
    genres = np.eye(3, dtype=np.int8)[np.arange(n_items) % 3]
    data = MovieLens(name="tiny", users=users, items=items, ratings=ratings, timestamps=times,
                     user_ids=np.arange(1, n_users + 1), item_ids=np.arange(1, n_items + 1),
                     titles=tuple(f"m{i}" for i in range(n_items)), years=np.zeros(n_items, np.int64),
                     genres=genres, genre_names=("a", "b", "c"), user_features={})
    return data, sequences_split(users, items, ratings, times, n_users=n_users, n_items=n_items)


def test_envs_pass_check_env():
    data, split = tiny()
    emb = np.random.default_rng(1).normal(size=(split.n_items, 4)).astype(np.float32)
    check_env(FrameEnv(split, emb, frame=3), skip_render_check=True)
    check_env(SeqEnv(split, max_len=6), skip_render_check=True)
    check_env(MovieLensSimulator(data, split, frame=3, dim=4), skip_render_check=True)


def test_replay_reward_is_the_later_rating_and_state_follows_the_log():
    _, split = tiny()
    env = SeqEnv(split, max_len=6, warmup=3)
    obs, info = env.reset(seed=0, options={"user": 4})
    seq, rat = split.train_sequence(4), split.train_ratings(4)
    assert info["history"].tolist() == seq[:3].tolist() and obs["items"][-3:].tolist() == (seq[:3] + 1).tolist()
    later = int(seq[5])
    _, r, *_ , info = env.step(later)
    assert r == pytest.approx((rat[5] - 3) / 2)
    assert info["history"].tolist() == seq[:4].tolist()  # the log, not the action, moves the state
    _, r, *_ = env.step(int(seq[0]))  # already watched: no reward
    assert r == 0.0
    held_out = split.sequences[4][-1]
    if held_out not in seq:
        env.reset(options={"user": 4})
        assert env.step(int(held_out))[1] == 0.0  # the test item never pays in training replay


def test_frame_env_rejects_bad_input():
    _, split = tiny()
    with pytest.raises(ValueError, match="item_embeddings must be"):
        FrameEnv(split, np.zeros((3, 2)))
    env = FrameEnv(split, np.zeros((split.n_items, 2)), frame=3)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="not an item index"):
        env.step(99)


def test_simulator_truth_and_boredom():
    data, split = tiny()
    sim = MovieLensSimulator(data, split, frame=3, dim=4, genre_boredom=2.0)
    assert sim.user == -1  # no episode yet
    _, info = sim.reset(seed=0, options={"user": 7})
    assert sim.user == info["user"] == 7
    sim.reset(seed=0, options={"user": 0})
    before = sim.expected_rewards()
    assert before.shape == (split.n_items,) and np.all((before >= 0) & (before <= 1))
    item = int(np.argmax(before))
    for _ in range(3):
        sim.step(item)
    after = sim.expected_rewards()
    same_genre = data.genres[:, np.argmax(data.genres[item])] == 1
    assert np.all(after[same_genre] < before[same_genre])  # boredom from a repeated genre
    # greedy on the truth beats random over whole episodes (long-term return)
    def run(policy, episodes=30):
        total = 0.0
        for ep in range(episodes):
            sim.reset(seed=ep)
            done = False
            while not done:
                _, r, te, tr, _ = sim.step(policy())
                total += r
                done = te or tr
        return total / episodes
    greedy = run(lambda: int(np.argmax(sim.expected_rewards())))
    rand = run(lambda: int(sim.np_random.integers(split.n_items)))
    assert greedy > rand


def test_registry_builds_the_movielens_envs_from_a_folder(tmp_path, monkeypatch):
    from recloop.core.registry import make

    monkeypatch.setenv("RECLOOP_CACHE", str(tmp_path / "cache"))  # the metadata embedding cache

    data, _ = tiny()
    rows = "".join(f"{u + 1}\t{i + 1}\t{int(r)}\t{t}\n" for u, i, r, t in zip(data.users, data.items, data.ratings, data.timestamps))
    (tmp_path / "u.data").write_text(rows)
    (tmp_path / "u.item").write_text("".join(f"{i}|Film {i} (199{i % 10})|||x|" + "|".join("1" if g == i % 19 else "0" for g in range(19)) + "\n"
                                             for i in range(1, 13)))
    frame = make("env", "movielens-frame", path=str(tmp_path), frame=3)
    obs, _ = frame.reset(seed=0)
    assert obs.shape == (3, 19 + 9 + 1)  # metadata embedding (genres + decades) + rating
    seq = make("env", "movielens-seq", path=str(tmp_path), max_len=6)
    assert seq.reset(seed=0)[0]["items"].shape == (6,)
    sim = make("env", "movielens-sim", path=str(tmp_path), frame=3, dim=4)
    check_env(sim, skip_render_check=True)


def test_benchmark_rollouts_report_return_length_rating_and_boredom():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "movielens_ranking.py"
    spec = importlib.util.spec_from_file_location("movielens_ranking", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    data, split = tiny()
    sim = MovieLensSimulator(data, split, frame=3, dim=4, patience=2, episode_length=6)
    seen, step = [], sim.step

    def recording_step(action):  # what the rollout should average, read before the step changes it
        seen.append((sim.predicted_ratings(sim.user)[action], sim.boredom()[action]))
        out = step(action)
        seen[-1] += (out[1],)
        return out

    sim.step = recording_step

    class ByTaste:
        def score(self, _hist):
            return [sim.predicted_ratings(sim.user)]

    out = bench.simulator_rollouts(ByTaste(), sim, episodes=4, seed=1)
    rating, boredom, reward = np.array(seen).T
    assert out["steps"] == len(seen) / 4 and 1 <= out["steps"] <= 6
    assert out["return"] == pytest.approx(reward.sum() / 4)
    assert out["rating"] == pytest.approx(rating.mean()) and out["boredom"] == pytest.approx(boredom.mean())
    assert out["boredom"] > 0  # twelve films in three genres: a greedy run repeats genres


def test_expected_rating_is_the_mean_of_the_rounded_clipped_noisy_rating():
    from recloop.envs.movielens import expected_rounded_rating

    assert float(expected_rounded_rating(5.0, 0.5)) == pytest.approx(4.8400, abs=1e-4)  # 1 + Phi(7) + Phi(5) + Phi(3) + Phi(1)
    assert float(expected_rounded_rating(1.2, 0.5)) == pytest.approx(1.2790, abs=1e-4)
    x = np.array([0.3, 1.0, 1.2, 2.5, 3.49, 3.7, 4.5, 5.0, 6.0])
    z = np.random.default_rng(0).normal(size=(400_000, 1))
    for noise in (0.5, 1.3):
        monte_carlo = np.clip(np.rint(x + noise * z), 1, 5).mean(0)
        assert np.allclose(expected_rounded_rating(x, noise), monte_carlo, atol=0.01)
    assert expected_rounded_rating(x, 0.0).tolist() == np.clip(np.rint(x), 1, 5).tolist()
    with pytest.raises(ValueError, match="noise"):
        expected_rounded_rating(x, -1.0)


def test_simulator_expected_reward_matches_the_mean_step_reward():
    data, split = tiny()
    sim = MovieLensSimulator(data, split, frame=3, dim=4)
    sim.reset(seed=0, options={"user": 3})
    truth = sim.expected_rewards()
    for item in (int(np.argmax(truth)), int(np.argmin(truth))):
        rewards = []
        for ep in range(3000):
            sim.reset(seed=ep, options={"user": 3})
            rewards.append(sim.step(item)[1])
        assert np.mean(rewards) == pytest.approx(truth[item], abs=4 * np.std(rewards) / np.sqrt(3000) + 1e-3)
