"""Trading env and price tools: no look-ahead, hand-computed Sharpe, CSV validation, check_env."""

import math
import statistics

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

from recloop.agents.tabular import QLearning
from recloop.envs.prices import (
    PriceSeries,
    equity_curve,
    indicators,
    load_prices_csv,
    max_drawdown,
    regime_switching_prices,
    sharpe_ratio,
)
from recloop.envs.trading import TradingEnv

prices = st.lists(st.floats(min_value=1.0, max_value=1000.0, allow_nan=False), min_size=5, max_size=80)


@settings(max_examples=60, deadline=None)
@given(close=prices, window=st.integers(2, 10), data=st.data())
def test_indicators_use_past_prices_only(close, window, data):
    """Indicators at t computed from the whole series equal those from prices up to t,
    and changing any later price leaves them unchanged."""
    close = np.array(close)
    t = data.draw(st.integers(0, len(close) - 1))
    full = indicators(close, window=window)
    past = indicators(close[: t + 1], window=window)
    future = close.copy()
    future[t + 1:] = data.draw(st.floats(1.0, 1000.0))
    changed = indicators(future, window=window)
    for k in full:
        np.testing.assert_array_equal(full[k][: t + 1], past[k])
        np.testing.assert_array_equal(full[k][: t + 1], changed[k][: t + 1])


def test_indicator_values_by_hand():
    close = np.array([10.0, 11.0, 10.0, 12.0, 13.0])
    ind = indicators(close, window=3)
    assert np.isnan(ind["rsi"][:3]).all()
    assert ind["rsi"][3] == pytest.approx(100 * 3 / 4)  # changes +1 -1 +2
    win = close[1:4]
    pb = (close[3] - (win.mean() - 2 * win.std())) / (4 * win.std())
    assert ind["percent_b"][3] == pytest.approx(pb)
    r = np.diff(np.log(close))[0:3]
    assert ind["momentum"][3] == pytest.approx(math.log(12 / 10) / (r.std() * math.sqrt(3)))


def test_sharpe_drawdown_by_hand():
    r = [0.01, -0.02, 0.015, 0.003, -0.001]
    expected = statistics.mean(r) / statistics.stdev(r) * math.sqrt(252)
    assert sharpe_ratio(np.array(r)) == pytest.approx(expected)
    assert sharpe_ratio(np.array(r), risk_free=0.0252) == pytest.approx(
        (statistics.mean(r) - 0.0001) / statistics.stdev(r) * math.sqrt(252))
    assert sharpe_ratio(np.zeros(5)) == 0.0
    eq = equity_curve(np.array([0.1, -0.5, 0.2]))
    np.testing.assert_allclose(eq, [1.0, 1.1, 0.55, 0.66])
    assert max_drawdown(eq) == pytest.approx(0.5)


def test_env_passes_check_env_and_reports():
    env = TradingEnv(regime_switching_prices(200, seed=0))
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    done, steps = False, 0
    while not done:
        obs, _, done, _, info = env.step(2)
        steps += 1
    assert steps == 200 - 20 - 1 and info["episode"]["days"] == steps and info["episode"]["trades"] == 1


def test_rewards_are_position_times_return_minus_cost():
    close = np.array([100.0, 100, 100, 110, 99, 99, 108.9])
    env = TradingEnv(close, window=2, cost=0.01, features=("rsi",))
    env.reset(seed=0)
    assert env.step(2)[1] == pytest.approx(0.10 - 0.01)  # go long: +10 %, pay 1 %
    assert env.step(0)[1] == pytest.approx(0.10 - 0.02)  # long -> short: price -10 %, pay 2 %
    assert env.step(1)[1] == pytest.approx(-0.01)  # flat
    bt = env.backtest(lambda obs: 2)
    assert bt.report.total_return == pytest.approx((1 + 0.10 - 0.01) * 0.9 * 1.0 * 1.1 - 1)
    assert bt.report.max_drawdown == pytest.approx(1 - 0.9)
    np.testing.assert_array_equal(bt.positions, [1, 1, 1, 1])
    assert len(bt.equity) == len(bt.dates if bt.dates is not None else bt.equity)


def test_q_trader_learns_an_obvious_rule():
    """A price that rises whenever RSI is low and falls when it is high: Q-learning
    on it must beat buy-and-hold in sample by a wide margin."""
    rng = np.random.default_rng(0)
    close = [100.0, 101.0, 100.0]
    for _ in range(400):
        ind = indicators(np.array(close), window=2)["rsi"][-1]
        close.append(close[-1] * (1 + (0.01 if ind < 50 else -0.01) + 0.002 * rng.standard_normal()))
    env = TradingEnv(np.array(close), window=2, cost=0.0, features=("rsi",))
    agent = QLearning(env.n_states, 3, gamma=0.0, alpha=0.1, epsilon=0.2, seed=0)
    agent.learn(env, episodes=10, seed=0)
    learned = env.backtest(lambda o: agent.act(o, explore=False)).report
    hold = env.backtest(lambda o: 2).report
    assert learned.sharpe > hold.sharpe + 5 and learned.total_return > 1.0


def test_generator_is_seeded():
    a, b = regime_switching_prices(300, seed=5), regime_switching_prices(300, seed=5)
    np.testing.assert_array_equal(a.close, b.close)
    assert not np.array_equal(a.close, regime_switching_prices(300, seed=6).close)
    assert (np.diff(a.dates).astype(int) >= 1).all()


def write(tmp_path, text):
    path = tmp_path / "prices.csv"
    path.write_text(text)
    return path


def test_csv_loads_ohlcv(tmp_path):
    path = write(tmp_path, "Date,Open,High,Low,Close,Volume\n2020-01-02,1,2,0.5,1.5,10\n2020-01-03,1,2,1,1.8,5\n")
    s = load_prices_csv(path)
    np.testing.assert_allclose(s.close, [1.5, 1.8])
    assert s.dates[1] == np.datetime64("2020-01-03")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Date,Open\n2020-01-02,1\n", "no price column 'Close'"),
        ("Day,Close\n2020-01-02,1\n", "no date column 'Date'"),
        ("Date,Close\n2020-01-03,1\n2020-01-02,2\n", "line 3: dates are not increasing"),
        ("Date,Close\n2020-01-02,1\n2020-01-02,2\n", "not increasing"),
        ("Date,Close\n2020-01-02,1\n2020-01-03,NaN\n", "line 3: price 'NaN'"),
        ("Date,Close\n2020-01-02,1\n2020-01-03,\n", "line 3: price '' .* missing"),
        ("Date,Close\nyesterday,1\n", "line 2: cannot read date 'yesterday'"),
        ("Date,Close\n2020-01-02,-1\n", "not positive"),
        ("", "empty"),
    ],
)
def test_bad_csv_is_named(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        load_prices_csv(write(tmp_path, text))


def test_bad_env_input_is_named(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_prices_csv(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="series too short for the indicators"):
        TradingEnv(np.linspace(1, 2, 15), window=20)
    with pytest.raises(ValueError, match="NaN"):
        PriceSeries(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="features"):
        TradingEnv(np.linspace(1, 2, 50), features=("macd",))
    with pytest.raises(ValueError, match="start < end"):
        TradingEnv(np.linspace(1, 2, 50), start=40, end=30)
    with pytest.raises(ValueError, match="action must be"):
        env = TradingEnv(np.linspace(1, 2, 50))
        env.reset(seed=0)
        env.step(3)
