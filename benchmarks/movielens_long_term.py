"""Long-term return on the fitted MovieLens user simulator: myopic recommenders vs RL.

Every policy plays the same evaluation users (episode seeds ``EVAL_SEED + i``) of
``recloop.envs.movielens.MovieLensSimulator`` and is scored on what it earns per episode, with
why: ``steps`` (recommendations before the user leaves; at most 50), ``rating`` (the user's
true predicted rating of what was shown; clicks need about 3.5) and ``boredom`` (rating points
lost to repeated genres and films when it was shown).

* References over the whole catalogue (they read the simulator; no real system could):
  random, greedy on the user's true rating (blind to boredom), greedy on the true expected reward.
* The re-ranking MDP (``recloop.envs.rerank.CandidateRerankEnv``): a rating MF trained on the
  training logs proposes 20 films; a policy sees only their features (generator score, genres
  against what was shown, this episode's clicks and ratings, the user's training ratings).
  - myopic: the generator's top film (the supervised recommender); a hand-set diversity rule.
  - online RL: double DQN over candidate features (``DQN(network="candidates")``), trained in
    the simulator for ``--online-steps`` steps.
  - offline RL from logs: ``--offline-episodes`` episodes of the behaviour policy (the generator
    with softmax exploration over its shortlist, temperature ``--behaviour-temperature`` on the
    standardised score); discrete CQL, offline DQN (CQL with alpha 0) and behaviour cloning on
    them, and d3rlpy's DiscreteCQL on the same file (``benchmarks/peers/d3rlpy_cql.py``, its own venv).
Each training seed (``--seeds``) trains every learner afresh and logs its own data.

    nice -n 10 python benchmarks/movielens_long_term.py --seeds 0 1 2 3 4 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from movielens_ranking import play_episode  # the same greedy rollout as the ranking benchmark's references

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

EVAL_SEED = 70_000
D3RLPY = Path(os.environ.get("D3RLPY_PYTHON", ROOT / ".bench-venvs" / "d3rlpy" / "bin" / "python"))


def world(n_candidates: int = 20):
    from recloop.data.movielens import load_movielens
    from recloop.data.splits import leave_one_out
    from recloop.envs.movielens import MovieLensSimulator
    from recloop.envs.rerank import CandidateRerankEnv, rating_mf_scorer

    ml = load_movielens()
    split = leave_one_out(ml)
    sim = MovieLensSimulator(ml, split, seed=0)
    return sim, CandidateRerankEnv(sim, rating_mf_scorer(split), n_candidates=n_candidates)


def play(env, choose, episodes: int, seed: int = EVAL_SEED) -> dict:
    """Mean return, steps, true rating and boredom of the shown films, for a policy over the
    shortlist: ``choose(obs) -> candidate index``. ``returns`` keeps each episode's return."""
    sim, returns, steps, rating, boredom = env.sim, [], 0, 0.0, 0.0
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        taste, total, done = sim.predicted_ratings(sim.user), 0.0, False
        while not done:
            a = int(choose(obs))
            item = int(env.candidates_[a])
            rating += taste[item]
            boredom += sim.boredom()[item]
            obs, r, term, trunc, _ = env.step(a)
            total += r
            steps += 1
            done = term or trunc
        returns.append(total)
    return {"return": float(np.mean(returns)), "steps": steps / episodes, "rating": rating / steps,
            "boredom": boredom / steps, "returns": returns}


def references(episodes: int) -> dict:
    """Catalogue-wide references (they read the simulator) and the myopic re-rankers."""
    sim, env = world()

    class Oracle:
        def score(self, _hist):
            return [sim.expected_rewards()]

    class Taste:
        def score(self, _hist):
            return [sim.predicted_ratings(sim.user)]

    out = {}
    for name, policy in (("random", None), ("greedy-taste", Taste()), ("greedy-oracle", Oracle())):
        per_ep = [play_episode(policy, sim, EVAL_SEED + ep) for ep in range(episodes)]
        out[name] = _summ(per_ep)
    out["generator-greedy"] = play(env, lambda o: 0, episodes)
    # a hand-set rule, not tuned: the generator's order, penalised by genre overlap with the last 5 shown
    out["diversity-rule"] = play(env, lambda o: int(np.argmax(o[:, 1] - 3.0 * o[:, 5])), episodes)
    rng = np.random.default_rng(0)
    out["random-candidate"] = play(env, lambda o: int(rng.integers(len(o))), episodes)
    return out


