"""Prepared statements: a hot Core statement compiled once per database and run on the driver's own cursor.

SQLAlchemy's per-execution work (the compiled-cache lookup by cache key, the execution context, the result's
metadata) costs ~80 µs a statement on the bench machine; sqlite3 runs a short indexed statement in ~5 µs
(bench/lifecycle.py under py-spy: about a fifth of the server's CPU and half the worker's went to it). A statement marked
`prepared(...)`, a module-level constant, skips that work: it is compiled once per dialect (and, for an INSERT
or UPDATE, per set of parameter names), and each execution builds its parameters with the compiled statement's own
bind processors and column defaults, runs on the DBAPI cursor of the connection's transaction, and wraps the rows
in an ordinary SQLAlchemy Result (rows by attribute and by `_mapping`; `.scalar()`, `.all()`, `.rowcount` ...),
the values passed through the columns' own result processors. So callers see what `connection.execute` gives them.

What stays as it was:
- the same SQL text and parameters as SQLAlchemy would send (the compiled string of the same dialect);
- the statement runs in the connection's transaction, begun as SQLAlchemy begins it, after the writes kept on the
  connection (returnflow/deferred.py) are sent;
- `before_cursor_execute` listeners are called (statement counters in tests and benches count these too);
- a driver error is raised as SQLAlchemy's (IntegrityError, OperationalError ...), so callers catch the same;
- column defaults are filled as SQLAlchemy fills them (one that reads its context gets the row's values);
- an IN list (an expanding parameter) is expanded by SQLAlchemy's own code, once for each length of the list;
- a statement that this path cannot run — a literal_execute parameter, an INSERT's implicit RETURNING of its
  key — is refused when it is marked (`prepared` raises), not at run time.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.exc import DBAPIError

PREPARED = "returnflow_prepared"
# Where a connection carries the writes kept by returnflow/deferred.py: they are sent before a statement here runs,
# as before any statement through SQLAlchemy (deferred.install), so a read sees every write before it.
KEPT = "returnflow_deferred"

# (id(statement), dialect name, parameter names) -> _Plan; the statement itself is kept in the plan, so its id
# is never reused while the entry lives (marked statements are module constants: a bounded set). Threads may both
# compile an entry missing at once: one of the equal plans is kept, nothing else is shared between executions.
_PLANS: dict[tuple, _Plan] = {}


class _Plan:
    """One statement compiled for one dialect (and one set of parameter names)."""

    __slots__ = ("statement", "sql", "positions", "binds", "processors", "defaults", "escaped", "returns_rows",
                 "keys", "result_types", "result_processors", "dialect", "compiled", "lists", "forms")

    def __init__(self, statement, dialect, keys: tuple[str, ...] | None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) if keys is not None else None)
        if compiled.literal_execute_params or any(not b.expanding for b in compiled.post_compile_params):
            raise ValueError(f"a prepared statement cannot have literal_execute parameters: {statement}")
        # IN lists (expanding parameters): the statement's text for each length of its lists, made once by
        # SQLAlchemy's own expansion (`IN (?, ?, ?)`, or its empty-set form for none).
        self.compiled = compiled
        self.lists = tuple(compiled.bind_names[b] for b in compiled.post_compile_params)
        self.forms: dict[tuple[int, ...], tuple] = {}
        if compiled.schema_translate_map:
            raise ValueError("a prepared statement cannot use schema_translate_map")
        self.statement = statement
        self.dialect = dialect
        self.sql = compiled.string
        self.positions = tuple(compiled.positiontup) if compiled.positional else None
        # Every bind parameter's value when the caller does not give it (a literal compiled into the statement).
        self.binds = {name: (bind.key, bind.required, bind.effective_value if not bind.required else None)
                      for bind, name in compiled.bind_names.items()}
        self.processors = dict(compiled._bind_processors)
        defaults = []
        for column, described in ([(c, c._default_description_tuple) for c in compiled.insert_prefetch]
                                  + [(c, c._onupdate_description_tuple) for c in compiled.update_prefetch]):
            arg, is_scalar, is_callable, is_sentinel = described
            if is_sentinel or not (is_scalar or is_callable):
                raise ValueError(f"a prepared statement cannot fill the default of {column}")
            defaults.append((compiled._within_exec_param_key_getter(column), arg, is_callable, column))
        self.defaults = tuple(defaults)
        self.escaped = dict(compiled.escaped_bind_names)
        if compiled.implicit_returning:
            raise ValueError(f"a prepared INSERT must be inline (no implicit RETURNING of its key): {statement}")
        self.returns_rows = bool(compiled.effective_returning) or not (
            compiled.isinsert or compiled.isupdate or compiled.isdelete)
        self.keys = tuple(col[0] for col in compiled._result_columns)
        self.result_types = tuple(col[3] for col in compiled._result_columns)
        self.result_processors = None  # made from the first cursor description

    def parameters(self, given: dict | None) -> Any:
        values: dict[str, Any] = {}
        given = given or {}
        for name, (key, required, value) in self.binds.items():
            if key in given:
                values[name] = given[key]
            elif not required:
                values[name] = value
            else:
                raise KeyError(key)
        for name, arg, is_callable, column in self.defaults:  # the columns not given (as SQLAlchemy fills them)
            values[name] = arg(_Context(values, column)) if is_callable else arg
        sql, positions, processors = self.sql, self.positions, self.processors
        if self.lists:
            lengths = tuple(len(values[name]) for name in self.lists)
            form = self.forms.get(lengths)
            if form is None:
                state = self.compiled._process_parameters_for_postcompile(dict(values))
                form = self.forms[lengths] = (
                    state.statement, tuple(state.positiontup) if state.positiontup is not None else None,
                    {**processors, **state.processors}, tuple(state.parameter_expansion.items()))
            sql, positions, processors, expansion = form
            for name, expanded in expansion:
                items = values.pop(name)
                values.update(zip(expanded, items))
        if positions is not None:
            return sql, tuple(processors[n](values[n]) if n in processors else values[n] for n in positions)
        escaped = self.escaped
        return sql, {escaped.get(n, n): processors[n](v) if n in processors else v for n, v in values.items()}

    def rows_of(self, cursor) -> IteratorResult:
        description = cursor.description
        if self.result_processors is None:
            if len(description) != len(self.keys):
                raise RuntimeError(f"prepared statement: {len(description)} columns, expected {len(self.keys)}")
            # Only the columns that have a processor (a timestamp, JSON, a boolean on SQLite ...), by position.
            self.result_processors = tuple(
                (i, p) for i, p in enumerate(t._cached_result_processor(self.dialect, d[1])
                                             for t, d in zip(self.result_types, description)) if p is not None)
        processors = self.result_processors
        raw = cursor.fetchall()
        if processors:
            rows = []
            for row in raw:
                row = list(row)
                for i, process in processors:
                    row[i] = process(row[i])
                rows.append(row)
            raw = rows
        return IteratorResult(SimpleResultMetaData(self.keys), iter(raw))


class _Context:
    """What a column default that reads its context may ask (as SQLAlchemy's execution context): the row's values."""

    __slots__ = ("current_parameters", "current_column")

    def __init__(self, values: dict, column) -> None:
        self.current_parameters = values
        self.current_column = column

    def get_current_parameters(self, isolate_multiinsert_groups: bool = True) -> dict:
        return self.current_parameters


def prepared(statement, dialect: str | None = None):
    """`statement` marked to run by the path above (see the module's note); refused now if it cannot. `dialect`:
    the one database a dialect-specific statement (an upsert) is written for; otherwise both. Mark module-level
    constants (or statements a cached builder makes once): a marked statement's plans live as long as the process."""
    from sqlalchemy import Insert
    from sqlalchemy.dialects import postgresql, sqlite

    if isinstance(statement, Insert) and not statement._returning:
        statement = statement.inline()  # nobody reads the new key through this path
    dialects = {"sqlite": sqlite.dialect, "postgresql": postgresql.psycopg.dialect}
    for name, make in dialects.items():
        if dialect in (None, name):
            _Plan(statement, make(), None)  # raises what this path cannot do
    return statement.execution_options(**{PREPARED: True})


def run(connection, statement, params=None):
    """A `prepared` statement by the path above, anything else through SQLAlchemy (`connection.execute`)."""
    if PREPARED in statement.get_execution_options():
        if isinstance(params, list) and params:
            return executemany(connection, statement, params)
        return execute(connection, statement, params or None)
    return connection.execute(statement, params)


def is_prepared(statement) -> bool:
    return PREPARED in statement.get_execution_options()


def _plan(connection, statement, keys: tuple[str, ...] | None) -> _Plan:
    dialect = connection.dialect
    key = (id(statement), dialect.name, keys)
    plan = _PLANS.get(key)
    if plan is None or plan.statement is not statement:
        plan = _PLANS[key] = _Plan(statement, dialect, keys)
    return plan


def _keys(statement, params) -> tuple[str, ...] | None:
    """INSERT and UPDATE compile to the columns given; a SELECT or DELETE does not depend on them."""
    if getattr(statement, "is_dml", False) and not getattr(statement, "is_delete", False):
        return tuple(sorted(params)) if params else ()
    return None


def _cursor(connection):
    """A cursor in the connection's transaction, begun as SQLAlchemy begins it for any statement (so a commit of
    the connection commits what ran here); a transaction that failed refuses, as SQLAlchemy does. The writes kept
    on the connection (KEPT) are sent first."""
    kept = connection.info.get(KEPT)
    if kept is not None and kept.entries:
        kept.flush(connection)
    transaction = connection._transaction
    if transaction is None:
        connection._autobegin()
    elif not transaction.is_active:
        connection._invalid_transaction()
    return connection.connection.driver_connection.cursor()


def _send(connection, plan: _Plan, sql: str, values, many: bool):
    """Sends the statement on a cursor of the connection's transaction (the listeners first, as SQLAlchemy calls
    them; a driver error raised as SQLAlchemy's); returns a Result with the rows it returned and its `rowcount`."""
    cursor = _cursor(connection)
    try:
        if connection._has_events or connection.engine._has_events:
            for listener in connection.dispatch.before_cursor_execute:
                sql, values = listener(connection, cursor, sql, values, None, many)
        dbapi_error = connection.dialect.loaded_dbapi.Error
        try:
            (cursor.executemany if many else cursor.execute)(sql, values)
        except dbapi_error as error:
            raise DBAPIError.instance(sql, values, error, dbapi_error, dialect=connection.dialect) from error
        rows = plan.returns_rows and not many
        result = plan.rows_of(cursor) if rows else IteratorResult(SimpleResultMetaData(()), iter(()))
        result.rowcount = cursor.rowcount
        return result
    finally:
        cursor.close()


def execute(connection, statement, params: dict | None = None):
    """Runs a `prepared` statement with one set of parameters; returns a Result (rows, or `rowcount` of a write)."""
    plan = _plan(connection, statement, _keys(statement, params))
    sql, values = plan.parameters(params)
    return _send(connection, plan, sql, values, False)


def executemany(connection, statement, rows: list[dict]):
    """Runs a write (no RETURNING) once per row in one driver `executemany`; rows of the same parameter names.
    Returns a Result with the `rowcount`."""
    plan = _plan(connection, statement, _keys(statement, rows[0]))
    if plan.returns_rows:
        raise ValueError(f"executemany of a statement returning rows: {statement}")
    if plan.lists:
        raise ValueError(f"executemany of a statement with IN lists: {statement}")
    return _send(connection, plan, plan.sql, [plan.parameters(row)[1] for row in rows], True)
