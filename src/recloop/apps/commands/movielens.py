"""``recloop movielens ...``: recommend films to a MovieLens user, train and save a recommender."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from recloop.apps.console import fail

ml_app = typer.Typer(help="MovieLens-100k: next-item recommenders on real ratings.", no_args_is_help=True)

MODEL_HELP = "pop, itemknn, bpr, gru4rec, sasrec, sqn, topk-reinforce, ddpg or td3"


def register(app: typer.Typer) -> None:
    app.add_typer(ml_app, name="movielens")


def _load(data: Optional[Path]):
    from recloop.data.movielens import load_movielens
    from recloop.data.splits import leave_one_out

    ml = load_movielens(data)
    return ml, leave_one_out(ml)


@ml_app.command("recommend")
def recommend(
    user: int = typer.Option(..., "--user", "-u", help="MovieLens user id (1..943 in ML-100k)."),
    k: int = typer.Option(10, "-k", help="How many films to recommend."),
    model: Optional[Path] = typer.Option(None, "--model", "-m",
                                         help="Checkpoint from `recloop movielens train` (default: item-kNN fitted now)."),
    data: Optional[Path] = typer.Option(None, "--data", help="GroupLens folder (default: the cached ML-100k)."),
    history: int = typer.Option(10, "--history", help="How many recent ratings to show."),
    include_seen: bool = typer.Option(False, "--include-seen", help="Allow films the user already rated."),
) -> None:
    """Print the user's recent history and the top-k recommended titles (genres, year, score)."""
    import datetime

    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from recloop.agents.reco import load_recommender, make_recommender

    console = Console()
    try:
        ml, split = _load(data)
        u = ml.user_index(user)
        if not 1 <= k <= ml.n_items:
            raise ValueError(f"k={k} must be between 1 and the catalogue size {ml.n_items}")
        with console.status("fitting item-kNN..." if model is None else f"loading {model}..."):
            rec = make_recommender("itemknn").fit(split) if model is None else load_recommender(model)
        if rec.n_items_ != ml.n_items:
            raise ValueError(f"{model} was trained on {rec.n_items_} items, this data has {ml.n_items}")
    except (KeyError, ValueError, FileNotFoundError, RuntimeError) as err:
        fail(console, err)
    seq = split.sequences[u]
    cand = np.arange(ml.n_items) if include_seen else np.setdiff1d(np.arange(ml.n_items), seq)
    out = rec.recommend(seq, cand, min(k, cand.size))

    hist = Table(title=f"User {user}: last {min(history, len(seq))} of {len(seq)} ratings")
    for col in ("when", "title", "genres", "year", "rating"):
        hist.add_column(col)
    for i, r, t in list(zip(seq, split.ratings[u], split.timestamps[u]))[-history:][::-1]:
        when = datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime("%Y-%m-%d")
        hist.add_row(when, ml.titles[i], ml.genre_labels(i), str(ml.years[i] or "?"), f"{r:g}")
    recs = Table(title=f"Top {len(out.items)} for user {user} ({getattr(rec, 'name', 'model')})")
    for col in ("#", "title", "genres", "year", "score"):
        recs.add_column(col)
    for n, (i, s) in enumerate(zip(out.items, out.scores), 1):
        recs.add_row(str(n), ml.titles[i], ml.genre_labels(i), str(ml.years[i] or "?"), f"{s:.3f}")
    console.print(hist)
    console.print(recs)


@ml_app.command("train")
def train(
    model: str = typer.Argument(..., help=MODEL_HELP),
    out: Path = typer.Option(Path("runs/movielens/model.npz"), "--out", "-o", help="Checkpoint path."),
    budget: float = typer.Option(60.0, "--budget", help="Training budget in CPU seconds."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    data: Optional[Path] = typer.Option(None, "--data", help="GroupLens folder (default: the cached ML-100k)."),
    param: Optional[list[str]] = typer.Option(None, "--param", "-p",
                                              help="Hyper-parameter KEY=VALUE, repeatable (e.g. -p head=sac -p q_weight=0.5)."),
) -> None:
    """Train a recommender on the leave-one-out split, report test HR/NDCG/MRR@10, save it."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from recloop.agents.reco import evaluate
    from recloop.core.config import parse_params
    from recloop.core.registry import build

    console = Console()
    try:
        ml, split = _load(data)
        rec = build("recommender", model, parse_params(param or []), seed=seed)
    except (TypeError, KeyError, ValueError, FileNotFoundError) as err:  # TypeError: a misspelt hyper-parameter
        fail(console, err)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        bar.add_task(f"training {model} on {ml.name} (budget {budget:g} CPU-s)", total=None)
        rec.fit(split, time_budget_s=budget)
    table = Table(title=f"{model} on {ml.name}: test, full ranking over {ml.n_items} items")
    table.add_column("protocol")
    cols = ("hr@10", "ndcg@10", "mrr@10", "coverage@10", "seen@10")
    for col in cols:
        table.add_column(col)
    for label, flt in (("as ranked", False), ("seen filtered", True)):
        m = evaluate(rec, split, "test", exclude_history=flt)
        table.add_row(label, *(f"{m[c]:.4f}" for c in cols))
    console.print(table)
    console.print(f"saved {rec.save(out)}")
