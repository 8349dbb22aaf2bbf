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
# # 06 · Policy gradients and actor-critic: REINFORCE, A2C, PPO, DDPG
#
# **The problem.** DQN ([tutorial 05](05_deep_q_learning.py)) learns values and acts
# greedily on them. That needs a max over actions, which is awkward when actions are
# continuous (a price, a steering angle, a point in an embedding space) and gives a
# deterministic policy when a recommender wants a *distribution* it can log propensities
# from. Policy-gradient methods learn the policy $\pi_\theta(a \mid s)$ itself.
#
# **The idea.** The gradient of the expected return is (Williams 1992)
#
# $$\nabla_\theta J(\theta) = \mathbb{E}_{\pi_\theta}\Big[\sum_t \nabla_\theta \log \pi_\theta(a_t \mid s_t)\, \big(G_t - b(s_t)\big)\Big],$$
#
# raise the log-probability of actions in proportion to how much better than expected they
# turned out. The ladder of methods is a ladder of better estimates of that advantage:
#
# - **REINFORCE**: $G_t$ is the whole observed return, $b$ a learned baseline. Unbiased, noisy.
# - **A2C** (Mnih et al. 2016): an *actor* (the policy) and a *critic* $V_\phi$; the advantage
#   is bootstrapped from a few steps, $r_t + \gamma V_\phi(s_{t+1}) - V_\phi(s_t)$, over
#   several environments in lock-step.
# - **PPO** (Schulman et al. 2017): reuse each batch for several epochs, but clip the
#   probability ratio $\rho = \pi_\theta / \pi_{\text{old}}$ to $[1-\epsilon, 1+\epsilon]$ so
#   no update moves the policy too far: $\min\big(\rho A, \operatorname{clip}(\rho)A\big)$.
# - **DDPG** (Lillicrap et al. 2016): for continuous actions, a deterministic actor
#   $\mu_\theta(s)$ climbs the critic's gradient $\nabla_a Q_\phi(s, a)$, with DQN's replay
#   and (soft) target networks.

# %%
import os

import gymnasium as gym
import matplotlib.pyplot as plt
import numpy as np
import torch

from recloop.agents.deep import A2C, DDPG, PPO, REINFORCE, EpisodeEnd, evaluate_policy

torch.set_num_threads(1)
FAST = os.environ.get("RECLOOP_TUTORIAL_FAST") == "1"
CARTPOLE_STEPS = 15_000 if FAST else 50_000
PENDULUM_STEPS = 4_000 if FAST else 10_000


class TrainingReturns:
    """A callback: every agent reports typed events; we keep (step, return) of each episode."""

    def __init__(self):
        self.steps, self.returns = [], []

    def __call__(self, event):
        if isinstance(event, EpisodeEnd):
            self.steps.append(event.step)
            self.returns.append(event.episode_return)


# %% [markdown]
# ## Three policy gradients on CartPole
#
# Same environment, same number of steps, each method with its library defaults (PPO's are
# the RL Baselines3 Zoo's CartPole settings).

# %%
agents = {"REINFORCE": REINFORCE(seed=0), "A2C": A2C(seed=0), "PPO": PPO(seed=0)}
curves, finals = {}, {}
for name, agent in agents.items():
    curves[name] = TrainingReturns()
    agent.learn("CartPole-v1", CARTPOLE_STEPS, callbacks=[curves[name]])
    finals[name] = evaluate_policy(agent, "CartPole-v1", episodes=20, seed=1_000).mean_return
    print(f"{name:10s} greedy return after {CARTPOLE_STEPS} steps: {finals[name]:6.1f}")

# %% [markdown]
# The policy is a distribution, so every decision has a probability: what a recommender
# logs, and what off-policy evaluation needs ([tutorial 09](09_off_policy_evaluation.py)).

# %%
state = [0.02, 0.1, -0.03, -0.2]
print("PPO's action probabilities in one state:", np.round(agents["PPO"].probabilities(state), 3))

# %% [markdown]
# ## DDPG on Pendulum
#
# Swing a pendulum up and hold it there, with a continuous torque in $[-2, 2]$. Each step
# costs the angle's distance from upright, plus a little for speed and torque, so returns
# are negative and 0 is perfect; random torques score below $-1000$ per 200-step episode
# (measured below).

# %%
pendulum_curve = TrainingReturns()
# 64-unit layers instead of the default 256 and an earlier start keep this within a tutorial's budget.
ddpg = DDPG(seed=0, hidden=(64, 64), learning_starts=500).learn("Pendulum-v1", PENDULUM_STEPS, callbacks=[pendulum_curve])
ddpg_final = evaluate_policy(ddpg, "Pendulum-v1", episodes=10, seed=1_000)


def random_return(env_id, episodes=10, seed=1_000):
    """Mean return of uniformly random actions, for scale."""
    env = gym.make(env_id)
    env.action_space.seed(seed)
    total = 0.0
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        done = False
        while not done:
            _, r, terminated, truncated, _ = env.step(env.action_space.sample())
            total, done = total + r, terminated or truncated
    return total / episodes


random_pendulum = random_return("Pendulum-v1")
print(f"random torques: {random_pendulum:7.1f}; DDPG after {PENDULUM_STEPS} steps: "
      f"{ddpg_final.mean_return:7.1f} ± {ddpg_final.std_return:.1f}")

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
for name, curve in curves.items():
    returns = np.array(curve.returns)
    smooth = np.convolve(returns, np.ones(10) / 10, mode="valid") if len(returns) >= 10 else returns
    left.plot(curve.steps[len(curve.steps) - len(smooth):], smooth, label=name)
left.set(xlabel="environment steps", ylabel="training return (moving average of 10)", ylim=(0, 520),
         title="CartPole-v1")
left.legend()
right.plot(pendulum_curve.steps, pendulum_curve.returns, marker="o", label="DDPG")
right.axhline(random_pendulum, color="grey", linestyle=":", label="random torques")
right.set(xlabel="environment steps", ylabel="training return per episode", title="Pendulum-v1")
right.legend()
plt.show()

# %%
random_cartpole = random_return("CartPole-v1")
print(f"random actions on CartPole: {random_cartpole:.1f}")
assert min(finals.values()) > 4 * random_cartpole, "every policy gradient should beat random play clearly"
assert ddpg_final.mean_return > random_pendulum + 300, "DDPG should swing the pendulum far better than random"

# %% [markdown]
# One seed at one budget ranks the three methods by luck as much as by merit: the greedy
# returns above can come in any order at another seed or step count. What the ladder buys
# is lower variance per update, which shows over many seeds (the benchmark
# `benchmarks/cartpole_vs_sb3.py` uses 8 to 16). Steps are not the only cost, either: DQN
# and DDPG update after every step, PPO once per rollout. The [Deep RL guide](../deep.md)
# measures wall time against Stable-Baselines3 on the same machine.
#
# ## What to try next
#
# - `TD3` and `SAC` fix DDPG's overestimation (twin critics) and add maximum entropy;
#   `benchmarks/pendulum_continuous.py` reaches about $-150$ with each after 20,000 steps.
# - Set `PPO(clip_range=0.5, n_epochs=40)`: too large a step, and learning becomes erratic.
# - Turn off REINFORCE's advantage normalisation (`normalize_advantages=False`) and watch
#   the variance grow.
# - `recloop train ppo --env CartPole-v1 --steps 50000` writes a learning curve and a
#   checkpoint; `DeepAgent.load(path)` needs no environment.
#
# **Next:** [07 · Slates](07_slates.py) — recommending several items at once, to users
# whose interests move.
