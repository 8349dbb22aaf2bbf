"""Shared machinery of the learning slate agents: replay, update schedule, epsilon decay,
small torch networks, save / load. Kept apart so each agent file reads like its algorithm."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from recloop.agents.slate.base import SlatePolicy
from recloop.agents.slate.replay import SlateReplay
from recloop.core import persist
from recloop.core.schedules import Linear

try:
    import torch
    from torch import nn
except ImportError as err:  # pragma: no cover - torch is the "deep" extra
    raise ImportError("recloop.agents.slate needs torch: pip install 'recloop[deep]'") from err


def mlp(n_in: int, hidden: tuple[int, ...], n_out: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(n_in, h), nn.ReLU()]
        n_in = h
    layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


def with_bias(user: torch.Tensor) -> torch.Tensor:
    """Append a constant feature, so a user observation may be empty (RecSim's chocolate/kale)."""
    return torch.cat([user, torch.ones(user.shape[:-1] + (1,), dtype=user.dtype)], dim=-1)


@torch.no_grad()
def soft_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    for t, o in zip(target.parameters(), online.parameters()):
        t.lerp_(o, tau)


class ReplayLearner(SlatePolicy):
    """Epsilon-greedy slate agent that learns from replayed transitions.

    ``train_every`` transitions (user-steps) per gradient step once ``learning_starts``
    transitions are stored; epsilon decays linearly from ``epsilon_start`` to
    ``epsilon_end`` over ``epsilon_decay_steps`` transitions.
    """

    def __init__(self, num_candidates: int, slate_size: int, *, user_dim: int, doc_dim: int,
                 batch_size: int = 128, buffer_size: int = 100_000, learning_starts: int = 5_000,
                 train_every: int = 4, lr: float = 1e-3, epsilon_start: float = 1.0,
                 epsilon_end: float = 0.01, epsilon_decay_steps: int = 50_000, seed: int | None = None):
        super().__init__(num_candidates, slate_size, epsilon=epsilon_end, seed=seed)
        for name, v in (("batch_size", batch_size), ("buffer_size", buffer_size), ("train_every", train_every)):
            if int(v) != v or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if user_dim < 0 or doc_dim < 1:
            raise ValueError(f"need user_dim >= 0 and doc_dim >= 1, got {user_dim}, {doc_dim}")
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr!r}")
        self.user_dim, self.doc_dim = int(user_dim), int(doc_dim)
        self.batch_size, self.buffer_size = int(batch_size), int(buffer_size)
        self.learning_starts, self.train_every, self.lr = int(learning_starts), int(train_every), float(lr)
        self.epsilon_start, self.epsilon_end = float(epsilon_start), float(epsilon_end)
        self.epsilon_decay_steps = int(epsilon_decay_steps)
        self._eps = Linear(self.epsilon_start, self.epsilon_end, self.epsilon_decay_steps)
        self._replay: SlateReplay | None = None
        self._credit = 0.0
        self.steps_ = 0
        self.updates_ = 0

    @classmethod
    def for_env(cls, env: Any, **params: Any) -> "ReplayLearner":
        """Sizes (and, for SlateQ, the choice model and affinity) read from a slate env."""
        space = env.single_observation_space if hasattr(env, "single_observation_space") else env.observation_space
        core = getattr(env, "core", env)
        return cls(core.num_candidates, core.slate_size, user_dim=space["user"].shape[0],
                   doc_dim=space["doc"].shape[1], **params)

    def current_epsilon(self) -> float:
        return self._eps(self.steps_)

    def _tensors(self, user: np.ndarray, doc: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.as_tensor(user, dtype=torch.float32), torch.as_tensor(doc, dtype=torch.float32)

    def observe(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
        if self._replay is None:
            self._replay = SlateReplay(self.buffer_size, user_dim=self.user_dim,
                                       doc_shape=(self.num_candidates, self.doc_dim), slate_size=self.slate_size)
        n = len(batch["reward"])
        self._replay.add(**batch)
        self.steps_ += n
        if self._replay.size < max(self.learning_starts, self.batch_size):
            return {}
        self._credit += n / self.train_every
        info: dict[str, float] = {}
        while self._credit >= 1.0:
            self._credit -= 1.0
            info = self._update(self._replay.sample(self.batch_size, self.rng_))
            self.updates_ += 1
        return info

    def _update(self, batch: dict[str, np.ndarray]) -> dict[str, float]:
        raise NotImplementedError

    # ------------------------------------------------------------ persistence
    def _modules(self) -> dict[str, nn.Module]:
        raise NotImplementedError

    def _init_params(self) -> dict:
        raise NotImplementedError

    def save(self, path: str | Path) -> Path:
        state = {f"{name}.{k}": v.detach().cpu().numpy() for name, m in self._modules().items()
                 for k, v in m.state_dict().items()}
        state["steps_"] = self.steps_
        return persist.save(path, kind="policy", name=type(self).__name__,
                            params={"json": json.dumps(self._init_params())}, state=state)

    @classmethod
    def load(cls, path: str | Path) -> "ReplayLearner":
        meta = persist.load(path)
        if meta["name"] != cls.__name__:
            raise ValueError(f"{path} holds a {meta['name']}, not a {cls.__name__}")
        agent = cls(**json.loads(meta["params"]["json"]))
        state = meta["state"]
        for name, m in agent._modules().items():
            m.load_state_dict({k.split(".", 1)[1]: torch.as_tensor(v) for k, v in state.items()
                               if k.startswith(name + ".")})
        agent.steps_ = int(state["steps_"])
        return agent
