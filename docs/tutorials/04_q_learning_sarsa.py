# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Q-learning and SARSA: the cliff, and a stock trader
#
# **The problem.** [Tutorial 03](03_mdps_value_iteration.py) planned with the model in hand.
# A recommender never has it: nobody writes down $P(s' \mid s, a)$ for people. It must learn
# from experience, one transition $(s, a, r, s')$ at a time.
#
# **The idea: temporal differences.** Keep an estimate $Q(s, a)$ of the return of doing $a$
# in $s$, and after each step move it towards a one-step target:
#
# $$Q(s,a) \leftarrow Q(s,a) + \alpha\,\big[\, r + \gamma\, Q(s', a^\dagger) - Q(s,a) \,\big].$$
#
# - **Q-learning** (Watkins & Dayan 1992) takes $a^\dagger = \operatorname{argmax}_{a'} Q(s', a')$: the
#   value of acting *greedily* from $s'$, whatever it actually does next. It is
#   **off-policy**: it learns the optimal policy while exploring.
# - **SARSA** (Rummery & Niranjan 1994) takes $a^\dagger = a'$, the action it really takes
#   next: the value of the policy it follows, exploration included. **On-policy.**
#
# The difference shows on Sutton and Barto's cliff (Example 6.6): walk from `S` to `G`
# along a cliff edge; each step costs 1, falling costs 100 and sends you back to the start.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from recloop.agents.tabular import SARSA, QLearning
from recloop.envs.gridworld import Maze
from recloop.envs.prices import regime_switching_prices, sharpe_ratio
from recloop.envs.trading import TradingEnv
from recloop.planning import value_iteration

FAST = os.environ.get("RECLOOP_TUTORIAL_FAST") == "1"
CLIFF_EPISODES = 300 if FAST else 500
TRADER_EPISODES = 10 if FAST else 30

# %% [markdown]
# ## The cliff

# %%
cliff = Maze("cliff")
print("\n".join(cliff.rows))
optimum = value_iteration(cliff.P, cliff.R, gamma=1.0)
print(f"optimal return from the start: {optimum.values[cliff.start_state]:.0f} (the path along the edge)")

agents, curves = {}, {}
for cls in (QLearning, SARSA):
    agent = cls(cliff.n_states, cliff.n_actions, gamma=1.0, alpha=0.5, epsilon=0.1, seed=0)
    curves[cls.__name__] = agent.learn(cliff, episodes=CLIFF_EPISODES, seed=0)
    agents[cls.__name__] = agent
    print(f"\n{cls.__name__}: mean return while learning (last 100 episodes) "
          f"{curves[cls.__name__].returns[-100:].mean():.1f}")
    print("\n".join(cliff.arrow_grid(agent.greedy_policy())))


def greedy_return(env, policy):
    """The return of following ``policy`` without exploring (the cliff is deterministic)."""
    s, _ = env.reset(seed=0)
    total, done = 0.0, False
    while not done:
        s, r, terminated, truncated, _ = env.step(policy[s])
        total, done = total + r, terminated or truncated
    return total


print(f"\nQ-learning's greedy policy, run without exploring: {greedy_return(cliff, agents['QLearning'].greedy_policy()):.0f}")

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for name, curve in curves.items():
    ax.plot(curve.smoothed(20), label=name)
ax.axhline(optimum.values[cliff.start_state], color="grey", linestyle=":", label="optimal (no exploration)")
ax.set(xlabel="episode", ylabel="return per episode (moving average of 20)", ylim=(-100, 0),
       title="The cliff: returns while exploring with epsilon 0.1")
ax.legend()
plt.show()

# %% [markdown]
# Q-learning learns the optimal path along the edge, but *while exploring* it steps off now
# and then, so its returns during learning are worse. SARSA knows that it explores, values
# the edge accordingly and keeps away from it: better while learning. Its table values the
# policy it actually follows, exploration included, so its arrows far from the edge are
# only as good as its visits there. Which one you want depends on whether your policy will
# keep exploring once it is live. A recommender always does.

# %%
assert curves["SARSA"].returns[-100:].mean() > curves["QLearning"].returns[-100:].mean(), "SARSA is safer online"
assert greedy_return(cliff, agents["QLearning"].greedy_policy()) == optimum.values[cliff.start_state]

