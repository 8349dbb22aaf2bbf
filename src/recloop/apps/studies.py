"""The three tabular case studies, as functions returning typed results.

The CLI (``recloop maze``, ``recloop trade``) prints them and the demo stage
turns them into report sections; both call these, so the numbers agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from recloop.agents.tabular.learning import LearningCurve
from recloop.agents.tabular.q_learning import QLearning
from recloop.planning.value_iteration import PlanningResult
from recloop.envs.gridworld import Maze
from recloop.envs.prices import PriceSeries, regime_switching_prices
from recloop.envs.tabular_reco import SessionRecommender
from recloop.envs.trading import Backtest, TradingEnv


@dataclass(frozen=True)
class MazeStudy:
    env: Maze
    gamma: float
    planned: PlanningResult
    agent: QLearning
    curve: LearningCurve

    @property
    def learned_values(self) -> np.ndarray:
        return self.agent.q_.max(axis=1) * ~self.env.terminal

    @property
    def optimal_action_share(self) -> float:
        """Share of non-terminal states where Q-learning's greedy action is optimal."""
        live = ~self.env.terminal
        chosen = self.planned.q[np.arange(self.env.n_states), self.agent.greedy_policy()]
        return float(np.mean(np.isclose(chosen, self.planned.values, atol=1e-6)[live]))

    @property
    def policy_value(self) -> float:
        """True value, from the start, of Q-learning's greedy policy (exact, through the model)."""
        from recloop.planning.policy_iteration import evaluate_policy

        values = evaluate_policy(self.env.P, self.env.R, self.agent.greedy_policy(), gamma=self.gamma)
        return float(values[self.env.start_state])

    @property
    def value_error(self) -> float:
        return float(np.abs(self.learned_values - self.planned.values).max())


