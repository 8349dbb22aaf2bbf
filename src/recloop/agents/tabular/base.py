"""What every tabular TD agent shares: a Q table, epsilon-greedy choice, Dyna planning, save/load.

A concrete agent says only how it values the next state in its TD target
(:meth:`TabularAgent._next_value`): the max for Q-learning, the sampled next
action for SARSA, the policy's expectation for Expected SARSA (Sutton & Barto,
*Reinforcement Learning: An Introduction*, 2nd ed., ch. 6).

States and actions are integers ``0..n_states-1`` / ``0..n_actions-1`` (a
Gymnasium ``Discrete`` observation is an integer state). The same object serves
recommendations: the *context* is the state, the *candidates* are action ids.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable, Hashable, Sequence

import numpy as np

from recloop.agents.tabular.learning import EpisodeEnd, LearningCurve, learn
from recloop.core import persist
from recloop.core.ranking import check_candidates, rank
from recloop.core.registry import lookup
from recloop.core.schedules import Constant, Exponential, InverseTime, Linear, schedule
from recloop.core.seeding import as_generator
from recloop.core.types import Feedback, Recommendation

_SCHEDULE_KINDS = {Constant: "constant", Linear: "linear", Exponential: "exponential", InverseTime: "inverse_time"}


def _schedule_spec(spec: Any) -> Any:
    """A schedule as plain data (for get_params / save): numbers and dicts pass through."""
    kind = _SCHEDULE_KINDS.get(type(spec))
    if kind is None:
        return spec
    return {"kind": kind, **dataclasses.asdict(spec)}


class TabularAgent:
    """Base of :class:`QLearning`, :class:`SARSA` and :class:`ExpectedSARSA`.

    Parameters
    ----------
    n_states, n_actions:
        Sizes of the discrete state and action sets.
    gamma:
        Discount factor in ``[0, 1]``.
    alpha:
        Step size: a number or a schedule (``{"kind": "linear", ...}`` or a
        :mod:`recloop.core.schedules` object). It is evaluated at the *visit
        count* of the (state, action) pair, so ``{"kind": "inverse_time", "scale": 1}``
        gives the 1/n sample average under which tabular Q-learning converges
        (Watkins & Dayan, 1992).
    epsilon:
        Exploration rate of the epsilon-greedy behaviour: a number or a schedule,
        evaluated at the global step count.
    initial_q:
        Initial value of every Q entry (optimistic values explore).
    planning_steps:
        Dyna-Q planning updates after every real step, replayed from a learned
        model of the last outcome of each (state, action) (Sutton, 1990). 0 = none.
    seed:
        Seed of the agent's own randomness (exploration, tie-breaking, planning).
    """

    def __init__(
        self,
        n_states: int,
        n_actions: int,
        *,
        gamma: float = 0.99,
        alpha: Any = 0.1,
        epsilon: Any = 0.1,
        initial_q: float = 0.0,
        planning_steps: int = 0,
        seed: int | None = None,
    ):
        for name, value in (("n_states", n_states), ("n_actions", n_actions)):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= float(gamma) <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {gamma!r}")
        if int(planning_steps) != planning_steps or planning_steps < 0:
            raise ValueError(f"planning_steps must be a non-negative integer, got {planning_steps!r}")
        if not np.isfinite(initial_q):
            raise ValueError(f"initial_q must be finite, got {initial_q!r}")
        self.n_states = int(n_states)
        self.n_actions = int(n_actions)
        self.gamma = float(gamma)
        self.alpha = alpha
        self.epsilon = epsilon
        self.initial_q = float(initial_q)
        self.planning_steps = int(planning_steps)
        self.seed = seed
        self._alpha = schedule(alpha)
        self._epsilon = schedule(epsilon)
        for name, sched in (("alpha", self._alpha), ("epsilon", self._epsilon)):
            start = float(sched(0))
            if not 0.0 <= start <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {start} at step 0")
        self.rng_ = as_generator(seed)
        self.q_ = np.full((self.n_states, self.n_actions), self.initial_q)
        self.visits_ = np.zeros((self.n_states, self.n_actions), dtype=np.int64)
        self.t_ = 0
        # Dyna model: last observed (reward, next state, terminal) per pair; -1 = never tried.
        self.model_next_ = np.full((self.n_states, self.n_actions), -1, dtype=np.int64)
        self.model_reward_ = np.zeros((self.n_states, self.n_actions))
        self.model_done_ = np.zeros((self.n_states, self.n_actions), dtype=bool)
        self._pending: tuple[int, int] | None = None

    # ------------------------------------------------------------ the algorithm
    def _next_value(self, s_next: int, a_next: int | None) -> float:
        """Value of the next state in the TD target (the one line that differs per algorithm)."""
        raise NotImplementedError

    def _td_update(self, s: int, a: int, r: float, s_next: int | None, done: bool, a_next: int | None) -> float:
        """One TD(0) backup; returns the TD error."""
        target = r if done or s_next is None else r + self.gamma * self._next_value(s_next, a_next)
        self.visits_[s, a] += 1
        step = float(self._alpha(int(self.visits_[s, a]) - 1))
        delta = target - self.q_[s, a]
        self.q_[s, a] += step * delta
        return float(delta)

    def _plan(self) -> None:
        """Dyna: replay ``planning_steps`` remembered transitions through the same backup."""
        seen = np.flatnonzero(self.model_next_.ravel() >= 0)
        if seen.size == 0:
            return
        for flat in self.rng_.choice(seen, size=self.planning_steps):
            s, a = divmod(int(flat), self.n_actions)
            s_next = int(self.model_next_[s, a])
            done = bool(self.model_done_[s, a])
            a_next = None if done else self._sample(s_next)
            target = self.model_reward_[s, a] + (0.0 if done else self.gamma * self._next_value(s_next, a_next))
            step = float(self._alpha(max(int(self.visits_[s, a]) - 1, 0)))
            self.q_[s, a] += step * (target - self.q_[s, a])

    # ------------------------------------------------------------ checks
    @staticmethod
    def _index(value: Any, n: int, what: str) -> int:
        arr = np.asarray(value)
        if arr.ndim != 0 or not np.issubdtype(arr.dtype, np.number) or int(arr) != arr:
            raise ValueError(f"{what} must be an integer in 0..{n - 1}, got {value!r}")
        i = int(arr)
        if not 0 <= i < n:
            raise IndexError(f"{what} {i} out of range 0..{n - 1}")
        return i

    def _state(self, obs: Any) -> int:
        if obs is None:
            raise ValueError(f"{type(self).__name__} needs a state (an integer in 0..{self.n_states - 1})")
        return self._index(obs, self.n_states, "state")

    def _action(self, action: Any) -> int:
        return self._index(action, self.n_actions, "action")

    def _candidates(self, candidates: Any) -> np.ndarray:
        if candidates is None:
            return np.arange(self.n_actions)
        c = np.asarray(candidates)
        if c.dtype == bool:
            if c.shape != (self.n_actions,):
                raise ValueError(f"candidate mask has shape {c.shape}; expected ({self.n_actions},)")
            c = np.flatnonzero(c)
        c = c.astype(np.int64).ravel()
        if c.size == 0:
            raise ValueError("no candidate actions to choose from")
        if c.min() < 0 or c.max() >= self.n_actions:
            raise IndexError(f"candidate actions must lie in 0..{self.n_actions - 1}")
        return c

    # ------------------------------------------------------------ choice
    @property
    def exploration_rate(self) -> float:
        return float(self._epsilon(self.t_))

    def _probs(self, s: int, arms: np.ndarray, eps: float) -> np.ndarray:
        """Exact epsilon-greedy probabilities over ``arms`` (greedy mass split among ties)."""
        q = self.q_[s, arms]
        best = (q >= q.max()).astype(np.float64)
        return eps / len(arms) + (1.0 - eps) * best / best.sum()

    def _sample(self, s: int, arms: np.ndarray | None = None) -> int:
        arms = np.arange(self.n_actions) if arms is None else arms
        p = self._probs(s, arms, self.exploration_rate)
        i = int(np.searchsorted(np.cumsum(p), self.rng_.random(), side="right"))
        return int(arms[min(i, len(p) - 1)])  # min(): the cumulative sum may end a hair below 1

    def act(self, obs: Any = None, *, explore: bool = True, candidates: Any = None) -> int:
        """Epsilon-greedy action in state ``obs`` (``explore=False``: greedy, ties at random)."""
        s = self._state(obs)
        arms = self._candidates(candidates)
        if not explore:
            q = self.q_[s, arms]
            ties = np.flatnonzero(q >= q.max())
            return int(arms[ties[self.rng_.integers(len(ties))]])
        if self._pending is not None and self._pending[0] == s and candidates is None:
            # SARSA already drew this action for its target: act on it, or the update is off-policy.
            a = self._pending[1]
            self._pending = None
            return a
        self._pending = None
        return self._sample(s, arms)

    def probabilities(self, obs: Any = None, *, candidates: Any = None) -> np.ndarray:
        """Probability of each action in state ``obs`` (zeros outside ``candidates``); sums to 1."""
        s = self._state(obs)
        arms = self._candidates(candidates)
        p = np.zeros(self.n_actions)
        p[arms] = self._probs(s, arms, self.exploration_rate)
        return p

    def greedy_policy(self) -> np.ndarray:
        """The greedy action of every state (lowest index among ties)."""
        return self.q_.argmax(axis=1)

    def act_batch(self, obs_batch: Any, *, explore: bool = True) -> np.ndarray:
        """One action per state in ``obs_batch``, vectorised."""
        states = np.asarray(obs_batch)
        if states.ndim != 1 or not np.issubdtype(states.dtype, np.integer):
            raise ValueError(f"obs_batch must be a 1-d integer array of states, got shape {states.shape}")
        if states.size and (states.min() < 0 or states.max() >= self.n_states):
            raise IndexError(f"states must lie in 0..{self.n_states - 1}")
        q = self.q_[states]
        noise = self.rng_.random(q.shape) * 1e-9  # random tie-breaking among equal Q values
        greedy = np.argmax(q + noise * (q == q.max(axis=1, keepdims=True)), axis=1)
        if not explore:
            return greedy
        explore_mask = self.rng_.random(len(states)) < self.exploration_rate
        return np.where(explore_mask, self.rng_.integers(self.n_actions, size=len(states)), greedy)

    # ------------------------------------------------------------ learning
    def update(
        self,
        action: Any,
        reward: float | None = None,
        obs: Any = None,
        *,
        next_obs: Any = None,
        terminated: bool = False,
        next_action: Any = None,
    ) -> float:
        """Learn from one transition ``(obs, action, reward, next_obs)``; returns the TD error.

        Without ``next_obs`` the step is treated as the last of its episode (the
        target is the reward alone: a contextual-bandit update), which is also how
        a :class:`~recloop.core.types.Feedback` from the server is learned
        (``context`` = state, ``item_id`` = action).
        """
        if isinstance(action, Feedback):
            fb = action
            action, reward, obs = fb.item_id, fb.reward, fb.context
        if reward is None:
            raise TypeError("update(action, reward, obs): reward is missing")
        r = float(reward)
        if not np.isfinite(r):
            raise ValueError(f"reward must be a finite number, got {reward!r}")
        s, a = self._state(obs), self._action(action)
        s_next = None if next_obs is None else self._state(next_obs)
        done = bool(terminated) or s_next is None
        a_next = None
        if not done:
            a_next = self._action(next_action) if next_action is not None else None
            if a_next is None and self._needs_next_action:
                a_next = self._sample(s_next)
                self._pending = (s_next, a_next)
        delta = self._td_update(s, a, r, s_next, done, a_next)
        self.t_ += 1
        if self.planning_steps:
            self.model_next_[s, a] = s if s_next is None else s_next
            self.model_reward_[s, a] = r
            self.model_done_[s, a] = done
            self._plan()
        return delta

    _needs_next_action = False

    def learn(self, env: Any, *, episodes: int | None = None, total_steps: int | None = None,
              seed: int | None = None, progress: bool = False,
              callback: Callable[[EpisodeEnd], Any] | None = None) -> LearningCurve:
        """Run the agent in a Gymnasium env with a ``Discrete`` observation; see :func:`.learning.learn`."""
        return learn(self, env, episodes=episodes, total_steps=total_steps, seed=seed,
                     progress=progress, callback=callback)

    # ------------------------------------------------------------ serving face
    def recommend(self, context: Any, candidates: Sequence[Hashable], k: int = 1) -> Recommendation:
        """Choose among ``candidates`` (action ids) in state ``context``: the sampled choice
        first (its exact propensity logged), then the rest by Q value."""
        ids = check_candidates(candidates, k)
        s = self._state(context)
        arms = np.array([self._action(i) for i in ids], dtype=np.int64)
        return rank(ids, self._probs(s, arms, self.exploration_rate), self.q_[s, arms], k, self.rng_)

    # ------------------------------------------------------------ params, save, load
    def get_params(self) -> dict[str, Any]:
        sig = inspect.signature(type(self).__init__)
        return {name: getattr(self, name) for name in sig.parameters if name != "self"}

    def save(self, path: Any) -> Any:
        params = {k: _schedule_spec(v) for k, v in self.get_params().items()}
        state = {k: v for k, v in self.__dict__.items() if k.endswith("_")}
        return persist.save(path, kind="policy", name=self.registry_name, params=params, state=state)

    @classmethod
    def load(cls, path: Any) -> "TabularAgent":
        meta = persist.load(path)
        klass = lookup("policy", meta["name"])
        if not (isinstance(klass, type) and issubclass(klass, cls)):
            raise TypeError(f"{path} holds a {meta['name']!r} policy, not a {cls.__name__}")
        obj = klass(**meta["params"])
        for key, value in meta["state"].items():
            setattr(obj, key, value)
        return obj

    @classmethod
    def conformance_case(cls, seed: int) -> tuple["TabularAgent", Callable[[np.random.Generator], int]]:
        """A small instance and a function drawing a valid observation (for the conformance kit)."""
        agent = cls(n_states=6, n_actions=3, gamma=0.9, alpha=0.5, epsilon=0.2, seed=seed)
        return agent, lambda rng: int(rng.integers(agent.n_states))

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v is not None)
        return f"{type(self).__name__}({params})"

