"""Azure Personalizer's API on recloop: its official client works unchanged.

``install(app, config, keys)`` adds the ``/personalizer/...`` routes
(:mod:`~recloop.serve.personalizer.routes`) to a recloop app and returns the
:class:`~recloop.serve.personalizer.loop.PersonalizerLoop` the app's lifespan starts
and stops. Pieces: :mod:`.model` (the shared linear contextual bandit over the
shared featuriser), :mod:`.store` (recloop's store plus Personalizer's tables),
:mod:`.loop` (modes, reward window, deferred activation, model management),
:mod:`.tasks` (start, stop and background work per role), :mod:`.scaleout` (rankers'
writes and the learner's inbox), :mod:`.evaluations` (offline evaluations with
recloop.ope), :mod:`.schemas`.
See docs/personalizer.md.
"""

from __future__ import annotations

from typing import Any


def install(app: Any, config: Any, keys: Any) -> Any:
    """Mount the Personalizer routes on ``app``; returns the loop to start and stop."""
    from recloop.serve.personalizer.loop import PersonalizerLoop, Refused
    from recloop.serve.personalizer.routes import build_router, hot_route_for, refused_handler

    loop = PersonalizerLoop(config)
    loop.hot_route = hot_route_for(loop, keys)  # rank and reward, answered by the Guard as /v1's are
    app.include_router(build_router(loop, keys))
    app.add_exception_handler(Refused, refused_handler)
    return loop
