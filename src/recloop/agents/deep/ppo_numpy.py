"""PPO's clipped loss and its gradient, written out in numpy for MLP actor-critics.

For CartPole-sized problems (a 256 x 4 batch through two 64x64 torsos) a PPO
gradient step through torch autograd costs about a millisecond, nearly all of it
per-op overhead of some fifty small kernels and autograd nodes; the arithmetic
is a few microseconds. The same forward and backward pass as a dozen numpy
matmuls costs a fraction of that. The gradients land in one flat buffer that the
parameters' ``.grad`` tensors view, so gradient clipping is two numpy ops and
the torch optimiser (fused Adam, whose state is saved in checkpoints) steps the
parameters as before.

Only discrete policies on a :class:`~recloop.agents.deep.onpolicy.PairedMLP`
torso with tanh or ReLU are covered; anything else uses the torch path. A test
checks these gradients against torch autograd.
"""

from __future__ import annotations

import numpy as np

from recloop.agents.deep._torch import torch


class NumpyPPOGrad:
    """Loss and gradients of ``model`` (an ``ActorCritic`` with a ``PairedMLP`` torso, discrete actions)."""

    def __init__(self, model: torch.nn.Module):
        torso = model.torso
        self.relu = isinstance(torso.act, torch.nn.ReLU)
        self.params = list(model.parameters())
        # numpy views of the weights: optimiser steps and load_state_dict write through them
        self.ws = [w.detach().numpy() for w in torso.weights]             # (2, in, out)
        self.bs = [b.detach().numpy() for b in torso.biases]              # (2, 1, out)
        self.wp, self.bp = model.pi_head.weight.detach().numpy(), model.pi_head.bias.detach().numpy()
        self.wv, self.bv = model.v_head.weight.detach().numpy(), model.v_head.bias.detach().numpy()
        self.flat = np.zeros(sum(p.numel() for p in self.params), dtype=np.float32)
        self.grads: dict[int, np.ndarray] = {}
        self.grad_tensors = []
        offset = 0
        for p in self.params:
            view = self.flat[offset:offset + p.numel()].reshape(tuple(p.shape))
            self.grads[id(p)] = view
            self.grad_tensors.append(torch.from_numpy(view))
            offset += p.numel()
        self.gw = [self.grads[id(w)] for w in torso.weights]
        self.gb = [self.grads[id(b)] for b in torso.biases]
        self.gwp, self.gbp = self.grads[id(model.pi_head.weight)], self.grads[id(model.pi_head.bias)]
        self.gwv, self.gbv = self.grads[id(model.v_head.weight)], self.grads[id(model.v_head.bias)]

    def attach(self) -> None:
        """Point every parameter's ``.grad`` at the flat buffer (other code may have reset them)."""
        for p, g in zip(self.params, self.grad_tensors):
            if p.grad is not g:
                p.grad = g

    def __call__(self, x: np.ndarray, actions: np.ndarray, old_logp: np.ndarray, adv: np.ndarray,
                 returns: np.ndarray, clip: float, vf_coef: float, ent_coef: float,
                 max_grad_norm: float | None) -> dict[str, np.ndarray | float]:
        """Write d(loss)/d(params) into the ``.grad`` buffers (clipped to ``max_grad_norm``); return the
        loss terms and the ratio for diagnostics.

        loss = -mean(min(r A, clip(r, 1-eps, 1+eps) A)) + vf_coef mean((V - R)^2) - ent_coef mean(H)
        """
        n = len(x)
        hs = [x]
        h = x
        for w, b in zip(self.ws, self.bs):  # both torsos at once: (2, n, out)
            z = np.matmul(h, w)
            z += b
            h = np.maximum(z, 0.0, out=z) if self.relu else np.tanh(z, out=z)
            hs.append(h)
        h_pi, h_v = h[0], h[1]
        logits = h_pi @ self.wp.T + self.bp
        values = h_v @ self.wv[0] + self.bv[0]
        z = logits - logits.max(1, keepdims=True)
        ez = np.exp(z)
        sum_ez = ez.sum(1, keepdims=True)
        logp_all = z - np.log(sum_ez)
        probs = ez / sum_ez
        rows = np.arange(n)
        log_ratio = logp_all[rows, actions] - old_logp
        ratio = np.exp(log_ratio)
        surr1, surr2 = ratio * adv, np.clip(ratio, 1 - clip, 1 + clip) * adv
        # torch.min's gradient goes to the unclipped term where it is the smaller one or they tie
        # (a tie is exactly "ratio inside the clip range"); through the clipped term it is zero
        unclipped = surr1 <= surr2
        pg_loss = -float(np.where(unclipped, surr1, surr2).mean())
        diff = values - returns
        vf_loss = float((diff * diff).mean())

        d_logp = np.where(unclipped, -adv * ratio / n, 0.0).astype(np.float32)
        d_logits = -probs * d_logp[:, None]
        d_logits[rows, actions] += d_logp
        entropy = -(probs * logp_all).sum(1)
        if ent_coef:
            d_logits += (ent_coef / n) * probs * (logp_all + entropy[:, None])
        d_v = (2.0 * vf_coef / n) * diff

        np.matmul(d_logits.T, h_pi, out=self.gwp)
        d_logits.sum(0, out=self.gbp)
        self.gwv[0] = d_v @ h_v
        self.gbv[0] = d_v.sum()
        dh = np.empty_like(h)
        np.matmul(d_logits, self.wp, out=dh[0])
        np.multiply(d_v[:, None], self.wv[0], out=dh[1])
        for layer in range(len(self.ws) - 1, -1, -1):
            out = hs[layer + 1]
            dz = dh * (out > 0) if self.relu else dh * (1.0 - out * out)
            below = hs[layer]
            if layer == 0:  # the shared input: (in, n) @ (2, n, out)
                np.matmul(below.T, dz, out=self.gw[layer])
            else:
                np.matmul(below.transpose(0, 2, 1), dz, out=self.gw[layer])
                dh = np.matmul(dz, self.ws[layer].transpose(0, 2, 1))
            dz.sum(1, keepdims=True, out=self.gb[layer])
        if max_grad_norm is not None:
            norm = float(np.sqrt(self.flat @ self.flat))
            scale = max_grad_norm / (norm + 1e-6)
            if scale < 1.0:
                self.flat *= scale
        return {"pg": pg_loss, "vf": vf_loss, "entropy": entropy, "ratio": ratio, "log_ratio": log_ratio}
