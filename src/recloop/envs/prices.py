"""Daily price series for the trading env: CSV loading with validation, a seeded
regime-switching generator, technical indicators that use past prices only, and
the performance figures of a strategy (Sharpe ratio, total return, max drawdown).

Examples
--------
>>> from recloop.envs.prices import regime_switching_prices, indicators
>>> series = regime_switching_prices(300, seed=0)
>>> len(series), series.dates[0]
(300, np.datetime64('2000-01-03'))
>>> ind = indicators(series.close, window=20)
>>> sorted(ind), bool(np.isnan(ind["rsi"][19])), bool(np.isnan(ind["rsi"][20]))
(['momentum', 'percent_b', 'rsi'], True, False)
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from recloop.core.seeding import as_generator

TRADING_DAYS = 252


@dataclass(frozen=True, slots=True)
class PriceSeries:
    """Closing prices (positive, finite) on strictly increasing dates."""

    close: np.ndarray
    dates: np.ndarray | None = None
    name: str = "prices"

    def __post_init__(self) -> None:
        close = np.asarray(self.close, dtype=np.float64)
        if close.ndim != 1:
            raise ValueError(f"prices must be 1-d, got shape {close.shape}")
        bad = np.flatnonzero(~np.isfinite(close))
        if bad.size:
            raise ValueError(f"{self.name}: price at position {bad[0]} is NaN or infinite")
        bad = np.flatnonzero(close <= 0)
        if bad.size:
            raise ValueError(f"{self.name}: price at position {bad[0]} is not positive ({close[bad[0]]})")
        object.__setattr__(self, "close", close)
        if self.dates is not None:
            dates = np.asarray(self.dates, dtype="datetime64[D]")
            if dates.shape != close.shape:
                raise ValueError(f"{self.name}: {len(dates)} dates for {len(close)} prices")
            bad = np.flatnonzero(np.diff(dates) <= np.timedelta64(0, "D"))
            if bad.size:
                raise ValueError(f"{self.name}: dates are not increasing at position {bad[0] + 1} "
                                 f"({dates[bad[0]]} then {dates[bad[0] + 1]})")
            object.__setattr__(self, "dates", dates)

    def __len__(self) -> int:
        return len(self.close)


def load_prices_csv(path: str | os.PathLike, *, column: str = "Close", date_column: str = "Date") -> PriceSeries:
    """Read a daily price CSV (``Date`` + ``Close``, optionally Open/High/Low/Volume...).

    Column names match case-insensitively. Every problem names the row it is on.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"price file {path} does not exist")
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header:
            raise ValueError(f"{path}: the CSV is empty")
        lower = [h.strip().lower() for h in header]
        for wanted in (date_column, column):
            if wanted.lower() not in lower:
                what = "date" if wanted == date_column else "price"
                raise ValueError(f"{path}: no {what} column {wanted!r}; columns are {', '.join(header)}")
        di, ci = lower.index(date_column.lower()), lower.index(column.lower())
        dates, close = [], []
        for lineno, row in enumerate(reader, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) <= max(di, ci):
                raise ValueError(f"{path}, line {lineno}: expected {len(header)} fields, got {len(row)}")
            try:
                dates.append(np.datetime64(row[di].strip()[:10], "D"))
            except ValueError:
                raise ValueError(f"{path}, line {lineno}: cannot read date {row[di]!r} (use YYYY-MM-DD)") from None
            text = row[ci].strip()
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                raise ValueError(f"{path}, line {lineno}: price {text!r} in column {column!r} is missing or not a number")
            close.append(value)
    if not close:
        raise ValueError(f"{path}: no price rows")
    d = np.array(dates, dtype="datetime64[D]")
    bad = np.flatnonzero(np.diff(d) <= np.timedelta64(0, "D"))
    if bad.size:
        raise ValueError(f"{path}, line {bad[0] + 3}: dates are not increasing ({d[bad[0]]} then {d[bad[0] + 1]})")
    return PriceSeries(np.array(close), d, name=path.stem)


# Regimes (daily log-return drift, volatility): calm bull, volatile bear, flat chop.
DEFAULT_REGIMES = ((0.0008, 0.009), (-0.0012, 0.018), (0.0, 0.006))
DEFAULT_SWITCH = ((0.985, 0.010, 0.005), (0.020, 0.970, 0.010), (0.010, 0.010, 0.980))


