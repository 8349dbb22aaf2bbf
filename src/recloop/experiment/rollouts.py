"""Parallel rollouts: environment workers (Ray actors) collect episodes for a central learner.

The learner holds the policy. Each round it hands a snapshot to the workers
(one ``ray.put``, shared by all of them), each worker plays its share of the
round's episodes with the snapshot's ``act()`` and sends back flat numpy
arrays, and the learner updates on the whole batch. This is the actor/learner
split of IMPALA (Espeholt et al. 2018) without off-policy lag: every episode of
a round comes from the same snapshot.

Any environment works: a name registered under kind ``"env"`` (with params),
an ``EnvSpec``, or a zero-argument factory. A natively vectorised env
(``gymnasium.vector.VectorEnv``) plays ``num_envs`` episodes at once per worker
and acts through ``policy.act_batch`` when the policy has it.

Episode ``i`` is defined by ``seeds[i]``: the env is reset with it, and the
policy snapshot is reseeded from it (``policy.reseed(seed)`` if the policy has
one, else a fresh ``rng_``), so the data do not depend on how many workers
there are or which one played which episode. ``n_workers=0`` runs the same
loop in this process.

Example:
    >>> from recloop.agents.bandits import LinUCB
    >>> with RolloutWorkers({"name": "contextual", "params": {"n_arms": 5, "n_features": 4, "horizon": 20}},
    ...                     n_workers=0, info_keys=("expected_reward",)) as workers:
    ...     batch = workers.collect(LinUCB(n_arms=5, n_features=4, alpha=1.0, seed=0), seeds=[1, 2, 3])
    >>> batch.n_episodes, batch.obs.shape, batch.info["expected_reward"].shape
    (3, (60, 4), (60,))
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from recloop.core.registry import make
from recloop.core.seeding import derive, generator, spawn_seeds

EnvFactory = Any  # a registered env name, {"name", "params"}, an EnvSpec, or a zero-argument callable


@dataclass(frozen=True, slots=True)
class Rollout:
    """Transitions of many episodes, flat over steps, in episode order.

    ``episode[j]`` is the position (in the ``seeds`` list) of the episode step
    ``j`` belongs to; ``info`` holds the requested ``info`` keys per step.
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    episode: np.ndarray
    info: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_steps(self) -> int:
        return len(self.rewards)

    @property
    def n_episodes(self) -> int:
        return len(np.unique(self.episode))

    def episode_returns(self) -> np.ndarray:
        """Undiscounted return of each episode, in episode order."""
        ids, inverse = np.unique(self.episode, return_inverse=True)
        return np.bincount(inverse, weights=self.rewards, minlength=len(ids))

    @classmethod
    def concat(cls, parts: Sequence["Rollout"]) -> "Rollout":
        parts = [p for p in parts if p.n_steps]
        if not parts:
            raise ValueError("no steps to concatenate")
        keys = parts[0].info.keys()
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                     ("obs", "actions", "rewards", "next_obs", "terminated", "truncated", "episode")),
                   info={k: np.concatenate([p.info[k] for p in parts]) for k in keys})


def make_env(env: EnvFactory) -> Any:
    """Build an environment from a registered name, a ``{"name", "params"}`` mapping, an EnvSpec or a factory."""
    from recloop.experiment.config import EnvSpec

    if isinstance(env, str):
        return make("env", env)
    if isinstance(env, dict):
        if "name" not in env or set(env) - {"name", "params"}:
            raise ValueError(f"an env mapping has 'name' and optional 'params', got keys {sorted(env)}")
        return make("env", env["name"], **env.get("params", {}))
    if isinstance(env, EnvSpec):
        return make("env", env.name, **env.params)
    if callable(env):
        return env()
    raise TypeError(f"env must be a registered name, an EnvSpec, a {{name, params}} mapping or a factory, "
                    f"got {type(env).__name__}")


def reseed(policy: Any, seed: int) -> None:
    """Give the policy the randomness of episode ``seed`` (its own stream, not the env's)."""
    if hasattr(policy, "reseed"):
        policy.reseed(derive(seed, "policy"))
    elif isinstance(getattr(policy, "rng_", None), np.random.Generator):
        policy.rng_ = generator(seed, "policy")


