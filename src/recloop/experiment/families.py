"""Which loop a policy runs in, and the loops beyond bandits: what lets ``recloop run`` take
every family ``recloop list`` shows.

=========  ===========================================  =========================================
family     policies                                     world and ``horizon``
=========  ===========================================  =========================================
bandit     ``recloop list policy`` bandits              a bandit world; ``horizon`` rounds; exact
                                                        regret from ``info`` (see below)
tabular    q-learning, sarsa, expected-sarsa            Discrete observations and actions (maze,
                                                        session-reco, trading); ``horizon`` steps
deep       ``recloop list agent`` (dqn, ppo, ...)       any recloop env or Gymnasium id
                                                        (CartPole-v1); ``horizon`` steps
slate      slateq, myopic-slate, full-slate-dqn,        interest-evolution, long-term-satisfaction
           random-slate, popularity-slate               (``num_envs`` users at once); ``horizon``
                                                        user-steps
=========  ===========================================  =========================================

A bandit world's ``step()`` must put two numbers in ``info`` (:data:`BANDIT_INFO`):
``expected_reward``, the expected reward of the arm just played, and ``optimal_reward``, the
best arm's expected reward that round; regret is exact only because the simulator knows them.
It may also give ``info["candidates"]`` (the arms allowed next round).

Episodic families record, every ``record_every`` steps: the completed episodes, the mean return
of the last :data:`RECENT` of them (``episode_return``) and the reward collected in completed
episodes (``cum_reward``).
"""

from __future__ import annotations

import inspect
import sys
from typing import Any, Callable

import numpy as np

from recloop.core import registry
from recloop.core.registry import lookup

FAMILIES = ("bandit", "tabular", "deep", "slate")
BANDIT_INFO = {"expected_reward": "the expected reward of the arm just played",
               "optimal_reward": "the best arm's expected reward this round"}
SLATE_ENVS = ("interest-evolution", "long-term-satisfaction")
RECENT = 10
DOCS = "docs/experiments.md (Custom worlds and policies)"


def policy_family(name: str) -> tuple[str, str]:
    """``(family, registry kind)`` of a policy name, without importing a torch-backed one.

    >>> policy_family("ucb1"), policy_family("q-learning"), policy_family("slateq"), policy_family("dqn")
    (('bandit', 'policy'), ('tabular', 'policy'), ('slate', 'policy'), ('deep', 'agent'))
    """
    try:
        where = registry.target("policy", name)
    except KeyError as err:
        try:
            registry.target("agent", name)
        except KeyError:
            raise err from None
        return "deep", "agent"
    if where.startswith("recloop.agents.slate"):
        return "slate", "policy"
    factory = registry.lookup("policy", name)
    from recloop.agents.tabular.base import TabularAgent

    if inspect.isclass(factory) and issubclass(factory, TabularAgent):
        return "tabular", "policy"
    slate_base = sys.modules.get("recloop.agents.slate.base")  # a plugin's own slate policy
    if slate_base is not None and inspect.isclass(factory) and issubclass(factory, slate_base.SlatePolicy):
        return "slate", "policy"
    return "bandit", "policy"


def resolve_policy(name: str) -> tuple[str, Callable[..., Any]]:
    """``(family, factory)`` of a policy name: bandit/tabular policies, deep agents or slate policies."""
    family, kind = policy_family(name)
    return family, registry.lookup(kind, name)


def check_hyperparameters(name: str, params: dict[str, Any]) -> None:
    """A TypeError naming a misspelt hyper-parameter, its closest spelling and all the policy takes."""
    family, kind = policy_family(name)
    registry.check_params(kind, name, params, hidden=FILLED[family])


def build_env(name: str, params: dict[str, Any], **defaults: Any) -> Any:
    """A recloop env by name; ``defaults`` (``horizon``) fill only what the constructor takes."""
    return registry.build("env", name, params, **defaults)