def maze_study(map_name: str = "classic", *, seed: int = 0, gamma: float = 0.95, steps: int = 30_000,
               progress: bool = False) -> MazeStudy:
    """Solve a maze by value iteration and learn it by Q-learning (decaying exploration)."""
    env = Maze(map_name)
    planned = env.solve(gamma)
    agent = QLearning(env.n_states, env.n_actions, gamma=gamma, alpha=0.2,
                      epsilon={"kind": "linear", "start": 1.0, "end": 0.05, "steps": steps // 2}, seed=seed)
    curve = agent.learn(env, total_steps=steps, seed=seed, progress=progress)
    return MazeStudy(env, gamma, planned, agent, curve)


@dataclass(frozen=True)
class TradeStudy:
    series: PriceSeries
    split: int
    agent: QLearning
    curve: LearningCurve
    trader: Backtest  # out of sample
    hold: Backtest  # buy and hold, same out-of-sample days
    trader_in_sample: Backtest


def trade_study(series: PriceSeries | None = None, *, seed: int = 0, train_fraction: float = 0.7,
                episodes: int = 20, cost: float = 0.001, window: int = 20,
                progress: bool = False) -> TradeStudy:
    """Train a Q-trader on the first ``train_fraction`` of the series, test on the rest."""
    if series is None:
        series = regime_switching_prices(2500, seed=seed)
    if not 0.1 <= train_fraction <= 0.9:
        raise ValueError(f"train_fraction must be in [0.1, 0.9], got {train_fraction}")
    split = int(train_fraction * len(series))
    train = TradingEnv(series, end=split, cost=cost, window=window)
    test = TradingEnv(series, start=split, cost=cost, window=window)
    steps = episodes * (split - train.first_day)
    agent = QLearning(train.n_states, train.n_actions, gamma=0.9, alpha=0.05,
                      epsilon={"kind": "linear", "start": 1.0, "end": 0.05, "steps": int(0.8 * steps)}, seed=seed)
    curve = agent.learn(train, episodes=episodes, seed=seed, progress=progress)
    greedy: Callable[[int], int] = lambda obs: agent.act(obs, explore=False)  # noqa: E731
    return TradeStudy(series, split, agent, curve, test.backtest(greedy), test.backtest(lambda obs: 2),
                      train.backtest(greedy))


@dataclass(frozen=True)
class SessionStudy:
    env: SessionRecommender
    bandit_action: int
    bandit_value: float
    learned_value: float
    optimal_value: float
    simulated: dict[str, float]  # Monte Carlo mean clicks per session
    curve: LearningCurve


def session_study(*, seed: int = 0, episodes: int = 3000, eval_sessions: int = 2000,
                  progress: bool = False) -> SessionStudy:
    """Q-learning on :class:`SessionRecommender` against the best global bandit and the optimum."""
    from recloop.agents.tabular.learning import evaluate

    env = SessionRecommender()
    action, bandit_value = env.best_fixed_action()
    agent = QLearning(env.n_states, env.n_actions, gamma=1.0, alpha=0.1, epsilon=0.1, seed=seed)
    curve = agent.learn(env, episodes=episodes, seed=seed, progress=progress)
    opt = env.optimal()
    start = env.initial_distribution()

    class Fixed:
        def act(self, obs: int, explore: bool = False) -> int:
            return action

    simulated = {"q-learning": float(evaluate(agent, env, episodes=eval_sessions, seed=seed + 1).mean()),
                 "best bandit": float(evaluate(Fixed(), env, episodes=eval_sessions, seed=seed + 1).mean())}
    return SessionStudy(env, action, bandit_value, env.expected_return(agent.greedy_policy()),
                        float(opt.values @ start), simulated, curve)


# ---------------------------------------------------------------- figures
def heat_grid(env: Maze, values: np.ndarray) -> np.ma.MaskedArray:
    """Values on the grid for a heat map, with walls, goals and traps masked.

    A trap (the cliff) and a goal are where episodes end or restart, not places the walker
    stands: their "values" would only paint them as the best cells (the cliff next to the
    goal sits one step from it), so they are drawn as labelled grey cells instead.
    """
    grid = env.value_grid(values)
    for i, j in env.cells:
        if env.rows[i][j] in "GT":
            grid[i, j] = np.nan
    return np.ma.masked_invalid(grid)


def plot_maze(study: MazeStudy, path: Path) -> Path:
    """Heat maps of V* (value iteration) and max_a Q (Q-learning), each with its policy's arrows."""
    fig = maze_figure(study)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def maze_figure(study: MazeStudy):
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    from recloop.envs.gridworld import MOVES

    env = study.env
    fig = Figure(figsize=(2 + 1.1 * env.width, 0.6 + 0.55 * env.height))
    panels = [("value iteration", study.planned.values, study.planned.policy),
              (f"Q-learning, {study.curve.steps} steps", study.learned_values, study.agent.greedy_policy())]
    cmap = colormaps["viridis"].with_extremes(bad="#b0b0b0")  # walls, goals, traps
    for k, (title, values, policy) in enumerate(panels):
        ax = fig.add_subplot(1, 2, k + 1)
        img = ax.imshow(heat_grid(env, values), cmap=cmap)
        fig.colorbar(img, ax=ax, shrink=0.8)
        for s, (i, j) in enumerate(env.cells):
            kind = env.rows[i][j]
            if kind in "GT":
                ax.text(j, i, kind, ha="center", va="center", color="black", fontweight="bold")
            else:
                di, dj = MOVES[int(policy[s])]
                ax.arrow(j - 0.25 * dj, i - 0.25 * di, 0.3 * dj, 0.3 * di, head_width=0.15, color="white")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_equity(study: TradeStudy, path: Path) -> Path:
    """Out-of-sample equity of the Q-trader and buy-and-hold, with the trader's positions below."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 5))
    ax, ax_pos = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    x = study.trader.dates if study.trader.dates is not None else np.arange(len(study.trader.equity))
    ax.plot(x, study.trader.equity, label=f"Q-trader (Sharpe {study.trader.report.sharpe:.2f})")
    ax.plot(x, study.hold.equity, label=f"buy and hold (Sharpe {study.hold.report.sharpe:.2f})", alpha=0.8)
    ax.set_ylabel("equity (start = 1)")
    ax.set_title(f"{study.series.name}: out of sample, after training on {study.split} days", fontsize=10)
    ax.legend(fontsize=8)
    ax_pos.step(x[:-1], study.trader.positions, where="post", color="tab:green")
    ax_pos.set_yticks([-1, 0, 1], ["short", "flat", "long"])
    ax_pos.set_ylabel("position")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path