def regime_switching_prices(n_days: int = 2000, *, seed: int | np.random.Generator | None = 0,
                            regimes: tuple = DEFAULT_REGIMES, switch: tuple = DEFAULT_SWITCH,
                            start_price: float = 100.0, start_date: str = "2000-01-03") -> PriceSeries:
    """A Markov regime-switching random walk (Hamilton, 1989) on business days.

    The hidden regime follows the Markov chain ``switch``; each day's log return is
    normal with that regime's (drift, volatility). Persistent regimes make trends
    that momentum indicators can pick up — the structure a Q-trader can learn.
    """
    if int(n_days) < 2:
        raise ValueError(f"n_days must be at least 2, got {n_days}")
    params = np.asarray(regimes, dtype=np.float64)
    T = np.asarray(switch, dtype=np.float64)
    if params.ndim != 2 or params.shape[1] != 2 or T.shape != (len(params), len(params)):
        raise ValueError("regimes is a list of (drift, volatility); switch a square matrix of the same size")
    if (T < 0).any() or not np.allclose(T.sum(axis=1), 1.0):
        raise ValueError("each row of switch must be a probability distribution")
    rng = as_generator(seed)
    state = np.empty(int(n_days) - 1, dtype=np.int64)
    k = int(rng.integers(len(params)))
    cum = np.cumsum(T, axis=1)
    u = rng.random(len(state))
    for t in range(len(state)):
        state[t] = k
        k = min(int(np.searchsorted(cum[k], u[t], side="right")), len(params) - 1)
    log_ret = params[state, 0] + params[state, 1] * rng.standard_normal(len(state))
    close = start_price * np.exp(np.concatenate([[0.0], np.cumsum(log_ret)]))
    dates = np.busday_offset(np.datetime64(start_date, "D"), np.arange(int(n_days)), roll="forward")
    return PriceSeries(close, dates, name="regime-switching")


def indicators(close: np.ndarray, *, window: int = 20) -> dict[str, np.ndarray]:
    """Momentum z-score, Bollinger %B and RSI at each day, from that day's and earlier prices only.

    Every value at ``t`` is a function of ``close[t - window : t + 1]``; before
    ``window`` days of history exist it is NaN.

    - ``momentum``: the ``window``-day log return over its expected spread,
      ``log(p_t / p_{t-w}) / (sd_daily * sqrt(w))`` — scale-free, so fixed bins fit any asset.
    - ``percent_b``: where the price sits in the Bollinger bands, ``(p - (m - 2 sd)) / (4 sd)``
      (Bollinger, 2001): below 0 under the lower band, above 1 over the upper.
    - ``rsi``: the relative strength index with simple averages, ``100 * gains / (gains + losses)``
      (Wilder, 1978).
    """
    close = np.asarray(close, dtype=np.float64)
    w = int(window)
    if w < 2:
        raise ValueError(f"window must be at least 2, got {window}")
    n = len(close)
    out = {k: np.full(n, np.nan) for k in ("momentum", "percent_b", "rsi")}
    if n <= w:
        return out
    log_p = np.log(close)
    r = np.diff(log_p)  # r[t-1] is the return into day t
    rw = sliding_window_view(r, w)  # row j: returns into days j+1 .. j+w
    sd_r = rw.std(axis=1)
    mom = log_p[w:] - log_p[:-w]
    out["momentum"][w:] = np.divide(mom, sd_r * math.sqrt(w), out=np.zeros_like(mom), where=sd_r > 0)
    pw = sliding_window_view(close, w)[1:]  # prices of days t-w+1 .. t, for t >= w
    mean, sd = pw.mean(axis=1), pw.std(axis=1)
    pb = np.divide(close[w:] - (mean - 2 * sd), 4 * sd, out=np.full(n - w, 0.5), where=sd > 0)
    out["percent_b"][w:] = pb
    d = np.diff(close)
    dw = sliding_window_view(d, w)
    gains, losses = np.clip(dw, 0, None).sum(axis=1), np.clip(-dw, 0, None).sum(axis=1)
    total = gains + losses
    out["rsi"][w:] = np.divide(100 * gains, total, out=np.full(n - w, 50.0), where=total > 0)
    return out


# ---------------------------------------------------------------- performance
def sharpe_ratio(returns: np.ndarray, *, risk_free: float = 0.0, periods_per_year: int = TRADING_DAYS) -> float:
    """Annualised Sharpe ratio (Sharpe, 1966): ``sqrt(periods) * mean(excess) / sd(excess)``,
    with the sample standard deviation (ddof=1). ``risk_free`` is the annual rate; 0 when flat."""
    r = np.asarray(returns, dtype=np.float64) - risk_free / periods_per_year
    if r.size < 2:
        return 0.0
    sd = r.std(ddof=1)
    return 0.0 if sd == 0 else float(math.sqrt(periods_per_year) * r.mean() / sd)


def equity_curve(returns: np.ndarray) -> np.ndarray:
    """Wealth starting from 1, compounding the per-period simple returns (length n + 1)."""
    return np.concatenate([[1.0], np.cumprod(1.0 + np.asarray(returns, dtype=np.float64))])


def max_drawdown(equity: np.ndarray) -> float:
    """Largest peak-to-trough loss as a fraction of the peak (0 = never below a previous high)."""
    e = np.asarray(equity, dtype=np.float64)
    return float((1.0 - e / np.maximum.accumulate(e)).max()) if e.size else 0.0
