"""What every deep agent shares: space checks, acting on numpy observations, save/load, learn().

A concrete agent declares which action spaces it handles (``action_kind``),
builds its networks in ``_build`` once the spaces are known, acts on a batch
in ``_act_batch`` and learns in ``_learn``. Saving writes the hyper-parameters,
the space description and every network's weights into one versioned
``.npz`` (``recloop.core.persist``), so ``Agent.load(path)`` needs no
environment.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Hashable, Iterable, Sequence

import gymnasium as gym
import numpy as np

from recloop.agents.deep._torch import seeded, threads, torch
from recloop.agents.deep.callbacks import Callback, Hooks
from recloop.agents.deep.environments import EnvSpec, make_envs
from recloop.core import persist, registry
from recloop.core.seeding import as_generator
from recloop.core.ranking import check_candidates, rank
from recloop.core.types import Recommendation


class SpaceError(ValueError):
    """The environment's spaces do not suit the agent."""


def describe_spaces(obs_space: gym.Space, action_space: gym.Space) -> dict:
    """A JSON-able description of the spaces, enough to rebuild an agent without its env."""
    if not isinstance(obs_space, gym.spaces.Box):
        raise SpaceError(f"deep agents need a Box observation space; got {obs_space}. "
                         "Flatten dict/discrete observations first (gymnasium.wrappers.FlattenObservation).")
    spec: dict[str, Any] = {"obs_shape": list(obs_space.shape), "obs_dtype": str(obs_space.dtype)}
    # 8-bit images are scaled to [0, 1] inside the network, so the buffer can keep bytes.
    spec["obs_scale"] = 1.0 / 255.0 if obs_space.dtype == np.uint8 and np.all(obs_space.high > 1) else 1.0
    if isinstance(action_space, gym.spaces.Discrete):
        spec["action"] = {"type": "discrete", "n": int(action_space.n)}
    elif isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
        if not (np.isfinite(action_space.low).all() and np.isfinite(action_space.high).all()):
            raise SpaceError(f"continuous actions need finite bounds; got {action_space}")
        spec["action"] = {"type": "box", "low": action_space.low.astype(float).tolist(),
                          "high": action_space.high.astype(float).tolist()}
    else:
        raise SpaceError(f"unsupported action space {action_space}: use Discrete(n) or a 1-D Box")
    return spec


