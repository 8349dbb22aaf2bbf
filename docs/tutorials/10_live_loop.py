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
# # 10 · The live loop: serve, log, learn, roll back
#
# **The problem.** Everything so far ran in one Python process. A real recommender is a
# service: requests arrive from many users at once, rewards (a click, a purchase) arrive
# seconds or minutes later, the model must learn from them while it serves, every decision
# must be logged with its propensity for the evaluation of the next policy
# ([tutorial 09](09_off_policy_evaluation.py)), and when a new model misbehaves you must be
# able to go back to the last good one.
#
# **The loop.** `recloop.serve` is that service (FastAPI, with SQLite or PostgreSQL):
#
#     POST /v1/rank                  context + candidates -> ranking; the decision and its
#                                    propensity are stored *before* the answer
#     POST /v1/events/{id}/reward    joins the reward to its decision exactly once; the
#                                    online learner updates the model
#     POST /v1/models/snapshot       writes the live model (versioned, checksummed)
#     POST /v1/models/{v}/activate   serves snapshot v again: roll back, or forward
#     GET  /v1/logs                  the logged feedback as Parquet, one schema everywhere
#
# In one line: decision $t$ is logged as $(x_t, a_t, p_t)$ with $p_t = \pi_{v}(a_t \mid x_t)$, the
# probability under the model version $v$ that served it; when its reward $r_t$ arrives, the
# learner applies the same update as offline (for LinUCB, $A_{a_t} \leftarrow A_{a_t} + x_t x_t^\top$,
# $b_{a_t} \leftarrow b_{a_t} + r_t x_t$), and the log row is what IPS reweights later by
# $\pi_{\text{new}}(a_t \mid x_t) / p_t$.
#
# Here a LinUCB service runs in a background thread on a free local port, and simulated
# users (the contextual world of [tutorial 02](02_contextual_bandits.py)) play against it
# over HTTP.

# %%
import asyncio
import os
import tempfile
from pathlib import Path

import httpx
import matplotlib.pyplot as plt
import numpy as np

from recloop.apps.traffic import SimulatedUsers, play
from recloop.data.logs import read_parquet
from recloop.ope import ips, snips
from recloop.serve import ServeConfig, create_app
from recloop.serve.runner import BackgroundServer

FAST = os.environ.get("RECLOOP_TUTORIAL_FAST") == "1"
LEARN_USERS, PHASE_USERS, WINDOW = (800, 400, 200) if FAST else (3_000, 1_000, 250)

# %%
tmp = Path(tempfile.mkdtemp(prefix="recloop-tutorial-"))
app = create_app(ServeConfig(policy="linucb", n_features=16, db=f"sqlite:///{tmp}/loop.db", seed=0,
                             insecure_admin=True))  # a loopback demo: admin routes without an API key
server = BackgroundServer(app)
url = server.__enter__()          # in a script: `with BackgroundServer(app) as url: ...`
api = httpx.Client(base_url=url, timeout=120)  # exporting the logs can take seconds on a busy machine
users = SimulatedUsers("contextual", n_arms=20, n_features=16, seed=0)

# %% [markdown]
# ## One request by hand
#
# A ranking of three candidates for one user. The first item is the one shown; its
# `probability` is the propensity of that decision, which is what the log holds.

# %%
context, _ = users.user(10_000)
ranked = api.post("/v1/rank", json={"context": context, "candidates": users.candidates[:3], "k": 3}).json()
print("model", ranked["model_version"], "chose", ranked["chosen_id"])
for item in ranked["ranking"]:
    print(f"  {item['id']:8s} score {item['score']:.3f}  probability {item['probability']:.3f}")
print("reward:", api.post(f"/v1/events/{ranked['event_id']}/reward", json={"value": 1.0}).status_code)

# %% [markdown]
# ## Learn online, snapshot, roll back, roll forward
#
# `play` sends users concurrently (8 at a time): each asks for a ranking of all 20 items,
# clicks the chosen one with the world's true probability, and reports the click. We watch
# the click-through rate in windows of users, through four phases: learning from scratch,
# a snapshot, a roll-back to the untrained model 0, and a roll-forward to the snapshot.

