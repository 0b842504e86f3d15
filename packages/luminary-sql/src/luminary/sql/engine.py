"""Engines configured for Luminary's two databases.

**SQLite** is the embedded default. Python's ``sqlite3`` driver, left to itself,
runs SELECTs outside any transaction (its legacy transaction control), so a
read-modify-write sees one state and writes over another; it also opens
transactions ``DEFERRED``, so two writers that both read first deadlock on the
upgrade to a write lock and one gets ``database is locked``. :func:`make_engine`
therefore takes transaction control away from the driver and begins every
transaction itself with ``BEGIN IMMEDIATE``: the write lock is taken up front,
writers queue (on a lock per process, and across processes on a lock file:
:mod:`~luminary.sql.writelock`), and each transaction sees and changes one
consistent state. Read-only transactions (``uow.reading()``) begin plain
``BEGIN`` instead and never wait for a writer::

    thread A: BEGIN IMMEDIATE ── SELECT stars (3) ── UPDATE stars=4 ── COMMIT
    thread B:      BEGIN IMMEDIATE (waits) ─────────────────────────────┴── SELECT stars (4) ── …

The journal is WAL (readers outside Luminary's transactions are not blocked by
a writer) and foreign keys are enforced, which SQLite does not do by default.
A commit waits until the disk has the transaction (``PRAGMA synchronous=FULL``):
nothing acknowledged is lost, neither when the process is killed nor when the
machine loses power. ``?synchronous=normal`` on the URL
(``sqlite:///luminary.db?synchronous=normal``) commits without waiting for the
disk, many times faster where a flush is slow: still nothing lost when the
process dies, and the database is never corrupted, but the last transactions
before a power loss or an operating system crash may be rolled back
(`SQLite's documentation <https://www.sqlite.org/pragma.html#pragma_synchronous>`_).

**PostgreSQL** runs on psycopg 3 at READ COMMITTED; repositories lock the rows
they are about to change (``SELECT … FOR NO KEY UPDATE``). Read-only units of
work run in autocommit: at READ COMMITTED each statement reads its own snapshot
anyway, and BEGIN and ROLLBACK would cost two round trips. The pool pings a
connection before use only when it has been idle for a while (a server restart
then costs a failed ping, not a failed request) and hands out the most recently
used connection first, so that a busy server makes no round trip per request
for the check. psycopg prepares statements on the server from their first
repetition on a connection.

**Both** keep the connection of a unit of work, still checked out, for the
next one (:class:`KeptConnections`): a short read would otherwise spend
nearly a fifth of its instructions checking a connection out of SQLAlchemy's
pool and back in. At most the pool's size are kept, none in a transaction; one kept
``POSTGRES_PING_AFTER_IDLE_SECONDS`` or longer is pinged before use, as the pool
does; ``engine.dispose()`` closes them.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, NoSuchModuleError

from .availability import watch_sqlite_file
from .config import normalize_url
from .driver import execute_bare
from .errors import DatabaseError, redact_url
from .writelock import WriterLock, WriterLockTimeout

__all__ = [
    "READ_ONLY",
    "SQLITE_BUSY_TIMEOUT_SECONDS",
    "check_connection",
    "describe",
    "kept_connections",
    "make_engine",
    "sqlite_path",
    "write_lock",
]

#: How long a SQLite transaction waits for the write lock before giving up.
SQLITE_BUSY_TIMEOUT_SECONDS = 30
#: A pooled PostgreSQL connection idle at least this long is pinged before use.
POSTGRES_PING_AFTER_IDLE_SECONDS = 2.0
#: psycopg prepares a statement on the server once a connection has run it this many times.
POSTGRES_PREPARE_THRESHOLD = 1
_IDLE_SINCE = "luminary_idle_since"
#: The connection execution option marking a read-only transaction.
READ_ONLY = "luminary_read_only"

_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
#: The writers' lock file of each SQLite engine on a file.
_WRITERS: weakref.WeakKeyDictionary[Engine, WriterLock] = weakref.WeakKeyDictionary()
#: Where a pooled SQLite connection keeps the descriptor of the writers' lock file while it holds it.
_WRITER_FD = "luminary_writer_fd"
#: Where a pooled SQLite connection keeps its busy timeout, in seconds.
_BUSY_TIMEOUT = "luminary_busy_timeout"
#: The query parameter of a SQLite URL saying how a commit waits for the disk, and its values.
SQLITE_SYNCHRONOUS = "synchronous"
SQLITE_SYNCHRONOUS_LEVELS = ("full", "normal")


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """Build an engine for ``url``, configured as this module describes.

    No connection is made yet; call :func:`check_connection` to find out early
    whether the database can be reached.

    Args:
        url: A SQLAlchemy URL; plain ``postgres://`` URLs are accepted.
        **kwargs: Passed on to :func:`sqlalchemy.create_engine`, overriding the
            defaults chosen here (``pool_size``, ``echo`` …).

    Raises:
        DatabaseError: The URL is malformed or names a driver that is not installed.
    """
    parsed = make_url(normalize_url(url if isinstance(url, str) else url.render_as_string(False)))
    backend = parsed.get_backend_name()
    options: dict[str, Any] = {}
    synchronous = "full"
    if backend == "sqlite":
        synchronous, parsed = _synchronous(parsed)
        # ``timeout`` is the driver's name for SQLite's busy timeout. Pooled
        # connections move between threads, one thread at a time.
        options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False}
    elif backend == "postgresql":
        # LIFO: the connections in use stay few and warm, the others idle (and are pinged
        # before use, below) rather than taking turns.
        options.update(pool_size=10, max_overflow=10, pool_use_lifo=True)
        options["connect_args"] = {"connect_timeout": 10, "prepare_threshold": POSTGRES_PREPARE_THRESHOLD}
    options.update(kwargs)
    try:
        engine = create_engine(parsed, **options)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise DatabaseError(f"Cannot use the database {describe(parsed)}: {exc}") from None
    _keep_connections(engine)
    if backend == "sqlite":
        _configure_sqlite(engine, synchronous)
    elif backend == "postgresql":
        _ping_when_idle(engine)
        _times_in_utc(engine)
    return engine


def _times_in_utc(engine: Engine) -> None:
    """Each PostgreSQL connection's session time zone is UTC.

    psycopg then reads ``timestamptz`` values as datetimes in ``datetime.UTC``
    already, and ``UtcDateTime`` hands them on as they are, where a server in
    another zone (even ``Etc/UTC``) costs a conversion per value: a sixth of a
    feed page's time. Set at connect, not through ``options`` in the connection
    arguments, which would replace any ``options`` of the URL.
    """

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        try:
            dbapi_connection.execute("SET TIME ZONE 'UTC'")
        finally:
            dbapi_connection.autocommit = autocommit


def _synchronous(url: URL) -> tuple[str, URL]:
    """How a SQLite URL's commits wait for the disk (``full`` unless it says), and the URL without it.

    Raises:
        DatabaseError: The URL asks for another level, or says it twice.
    """
    given = url.query.get(SQLITE_SYNCHRONOUS)
    if given is None:
        return "full", url
    levels = " or ".join(SQLITE_SYNCHRONOUS_LEVELS)
    if not isinstance(given, str) or given.lower() not in SQLITE_SYNCHRONOUS_LEVELS:
        raise DatabaseError(
            f"Cannot use the database {describe(url)}: {SQLITE_SYNCHRONOUS} must be {levels}, not {given!r}"
        )
    return given.lower(), url.difference_update_query([SQLITE_SYNCHRONOUS])


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    path = sqlite_path(engine.url)
    watched = watch_sqlite_file(engine, path) if path is not None else None

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        if watched is not None:
            watched.opened()
        # Autocommit at the driver level: the driver emits no BEGIN or COMMIT of
        # its own, so the "begin" hook below is the only place a transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            # Said even for the default: a SQLite built with another default would not wait for the disk.
            cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
            cursor.execute("PRAGMA foreign_keys=ON")
            (busy_ms,) = cursor.execute("PRAGMA busy_timeout").fetchone()
            connection_record.info[_BUSY_TIMEOUT] = busy_ms / 1000
        finally:
            cursor.close()

    # Writers of other processes queue on a lock file (see luminary.sql.writelock), held
    # from BEGIN IMMEDIATE until its unit of work ends (KeptConnections.keep, or the pool's check-in).
    writers = WriterLock.beside(path) if path is not None else None

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        if connection.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
            # A read-only unit of work began on the driver's connection (driver.begin_bare):
            # SQLAlchemy's transaction, begun for a statement it runs itself, joins it.
            return
        if connection.get_execution_options().get(READ_ONLY):
            # A reader takes no write lock: in WAL mode it reads its snapshot
            # while a writer works, and never waits for one.
            execute_bare(connection, "BEGIN")
            return
        info = connection.connection.info
        if writers is not None and _WRITER_FD not in info:
            patience = info.get(_BUSY_TIMEOUT, SQLITE_BUSY_TIMEOUT_SECONDS)
            try:
                info[_WRITER_FD] = writers.acquire(timeout=patience)
            except WriterLockTimeout:
                # Another writer held the lock for the whole busy timeout: one last try,
                # without waiting again, so that the wait stays within the busy timeout.
                connection.exec_driver_sql("PRAGMA busy_timeout = 0")
                try:
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                finally:
                    connection.exec_driver_sql(f"PRAGMA busy_timeout = {round(patience * 1000)}")
                return
        execute_bare(connection, "BEGIN IMMEDIATE")

    if writers is not None:
        _WRITERS[engine] = writers

        @event.listens_for(engine, "checkin")
        def on_checkin(dbapi_connection: Any, connection_record: Any) -> None:
            fd = connection_record.info.pop(_WRITER_FD, None)
            if fd is not None:
                writers.release(fd)

    _WRITE_LOCKS[engine] = threading.Lock()


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only when it has been idle a while.

    A connection in steady use needs no check: a failure would show on its
    next statement anyway. One that sat in the pool may have been closed by a
    server restart or a network device meanwhile: it is pinged first, and
    replaced (the pool retries with a new connection) if the ping fails. Unlike
    ``pool_pre_ping``, this costs no round trip per request under load.
    """

    @event.listens_for(engine, "checkin")
    def on_checkin(dbapi_connection: Any, connection_record: Any) -> None:
        connection_record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def on_checkout(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
        since = connection_record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < POSTGRES_PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(f"the pooled connection did not answer a ping: {exc}") from exc


class KeptConnections:
    """Connections kept, checked out of the pool, from one unit of work to the next.

    Checking a connection out of SQLAlchemy's pool and back in (its
    ``Connection``, the pool's events and bookkeeping, the reset on return) cost
    109,486 instructions, nearly a fifth of the v1 total minutes' 591,091 on
    SQLite (callgrind). A unit of work takes a connection
    from here when one waits, and leaves it here when it ends with the
    connection as the pool would hand it out: no transaction open, on the
    driver either, no execution option of its own, not invalidated. A SQLite
    writer's hold on the writers' lock file, which the pool's check-in would
    end, ends here.

    - At most the pool's size are kept, the most recently used first (as the
      PostgreSQL pool, LIFO), so that the connections in use stay few and warm;
      a connection leaves only to serve, or when the engine is disposed, so that
      no more are open than units of work ran at once.
    - A PostgreSQL connection kept ``POSTGRES_PING_AFTER_IDLE_SECONDS`` or
      longer is pinged before use, as the pool pings one (``_ping_when_idle``):
      a server restart meanwhile costs no request.
    - ``engine.dispose()`` closes those kept; a forked process forgets its
      parent's without closing them (they are the parent's).
    - The pool counts the kept ones as checked out; :meth:`count` tells how many
      are (the pool gauges show them as idle).
    """

    def __init__(self, engine: Engine, limit: int) -> None:
        self._engine = weakref.ref(engine)
        self._limit = limit
        #: Whether a connection kept a while is pinged before use (PostgreSQL: see _ping_when_idle).
        self._pings = engine.dialect.name == "postgresql"
        self._lock = threading.Lock()
        #: (connection, when last used), the most recent last.
        self._kept: list[tuple[Connection, float]] = []

    def count(self) -> int:
        """How many connections are kept now."""
        return len(self._kept)

    def take(self) -> Connection | None:
        """The connection used last, if one is kept; else ``None`` (the caller checks one out of the pool).

        A PostgreSQL connection kept ``POSTGRES_PING_AFTER_IDLE_SECONDS`` or longer
        is pinged first, as the pool pings one idle that long; one that does not
        answer (a server restart meanwhile) is discarded, and ``None`` returned.
        """
        with self._lock:
            if not self._kept:
                return None
            connection, since = self._kept.pop()
        if self._pings and time.monotonic() - since >= POSTGRES_PING_AFTER_IDLE_SECONDS:
            try:
                dbapi_connection = connection.connection.dbapi_connection
                assert dbapi_connection is not None  # an invalidated connection is never kept
                connection.dialect.do_ping(dbapi_connection)
            except Exception:
                connection.invalidate()  # the pool opens a new one in its place
                connection.close()
                return None
        return connection

    def keep(self, connection: Connection) -> bool:
        """Keep ``connection`` for the next reader, if it is as the pool would hand it out.

        Returns whether it was kept; if not, the caller closes it.
        """
        engine = self._engine()
        if (
            engine is None
            or connection.closed
            or connection.invalidated
            or connection.in_transaction()
            or connection.get_execution_options() != engine.get_execution_options()
            or not _driver_idle(connection)
        ):
            return False
        info = connection.connection.info
        if _WRITER_FD in info:
            # Its transaction is over: the next writer of any process may go.
            fd = info.pop(_WRITER_FD)
            writers = _WRITERS.get(engine)
            if writers is not None and fd is not None:
                writers.release(fd)
        with self._lock:
            if len(self._kept) >= self._limit:
                return False
            self._kept.append((connection, time.monotonic()))
        return True

    def close(self) -> None:
        """Close every connection kept (``engine.dispose()``): a dropped database has none left open."""
        with self._lock:
            kept, self._kept = self._kept, []
        for connection, _ in kept:
            connection.invalidate()  # closes the driver's connection now, wherever its pool went
            connection.close()

    def forget(self) -> None:
        """Drop every connection kept without closing it: after a fork, they belong to the parent."""
        self._lock = threading.Lock()
        self._kept = []


_KEPT_CONNECTIONS: weakref.WeakKeyDictionary[Engine, KeptConnections] = weakref.WeakKeyDictionary()


def kept_connections(engine: Engine) -> KeptConnections | None:
    """The cache of reading connections of an engine made by :func:`make_engine` (with a
    pool of a fixed size), else ``None``."""
    return _KEPT_CONNECTIONS.get(engine)


def _keep_connections(engine: Engine) -> None:
    size = getattr(engine.pool, "size", None)
    if not callable(size) or size() < 1:
        return
    readers = KeptConnections(engine, size())
    _KEPT_CONNECTIONS[engine] = readers
    event.listen(engine, "engine_disposed", lambda _engine: readers.close())


def _forget_kept_connections() -> None:
    for readers in list(_KEPT_CONNECTIONS.values()):
        readers.forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_kept_connections)


