"""NeuralLinear: a neural representation with Bayesian linear heads (needs torch).

Riquelme, Tucker & Snoek (2018), "Deep Bayesian Bandits Showdown": a network
learns features ``phi(x)`` by regressing rewards; each arm keeps a Bayesian
linear regression on ``phi(x)`` and the policy Thompson-samples from it. The
network is retrained every ``train_every`` rewards on everything seen so far,
after which the linear posteriors are recomputed on the new features, so
uncertainty stays calibrated to the current representation.
"""

from __future__ import annotations

import numpy as np

from recloop.agents.bandits.base import BanditPolicy, gaussian_argmax_probs
from recloop.core.registry import register


def _torch():
    try:
        import torch
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError("NeuralLinear needs PyTorch: pip install 'recloop[deep]' (torch==2.13.0)") from err
    return torch


def _adam_step(params, grads, moments, step: int, lr: float, b1: float = 0.9, b2: float = 0.999,
               eps: float = 1e-8) -> None:
    """Adam (Kingma & Ba 2015) written out: torch.optim's first use imports the
    compiler stack (seconds), a poor trade for a network this small."""
    import torch

    with torch.no_grad():
        for p, g, (m, v) in zip(params, grads, moments):
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            m_hat = m / (1 - b1**step)
            v_hat = v / (1 - b2**step)
            p.sub_(lr * m_hat / (v_hat.sqrt() + eps))


