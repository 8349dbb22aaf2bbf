"""``recloop evaluate``: off-policy evaluation of a policy on logged feedback, or a deep agent online.

    recloop evaluate --logs logs.parquet --policy policy.npz        # every estimator, CI, diagnostics, plot
    recloop evaluate --logs logs.csv --action sku --context-cols 'f*' --policy model.npz   # a team's own CSV
    recloop evaluate --logs logs.csv --spec data.yaml --policy model.npz --holdout         # after `recloop fit`
    recloop evaluate --logs logs.parquet --policy policy.yaml       # a policy built from a config
    recloop evaluate CHECKPOINT --env ENV --episodes 20             # a deep-RL checkpoint, run in an env

Before any estimate it reports the overlap between the logs and the policy
(effective sample size, the policy's mass where the logs have no support) and
refuses the weighting estimators (IPS, SNIPS, replay) when that mass is above
``--max-unsupported``, naming the remedy. A model fitted by ``recloop fit`` knows
which events it was fitted on: evaluating it on them is refused unless
``--in-sample`` says so (the estimate is then optimistic); ``--holdout`` keeps
only the events after the fitted window.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from recloop.apps.commands.fit import logs_arguments, read_cli_logs
from recloop.apps.console import fail

_L = logs_arguments()


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
        # Learning and evaluating on the same logs flatters the policy: fit records it, so
        # evaluate refuses unless --in-sample says why.
        policy.fit(logs)
    return policy


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate(
        checkpoint: Optional[Path] = typer.Argument(None, help="Deep-RL checkpoint to run in --env (online evaluation)."),
        env: Optional[str] = typer.Option(None, "--env", help="Environment name for CHECKPOINT."),
        episodes: int = typer.Option(20, help="Episodes for CHECKPOINT --env."),
        logs: Optional[Path] = typer.Option(None, "--logs", help="Logged feedback: Parquet (recloop schema or any columns), CSV, JSON Lines or dsjson."),
        policy: Optional[Path] = typer.Option(None, "--policy", help="Bandit checkpoint (.npz) or policy config (.yaml/.json)."),
        ci: str = typer.Option("normal", help="Interval: normal or bootstrap."),
        n_boot: int = typer.Option(500, help="Bootstrap resamples."),
        level: float = typer.Option(0.95, help="Confidence level."),
        max_weight: Optional[float] = typer.Option(None, help="Also report clipped IPS/DR at this weight."),
        out: Path = typer.Option(Path("runs/evaluate"), "--out", "-o", help="Folder for estimates.json and the plot."),
        seed: int = typer.Option(0, help="Seed (replay sampling, bootstrap, cross-fitting)."),
        max_unsupported: float = typer.Option(0.01, help="Refuse IPS/SNIPS/replay when the policy puts more than "
                                                         "this mass where the logs have no support."),
        allow_unsupported: bool = typer.Option(False, "--allow-unsupported",
                                               help="Run the weighting estimators even without support (biased)."),
        in_sample: bool = typer.Option(False, "--in-sample", help="Evaluate on events the model was fitted on: "
                                       "the estimate is then optimistic (the model chose its parameters to look "
                                       "good on exactly these events)."),
        holdout: bool = typer.Option(False, "--holdout", help="Keep only the events after the window the model "
                                     "was fitted on (a time split)."),
        spec: Optional[Path] = _L["spec"], fmt: Optional[str] = _L["fmt"], action: Optional[str] = _L["action"],
        propensity: Optional[str] = _L["propensity"], reward: Optional[str] = _L["reward"],
        cost: Optional[str] = _L["cost"], context_cols: Optional[str] = _L["context_cols"],
        context: Optional[str] = _L["context"], candidates: Optional[str] = _L["candidates"],
        timestamp: Optional[str] = _L["timestamp"],
    ) -> None:
        """Estimate a policy's value from logs with every off-policy estimator (or run a deep checkpoint)."""
        from rich.console import Console

        console = Console()
        try:
            if logs is not None:
                if policy is None:
                    raise ValueError("--logs needs --policy (the policy to evaluate)")
                data = read_cli_logs(logs, spec, fmt, action, propensity, reward, cost, context_cols, context,
                                     candidates, timestamp)
                _evaluate_logs(console, logs, data, policy, ci=ci, n_boot=n_boot, level=level,
                               max_weight=max_weight, out=out, seed=seed, max_unsupported=max_unsupported,
                               allow_unsupported=allow_unsupported, in_sample=in_sample, holdout=holdout)
            elif checkpoint is not None:
                if env is None:
                    raise ValueError("evaluating a checkpoint online needs --env ENV (or use --logs/--policy)")
                _evaluate_checkpoint(console, checkpoint, env, episodes, seed)
            else:
                raise ValueError("give --logs FILE --policy POLICY (off-policy), or CHECKPOINT --env ENV (online)")
        except (ValueError, TypeError, KeyError, FileNotFoundError, ImportError) as err:
            fail(console, err)


