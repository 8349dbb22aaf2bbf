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


SIM_POLICIES = ("random", "taste", "oracle", "generator", "diversity", "dqn")


@ml_app.command("simulate")
def simulate(
    policy: str = typer.Option("generator", "--policy", "-P",
                               help="random | taste (greedy on the user's true rating) | oracle (greedy on the true "
                                    "expected reward) | generator (a rating MF's top film) | diversity (its shortlist, "
                                    "penalised by genres shown lately) | dqn (an RL re-ranker over that shortlist)."),
    user: Optional[int] = typer.Option(None, "--user", "-u", help="MovieLens user id (default: drawn from --seed)."),
    seed: int = typer.Option(0, "--seed", help="Episode seed (the user's clicks and ratings)."),
    agent: Optional[Path] = typer.Option(None, "--agent", help="dqn: a saved re-ranker; if the file does not exist, "
                                                               "one is trained for --train-steps and saved there."),
    train_steps: int = typer.Option(20_000, "--train-steps", help="dqn without a saved agent: simulator steps to train."),
    candidates: int = typer.Option(20, "--candidates", help="Shortlist length of the re-ranking policies."),
    data: Optional[Path] = typer.Option(None, "--data", help="GroupLens folder (default: the cached ML-100k)."),
) -> None:
    """Play one simulated user's episode and show why it earned what it did: each film shown,
    the user's true rating of it, the boredom it met, the click, and when the user left."""
    from rich.console import Console
    from rich.table import Table

    from recloop.envs.movielens import MovieLensSimulator
    from recloop.envs.rerank import FEATURES, CandidateRerankEnv, rating_mf_scorer

    console = Console()
    try:
        if policy not in SIM_POLICIES:
            raise ValueError(f"unknown policy {policy!r}; use one of {', '.join(SIM_POLICIES)}")
        ml, split = _load(data)
        options = None if user is None else {"user": ml.user_index(user)}
        sim = MovieLensSimulator(ml, split, seed=0)
        env = CandidateRerankEnv(sim, rating_mf_scorer(split), n_candidates=candidates) \
            if policy in ("generator", "diversity", "dqn") else None
        choose = _simulate_policy(policy, sim, env, agent, train_steps, seed, console)
    except (KeyError, ValueError, FileNotFoundError, RuntimeError) as err:
        fail(console, err)

    obs, info = (env or sim).reset(seed=seed, options=options)
    taste = sim.predicted_ratings(sim.user)
    shown: list[int] = []
    table = Table(title=f"User {ml.user_ids[sim.user]} under '{policy}' (episode seed {seed})")
    for col in ("step", "film", "genres", "shortlist #", "true rating", "boredom", "P(click)", "clicked", "rating",
                "patience"):
        table.add_column(col)
    total, done, term = 0.0, False, False
    while not done:
        if env is None:
            item, rank = choose(shown), "-"
        else:
            rank = int(choose(obs))
            item = int(env.candidates_[rank])
        bored, p_click = sim.boredom()[item], sim.click_probabilities()[item]
        obs, reward, term, trunc, info = (env or sim).step(rank if env is not None else item)
        shown.append(item)
        total += reward
        done = term or trunc
        table.add_row(str(len(shown)), ml.titles[item], ml.genre_labels(item), str(rank), f"{taste[item]:.2f}",
                      f"{bored:.2f}", f"{p_click:.2f}", "yes" if reward > 0 else "no",
                      f"{reward * 5:g}" if reward > 0 else "-", str(info["patience"]))
    console.print(table)
    why = ("left: patience used up by ignored recommendations" if term
           else f"stayed to the end of the episode ({sim.episode_length} recommendations)")
    clicks = sum(1 for row in table.columns[7].cells if row == "yes")
    console.print(f"return {total:.2f} from {clicks} clicks in {len(shown)} recommendations; "
                  f"mean true rating {taste[shown].mean():.2f}; the user {why}.")
    if policy == "dqn":
        console.print(f"(the re-ranker sees only {len(FEATURES)} features per candidate: {', '.join(FEATURES)})",
                      soft_wrap=True)


def _simulate_policy(policy, sim, env, agent_path, train_steps, seed, console):
    """The chooser behind ``simulate --policy``: catalogue policies map the films shown so far to
    a film; re-ranking policies map the shortlist's features to a row."""
    import numpy as np

    if policy == "random":
        rng = np.random.default_rng(seed)
        return lambda shown: int(rng.choice(np.setdiff1d(np.arange(sim.action_space.n), shown)))
    if policy in ("taste", "oracle"):
        def best(shown):
            s = (sim.predicted_ratings(sim.user) if policy == "taste" else sim.expected_rewards()).astype(float)
            s[shown] = -np.inf
            return int(np.argmax(s))
        return best
    if policy == "generator":
        return lambda obs: 0
    if policy == "diversity":  # the benchmark's hand-set rule
        return lambda obs: int(np.argmax(obs[:, 1] - 3.0 * obs[:, 5]))
    from recloop.agents.deep import DQN

    if agent_path is not None and Path(agent_path).exists():
        dqn = DQN.load(agent_path)
    else:
        if train_steps < 1:
            raise ValueError(f"--train-steps must be >= 1, got {train_steps}")
        with console.status(f"training the DQN re-ranker for {train_steps} simulator steps..."):
            dqn = DQN(network="candidates", gamma=0.9, learning_starts=min(1000, train_steps), target_update_interval=500,
                      exploration={"kind": "linear", "start": 1.0, "end": 0.05, "steps": max(1, train_steps // 3)},
                      seed=0).learn(env, train_steps, seed=0)
        if agent_path is not None:
            console.print(f"saved {dqn.save(agent_path)}")
    if tuple(dqn.spaces_["obs_shape"]) != env.observation_space.shape:
        raise ValueError(f"{agent_path} expects observations {tuple(dqn.spaces_['obs_shape'])}, "
                         f"the shortlist gives {env.observation_space.shape} (see --candidates)")
    return lambda obs: int(dqn.act(obs, explore=False))
