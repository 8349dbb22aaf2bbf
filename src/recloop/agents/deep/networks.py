"""Networks for the deep agents: MLP, Nature CNN, MinAtar conv net, GRU encoder, heads.

Every encoder maps a batch of observations to a flat feature vector and says
its width in ``out_dim``; heads (Q-values, policies, critics) sit on top. The
encoder is chosen from the observation shape unless asked for by name:

* 1-D vectors -> :func:`mlp` (hidden layers, optional dropout);
* ``(C, 84, 84)`` frames -> :class:`NatureCNN` (Mnih et al., 2015, *Nature*);
* small ``(C, H, W)`` grids such as MinAtar's 10x10 -> :class:`MinAtarCNN`
  (Young & Tian, 2019, arXiv:1903.03176);
* ``(T, F)`` sequences (e.g. a user's recent items) -> :class:`GRUEncoder`
  (Cho et al., 2014).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from recloop.agents.deep._torch import torch

nn = torch.nn

ENCODERS = ("auto", "mlp", "nature", "minatar", "gru")


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int | None = None, *, dropout: float = 0.0,
        activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """``in -> hidden... -> out`` with ``activation`` (and dropout) after every hidden layer."""
    layers: list[nn.Module] = []
    width = in_dim
    for h in hidden:
        layers += [nn.Linear(width, int(h)), activation()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = int(h)
    if out_dim is not None:
        layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    def __init__(self, obs_shape: Sequence[int], hidden: Sequence[int] = (64, 64), dropout: float = 0.0):
        super().__init__()
        in_dim = int(np.prod(obs_shape))
        body = mlp(in_dim, hidden, dropout=dropout)
        # Flatten only when needed: every module call costs microseconds on the hot path.
        self.net = body if len(obs_shape) == 1 else nn.Sequential(nn.Flatten(), body)
        self.out_dim = int(hidden[-1]) if len(hidden) else in_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvEncoder(nn.Module):
    """Convolutions ``(channels, kernel, stride)`` with ReLU, optional max-pooling, then a dense layer."""

    def __init__(self, obs_shape: Sequence[int], layers: Sequence[tuple[int, int, int]], features: int,
                 max_pool: bool = False, dropout: float = 0.0):
        super().__init__()
        convs: list[nn.Module] = []
        c = obs_shape[0]
        for out, kernel, stride in layers:
            convs += [nn.Conv2d(c, out, kernel, stride=stride), nn.ReLU()]
            c = out
        if max_pool:
            convs.append(nn.MaxPool2d(2))
        self.convs = nn.Sequential(*convs, nn.Flatten())
        with torch.no_grad():
            flat = self.convs(torch.zeros(1, *obs_shape)).shape[1]
        head: list[nn.Module] = [nn.Linear(flat, features), nn.ReLU()]
        if dropout > 0:
            head.append(nn.Dropout(dropout))
        self.head = nn.Sequential(*head)
        self.out_dim = features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.convs(x))


class NatureCNN(ConvEncoder):
    """The DQN Atari torso: three convolutions and a 512-unit layer (Mnih et al., 2015)."""

    def __init__(self, obs_shape: Sequence[int], features: int = 512, max_pool: bool = False, dropout: float = 0.0):
        super().__init__(obs_shape, [(32, 8, 4), (64, 4, 2), (64, 3, 1)], features, max_pool, dropout)


class MinAtarCNN(ConvEncoder):
    """One 3x3 convolution with 16 filters and a 128-unit layer: the MinAtar DQN network."""

    def __init__(self, obs_shape: Sequence[int], channels: int = 16, features: int = 128,
                 max_pool: bool = False, dropout: float = 0.0):
        super().__init__(obs_shape, [(channels, 3, 1)], features, max_pool, dropout)


class GRUEncoder(nn.Module):
    """Reads a ``(T, F)`` sequence with a GRU; the last hidden state is the feature vector."""

    def __init__(self, obs_shape: Sequence[int], hidden_size: int = 64, num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        if len(obs_shape) != 2:
            raise ValueError(f"GRUEncoder reads (T, F) sequences; got observation shape {tuple(obs_shape)}")
        self.gru = nn.GRU(int(obs_shape[1]), hidden_size, num_layers=num_layers, batch_first=True,
                          dropout=dropout if num_layers > 1 else 0.0)
        self.out_dim = hidden_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h = self.gru(x)
        return h[-1]


def make_encoder(obs_shape: Sequence[int], kind: str = "auto", *, hidden: Sequence[int] = (64, 64),
                 dropout: float = 0.0, max_pool: bool = False) -> nn.Module:
    """Build the encoder ``kind`` (or pick one from the shape when ``kind="auto"``)."""
    shape = tuple(int(s) for s in obs_shape)
    if kind not in ENCODERS:
        raise ValueError(f"unknown network {kind!r}; use one of {ENCODERS}")
    if kind == "auto":
        if len(shape) == 1:
            kind = "mlp"
        elif len(shape) == 2:
            kind = "gru"
        elif len(shape) == 3:
            kind = "nature" if min(shape[1:]) >= 36 else "minatar"
        else:
            raise ValueError(f"no default network for observations of shape {shape}; pass network='mlp'")
    if kind == "mlp":
        return MLPEncoder(shape, hidden, dropout)
    if kind in ("nature", "minatar") and len(shape) != 3:
        raise ValueError(f"network {kind!r} needs (C, H, W) image observations; got shape {shape}")
    if kind == "nature":
        return NatureCNN(shape, max_pool=max_pool, dropout=dropout)
    if kind == "minatar":
        return MinAtarCNN(shape, max_pool=max_pool, dropout=dropout)
    return GRUEncoder(shape, hidden_size=int(hidden[-1]) if len(hidden) else 64, dropout=dropout)


class QNetwork(nn.Module):
    """Encoder + Q-value head; with ``dueling`` the head is V(s) + A(s,a) - mean_a A(s,a)
    (Wang et al., 2016), which learns state values without trying every action."""

    def __init__(self, encoder: nn.Module, n_actions: int, dueling: bool = False):
        super().__init__()
        self.encoder = encoder
        self.dueling = dueling
        if dueling:
            self.value = nn.Linear(encoder.out_dim, 1)
        self.advantage = nn.Linear(encoder.out_dim, n_actions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x)
        a = self.advantage(z)
        if not self.dueling:
            return a
        return self.value(z) + a - a.mean(dim=1, keepdim=True)

    def numpy_forward(self) -> Callable[[np.ndarray], np.ndarray] | None:
        """Q-values in numpy (see :func:`numpy_mlp`) when the encoder is an MLP; else None."""
        encoder = numpy_mlp(self.encoder)
        if encoder is None:
            return None
        advantage = numpy_mlp(self.advantage)
        value = numpy_mlp(self.value) if self.dueling else None

        def forward(x: np.ndarray) -> np.ndarray:
            z = encoder(x)
            a = advantage(z)
            return a if value is None else value(z) + a - a.mean(axis=1, keepdims=True)
        return forward


class CandidateQNetwork(nn.Module):
    """Q(s, c) = MLP(features of candidate c), one shared network over the rows of a ``(N, F)``
    observation (the re-ranking MDP of :mod:`recloop.envs.rerank`). Sharing the weights makes
    the value of a candidate depend on what it is, not on the slot it came in, so the network
    learns from every row and works for any shortlist length."""

    def __init__(self, obs_shape: Sequence[int], hidden: Sequence[int] = (64, 64)):
        super().__init__()
        if len(obs_shape) != 2:
            raise ValueError(f"candidate networks need (n_candidates, n_features) observations; got {tuple(obs_shape)}")
        self.net = mlp(int(obs_shape[1]), hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)

    def numpy_forward(self) -> Callable[[np.ndarray], np.ndarray] | None:
        body = numpy_mlp(self.net)
        return None if body is None else (lambda x: body(x)[..., 0])


def numpy_mlp(module: nn.Module) -> Callable[[np.ndarray], np.ndarray] | None:
    """The forward pass of a stack of ``Linear``/``ReLU``/``Tanh`` layers as numpy code, or None
    for anything else (convolutions, GRUs, dropout).

    The closure reads numpy *views* of the parameters, which optimisers and
    ``load_state_dict`` update in place, so it always computes with the current
    weights. For one observation and 64-unit layers it is several times faster
    than calling the torch module, whose per-call overhead dominates at that size.
    """
    layers = list(module.net if isinstance(module, MLPEncoder) else module.children()) \
        if not isinstance(module, nn.Linear) else [module]
    steps: list[Callable[[np.ndarray], np.ndarray]] = []
    for layer in layers:
        if isinstance(layer, nn.Linear):
            w, b = layer.weight.detach().numpy().T, layer.bias.detach().numpy()
            steps.append(lambda x, w=w, b=b: x @ w + b)
        elif isinstance(layer, nn.ReLU):
            steps.append(lambda x: np.maximum(x, 0.0))
        elif isinstance(layer, nn.Tanh):
            steps.append(np.tanh)
        else:
            return None

    def forward(x: np.ndarray) -> np.ndarray:
        for f in steps:
            x = f(x)
        return x
    return forward


class ContinuousCritic(nn.Module):
    """Q(s, a) for continuous actions: observation features concatenated with the action."""

    def __init__(self, encoder: nn.Module, action_dim: int, hidden: Sequence[int] = (256, 256)):
        super().__init__()
        self.encoder = encoder
        self.q = mlp(encoder.out_dim + action_dim, hidden, 1)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.q(torch.cat([self.encoder(obs), action], dim=1)).squeeze(1)


def init_orthogonal(module: nn.Module, gain: float = float(np.sqrt(2))) -> None:
    """Orthogonal weights, zero biases: the PPO/A2C convention (Engstrom et al., 2020)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.orthogonal_(m.weight, gain)
            nn.init.zeros_(m.bias)


def adam(params, lr: float, eps: float = 1e-8) -> torch.optim.Optimizer:
    """Adam with the fused CPU kernel when this torch has it: one call per step instead of a
    Python loop over parameter tensors, which dominates for small networks."""
    try:
        return torch.optim.Adam(params, lr=lr, eps=eps, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=lr, eps=eps, foreach=True)


def clip_grads(params: list, max_norm: float | None) -> None:
    """Scale gradients to global norm <= ``max_norm`` in four fused ops (torch's
    ``clip_grad_norm_`` does the same with more Python around it, a visible cost per minibatch)."""
    if max_norm is None:
        return
    grads = [p.grad for p in params if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    torch._foreach_mul_(grads, (max_norm / (norm + 1e-6)).clamp(max=1.0))