def _driver_idle(connection: Connection) -> bool:
    """Whether the driver's connection has no transaction open (and is not in autocommit)."""
    dbapi_connection = connection.connection.dbapi_connection
    if dbapi_connection is None:
        return False
    if connection.dialect.name == "sqlite":
        return dbapi_connection.in_transaction is False
    if getattr(dbapi_connection, "autocommit", False):
        return False
    info = getattr(dbapi_connection, "info", None)
    # psycopg: TransactionStatus.IDLE is 0.
    return info is not None and int(info.transaction_status) == 0


def sqlite_path(url: URL) -> str | None:
    """The file a SQLite URL opens, or ``None`` for a database in memory."""
    database = url.database or ""
    if database.startswith("file:"):
        if url.query.get("mode") == "memory":
            return None
        database = database[len("file:") :]
    return None if database in ("", ":memory:") else database


def write_lock(engine: Engine) -> threading.Lock | None:
    """The lock that queues this process's SQLite writers, or ``None`` for other databases.

    SQLite lets one writer in at a time. Writers of this process wait on this
    lock and start the moment the previous one ends; writers of other processes
    queue on a lock file (:mod:`luminary.sql.writelock`) rather than SQLite's
    busy timeout, which polls with sleeps of up to 100 ms.
    """
    return _WRITE_LOCKS.get(engine)


def describe(url: str | URL) -> str:
    """The URL as it may be shown to people: without its password."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return redact_url(url)


def check_connection(engine: Engine) -> None:
    """Connect once and run ``SELECT 1``.

    Raises:
        DatabaseError: The database cannot be reached or refuses the connection;
            the message is one line naming the database without its password.
    """
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
        raise DatabaseError(f"Cannot connect to the database {describe(engine.url)}: {reason}") from None
