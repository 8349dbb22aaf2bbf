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
# # 05 · Deep Q-learning: replay, target networks, double DQN
#
# **The problem.** A table has one entry per state. A user described by a few real numbers,
# or a game screen, has more states than any table can hold, and most are never seen twice.
# We need $Q(s, a)$ to *generalise*: a neural network $Q_\theta(s, \cdot)$ that maps a state
# to one value per action.
#
# **The idea** (Mnih et al. 2015). Plug the network into Q-learning's target from
# [tutorial 04](04_q_learning_sarsa.py) and minimise
#
# $$\mathcal{L}(\theta) = \Big( r + \gamma\,(1 - d)\, Q_{\theta^-}\big(s', \operatorname{argmax}_{a'} Q_{\theta}(s', a')\big) - Q_\theta(s, a) \Big)^2 .$$
#
# Naively this diverges. Three pieces make it work:
#
# - **experience replay**: store transitions in a buffer and learn from random minibatches,
#   which breaks the correlation between consecutive steps and reuses each step many times;
# - **a target network** $Q_{\theta^-}$, a copy of $Q_\theta$ refreshed every few hundred
#   steps, so the target does not move with every gradient step;
# - **double Q-learning** (van Hasselt et al. 2016): the online net *chooses* $a'$ and the
#   target net *evaluates* it. A single max over noisy estimates is biased upwards
#   (the max of noisy estimates overestimates the max of the truth); splitting the two roles
#   removes most of that bias.
#
# We train on CartPole (balance a pole on a cart: +1 per step, at most 500), then on
# Breakout (MinAtar's 10x10 version, which runs on a CPU).

# %%
import os

import gymnasium as gym
import matplotlib.pyplot as plt
import numpy as np
import torch

from recloop.agents.deep import DQN, EvalCallback, evaluate_policy
from recloop.envs.atari import make_minatar

torch.set_num_threads(1)  # small networks: more threads cost more than they save
FAST = os.environ.get("RECLOOP_TUTORIAL_FAST") == "1"
CARTPOLE_STEPS = 10_000 if FAST else 30_000
BREAKOUT_FRAMES = 2_000 if FAST else 20_000

# %% [markdown]
# ## CartPole
#
# The settings are the RL Baselines3 Zoo's for CartPole on a smaller net: bursts of 128
# gradient steps every 256 environment steps, the target net synced every 10 updates, and
# exploration falling from 1 to 0.04 over 8,000 steps. `double=True` is the default; we
# train a second agent with `double=False` beside it.

# %%
def make_dqn(double, seed=0):
    return DQN(double=double, hidden=(64, 64), lr=2.3e-3, batch_size=64, buffer_size=100_000,
               learning_starts=1_000, target_update_interval=10, train_freq=256, gradient_steps=128,
               exploration={"kind": "linear", "start": 1.0, "end": 0.04, "steps": 8_000}, seed=seed)


every = CARTPOLE_STEPS // 5
runs = {}
for name, double in [("double DQN", True), ("DQN (single max)", False)]:
    evals = EvalCallback("CartPole-v1", every=every, episodes=10, seed=100)
    agent = make_dqn(double).learn("CartPole-v1", CARTPOLE_STEPS, callbacks=[evals])
    runs[name] = (agent, evals.history)
    final = evaluate_policy(agent, "CartPole-v1", episodes=20, seed=1_000)
    print(f"{name:18s} greedy return after {CARTPOLE_STEPS} steps: {final.mean_return:6.1f} ± {final.std_return:5.1f}")

# A random policy, for scale.
env = gym.make("CartPole-v1")
rng = np.random.default_rng(0)
random_returns = []
for episode in range(20):
    env.reset(seed=1_000 + episode)
    total, done = 0.0, False
    while not done:
        _, r, terminated, truncated, _ = env.step(int(rng.integers(2)))
        total, done = total + r, terminated or truncated
    random_returns.append(total)
print(f"random policy: {np.mean(random_returns):.1f}")

