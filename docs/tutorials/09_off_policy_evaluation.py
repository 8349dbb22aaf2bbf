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
# # 09 · Off-policy evaluation: judge a new policy on old logs
#
# **The problem.** Every recommender so far was scored in a simulator, or on the next film
# in a log. A team with a new policy wants to know: *if we had shown users what this
# policy would have shown, how many clicks would we have had?* An A/B test answers it, at
# the price of showing a possibly worse policy to real people. Off-policy evaluation (OPE)
# answers it from the logs of the old policy, if the logs say how likely each logged
# choice was: the **propensity** $\beta(a_i \mid x_i)$ that every recloop policy reports.
#
# **The estimators.** With logs $(x_i, a_i, r_i, \beta_i)$, the new policy $\pi$, and
# importance weights $w_i = \pi(a_i \mid x_i) / \beta(a_i \mid x_i)$:
#
# - **IPS** (inverse propensity scoring): $\hat V = \frac1n \sum_i w_i r_i$. Unbiased, but
#   large weights make it noisy.
# - **SNIPS** (self-normalised): $\sum_i w_i r_i / \sum_i w_i$. A little bias, much less variance.
# - **DM** (direct method): fit a reward model $\hat q(x, a)$ and average
#   $\sum_a \pi(a \mid x_i)\, \hat q(x_i, a)$. Low variance; as biased as the model is wrong.
# - **DR** (doubly robust, Dudík et al. 2011): DM plus an IPS correction of its residuals,
#   $\frac1n \sum_i \big[\sum_a \pi(a \mid x_i)\hat q(x_i, a) + w_i\,(r_i - \hat q(x_i, a_i))\big]$.
#   Unbiased if either the propensities or the model are right.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from recloop.ope import dm, dr, evaluate_all, ips, snips
from recloop.ope.reward_model import estimate_q
from recloop.ope.synthetic import ContextualWorld, softmax_policy

FAST = os.environ.get("RECLOOP_TUTORIAL_FAST") == "1"
LOG_SIZES = [300, 1_000, 3_000] if FAST else [300, 1_000, 3_000, 10_000]
REPLICATES = 12 if FAST else 40

# %% [markdown]
# ## A world where the truth is known
#
# `ContextualWorld` is a contextual bandit whose mean reward has a sine term, so the linear
# reward model that DM and DR fit is deliberately *wrong*, as real reward models are. The
# behaviour policy is a soft (temperature 1) softmax over the true rewards; the policy we
# want to evaluate is a sharper one (temperature 0.2), so the two disagree often.

# %%
world = ContextualWorld(n_actions=10, n_features=5, seed=0)
behaviour = softmax_policy(world, temperature=1.0)
target = softmax_policy(world, temperature=0.2)
truth = world.value(target, n=200_000)
print(f"true value of the new policy {truth:.4f}; of the logging policy {world.value(behaviour, n=200_000):.4f}")

# %% [markdown]
# ## One set of logs, every estimator
#
# `evaluate_all` runs the whole suite on one `LoggedFeedback` (the same schema the server
# writes, [tutorial 10](10_live_loop.py)) and gives each estimate a 95% interval and weight
# diagnostics (the effective sample size $(\sum w)^2 / \sum w^2$ says how many logs the
# estimate is really worth).

# %%
logs = world.logs(behaviour, 3_000, seed=1)
for e in evaluate_all(logs, target(logs.context)):
    covers = "covers" if e.ci_low <= truth <= e.ci_high else "misses"
    print(f"{e.estimator:10s} {e.value:.4f}  [{e.ci_low:.4f}, {e.ci_high:.4f}]  {covers} the truth   "
          f"ESS {e.diagnostics.ess:,.0f}")

# %% [markdown]
# ## Bias and variance, measured
#
# One set of logs is one draw. To see what each estimator does on average, we draw many
# independent logs of each size and measure the error against the truth.

# %%
def estimates(n, seed):
    logs = world.logs(behaviour, n, seed=seed)
    pi = target(logs.context)
    q_hat = estimate_q(logs.context, logs.action, logs.reward, world.n_actions)
    args = (logs.reward, logs.action, logs.propensity, pi)
    return {"IPS": ips(*args).value, "SNIPS": snips(*args).value,
            "DM": dm(*args, q_hat).value, "DR": dr(*args, q_hat).value}


errors = {name: [] for name in ("IPS", "SNIPS", "DM", "DR")}
bias = {name: [] for name in errors}
for n in LOG_SIZES:
    draws = [estimates(n, seed=1_000 * n + r) for r in range(REPLICATES)]
    for name in errors:
        values = np.array([d[name] for d in draws])
        errors[name].append(np.sqrt(np.mean((values - truth) ** 2)))
        bias[name].append(values.mean() - truth)
for name in errors:
    print(f"{name:6s} RMSE " + "  ".join(f"n={n}: {e:.4f}" for n, e in zip(LOG_SIZES, errors[name]))
          + f"   bias at n={LOG_SIZES[-1]}: {bias[name][-1]:+.4f}")

# %%
fig, ax = plt.subplots(figsize=(7, 4.5))
for name, rmse in errors.items():
    ax.loglog(LOG_SIZES, rmse, marker="o", label=name)
ax.set(xlabel="logged events", ylabel=f"RMSE over {REPLICATES} logs", title="Off-policy estimates of the new policy")
ax.legend()
plt.show()

# %% [markdown]
# IPS has (almost) no bias, only variance, which falls roughly like $1/\sqrt{n}$; SNIPS
# trades a little bias for less variance. DM's error falls at first, as its model's
# variance shrinks, then stalls at its bias (printed above): more data does not fix a
# wrong model. DR keeps most of the model's low variance and, through the weighted
# residuals, removes its bias. With a dozen replicates the RMSE curves are themselves
# noisy; the full budget draws more.

# %%
assert errors["DR"][-1] < errors["IPS"][-1], "DR should beat IPS at the largest log size"
assert errors["DR"][-1] < errors["DM"][-1], "DR should correct DM's bias"
assert errors["IPS"][-1] < errors["IPS"][0], "more logs, less error"

# %% [markdown]
# ## What to try next
#
# - Make the policies disagree more (target temperature 0.05): the weights grow, IPS's
#   variance explodes, and the effective sample size shrinks. `switch_dr` and `dr_os` cap
#   the damage.
# - Evaluate a trained policy instead: `recloop.ope.suite.target_probabilities(policy, logs)`
#   gives any recloop policy's probabilities at the logged contexts (`examples/ope_evaluate.py`).
# - Slates: `slate_ips`, `pseudo_inverse` and `cascade_dr` evaluate ranked lists.
# - `recloop evaluate --logs logs.parquet --policy model.npz` prints the table above for
#   your own logs. The [OPE guide](../ope.md) has the estimators' details and how well their
#   intervals cover in `benchmarks/ope_validation.py`.
#
# **Next:** [10 · The live loop](10_live_loop.py) — serve, log, learn and roll back.