def env_factory(name: str, params: dict[str, Any]) -> str | Callable[[], Any]:
    """For deep agents: a recloop env name, else a Gymnasium id / minatar-GAME / ale-breakout."""
    try:
        lookup("env", name)
    except KeyError:
        if not params:
            return name  # the agents' own make_env knows the Gymnasium and Atari names
        import gymnasium as gym

        return lambda: gym.make(name, **params)
    return lambda: build_env(name, params)


def is_gym_id(name: str) -> bool:
    import gymnasium as gym

    key = name.lower()
    return name in gym.registry or key.startswith("minatar-") or key in ("ale-breakout", "breakout")


def episodic_columns(ends: list[tuple[int, float]], horizon: int, every: int) -> dict[str, np.ndarray]:
    """The recorded table of an episodic run from its ``(step the episode ended, return)`` list.

    >>> cols = episodic_columns([(3, 1.0), (5, 0.0), (9, 2.0)], horizon=10, every=5)
    >>> cols["step"].tolist(), cols["episodes"].tolist(), cols["episode_return"].tolist()
    ([5, 10], [2.0, 3.0], [0.5, 1.0])
    """
    idx = np.unique(np.r_[np.arange(every - 1, horizon, every), horizon - 1])
    steps = idx + 1
    end = np.array([s for s, _ in ends], dtype=np.int64)
    ret = np.array([r for _, r in ends], dtype=np.float64)
    done = np.searchsorted(end, steps, side="right")  # episodes completed by each recorded step
    cum = np.r_[0.0, np.cumsum(ret)]
    recent = np.array([ret[max(0, n - RECENT):n].mean() if n else np.nan for n in done])
    return {"step": steps, "episodes": done.astype(np.float64), "episode_return": recent, "cum_reward": cum[done]}


def train_episodic(family: str, factory: Callable[..., Any], spec: Any, env: Any, horizon: int, seed: int,
                   policy_seed: int) -> tuple[Any, list[tuple[int, float]]]:
    """Build and train one tabular / deep / slate policy; returns it and its episode ends."""
    params = dict(spec.params)
    ends: list[tuple[int, float]] = []
    if family == "tabular":
        from recloop.agents.tabular.learning import learn

        obs_n, act_n = getattr(env.observation_space, "n", None), getattr(env.action_space, "n", None)
        if obs_n is None or act_n is None:
            raise ValueError(f"tabular policy {spec.name!r} needs Discrete observations and actions; the env has "
                             f"observations {env.observation_space} and actions {env.action_space}")
        params.setdefault("seed", policy_seed)
        agent = factory(int(obs_n), int(act_n), **params)
        learn(agent, env, total_steps=horizon, seed=seed,
              callback=lambda e: ends.append((int(e.step), float(e.episode_return))))
        return agent, ends
    if family == "deep":
        from recloop.agents.deep import EpisodeEnd
        from recloop.agents.deep.callbacks import Callback

        class Ends(Callback):
            def on_event(self, event: Any) -> None:
                if isinstance(event, EpisodeEnd):
                    ends.append((int(event.step), float(event.episode_return)))

        params.setdefault("seed", policy_seed)
        agent = factory(**params)
        agent.learn(env, horizon, callbacks=[Ends()], seed=seed)
        return agent, sorted(ends)
    if family == "slate":
        from recloop.agents.slate.training import train

        params.setdefault("seed", policy_seed)
        if hasattr(factory, "for_env"):
            agent = factory.for_env(env, **params)
        else:
            agent = factory(env.num_candidates, env.slate_size, **params)
        history = train(agent, env, horizon, seed=seed)
        return agent, list(zip(history["charts/step"], history["charts/episode_return"]))
    raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")


def make_world(family: str, env_spec: Any, horizon: int) -> Any:
    """The env a family's loop steps (deep agents get a factory, slate policies a batch of users)."""
    params = dict(env_spec.params)
    if family == "bandit":
        return build_env(env_spec.name, params, horizon=horizon)
    if family == "deep":
        return env_factory(env_spec.name, params)
    if family == "slate":
        if lookup("env", env_spec.name).registry_name not in SLATE_ENVS:
            raise ValueError(f"slate policies run on {' or '.join(SLATE_ENVS)}, not env {env_spec.name!r}")
        params.setdefault("num_envs", 16)
        return build_env(env_spec.name, params)
    return build_env(env_spec.name, params)


