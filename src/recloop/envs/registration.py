"""Every recloop environment in Gymnasium's registry, under the ``recloop/`` namespace.

``import recloop`` registers them (at once if gymnasium is loaded, else as soon as it is), so
other libraries find the worlds by id:

    >>> import gymnasium as gym
    >>> import recloop
    >>> env = gym.make("recloop/maze-v0", map="cliff")
    >>> env.unwrapped.width, env.action_space
    (12, Discrete(4))

The ids are the names of ``recloop list env`` with ``-v0``; keyword arguments go to the
same constructors as in a config. Entry points are strings, so registering imports no
environment module. The slate simulators also have a vector entry point:
``gym.make_vec("recloop/interest-evolution-v0", num_envs=64, vectorization_mode="vector_entry_point")``
builds the natively vectorised batch, not copies of the single-user env.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

NAMESPACE = "recloop"
VERSION = 0

# name -> (entry point, default kwargs, vector entry point or None)
ENVS: dict[str, tuple[str, dict, str | None]] = {
    "bernoulli": ("recloop.envs.bandits:BernoulliBandit", {"n_arms": 10}, None),
    "gaussian": ("recloop.envs.bandits:GaussianBandit", {"n_arms": 10}, None),
    "drifting": ("recloop.envs.bandits:DriftingBandit", {}, None),
    "contextual": ("recloop.envs.bandits:ContextualBandit", {}, None),
    "maze": ("recloop.envs.gridworld:Maze", {}, None),
    "trading": ("recloop.envs.trading:TradingEnv", {}, None),
    "session-reco": ("recloop.envs.tabular_reco:SessionRecommender", {}, None),
    "interest-evolution": ("recloop.envs.slate.interest_evolution:InterestEvolution", {},
                           "recloop.envs.slate.interest_evolution:InterestEvolutionVectorEnv"),
    "long-term-satisfaction": ("recloop.envs.slate.long_term_satisfaction:LongTermSatisfaction", {},
                               "recloop.envs.slate.long_term_satisfaction:LongTermSatisfactionVectorEnv"),
    # MovieLens worlds read the data set (set up by `make data`, or path=... a GroupLens folder)
    "movielens-frame": ("recloop.envs.movielens:movielens_frame_env", {}, None),
    "movielens-seq": ("recloop.envs.movielens:movielens_seq_env", {}, None),
    "movielens-sim": ("recloop.envs.movielens:movielens_simulator", {}, None),
}


def env_id(name: str) -> str:
    """``maze`` -> ``recloop/maze-v0``."""
    return f"{NAMESPACE}/{name}-v{VERSION}"


def register_envs() -> list[str]:
    """Register every environment of :data:`ENVS` (idempotent); returns their ids."""
    import gymnasium as gym

    ids = []
    for name, (entry, kwargs, vector_entry) in ENVS.items():
        eid = env_id(name)
        if eid not in gym.registry:
            gym.register(id=eid, entry_point=entry, kwargs=dict(kwargs), vector_entry_point=vector_entry)
        ids.append(eid)
    return ids


class RegisterOnImport(importlib.abc.MetaPathFinder):
    """Registers the ids right after ``gymnasium`` finishes importing, then steps aside.

    ``import recloop`` installs it when gymnasium is not loaded yet, so importing recloop
    (and starting the CLI) does not pay for importing gymnasium.
    """

    def find_spec(self, fullname, path, target=None):  # noqa: ANN001 - the importlib protocol
        if fullname != "gymnasium":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        loader = spec.loader
        run = loader.exec_module

        def exec_module(module):  # noqa: ANN001
            run(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            register_envs()

        # method-assign: a loader method replaced on purpose; unused-ignore: whether mypy flags this
        # line changed with the set of modules it checks (it did when serve/personalizer joined)
        loader.exec_module = exec_module  # type: ignore[method-assign, unused-ignore]
        return spec