# %% [markdown]
# ## Does the single max overestimate?
#
# The net's value of the start states can be set against what its greedy policy really
# earns from them: an episode of $L$ steps is worth $\sum_{t<L} 0.99^t$ at the start.
# Where the estimate sits above the value earned, the net overestimates; where it sits
# below, its values have not yet caught up with its policy (early in training they lag).

# %%
starts = [gym.make("CartPole-v1").reset(seed=1_000 + i)[0] for i in range(20)]
for name, (agent, _) in runs.items():
    with torch.no_grad():
        q_start = agent.q_(torch.as_tensor(np.stack(starts), dtype=torch.float32)).max(dim=1).values.mean().item()
    lengths = np.array(evaluate_policy(agent, "CartPole-v1", episodes=20, seed=1_000).lengths)
    earned = ((1 - 0.99 ** lengths) / (1 - 0.99)).mean()
    print(f"{name:18s} estimated max_a Q(start, a) {q_start:6.1f}; discounted return earned {earned:6.1f}")

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for name, (_, history) in runs.items():
    ax.errorbar([e.step for e in history], [e.mean_return for e in history],
                yerr=[e.std_return for e in history], marker="o", capsize=3, label=name)
ax.axhline(np.mean(random_returns), color="grey", linestyle=":", label="random policy")
ax.set(xlabel="environment steps", ylabel="greedy return (10 episodes)", ylim=(0, 520),
       title="DQN on CartPole-v1")
ax.legend()
plt.show()

# %%
double_final = evaluate_policy(runs["double DQN"][0], "CartPole-v1", episodes=20, seed=1_000).mean_return
assert double_final > 3 * np.mean(random_returns), "DQN should balance the pole far longer than random"

# %% [markdown]
# One seed and a few thousand steps make a noisy comparison between the two variants: run
# several seeds before you believe a difference (the benchmark `benchmarks/cartpole_vs_sb3.py`
# uses 8 to 16).
#
# ## Breakout from pixels
#
# MinAtar's Breakout (Young & Tian 2019) is a 10x10 screen with 4 channels (paddle, ball,
# trail, bricks). `network="minatar"` puts the MinAtar paper's convolutional net in front of
# the same DQN. It needs hundreds of thousands of frames to learn, far beyond this
# tutorial's budget: we check that the pipeline runs and compare with random play. The
# benchmark `benchmarks/minatar_breakout_dqn.py --frames 1000000` trains it properly (about
# half an hour on one core; its greedy returns after 1M frames were 13.3 and 17.8 on two
# seeds, see the [Deep RL guide](../deep.md)).

# %%
print("a Breakout observation:", make_minatar("breakout").observation_space)
breakout = DQN(network="minatar", learning_starts=500, buffer_size=50_000, seed=0,
               exploration={"kind": "linear", "start": 1.0, "end": 0.1, "steps": BREAKOUT_FRAMES})
breakout.learn("minatar-breakout", BREAKOUT_FRAMES)
trained = evaluate_policy(breakout, "minatar-breakout", episodes=10, seed=0, deterministic=False)
print(f"after {BREAKOUT_FRAMES} frames, epsilon-greedy return {trained.mean_return:.2f} ± {trained.std_return:.2f}")

# %% [markdown]
# ## What to try next
#
# - Switch on the other DQN improvements one at a time: `dueling=True`, `n_step=3`,
#   `prioritized=True`, and a soft target `tau=0.005, target_update_interval=1`.
# - `DQN.td_targets(batch)` exposes the target above; the tests check it by hand for plain,
#   double and n-step targets.
# - From the shell: `recloop train dqn --env CartPole-v1 --steps 30000`, or
#   `--env minatar-breakout --steps 200000 --eval-every 50000` when you have the time.
# - Every discrete deep agent also has the serving face: `agent.recommend(state, candidates, k)`
#   returns a ranking with propensities.
#
# **Next:** [06 · Policy gradients and actor-critic](06_policy_gradients.py) — learning the
# policy directly.