class EnvWorker:
    """One environment (or one vectorised batch of them) that plays episodes with a given policy.

    Plain Python: the same class runs in this process and, wrapped by Ray, as an actor.
    """

    def __init__(self, env: EnvFactory, *, info_keys: Sequence[str] = (), max_steps: int | None = None):
        import gymnasium as gym

        if max_steps is not None and max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 (or None: play to the end), got {max_steps}")
        self.env = make_env(env)
        self.info_keys = tuple(info_keys)
        self.max_steps = max_steps
        self.vectorised = isinstance(self.env, gym.vector.VectorEnv)
        self.group = int(self.env.num_envs) if self.vectorised else 1

    def group_size(self) -> int:
        """Episodes played at once (``num_envs`` of a vectorised env, else 1)."""
        return self.group

    def collect(self, policy: Any, seeds: Sequence[int], first: int = 0, explore: bool = True) -> Rollout:
        """Play one episode per seed; episode ids start at ``first``."""
        if callable(policy) and not hasattr(policy, "act"):  # a factory: build this worker's own
            policy = policy()
        parts = []
        for start in range(0, len(seeds), self.group):
            chunk = [int(s) for s in seeds[start:start + self.group]]
            play = self._play_vector if self.vectorised else self._play
            parts.append(play(policy, chunk, first + start, explore))
        return Rollout.concat(parts)

    def _act(self, policy: Any, obs: Any, info: dict, explore: bool) -> Any:
        if "candidates" in info:  # catalogue worlds say which items are eligible this round
            return policy.act(obs, explore=explore, candidates=info["candidates"])
        return policy.act(obs, explore=explore)

    def _play(self, policy: Any, seeds: list[int], episode: int, explore: bool) -> Rollout:
        reseed(policy, seeds[0])
        obs, info = self.env.reset(seed=seeds[0])
        steps: list[tuple] = []
        infos: dict[str, list] = {k: [] for k in self.info_keys}
        done = False
        while not done and (self.max_steps is None or len(steps) < self.max_steps):
            action = self._act(policy, obs, info, explore)
            next_obs, reward, terminated, truncated, info = self.env.step(action)
            steps.append((obs, action, reward, next_obs, terminated, truncated))
            for k in self.info_keys:
                infos[k].append(info.get(k, np.nan))
            obs, done = next_obs, terminated or truncated
        cols = list(zip(*steps))
        return Rollout(np.asarray(cols[0]), np.asarray(cols[1]), np.asarray(cols[2], dtype=np.float64),
                       np.asarray(cols[3]), np.asarray(cols[4], dtype=bool), np.asarray(cols[5], dtype=bool),
                       np.full(len(steps), episode, dtype=np.int64), {k: np.asarray(v) for k, v in infos.items()})

    def _play_vector(self, policy: Any, seeds: list[int], episode: int, explore: bool) -> Rollout:
        n = self.group
        active = np.arange(n) < len(seeds)  # a short last group pads with envs whose steps are dropped
        reset_seeds = seeds + [seeds[-1] + 1 + k for k in range(n - len(seeds))]
        reseed(policy, seeds[0])
        obs, info = self.env.reset(seed=reset_seeds)
        rows: dict[str, list] = {k: [] for k in ("obs", "actions", "rewards", "next_obs", "terminated",
                                                  "truncated", "episode", *self.info_keys)}
        t = 0
        while active.any() and (self.max_steps is None or t < self.max_steps):
            if explore and hasattr(policy, "act_batch"):
                actions = np.asarray(policy.act_batch(obs))
            else:
                actions = np.asarray([policy.act(o, explore=explore) for o in obs])
            next_obs, reward, terminated, truncated, info = self.env.step(actions)
            idx = np.flatnonzero(active)
            for name, arr in (("obs", obs), ("actions", actions), ("rewards", reward), ("next_obs", next_obs),
                              ("terminated", terminated), ("truncated", truncated)):
                rows[name].append(np.asarray(arr)[idx])
            rows["episode"].append(episode + idx)
            for k in self.info_keys:
                rows[k].append(np.asarray(info[k])[idx] if k in info else np.full(len(idx), np.nan))
            active &= ~(np.asarray(terminated) | np.asarray(truncated))
            obs, t = next_obs, t + 1
        flat = {k: np.concatenate(v) for k, v in rows.items()}
        order = np.argsort(flat["episode"], kind="stable")  # episode-major, like the single-env loop
        return Rollout(flat["obs"][order], flat["actions"][order], flat["rewards"][order].astype(np.float64),
                       flat["next_obs"][order], flat["terminated"][order].astype(bool),
                       flat["truncated"][order].astype(bool), flat["episode"][order].astype(np.int64),
                       {k: flat[k][order] for k in self.info_keys})


