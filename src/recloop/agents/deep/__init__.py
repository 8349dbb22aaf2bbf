"""Deep RL agents (torch): DQN family, REINFORCE, A2C, PPO, DDPG, TD3, SAC, CEM, and offline
discrete CQL and behaviour cloning (``learn_offline(transitions, ...)``).

Each agent: ``learn(env, total_steps, callbacks=...)``, ``act(obs, explore=...)``,
``probabilities(obs)`` where the policy is stochastic over discrete actions,
``save(path)`` and ``Agent.load(path)``. Agents register under kind ``"agent"``:
``recloop.core.registry.make("agent", "ppo", n_envs=8)``.

Importing this package does not import torch: names are declared to the registry
here and each module is imported when its class is first used, so ``recloop list
agent`` is instant and a missing torch fails only the agent that needs it.
"""

from __future__ import annotations

from recloop.core.lazy import lazy_attributes
from recloop.core.registry import declare

# registry name -> (class, one-line summary for listings)
AGENTS = {
    "dqn": ("recloop.agents.deep.dqn:DQN", "DQN with replay and a target network; double and dueling variants"),
    "reinforce": ("recloop.agents.deep.reinforce:REINFORCE", "REINFORCE: Monte-Carlo policy gradient with a baseline"),
    "a2c": ("recloop.agents.deep.a2c:A2C", "A2C: synchronous advantage actor-critic"),
    "ppo": ("recloop.agents.deep.ppo:PPO", "PPO: clipped surrogate objective with GAE"),
    "ddpg": ("recloop.agents.deep.ddpg:DDPG", "DDPG: deterministic actor-critic for continuous actions"),
    "td3": ("recloop.agents.deep.td3:TD3", "TD3: twin critics, delayed and smoothed targets"),
    "sac": ("recloop.agents.deep.sac:SAC", "SAC: maximum-entropy actor-critic with a learned temperature"),
    "cem": ("recloop.agents.deep.cem:CEM", "CEM: the cross-entropy method over policy parameters"),
    "cql": ("recloop.agents.deep.cql:DiscreteCQL", "discrete CQL: offline (double) DQN with a conservative penalty"),
    "bc": ("recloop.agents.deep.bc:BehaviourCloning", "behaviour cloning: a softmax policy fitted to logged actions"),
}
for _name, (_target, _summary) in AGENTS.items():
    declare("agent", _name, _target, summary=_summary)

_LAZY = {
    **{target.rsplit(":", 1)[1]: target for target, _ in AGENTS.values()},
    "DeepAgent": "recloop.agents.deep.base:DeepAgent",
    "SpaceError": "recloop.agents.deep.base:SpaceError",
    **{name: f"recloop.agents.deep.callbacks:{name}" for name in (
        "Callback", "CheckpointCallback", "EarlyStop", "EpisodeEnd", "EvalCallback", "EvalEnd", "Progress",
        "ScalarLogger", "UpdateEnd")},
    **{name: f"recloop.agents.deep.evaluate:{name}" for name in ("EvalResult", "evaluate_checkpoint",
                                                                 "evaluate_policy")},
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