def _summ(per_ep: list[dict]) -> dict:
    steps = sum(e["steps"] for e in per_ep)
    return {"return": float(np.mean([e["return"] for e in per_ep])), "steps": steps / len(per_ep),
            "rating": sum(e["rating"] for e in per_ep) / steps, "boredom": sum(e["boredom"] for e in per_ep) / steps,
            "returns": [e["return"] for e in per_ep]}


def behaviour_policy(temperature: float):
    """The generator with exploration: softmax over its shortlist of the standardised score."""
    def act(obs: np.ndarray, rng: np.random.Generator) -> tuple[int, float]:
        z = obs[:, 1] / temperature
        p = np.exp(z - z.max())
        p /= p.sum()
        a = int(rng.choice(len(p), p=p))
        return a, float(p[a])
    return act


def trajectory_weights(data, choose) -> np.ndarray:
    """Per-episode importance weights prod_t 1[a_t = pi(s_t)] / b(a_t | s_t) of a greedy policy."""
    match = np.array([choose(o) == a for o, a in zip(data.obs, data.actions)], float)
    log_w = np.where(match > 0, -np.log(data.propensities), -np.inf)
    return np.exp(np.bincount(data.episodes, weights=np.where(np.isfinite(log_w), log_w, 0.0))) * \
        (np.bincount(data.episodes, weights=1 - match) == 0)


def ess(w: np.ndarray) -> float:
    return float(w.sum() ** 2 / (w ** 2).sum()) if w.sum() > 0 else 0.0


