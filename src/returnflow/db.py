"""Engine, sessions and the declarative base; SQLite gets WAL, a busy timeout and BEGIN IMMEDIATE."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import orjson
from sqlalchemy import JSON, DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from . import deferred

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every table."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict: JSON, list: JSON}


class UTCDateTime(TypeDecorator):
    """Timestamps stored as UTC; naive values coming back from SQLite are marked UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect):
        """SQLite: the text SQLAlchemy's DATETIME writes for the UTC time ('2026-10-03 08:15:30.123456'), made in one
        step (isoformat) rather than through process_bind_param and a %-format of seven fields: timestamps are
        bound in every write, and in a derivation batch that chain was most of the parameters' cost."""
        chained = super().bind_processor(dialect)
        if dialect.name != "sqlite":
            return chained
        utc = timezone.utc

        def process(value):
            if type(value) is not datetime:
                return chained(value)  # None, a date, a subclass: as SQLAlchemy does
            if value.tzinfo is not None and value.tzinfo is not utc:
                value = value.astimezone(utc)
            return value.isoformat(" ", "microseconds")[:26]

        return process

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(timezone.utc)


def _json_dumps(value) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for `url`; SQLite files get their folder created and are tuned for one writer."""
    kwargs.setdefault("json_serializer", _json_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        _tune_sqlite(engine)
        deferred.install(engine)
        return engine
    # At most 30 connections per process as before, but 20 of them kept: requests run in a thread pool (40 threads)
    # and an opening briefly takes a second connection for its number, so with 10 kept a busy server connected and
    # disconnected overflow connections on most requests.
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 10)
    # No ping per checkout (a round trip per request); stale connections are recycled and retried instead.
    kwargs.setdefault("pool_recycle", 1800)
    engine = create_engine(url, **kwargs)
    deferred.install(engine)
    return engine


_BEGIN = {"IMMEDIATE": "BEGIN IMMEDIATE", "DEFERRED": "BEGIN DEFERRED"}


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy own transactions so BEGIN IMMEDIATE can take the write lock up front.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # Straight to the driver: this runs for every transaction, and a full execute() costs several times more.
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.connection.driver_connection.execute(_BEGIN[mode])


class Tx:
    """One write transaction's connection, with an ORM Session on it made on first use."""

    __slots__ = ("_connection", "_session", "after_commit", "info")

    def __init__(self, connection) -> None:
        self._connection = connection
        self._session: Session | None = None
        # Called once the transaction has committed (not after a rollback), e.g. the inline derivation step.
        self.after_commit: dict = {}
        # What the transaction's code remembers while it runs, as Session.info (without making a Session for it).
        self.info: dict = {}

    def connection(self):
        return self._connection

    def get_bind(self):
        return self._connection.engine

    @property
    def orm(self) -> Session:
        if self._session is None:
            self._session = Session(bind=self._connection, expire_on_commit=False,
                                    join_transaction_mode="conditional_savepoint")
        return self._session

    def __getattr__(self, name):
        return getattr(self.orm, name)

    def flush_orm(self) -> None:
        if self._session is not None:
            self._session.flush()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


class Database:
    """One engine and its session factory."""

    def __init__(self, url: str, **engine_kwargs) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.reader = sessionmaker(self.engine.execution_options(sqlite_begin="DEFERRED"), expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction: commits on success, rolls back on any error.

        It yields a `Tx`: Core statements run on its connection directly, and an ORM Session on the same
        connection is made only when something asks for one (the hot paths never do).
        """
        with self.engine.begin() as connection:
            tx = Tx(connection)
            try:
                yield tx  # type: ignore[misc]
                tx.flush_orm()
            finally:
                tx.close()
        for hook in tx.after_commit.values():
            hook()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction (no write lock on SQLite)."""
        with self.reader() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
