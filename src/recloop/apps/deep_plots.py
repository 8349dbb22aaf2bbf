"""Learning-curve figure: training episode returns (raw and smoothed) and evaluation means."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from recloop.agents.deep.callbacks import EvalEnd, ScalarLogger


def plot_learning_curve(logger: ScalarLogger, path: str | Path, *, title: str = "",
                        evals: Sequence[EvalEnd] = (), window: int = 20) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    steps, returns = logger.series("charts/episode_return")
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    if len(steps):
        ax.plot(steps, returns, color="tab:blue", alpha=0.25, lw=0.8, label="episode return")
        if len(returns) >= window:
            smooth = np.convolve(returns, np.ones(window) / window, mode="valid")
            ax.plot(steps[window - 1:], smooth, color="tab:blue", lw=1.8, label=f"mean of last {window}")
    if evals:
        ax.errorbar([e.step for e in evals], [e.mean_return for e in evals], yerr=[e.std_return for e in evals],
                    fmt="o-", color="tab:orange", capsize=3, label="evaluation (greedy)")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
