"""Behaviour cloning: imitate the logged policy by classifying its actions (Pomerleau, 1991).

The baseline every offline RL method must beat: it learns nothing about rewards, only what the
behaviour policy tended to do. On logs of a supervised recommender with exploration it recovers
that recommender (minus the exploration, when acting greedily).

Example:
    >>> import numpy as np
    >>> from recloop.agents.deep.offline import Transitions
    >>> rng = np.random.default_rng(0)
    >>> obs = rng.normal(size=(300, 2)).astype(np.float32)
    >>> actions = (obs[:, 0] > 0).astype(np.int64)  # the behaviour policy looks at the sign
    >>> zeros = np.zeros(300, np.float32)
    >>> data = Transitions(obs, actions, zeros, obs, zeros, zeros, np.arange(300), np.ones(300))
    >>> bc = BehaviourCloning(seed=0).learn_offline(data, gradient_steps=300)
    >>> int(bc.act(np.array([1.5, 0.0], np.float32), explore=False))
    1
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym
import numpy as np

from recloop.agents.deep._torch import threads, torch
from recloop.agents.deep.base import DeepAgent
from recloop.agents.deep.callbacks import Hooks
from recloop.agents.deep.networks import CandidateQNetwork, QNetwork, adam, make_encoder
from recloop.agents.deep.offline import Transitions, start_offline

F = torch.nn.functional


class BehaviourCloning(DeepAgent):
    """A softmax policy fitted by cross-entropy to logged actions. ``network="candidates"`` scores
    each row of an ``(N, F)`` candidate observation with one shared MLP, as DQN does."""

    action_kind = "discrete"
    stochastic = True

    def __init__(self, *, network: str = "auto", hidden: Sequence[int] = (64, 64), lr: float = 1e-3,
                 batch_size: int = 64, seed: int | None = None, threads: int | None = 1):
        super().__init__(seed=seed, threads=threads)
        self.network, self.hidden, self.lr, self.batch_size = network, tuple(hidden), float(lr), int(batch_size)

    def _build(self) -> None:
        if self.network == "candidates":
            self.policy_ = CandidateQNetwork(self.spaces_["obs_shape"], self.hidden)
        else:
            self.policy_ = QNetwork(make_encoder(self.spaces_["obs_shape"], self.network, hidden=self.hidden),
                                    self.n_actions)
        self.optimizer_ = adam(list(self.policy_.parameters()), self.lr)

    def _modules(self) -> dict[str, torch.nn.Module]:
        return {"policy": self.policy_}

    def _act_batch(self, obs: torch.Tensor, explore: bool) -> np.ndarray:
        with torch.no_grad():
            logits = self.policy_(obs)
        if not explore:
            return logits.argmax(dim=1).numpy()
        return torch.distributions.Categorical(logits=logits).sample().numpy()

    def _probs_batch(self, obs: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(self.policy_(obs), dim=1).numpy()

    def _learn(self, envs: list[gym.Env], total_steps: int, hooks: Hooks, seed: int | None) -> None:
        raise NotImplementedError("behaviour cloning learns from logs: use learn_offline(transitions, ...)")

    def learn_offline(self, data: Transitions, gradient_steps: int, *, n_actions: int | None = None) -> "BehaviourCloning":
        """``gradient_steps`` cross-entropy updates on uniform batches of the logged (obs, action) pairs."""
        rng = start_offline(self, data, gradient_steps, n_actions)
        with threads(self.threads):
            for _ in range(int(gradient_steps)):
                idx = rng.integers(0, len(data), self.batch_size)
                logits = self.policy_(torch.as_tensor(data.obs[idx]))
                loss = F.cross_entropy(logits, torch.as_tensor(data.actions[idx]))
                self.optimizer_.zero_grad()
                loss.backward()
                self.optimizer_.step()
        self.steps_ += int(gradient_steps)
        return self

    def get_params(self) -> dict[str, Any]:
        return {"network": self.network, "hidden": self.hidden, "lr": self.lr, "batch_size": self.batch_size,
                "seed": self.seed, "threads": self.threads}
