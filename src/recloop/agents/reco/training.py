"""Windows of logged sequences and a time-budgeted training loop with validation early stopping."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from recloop.data.splits import SequentialSplit
from recloop.core.seeding import as_generator


class Budget:
    """A training-time budget in CPU seconds of this process (``time.process_time``).

    CPU time, not wall time: on a shared machine wall-clock budgets give a model more or less
    compute depending on the neighbours' load, while CPU seconds stay comparable between
    models run at different moments (with torch limited to one thread, as the benchmark does).
    """

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self._start = time.process_time()

    def elapsed(self) -> float:
        return time.process_time() - self._start

    def exhausted(self) -> bool:
        return self.seconds is not None and self.elapsed() > self.seconds


@dataclass(frozen=True, slots=True)
class Windows:
    """Training windows: ``tokens`` (W, L) left-padded item + 1, ``ratings`` aligned with them,
    ``last`` True at a user's final training item (a terminal transition for RL heads)."""

    tokens: torch.Tensor
    ratings: torch.Tensor
    last: torch.Tensor


def make_windows(split: SequentialSplit, max_len: int, rng: np.random.Generator) -> Windows:
    """Cut every user's training sequence into windows of ``max_len`` tokens.

    Consecutive windows overlap by one token, so each training item (but the user's first) is a
    target exactly once; a random offset per call varies the cut points between epochs.
    """
    toks, rats, lasts = [], [], []
    step = max_len - 1
    for u in range(split.n_users):
        seq, rat = split.train_sequence(u), split.train_ratings(u)
        n = len(seq)
        if n < 2:
            continue
        end = n - int(rng.integers(0, step)) if n > max_len else n
        ends = list(range(end, 1, -step))
        if end < n:
            ends.insert(0, n)
        for e in ends:
            lo = max(0, e - max_len)
            t = np.zeros(max_len, np.int64)
            r = np.zeros(max_len, np.float32)
            z = np.zeros(max_len, bool)
            t[max_len - (e - lo):] = seq[lo:e] + 1
            r[max_len - (e - lo):] = rat[lo:e]
            z[-1] = e == n
            toks.append(t)
            rats.append(r)
            lasts.append(z)
    return Windows(torch.from_numpy(np.stack(toks)), torch.from_numpy(np.stack(rats)),
                   torch.from_numpy(np.stack(lasts)))


def check_lr_schedule(name: str) -> str:
    """``name`` if it is a schedule ``fit_loop`` knows, else a ValueError naming the choices."""
    if name not in ("constant", "linear"):
        raise ValueError(f"lr_schedule must be 'constant' or 'linear', got {name!r}")
    return name


def fit_loop(module: torch.nn.Module, step: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
             validate: Callable[[], float], split: SequentialSplit, *, max_len: int, batch_size: int,
             lr: float, epochs: int, time_budget_s: float | None, patience: int, seed: int,
             after_step: Callable[[], None] | None = None, weight_decay: float = 0.0,
             lr_schedule: str = "constant") -> list[dict]:
    """Adam over shuffled windows until ``epochs`` or the CPU-time budget runs out.

    ``step(tokens, ratings, last)`` returns the loss of one batch. After each epoch the model is
    scored on the validation targets; the best state is restored at the end (early stopping
    after ``patience`` epochs without improvement). Returns one log dict per epoch.

    ``lr_schedule="linear"`` decays the step size linearly to zero over the run: over the CPU
    budget when there is one (the last epochs then move little, so the validation-best epoch
    is a settled model rather than one point of a noisy walk), otherwise over ``epochs``.
    """
    check_lr_schedule(lr_schedule)
    rng = as_generator(seed)  # torch draws come from the caller's seeded() block
    opt = torch.optim.Adam(module.parameters(), lr=lr, weight_decay=weight_decay)
    budget = Budget(time_budget_s)
    best, best_state, since, log = -1.0, None, 0, []
    for epoch in range(epochs):
        module.train()
        w = make_windows(split, max_len, rng)
        perm = torch.from_numpy(rng.permutation(len(w.tokens)))
        total, out_of_time = 0.0, False
        for lo in range(0, len(perm), batch_size):
            idx = perm[lo:lo + batch_size]
            if lr_schedule == "linear":
                done = (budget.elapsed() / time_budget_s if time_budget_s
                        else (epoch + lo / len(perm)) / epochs)
                for group in opt.param_groups:
                    group["lr"] = lr * max(0.0, 1.0 - done)
            loss = step(w.tokens[idx], w.ratings[idx], w.last[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if after_step is not None:
                after_step()
            total += float(loss.detach()) * len(idx)
            if budget.exhausted():
                out_of_time = True
                break
        module.eval()
        with torch.no_grad():
            score = validate()
        log.append({"epoch": epoch, "loss": total / len(perm), "valid_ndcg@10": score,
                    "cpu_s": budget.elapsed(), "lr": opt.param_groups[0]["lr"]})
        if score > best:
            best, best_state, since = score, copy.deepcopy(module.state_dict()), 0
        else:
            since += 1
        if out_of_time or since >= patience:
            break
    if best_state is not None:
        module.load_state_dict(best_state)
    module.eval()
    return log
