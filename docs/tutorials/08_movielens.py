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
# # 08 · Real data: MovieLens, actor-critic ranking, top-K REINFORCE
#
# **The problem.** Simulators know the truth; real logs do not. MovieLens-100k holds
# 100,000 ratings that 943 people gave 1,682 films, in time order. The task the field
# measures: given what a user watched so far, rank the whole catalogue so that the film they
# watch next comes near the top. We learn from the logs alone, offline.
#
# **Protocol** (RecBole's): each user's last rating is the test target, the one before it
# the validation target; every film is ranked. **HR@10** is the share of users whose next
# film lands in the top 10; **NDCG@10** also rewards a high place,
# $\frac{1}{\log_2(1 + \text{rank})}$.
#
# **Two RL ideas on logged data:**
#
# - **Actor-critic in embedding space** (RecNN; Zhao et al. 2018). Items get fixed vectors
#   (a truncated SVD of the rating matrix). The state is the last 10 items' vectors; the
#   *actor* proposes a vector $\hat e = \mu_\theta(s)$, and the catalogue is ranked by its
#   closeness to $\hat e$ (inner product here). A *critic* $Q_\phi(s, e)$ is trained with
#   TD targets from the ratings, DDPG-style (tutorial 06); because logs cover few actions per
#   state, the actor also regresses towards the logged item (TD3+BC, Fujimoto & Gu 2021).
# - **Top-K off-policy REINFORCE** (Chen et al. 2019, YouTube). A softmax policy
#   $\pi(a \mid s)$ over the catalogue on a GRU state, trained with REINFORCE on the logs. The
#   logs came from another policy $\beta$, so each step is reweighted, and because $K$ items
#   are shown at once, the gradient gets the factor
#
# $$w = \min\!\Big(\frac{\pi(a \mid s)}{\beta(a \mid s)},\, c\Big) \cdot K\,\big(1 - \pi(a \mid s)\big)^{K-1}.$$

# %%
import os

import matplotlib.pyplot as plt
import torch

from recloop.agents.reco import evaluate, make_recommender
from recloop.agents.reco.topk_reinforce import topk_correction_weight
from recloop.data.movielens import load_movielens
from recloop.data.splits import leave_one_out

torch.set_num_threads(1)  # small batches: more threads cost more than they save
FAST = os.environ.get("RECLOOP_TUTORIAL_FAST") == "1"
# Passes over the training logs. (`fit(split, time_budget_s=...)` trains for CPU seconds
# instead, as the benchmarks do; epochs keep this page's numbers the same on any machine.)
AC_EPOCHS, REINFORCE_EPOCHS = (1, 3) if FAST else (4, 10)

# %% [markdown]
# ## The data
#
# `load_movielens()` reads the ML-100k files from recloop's local cache (see the
# [MovieLens guide](../movielens.md) for where they come from); a GroupLens folder path
# works too.

# %%
ml = load_movielens()
split = leave_one_out(ml)
print(f"{ml.n_users} users, {ml.n_items} films, {ml.n_interactions} ratings")
user = ml.user_index(42)
print("user 42 watched last:", [ml.titles[i] for i in split.sequences[user][-5:]])

# %% [markdown]
# ## Three recommenders
#
# Popularity (no learning beyond counting) is the baseline every model must beat. A random
# ranking puts the next film in the top 10 with probability $10 / 1682 \approx 0.006$.

# %%
models = {
    "popularity": make_recommender("pop"),
    "actor-critic (DDPG, embedding space)": make_recommender("ddpg", seed=0, epochs=AC_EPOCHS),
    "top-K off-policy REINFORCE": make_recommender("topk-reinforce", seed=0, epochs=REINFORCE_EPOCHS),
}
results = {}
for name, model in models.items():
    model.fit(split)
    results[name] = evaluate(model, split, "test")
    print(f"{name:38s} HR@10 {results[name]['hr@10']:.4f}  NDCG@10 {results[name]['ndcg@10']:.4f}")
random_hr = 10 / ml.n_items
print(f"{'random ranking':38s} HR@10 {random_hr:.4f}")

# %%
rec = models["actor-critic (DDPG, embedding space)"].recommend(split.sequences[user], k=5)
print("actor-critic's top 5 for user 42:", [ml.titles[i] for i in rec.items])

# %% [markdown]
# ## The top-K correction, drawn
#
# With $K = 1$ the factor is 1 and this is ordinary off-policy REINFORCE. With $K = 10$, an
# item the policy already ranks highly ($\pi \to 1$) gets almost no push: it is in the top
# 10 anyway. Items with small $\pi$ get up to $K$ times the push.

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
pi = torch.linspace(0.001, 0.999, 200)
for k in (1, 2, 5, 10):
    left.plot(pi, topk_correction_weight(pi, beta=pi, k=k, cap=10.0), label=f"K = {k}")
left.set(xlabel="pi(a | s)  (with beta = pi)", ylabel="weight of the step", title="Top-K correction factor")
left.legend()
names = list(results) + ["random ranking"]
right.barh(names, [results[n]["hr@10"] for n in results] + [random_hr])
right.set(xlabel="HR@10 on the test targets", xlim=(0, None), title="MovieLens-100k, next film")
plt.show()

# %%
assert results["actor-critic (DDPG, embedding space)"]["hr@10"] > results["popularity"]["hr@10"]
assert results["top-K off-policy REINFORCE"]["hr@10"] > 3 * random_hr

# %% [markdown]
# After a pass or two over the logs the actor-critic, which starts from ready-made SVD
# embeddings, beats popularity. Top-K REINFORCE has to learn its GRU state and a 1,682-way
# softmax from scratch, so it learns more slowly per pass: compare its line with
# popularity's above, and raise `REINFORCE_EPOCHS` to watch it climb.
#
# Longer runs and the supervised baselines they must beat (GRU4Rec, SASRec) are in the
# [MovieLens guide](../movielens.md): at 120 CPU-s, with 60 seeds, the best RL model (SQN
# with sampled negatives) ties a tuned GRU4Rec at NDCG@10 0.073.
#
# ## What to try next
#
# - Rank by Euclidean distance instead: `make_recommender("ddpg", distance="euclidean")`.
# - `td3` adds twin critics and a delayed actor; `bc_weight=0` drops the behaviour-cloning
#   term: how much does offline RL on logs lean on it?
# - `evaluate(model, split, exclude_history=True)` stops counting films the user already
#   rated; nobody rates a film twice in ML-100k.
# - The logs cannot say how a user would react to a film they were never shown: the
#   fitted `recloop.envs.movielens.MovieLensSimulator` can (with its own caveats).
#
# **Next:** [09 · Off-policy evaluation](09_off_policy_evaluation.py) — estimating how a
# new policy would do, from logs of an old one.
