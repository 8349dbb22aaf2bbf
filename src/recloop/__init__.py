"""recloop: recommendation as the sequential decision problem it is.

Simulate users, learn policies, evaluate them offline, serve them online.
"""

from recloop._version import __version__

__all__ = ["__version__"]


def _register_gymnasium_envs() -> None:
    """``gym.make("recloop/maze-v0")`` after ``import recloop``, in either import order.

    Importing gymnasium costs about as much as the whole CLI start, so when it is not loaded
    yet the ids are registered the moment it is (a one-shot import hook), not here.
    """
    import sys

    if "gymnasium.envs.registration" in sys.modules:
        from recloop.envs.registration import register_envs

        register_envs()
        return
    from recloop.envs.registration import RegisterOnImport

    if not any(isinstance(f, RegisterOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, RegisterOnImport())


_register_gymnasium_envs()
