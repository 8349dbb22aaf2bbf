"""Train and evaluate slate agents side by side on one simulator: used by the ``recloop slate``
command, the demo stage and the benchmarks, so all three report the same thing."""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from recloop.agents.slate.baselines import Popularity, RandomSlate
from recloop.agents.slate.full_slate_dqn import FullSlateDQN
from recloop.agents.slate.myopic import MyopicGreedy
from recloop.agents.slate.slateq import SlateQ
from recloop.agents.slate.training import evaluate, train

ENVS = ("interest-evolution", "long-term-satisfaction")


def make_env(env: str, num_envs: int, *, autoreset: bool = True, **params: Any):
    """The vectorised simulator by name (long-term satisfaction uses the "meaningful" preset)."""
    from recloop.envs.slate import InterestEvolutionVectorEnv, LongTermSatisfactionVectorEnv
    if env == "interest-evolution":
        return InterestEvolutionVectorEnv(num_envs, autoreset=autoreset, **params)
    if env == "long-term-satisfaction":
        return LongTermSatisfactionVectorEnv(num_envs, autoreset=autoreset, **{"preset": "meaningful", **params})
    raise ValueError(f"unknown slate env {env!r}; known: {', '.join(ENVS)}")


def build_agent(name: str, env: Any, *, steps: int, seed: int):
    """Agents with the hyper-parameters the benchmarks use (epsilon decays over the first third)."""
    from recloop.envs.slate import LongTermSatisfactionVectorEnv
    lts = isinstance(env, LongTermSatisfactionVectorEnv)  # chocolate/kale: engagement ~50 per step
    learner = dict(seed=seed, epsilon_decay_steps=max(steps // 3, 1), learning_starts=min(2_000, steps // 4))
    scale = {"reward_scale": 0.01} if lts else {}
    builders: dict[str, Callable[[], Any]] = {
        "random": lambda: RandomSlate(env.num_candidates, env.slate_size, seed=seed),
        "popularity": lambda: Popularity(env.num_candidates, env.slate_size, epsilon=0.1, seed=seed),
        "myopic": lambda: MyopicGreedy.for_env(env, **learner),
        "slateq": lambda: SlateQ.for_env(env, **learner, **scale),
        "slateq-recsim": lambda: SlateQ.for_env(env, no_click_value=False, **learner, **scale),
        "slateq-sarsa": lambda: SlateQ.for_env(env, target="sarsa", **learner, **scale),
        "full-slate-dqn": lambda: FullSlateDQN.for_env(env, **learner, **scale),
    }
    if name not in builders:
        raise ValueError(f"unknown agent {name!r}; known: {', '.join(builders)}")
    return builders[name]()


def compare(env: str = "interest-evolution", agents: tuple[str, ...] = ("slateq", "myopic", "random"), *,
            steps: int = 30_000, seed: int = 0, eval_users: int = 500, num_envs: int = 32,
            on_agent: Callable[[str], None] | None = None,
            on_progress: Callable[[str, int], None] | None = None) -> list[dict]:
    """One row per agent: mean / std / sem of the episode return over ``eval_users`` fresh users,
    the training curve and timings. Same env seeds for every agent."""
    rows = []
    for name in agents:
        if on_agent:
            on_agent(name)
        venv = make_env(env, num_envs)
        agent = build_agent(name, venv, steps=steps, seed=seed)
        t0 = time.perf_counter()
        history = train(agent, venv, steps, seed=seed,
                        callback=(lambda n, h, name=name: on_progress(name, n)) if on_progress else None)
        t1 = time.perf_counter()
        returns = evaluate(agent, lambda n: make_env(env, n, autoreset=False), num_users=eval_users,
                           seed=1_000_003 + seed)
        rows.append({"agent": name, "seed": seed, "mean_return": float(returns.mean()),
                     "std_return": float(returns.std()), "sem": float(returns.std() / np.sqrt(len(returns))),
                     "train_steps": steps, "train_seconds": round(t1 - t0, 2),
                     "eval_seconds": round(time.perf_counter() - t1, 2),
                     "curve": _curve(history)})
    return rows


def _curve(history: dict, points: int = 20) -> list[list[float]]:
    """(step, mean training-episode return) at up to ``points`` places, for plots."""
    steps, rets = np.asarray(history["charts/step"]), np.asarray(history["charts/episode_return"])
    if len(rets) == 0:
        return []
    chunks = np.array_split(np.arange(len(rets)), min(points, len(rets)))
    return [[float(steps[c[-1]]), float(rets[c].mean())] for c in chunks]


def plot_comparison(rows: list[dict], path, *, title: str) -> None:
    """Two panels: evaluation return per agent (mean ± sem) and training-episode returns over steps."""
    fig = comparison_figure(rows, title=title)
    fig.savefig(path, dpi=110)


def comparison_figure(rows: list[dict], *, title: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.8))
    ax1, ax2 = fig.subplots(1, 2)
    names = [r["agent"] for r in rows]
    # bars keep their zero baseline (matplotlib's default for bars): a bar's length is its value,
    # so an axis cut near the smallest bar would make small differences look large
    ax1.bar(names, [r["mean_return"] for r in rows], yerr=[r["sem"] for r in rows], capsize=4,
            color=["C0", "C1", "C2", "C3", "C4", "C5", "C6"][: len(rows)])
    ax1.set_ylabel("episode return (fresh users)")
    ax1.set_title("evaluation")
    for r in rows:
        if r.get("curve"):
            xs, ys = zip(*r["curve"])
            ax2.plot(xs, ys, label=r["agent"])
    ax2.set_xlabel("training user-steps")
    ax2.set_ylabel("training episode return")
    ax2.set_title("learning (with exploration)")
    if any(r.get("curve") for r in rows):
        ax2.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
