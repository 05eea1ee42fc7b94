"""Shared fixtures: every test that takes `db` runs on SQLite and on the PostgreSQL server at 127.0.0.1:5432."""

from __future__ import annotations

import gc
import os
import sqlite3
import uuid
from datetime import datetime, timedelta, timezone
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import time_machine
from argon2 import PasswordHasher
from sqlalchemy import text

from returnflow.auth import service as auth_service
from returnflow.bootstrap import bootstrap
from returnflow.config import Settings
from returnflow.db import Database
from returnflow.schema import migrate
from tests.support.isolation import TableEmptier
from tests.support.processes import close_runner
from tests.support.schedule import longest_first

# Tests only: argon2 at its cheapest cost, so each shop fixture does not spend ~0.7 s hashing demo passwords.
# A hash records its own parameters, so hashes made here still verify in a server process at the real cost.
auth_service._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

# Outside services are local processes on 127.0.0.1, which the outbound guard refuses unless the deployment allows
# it: allowed here for this process and, through the inherited environment, every server and worker it starts.
OUTBOUND_ALLOWED = "127.0.0.1"
os.environ["RETURNFLOW_OUTBOUND_ALLOWED_HOSTS"] = OUTBOUND_ALLOWED
# The suite derives each event's timers, notices, webhook rows and rollup right after the request's commit (inline
# mode: an eager worker in the same process), so its assertions read them at once; this process and every server it
# starts. Tests of the worker mode set RETURNFLOW_DERIVE=worker themselves (tests/integration/test_derivation.py).
os.environ.setdefault("RETURNFLOW_DERIVE", "inline")

# RETURNFLOW_TEST_CLOCK_SHIFT=<days> moves the fixed instant (and, for tests marked `clock`, the process's clock)
# that many days ahead: scripts/test runs `-m clock` once a year ahead, so no test breaks as the calendar moves on.
CLOCK_SHIFT = timedelta(days=int(os.environ.get("RETURNFLOW_TEST_CLOCK_SHIFT", "0") or 0))
FIXED_NOW = datetime(2026, 6, 15, 4, 0, tzinfo=timezone.utc) + CLOCK_SHIFT
# Under pytest-xdist each worker has its own databases and files (gw0, gw1, ...; "main" without xdist).
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
PG_ADMIN = os.environ.get("RETURNFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
# The shared data sets sit beside the checkout; RETURNFLOW_TEST_SHARED names them from elsewhere (a git worktree).
SHARED = Path(os.environ.get("RETURNFLOW_TEST_SHARED") or Path(__file__).resolve().parents[1].parent / "shared")


def postgres_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


PG_UP = postgres_available()
if not PG_UP and os.environ.get("CI"):
    raise pytest.UsageError("PostgreSQL at 127.0.0.1:5432 is unreachable; CI must run the PostgreSQL tests")


def create_pg_database(prefix: str = "rf_test") -> str:
    """A fresh, empty PostgreSQL database named after the xdist worker; returns its SQLAlchemy URL."""
    name = f"{prefix}_{WORKER}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        # A test database need not survive a crash of the server: a commit returns without waiting for its WAL to
        # reach the disk (up to ~2 ms each here). Nothing else changes: the server still never corrupts, and what
        # a test's processes see of each other's commits is the same.
        conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[-1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgres", marks=[
        pytest.mark.postgres,
        pytest.mark.skipif(not PG_UP, reason="no PostgreSQL at 127.0.0.1:5432 on this machine")]),
]


# The migrated database of each backend, made once per test process. pytest tears a parametrised session fixture
# down whenever the next test wants the other parameter, and with whole modules per xdist worker that is every
# module (sqlite tests, then postgres tests): the databases stay here instead of being created and migrated again
# (~150 migrations per run, ~1 s each), and go at the end of the session (`databases`).
MIGRATED: dict[str, Database] = {}


@pytest.fixture(scope="session")
def databases() -> Iterator[dict[str, Database]]:
    yield MIGRATED
    for backend, db in list(MIGRATED.items()):
        db.dispose()
        if backend == "postgresql":
            drop_pg_database(db.url)
    MIGRATED.clear()


@pytest.fixture(scope="session", params=BACKENDS)
def database(request, tmp_path_factory, databases) -> Database:
    """A migrated database per backend, shared by the session's tests (emptied between them)."""
    db = databases.get(request.param)
    if db is None:
        if request.param == "sqlite":
            db = migrated_sqlite(tmp_path_factory, tmp_path_factory.mktemp("sqlite") / f"test-{WORKER}.db")
        else:
            db = Database(create_pg_database())
            migrate(db)
        databases[request.param] = db
        settle()
    return db


TEMPLATES: dict[str, Path] = {}  # backend -> this test process's migrated file that migrated_sqlite copies


def migrated_sqlite(tmp_path_factory, path: Path) -> Database:
    """A SQLite database at `path` at the current schema: a copy of one this test process migrated once (Alembic
    runs ~0.5 s per database; a copy takes milliseconds). The copy is SQLite's online backup, page for page."""
    template = TEMPLATES.get("sqlite")
    if template is None:
        template = tmp_path_factory.getbasetemp() / f"template-{WORKER}.db"
        made = Database(f"sqlite:///{template}")
        migrate(made)
        made.dispose()
        TEMPLATES["sqlite"] = template
    source, target = sqlite3.connect(template), sqlite3.connect(path)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return Database(f"sqlite:///{path}")


