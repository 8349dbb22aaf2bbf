"""Callbacks with typed events, and namespaced scalar logging.

An agent's ``learn`` reports what happens as frozen records — :class:`Progress`
after every environment step (of all copies), :class:`EpisodeEnd`,
:class:`UpdateEnd` with the losses of one update, :class:`EvalEnd` — and hands
them to each callback's ``on_event``. A callback returns ``True`` to stop
training. Nothing is passed as ``locals()``: what a callback may rely on is
written down here.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np


@dataclass(frozen=True, slots=True)
class Progress:
    step: int            # environment steps so far (all copies)
    total_steps: int
    agent: Any


@dataclass(frozen=True, slots=True)
class EpisodeEnd:
    step: int
    episode: int
    episode_return: float
    length: int


@dataclass(frozen=True, slots=True)
class UpdateEnd:
    step: int
    metrics: Mapping[str, float]   # namespaced: "losses/td", "charts/epsilon", ...


@dataclass(frozen=True, slots=True)
class EvalEnd:
    step: int
    mean_return: float
    std_return: float
    returns: tuple[float, ...]
    seconds: float       # wall time the evaluation took (excluded from training time)


Event = Progress | EpisodeEnd | UpdateEnd | EvalEnd


class Callback:
    """Base class: override ``on_event`` (and ``on_start``/``on_end`` if needed)."""

    def on_start(self, agent: Any, total_steps: int) -> None:
        pass

    def on_event(self, event: Event) -> bool | None:
        return None

    def on_end(self, agent: Any) -> None:
        pass


class Hooks:
    """Fan events out to a list of callbacks; remembers whether any asked to stop."""

    def __init__(self, callbacks: Iterable[Callback | Callable[[Event], Any]] = ()):
        self.callbacks = [cb if isinstance(cb, Callback) else _FunctionCallback(cb) for cb in callbacks]
        self.stop = False
        self.episodes = 0
        for cb in self.callbacks:
            if isinstance(cb, EvalCallback):
                cb.hooks = self

    def start(self, agent: Any, total_steps: int) -> None:
        self.stop = False
        for cb in self.callbacks:
            cb.on_start(agent, total_steps)

    def emit(self, event: Event) -> bool:
        for cb in self.callbacks:
            if cb.on_event(event):
                self.stop = True
        return self.stop

    def progress(self, step: int, total_steps: int, agent: Any) -> bool:
        if self.callbacks:
            self.emit(Progress(step, total_steps, agent))
        return self.stop

    def episodes_ended(self, step: int, returns: Sequence[float], lengths: Sequence[int]) -> None:
        for r, n in zip(returns, lengths):
            self.episodes += 1
            if self.callbacks:
                self.emit(EpisodeEnd(step, self.episodes, float(r), int(n)))

    def end(self, agent: Any) -> None:
        for cb in self.callbacks:
            cb.on_end(agent)


class _FunctionCallback(Callback):
    def __init__(self, fn: Callable[[Event], Any]):
        self.fn = fn

    def on_event(self, event: Event) -> bool | None:
        return self.fn(event)


class ScalarLogger(Callback):
    """Namespaced scalars (``charts/episode_return``, ``losses/td``, ``eval/mean_return``) to
    memory and, when ``path`` is given, a long-format CSV ``step,key,value``.

    ``tensorboard=True`` also writes the same scalars as TensorBoard event files,
    into the directory ``path`` without its suffix (``runs/x.csv`` -> ``runs/x/``),
    or ``./runs/`` when there is no path; that needs the ``tensorboard``
    package (in the ``[deep]`` extra).
    """

    def __init__(self, path: str | Path | None = None, *, tensorboard: bool = False, every_updates: int = 1):
        self.path = Path(path) if path is not None else None
        self.every_updates = max(1, int(every_updates))
        self.rows: list[tuple[int, str, float]] = []
        self._updates = 0
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as err:
                raise ImportError("TensorBoard logging needs the `tensorboard` package: pip install tensorboard "
                                  "(or pip install 'recloop[deep]')") from err
            self._tb = SummaryWriter(str(self.path.with_suffix("")) if self.path else None)

    def log(self, step: int, key: str, value: float) -> None:
        self.rows.append((int(step), key, float(value)))
        if self._tb is not None:
            self._tb.add_scalar(key, float(value), int(step))

    def on_event(self, event: Event) -> None:
        if isinstance(event, EpisodeEnd):
            self.log(event.step, "charts/episode_return", event.episode_return)
            self.log(event.step, "charts/episode_length", event.length)
        elif isinstance(event, UpdateEnd):
            self._updates += 1
            if self._updates % self.every_updates == 0:
                for k, v in event.metrics.items():
                    self.log(event.step, k, v)
        elif isinstance(event, EvalEnd):
            self.log(event.step, "eval/mean_return", event.mean_return)
            self.log(event.step, "eval/std_return", event.std_return)

    def series(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` of one key."""
        pts = [(s, v) for s, k, v in self.rows if k == key]
        if not pts:
            return np.zeros(0, dtype=int), np.zeros(0)
        s, v = zip(*pts)
        return np.asarray(s), np.asarray(v)

    def on_end(self, agent: Any) -> None:
        self.flush()
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def flush(self) -> None:
        if self._tb is not None:
            self._tb.flush()
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["step", "key", "value"])
            w.writerows(self.rows)


