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
# # 02 · Non-stationary and contextual bandits
#
# [Tutorial 01](01_bandits.py) assumed two things that real recommenders rarely get: click
# rates that never change, and visitors who are all alike. This tutorial drops both.
#
# **Tastes drift.** An article that was the favourite for weeks goes stale. A policy that
# averages over all its history keeps trusting weeks of old evidence. Two fixes *forget on
# purpose*:
#
# - **sliding-window UCB** (Garivier & Moulines 2011) keeps only the last $w$ rounds:
#   $\hat\mu_k^{(w)} + c\sqrt{\xi \ln \min(t, w) / n_k^{(w)}}$;
# - **discounted UCB / Thompson** weight a click $s$ rounds old by $\gamma^s$, so the
#   evidence fades with a half-life of $\ln 2 / \ln(1/\gamma)$ rounds.
#
# **Visitors differ.** A news site knows something about each visitor (a feature vector
# $x_t$: region, device, topics read). The best article for a sports fan is not the best for
# a reader of politics. **LinUCB** (Li et al. 2010) fits one ridge regression per article,
# $\hat\theta_k = A_k^{-1} b_k$ with $A_k = \lambda I + \sum x x^\top$, $b_k = \sum r x$, and
# shows the article with the highest optimistic score
#
# $$x_t^\top \hat\theta_k + \alpha \sqrt{x_t^\top A_k^{-1} x_t}.$$

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from recloop.agents.bandits import (UCB1, DiscountedThompsonSampling, DiscountedUCB, LinUCB, SlidingWindowUCB,
                                    ThompsonSampling, UniformRandom)
from recloop.envs.bandits import ContextualBandit, DriftingBandit

FAST = os.environ.get("RECLOOP_TUTORIAL_FAST") == "1"
SEEDS = 3 if FAST else 5
DRIFT_HORIZON, CHANGE_AT = (2_000, 1_200) if FAST else (3_500, 2_000)
NEWS_HORIZON = 2_000 if FAST else 5_000


def play(policy, env, seed):
    """Cumulative exact regret of one run; contextual worlds pass the visitor's features as obs."""
    obs, info = env.reset(seed=seed)
    regret = np.empty(env.horizon)
    for t in range(env.horizon):
        arm = policy.act(obs, candidates=info.get("candidates"))
        next_obs, reward, terminated, truncated, info_next = env.step(arm)
        policy.update(arm, reward, obs)
        regret[t] = info_next["optimal_reward"] - info_next["expected_reward"]
        obs, info = next_obs, info_next
    return regret.cumsum()


# %% [markdown]
# ## Part 1: the favourite goes stale
#
# Three articles with click rates 0.7, 0.5 and 0.4. At round `CHANGE_AT` the favourite drops
# to 0.3, and article 2 (0.5) becomes the best. The schedule is part of the world, so every
# policy meets the same change.

# %%
drifting = DriftingBandit(means=[0.7, 0.5, 0.4], change_every=0, horizon=DRIFT_HORIZON,
                          schedule=[[CHANGE_AT, [0.3, 0.5, 0.4]]])
forgetting = {
    "UCB1": lambda s: UCB1(n_arms=3, seed=s),
    "Thompson": lambda s: ThompsonSampling(n_arms=3, seed=s),
    "SW-UCB (window 200)": lambda s: SlidingWindowUCB(n_arms=3, window=200, seed=s),
    "D-UCB (discount 0.98)": lambda s: DiscountedUCB(n_arms=3, discount=0.98, seed=s),
    "D-TS (discount 0.98)": lambda s: DiscountedThompsonSampling(n_arms=3, discount=0.98, seed=s),
}
drift_curves = {name: np.mean([play(make(s), drifting, s) for s in range(SEEDS)], axis=0)
                for name, make in forgetting.items()}
for name, curve in drift_curves.items():
    print(f"{name:22s} regret before the change {curve[CHANGE_AT - 1]:6.1f}, at the end {curve[-1]:6.1f}")

