"""Serving: the live learning loop as an HTTP service (extra ``[serve]``).

``create_app(ServeConfig(...))`` builds the FastAPI app; ``recloop serve`` runs it.
Pieces: :mod:`~recloop.serve.store` (decisions, rewards, snapshots in SQL),
:mod:`~recloop.serve.writer` (group commit), :mod:`~recloop.serve.learner` (online
learning, snapshots, recovery), :mod:`~recloop.serve.app` (routes),
:mod:`~recloop.apps.traffic` (simulated users against a live service).
"""

from recloop.serve.config import ServeConfig

__all__ = ["ServeConfig", "create_app"]


def __getattr__(name: str):
    if name == "create_app":  # FastAPI is imported only when an app is built
        from recloop.serve.app import create_app
        return create_app
    raise AttributeError(name)
