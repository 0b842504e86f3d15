"""A database that cannot be used: told apart from a wrong request, said once, and recovered from.

Three things can make the database unusable while a server runs:

- **It is down or unreachable** (PostgreSQL restarting, the network gone, a
  disk full, a pool exhausted). The driver raises an operational error;
  :func:`unavailable` turns it into core's :class:`~luminary.core.errors.Unavailable`,
  which the HTTP API answers with 503 and ``Retry-After``. Each engine has an
  :class:`Outage` that logs the first failure, then one line a minute, then one
  when the database answers again — not a traceback per request.
- **Its tables are gone** (a PostgreSQL database dropped and created again):
  :class:`SchemaMissing`, an ``Unavailable`` too. A server that migrates at
  start may ask, with :func:`migrate_when_missing`, for the same to happen then.
- **Its SQLite file was removed or replaced** under the server. Open connections
  keep writing to the old file, which nothing will ever read again: every
  acknowledged write would be lost at the next start. :class:`SqliteFile`
  notices that the file at the path is no longer the one first opened, and
  write transactions are refused until a restart opens the new one.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from luminary.core.errors import Unavailable

__all__ = [
    "MIN_FREE_BYTES",
    "Outage",
    "SchemaMissing",
    "SqliteFile",
    "check_ready",
    "migrate_when_missing",
    "outage_of",
    "unavailable",
]

log = logging.getLogger("luminary.sql")

#: A SQLite database is not ready for writes when its disk has less room than this.
MIN_FREE_BYTES = 1024 * 1024
#: How long the readiness probe waits for SQLite's write lock.
PROBE_TIMEOUT_SECONDS = 5
#: How long clients are told to wait before trying again.
RETRY_AFTER_SECONDS = 5
#: PostgreSQL's "undefined table".
_UNDEFINED_TABLE = "42P01"


class SchemaMissing(Unavailable):
    """The database answers, but Luminary's tables are not there."""


def unavailable(exc: BaseException) -> Unavailable | None:
    """The :class:`Unavailable` a driver or pool error means, or ``None`` if it means something else."""
    if isinstance(exc, PoolTimeout):
        return Unavailable(
            "The database has no free connection; try again shortly.", retry_after=RETRY_AFTER_SECONDS
        )
    if not isinstance(exc, DBAPIError):
        return None
    reason = _first_line(exc)
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate == _UNDEFINED_TABLE or (
        isinstance(exc, OperationalError) and reason.startswith("no such table")
    ):
        return SchemaMissing(
            f"The database has no Luminary tables ({reason}).", retry_after=RETRY_AFTER_SECONDS
        )
    if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
        return Unavailable(f"The database is unavailable ({reason}).", retry_after=RETRY_AFTER_SECONDS)
    if isinstance(exc, ProgrammingError) and sqlstate is None and "closed" in reason:
        return Unavailable(f"The database is unavailable ({reason}).", retry_after=RETRY_AFTER_SECONDS)
    return None


def _first_line(exc: DBAPIError) -> str:
    text_ = str(exc.orig).strip()
    return text_.splitlines()[0] if text_ else type(exc.orig).__name__


class Outage:
    """The state of one engine's database as requests find it, logged once per ``interval``.

    Requests report each failure (:meth:`failed`) and each transaction that
    began well (:meth:`answered`). The log gets the first failure, one line per
    interval while it lasts (with how many requests failed meanwhile), and one
    line when it is over.
    """

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._since: float | None = None
        self._logged_at = 0.0
        self._failures = 0
        self._migrate: Callable[[], None] | None = None
        self._migrated_at = 0.0

    @property
    def ongoing(self) -> bool:
        """Whether the last transaction failed for want of a database."""
        return self._since is not None

    def failed(self, error: Unavailable) -> None:
        """A request found the database unusable."""
        now = time.monotonic()
        with self._lock:
            self._failures += 1
            if self._since is not None and now - self._logged_at < self.interval:
                return
            first = self._since is None
            if first:
                self._since = now
            failures, self._failures, self._logged_at = self._failures, 0, now
        if first:
            log.error("%s Requests are answered 503 until it is back.", error.message)
        else:
            log.error(
                "%s Still unavailable: %d requests answered 503 since the last report.",
                error.message,
                failures,
            )
        if isinstance(error, SchemaMissing):
            self._restore_schema()

    def answered(self) -> None:
        """A transaction began: if an outage was logged, log that it is over."""
        if self._since is None:  # the common case, without taking the lock
            return
        with self._lock:
            if self._since is None:
                return
            lasted, failures = time.monotonic() - self._since, self._failures
            self._since, self._failures = None, 0
        log.warning(
            "The database answers again, after %.0f s (%d more requests answered 503).", lasted, failures
        )

    def _restore_schema(self) -> None:
        with self._lock:
            migrate = self._migrate
            now = time.monotonic()
            if migrate is None or now - self._migrated_at < RETRY_AFTER_SECONDS:
                return
            self._migrated_at = now
        try:
            migrate()
        except Exception as exc:  # the next failure tries again; the outage stays logged
            log.error("Creating the missing tables failed: %s", exc)
        else:
            log.warning("The database had no Luminary tables: the migrations created them.")


