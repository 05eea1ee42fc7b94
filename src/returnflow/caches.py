"""Every per-process cache of returnflow, declared in this one module, and how a change reaches all processes.

A cache here remembers what many requests would otherwise read again (a merchant's settings, its active policy, who
a bearer token belongs to). Each is declared below with its name, what it holds, its bound (entries kept; the oldest
goes first) and, where it has one, how long an entry may live. Code that reads uses `CACHES[name].get(session, key,
build)`; code that writes calls `changed(session, name, scope)` in the transaction of its change; tests call
`forget_all()`.

Across processes: a `watched` cache is invalidated through the `cache_versions` table — (name, scope, version),
scope being the merchant id (0 for "no merchant"). `changed` bumps the row in the writer's transaction, so the bump
commits (or rolls back) with the change, and drops the scope here at once. Every process reads the table at most
once every CHECK_SECONDS, on a cache read that finds it due, and drops the scopes whose version moved: a change made
anywhere is seen everywhere within CHECK_SECONDS (plus the time the request that read the old value takes).

Declared here rather than in bootstrap.py: the modules that use a cache need it when they are imported, and this
module imports nothing of the areas, so any module can use it without an import cycle; bootstrap.py wires behaviour
(what an event sets off), this module only state. Pure `functools.lru_cache` memos of code (compiled statements,
fonts, keys read from files, settings read from the environment) hold nothing a write can change and stay where
they are (listed in docs/scale-out.md).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, String, bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base

CHECK_SECONDS = 1.0  # a change in another process is seen here within this many seconds
NO_MERCHANT = 0  # the scope of what belongs to no merchant (platform staff)


class CacheVersion(Base):
    """One counter per (cache, merchant): bumped in the transaction of every change to what that cache holds."""

    __tablename__ = "cache_versions"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    scope: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


@dataclass(frozen=True)
class Spec:
    name: str
    holds: str
    bound: int  # entries kept at most (the least recently used go first)
    seconds: float | None = None  # how long an entry lives (None: until a change drops it)
    watched: bool = True  # invalidated across processes through cache_versions


_MISSING = object()


class Cache:
    """One named cache: key -> value, each entry tagged with the scope (merchant) it belongs to."""

    def __init__(self, spec: Spec, registry: Caches) -> None:
        self.spec = spec
        self._registry = registry
        self._data: OrderedDict[Hashable, tuple[int, float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def peek(self, key: Hashable, default=None):
        """The remembered value, without asking the database (no version check): for callers without a session."""
        now = time.monotonic()
        with self._lock:
            hit = self._data.get(key)
            if hit is None or (self.spec.seconds is not None and hit[1] <= now):
                return default
            self._data.move_to_end(key)
            return hit[2]

    def get(self, session, key: Hashable, build: Callable[[], Any], scope: int | None = NO_MERCHANT):
        """The value for `key`, built (and remembered under `scope`) when it is not here or no longer valid."""
        if self.spec.watched and session is not None:
            self._registry.refresh(session)
        found = self.peek(key, _MISSING)
        if found is not _MISSING:
            return found
        value = build()
        self.put(key, value, scope)
        return value

    def put(self, key: Hashable, value, scope: int | None = NO_MERCHANT) -> None:
        expires = time.monotonic() + self.spec.seconds if self.spec.seconds is not None else 0.0
        with self._lock:
            self._data[key] = (scope or NO_MERCHANT, expires, value)
            self._data.move_to_end(key)
            while len(self._data) > self.spec.bound:
                self._data.popitem(last=False)

    def drop(self, key: Hashable | None = None) -> None:
        with self._lock:
            if key is None:
                self._data.clear()
            else:
                self._data.pop(key, None)

    def drop_scope(self, scope: int | None) -> None:
        scope = scope or NO_MERCHANT
        with self._lock:
            for key in [k for k, (s, _e, _v) in self._data.items() if s == scope]:
                del self._data[key]


_READ_VERSIONS = select(CacheVersion.name, CacheVersion.scope, CacheVersion.version)


def _bump_statement(dialect: str):
    """INSERT ... ON CONFLICT DO UPDATE: one statement, safe when two processes bump the same row at once."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(CacheVersion).values(name=bindparam("name"), scope=bindparam("scope"), version=1)
    return stmt.on_conflict_do_update(index_elements=["name", "scope"], set_={"version": CacheVersion.version + 1})


