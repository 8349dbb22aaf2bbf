"""Deep RL agents (torch): DQN family, REINFORCE, A2C, PPO, DDPG, TD3, SAC, and CEM.

Each agent: ``learn(env, total_steps, callbacks=...)``, ``act(obs, explore=...)``,
``probabilities(obs)`` where the policy is stochastic over discrete actions,
``save(path)`` and ``Agent.load(path)``. Agents register under kind ``"agent"``:
``recloop.core.registry.make("agent", "ppo", n_envs=8)``.
"""

from recloop.agents.deep.base import DeepAgent, SpaceError
from recloop.agents.deep.callbacks import (Callback, CheckpointCallback, EarlyStop, EpisodeEnd, EvalCallback,
                                           EvalEnd, Progress, ScalarLogger, UpdateEnd)
from recloop.agents.deep.a2c import A2C
from recloop.agents.deep.cem import CEM
from recloop.agents.deep.ddpg import DDPG
from recloop.agents.deep.dqn import DQN
from recloop.agents.deep.ppo import PPO
from recloop.agents.deep.reinforce import REINFORCE
from recloop.agents.deep.sac import SAC
from recloop.agents.deep.td3 import TD3
from recloop.agents.deep.evaluate import EvalResult, evaluate_checkpoint, evaluate_policy

__all__ = [
    "A2C", "CEM", "DDPG", "DQN", "PPO", "REINFORCE", "SAC", "TD3", "DeepAgent", "SpaceError",
    "Callback", "CheckpointCallback", "EarlyStop", "EvalCallback", "ScalarLogger",
    "EpisodeEnd", "EvalEnd", "Progress", "UpdateEnd",
    "EvalResult", "evaluate_checkpoint", "evaluate_policy",
]
