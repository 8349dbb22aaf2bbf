"""``recloop evaluate``: off-policy evaluation of a policy on logged feedback, or a deep agent online.

    recloop evaluate --logs logs.parquet --policy policy.npz        # every estimator, CI, diagnostics, plot
    recloop evaluate --logs logs.parquet --policy policy.yaml       # a policy built from a config
    recloop evaluate CHECKPOINT --env ENV --episodes 20             # a deep-RL checkpoint, run in an env
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from recloop.apps.console import fail


def load_policy(spec: Path, logs: Any) -> Any:
    """A bandit checkpoint (``.npz``) or a YAML/JSON config ``{policy, params, train_on_logs}``."""
    from recloop.core.registry import build

    if not spec.exists():
        raise FileNotFoundError(f"no policy checkpoint or config at {spec}")
    if spec.suffix == ".npz":
        from recloop.agents.bandits.base import BanditPolicy

        return BanditPolicy.load(spec)
    if spec.suffix not in (".yaml", ".yml", ".json"):
        raise ValueError(f"--policy must be a bandit checkpoint (.npz) or a config (.yaml/.json), got {spec.name}")
    from recloop.core.config import read_mapping

    cfg = read_mapping(spec, "policy config")
    if "policy" not in cfg:
        raise ValueError(f"{spec}: a policy config needs a 'policy' name, e.g. {{policy: epsilon-greedy, params: {{epsilon: 0.1}}}}")
    policy = build("policy", cfg["policy"], cfg.get("params"), n_arms=logs.n_actions,
                   n_features=logs.context.shape[1] if logs.context.ndim == 2 else None)
    if cfg.get("train_on_logs"):
        # Learning and evaluating on the same logs flatters the policy; the table says so.
        contexts = logs.context if getattr(policy, "contextual", False) else None
        policy.update_batch(logs.action, logs.reward, contexts)
    return policy


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate(
        checkpoint: Optional[Path] = typer.Argument(None, help="Deep-RL checkpoint to run in --env (online evaluation)."),
        env: Optional[str] = typer.Option(None, "--env", help="Environment name for CHECKPOINT."),
        episodes: int = typer.Option(20, help="Episodes for CHECKPOINT --env."),
        logs: Optional[Path] = typer.Option(None, "--logs", help="Logged feedback (.parquet, recloop schema)."),
        policy: Optional[Path] = typer.Option(None, "--policy", help="Bandit checkpoint (.npz) or policy config (.yaml/.json)."),
        ci: str = typer.Option("normal", help="Interval: normal or bootstrap."),
        n_boot: int = typer.Option(500, help="Bootstrap resamples."),
        level: float = typer.Option(0.95, help="Confidence level."),
        max_weight: Optional[float] = typer.Option(None, help="Also report clipped IPS/DR at this weight."),
        out: Path = typer.Option(Path("runs/evaluate"), "--out", "-o", help="Folder for estimates.json and the plot."),
        seed: int = typer.Option(0, help="Seed (replay sampling, bootstrap, cross-fitting)."),
    ) -> None:
        """Estimate a policy's value from logs with every off-policy estimator (or run a deep checkpoint)."""
        from rich.console import Console

        console = Console()
        try:
            if logs is not None:
                if policy is None:
                    raise ValueError("--logs needs --policy (the policy to evaluate)")
                _evaluate_logs(console, logs, policy, ci=ci, n_boot=n_boot, level=level, max_weight=max_weight,
                               out=out, seed=seed)
            elif checkpoint is not None:
                if env is None:
                    raise ValueError("evaluating a checkpoint online needs --env ENV (or use --logs/--policy)")
                _evaluate_checkpoint(console, checkpoint, env, episodes, seed)
            else:
                raise ValueError("give --logs FILE --policy POLICY (off-policy), or CHECKPOINT --env ENV (online)")
        except (ValueError, TypeError, KeyError, FileNotFoundError, ImportError) as err:
            fail(console, err)


def _evaluate_logs(console: Any, logs_path: Path, policy_path: Path, *, ci: str, n_boot: int, level: float,
                   max_weight: float | None, out: Path, seed: int) -> None:
    import warnings

    from rich.table import Table

    from recloop.data.logs import read_parquet
    from recloop.apps.ope_plots import plot_estimates
    from recloop.ope.suite import evaluate_all, on_sample_truth, target_probabilities

    logs = read_parquet(logs_path)
    pol = load_policy(policy_path, logs)
    with console.status(f"evaluating {policy_path.name} on {logs.n:,} logged events"):
        pe = target_probabilities(pol, logs)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ests = evaluate_all(logs, pe, ci=ci, n_boot=n_boot, level=level, max_weight=max_weight, seed=seed)
    truth = on_sample_truth(logs, pe)
    table = Table(title=f"{policy_path.name} on {logs_path.name} ({logs.n:,} events, {logs.n_actions} actions)")
    for col in ("estimator", "value", f"{level:.0%} CI ({ci})", "stderr", "ESS", "max w", "clipped"):
        table.add_column(col, justify="left" if col == "estimator" else "right")
    for e in ests:
        d = e.diagnostics
        table.add_row(e.estimator, f"{e.value:.5f}", f"[{e.ci_low:.5f}, {e.ci_high:.5f}]", f"{e.stderr:.5f}",
                      f"{d.ess:,.0f}" if d else "", f"{d.max_weight:.1f}" if d else "",
                      f"{d.clipped_share:.1%}" if d else "")
    console.print(table)
    console.print(f"logging policy's own average reward: {logs.reward.mean():.5f}"
                  + (f"; truth recorded by the simulator: [bold]{truth:.5f}[/bold]" if truth is not None else ""))
    for w in caught:
        console.print(f"[yellow]warning:[/yellow] {w.message}")
    out.mkdir(parents=True, exist_ok=True)
    image = plot_estimates({policy_path.stem: ests}, out / "ope_estimates.png", truths={policy_path.stem: truth})
    (out / "estimates.json").write_text(json.dumps({"logs": str(logs_path), "policy": str(policy_path),
                                                    "truth": truth, "estimates": [e.as_row() for e in ests]},
                                                   indent=1, default=float))
    console.print(f"wrote {out / 'estimates.json'} and {image}")


def _evaluate_checkpoint(console: Any, checkpoint: Path, env: str, episodes: int, seed: int) -> None:
    try:
        from recloop.agents.deep.evaluate import evaluate_checkpoint
    except ModuleNotFoundError as err:
        raise ImportError(f"online evaluation of checkpoints needs recloop.agents.deep.evaluate, which is not "
                          f"available here ({err}); it comes with the deep agents (pip install 'recloop[deep]'). "
                          "Bandit policies are evaluated from logs: --logs FILE --policy CHECKPOINT") from None
    from rich.table import Table

    result = evaluate_checkpoint(checkpoint, env, episodes=episodes, seed=seed)
    table = Table(title=f"{checkpoint.name} in {env}: {episodes} episodes")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in result.items():
        table.add_row(str(k), f"{v:.4f}" if isinstance(v, float) else str(v))
    console.print(table)