# %% [markdown]
# ## Part 2: a news front page that knows its visitors
#
# `ContextualBandit` draws a visitor $x \sim N(0, I_{16})$ each round; article $k$ has a
# hidden vector $\theta_k$ and the click probability is $\sigma(3\, x^\top\theta_k - 1)$.
# Like a real front page, only 10 of the 40 articles are live at a time
# (`n_candidates`): the live set is in `info["candidates"]`, and a policy must choose among
# it.

# %%
news = ContextualBandit(n_arms=40, n_features=16, n_candidates=10, horizon=NEWS_HORIZON, world_seed=3)
contextual = {
    "random": lambda s: UniformRandom(n_arms=40, seed=s),
    "Thompson (ignores the visitor)": lambda s: ThompsonSampling(n_arms=40, seed=s),
    "LinUCB (alpha 1)": lambda s: LinUCB(n_arms=40, n_features=16, alpha=1.0, seed=s),
}
news_curves = {name: np.mean([play(make(s), news, s) for s in range(SEEDS)], axis=0)
               for name, make in contextual.items()}
for name, curve in news_curves.items():
    print(f"{name:32s} regret after {NEWS_HORIZON} visitors: {curve[-1]:7.1f}")

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
for name, curve in drift_curves.items():
    left.plot(curve, label=name)
left.axvline(CHANGE_AT, color="grey", linestyle=":", label="the favourite goes stale")
left.set(xlabel="round", ylabel="cumulative regret", ylim=(0, None), title="Drifting tastes")
left.legend(fontsize=8)
for name, curve in news_curves.items():
    right.plot(curve, label=name)
right.set(xlabel="visitor", ylabel="cumulative regret", ylim=(0, None), title="News front page (contextual)")
right.legend(fontsize=8)
plt.show()

# %% [markdown]
# Left: forgetting has a price and a payoff. Before the change the forgetting policies
# lose more than UCB1 and Thompson: evidence fades, so they keep re-checking articles they
# already know. After it they turn round within a few hundred rounds, while UCB1 and
# Thompson keep showing the stale favourite, trusting all their old evidence. Which side
# wins depends on how much history there is to forget and how fast: read the final regrets
# printed above. Right: the best article depends on the visitor, so a policy that learns
# one global favourite does no better than random; LinUCB learns who likes what.

# %%
forgetful = min(drift_curves[n][-1] for n in ("SW-UCB (window 200)", "D-UCB (discount 0.98)", "D-TS (discount 0.98)"))
assert forgetful < min(drift_curves["UCB1"][-1], drift_curves["Thompson"][-1]), "forgetting should pay after the change"
assert news_curves["LinUCB (alpha 1)"][-1] < 0.6 * news_curves["Thompson (ignores the visitor)"][-1]

# %% [markdown]
# ## The serving face
#
# A live front page passes its live articles as ids, not indices. `recommend` returns a
# ranking, and the propensity of what it shows (LinUCB breaks ties at random, so before it
# has data every article is equally likely):

# %%
policy = LinUCB(n_features=16, alpha=1.0, seed=0)
visitor = np.random.default_rng(0).normal(size=16)
rec = policy.recommend(visitor, ["sport-17", "politics-4", "science-9", "arts-2"], k=2)
print(rec.items, np.round(rec.propensities, 3))

# %% [markdown]
# ## What to try next
#
# - On a world that redraws every click rate at random (`DriftingBandit(change_every=500)`),
#   forgetting also throws away evidence that is still true: compare again.
# - Tune LinUCB's `alpha` (0.1, 0.5, 2): too little optimism locks in early mistakes.
# - Try `LinTS` (linear Thompson sampling) and `HybridLinUCB`, which shares one model across
#   articles through their features and scores an article nobody has clicked yet.
# - The [Bandits guide](../bandits.md) runs these worlds from YAML configs with `recloop run`.
#
# **Next:** [03 · MDPs and value iteration](03_mdps_value_iteration.py) — when what you
# show now changes what happens next.
