"""``recloop train``: train a deep agent on an environment, with a progress bar, an evaluation
summary, a learning-curve PNG and a checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from recloop.apps.commands.experiment import TRACK_HELP, open_tracker
from recloop.apps.console import fail


def _read_config(path: Path) -> dict[str, Any]:
    """Hyper-parameters from YAML/JSON: a flat mapping or ``{"params": {...}}``."""
    from recloop.core.config import ConfigError, read_mapping

    try:
        data = read_mapping(path, "hyper-parameter")
    except ConfigError as err:
        raise typer.BadParameter(str(err)) from None
    return dict(data.get("params", data))


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train(
        agent: str = typer.Argument(..., help="Agent: dqn, ppo, a2c, reinforce, ddpg, td3, sac, cem."),
        env: str = typer.Option("CartPole-v1", "--env", help="Gymnasium id (CartPole-v1, Pendulum-v1), "
                                "minatar-breakout or ale-breakout."),
        steps: int = typer.Option(50_000, "--steps", min=1, help="Environment steps to train for."),
        config: Optional[Path] = typer.Option(None, "--config", help="YAML/JSON file of agent hyper-parameters."),
        seed: int = typer.Option(0, "--seed", help="Seed for the agent and the environments."),
        out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default runs/train-AGENT-ENV-SEED)."),
        eval_episodes: int = typer.Option(20, "--eval-episodes", min=1, help="Greedy episodes in the final evaluation."),
        eval_every: int = typer.Option(0, "--eval-every", min=0, help="Also evaluate every N steps (0: only at the end)."),
        tensorboard: bool = typer.Option(False, "--tensorboard", help="Also write the scalars as TensorBoard "
                                         "events to RUN/scalars/ (needs the tensorboard package)."),
        track: Optional[str] = typer.Option(None, "--track", help=TRACK_HELP),
    ) -> None:
        """Train AGENT on ENV for N steps; save a checkpoint, a scalar log (CSV) and a learning curve."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        from rich.table import Table

        from recloop.agents.deep import EpisodeEnd, EvalCallback, ScalarLogger
        from recloop.agents.deep import Progress as StepEvent
        from recloop.agents.deep.callbacks import Callback
        from recloop.agents.deep.evaluate import evaluate_policy
        from recloop.apps.deep_plots import plot_learning_curve
        from recloop.core.registry import make
        from recloop.core.seeding import derive
        from recloop.experiment.provenance import write_metadata

        console = Console()
        params = _read_config(config) if config else {}
        params.setdefault("seed", seed)
        try:
            learner = make("agent", agent, **params)
        except KeyError as err:
            raise typer.BadParameter(str(err.args[0]), param_hint="AGENT") from None
        except (TypeError, ValueError) as err:
            raise typer.BadParameter(str(err), param_hint="--config") from None
        run_dir = out or Path("runs") / f"train-{agent}-{env.replace('/', '_')}-{seed}"
        tracker = open_tracker(console, track, "recloop-train")
        write_metadata(run_dir, agent=agent, env=env, steps=steps, seed=seed, params=learner.get_params())
        try:
            logger = ScalarLogger(run_dir / "scalars.csv", tensorboard=tensorboard)
        except ImportError as err:
            raise typer.BadParameter(str(err), param_hint="--tensorboard") from None
        callbacks: list[Any] = [logger]
        evals = EvalCallback(env, every=eval_every, episodes=eval_episodes, seed=derive(seed, "eval")) if eval_every else None
        if evals:
            callbacks.append(evals)

        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("episodes {task.fields[episodes]}  return {task.fields[ret]}"),
                      TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task(f"{agent} on {env}", total=steps, episodes=0, ret="-")

            class _Bar(Callback):
                """Redraws at most ~200 times: a bar update per env step would cost more than the step."""

                def __init__(self) -> None:
                    self.recent: list[float] = []
                    self.shown = 0

                def on_event(self, event: Any) -> None:
                    if isinstance(event, EpisodeEnd):
                        self.recent = (self.recent + [event.episode_return])[-20:]
                        bar.update(task, episodes=event.episode, ret=f"{sum(self.recent) / len(self.recent):.1f}")
                    elif isinstance(event, StepEvent) and event.step - self.shown >= max(1, steps // 200):
                        self.shown = event.step
                        bar.update(task, completed=min(event.step, steps))

            try:
                learner.learn(env, steps, callbacks=[*callbacks, _Bar()], seed=seed)
            except (ValueError, ImportError) as err:
                fail(console, err)
            bar.update(task, completed=steps)

        checkpoint = learner.save(run_dir / "agent.npz")
        res = evaluate_policy(learner, env, episodes=eval_episodes, seed=seed + 20_000)
        figure = plot_learning_curve(logger, run_dir / "learning_curve.png", title=f"{agent} on {env}",
                                     evals=evals.history if evals else ())
        table = Table(title=f"Evaluation: {eval_episodes} greedy episodes")
        for col in ("mean return", "std", "min", "max", "mean length"):
            table.add_column(col, justify="right")
        table.add_row(f"{res.mean_return:.2f}", f"{res.std_return:.2f}", f"{min(res.returns):.2f}",
                      f"{max(res.returns):.2f}", f"{sum(res.lengths) / len(res.lengths):.1f}")
        console.print(table)
        console.print(f"checkpoint: {checkpoint}")
        console.print(f"learning curve: {figure}")
        console.print(f"scalars: {logger.path}")
        if tracker is not None:
            from recloop.experiment.tracking import track_training

            final = {"eval/final_mean_return": res.mean_return, "eval/final_std_return": res.std_return,
                     "eval/final_mean_length": sum(res.lengths) / len(res.lengths)}
            run_id = track_training(tracker, f"{agent}-{env}-{seed}", {"agent": agent, "env": env, "steps": steps,
                                    "seed": seed, **learner.get_params()}, logger.rows, final, run_dir, steps)
            console.print(f"tracked: MLflow run {run_id} in {tracker.uri}")
