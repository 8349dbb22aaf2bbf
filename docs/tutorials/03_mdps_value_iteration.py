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
# # 03 · MDPs: value iteration on a maze
#
# **The problem.** A bandit's choice changes nothing but this round's reward. In most of
# life, and in recommendation, what you do now changes where you will be next: a film shown
# tonight shapes tomorrow's tastes. That is a **Markov decision process**: states $s$,
# actions $a$, transition probabilities $P(s' \mid s, a)$, rewards $R(s, a)$ and a discount
# $\gamma$. The goal is a policy $\pi(s)$ that maximises the expected discounted return
# $\mathbb{E}\big[\sum_t \gamma^t r_t\big]$.
#
# **The idea.** When the model $(P, R)$ is known, the optimal values satisfy the **Bellman
# optimality equation**
#
# $$V^*(s) = \max_a \Big[ R(s, a) + \gamma \sum_{s'} P(s' \mid s, a)\, V^*(s') \Big],$$
#
# and **value iteration** (Bellman 1957) just applies the right-hand side again and again.
# Each sweep shrinks the error by a factor $\gamma$ at least, and the *Bellman residual*
# $\max_s |V_{k+1}(s) - V_k(s)|$ says how far from the optimum we still are. A maze is the
# smallest world where this can be seen, and checked.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from recloop.envs.gridworld import Maze
from recloop.envs.tabular_reco import SessionRecommender
from recloop.planning import evaluate_policy, policy_iteration, q_values, value_iteration

FAST = os.environ.get("RECLOOP_TUTORIAL_FAST") == "1"
EPISODES = 300 if FAST else 2_000   # Monte Carlo check of the planned values
GAMMA = 0.99

# %% [markdown]
# ## A maze with a known model
#
# Four rooms joined by doorways (Sutton, Precup & Singh 1999), a trap `T` and a goal `G`.
# Each move costs 0.01; with `slip=0.1` a move goes sideways one time in ten, so the
# model is stochastic. Every floor cell is a state; `env.P` and `env.R` are exact.

# %%
env = Maze("rooms", slip=0.1)
print("\n".join(env.rows))
print(f"{env.n_states} states, {env.n_actions} actions; P {env.P.shape}, R {env.R.shape}")

# %% [markdown]
# ## Value iteration, one sweep at a time
#
# `q_values(P, R, V, gamma)` is the bracket of the Bellman equation for every $(s, a)$; its
# maximum over actions is one sweep. We watch the residual fall.

# %%
V = np.zeros(env.n_states)
residuals = []
for _ in range(2_000):
    V_next = q_values(env.P, env.R, V, GAMMA).max(axis=1)
    residuals.append(np.abs(V_next - V).max())
    V = V_next
    if residuals[-1] < 1e-8:
        break
print(f"converged after {len(residuals)} sweeps, residual {residuals[-1]:.1e}")

plan = value_iteration(env.P, env.R, gamma=GAMMA)      # the same thing, as one call
print(f"value_iteration: {plan.iterations} sweeps, residual {plan.bellman_residual:.1e}")
print("\n".join(env.arrow_grid(plan.policy)))

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
left.semilogy(residuals)
left.set(xlabel="sweep", ylabel="Bellman residual (log scale)", title="Value iteration converges geometrically")
# Goal and trap are absorbing (value 0 once there): leave them blank rather than colour them as bad cells.
image = right.imshow(env.value_grid(np.where(env.terminal, np.nan, plan.values)), cmap="viridis")
for s, (i, j) in enumerate(env.cells):
    kind = env.rows[i][j]
    right.text(j, i, kind if kind in "GT" else "↑→↓←"[plan.policy[s]], ha="center", va="center",
               color="black" if kind in "GT" else "white", fontsize=8)
right.set(title="V* and the optimal policy", xticks=[], yticks=[])
fig.colorbar(image, ax=right, shrink=0.8)
plt.show()

# %% [markdown]
# ## Checking the plan against the truth
#
# Two independent checks. **Policy iteration** (Howard 1960) alternates exact evaluation of
# a policy, solving $V^\pi = R^\pi + \gamma P^\pi V^\pi$ as a linear system, with greedy
# improvement; it must find the same policy. And **running** the policy in the environment
# must earn, on average, the value the plan predicts for the start state.

# %%
howard = policy_iteration(env.P, env.R, gamma=GAMMA)
same_values = np.allclose(howard.values, plan.values, atol=1e-6)
print(f"policy iteration: {howard.iterations} improvements; same values as value iteration: {same_values}")


def discounted_return(env, policy, seed):
    s, _ = env.reset(seed=seed)
    total, discount, done = 0.0, 1.0, False
    while not done:
        s, r, terminated, truncated, _ = env.step(policy[s])
        total += discount * r
        discount *= GAMMA
        done = terminated or truncated
    return total


returns = np.array([discounted_return(env, plan.policy, seed) for seed in range(EPISODES)])
stderr = returns.std(ddof=1) / np.sqrt(EPISODES)
print(f"V*(start) = {plan.values[env.start_state]:.4f}; simulated mean {returns.mean():.4f} ± {stderr:.4f} "
      f"over {EPISODES} episodes")

# A worse policy, evaluated exactly: always head right, then down.
naive = np.where(np.arange(env.n_states) % 2 == 0, 1, 2)
print(f"V(start) of 'right or down': {evaluate_policy(env.P, env.R, naive, gamma=GAMMA)[env.start_state]:.4f}")

# %%
assert same_values
assert abs(returns.mean() - plan.values[env.start_state]) < 4 * stderr, "simulation should agree with the plan"

# %% [markdown]
# ## The same machinery recommends
#
# `SessionRecommender` is a small recommendation MDP: a user of one of 4 segments, 5 item
# categories, and clicks that depend on the segment and on the last click (repeating a
# category tires; its follow-up category attracts). It knows its own model, so value
# iteration gives the best possible recommender, to compare with the best one-category-for-
# everyone policy a bandit could find:

# %%
reco = SessionRecommender()
category, bandit_clicks = reco.best_fixed_action()
best = reco.optimal()
print(f"clicks per session: best single category ({category}) {bandit_clicks:.2f}; "
      f"optimal policy {best.values @ reco.initial_distribution():.2f}")

# %% [markdown]
# ## What to try next
#
# - Set `slip=0.3`: the optimal path swings wider of the trap. At `GAMMA = 0.9`, does the
#   far goal still pay?
# - Draw your own maze as a string: `Maze("S..#\n.#.G\n...T")` (`#` wall, `T` trap).
# - `recloop maze --map cliff` prints this for Sutton and Barto's cliff and writes a heat map.
# - The [Tabular RL guide](../tabular.md) has the environments' options.
#
# **Next:** [04 · Q-learning and SARSA](04_q_learning_sarsa.py) — when nobody gives you
# $P$ and $R$.