def _evaluate_logs(console: Any, logs_path: Path, logs: Any, policy_path: Path, *, ci: str, n_boot: int,
                   level: float, max_weight: float | None, out: Path, seed: int, max_unsupported: float = 0.01,
                   allow_unsupported: bool = False, in_sample: bool = False, holdout: bool = False) -> None:
    import warnings

    import numpy as np
    from rich.markup import escape
    from rich.table import Table

    from recloop.apps.ope_plots import plot_estimates
    from recloop.data.logs import fitted_overlap
    from recloop.ope.overlap import overlap, refused_estimators
    from recloop.ope.suite import BANDIT_ESTIMATORS, evaluate_all, on_sample_truth, target_probabilities

    pol = load_policy(policy_path, logs)
    inside = fitted_overlap(getattr(pol, "fitted_on_", None), logs)
    if holdout:
        if inside is None:
            raise ValueError(f"--holdout keeps the events after the fitted window, but {policy_path.name} "
                             "records no logs it was fitted on")
        after = logs.timestamp.astype("datetime64[us]").astype(np.int64) > pol.fitted_on_["t_max_us"]
        if not after.any():
            raise ValueError(f"--holdout leaves no events: no event of {logs_path.name} comes after the window "
                             f"{policy_path.name} was fitted on (fit with --train-share < 1)")
        logs = logs.take(after)
        console.print(f"holdout: {logs.n:,} events after the window {policy_path.name} was fitted on")
    elif inside is not None and inside.any() and not in_sample:
        raise ValueError(f"{policy_path.name} was fitted on {int(inside.sum()):,} of these {logs.n:,} events: "
                         "an estimate on them is optimistic (the model chose its parameters to look good on "
                         "exactly these events). Use --holdout to evaluate on the events after its fitted window "
                         "(fit with --train-share 0.8), other logs, or --in-sample to accept the bias")
    with console.status(f"evaluating {policy_path.name} on {logs.n:,} logged events"):
        pe = target_probabilities(pol, logs)
        ov = overlap(logs, pe) if not logs.is_slate else None
        names = BANDIT_ESTIMATORS + (("clipped_ips", "clipped_dr") if max_weight is not None else ())
        refused = {} if ov is None or allow_unsupported else refused_estimators(ov, names, tol=max_unsupported)
        keep = tuple(n for n in BANDIT_ESTIMATORS if n not in refused)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ests = evaluate_all(logs, pe, ci=ci, n_boot=n_boot, level=level, seed=seed,
                                max_weight=None if "clipped_ips" in refused else max_weight,
                                estimators=None if logs.is_slate else keep)
    truth = on_sample_truth(logs, pe)
    table = Table(title=f"{policy_path.name} on {logs_path.name} ({logs.n:,} events, {logs.n_actions} actions)")
    for col in ("estimator", "value", f"{level:.0%} CI ({ci})", "stderr", "ESS", "max w", "clipped"):
        table.add_column(col, justify="left" if col == "estimator" else "right")
    for e in ests:
        d = e.diagnostics
        table.add_row(e.estimator, f"{e.value:.5f}", f"[{e.ci_low:.5f}, {e.ci_high:.5f}]", f"{e.stderr:.5f}",
                      f"{d.ess:,.0f}" if d else "", f"{d.max_weight:.1f}" if d else "",
                      f"{d.clipped_share:.1%}" if d else "")
    if ov is not None:
        console.print(f"overlap: ESS {ov.ess:,.0f} of {ov.n:,} events ({ov.ess_share:.1%}), max weight "
                      f"{ov.max_weight:.1f}; policy mass without support {ov.unsupported_mass:.2%} "
                      f"(never-logged actions {ov.never_logged_mass:.2%}; events logged with propensity 1: "
                      f"{ov.deterministic_share:.0%})", soft_wrap=True)
    console.print(table)
    for name, why in refused.items():
        console.print(f"[red]refused:[/red] {name}: {escape(why)}", soft_wrap=True)
    console.print(f"logging policy's own average reward: {logs.reward.mean():.5f}"
                  + (f"; truth recorded by the simulator: [bold]{truth:.5f}[/bold]" if truth is not None else ""))
    for w in caught:
        console.print(f"[yellow]warning:[/yellow] {w.message}")
    out.mkdir(parents=True, exist_ok=True)
    image = plot_estimates({policy_path.stem: ests}, out / "ope_estimates.png", truths={policy_path.stem: truth})
    (out / "estimates.json").write_text(json.dumps({"logs": str(logs_path), "policy": str(policy_path),
                                                    "truth": truth, "n": logs.n,
                                                    "overlap": None if ov is None else ov.as_dict(),
                                                    "refused": refused, "estimates": [e.as_row() for e in ests]},
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
