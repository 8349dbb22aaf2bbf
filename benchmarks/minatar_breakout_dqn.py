"""MinAtar Breakout: DQN evaluation return after a frame budget (goal: >= 11 at 1M frames, < 1 h, 2 cores).

The network and most settings follow the MinAtar paper's DQN (Young & Tian,
2019): the 16-filter conv net, replay 100k, batch 32, gamma 0.99, epsilon
1 -> 0.1 over 100k frames, target sync every 1,000 frames, learning from frame
5,000; Adam in place of the paper's RMSprop. The paper updates after every
frame; by default this run updates every 2nd frame with 3-step double-Q targets
(Hessel et al., 2018), which halves the compute per frame (``--train-freq 1
--n-step 1 --lr 2.5e-4`` is the paper's setting).

The JSON is rewritten after every evaluation, so a run that is stopped still
leaves its learning curve. ``--max-minutes`` stops early and reports the frames
reached.

    .venv/bin/python benchmarks/minatar_breakout_dqn.py --frames 1000000            # the full run
    .venv/bin/python benchmarks/minatar_breakout_dqn.py --frames 100000 --eval-every 25000 --out /tmp/m.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from recloop.agents.deep import DQN, EvalCallback, evaluate_policy  # noqa: E402
from recloop.agents.deep.callbacks import Callback, EvalEnd, Progress  # noqa: E402

GOAL = ">= 11 at 1M frames in < 1 h on 2 cores (reference MinAtar DQN: ~11 at 1M, ~17 at 5M)"


class WallClockLimit(Callback):
    def __init__(self, seconds: float):
        self.deadline = time.perf_counter() + seconds

    def on_event(self, event):
        return isinstance(event, Progress) and time.perf_counter() > self.deadline


class WriteAfterEval(Callback):
    """Rewrite the result file after each evaluation (training seconds exclude evaluation)."""

    def __init__(self, write, evals: list[EvalCallback], t0: float):
        self.write, self.evals, self.t0 = write, evals, t0

    def on_event(self, event):
        if isinstance(event, EvalEnd):
            # the event arrives before its EvalCallback adds the evaluation's own seconds
            spent = sum(e.eval_seconds for e in self.evals) + event.seconds
            self.write(event.step, time.perf_counter() - self.t0 - spent, done=False)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=1_000_000)
    p.add_argument("--max-minutes", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-every", type=int, default=50_000)
    p.add_argument("--train-freq", type=int, default=2)
    p.add_argument("--n-step", type=int, default=3)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)  # 2 threads spin-wait badly when cores are shared
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "minatar_breakout_dqn.json")
    a = p.parse_args()
    params = dict(seed=a.seed, network="minatar", lr=a.lr, buffer_size=100_000, batch_size=a.batch_size,
                  gamma=0.99, n_step=a.n_step, learning_starts=5_000, train_freq=a.train_freq, gradient_steps=1,
                  target_update_interval=1_000, max_grad_norm=None,
                  exploration={"kind": "linear", "start": 1.0, "end": 0.1, "steps": 100_000}, threads=a.threads)
    agent = DQN(**params)
    evals = EvalCallback("minatar-breakout", every=a.eval_every, episodes=20, seed=1000, deterministic=False)
    greedy = EvalCallback("minatar-breakout", every=a.eval_every, episodes=20, seed=1000, deterministic=True)
    load_before = os.getloadavg()
    t0 = time.perf_counter()

    def write(frames: int, seconds: float, done: bool, final: dict | None = None) -> dict:
        result = {"benchmark": "minatar_breakout_dqn", "finished": done, "frames_reached": frames,
                  "frames_budget": a.frames, "train_seconds": seconds,
                  "frames_per_second": frames / seconds if seconds > 0 else None,
                  # MinAtar's protocol scores the epsilon-greedy behaviour (epsilon 0.1 after 100k frames)
                  "evals_epsilon_greedy": [[e.step, e.mean_return] for e in evals.history],
                  "evals_greedy": [[e.step, e.mean_return] for e in greedy.history],
                  **(final or {}), "params": params, "command": " ".join(["python", *sys.argv]),
                  "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "loadavg_start": load_before,
                              "loadavg_now": os.getloadavg()},
                  "goal": GOAL}
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(result, indent=2))
        return result

    callbacks = [evals, greedy, WriteAfterEval(write, [evals, greedy], t0)]
    callbacks += [WallClockLimit(a.max_minutes * 60)] if a.max_minutes else []
    agent.learn("minatar-breakout", a.frames, callbacks=callbacks)
    seconds = time.perf_counter() - t0 - evals.eval_seconds - greedy.eval_seconds
    agent.epsilon_ = 0.0
    final = evaluate_policy(agent, "minatar-breakout", episodes=30, seed=2000)
    agent.epsilon_ = 0.1
    final_eps = evaluate_policy(agent, "minatar-breakout", episodes=30, seed=2000, deterministic=False)
    result = write(agent.steps_, seconds, True, {
        "final_greedy_mean_return": final.mean_return, "final_greedy_std_return": final.std_return,
        "final_epsilon_0.1_mean_return": final_eps.mean_return, "final_epsilon_0.1_std_return": final_eps.std_return})
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
