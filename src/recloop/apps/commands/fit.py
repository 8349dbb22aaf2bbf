"""``recloop fit``: learn a policy from a team's own logs and save it for ``recloop serve``.

    recloop fit --logs logs.csv --action sku --context-cols 'f*' --policy linucb -o model.npz
    recloop fit --logs logs.csv --spec data.yaml --policy offpolicy-softmax --train-share 0.8 -o model.npz

Online learners (LinUCB, Thompson, ...) are warm-started by replaying the logs in
time order; ``offpolicy-softmax`` maximises a doubly robust (or IPS) estimate of
its own value (off-policy learning proper). ``--train-share`` fits on the
earliest share of the events by time, so ``recloop evaluate --holdout`` can
score the model on the rest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from recloop.apps.console import fail

# The log-reading options every command that takes logs shares (see recloop.data.read.LogSpec).
SPEC_HELP = "YAML data spec (action, propensity, reward|cost, context|context_cols, candidates, timestamp, ...)"


def log_spec(spec: Optional[Path], **options: Any) -> Any:
    """A :class:`~recloop.data.read.LogSpec` from a YAML file and/or command-line options (options win)."""
    import dataclasses

    from recloop.data.read import LogSpec

    base = LogSpec.from_yaml(spec) if spec is not None else LogSpec()
    given = {k: v for k, v in options.items() if v is not None}
    if given.get("cost") is not None and "reward" not in given:
        given["reward"] = None
    return dataclasses.replace(base, **given)


def logs_arguments() -> dict[str, Any]:
    """Typer defaults for the shared log options (used by fit and evaluate)."""
    return dict(
        spec=typer.Option(None, "--spec", help=SPEC_HELP),
        fmt=typer.Option(None, "--format", help="csv, parquet, jsonl or dsjson (default: from the suffix)"),
        action=typer.Option(None, "--action", help="column of the item id shown (default: action)"),
        propensity=typer.Option(None, "--propensity", help="column of the logging probability (default: propensity)"),
        reward=typer.Option(None, "--reward", help="reward column (default: reward)"),
        cost=typer.Option(None, "--cost", help="cost column instead of a reward (reward = -cost)"),
        context_cols=typer.Option(None, "--context-cols", help="flat numeric context columns, globs ok: 'f*'"),
        context=typer.Option(None, "--context", help="one list or JSON-object context column"),
        candidates=typer.Option(None, "--candidates", help="column of per-event candidate lists (optional)"),
        timestamp=typer.Option(None, "--timestamp", help="time column (ISO or unix seconds)"),
    )


_L = logs_arguments()


def read_cli_logs(path: Path, spec: Optional[Path], fmt: Optional[str], action: Optional[str],
                  propensity: Optional[str], reward: Optional[str], cost: Optional[str],
                  context_cols: Optional[str], context: Optional[str], candidates: Optional[str],
                  timestamp: Optional[str]) -> Any:
    from recloop.data.read import read_logs

    s = log_spec(spec, format=fmt, action=action, propensity=propensity, reward=reward, cost=cost,
                 context_cols=context_cols, context=context, candidates=candidates, timestamp=timestamp)
    return read_logs(path, s)


def time_split(logs: Any, train_share: float) -> tuple[Any, Any]:
    """The earliest ``train_share`` of the events by time, and the rest."""
    import numpy as np

    if not 0.0 < train_share <= 1.0:
        raise ValueError(f"--train-share must be in (0, 1], got {train_share}")
    order = np.argsort(logs.timestamp, kind="stable")
    cut = int(round(train_share * logs.n))
    if cut < 1:
        raise ValueError(f"--train-share {train_share} leaves no training events out of {logs.n}")
    if cut < logs.n and logs.timestamp[order[cut - 1]] == logs.timestamp[order[cut]]:
        raise ValueError("the logs have no timestamps that separate train from evaluation events: give a "
                         "--timestamp column (events are split by time, never at random)")
    train = logs.take(np.sort(order[:cut]))
    rest = logs.take(np.sort(order[cut:])) if cut < logs.n else None
    return train, rest


def register(app: typer.Typer) -> None:
    @app.command("fit")
    def fit(
        logs: Path = typer.Option(..., "--logs", help="logged feedback: CSV, Parquet, JSON Lines or dsjson"),
        policy: str = typer.Option("linucb", "--policy", help="registered policy name (linucb, lints, thompson, "
                                                              "offpolicy-softmax, ...)"),
        out: Path = typer.Option(Path("model.npz"), "--out", "-o", help="where the fitted model goes (.npz)"),
        param: list[str] = typer.Option([], "--param", "-p", help="hyper-parameter name=value (repeat)"),
        train_share: float = typer.Option(1.0, help="fit on the earliest share of events by time (the rest "
                                                    "is left for recloop evaluate --holdout)"),
        seed: int = typer.Option(0, help="policy seed"),
        spec: Optional[Path] = _L["spec"], fmt: Optional[str] = _L["fmt"], action: Optional[str] = _L["action"],
        propensity: Optional[str] = _L["propensity"], reward: Optional[str] = _L["reward"],
        cost: Optional[str] = _L["cost"], context_cols: Optional[str] = _L["context_cols"],
        context: Optional[str] = _L["context"], candidates: Optional[str] = _L["candidates"],
        timestamp: Optional[str] = _L["timestamp"],
    ) -> None:
        """Learn a policy from logs (replay warm start, or off-policy learning) and save it for serving."""
        from rich.console import Console

        from recloop.apps.commands.serve import _params

        console = Console()
        try:
            data = read_cli_logs(logs, spec, fmt, action, propensity, reward, cost, context_cols, context,
                                 candidates, timestamp)
            train, rest = time_split(data, train_share)
            model = _fit(policy, _params(param), train, seed)
            path = model.save(out)
        except (ValueError, TypeError, KeyError, FileNotFoundError) as err:
            fail(console, err)
        window = f"{train.timestamp.min()} .. {train.timestamp.max()}"
        console.print(f"fitted {policy} on {train.n:,} events ({window}), {len(model.known_items)} items, "
                      f"{train.context.shape[1]} context features"
                      + (f"; {rest.n:,} later events left for evaluation (recloop evaluate --holdout)" if rest else ""),
                      soft_wrap=True)
        result = getattr(model, "fit_result_", None)
        if result:
            console.print("off-policy objective: " + json.dumps(result), soft_wrap=True)
        console.print(f"wrote {path}\nserve it: recloop serve --policy {path} --n-features {train.context.shape[1]}",
                      soft_wrap=True)


def _fit(name: str, params: dict, logs: Any, seed: int) -> Any:
    from recloop.core.registry import lookup

    klass = lookup("policy", name)
    if not hasattr(klass, "fit"):
        raise TypeError(f"{name} cannot be fitted from logs (it has no fit(logs))")
    params = dict(params)
    if getattr(klass, "contextual", False):
        params.setdefault("n_features", logs.context.shape[1])
    params.setdefault("seed", seed)
    return klass(**params).fit(logs)