class RolloutWorkers:
    """``n_workers`` environment workers as Ray actors (``n_workers=0``: one worker in this process).

    Use as a context manager (or call :meth:`close`): actors are released, and a
    Ray session started here is shut down. ``address`` joins a cluster. Each
    actor holds ``cpus_per_worker`` of Ray's CPUs for its lifetime, so worker
    pools that live side by side must fit in the cluster together.
    """

    def __init__(self, env: EnvFactory, n_workers: int = 2, *, info_keys: Sequence[str] = (),
                 max_steps: int | None = None, address: str | None = None, num_cpus: int | None = None,
                 cpus_per_worker: float = 1.0, start_timeout: float = 300.0):
        if int(n_workers) != n_workers or n_workers < 0:
            raise ValueError(f"n_workers must be a non-negative integer, got {n_workers!r}")
        self.n_workers = int(n_workers)
        self._started = False
        self._actors: list[Any] = []
        self._local: EnvWorker | None = None
        if self.n_workers == 0:
            self._local = EnvWorker(env, info_keys=info_keys, max_steps=max_steps)
            self.group = self._local.group
            return
        from recloop.experiment.ray_backend import init_ray, require_ray

        self._started = init_ray(address, num_cpus=num_cpus)
        ray = require_ray()
        # A crashed actor is restarted and its chunk replayed: the chunk is a pure
        # function of (policy snapshot, seeds), so the retry returns the same data.
        actor = ray.remote(num_cpus=cpus_per_worker, max_restarts=1, max_task_retries=1)(EnvWorker)
        self._actors = [actor.remote(env, info_keys=info_keys, max_steps=max_steps) for _ in range(self.n_workers)]
        try:  # an actor that finds no free CPU waits forever: say so instead
            self.group = ray.get([a.group_size.remote() for a in self._actors], timeout=start_timeout)[0]
        except ray.exceptions.GetTimeoutError:
            self.close()
            raise RuntimeError(f"{n_workers} rollout workers asking {cpus_per_worker} CPU each did not start within "
                               f"{start_timeout:.0f} s; free CPUs now: {ray.available_resources().get('CPU', 0)}. "
                               "Use fewer workers or a smaller cpus_per_worker.") from None

    def collect(self, policy: Any, seeds: Sequence[int], *, explore: bool = True) -> Rollout:
        """One episode per seed, split across the workers; arrays in seed order.

        ``policy`` is a policy object (each worker plays a copy; the caller's is
        not touched) or a zero-argument factory that each worker calls."""
        seeds = [int(s) for s in seeds]
        if not seeds:
            raise ValueError("collect needs at least one seed")
        if self._local is not None:
            snapshot = policy if callable(policy) and not hasattr(policy, "act") else copy.deepcopy(policy)
            return self._local.collect(snapshot, seeds, 0, explore)
        from recloop.experiment.ray_backend import require_ray

        ray = require_ray()
        ref = ray.put(policy)
        # contiguous chunks, whole vector groups each, so a worker's envs stay full
        groups = -(-len(seeds) // self.group)
        bounds = [min(len(seeds), self.group * (groups * k // self.n_workers)) for k in range(self.n_workers + 1)]
        futures = [a.collect.remote(ref, seeds[lo:hi], lo, explore)
                   for a, lo, hi in zip(self._actors, bounds, bounds[1:]) if hi > lo]
        try:
            return Rollout.concat(ray.get(futures))
        except ray.exceptions.RayError as err:
            raise RuntimeError(f"a rollout worker failed: {type(err).__name__}: {err}") from err

    def close(self) -> None:
        if self._actors:
            from recloop.experiment.ray_backend import require_ray

            ray = require_ray()
            for a in self._actors:
                ray.kill(a)
            self._actors = []
            if self._started:
                ray.shutdown()
                self._started = False

    def __enter__(self) -> "RolloutWorkers":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def learn_in_rounds(policy: Any, workers: RolloutWorkers, *, rounds: int, episodes: int, seed: int = 0,
                    update: Callable[[Any, Rollout], None] | None = None,
                    on_round: Callable[[int, Rollout], None] | None = None) -> list[Rollout]:
    """The central learner: each round the workers play ``episodes`` episodes with the
    current policy, then ``update(policy, batch)`` learns from them (default:
    ``policy.update_batch(actions, rewards, obs)``, a batched bandit update).
    Episode seeds come from ``seed``; returns each round's batch."""
    if rounds < 1 or episodes < 1:
        raise ValueError(f"rounds and episodes must be >= 1, got {rounds} and {episodes}")
    learn = update or (lambda p, b: p.update_batch(b.actions, b.rewards, b.obs))
    all_seeds = spawn_seeds(seed, rounds * episodes)
    batches = []
    for r in range(rounds):
        batch = workers.collect(policy, all_seeds[r * episodes:(r + 1) * episodes])
        learn(policy, batch)
        if on_round:
            on_round(r, batch)
        batches.append(batch)
    return batches