# %% [markdown]
# ## A Q-trader, and its Sharpe ratio
#
# `TradingEnv` trades one asset: each day choose short, flat or long for tomorrow; the reward
# is the position times the next day's return, minus a cost per trade. The state is the
# holding plus three indicators (momentum, Bollinger %B, RSI), each binned at fixed
# thresholds and computed from past prices only. A strategy is judged by its annualised
# **Sharpe ratio** (Sharpe 1966), return per unit of risk:
#
# $$\mathrm{Sharpe} = \sqrt{252}\; \frac{\overline{r - r_f}}{\operatorname{sd}(r - r_f)}.$$
#
# The honest test trains on the first 70% of the days and reports the last 30%, which the
# agent never saw.

# %%
prices = regime_switching_prices(2500, seed=0)          # a seeded series with bull and bear regimes
train, test = TradingEnv(prices, end=1750), TradingEnv(prices, start=1750)
trader = QLearning(train.n_states, 3, gamma=0.9, alpha=0.05, epsilon=0.1, seed=0)
trader.learn(train, episodes=TRADER_EPISODES, seed=0)

greedy = lambda s: trader.act(s, explore=False)
runs = {"Q-trader, in sample": train.backtest(greedy), "Q-trader, out of sample": test.backtest(greedy),
        "buy and hold, out of sample": test.backtest(lambda s: 2)}
for name, bt in runs.items():
    r = bt.report
    print(f"{name:28s} Sharpe {r.sharpe:6.2f}  return {r.total_return:7.1%}  max drawdown {r.max_drawdown:6.1%}  "
          f"trades {r.trades}")

# %%
fig, ax = plt.subplots(figsize=(8, 4))
for name in ("Q-trader, out of sample", "buy and hold, out of sample"):
    ax.plot(runs[name].equity, label=name)
ax.set(xlabel="trading day (out of sample)", ylabel="wealth (start = 1)", title="Out-of-sample equity")
ax.legend()
plt.show()

# %% [markdown]
# Compare the Q-trader's two Sharpe ratios: a table of 192 states fitted to 1,750 days of
# one series partly learns that series' noise, and the in-sample number flatters it. Out of
# sample, set its Sharpe beside buy and hold's, and also its return and drawdown: a trader
# that sits flat on most days can have the better ratio and the smaller gain. And a Sharpe
# ratio measured on 750 days is itself uncertain. Lo (2002) gives its standard error,
# roughly $\sqrt{(1 + \mathrm{SR}^2/2)\cdot 252 / T}$ annualised:

# %%
days = len(runs["Q-trader, out of sample"].returns)
for name in ("Q-trader, out of sample", "buy and hold, out of sample"):
    sr = runs[name].report.sharpe
    print(f"{name:28s} Sharpe {sr:.2f} ± {np.sqrt((1 + sr ** 2 / 2) * 252 / days):.2f} (one standard error, {days} days)")

# %% [markdown]
# Differences smaller than that are not evidence. (`docs/tabular.md` reports a setting where
# the same trader lost to buy and hold out of sample.) The point of the example is the
# honest test, not a money machine.

# %%
oos = runs["Q-trader, out of sample"]
assert np.isclose(oos.report.sharpe, sharpe_ratio(oos.returns)), "the report's Sharpe is the formula above"
assert runs["Q-trader, in sample"].report.sharpe > oos.report.sharpe, "in-sample flatters"

# %% [markdown]
# ## What to try next
#
# - Run SARSA's greedy policy without exploring (`greedy_return(cliff, agents["SARSA"].greedy_policy())`),
#   at a few episode counts: in corners it rarely visits, its arrows can walk it into a wall
#   until the episode is cut off.
# - `ExpectedSARSA` averages over the next action instead of sampling it: lower variance.
# - Dyna-Q, `QLearning(..., planning_steps=20)`, replays a learned model between real steps;
#   compare the episodes it needs on `Maze("labyrinth")`.
# - Decay exploration, `epsilon={"kind": "linear", "start": 0.3, "end": 0.0, "steps": 5000}`:
#   does SARSA then find the edge path too?
# - Load real prices with `recloop.envs.prices.load_prices_csv("spy.csv")`, or run
#   `recloop trade`. The [Tabular RL guide](../tabular.md) has more.
#
# **Next:** [05 · Deep Q-learning](05_deep_q_learning.py) — when there are too many states
# for a table.