# %%
learning = asyncio.run(play(url, LEARN_USERS, users=users))
snapshot = api.post("/v1/models/snapshot", json={}).json()   # state-changing routes take JSON
print(f"snapshot v{snapshot['version']} holds every reward up to sequence number {snapshot['watermark']}")

api.post("/v1/models/0/activate", json={})              # roll back to the untrained model
rolled_back = asyncio.run(play(url, PHASE_USERS, users=users))
api.post(f"/v1/models/{snapshot['version']}/activate", json={})  # and forward again
restored = asyncio.run(play(url, PHASE_USERS, users=users))

phases = {"learning from scratch": learning, "rolled back to v0": rolled_back,
          f"back on v{snapshot['version']}": restored}
for name, result in phases.items():
    print(f"{name:24s} CTR {result.ctr:.3f} over {len(result.rewards)} users; per {WINDOW}: "
          f"{[round(c, 2) for c in result.windows(WINDOW)]}")

# %%
fig, ax = plt.subplots(figsize=(9, 4))
start = 0
for name, result in phases.items():
    windows = result.windows(WINDOW)
    x = start + WINDOW * (np.arange(len(windows)) + 1)
    ax.plot(x, windows, marker="o", label=name)
    start += len(result.rewards)
    ax.axvline(start, color="grey", linestyle=":")
ax.set(xlabel="users served", ylabel=f"CTR per {WINDOW} users", ylim=(0, 1), title="LinUCB behind HTTP")
ax.legend()
plt.show()

# %% [markdown]
# The untrained model is served again exactly as it was, and learning continues from it;
# the snapshot brings back the trained one. Both are just files with a version, a
# checksum and a watermark (the last reward they include).
#
# ## The logs feed the next policy's evaluation, if they explore
#
# Every decision above is in the store, with its propensity. `GET /v1/logs` exports them as
# Parquet, in the schema the OPE estimators read. So we can ask the logs "what CTR would a
# uniform random policy have had?" with no new traffic:

# %%
(tmp / "logs.parquet").write_bytes(api.get("/v1/logs").content)
logs = read_parquet(tmp / "logs.parquet")
uniform = np.full((len(logs.reward), logs.n_actions), 1.0 / logs.n_actions)
print(f"{len(logs.reward)} logged decisions over {logs.n_actions} items; "
      f"{np.mean(logs.propensity > 0.999):.0%} of them logged with propensity 1; "
      f"median propensity {np.median(logs.propensity):.2f}")
for estimator in (ips, snips):
    e = estimator(logs.reward, logs.action, logs.propensity, uniform)
    print(f"{e.estimator}: uniform random would have had CTR {e.value:.3f}  [{e.ci_low:.3f}, {e.ci_high:.3f}]")

# %% [markdown]
# Whether logs can answer depends on the propensities the logging policy wrote. An item
# shown with probability 1 leaves no evidence about the others: where most decisions were
# logged with propensity 1, IPS counts only the few the uniform policy shares and comes out
# far too low, and SNIPS returns roughly the logging policy's own CTR. Where the logging
# policy kept some probability on every item, both aim at the uniform policy's true CTR
# (about 0.39 in this world, see the [Serving guide](../serve.md)), with intervals as wide
# as that exploration is thin (the median propensity above says how thin).
# No reweighting recovers what was never shown: serve a policy that keeps exploring where
# you will want to evaluate alternatives later.

# %%
api.close()
server.__exit__(None, None, None)
assert np.mean(learning.windows(WINDOW)[-2:]) > rolled_back.ctr + 0.1, "the learned model beats the untrained one"
assert restored.ctr > rolled_back.ctr + 0.1, "rolling forward restores the learned model"

# %% [markdown]
# ## What to try next
#
# - From the shell: `recloop serve --policy linucb --db sqlite:///recloop.db` and
#   `recloop traffic --url http://127.0.0.1:8000 --users 3000`; open the dashboard at `/`.
# - `--db postgresql+psycopg://...` moves the store to PostgreSQL.
# - Serve a policy you trained offline, and evaluate it on these logs first.
# - The [Serving guide](../serve.md) has the API, the guarantees and the load benchmark.
#
# **You have reached the end of the path.** The [guides](../bandits.md) go deeper into each
# area, and the [API reference](../api/index.md) lists everything.