class EvalCallback(Callback):
    """Evaluate every ``every`` environment steps on ``episodes`` seeded episodes.

    Emits :class:`EvalEnd` to every callback (so a logger records it) and stops
    training once the mean return reaches ``stop_at``. ``deterministic=True``
    evaluates the greedy policy (``explore=False``).
    """

    def __init__(self, env: Any, *, every: int = 5000, episodes: int = 20, seed: int = 0,
                 stop_at: float | None = None, deterministic: bool = True):
        if every < 1 or episodes < 1:
            raise ValueError("every and episodes must be >= 1")
        self.env, self.every, self.episodes, self.seed = env, int(every), int(episodes), int(seed)
        self.stop_at, self.deterministic = stop_at, deterministic
        self.history: list[EvalEnd] = []
        self.eval_seconds = 0.0
        self.eval_cpu_seconds = 0.0  # process CPU time, a steadier measure than wall time on a shared machine
        self.hooks: Hooks | None = None
        self._next = self.every

    def on_start(self, agent: Any, total_steps: int) -> None:
        self._next = (getattr(agent, "steps_", 0) // self.every + 1) * self.every

    def on_event(self, event: Event) -> bool | None:
        if not isinstance(event, Progress) or event.step < self._next:
            return None
        while self._next <= event.step:
            self._next += self.every
        from recloop.agents.deep.evaluate import evaluate_policy

        t0, c0 = time.perf_counter(), time.process_time()
        res = evaluate_policy(event.agent, self.env, episodes=self.episodes, seed=self.seed,
                              deterministic=self.deterministic)
        seconds = time.perf_counter() - t0
        self.eval_seconds += seconds
        self.eval_cpu_seconds += time.process_time() - c0
        done = EvalEnd(event.step, res.mean_return, res.std_return, tuple(res.returns), seconds)
        self.history.append(done)
        if self.hooks is not None:
            for cb in self.hooks.callbacks:
                if cb is not self:
                    cb.on_event(done)
        return self.stop_at is not None and res.mean_return >= self.stop_at

    @property
    def best(self) -> EvalEnd | None:
        return max(self.history, key=lambda e: e.mean_return, default=None)


class CheckpointCallback(Callback):
    """Save the agent every ``every`` steps to ``directory/{prefix}_{step}.npz`` (and at the end)."""

    def __init__(self, directory: str | Path, *, every: int = 10_000, prefix: str = "agent"):
        self.directory, self.every, self.prefix = Path(directory), int(every), prefix
        self.saved: list[Path] = []
        self._next = self.every

    def on_event(self, event: Event) -> None:
        if isinstance(event, Progress) and event.step >= self._next:
            while self._next <= event.step:
                self._next += self.every
            self.saved.append(event.agent.save(self.directory / f"{self.prefix}_{event.step}.npz"))

    def on_end(self, agent: Any) -> None:
        self.saved.append(agent.save(self.directory / f"{self.prefix}_final.npz"))


@dataclass
class EarlyStop(Callback):
    """Stop once the mean return of the last ``window`` training episodes reaches ``threshold``
    (for a threshold on evaluation returns, use ``EvalCallback(stop_at=...)``)."""

    threshold: float
    window: int = 20
    _recent: list = field(default_factory=list)

    def on_event(self, event: Event) -> bool | None:
        if isinstance(event, EpisodeEnd):
            self._recent = (self._recent + [event.episode_return])[-self.window:]
            return len(self._recent) == self.window and float(np.mean(self._recent)) >= self.threshold
        return None
