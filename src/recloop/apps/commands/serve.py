"""CLI: ``recloop serve`` (the service) and ``recloop traffic`` (simulated users against it)."""

from __future__ import annotations

from typing import Any, Optional

import typer

from recloop.apps.console import fail


def _params(pairs: list[str]) -> dict:
    """``alpha=0.5`` -> ``{"alpha": 0.5}`` (values parsed as JSON when they are JSON)."""
    from recloop.core.config import ConfigError, parse_params

    try:
        return parse_params(pairs)
    except ConfigError as err:
        raise typer.BadParameter(str(err), param_hint="--param") from None


def _check_ray_options(role: str, workers: int, ray_replicas: int, ray_address: str | None) -> None:
    if ray_replicas < 0:
        raise ValueError(f"--ray-replicas must be >= 0, got {ray_replicas}")
    if ray_address and not ray_replicas:
        raise ValueError("--ray-address needs --ray-replicas N (the rankers it deploys)")
    if ray_replicas and role != "ranker":
        raise ValueError("--ray-replicas runs rankers: use it with --role ranker "
                         "(the learner is one process: --role learner)")
    if ray_replicas and workers > 1:
        raise ValueError("choose --workers or --ray-replicas: ranker processes on this host, or on Ray")


def _serve_on_ray(console: Any, config: Any, replicas: int, address: str | None, host: str, port: int) -> None:
    """``--ray-replicas N``: the rankers as a Ray Serve deployment, until Ctrl-C or SIGTERM removes them."""
    import signal
    import time

    from recloop.experiment import ray_backend
    from recloop.serve import ray_serve

    try:
        started = ray_backend.init_ray(address)
    except (ImportError, ConnectionError) as err:
        fail(console, err)

    def stop(*_: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)  # a service manager's stop drains the replicas like Ctrl-C
    error: Exception | None = None
    try:
        ray_serve.deploy_rankers(config, replicas, host=host, port=port)
        console.print(f"recloop: {replicas} {config.policy} rankers on Ray Serve at http://{host}:{port} "
                      f"(Ray: {address or 'local'}); Ctrl-C or SIGTERM removes them")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    except Exception as err:  # noqa: BLE001 - reported below, once the replicas are removed
        error = err
    try:
        if not isinstance(error, (ImportError, KeyError, TypeError, ValueError)):  # those deploy nothing
            ray_serve.undeploy_rankers()  # each replica drains: what it acknowledged is stored
    finally:
        signal.signal(signal.SIGTERM, previous)
        if started:
            import ray
            ray.shutdown()
    if error is not None:
        fail(console, f"the rankers did not deploy on Ray Serve: {error}", 1)


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        role: str = typer.Option("all", help="all: one process ranks, logs and learns. ranker: rank and log "
                                             "(many processes and hosts on one PostgreSQL store). learner: the "
                                             "one process that orders and learns what rankers logged"),
        workers: int = typer.Option(1, help="ranker processes on this host, sharing the port (--role ranker)"),
        ray_replicas: int = typer.Option(0, help="ranker replicas as a Ray Serve deployment behind Serve's HTTP "
                                                 "proxy on --host/--port (--role ranker; docs/serve.md)"),
        ray_address: Optional[str] = typer.Option(None, help="with --ray-replicas: the Ray cluster to join (auto: "
                                                             "the one this node is in); default: a local Ray"),
        model_refresh: float = typer.Option(1.0, help="rankers: seconds between looks for a newer published model"),
        policy: str = typer.Option("linucb", help="policy name (linucb, lints, thompson, epsilon-greedy, ...) "
                                                  "or a saved policy .npz"),
        param: list[str] = typer.Option([], "--param", "-p", help="policy hyper-parameter name=value (repeat)"),
        n_features: int = typer.Option(16, help="context length for contextual policies"),
        context_features: str = typer.Option("vector", help="vector: contexts are lists of numbers (or flat "
                                                            "objects of numbers, ordered by name). hashed: contexts "
                                                            "may be JSON objects of named features (nested, text, "
                                                            "lists), hashed into --n-features numbers"),
        exploration: float = typer.Option(0.05, help="exploration floor: every candidate keeps probability >= "
                                                     "exploration / K, so the logs can evaluate other policies "
                                                     "offline (0: off; a deterministic policy then logs propensity 1)"),
        db: str = typer.Option("sqlite:///recloop.db", help="store URL: sqlite:///file.db or "
                                                             "postgresql+psycopg://user@host/db"),
        db_schema: Optional[str] = typer.Option(None, help="PostgreSQL schema for the tables"),
        host: str = typer.Option("127.0.0.1", help="interface to listen on"),
        port: int = typer.Option(8000, help="TCP port"),
        start_version: Optional[int] = typer.Option(None, help="serve this snapshot (plus every reward after "
                                                                "its watermark) instead of the newest"),
        lease: float = typer.Option(10.0, help="seconds of the learner lease; a service that stops renewing it is "
                                               "taken over after this"),
        max_learning_lag: float = typer.Option(30.0, help="/readyz fails when a reward waits longer to be learned"),
        snapshot_every: float = typer.Option(60.0, help="seconds between automatic snapshots (0: off)"),
        keep_snapshots: int = typer.Option(100, help="snapshots whose saved policy stays in the store, newest "
                                                     "first (0: all)"),
        reward_wait: float = typer.Option(600.0, help="seconds to wait for a reward before the default applies"),
        default_reward: Optional[float] = typer.Option(0.0, help="reward joined to events with none in time"),
        max_body: int = typer.Option(256 * 1024, help="largest request body in bytes"),
        cors_origin: list[str] = typer.Option([], help="allow browser calls from this origin (repeat); "
                                                       "CORS is off by default"),
        sqlite_synchronous: str = typer.Option("FULL", help="SQLite synchronous mode (FULL: durable commits)"),
        seed: Optional[int] = typer.Option(None, help="policy seed"),
        insecure_admin: bool = typer.Option(False, help="DEVELOPMENT ONLY: admin routes (models, logs) without "
                                                        "a key when RECLOOP_ADMIN_KEY is unset"),
        log_level: str = typer.Option("warning", help="uvicorn log level"),
    ) -> None:
        """Serve a learning policy over HTTP: rank, log, join rewards, learn, snapshot.

        Keys come from the environment: RECLOOP_API_KEY (rank/reward),
        RECLOOP_ADMIN_KEY (models, logs; without it those routes are refused unless
        --insecure-admin) and RECLOOP_METRICS_KEY (/metrics; open without it).
        """
        import uvicorn
        from rich.console import Console

        from recloop.serve.app import create_app
        from recloop.serve.config import ServeConfig

        console = Console(stderr=True)
        try:
            if workers < 1 or (workers > 1 and role != "ranker"):
                raise ValueError("--workers N > 1 runs ranker processes: use it with --role ranker "
                                 "(one learner per store: --role learner)")
            _check_ray_options(role, workers, ray_replicas, ray_address)
            config = ServeConfig.from_env(
                role=role, model_refresh_s=model_refresh, policy=policy, policy_params=_params(param), n_features=n_features,
                context_features=context_features, exploration=exploration, db=db, db_schema=db_schema,
                start_version=start_version, lease_s=lease, max_learning_lag_s=max_learning_lag,
                snapshot_every_s=snapshot_every, keep_snapshots=keep_snapshots, reward_wait_s=reward_wait,
                default_reward=default_reward, max_body_bytes=max_body, cors_origins=tuple(cors_origin),
                sqlite_synchronous=sqlite_synchronous, seed=seed, freeze_gc=True,
                insecure_admin=insecure_admin)
            application = create_app(config) if workers == 1 and not ray_replicas else None
        except (KeyError, ValueError, TypeError) as err:
            fail(console, err)
        if config.api_key is None:
            console.print("[yellow]warning:[/yellow] RECLOOP_API_KEY is not set: anyone who reaches the port "
                          "can rank and reward")
        if config.admin_key is None and insecure_admin:
            console.print("[bold red]WARNING: --insecure-admin: ANYONE who reaches the port can roll the model "
                          "back, snapshot it and download every logged event. Development only.[/bold red]")
        elif config.admin_key is None:
            console.print("[yellow]note:[/yellow] RECLOOP_ADMIN_KEY is not set: model management and log export "
                          "are disabled")
        if ray_replicas:
            _serve_on_ray(console, config, ray_replicas, ray_address, host, port)
            return
        console.print(f"recloop serving {policy} as {role} on http://{host}:{port}"
                      + (f" ({workers} worker processes)" if workers > 1 else "") + "  (dashboard: /, API docs: /docs)")
        console.print(f"Azure Personalizer's API on http://{host}:{port}/personalizer  (docs/personalizer.md)")
        if workers > 1:
            import os
            os.environ["RECLOOP_SERVE_CONFIG"] = config.to_env()  # each worker builds its own app from it
            uvicorn.run("recloop.serve.app:create_app_from_env", factory=True, workers=workers, host=host,
                        port=port, log_level=log_level, access_log=False)
            return
        uvicorn.run(application, host=host, port=port, log_level=log_level, access_log=False)

    @app.command("traffic")
    def traffic(
        url: str = typer.Option("http://127.0.0.1:8000", help="service base URL"),
        env: str = typer.Option("contextual", help="simulated world the users come from"),
        users: int = typer.Option(2000, help="how many users to play"),
        n_arms: int = typer.Option(20, help="catalogue size"),
        n_features: int = typer.Option(16, help="user feature count (contextual worlds)"),
        concurrency: int = typer.Option(8, help="users in flight at once"),
        world_seed: int = typer.Option(0, help="seed of the hidden item vectors"),
        seed: int = typer.Option(0, help="seed of users and clicks"),
        window: int = typer.Option(200, help="report CTR over blocks of this many users"),
    ) -> None:
        """Play simulated users against a running service and print CTR as it climbs.

        Uses RECLOOP_API_KEY when set.
        """
        import asyncio
        import os

        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from recloop.apps.traffic import SimulatedUsers, play

        console = Console()
        sim = SimulatedUsers(env, n_arms=n_arms, n_features=n_features, world_seed=world_seed, seed=seed)
        recent: list[float] = []
        with Progress(TextColumn("users"), BarColumn(), MofNCompleteColumn(), TextColumn("CTR {task.fields[ctr]}"),
                      TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task("users", total=users, ctr="-")

            def on_user(n: int, reward: float) -> None:
                recent.append(reward)
                if n % window == 0:
                    ctr = sum(recent[-window:]) / window
                    bar.console.print(f"users {n - window + 1:>6}-{n:<6} CTR {ctr:.3f}")
                    bar.update(task, ctr=f"{ctr:.3f}")
                bar.update(task, completed=n)

            try:
                result = asyncio.run(play(url, users, users=sim, concurrency=concurrency,
                                          api_key=os.environ.get("RECLOOP_API_KEY") or None, on_user=on_user))
            except OSError as err:
                fail(console, f"cannot reach {url}: {err}", 1)
        rate = len(result.rewards) / result.seconds if result.seconds else 0.0
        console.print(f"{len(result.rewards)} users in {result.seconds:.1f}s ({rate:.0f}/s), overall CTR "
                      f"{result.ctr:.3f}" + (f", errors {result.errors}" if result.errors else ""))