class DeepAgent(ABC):
    """Base of the deep agents (torch). See module docstring."""

    #: "discrete", "continuous" or "any": the action spaces this agent can act in.
    action_kind: ClassVar[str] = "any"
    #: True when ``act(explore=True)`` samples from a distribution ``probabilities`` can report.
    stochastic: ClassVar[bool] = False

    def __init__(self, *, seed: int | None = None, threads: int | None = 1):
        self.seed = seed
        self.threads = threads
        self.spaces_: dict | None = None
        self.steps_ = 0
        self._torch_gen = torch.Generator().manual_seed(0 if seed is None else int(seed))
        self.rng_ = as_generator(seed)

    # ------------------------------------------------------------------ to implement
    @abstractmethod
    def _build(self) -> None:
        """Create networks and optimisers from ``self.spaces_``."""

    @abstractmethod
    def _modules(self) -> dict[str, torch.nn.Module]:
        """The networks whose weights make up the saved state."""

    @abstractmethod
    def _act_batch(self, obs: torch.Tensor, explore: bool) -> np.ndarray:
        """Actions for a batch of (preprocessed) observations; continuous actions in env units."""

    @abstractmethod
    def _learn(self, envs: list[gym.Env], total_steps: int, hooks: Hooks, seed: int | None) -> None:
        """Run ``total_steps`` environment steps of training."""

    def _probs_batch(self, obs: torch.Tensor) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} has a deterministic or continuous policy: "
                                  "probabilities() is defined for stochastic agents over discrete actions")

    #: how many environment copies ``learn`` steps together.
    def _n_envs(self) -> int:
        return 1

    # ------------------------------------------------------------------ spaces
    @property
    def discrete(self) -> bool:
        self._require_built()
        return self.spaces_["action"]["type"] == "discrete"

    @property
    def n_actions(self) -> int:
        self._require_built()
        a = self.spaces_["action"]
        return a["n"] if a["type"] == "discrete" else len(a["low"])

    def _bind(self, obs_space: gym.Space, action_space: gym.Space) -> None:
        spec = describe_spaces(obs_space, action_space)
        kind = spec["action"]["type"]
        name = type(self).__name__
        if self.action_kind == "discrete" and kind != "discrete":
            raise SpaceError(f"{name} needs a Discrete action space; this env has {action_space}. "
                             "For continuous actions use SAC, TD3 or DDPG (PPO, A2C, REINFORCE and CEM do both).")
        if self.action_kind == "continuous" and kind != "box":
            raise SpaceError(f"{name} needs a continuous (Box) action space; this env has {action_space}. "
                             "For discrete actions use DQN, PPO, A2C or REINFORCE.")
        if self.spaces_ is not None:
            if spec != self.spaces_:
                raise SpaceError(f"{name} was built for {self.spaces_}; this env has {spec}")
            return
        self.spaces_ = spec
        self._build_seeded()

    def _build_seeded(self) -> None:
        with seeded(0 if self.seed is None else self.seed):
            self._build()

    def _require_built(self) -> None:
        if self.spaces_ is None:
            raise RuntimeError(f"{type(self).__name__} has no networks yet: call learn(env, ...) or load(path) first")

    # ------------------------------------------------------------------ acting
    def _obs_array(self, obs: np.ndarray) -> np.ndarray:
        """A batch of rollout observations as scaled float32 (the numpy acting paths' input; rollout
        observations come from our own envs, so their shape is not re-checked here)."""
        x = obs.astype(np.float32, copy=False)
        scale = self.spaces_["obs_scale"]
        return x * scale if scale != 1.0 else x

    def _obs_tensor(self, obs: Any, batched: bool) -> torch.Tensor:
        self._require_built()
        x = np.asarray(obs)
        shape = tuple(self.spaces_["obs_shape"])
        got = x.shape[1:] if batched else x.shape
        if got != shape:
            what = "each observation in the batch" if batched else "observation"
            raise ValueError(f"{what} has shape {got}; {type(self).__name__} expects {shape}")
        t = torch.as_tensor(x if batched else x[None], dtype=torch.float32)
        if self.spaces_["obs_scale"] != 1.0:
            t = t * self.spaces_["obs_scale"]
        return t

    def act(self, obs: Any, *, explore: bool = True) -> Any:
        """One action for one observation (an ``int`` or an action vector)."""
        with torch.no_grad():
            a = self._act_batch(self._obs_tensor(obs, batched=False), explore)[0]
        return int(a) if self.discrete else a

    def act_batch(self, obs: Any, *, explore: bool = True) -> np.ndarray:
        """Actions for a batch of observations (leading axis = batch)."""
        with torch.no_grad():
            return self._act_batch(self._obs_tensor(obs, batched=True), explore)

    def probabilities(self, obs: Any) -> np.ndarray:
        """Probability of each action under ``act(obs, explore=True)``; sums to 1."""
        self._require_built()
        if not self.discrete:
            raise NotImplementedError(f"{type(self).__name__} acts in a continuous space: no action probabilities")
        with torch.no_grad():
            return self._probs_batch(self._obs_tensor(obs, batched=False))[0]

    def recommend(self, context: Any, candidates: Sequence[Hashable] | None = None, k: int = 1) -> Recommendation:
        """Serving face for discrete agents: actions are item indices; the chosen one is drawn
        from ``probabilities`` restricted to ``candidates`` and the rest follow by probability."""
        probs = self.probabilities(context)
        cand = np.arange(len(probs)) if candidates is None else np.asarray(candidates, dtype=np.int64)
        if cand.size == 0 or cand.min() < 0 or cand.max() >= len(probs):
            raise ValueError(f"candidates must be action indices in 0..{len(probs) - 1}")
        p = probs[cand]
        p = p / p.sum() if p.sum() > 0 else np.full(len(cand), 1.0 / len(cand))
        return rank(check_candidates([int(c) for c in cand], k), p, p.copy(), k, self.rng_)

    def update(self, action: Any, reward: float | None = None, obs: Any = None) -> None:
        raise NotImplementedError(f"{type(self).__name__} learns from an environment with learn(env, total_steps)")

    # ------------------------------------------------------------------ learning
    def learn(self, env: EnvSpec, total_steps: int, callbacks: Iterable[Callback] = (), *,
              seed: int | None = None) -> "DeepAgent":
        """Train for ``total_steps`` environment steps (summed over environment copies)."""
        if int(total_steps) != total_steps or total_steps < 1:
            raise ValueError(f"total_steps must be a positive integer, got {total_steps!r}")
        envs = make_envs(env, self._n_envs())
        self._bind(envs[0].observation_space, envs[0].action_space)
        hooks = Hooks(callbacks)
        hooks.start(self, int(total_steps))
        with threads(self.threads):
            self._learn(envs, int(total_steps), hooks, self.seed if seed is None else seed)
        hooks.end(self)
        return self

    # ------------------------------------------------------------------ persistence
    def get_params(self) -> dict[str, Any]:
        sig = inspect.signature(type(self).__init__)
        return {n: getattr(self, n) for n, p in sig.parameters.items()
                if n != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD}

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Every optimiser the agent holds (attributes such as ``optimizer_``, ``critic_opt_``)."""
        return {k: v for k, v in vars(self).items() if isinstance(v, torch.optim.Optimizer)}

    def _set_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def save(self, path: Any) -> Any:
        self._require_built()
        nets = {name: {k: v.detach().cpu().numpy() for k, v in m.state_dict().items()}
                for name, m in self._modules().items()}
        # optimiser moments and step counts too, so that training can resume where it stopped
        optims = {name: _optimizer_state(opt) for name, opt in self._optimizers().items()}
        state = {"spaces": self.spaces_, "steps": self.steps_, "nets": nets, "extra": self._extra_state(),
                 "optimizers": optims, "rng": self.rng_, "torch_rng": self._torch_gen.get_state().numpy()}
        return persist.save(path, kind="agent", name=registry.name_of(self), params=self.get_params(), state=state)

    @classmethod
    def load(cls, path: Any) -> "DeepAgent":
        """Rebuild an agent from a file written by :meth:`save`; no environment needed."""
        meta = persist.load(path)
        if meta.get("kind") != "agent":
            raise ValueError(f"{path} holds a {meta.get('kind')!r}, not a deep agent")
        klass = registry.lookup("agent", meta["name"])
        if cls is not DeepAgent and not issubclass(klass, cls):
            raise ValueError(f"{path} holds a {klass.__name__}, not a {cls.__name__}")
        agent = klass(**meta["params"])
        st = meta["state"]
        agent.spaces_ = st["spaces"]
        agent._build_seeded()
        for name, m in agent._modules().items():
            m.load_state_dict({k: torch.as_tensor(v) for k, v in st["nets"][name].items()})
        optims = agent._optimizers()
        for name, sd in st.get("optimizers", {}).items():  # absent in files from before they were saved
            optims[name].load_state_dict(_optimizer_state_from_arrays(sd))
        if "rng" in st:
            agent.rng_ = st["rng"]
            agent._torch_gen.set_state(torch.as_tensor(st["torch_rng"]))
        agent.steps_ = int(st["steps"])
        agent._set_extra_state(st["extra"])
        return agent

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"


def action_bounds(spaces: dict) -> tuple[np.ndarray, np.ndarray]:
    a = spaces["action"]
    return np.asarray(a["low"], dtype=np.float32), np.asarray(a["high"], dtype=np.float32)


def _optimizer_state(opt: torch.optim.Optimizer) -> dict:
    """``opt.state_dict()`` with tensors as numpy arrays and tuples as lists (what ``persist`` stores)."""
    sd = opt.state_dict()
    state = {int(i): {k: v.detach().cpu().numpy() if torch.is_tensor(v) else v for k, v in s.items()}
             for i, s in sd["state"].items()}
    groups = [{k: list(v) if isinstance(v, tuple) else v for k, v in g.items()} for g in sd["param_groups"]]
    return {"state": state, "param_groups": groups}


def _optimizer_state_from_arrays(sd: dict) -> dict:
    state = {int(i): {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in s.items()}
             for i, s in sd["state"].items()}
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in sd["param_groups"]]
    return {"state": state, "param_groups": groups}