@register("policy", "neural-linear", "neural", "neurallinear")
class NeuralLinear(BanditPolicy):
    """Thompson sampling on linear heads over learned features.

    Hyper-parameters: ``hidden`` (features = last hidden layer), ``v``
    (posterior scale), ``l2`` (ridge prior), ``train_every`` / ``train_steps`` /
    ``batch_size`` / ``lr`` for the representation.
    """

    n_features: int  # contextual: BanditPolicy.__init__ refuses n_features=None
    P_inv_: np.ndarray  # learned per-arm state, made by _new_arms
    b_: np.ndarray
    theta_: np.ndarray
    net_: dict[str, np.ndarray]  # the network's arrays, only between load and _restore
    head_: np.ndarray

    contextual = True

    def __init__(self, n_arms: int | None = None, *, n_features: int | None = None, hidden: int = 32,
                 v: float = 0.3, l2: float = 1.0, train_every: int = 200, train_steps: int = 100,
                 batch_size: int = 64, lr: float = 3e-3, propensity_samples: int = 2000, seed: int | None = None):
        if min(hidden, train_every, train_steps, batch_size) < 1 or not (v > 0 and l2 > 0 and lr > 0):
            raise ValueError("hidden, train_every, train_steps, batch_size must be >= 1; v, l2, lr positive")
        self.hidden, self.v, self.l2 = hidden, v, l2
        self.train_every, self.train_steps, self.batch_size, self.lr = train_every, train_steps, batch_size, lr
        self.propensity_samples = propensity_samples
        self.X_ = np.zeros((0, n_features or 0))
        self.A_ = np.zeros(0, dtype=np.int64)
        self.R_ = np.zeros(0)
        super().__init__(n_arms, n_features=n_features, seed=seed)
        self._build(self.rng_.integers(2**31))

    def _build(self, torch_seed: int | np.integer) -> None:
        torch = _torch()
        gen = torch.Generator().manual_seed(int(torch_seed))
        d, h = self.n_features, self.hidden
        self._torch = torch
        self._body = torch.nn.Sequential(torch.nn.Linear(d, h), torch.nn.ReLU(), torch.nn.Linear(h, h), torch.nn.ReLU())
        with torch.no_grad():
            for p in self._body.parameters():
                p.copy_(torch.empty_like(p).uniform_(-1.0, 1.0, generator=gen) / np.sqrt(p.shape[-1]))
        self._head = torch.zeros((max(self.arms_, 1), h), requires_grad=True)

    # features and posteriors -------------------------------------------
    def _phi(self, X: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.no_grad():
            return self._body(torch.as_tensor(np.atleast_2d(X), dtype=torch.float32)).double().numpy()

    def _new_arms(self, n: int) -> dict[str, np.ndarray]:
        h = self.hidden
        return {"P_inv_": np.tile(np.eye(h) / self.l2, (n, 1, 1)), "b_": np.zeros((n, h)), "theta_": np.zeros((n, h))}

    def _stats(self, x: np.ndarray, arms: np.ndarray):
        f = self._phi(x)[0]
        Pf = self.P_inv_[arms] @ f
        return self.theta_[arms] @ f, np.sqrt(np.abs(Pf @ f))

    def _scores(self, x, arms):
        mean, width = self._stats(x, arms)
        return mean + self.v * width * self.rng_.standard_normal(len(arms))

    def _greedy_scores(self, x, arms):
        return self._stats(x, arms)[0]

    def _probs(self, x, arms):
        mean, width = self._stats(x, arms)
        return gaussian_argmax_probs(mean, self.v * width, self.propensity_samples, self.rng_)

    def _learn(self, arm: int, reward: float, x: np.ndarray | None) -> None:
        assert x is not None  # contextual: _context gives an array
        self.X_ = np.vstack([self.X_, x[None]])
        self.A_ = np.append(self.A_, arm)
        self.R_ = np.append(self.R_, reward)
        if len(self.R_) % self.train_every == 0:
            self._train()
            self._refit_posteriors()
            return
        f = self._phi(x)[0]
        P = self.P_inv_[arm]
        Pf = P @ f
        P -= np.outer(Pf, Pf) / (1.0 + f @ Pf)
        self.b_[arm] += reward * f
        self.theta_[arm] = P @ self.b_[arm]

    def _train(self) -> None:
        torch = self._torch
        if self._head.shape[0] < self.arms_:
            grown = torch.zeros((self.arms_, self.hidden))
            grown[: self._head.shape[0]] = self._head.detach()
            self._head = grown.requires_grad_(True)
        params = [*self._body.parameters(), self._head]
        X = torch.as_tensor(self.X_, dtype=torch.float32)
        A = torch.as_tensor(self.A_)
        R = torch.as_tensor(self.R_, dtype=torch.float32)
        n = len(R)
        moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a net this small only loses from intra-op threads
        try:
            self._fit(params, moments, X, A, R, n)
        finally:
            torch.set_num_threads(threads)

    def _fit(self, params, moments, X, A, R, n) -> None:
        torch = self._torch
        for step in range(1, self.train_steps + 1):
            idx = torch.as_tensor(self.rng_.integers(n, size=min(self.batch_size, n)))
            pred = (self._body(X[idx]) * self._head[A[idx]]).sum(-1)
            loss = torch.mean((pred - R[idx]) ** 2)
            grads = torch.autograd.grad(loss, params)
            _adam_step(params, grads, moments, step, self.lr)

    def _refit_posteriors(self) -> None:
        F = self._phi(self.X_)
        eye = np.eye(self.hidden) * self.l2
        for arm in range(self.arms_):
            rows = self.A_ == arm
            Fa = F[rows]
            self.P_inv_[arm] = np.linalg.inv(eye + Fa.T @ Fa)
            self.b_[arm] = self.R_[rows] @ Fa
            self.theta_[arm] = self.P_inv_[arm] @ self.b_[arm]

    # persistence: the network travels as plain arrays --------------------
    def state_dict(self) -> dict:
        state = super().state_dict()
        state["net_"] = {k: v.detach().numpy().copy() for k, v in self._body.state_dict().items()}
        state["head_"] = self._head.detach().numpy().copy()
        return state

    def _forget_arms(self, arms: np.ndarray) -> None:
        # an evicted item's arm is reused by a new item: its history must not train the new one
        keep = ~np.isin(self.A_, arms)
        self.X_, self.A_, self.R_ = self.X_[keep], self.A_[keep], self.R_[keep]
        with self._torch.no_grad():
            if self._head.shape[0] > 0:
                self._head[arms[arms < self._head.shape[0]]] = 0.0

    def _restore(self) -> None:
        torch = self._torch
        self._body.load_state_dict({k: torch.as_tensor(v) for k, v in self.net_.items()})
        self._head = torch.as_tensor(self.head_).clone().requires_grad_(True)
        del self.net_, self.head_

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.update(self.state_dict())
        for key in ("_torch", "_body", "_head"):
            state.pop(key)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._build(0)
        self._restore()
