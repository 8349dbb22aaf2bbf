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
# # 01 · Multi-armed bandits: explore, exploit, and count what it costs
#
# **The problem.** A site has ten articles and one slot on its front page. Each visitor is
# shown one article and clicks it or not. Nobody knows the click rates; every visitor shown
# a worse article than the best is a click lost. How should the site choose, visitor after
# visitor, so that it learns the best article while losing as little as possible?
#
# That is the *multi-armed bandit*. Its measure is the **regret** after $T$ rounds: the
# clicks the best article would have earned minus the clicks we expect to earn,
#
# $$R_T = \sum_{t=1}^{T} \big(\mu^* - \mu_{a_t}\big), \qquad \mu^* = \max_k \mu_k .$$
#
# recloop's simulated worlds know the true $\mu_k$, so regret is *measured*, not estimated.
#
# **Four ideas** (all in `recloop.agents.bandits`):
#
# - **epsilon-greedy**: show the best-looking article, but with probability $\varepsilon$ a
#   random one. Simple; keeps paying for exploration for ever.
# - **UCB1** (Auer et al. 2002): optimism in the face of uncertainty. Show the article with
#   the highest upper confidence bound $\hat\mu_k + c\sqrt{2\ln t / n_k}$: rarely tried
#   articles get a bonus that shrinks as they are tried. Regret grows like $\log T$.
# - **Thompson sampling**: keep a Beta posterior $\mathrm{Beta}(1 + s_k, 1 + f_k)$ per
#   article (successes, failures), draw one sample from each, show the largest.
# - **Gittins index** (Gittins 1979): the Bayes-optimal answer when future clicks are
#   discounted by $\gamma$. Each article gets the retirement reward at which you are
#   indifferent between playing it (optimally, with the right to stop) and retiring.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from recloop.agents.bandits import EpsilonGreedy, GittinsIndex, ThompsonSampling, UCB1, UniformRandom, gittins_index
from recloop.envs.bandits import BernoulliBandit

# The CI runs every tutorial at a small budget; unset, you get the full one.
FAST = os.environ.get("RECLOOP_TUTORIAL_FAST") == "1"
HORIZON, SEEDS = (2_000, 3) if FAST else (5_000, 10)

# %% [markdown]
# ## A world with known truth
#
# Ten articles with click rates drawn once from `world_seed`. Every `env.step` returns the
# exact expected reward of what was shown and of the best article in `info`.

# %%
env = BernoulliBandit(n_arms=10, horizon=HORIZON, world_seed=7)
print("true click rates:", np.round(env.expected_rewards(), 3))
print("best article:", env.expected_rewards().argmax())


def play(policy, env, seed):
    """One run: the policy acts, learns from each click, and we add up its exact regret."""
    obs, info = env.reset(seed=seed)
    regret = np.empty(env.horizon)
    for t in range(env.horizon):
        arm = policy.act(obs)
        obs, reward, terminated, truncated, info = env.step(arm)
        policy.update(arm, reward, obs)
        regret[t] = info["optimal_reward"] - info["expected_reward"]
    return regret.cumsum()


# %% [markdown]
# ## The ladder, side by side
#
# Each policy plays the same world for the same seeds, so the comparison is not the luck of
# the draw.

# %%
policies = {
    "random": lambda s: UniformRandom(n_arms=10, seed=s),
    "epsilon-greedy 0.1": lambda s: EpsilonGreedy(n_arms=10, epsilon=0.1, seed=s),
    "UCB1": lambda s: UCB1(n_arms=10, seed=s),
    "Thompson": lambda s: ThompsonSampling(n_arms=10, seed=s),
    "Gittins (discount 0.99)": lambda s: GittinsIndex(n_arms=10, discount=0.99, seed=s),
}
curves = {name: np.mean([play(make(s), env, seed=s) for s in range(SEEDS)], axis=0)
          for name, make in policies.items()}
for name, curve in curves.items():
    print(f"{name:24s} regret after {HORIZON} rounds: {curve[-1]:7.1f}")

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for name, curve in curves.items():
    ax.plot(np.arange(1, HORIZON + 1), curve, label=name)
ax.set(xlabel="round", ylabel="cumulative regret (clicks lost)", ylim=(0, None),
       title=f"10-armed Bernoulli bandit, mean of {SEEDS} seeds")
ax.legend()
plt.show()

# %% [markdown]
# Random loses clicks at a constant rate (a straight line), and so, once it has found the
# best article, does epsilon-greedy: it keeps exploring one visitor in ten for ever.
# Thompson and Gittins bend over early: their exploration fades as the posteriors sharpen.
# UCB1 bends too, but slowly here: its bonus $\sqrt{2 \ln t / n_k}$ is large next to the
# gap between the two best articles (0.897 and 0.874 above), so it keeps re-checking the
# runner-up. Its regret grows like $\log T$, epsilon-greedy's like $T$: raise `HORIZON` and
# watch the two lines.

# %%
assert curves["UCB1"][-1] < curves["random"][-1] / 3, "UCB1 should lose far fewer clicks than random"
assert curves["Thompson"][-1] < curves["epsilon-greedy 0.1"][-1], "Thompson should beat constant epsilon"

# %% [markdown]
# ## The Gittins index up close
#
# The index of a fresh article, $\mathrm{Beta}(1, 1)$, is worth more than its mean 0.5: the
# option of learning is worth something. One success raises it, one failure lowers it. The
# published values at $\gamma = 0.9$ are 0.7029, 0.8001 and 0.5001:

# %%
for a, b in [(1, 1), (2, 1), (1, 2), (10, 10)]:
    print(f"Beta({a:2d},{b:2d})  mean {a / (a + b):.3f}  Gittins index {gittins_index(a, b, discount=0.9):.4f}")

# %% [markdown]
# ## Every choice says how likely it was
#
# A recloop policy that chooses for people also reports the probability of its choice. That
# propensity is what makes the logs usable later for off-policy evaluation
# ([tutorial 09](09_off_policy_evaluation.py)):

# %%
ts = ThompsonSampling(n_arms=10, seed=0)
play(ts, env, seed=0)
print("Thompson's probabilities after learning:", np.round(ts.probabilities(), 3))

# %% [markdown]
# ## What to try next
#
# - Make the problem harder: `BernoulliBandit(means=[0.50, 0.51, 0.52])` — close arms take
#   far longer to tell apart. How does UCB1's constant `c` trade speed against mistakes?
# - Replace the constant epsilon with a schedule:
#   `EpsilonGreedy(epsilon={"kind": "inverse_time", "scale": 10})`.
# - Try `KLUCB`, asymptotically optimal for Bernoulli rewards, and `EXP3`, built for an
#   adversary.
# - Run the same comparison from a YAML config: `recloop run` (see [Bandits](../bandits.md)).
#
# **Next:** [02 · Non-stationary and contextual bandits](02_contextual_bandits.py) — when
# tastes drift, and when each visitor is different.