_BUMPS = {dialect: _bump_statement(dialect) for dialect in ("postgresql", "sqlite")}


class Caches:
    """The caches of one process (tests make a second one to play another process)."""

    def __init__(self, specs: tuple[Spec, ...], check_seconds: float = CHECK_SECONDS) -> None:
        self.check_seconds = check_seconds
        self._caches = {spec.name: Cache(spec, self) for spec in specs}
        self._seen: dict[tuple[str, int], int] = {}
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> Cache:
        return self._caches[name]

    def __iter__(self):
        return iter(self._caches.values())

    def forget(self, name: str, key: Hashable | None = None) -> None:
        """Drops one entry (or the whole cache `name`) in this process only."""
        self._caches[name].drop(key)

    def forget_all(self) -> None:
        """Drops every entry of every cache and what was seen of the versions (tests: ids are reused)."""
        for cache in self._caches.values():
            cache.drop()
        with self._lock:
            self._seen.clear()
            self._checked_at = float("-inf")

    def changed(self, session, name: str, scope: int | None) -> None:
        """What cache `name` holds for `scope` changed in this transaction: bumps its version (committed with the
        change, so other processes drop it within check_seconds) and drops it here at once."""
        scope = scope or NO_MERCHANT
        bind = session.get_bind()
        session.connection().execute(_BUMPS[bind.dialect.name], {"name": name, "scope": scope})
        self._caches[name].drop_scope(scope)

    def due(self) -> bool:
        """Whether the next refresh would read the versions (for callers that must open a session for it)."""
        return time.monotonic() - self._checked_at >= self.check_seconds

    def refresh(self, session, force: bool = False) -> None:
        """Reads the versions when check_seconds passed since the last read; drops the scopes whose version moved."""
        now = time.monotonic()
        with self._lock:
            if not force and now - self._checked_at < self.check_seconds:
                return
            self._checked_at = now
        rows = session.connection().execute(_READ_VERSIONS).all()
        with self._lock:
            moved = [(r.name, r.scope) for r in rows if self._seen.get((r.name, r.scope)) != r.version]
            current = {(r.name, r.scope): r.version for r in rows}
            gone = [key for key in self._seen if key not in current]  # the table was emptied (tests)
            self._seen = current
        for name, scope in moved + gone:
            if name in self._caches:
                self._caches[name].drop_scope(scope)


# Every per-process cache of returnflow ---------------------------------------------------------------------------

SPECS: tuple[Spec, ...] = (
    Spec("merchant_settings", "a merchant's SLA settings document (time zone, calendar, steps), validated", 10_000),
    Spec("merchant_language", "a merchant's default language (its pages and answers when none is asked for)", 10_000),
    Spec("merchant_zone", "a merchant's time zone, read from its settings (its one clock)", 10_000),
    Spec("active_policy", "a merchant's active policy: its latest version row and the compiled policy", 10_000),
    Spec("merchant_codes", "a merchant's code by id (codes never change)", 10_000, watched=False),
    Spec("compiled_policies", "compiled policies by (merchant, version, digest of the text) and presets", 512,
         watched=False),
    Spec("reasons", "a merchant's active reason codes per case type and their faults", 10_000),
    Spec("return_addresses", "a merchant's return addresses as routing rules (categories, regions, default, active)",
         10_000),
    Spec("tokens", "bearer token digest -> the staff actor (a revoked or changed one drops its merchant's)", 10_000,
         seconds=5.0),
    Spec("calendar_gaps", "the working-calendar banner's gaps per merchant (read at most once a minute)", 10_000,
         seconds=60.0, watched=False),
    Spec("wechat_tokens", "WeChat access tokens per app (each until five minutes before it runs out)", 64,
         watched=False),
)

CACHES = Caches(SPECS)


def changed(session, name: str, scope: int | None) -> None:
    """Writers call this in the transaction of their change (see Caches.changed)."""
    CACHES.changed(session, name, scope)


def forget(name: str, key: Hashable | None = None) -> None:
    CACHES.forget(name, key)


def forget_all() -> None:
    CACHES.forget_all()