KEEP = {"reasons", "alembic_version"}


def settle() -> None:
    """What a test process keeps for good (modules, the wiring, a database's engine, the shared app) leaves the
    garbage collector's view: a full collection then walks only what tests create, and young collections run less
    often. ~10% of an API module's time was the collector walking the same long-lived objects again and again."""
    gc.collect()
    gc.freeze()


gc.set_threshold(20_000, 20, 20)


@pytest.fixture(scope="session", autouse=True)
def wired() -> None:
    """Every test runs with the whole wiring installed, as every entry point does (returnflow/bootstrap.py)."""
    bootstrap()
    settle()


def forget_process_caches() -> None:
    """Ids are reused after the tables are emptied (or come from another database): every per-process cache
    (returnflow/caches.py) forgets them too."""
    from returnflow.caches import forget_all

    forget_all()


EMPTIERS: dict[str, TableEmptier] = {}


@pytest.fixture
def emptier(database: Database) -> TableEmptier:
    """What the tables of `database` are, learnt once per database (a module may bring its own `database`)."""
    if database.url not in EMPTIERS:
        EMPTIERS[database.url] = TableEmptier(database, KEEP)
    return EMPTIERS[database.url]


@pytest.fixture
def db(database: Database, emptier: TableEmptier) -> Iterator[Database]:
    """The backend's database, emptied of everything but reference data before each test: only the tables the
    previous test wrote to are emptied (tests/support/isolation.py)."""
    with database.engine.begin() as conn:
        # A merchant's own reasons go first: they point at the merchant.
        conn.execute(text("DELETE FROM reasons WHERE merchant_id IS NOT NULL"))
        emptier.empty(conn)
    from returnflow.cases.reasons import seed_defaults

    forget_process_caches()
    with database.transaction() as session:
        seed_defaults(session)
    yield database


@pytest.fixture(autouse=True)
def clock_ahead(request) -> Iterator[None]:
    """With RETURNFLOW_TEST_CLOCK_SHIFT set, a test marked `clock` runs with this process's clock (datetime.now,
    time.time; not the monotonic clocks) that many days ahead, ticking: what it derives from "now" meets next year's
    calendar. Servers and fakes it starts as separate processes keep the machine's clock."""
    if not CLOCK_SHIFT or request.node.get_closest_marker("clock") is None:
        yield
        return
    with time_machine.travel(datetime.now(timezone.utc) + CLOCK_SHIFT, tick=True):
        yield


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url="unused", outbound_allowed_hosts=OUTBOUND_ALLOWED)


@dataclass
class SharedApp:
    """One app per database in a test process, as a server keeps one app for all its requests: FastAPI builds
    each included route's dependants the first time a new app routes (~0.3 s), which every test paid again."""

    app: Any
    state: dict  # app.state as create_app left it
    routes: int  # the routes' version: a test that adds a route gets a fresh app next time
    middleware: int


SHARED_APPS: dict[str, SharedApp] = {}
ROUTE_CACHE = "rf_flat_routes"  # returnflow/guard.py's routing table, built once per app


@pytest.fixture
def app(db: Database, settings: Settings):
    from returnflow.app import create_app
    from returnflow.storage import make_store

    shared = SHARED_APPS.get(db.url)
    if shared is None:
        made = create_app(settings, db=db)
        shared = SHARED_APPS[db.url] = SharedApp(made, dict(made.state._state), made.router._get_routes_version(),
                                                 len(made.user_middleware))
        settle()
    app = shared.app
    # Every test starts from the state create_app gives, with its own settings and files.
    routes = app.state._state.get(ROUTE_CACHE)
    app.state._state.clear()
    app.state._state.update(shared.state)
    if routes is not None:
        app.state._state[ROUTE_CACHE] = routes
    app.state.settings = settings
    app.state.store = make_store(settings)
    # Codes are read from the outbox here, so every channel reaches the customer; tests of a deployment without
    # providers set their own (tests/api/test_portal_reach.py).
    app.state.code_channels = frozenset({"email", "sms"})
    # The checks that read the app's clock (/healthz's warnings, the calendar banner) see mid-2026, whatever
    # today is: the bundled calendar knows that year, so no page carries a banner that depends on the test's date.
    app.state.clock = lambda: FIXED_NOW
    yield app
    if app.router._get_routes_version() != shared.routes or len(app.user_middleware) != shared.middleware:
        SHARED_APPS.pop(db.url, None)


@pytest.fixture
def client(app):
    from tests.support.asgi import TestClient

    with TestClient(app) as c:
        yield c


def pytest_collection_modifyitems(config, items) -> None:
    """Modules that take longest start first (tests/support/schedule.py): under pytest-xdist (whole modules per
    worker, taken off one queue in this order) no worker is then left finishing a long module alone at the end."""
    longest_first(items)


def pytest_sessionfinish(session, exitstatus) -> None:
    """The fork servers of run_returnflow (tests/support/processes.py) end with the test process's session."""
    close_runner()
