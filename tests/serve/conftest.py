"""Fixtures: each test gets its own store — a fresh SQLite file, or its own PostgreSQL schema."""

from __future__ import annotations

import os
import uuid
import warnings

import pytest

warnings.filterwarnings("ignore", message=".*httpx.*", category=DeprecationWarning)

PG_URL = os.environ.get("RECLOOP_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_pg_ok: bool | None = None


def postgres_available() -> bool:
    global _pg_ok
    if _pg_ok is None:
        try:
            import psycopg
            with psycopg.connect(PG_URL.replace("+psycopg", ""), connect_timeout=3):
                _pg_ok = True
        except Exception:  # noqa: BLE001 - any failure means: no server here
            _pg_ok = False
    return _pg_ok


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    """``(url, schema)`` of an empty store; dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'recloop.db'}", None
        return
    if not postgres_available():
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} (.ci/run starts it)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield PG_URL, schema
    from recloop.serve.store import Store
    Store(PG_URL, schema=schema).drop()


@pytest.fixture
def sqlite_db(tmp_path):
    return f"sqlite:///{tmp_path / 'recloop.db'}", None


def _config(db, tmp_path, **kw):
    from recloop.serve.config import ServeConfig
    url, schema = db
    base = dict(db=url, db_schema=schema, n_features=4, snapshot_dir=str(tmp_path / "models"),
                snapshot_every_s=0, learn_interval_s=0.0, seed=0,
                insecure_admin=True)  # tests of the keys set their own
    base.update(kw)
    return ServeConfig(**base)


@pytest.fixture
def config():
    """``config(db, tmp_path, **overrides)`` -> a ServeConfig for tests."""
    return _config
