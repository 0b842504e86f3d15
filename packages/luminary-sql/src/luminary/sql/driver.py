"""Reads and writes run on the driver's own cursor, their SQL compiled by SQLAlchemy once.

Every statement SQLAlchemy executes gets an execution context, a lookup in the
compiled cache by the statement's cache key, result metadata built from the
cursor's description (which psycopg builds anew each time) and a ``Row`` per
row. For the short reads that make up most requests, that costs more CPU than
the driver spends running the statement. :func:`fetch_all` runs a statement
built once (from the repositories' and the read model's caches) as SQL
compiled once per dialect, on the connection's DBAPI cursor, applying the same
bind and result processors of the column types that SQLAlchemy would, and
hands back plain tuples. :func:`insert_row` and :func:`update_rows` do the same
for the repositories' INSERT of one row (giving its new id: PostgreSQL's
``RETURNING``, SQLite's ``lastrowid``) and UPDATE (giving the rows changed),
compiled once per set of columns written, as SQLAlchemy compiles them. On
PostgreSQL they run on one cursor kept with the driver's connection, and its
rows come in binary, which psycopg loads for less than text.

They step aside, and SQLAlchemy runs the statement as usual, when:

- the connection is not in a transaction (SQLAlchemy would begin one, firing
  the engine's ``begin`` hook, which takes SQLite's write lock), unless, for a
  read, it is in autocommit, where there is none to begin, or its driver reads
  as :func:`begin_bare` left it (SQLite in a transaction SQLAlchemy did not
  begin, PostgreSQL in autocommit);
- someone listens to the connection's statements (``before_cursor_execute`` or
  ``after_cursor_execute``: the query-count tests, an APM agent);
- the statement has parameters SQLAlchemy renders at execution time
  (``IN`` lists with ``expanding=True``, literal-execute parameters) or
  names in its SQL otherwise than their keys, or (a write) values SQLAlchemy
  computes in Python as it runs it (a column's ``default`` or ``onupdate``).

Errors take SQLAlchemy's shape (:class:`sqlalchemy.exc.DBAPIError` and its
subclasses); a lost connection is invalidated, as SQLAlchemy does, so that the
pool does not hand it out again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, cast

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["begin_bare", "end_bare", "execute_bare", "fetch_all", "insert_row", "update_rows"]

Processor = Callable[[Any], Any]
#: A result processor may carry, as its attribute ``column``, a function processing a whole
#: column (a tuple of values) at once into an iterable of the same values ``map`` would give.
COLUMN_PROCESSOR = "column"


class _Compiled:
    """A statement's SQL for one dialect, and how its parameters and rows are processed."""

    __slots__ = ("binary", "binds", "defaults", "order", "results", "sql")

    def __init__(self, compiled: SQLCompiler, dialect: Dialect, result_types: Sequence[Any]) -> None:
        self.sql = compiled.string
        #: Whether the driver asks for results in binary (psycopg): an integer or a timestamp
        #: loads from its bytes for less than from its text (a feed page of 100 posts: 8% fewer
        #: instructions in all); the values are the same.
        self.binary = dialect.name == "postgresql"
        self.defaults: dict[str, Any] = {}
        self.binds: list[tuple[str, Processor]] = []
        for bind, name in compiled.bind_names.items():
            if not bind.required:
                self.defaults[name] = bind.effective_value
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self.binds.append((name, processor))
        #: The parameters' names in order, for a driver that takes them by position (SQLite's ``?``).
        self.order: tuple[str, ...] | None = None
        if compiled.positional:
            self.order = tuple(compiled.positiontup or ())
        self.results: list[tuple[int, Callable[[Any], Iterable[Any]]]] = [
            (index, getattr(processor, COLUMN_PROCESSOR, None) or partial(map, processor))
            for index, type_ in enumerate(result_types)
            if (processor := type_.dialect_impl(dialect).result_processor(dialect, None)) is not None
        ]

    def parameters(self, given: Mapping[str, Any]) -> dict[str, Any] | tuple[Any, ...]:
        values = {**self.defaults, **given}
        for name, processor in self.binds:
            values[name] = processor(values[name])
        if self.order is not None:
            return tuple(values[name] for name in self.order)
        return values

    def rows(self, fetched: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        if not self.results or not fetched:
            return fetched
        # Column by column: zip turns rows into columns and back in C, where a loop
        # over the rows rebuilding each in Python cost as much as the statement.
        columns: list[Iterable[Any]] = list(zip(*fetched, strict=True))
        for index, process in self.results:
            columns[index] = process(columns[index])
        return list(zip(*columns, strict=True))


#: Compiled statements by (statement, dialect class, paramstyle); ``None``: SQLAlchemy runs it.
_COMPILED: dict[tuple[Executable, type[Dialect], str], _Compiled | None] = {}


def _rendered_when_run(compiled: SQLCompiler) -> bool:
    """Whether SQLAlchemy finishes the statement's SQL as it runs it: IN lists, literal-execute
    parameters, or names the SQL spells otherwise than the parameters' keys."""
    return bool(
        compiled.literal_execute_params
        or compiled.post_compile_params
        or compiled.escaped_bind_names
        or any(bind.expanding for bind in compiled.bind_names)
    )


def _compiled(statement: Executable, dialect: Dialect) -> _Compiled | None:
    key = (statement, type(dialect), dialect.paramstyle)
    try:
        return _COMPILED[key]
    except KeyError:
        pass
    compiled = cast("ClauseElement", statement).compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    plain = not _rendered_when_run(compiled)
    result_types = [column.type for column in getattr(statement, "selected_columns", ())]
    found = _Compiled(compiled, dialect, result_types) if plain and result_types else None
    return _COMPILED.setdefault(key, found)


def fetch_all(
    connection: Connection, statement: Executable, params: Mapping[str, Any]
) -> Sequence[tuple[Any, ...]]:
    """Every row of ``statement`` (a SELECT built once and kept) run with ``params``, as tuples.

    Raises:
        DBAPIError: As :meth:`Connection.execute` would.
    """
    dispatch = connection.dispatch
    if (
        not (connection.in_transaction() or _autocommit(connection) or _begun_bare(connection))
        or dispatch.before_cursor_execute
        or dispatch.after_cursor_execute
        or (compiled := _compiled(statement, connection.dialect)) is None
    ):
        # Rows are tuples.
        return cast("Sequence[tuple[Any, ...]]", connection.execute(statement, dict(params)).all())
    cursor = _executed(connection, compiled, params)
    try:
        fetched = cast("list[tuple[Any, ...]]", cursor.fetchall())
    except connection.dialect.loaded_dbapi.Error as exc:
        _discard(connection, cursor)
        raise _translated(connection, compiled.sql, dict(params), exc, cursor) from exc
    _done(compiled, cursor)
    return compiled.rows(fetched)


#: Compiled INSERTs and UPDATEs by (statement, dialect class, paramstyle, the parameters' keys):
#: their VALUES or SET clause follows the keys given, as SQLAlchemy's does.
_COMPILED_WRITES: dict[tuple[Executable, type[Dialect], str, tuple[str, ...]], _Compiled | None] = {}


def _compiled_write(statement: Executable, dialect: Dialect, keys: tuple[str, ...]) -> _Compiled | None:
    key = (statement, type(dialect), dialect.paramstyle, keys)
    try:
        return _COMPILED_WRITES[key]
    except KeyError:
        pass
    compiled = cast("ClauseElement", statement).compile(dialect=dialect, column_keys=list(keys))
    assert isinstance(compiled, SQLCompiler)
    plain = not (
        _rendered_when_run(compiled)
        # Values SQLAlchemy computes in Python as it runs the statement (a column's
        # ``default`` or ``onupdate``): none of Luminary's tables has one.
        or compiled.insert_prefetch
        or compiled.update_prefetch
        # More than the new row's id returned (RETURNING is PostgreSQL's way to give it).
        or len(compiled.effective_returning or ()) > 1
    )
    found = _Compiled(compiled, dialect, ()) if plain else None
    return _COMPILED_WRITES.setdefault(key, found)


def _writing_bare(connection: Connection) -> bool:
    """Whether a write may run on the driver's cursor: in SQLAlchemy's transaction, nobody listening."""
    dispatch = connection.dispatch
    return (
        connection.in_transaction()
        and not dispatch.before_cursor_execute
        and not dispatch.after_cursor_execute
    )


def update_rows(connection: Connection, statement: Executable, params: Mapping[str, Any]) -> int:
    """Run ``statement`` (an UPDATE built once and kept) with ``params``; the number of rows it changed.

    Its SET clause follows ``params``' keys, as :meth:`Connection.execute` makes it.

    Raises:
        DBAPIError: As :meth:`Connection.execute` would.
    """
    compiled = (
        _compiled_write(statement, connection.dialect, tuple(params)) if _writing_bare(connection) else None
    )
    if compiled is None:
        return int(connection.execute(statement, dict(params)).rowcount)
    cursor = _executed(connection, compiled, params)
    changed = int(cursor.rowcount)
    _done(compiled, cursor)
    return changed


def insert_row(connection: Connection, statement: Executable, params: Mapping[str, Any]) -> int:
    """Run ``statement`` (an INSERT of one row, built once and kept) with ``params``; the new row's id.

    Raises:
        DBAPIError: As :meth:`Connection.execute` would.
        RuntimeError: The database did not report the new id.
    """
    compiled = (
        _compiled_write(statement, connection.dialect, tuple(params)) if _writing_bare(connection) else None
    )
    if compiled is None:
        (new_id,) = connection.execute(statement, dict(params)).inserted_primary_key or (None,)
    else:
        cursor = _executed(connection, compiled, params)
        try:
            # PostgreSQL returns it (RETURNING id); SQLite's driver tells the row's id.
            new_id = cursor.fetchone()[0] if cursor.description else cursor.lastrowid
        except BaseException:
            _discard(connection, cursor)
            raise
        _done(compiled, cursor)
    if new_id is None:  # pragma: no cover - every supported database reports it
        raise RuntimeError("the database did not report the new row's id")
    return int(new_id)


def _executed(connection: Connection, compiled: _Compiled, params: Mapping[str, Any]) -> Any:
    """A driver cursor that ran ``compiled`` with ``params``; the caller reads it, then hands it
    to :func:`_done` (or, if reading failed, to :func:`_discard`)."""
    parameters = _parameters(connection, compiled, params)
    if compiled.binary:
        cursor = _kept_cursor(connection)
    else:
        dbapi_connection = connection.connection.dbapi_connection
        assert dbapi_connection is not None
        cursor = dbapi_connection.cursor()
    try:
        if compiled.binary:
            cursor.execute(compiled.sql, parameters, binary=True)
        else:
            cursor.execute(compiled.sql, parameters)
    except connection.dialect.loaded_dbapi.Error as exc:
        _discard(connection, cursor)
        raise _translated(connection, compiled.sql, parameters, exc, cursor) from exc
    return cursor


#: Where a psycopg connection's kept cursor is, in its ``info`` (which goes with the driver's
#: connection: a connection invalidated and replaced starts without one).
_CURSOR = "luminary.sql.driver.cursor"


def _kept_cursor(connection: Connection) -> Any:
    """The driver connection's cursor for every statement run here, made once.

    A psycopg cursor made for each statement costs about 10 µs more than one
    used again (measured: 23 against 14 µs for ``SELECT 1``): it builds its
    adapters anew every time. A statement's rows are read before the next one
    runs (a unit of work runs one statement at a time), and a cursor holds no
    state on the server.
    """
    info = connection.connection.info
    cursor = info.get(_CURSOR)
    if cursor is None:
        dbapi_connection = connection.connection.dbapi_connection
        assert dbapi_connection is not None
        cursor = info[_CURSOR] = dbapi_connection.cursor()
    return cursor


def _done(compiled: _Compiled, cursor: Any) -> None:
    """The statement's rows are read: close its cursor, unless it is the connection's kept one."""
    if not compiled.binary:
        cursor.close()


def _discard(connection: Connection, cursor: Any) -> None:
    """Close a cursor whose statement failed; a kept one is made anew for the next statement."""
    if not connection.invalidated and connection.connection.info.get(_CURSOR) is cursor:
        del connection.connection.info[_CURSOR]
    cursor.close()


def _autocommit(connection: Connection) -> bool:
    """Whether ``connection`` runs each statement on its own: there is no transaction to begin."""
    return bool(connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT")


def _begun_bare(connection: Connection) -> bool:
    """Whether the driver's connection reads as :func:`begin_bare` left it, SQLAlchemy unaware."""
    dbapi_connection = connection.connection.dbapi_connection
    if connection.dialect.name == "sqlite":
        return dbapi_connection.in_transaction is True  # type: ignore[union-attr]
    return getattr(dbapi_connection, "autocommit", False) is True


def begin_bare(connection: Connection) -> bool:
    """Begin a read-only unit of work on the driver's connection, behind SQLAlchemy's back.

    SQLAlchemy's own ``begin()`` on SQLite, or its isolation level option on
    PostgreSQL, costs more than a short read (its transaction object, events,
    the engine's hook; setting the level and setting it back through the
    dialect). Here SQLite begins a plain ``BEGIN`` on the driver's connection,
    and PostgreSQL's driver is put in autocommit (meant for READ COMMITTED,
    where each statement reads its own snapshot anyway). :func:`fetch_all` runs
    in that state; a statement SQLAlchemy runs itself begins SQLAlchemy's
    transaction, which on SQLite joins the driver's (the engine's hook begins
    nothing more) and on PostgreSQL begins nothing on the server. End with
    ``connection.rollback()`` if ``connection.in_transaction()``, then
    :func:`end_bare`.

    Returns ``False``, having done nothing, when someone listens to a SQLite
    connection's statements: they would not see this BEGIN, so the caller
    begins SQLAlchemy's transaction instead.
    """
    if connection.dialect.name == "sqlite":
        dispatch = connection.dispatch
        if dispatch.before_cursor_execute or dispatch.after_cursor_execute:
            return False
        _bare(connection, "BEGIN")
        return True
    _set_autocommit(connection, True)
    return True


def end_bare(connection: Connection) -> None:
    """Undo what :func:`begin_bare` did, if the driver is still so: roll back, or leave autocommit.

    Nothing to undo on a connection invalidated meanwhile (lost): the pool discards it.
    """
    if connection.invalidated or connection.closed or not _begun_bare(connection):
        return
    if connection.dialect.name != "sqlite":
        _set_autocommit(connection, False)
        return
    dbapi_connection = connection.connection.dbapi_connection
    assert dbapi_connection is not None
    try:
        dbapi_connection.rollback()
    except connection.dialect.loaded_dbapi.Error as exc:
        raise _translated(connection, "ROLLBACK", (), exc, None) from exc


def _set_autocommit(connection: Connection, on: bool) -> None:
    dbapi_connection = connection.connection.dbapi_connection
    try:
        dbapi_connection.autocommit = on  # type: ignore[union-attr]
    except connection.dialect.loaded_dbapi.Error as exc:
        raise _translated(connection, f"autocommit = {on}", (), exc, None) from exc


def execute_bare(connection: Connection, sql: str) -> None:
    """Run ``sql`` (no parameters, no rows: SQLite's ``BEGIN``) on the driver's cursor.

    For the engine's ``begin`` hook, where SQLAlchemy turns a driver's error into its
    own; statement listeners get it the usual way.
    """
    dispatch = connection.dispatch
    if dispatch.before_cursor_execute or dispatch.after_cursor_execute:
        connection.exec_driver_sql(sql)
        return
    _bare(connection, sql)


def _bare(connection: Connection, sql: str) -> None:
    dbapi_connection = connection.connection.dbapi_connection
    assert dbapi_connection is not None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(sql)
    except connection.dialect.loaded_dbapi.Error as exc:
        raise _translated(connection, sql, (), exc, cursor) from exc
    finally:
        cursor.close()


def _parameters(connection: Connection, compiled: _Compiled, params: Mapping[str, Any]) -> Any:
    """``params`` as the driver takes them; a value a bind processor refuses (a naive datetime)
    raises :class:`~sqlalchemy.exc.StatementError`, as SQLAlchemy's execution would."""
    try:
        return compiled.parameters(params)
    except Exception as exc:
        error = DBAPIError.instance(
            compiled.sql, dict(params), exc, connection.dialect.loaded_dbapi.Error, dialect=connection.dialect
        )
        raise error from exc


def _translated(connection: Connection, sql: str, parameters: Any, exc: Any, cursor: Any) -> DBAPIError:
    """``exc`` as SQLAlchemy would raise it; a lost connection is invalidated first, as SQLAlchemy does."""
    dialect = connection.dialect
    lost = dialect.is_disconnect(exc, connection.connection.dbapi_connection, cursor)
    if lost:
        connection.invalidate(exc)
    error = DBAPIError.instance(
        sql,
        parameters,
        exc,
        dialect.loaded_dbapi.Error,
        connection_invalidated=lost,
        dialect=dialect,
    )
    assert isinstance(error, DBAPIError)
    return error