def missing_bandit_info(info: dict) -> list[str]:
    return [k for k in BANDIT_INFO if k not in info]


def bandit_info_error(env_name: str, env: Any, missing: list[str]) -> str:
    what = "; ".join(f"{k}: {v}" for k, v in BANDIT_INFO.items())
    return (f"env {env_name!r} ({type(env).__name__}) gives no {', '.join(repr(k) for k in missing)} in the info "
            f"of step(). A bandit world must report, every round, {what} (regret is measured exactly, not "
            f"guessed); see {DOCS}")


FILLED = {"bandit": ("n_arms", "n_features", "seed"), "tabular": ("n_states", "n_actions", "seed"),
          "deep": ("seed",), "slate": ("num_candidates", "slate_size", "user_dim", "doc_dim", "seed")}


def preflight(cfg: Any) -> None:
    """Refuse, before anything runs or is written, a config the loops cannot run; ValueError says why.

    Checks each policy's family and hyper-parameters, that the families do not mix bandit
    rounds with episodes, and that the world fits: a bandit world reports :data:`BANDIT_INFO`
    (one round is played to see), tabular worlds are Discrete, slate policies get a slate world.
    """
    families = {}
    for spec in cfg.policies:
        families[spec.label] = policy_family(spec.name)[0]
        check_hyperparameters(spec.name, spec.params)
    kinds = {"bandit" if f == "bandit" else "episodic" for f in families.values()}
    if len(kinds) > 1:
        bandits = [k for k, f in families.items() if f == "bandit"]
        others = [f"{k} ({f})" for k, f in families.items() if f != "bandit"]
        raise ValueError(f"policies mix bandit rounds ({', '.join(bandits)}) with episodes ({', '.join(others)}); "
                         "run them as two experiments")
    try:
        lookup("env", cfg.env.name)
    except KeyError:
        not_deep = [k for k, f in families.items() if f != "deep"]
        if not_deep:
            raise ValueError(f"env {cfg.env.name!r} is a Gymnasium id, not a recloop env: only deep agents "
                             f"(recloop list agent) run on it, not {', '.join(not_deep)}") from None
        return
    for label, family in families.items():
        if family == "slate" and lookup("env", cfg.env.name).registry_name not in SLATE_ENVS:
            raise ValueError(f"policy {label!r} is a slate policy: it runs on {' or '.join(SLATE_ENVS)}, "
                             f"not env {cfg.env.name!r}")
        if family != "slate" and lookup("env", cfg.env.name).registry_name in SLATE_ENVS:
            raise ValueError(f"env {cfg.env.name!r} shows slates: use a slate policy (slateq, myopic-slate, "
                             f"full-slate-dqn, random-slate, popularity-slate), not {label!r} ({family})")
    if "bandit" in families.values():
        _bandit_round(cfg)
    elif "tabular" in families.values():
        env = build_env(cfg.env.name, dict(cfg.env.params))
        if getattr(env.observation_space, "n", None) is None or getattr(env.action_space, "n", None) is None:
            tab = [k for k, f in families.items() if f == "tabular"]
            raise ValueError(f"tabular policies ({', '.join(tab)}) need Discrete observations and actions; env "
                             f"{cfg.env.name!r} has observations {env.observation_space} and actions {env.action_space}")


def _bandit_round(cfg: Any) -> None:
    """Play one round of the first policy to see the world report what regret needs."""
    from recloop.experiment.runner import build_policy

    env = build_env(cfg.env.name, dict(cfg.env.params), horizon=cfg.horizon)
    obs, info = env.reset(seed=cfg.seeds[0])
    policy = build_policy(cfg.policies[0], env, cfg.seeds[0])
    action = policy.act(obs, candidates=info.get("candidates"))
    _, _, _, _, info = env.step(action)
    missing = missing_bandit_info(info)
    if missing:
        raise ValueError(bandit_info_error(cfg.env.name, env, missing))
