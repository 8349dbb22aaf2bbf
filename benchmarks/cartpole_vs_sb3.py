"""CartPole-v1: recloop DQN / A2C / PPO against Stable-Baselines3 DQN / PPO (zoo hyper-parameters).

Protocol (issue 4): evaluate the greedy policy on 20 seeded episodes every 5,000
environment steps; a run succeeds at the first evaluation whose mean return is
>= 475. We report the steps and the wall seconds of *training only* (evaluation
time is measured and subtracted) until then, for several seeds, recloop and
SB3 run back to back on the same machine in the same invocation, and the
ratio recloop / SB3. Process CPU seconds (``time.process_time``, evaluation
excluded) are reported beside wall seconds: on a shared machine they move less
with other people's load.

    .venv/bin/python benchmarks/cartpole_vs_sb3.py            # sets up .bench-venvs/sb3 if needed
    .venv/bin/python benchmarks/cartpole_vs_sb3.py --seeds 0 1 2 --agents ppo dqn --peers ppo dqn
    .venv/bin/python benchmarks/cartpole_vs_sb3.py --combine a.json b.json --out all.json   # pool runs' seeds
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from recloop.agents.deep import A2C, DQN, PPO, EvalCallback  # noqa: E402

SB3_PY = ROOT / ".bench-venvs" / "sb3" / "bin" / "python"
EVERY, EPISODES, EVAL_SEED, THRESHOLD = 5000, 20, 1000, 475.0

# recloop settings. DQN: the zoo's SB3 setting (bursts of 128 updates every 256 steps,
# target synced every 10 steps) on a 64x64 net instead of 256x256. PPO: the zoo's setting
# exactly (it is PPO's default); ppo16: the same on 16 envs. A2C: 8 envs x 5 steps, Adam 7e-4.
AGENTS = {
    "dqn": (lambda seed: DQN(seed=seed, hidden=(64, 64), lr=2.3e-3, batch_size=64, buffer_size=100_000,
                             learning_starts=1000, gamma=0.99, target_update_interval=10, train_freq=256,
                             gradient_steps=128, exploration={"kind": "linear", "start": 1.0, "end": 0.04,
                                                              "steps": 8000}), 50_000),
    "ppo": (lambda seed: PPO(seed=seed), 100_000),
    # the zoo setting on 16 envs (rollouts of 512, one 512-step minibatch): half the updates per env step
    "ppo16": (lambda seed: PPO(seed=seed, n_envs=16, batch_size=512), 100_000),
    "a2c": (lambda seed: A2C(seed=seed), 100_000),
}


def run_recloop(name: str, seed: int) -> dict:
    make, budget = AGENTS[name]
    agent = make(seed)
    ev = EvalCallback("CartPole-v1", every=EVERY, episodes=EPISODES, seed=EVAL_SEED, stop_at=THRESHOLD)
    t0, c0 = time.perf_counter(), time.process_time()
    agent.learn("CartPole-v1", budget, callbacks=[ev])
    wall = time.perf_counter() - t0 - ev.eval_seconds
    cpu = time.process_time() - c0 - ev.eval_cpu_seconds
    reached = next((e.step for e in ev.history if e.mean_return >= THRESHOLD), None)
    return {"library": "recloop", "algo": name, "seed": seed, "reached_step": reached, "train_seconds": wall,
            "train_cpu_seconds": cpu, "budget": budget, "evals": [[e.step, e.mean_return] for e in ev.history]}


def run_sb3(algo: str, seed: int) -> dict:
    out = subprocess.run([str(SB3_PY), str(ROOT / "benchmarks" / "peers" / "sb3_cartpole.py"), "--algo", algo,
                          "--seed", str(seed), "--every", str(EVERY), "--episodes", str(EPISODES),
                          "--eval-seed", str(EVAL_SEED), "--threshold", str(THRESHOLD)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def summarise(runs: list[dict]) -> dict:
    out: dict = {}
    for key in sorted({(r["library"], r["algo"]) for r in runs}):
        rs = [r for r in runs if (r["library"], r["algo"]) == key]
        ok = [r for r in rs if r["reached_step"] is not None]
        out[f"{key[0]}/{key[1]}"] = {
            "seeds": len(rs), "reached": len(ok),
            "mean_train_seconds": float(np.mean([r["train_seconds"] for r in ok])) if ok else None,
            "mean_steps": float(np.mean([r["reached_step"] for r in ok])) if ok else None,
            "mean_train_cpu_seconds": float(np.mean([r["train_cpu_seconds"] for r in ok]))
            if ok and all("train_cpu_seconds" in r for r in ok) else None,
            "train_seconds": [round(r["train_seconds"], 2) for r in rs],
            "steps": [r["reached_step"] for r in rs],
        }
    return out


def ratio(summary: dict, ours: list[str], theirs: list[str]) -> dict | None:
    """Best (lowest mean wall) of ``ours`` over best of ``theirs``, among those that reached on every seed."""
    def best(keys):
        ok = [(summary[k]["mean_train_seconds"], k) for k in keys
              if k in summary and summary[k]["reached"] == summary[k]["seeds"]]
        return min(ok) if ok else None
    a, b = best(ours), best(theirs)
    if a is None or b is None:
        return None
    out = {"recloop": a[1], "sb3": b[1], "recloop_seconds": a[0], "sb3_seconds": b[0], "ratio": a[0] / b[0]}
    ca, cb = summary[a[1]]["mean_train_cpu_seconds"], summary[b[1]]["mean_train_cpu_seconds"]
    if ca and cb:
        out.update(recloop_cpu_seconds=ca, sb3_cpu_seconds=cb, cpu_ratio=ca / cb)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--agents", nargs="+", default=["ppo", "ppo16", "dqn"], choices=sorted(AGENTS))
    p.add_argument("--peers", nargs="+", default=["ppo", "dqn"], choices=["ppo", "dqn"])
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "cartpole_vs_sb3.json")
    p.add_argument("--combine", type=Path, nargs="+", default=None,
                   help="Pool the runs of earlier result files (different seeds) into one summary; runs nothing.")
    a = p.parse_args()
    if a.combine:
        combine(a.combine, a.out)
        return
    if a.peers and not SB3_PY.exists():
        subprocess.run(["bash", str(ROOT / "benchmarks" / "peers" / "sb3.sh")], check=True)
    load_before = os.getloadavg()
    runs = []
    for seed in a.seeds:
        for name in a.agents:
            runs.append(run_recloop(name, seed))
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
        for algo in a.peers:
            runs.append(run_sb3(algo, seed))
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    summary = summarise(runs)
    result = {
        "benchmark": "cartpole_vs_sb3",
        "command": " ".join(["python", *sys.argv]),
        "protocol": {"env": "CartPole-v1", "eval_every": EVERY, "eval_episodes": EPISODES, "threshold": THRESHOLD,
                     "deterministic_eval": True, "time": "training wall seconds, evaluation excluded"},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "loadavg_before": load_before,
                    "loadavg_after": os.getloadavg(), "torch_threads": 1},
        "summary": summary,
        "best_ratio": ratio(summary, [f"recloop/{n}" for n in a.agents], [f"sb3/{n}" for n in a.peers]),
        "dqn_ratio": ratio(summary, ["recloop/dqn"], ["sb3/dqn"]),
        "runs": runs,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("summary", "best_ratio", "dqn_ratio")}, indent=2))


def combine(paths: list[Path], out: Path) -> None:
    parts = [json.loads(Path(x).read_text()) for x in paths]
    runs = [r for part in parts for r in part["runs"]]
    seen = [(r["library"], r["algo"], r["seed"]) for r in runs]
    if len(seen) != len(set(seen)):
        raise SystemExit("the files share (library, algo, seed) runs: pool files with different seeds only")
    summary = summarise(runs)
    ours = sorted({r["algo"] for r in runs if r["library"] == "recloop"})
    theirs = sorted({r["algo"] for r in runs if r["library"] == "sb3"})
    result = {"benchmark": "cartpole_vs_sb3", "command": " ".join(["python", *sys.argv]),
              "pooled_from": [{"file": Path(x).name, "command": part.get("command"), "machine": part["machine"]}
                              for x, part in zip(paths, parts)],
              "protocol": parts[0]["protocol"], "summary": summary,
              "best_ratio": ratio(summary, [f"recloop/{n}" for n in ours], [f"sb3/{n}" for n in theirs]),
              "dqn_ratio": ratio(summary, ["recloop/dqn"], ["sb3/dqn"]), "runs": runs}
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("summary", "best_ratio", "dqn_ratio")}, indent=2))


if __name__ == "__main__":
    main()