_OUTAGES: weakref.WeakKeyDictionary[Engine, Outage] = weakref.WeakKeyDictionary()
_OUTAGES_LOCK = threading.Lock()


def outage_of(engine: Engine) -> Outage:
    """The :class:`Outage` of ``engine``, made on first use."""
    outage = _OUTAGES.get(engine)
    if outage is None:
        with _OUTAGES_LOCK:
            outage = _OUTAGES.setdefault(engine, Outage())
    return outage


def migrate_when_missing(engine: Engine, then: Callable[[], None] | None = None) -> None:
    """When a request finds the tables missing, run the migrations (then ``then``), at most every few seconds.

    For a server that migrates its database at start: a database dropped and
    created again gets its tables back without a restart, as a restart would
    give them. Without this call a missing schema stays a 503 until someone
    migrates. A SQLite file replaced under the server is refused before that
    (:class:`SqliteFile`), so this never writes into a file nobody opened.
    """
    from .migrate import upgrade

    def migrate() -> None:
        upgrade(engine)
        if then is not None:
            then()

    outage_of(engine)._migrate = migrate


class SqliteFile:
    """The file a SQLite engine opened, checked to still be the file at its path.

    Args:
        path: The database's path as the URL gives it.
    """

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self._identity: tuple[int, int] | None = None

    def _current(self) -> tuple[int, int] | None:
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (found.st_dev, found.st_ino)

    def opened(self) -> None:
        """A connection opened the path: remember the file, or refuse if it is another one."""
        current = self._current()
        if self._identity is None:
            self._identity = current
        elif current != self._identity:
            raise self._replaced(current)

    def check(self) -> None:
        """Raise :class:`Unavailable` unless the path still holds the file first opened.

        Before any connection, the file now at the path is the one to keep.
        """
        current = self._current()
        if self._identity is None:
            self._identity = current
            return
        if current != self._identity:
            raise self._replaced(current)

    def _replaced(self, current: tuple[int, int] | None) -> Unavailable:
        what = "was removed" if current is None else "was replaced by another file"
        return Unavailable(
            f"The database file {self.path} {what} while the server ran: writes are refused, "
            "since they would go to the old file and be lost. "
            "Restart the server to use the file at that path.",
            retry_after=60,
        )

    def probe(self) -> None:
        """Commit a write that changes nothing, through a connection of its own.

        A new connection, because the server's pooled ones were opened when the
        file could be written and keep their rights: a file made read-only
        since then (or a directory where the write-ahead log cannot be made) is
        found only by opening it again, as the next connection will.
        """
        try:
            connection = sqlite3.connect(
                f"file:{quote(str(self.path))}?mode=rw",
                uri=True,
                timeout=PROBE_TIMEOUT_SECONDS,
                isolation_level=None,
            )
        except sqlite3.Error as exc:
            raise Unavailable(f"The database file {self.path} cannot be opened ({exc}).") from None
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("UPDATE alembic_version SET version_num = version_num")
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            raise Unavailable(f"The database file {self.path} cannot be written ({exc}).") from None
        finally:
            connection.close()

    def free_bytes(self) -> int:
        """Room left on the file's disk for this process."""
        return shutil.disk_usage(self.path.parent if self.path.parent != Path() else Path.cwd()).free


_FILES: weakref.WeakKeyDictionary[Engine, SqliteFile] = weakref.WeakKeyDictionary()


def watch_sqlite_file(engine: Engine, path: str) -> SqliteFile:
    """Register the file of a SQLite ``engine`` (see :class:`SqliteFile`)."""
    watched = _FILES[engine] = SqliteFile(path)
    return watched


def sqlite_file(engine: Engine) -> SqliteFile | None:
    """The file a SQLite engine watches, or ``None`` (another database, or SQLite in memory)."""
    return _FILES.get(engine)


def check_ready(engine: Engine) -> None:
    """Raise :class:`Unavailable` unless the database can be read *and written* now.

    Commits a write that changes nothing (the migration table's row, set to
    itself): a read-only file or a database in read-only mode fails it. For a
    SQLite file, it does so through a new connection (:meth:`SqliteFile.probe`),
    and also checks that the file is still the one at its path and that its
    disk has at least :data:`MIN_FREE_BYTES` free — a write can succeed on a
    full disk while the log has room, and fail on the next one.
    """
    outage = outage_of(engine)
    try:
        _check_ready(engine)
    except Unavailable as error:
        outage.failed(error)
        raise
    outage.answered()


def _check_ready(engine: Engine) -> None:
    watched = sqlite_file(engine)
    if watched is not None:
        watched.check()
        watched.probe()
        if (free := watched.free_bytes()) < MIN_FREE_BYTES:
            raise Unavailable(
                f"The disk of {watched.path} is full ({free} bytes free): writes would fail.",
                retry_after=60,
            )
        return
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
    except (DBAPIError, PoolTimeout) as exc:
        error = unavailable(exc)
        if error is None:
            error = Unavailable(f"The database refuses writes ({exc}).", retry_after=RETRY_AFTER_SECONDS)
        raise error from None
