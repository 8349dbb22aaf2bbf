"""One picture per evaluation: every estimator's value with its interval, and the truth when known."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from recloop.ope.estimate import Estimate


def plot_estimates(panels: dict[str, Sequence[Estimate]], path: str | Path, *,
                   truths: dict[str, float | None] | None = None, title: str = "Off-policy estimates") -> Path:
    """Horizontal interval plot, one panel per evaluated policy; writes a PNG and returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    truths = truths or {}
    n = max(len(panels), 1)
    height = 0.35 * max(len(v) for v in panels.values()) + 1.2 if panels else 2
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, height), squeeze=False, sharey=True)
    for ax, (name, ests) in zip(axes[0], panels.items()):
        ests = list(ests)
        ys = range(len(ests))
        for y, e in zip(ys, ests):
            color = "tab:gray" if e.estimator in ("dm", "replay") else "tab:blue"
            ax.errorbar(e.value, y, xerr=[[max(e.value - e.ci_low, 0)], [max(e.ci_high - e.value, 0)]],
                        fmt="o", color=color, capsize=3)
        ax.set_yticks(list(ys), [e.estimator for e in ests])
        truth = truths.get(name)
        if truth is not None:
            ax.axvline(truth, color="tab:red", linestyle="--", label="truth")
            ax.legend(loc="lower right", fontsize=8)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("estimated value")
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].invert_yaxis()
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