def run_seed(seed: int, args: argparse.Namespace) -> dict:
    """Train every learner of one seed and play each on the evaluation users."""
    import torch

    torch.set_num_threads(1)
    from recloop.agents.deep import DQN, BehaviourCloning, DiscreteCQL
    from recloop.agents.deep.offline import collect_transitions

    _, env = world(args.candidates)
    out: dict = {"seed": seed, "load_before": os.getloadavg(), "policies": {}, "train_cpu_s": {}}
    greedy = lambda agent: (lambda o: int(agent.act(o, explore=False)))  # noqa: E731

    cpu = time.process_time()
    dqn = DQN(network="candidates", hidden=(64, 64), gamma=args.gamma, lr=1e-3, learning_starts=1000, batch_size=64,
              buffer_size=50_000, target_update_interval=500,
              exploration={"kind": "linear", "start": 1.0, "end": 0.05, "steps": args.online_steps // 3}, seed=seed)
    dqn.learn(env, args.online_steps, seed=seed)
    out["train_cpu_s"]["dqn-online"] = time.process_time() - cpu
    out["policies"]["dqn-online"] = play(env, greedy(dqn), args.episodes)

    cpu = time.process_time()
    behaviour = behaviour_policy(args.behaviour_temperature)
    data = collect_transitions(env, behaviour, args.offline_episodes, seed=100_000 + 10_000 * seed)
    out["log"] = {"episodes": args.offline_episodes, "transitions": len(data), "collect_cpu_s": time.process_time() - cpu,
                  "behaviour_on_sample_return": float(data.episode_returns().mean())}
    rng = np.random.default_rng(seed)
    out["policies"]["behaviour"] = play(env, lambda o: behaviour(o, rng)[0], args.episodes)
    learners = {f"cql-alpha{a:g}": DiscreteCQL(network="candidates", alpha=a, gamma=args.gamma, seed=seed)
                for a in args.alphas}
    learners["bc"] = BehaviourCloning(network="candidates", seed=seed)
    ope = {}
    for name, agent in learners.items():
        cpu = time.process_time()
        agent.learn_offline(data, args.offline_steps, n_actions=args.candidates)
        out["train_cpu_s"][name] = time.process_time() - cpu
        out["policies"][name] = play(env, greedy(agent), args.episodes)
        w = trajectory_weights(data, greedy(agent))
        ope[name] = {"episodes_followed": int((w > 0).sum()), "ess": ess(w)}
    out["ope_trajectory_is"] = ope

    peer = d3rlpy_cql(data, seed, args)
    if "error" in peer:
        out["d3rlpy"] = peer
    else:
        policy = peer.pop("_policy")
        out["d3rlpy"] = peer
        flat = lambda o: int(policy(torch.as_tensor(o.reshape(1, -1)))[0])  # noqa: E731
        out["policies"][f"d3rlpy-cql-alpha{args.peer_alpha:g}"] = play(env, flat, args.episodes)
    out["load_after"] = os.getloadavg()
    return out


def d3rlpy_cql(data, seed: int, args: argparse.Namespace) -> dict:
    """Train d3rlpy's DiscreteCQL on the same log in its own venv; load its TorchScript policy here."""
    import torch

    if not D3RLPY.exists():
        return {"error": f"{D3RLPY} missing: run benchmarks/peers/d3rlpy.sh"}
    tmp = Path(tempfile.mkdtemp(prefix="d3rlpy-"))
    np.savez(tmp / "data.npz", obs=data.obs, actions=data.actions, rewards=data.rewards, terminated=data.terminated,
             truncated=data.truncated, n_actions=args.candidates)
    proc = subprocess.run([str(D3RLPY), str(ROOT / "benchmarks/peers/d3rlpy_cql.py"), str(tmp / "data.npz"),
                           str(tmp / "policy.pt"), "--steps", str(args.offline_steps), "--alpha", str(args.peer_alpha),
                           "--gamma", str(args.gamma), "--seed", str(seed)],
                          capture_output=True, text=True, env=os.environ | {"OMP_NUM_THREADS": "1"})
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": proc.stderr[-800:]}
    out = json.loads(lines[-1])
    out["_policy"] = torch.jit.load(str(tmp / "policy.pt"))
    return out


def interval(values: list[float]) -> list[float]:
    """Mean and the 95% t-interval of the mean."""
    from scipy import stats

    v = np.asarray(values, float)
    if len(v) < 2:
        return [float(v.mean()), float("nan"), float("nan")]
    half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return [float(v.mean()), float(v.mean() - half), float(v.mean() + half)]


def summarise(refs: dict, runs: list[dict]) -> dict:
    """References: interval over evaluation episodes. Trained policies: over seeds (each seed's
    mean over the evaluation episodes), with the per-seed means listed."""
    out = {}
    for name, r in refs.items():
        out[name] = {"return": interval(r["returns"]), "steps": r["steps"], "rating": r["rating"],
                     "boredom": r["boredom"], "interval_over": f"{len(r['returns'])} episodes"}
    names = sorted({n for run in runs for n in run["policies"]}, key=lambda n: list(runs[0]["policies"]).index(n)
                   if n in runs[0]["policies"] else 99)
    for name in names:
        rs = [run for run in runs if name in run["policies"]]
        per_seed = [run["policies"][name]["return"] for run in rs]
        out[name] = {"return": interval(per_seed), "per_seed": per_seed, "seeds": [run["seed"] for run in rs],
                     "interval_over": f"{len(rs)} seeds"}
        for k in ("steps", "rating", "boredom"):
            out[name][k] = float(np.mean([run["policies"][name][k] for run in rs]))
        if all("behaviour" in run["policies"] for run in rs):  # per seed: over the behaviour policy of that seed's logs
            out[name]["times_behaviour"] = interval([run["policies"][name]["return"] / run["policies"]["behaviour"]["return"]
                                                     for run in rs])
        if "greedy-taste" in refs:  # paired on the same users: this policy's mean over seeds, episode by episode
            mine = np.mean([run["policies"][name]["returns"] for run in rs], axis=0)
            out[name]["minus_greedy_taste"] = interval(list(mine - np.asarray(refs["greedy-taste"]["returns"])))
        cpu = [run["train_cpu_s"][name] for run in rs if name in run["train_cpu_s"]]
        if cpu:
            out[name]["train_cpu_s"] = float(np.mean(cpu))
    return out


ROWS = [  # (name in the JSON, what it is, kind)
    ("random", "random film from the catalogue", "reference"),
    ("greedy-taste", "greedy on the user's true rating, blind to boredom (reads the simulator)", "reference"),
    ("greedy-oracle", "greedy on the true expected reward, boredom included (reads the simulator)", "reference"),
    ("generator-greedy", "the candidate generator's top film (rating MF from the logs)", "myopic, supervised"),
    ("random-candidate", "a random film of the generator's top 20", "reference"),
    ("diversity-rule", "the shortlist by score, penalised by genres of the last 5 shown (hand-set, not RL)", "heuristic"),
    ("dqn-online", "double DQN re-ranker trained in the simulator", "online RL"),
    ("behaviour", "the logging policy: softmax over the shortlist's standardised scores", "behaviour"),
    ("bc", "behaviour cloning of the logs", "offline, imitation"),
    ("cql-alpha0", "offline double DQN (CQL weight 0)", "offline RL"),
    ("cql-alpha0.1", "discrete CQL, weight 0.1", "offline RL"),
    ("cql-alpha1", "discrete CQL, weight 1 (d3rlpy's default)", "offline RL"),
]


def markdown(result: dict) -> str:
    """The docs table: return with its 95% interval, and why (steps, true rating, boredom)."""
    summary = result["summary"]
    peers = [n for n in summary if n.startswith("d3rlpy")]
    rows = ROWS + [(n, "d3rlpy 2.8.1 DiscreteCQL on the same logs, same network, weight "
                    + n.rsplit("alpha", 1)[1], "offline RL, peer") for n in peers]
    lines = ["| policy | kind | return per episode (95% interval) | over | x behaviour | minus greedy-taste, same users "
             "| steps | true rating | boredom | train CPU-s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, what, kind in rows:
        if name not in summary:
            continue
        e = summary[name]
        mean, lo, hi = e["return"]
        cpu = f"{e['train_cpu_s']:.0f}" if "train_cpu_s" in e else "-"
        ratio = "{:.2f} ({:.2f} to {:.2f})".format(*e["times_behaviour"]) if "times_behaviour" in e else "-"
        diff = "{:+.2f} ({:+.2f} to {:+.2f})".format(*e["minus_greedy_taste"]) if "minus_greedy_taste" in e else "-"
        lines.append(f"| {what} (`{name}`) | {kind} | {mean:.2f} ({lo:.2f} to {hi:.2f}) | {e['interval_over']} | {ratio} | {diff} "
                     f"| {e['steps']:.1f} | {e['rating']:.2f} | {e['boredom']:.2f} | {cpu} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--episodes", type=int, default=100, help="evaluation episodes per policy")
    ap.add_argument("--candidates", type=int, default=20)
    ap.add_argument("--gamma", type=float, default=0.9)
    ap.add_argument("--online-steps", type=int, default=20_000)
    ap.add_argument("--offline-episodes", type=int, default=1_000)
    ap.add_argument("--offline-steps", type=int, default=10_000, help="gradient steps of each offline learner")
    ap.add_argument("--behaviour-temperature", type=float, default=1.0)
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.1, 1.0], help="CQL weights (0: offline DQN)")
    ap.add_argument("--peer-alpha", type=float, default=0.1, help="d3rlpy's CQL weight")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/movielens_long_term.json"))
    ap.add_argument("--from-partial", metavar="JSONL",
                    help="train nothing: summarise the seeds an invocation finished (its .partial.jsonl, the "
                         "invocation cut short), with the references recomputed (deterministic)")
    ap.add_argument("--references-from", metavar="JSON",
                    help="with --from-partial: take the references from this result file instead of recomputing them")
    ap.add_argument("--render", action="store_true", help="only print --out's table as markdown")
    args = ap.parse_args()
    if args.render:
        print(markdown(json.loads(Path(args.out).read_text())))
        return
    if args.from_partial:
        runs = sorted((json.loads(ln) for ln in Path(args.from_partial).read_text().splitlines() if ln.strip()),
                      key=lambda r: r["seed"])
        refs = (json.loads(Path(args.references_from).read_text())["references"] if args.references_from
                else references(args.episodes))
        result = {"benchmark": "movielens_long_term",
                  "command": "see settings; seeds finished before the invocation was stopped: "
                             + ", ".join(str(r["seed"]) for r in runs),
                  "summarised_by": shlex.join(["benchmarks/movielens_long_term.py", *sys.argv[1:]]),
                  "settings": vars(args) | {"eval_seed": EVAL_SEED, "seeds": [r["seed"] for r in runs]},
                  "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared with other jobs)",
                  "summary": summarise(refs, runs), "references": refs, "runs": runs}
        Path(args.out).write_text(json.dumps(result, indent=1))
        print(json.dumps(result["summary"], indent=1))
        return
    from recloop.data.movielens import ensure_ml100k

    ensure_ml100k()
    start, load_before = time.perf_counter(), os.getloadavg()
    runs = []
    partial = Path(args.out).with_suffix(".partial.jsonl")
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_text("")
    with ProcessPoolExecutor(args.workers) as pool:
        refs_job = pool.submit(references, args.episodes)
        jobs = [pool.submit(run_seed, s, args) for s in args.seeds]
        for j in as_completed(jobs):
            r = j.result()
            runs.append(r)
            with partial.open("a") as fh:
                fh.write(json.dumps(r) + "\n")
            print(json.dumps({"seed": r["seed"], **{k: round(v["return"], 2) for k, v in r["policies"].items()}}),
                  file=sys.stderr, flush=True)
        refs = refs_job.result()
    runs.sort(key=lambda r: r["seed"])
    result = {"benchmark": "movielens_long_term",
              "command": shlex.join(["benchmarks/movielens_long_term.py", *sys.argv[1:]]),
              "settings": vars(args) | {"eval_seed": EVAL_SEED},
              "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared with other jobs)",
              "load_before": load_before, "load_after": os.getloadavg(), "wall_s": time.perf_counter() - start,
              "summary": summarise(refs, runs), "references": refs, "runs": runs}
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result["summary"].items()}, indent=1))


if __name__ == "__main__":
    main()
