"""Ranker replicas as a Ray Serve deployment: many hosts, one PostgreSQL store, one learner.

Each replica is a Ray actor that builds the recloop app exactly as a ``recloop serve
--workers N`` process does (role ranker, its config from ``RECLOOP_SERVE_CONFIG``) and
serves it behind Ray Serve's HTTP proxy, which spreads the requests over the replicas.
Replicas log decisions and rewards to the store and follow the learner's published
model versions like any ranker; the learner stays a plain ``recloop serve --role
learner`` process. Every response names the replica that answered
(``x-recloop-replica``), so a slow or failing one can be found.

Example (not run as a doctest: starting Ray takes seconds)::

    import ray
    from recloop.serve import ServeConfig
    from recloop.serve.ray_serve import deploy_rankers, undeploy_rankers

    ray.init()                                     # or ray.init(address="auto") on a cluster node
    config = ServeConfig.from_env(role="ranker", db="postgresql+psycopg://recloop@db-host/recloop")
    deploy_rankers(config, replicas=4, host="0.0.0.0", port=8000)
    ...
    undeploy_rankers()                             # replicas drain: what they acknowledged is stored
"""

from __future__ import annotations

import os
from typing import Any

from recloop.serve.config import ServeConfig

APP_NAME = "recloop-rankers"
REPLICA_HEADER = "x-recloop-replica"
# Ray Serve admits 5 requests at a time per replica unless told otherwise; a ranker
# gathers the requests in flight into one group commit, so it wants many at once.
MAX_ONGOING_REQUESTS = 256
_KEY_VARIABLES = {"api_key": "RECLOOP_API_KEY", "admin_key": "RECLOOP_ADMIN_KEY",
                  "metrics_key": "RECLOOP_METRICS_KEY"}


def _ray_serve() -> Any:
    try:
        from ray import serve
    except ImportError as err:  # the [ray] extra is optional; Serve needs more than Ray core
        raise ImportError(f"rankers on Ray Serve need Ray Serve: pip install 'recloop[ray]' ({err})") from err
    return serve


def _ray_version() -> str:
    import ray
    return str(ray.__version__)


class _NameReplica:
    """ASGI middleware: every HTTP response carries the replica's name."""

    def __init__(self, app: Any, name: str) -> None:
        self.app = app
        self.header = (REPLICA_HEADER.encode(), name.encode())

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def named(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), self.header]}
            await send(message)

        await self.app(scope, receive, named)


class RankerReplica:
    """One ranker of the deployment. The keys travel only when the deploying process
    has them; otherwise each replica reads them from its node's environment."""

    def __init__(self, config_json: str, keys: dict[str, str]) -> None:
        # A replica is its own process (a Ray actor): this environment is its alone.
        os.environ["RECLOOP_SERVE_CONFIG"] = config_json
        os.environ.update(keys)

    def __serve_build_asgi_app__(self) -> Any:
        from ray import serve

        from recloop.serve.app import create_app_from_env

        app: Any = create_app_from_env()  # the front door is recloop's, not FastAPI's
        # the app's front door answers the hot routes before FastAPI's middleware: name it there
        app.front = _NameReplica(app.front, serve.get_replica_context().replica_id.unique_id)
        return app


def ranker_application(config: ServeConfig, replicas: int, *, cpus_per_replica: float = 1.0,
                       max_ongoing_requests: int = MAX_ONGOING_REQUESTS) -> Any:
    """The Ray Serve application: ``replicas`` rankers built from ``config`` (role ranker)."""
    from recloop.serve.learner import build_policy

    if config.role != "ranker":
        raise ValueError(f"Ray Serve replicas are rankers: the config's role must be ranker, got {config.role!r} "
                         "(the learner is one process: recloop serve --role learner)")
    if isinstance(replicas, bool) or int(replicas) != replicas or replicas < 1:
        raise ValueError(f"replicas must be a positive integer, got {replicas!r}")
    if not cpus_per_replica > 0:
        raise ValueError(f"cpus_per_replica must be > 0, got {cpus_per_replica!r}")
    build_policy(config)  # a bad policy fails here, not in replicas that Serve restarts again and again
    serve = _ray_serve()
    try:
        ingress = serve.ingress()  # the app is built in each replica (__serve_build_asgi_app__)
    except TypeError as err:  # older Ray: ingress(app) takes an app built here, which cannot travel
        raise ImportError(f"rankers on Ray Serve need a newer Ray than {_ray_version()} (one whose "
                          "serve.ingress() takes no app; tested with 2.60): pip install -U 'recloop[ray]'") from err
    keys = {variable: getattr(config, name) for name, variable in _KEY_VARIABLES.items() if getattr(config, name)}
    deployment = serve.deployment(name="ranker", num_replicas=int(replicas),
                                  max_ongoing_requests=max_ongoing_requests,
                                  ray_actor_options={"num_cpus": cpus_per_replica})(ingress(RankerReplica))
    return deployment.bind(config.to_env(), keys)


def deploy_rankers(config: ServeConfig, replicas: int, *, host: str = "127.0.0.1", port: int = 8000,
                   name: str = APP_NAME, **options: Any) -> None:
    """Deploy the rankers on the running Ray (``ray.init`` first) behind Serve's HTTP proxy
    on ``host:port``; returns once every replica serves. ``options``: see
    :func:`ranker_application`. Serve's proxy options are the cluster's: if Serve already
    runs there with another port, that port stays."""
    application = ranker_application(config, replicas, **options)
    serve = _ray_serve()
    serve.start(http_options={"host": host, "port": port})
    serve.run(application, name=name, route_prefix="/")


def undeploy_rankers(name: str = APP_NAME) -> None:
    """Remove the rankers; each drains (its pending writes are committed) as it stops."""
    _ray_serve().delete(name)
