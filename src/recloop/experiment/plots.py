"""PNG plots of runs: learning curves with a band of one standard deviation over seeds."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def curves(results: list, labels: list[str], column: str, path: Path, *, title: str, ylabel: str,
           per_step: bool = False, xlabel: str = "round") -> Path:
    """One line per policy (mean over seeds) with a +/- 1 sd band; ``per_step`` divides by the step."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    colours = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    for i, label in enumerate(labels):
        runs = [r for r in results if r.label == label and r.error is None]
        if not runs:
            continue
        steps = runs[0].columns["step"]
        ys = np.stack([r.columns[column] / (steps if per_step else 1) for r in runs])
        with warnings.catch_warnings():  # before a run's first episode its return is NaN: a gap, not a warning
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, sd = np.nanmean(ys, 0), np.nanstd(ys, 0)
        ax.plot(steps, mean, label=label, color=colours(i), lw=1.6)
        if len(runs) > 1:
            ax.fill_between(steps, mean - sd, mean + sd, color=colours(i), alpha=0.15, lw=0)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
