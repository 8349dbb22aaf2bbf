"""Actor-critic pieces shared by REINFORCE, A2C and PPO.

``ActorCritic`` holds a policy (categorical logits, or a Gaussian mean with a
learned, state-independent log-std for continuous actions) and a state-value
critic, each on its own encoder by default. ``OnPolicyAgent`` gives them acting,
probabilities, save/load and :func:`collect_rollout`, which fills a
:class:`RolloutBuffer` from ``n_envs`` environment copies.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np

from recloop.agents.deep._torch import torch
from recloop.agents.deep.base import DeepAgent, action_bounds
from recloop.agents.deep.callbacks import Hooks
from recloop.agents.deep.environments import EnvRunner
from recloop.agents.deep.networks import init_orthogonal, make_encoder, numpy_mlp
from recloop.agents.deep.rollout import RolloutBuffer

nn = torch.nn
LOG_2PI = math.log(2 * math.pi)


class PairedMLP(nn.Module):
    """The policy and value torsos, two MLPs of one shape, run as batched matmuls.

    Stacking their weights as ``(2, in, out)`` and using ``baddbmm`` halves the
    number of kernel launches and autograd nodes; for 64-unit layers those
    launches, not the arithmetic, are what the update costs.
    """

    def __init__(self, in_dim: int, hidden: Sequence[int], activation: type[nn.Module]):
        super().__init__()
        sizes = [in_dim, *[int(h) for h in hidden]]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for a, b in zip(sizes[:-1], sizes[1:]):
            w = torch.empty(2, a, b)
            for k in range(2):  # orthogonal, gain sqrt(2), per torso (as for nn.Linear weights (out, in))
                nn.init.orthogonal_(w[k].T, math.sqrt(2))
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(torch.zeros(2, 1, b)))
        self.act = activation()
        self.out_dim = sizes[-1]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = x.unsqueeze(0).expand(2, *x.shape)
        for w, b in zip(self.weights, self.biases):
            h = self.act(torch.baddbmm(b, h, w))
        return h[0], h[1]

    def numpy_forward(self) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None:
        """The same in numpy, on views of the weights (see ``networks.numpy_mlp``)."""
        act = {nn.Tanh: np.tanh, nn.ReLU: lambda x: np.maximum(x, 0.0)}.get(type(self.act))
        if act is None:
            return None
        layers = [(w.detach().numpy(), b.detach().numpy()) for w, b in zip(self.weights, self.biases)]

        def forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            h_pi = h_v = x
            for w, b in layers:
                h_pi, h_v = act(h_pi @ w[0] + b[0]), act(h_v @ w[1] + b[1])
            return h_pi, h_v
        return forward


class _SeparateEncoders(nn.Module):
    def __init__(self, make: Any):
        super().__init__()
        self.pi, self.v = make(), make()
        self.out_dim = self.pi.out_dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.pi(x), self.v(x)


class ActorCritic(nn.Module):
    def __init__(self, obs_shape: Sequence[int], n_actions: int, discrete: bool, *, network: str = "auto",
                 hidden: Sequence[int] = (64, 64), activation: str = "tanh", log_std_init: float = 0.0):
        super().__init__()
        act = {"tanh": nn.Tanh, "relu": nn.ReLU}[activation]
        self.discrete = discrete
        if network in ("auto", "mlp") and len(obs_shape) == 1 and len(hidden):
            self.torso = PairedMLP(int(obs_shape[0]), hidden, act)  # tanh: the PPO/A2C default
        else:
            self.torso = _SeparateEncoders(lambda: make_encoder(obs_shape, network, hidden=hidden))
            init_orthogonal(self.torso)
        self.pi_head = nn.Linear(self.torso.out_dim, n_actions)
        self.v_head = nn.Linear(self.torso.out_dim, 1)
        nn.init.zeros_(self.pi_head.bias)
        nn.init.zeros_(self.v_head.bias)
        # small policy head: initial policy close to uniform / zero-mean (Andrychowicz et al., 2021)
        nn.init.orthogonal_(self.pi_head.weight, 0.01)
        nn.init.orthogonal_(self.v_head.weight, 1.0)
        if not discrete:
            self.log_std = nn.Parameter(torch.full((n_actions,), float(log_std_init)))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(policy output, value)``: logits or Gaussian means, and V(s)."""
        h_pi, h_v = self.torso(obs)
        return self.pi_head(h_pi), self.v_head(h_v).squeeze(1)

    def numpy_forward(self) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None:
        """``forward`` in numpy for MLP torsos (None otherwise): for the small batches of acting,
        numpy's matmuls cost less than torch's per-call overhead."""
        torso = self.torso.numpy_forward() if isinstance(self.torso, PairedMLP) else None
        if torso is None:
            return None
        pi_head, v_head = numpy_mlp(self.pi_head), numpy_mlp(self.v_head)

        def forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            h_pi, h_v = torso(x)
            return pi_head(h_pi), v_head(h_v)[:, 0]
        return forward

    def policy(self, obs: torch.Tensor) -> torch.Tensor:
        return self.forward(obs)[0]

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.forward(obs)[1]

    def log_prob_entropy(self, out: torch.Tensor, actions: torch.Tensor,
                         entropy: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``log pi(a|s)`` and (only when asked: it costs ops on the hot path) the entropy."""
        if self.discrete:
            logp_all = torch.log_softmax(out, dim=1)
            logp = logp_all.gather(1, actions.long()[:, None]).squeeze(1)
            return logp, (-(logp_all.exp() * logp_all).sum(1) if entropy else None)
        log_std = self.log_std.expand_as(out)
        z = (actions - out) / log_std.exp()
        logp = (-0.5 * z.pow(2) - log_std - 0.5 * LOG_2PI).sum(1)
        return logp, ((log_std + 0.5 * (1.0 + LOG_2PI)).sum(1) if entropy else None)


class OnPolicyAgent(DeepAgent):
    """Acting, probabilities and persistence for an :class:`ActorCritic` agent."""

    stochastic = True
    network: str
    hidden: tuple
    activation: str
    log_std_init: float
    n_envs: int

    def _n_envs(self) -> int:
        return self.n_envs

    def _build(self) -> None:
        self.model_ = ActorCritic(self.spaces_["obs_shape"], self.n_actions, self.discrete, network=self.network,
                                  hidden=self.hidden, activation=self.activation, log_std_init=self.log_std_init)
        self._params = list(self.model_.parameters())
        self._numpy_model = self.model_.numpy_forward()  # None unless the torso is an MLP
        if not self.discrete:
            self._low, self._high = action_bounds(self.spaces_)
        self._make_optimizer()

    def _make_optimizer(self) -> None:
        from recloop.agents.deep.networks import adam

        self.optimizer_ = adam(self._params, self.lr, eps=1e-5)

    def _modules(self) -> dict[str, nn.Module]:
        return {"model": self.model_}

    def _sample(self, out: torch.Tensor | np.ndarray, explore: bool) -> np.ndarray:
        """Actions from policy outputs, drawn with numpy (cheaper than torch.distributions per step)."""
        out = out.numpy() if torch.is_tensor(out) else out
        if self.discrete:
            if not explore:
                return out.argmax(1)
            p = _softmax(out)
            u = self.rng_.random((len(p), 1))
            return np.minimum((p.cumsum(1) < u).sum(1), p.shape[1] - 1)
        if not explore:
            return out.astype(np.float32)
        std = np.exp(self.model_.log_std.detach().numpy())
        return (out + std * self.rng_.standard_normal(out.shape)).astype(np.float32)

    def _log_prob(self, out: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """``log pi(a|s)`` in numpy: ``ActorCritic.log_prob_entropy`` without the graph."""
        if self.discrete:
            z = out.astype(np.float64) - out.max(1, keepdims=True)
            logp = z[np.arange(len(z)), actions] - np.log(np.exp(z).sum(1))
        else:
            log_std = self.model_.log_std.detach().numpy().astype(np.float64)
            u = (actions - out) / np.exp(log_std)
            logp = (-0.5 * u ** 2 - log_std - 0.5 * LOG_2PI).sum(1)
        return logp.astype(np.float32)

    def _rollout_step(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(actions, log pi(a|s), V(s))`` for a batch of raw observations, exploring."""
        if self._numpy_model is not None:
            out, values = self._numpy_model(self._obs_array(obs))
        else:
            with torch.no_grad():
                out, values = (t.numpy() for t in self.model_(self._obs_tensor(obs, batched=True)))
        actions = self._sample(out, explore=True)
        return actions, self._log_prob(out, actions), values

    def _values(self, obs: np.ndarray) -> np.ndarray:
        if self._numpy_model is not None:
            return self._numpy_model(self._obs_array(obs))[1]
        with torch.no_grad():
            return self.model_.value(self._obs_tensor(obs, batched=True)).numpy()

    def _to_env(self, actions: np.ndarray) -> np.ndarray:
        return actions if self.discrete else np.clip(actions, self._low, self._high)

    def _act_batch(self, obs: torch.Tensor, explore: bool) -> np.ndarray:
        return self._to_env(self._sample(self.model_.policy(obs), explore))

    def _probs_batch(self, obs: torch.Tensor) -> np.ndarray:
        return _softmax(self.model_.policy(obs).numpy())

    def _action_tensor(self, actions: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(actions, dtype=torch.int64 if self.discrete else torch.float32)


def collect_rollout(agent: OnPolicyAgent, runner: EnvRunner, buffer: RolloutBuffer, hooks: Hooks,
                    gamma: float, end: int) -> np.ndarray:
    """Fill ``buffer`` (stopping early if a callback asks); returns V of the last observations.

    A time-limit truncation credits ``gamma * V(final obs)`` to the last reward,
    because the state there was not terminal.
    """
    while not buffer.full and not hooks.stop:
        obs = runner.obs
        actions, logp, values = agent._rollout_step(obs)
        _, rewards, term, trunc, final_obs, finished = runner.step(agent._to_env(actions))
        cut = trunc & ~term
        if cut.any():
            rewards = rewards + gamma * cut * agent._values(final_obs)
        buffer.add(obs, actions, logp, rewards, term | trunc, values)
        agent.steps_ += runner.n
        if finished:
            hooks.episodes_ended(agent.steps_, *zip(*finished))
        hooks.progress(agent.steps_, end, agent)
    return agent._values(runner.obs)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits.astype(np.float64) - logits.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


def rollout_tensors(agent: OnPolicyAgent, data: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    out = {k: torch.as_tensor(v) for k, v in data.items() if k != "obs" and k != "actions"}
    out["obs"] = agent._obs_tensor(data["obs"], batched=True)
    out["actions"] = agent._action_tensor(data["actions"])
    return out


def make_runner_and_buffer(agent: OnPolicyAgent, envs: list[gym.Env], n_steps: int,
                           seed: int | None) -> tuple[EnvRunner, RolloutBuffer]:
    runner = EnvRunner(envs, seed)
    spaces = agent.spaces_
    if agent.discrete:
        buffer = RolloutBuffer(n_steps, runner.n, tuple(spaces["obs_shape"]), np.dtype(spaces["obs_dtype"]))
    else:
        buffer = RolloutBuffer(n_steps, runner.n, tuple(spaces["obs_shape"]), np.dtype(spaces["obs_dtype"]),
                               (agent.n_actions,), np.float32)
    return runner, buffer


def linear_decay(value: float, anneal: bool, done: int, total: int) -> float:
    """``value`` scaled linearly from 1 to 0 over training when ``anneal`` (the zoo's ``lin_`` schedules)."""
    return value * max(0.0, 1.0 - done / max(total, 1)) if anneal else value


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = lr


