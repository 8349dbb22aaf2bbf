"""A single-asset trading environment for tabular Q-traders.

Each day ``t`` the agent sees its discretised indicators (momentum, Bollinger
%B, RSI — all from prices up to ``t``, see :func:`recloop.envs.prices.indicators`)
and its current holding, chooses a position for the next day (0 short, 1 flat,
2 long), and earns ``position * (excess return from t to t+1) - cost * |change of position|``.
Bins are fixed thresholds on scale-free indicators, never quantiles of the
series: quantiles would leak the future into the state.

The episode is one pass over the series (or its ``[start, end)`` slice); at its
end ``info["episode"]`` holds the Sharpe ratio, total return and max drawdown.
Train on one slice and evaluate on a later one for an out-of-sample test.

Examples
--------
>>> from recloop.envs.trading import TradingEnv
>>> from recloop.envs.prices import regime_switching_prices
>>> env = TradingEnv(regime_switching_prices(500, seed=1), cost=0.0)
>>> hold = env.backtest(lambda obs: 2)       # buy and hold
>>> bool(abs(hold.report.total_return - (env.prices.close[-1] / env.prices.close[env.first_day] - 1)) < 1e-9)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from recloop.core.registry import register
from recloop.envs.prices import (
    TRADING_DAYS,
    PriceSeries,
    equity_curve,
    indicators,
    max_drawdown,
    regime_switching_prices,
    sharpe_ratio,
)

POSITIONS = (-1, 0, 1)  # action index -> position: short, flat, long
# Fixed, scale-free bin edges: momentum z-score, %B (inside/outside the bands), RSI (30/50/70).
BIN_EDGES = {"momentum": (-1.0, 0.0, 1.0), "percent_b": (0.0, 0.5, 1.0), "rsi": (30.0, 50.0, 70.0)}


@dataclass(frozen=True, slots=True)
class TradingReport:
    """How a strategy did over one pass (annualised Sharpe; fractions for return and drawdown)."""

    sharpe: float
    total_return: float
    max_drawdown: float
    trades: int
    days: int

    def as_dict(self) -> dict[str, float | int]:
        return {"sharpe": self.sharpe, "total_return": self.total_return, "max_drawdown": self.max_drawdown,
                "trades": self.trades, "days": self.days}


@dataclass(frozen=True, slots=True)
class Backtest:
    """A full pass: dates, position held each day, daily net returns, equity, the report."""

    dates: np.ndarray | None
    positions: np.ndarray
    returns: np.ndarray
    equity: np.ndarray
    report: TradingReport


@register("env", "trading", "q-trader")
class TradingEnv(gym.Env):
    """One asset; short / flat / long; reward = position x excess return - transaction cost."""

    metadata = {"render_modes": []}

    def __init__(self, prices: PriceSeries | np.ndarray | None = None, *, window: int = 20, cost: float = 0.001,
                 risk_free: float = 0.0, start: int | None = None, end: int | None = None,
                 features: tuple[str, ...] = ("momentum", "percent_b", "rsi"), seed: int = 0):
        if prices is None:
            prices = regime_switching_prices(2000, seed=seed)
        if not isinstance(prices, PriceSeries):
            prices = PriceSeries(np.asarray(prices, dtype=np.float64))
        if not 0.0 <= float(cost) < 1.0:
            raise ValueError(f"cost must be a fraction in [0, 1), got {cost}")
        features = tuple(features)
        unknown = [f for f in features if f not in BIN_EDGES]
        if unknown or not features or len(set(features)) != len(features):
            raise ValueError(f"features must be distinct names from {sorted(BIN_EDGES)}, got {features!r}")
        self.prices = prices
        self.features = features
        self.window = int(window)
        self.cost = float(cost)
        self.risk_free = float(risk_free)
        n = len(prices)
        self.start = 0 if start is None else int(start)
        self.end = n if end is None else int(end)
        if not 0 <= self.start < self.end <= n:
            raise ValueError(f"need 0 <= start < end <= {n} (the series length), got start={start}, end={end}")
        # Indicators come from the whole series up to each day: history before `start`
        # is the past, not a leak. The first tradable day needs `window` days of history.
        self.first_day = max(self.start, self.window)
        if self.end - self.first_day < 2:
            raise ValueError(f"series too short for the indicators: {self.end - self.start} days in "
                             f"[{self.start}, {self.end}) but the {self.window}-day window needs at least "
                             f"{self.window + 2} days before the segment end")
        ind = indicators(prices.close[: self.end], window=self.window)
        self._market_state = np.zeros(self.end, dtype=np.int64)  # mixed-radix code of the bins
        for k in features:
            self._market_state = self._market_state * 4 + np.digitize(ind[k], BIN_EDGES[k])
        self._ret = np.diff(prices.close[: self.end]) / prices.close[: self.end - 1]  # _ret[t]: t -> t+1
        self.n_states, self.n_actions = 4 ** len(features) * 3, 3
        self.observation_space = spaces.Discrete(self.n_states)
        self.action_space = spaces.Discrete(3)
        self._t = self.first_day
        self._pos = 0

    def encode(self, t: int, position: int) -> int:
        """State index of day ``t`` holding ``position`` (-1, 0, 1)."""
        return int(self._market_state[t]) * 3 + POSITIONS.index(position)

    def describe(self, state: int) -> dict[str, int]:
        """The bins behind a state index (for reading a learned Q table)."""
        market, pos = divmod(int(state), 3)
        out = {"position": POSITIONS[pos]}
        for k in reversed(self.features):
            market, out[f"{k}_bin"] = divmod(market, 4)
        return out

    # ------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._t, self._pos = self.first_day, 0
        self._returns: list[float] = []
        self._trades = 0
        return self.encode(self._t, self._pos), {"day": self._t}

    def step(self, action: Any):
        a = int(action)
        if not self.action_space.contains(a):
            raise ValueError(f"action must be 0 (short), 1 (flat) or 2 (long), got {action!r}")
        new_pos = POSITIONS[a]
        turnover = abs(new_pos - self._pos)
        daily_rf = self.risk_free / TRADING_DAYS
        market = float(self._ret[self._t])
        # flat cash earns the risk-free rate; the reward is the excess over it
        net = new_pos * market + (1 - abs(new_pos)) * daily_rf - self.cost * turnover
        reward = net - daily_rf
        self._trades += int(turnover > 0)
        self._pos = new_pos
        self._t += 1
        self._returns.append(net)
        terminated = self._t >= self.end - 1
        info: dict[str, Any] = {"day": self._t, "position": new_pos}
        if terminated:
            info["episode"] = self._report(np.asarray(self._returns), self._trades).as_dict()
        return self.encode(self._t, self._pos), float(reward), terminated, False, info

    def _report(self, returns: np.ndarray, trades: int) -> TradingReport:
        eq = equity_curve(returns)
        return TradingReport(sharpe_ratio(returns, risk_free=self.risk_free), float(eq[-1] - 1.0),
                             max_drawdown(eq), int(trades), int(len(returns)))

    # ------------------------------------------------------------ evaluation
    def backtest(self, act: Callable[[int], int]) -> Backtest:
        """Run ``act(obs) -> action`` once over the segment (e.g. a greedy agent's ``act``)."""
        obs, _ = self.reset()
        positions, done = [], False
        while not done:
            obs, _, done, _, info = self.step(act(obs))
            positions.append(info["position"])
        returns = np.asarray(self._returns)
        dates = None if self.prices.dates is None else self.prices.dates[self.first_day: self.end]
        return Backtest(dates, np.asarray(positions), returns, equity_curve(returns),
                        self._report(returns, self._trades))
