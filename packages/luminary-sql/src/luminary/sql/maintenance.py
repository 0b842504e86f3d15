"""Backing up a SQLite database while it is in use, and checking its integrity.

**Backups** (:func:`backup_database`) use SQLite's online backup API, which
copies the database page by page through SQLite itself, so the copy holds what
was committed, including what is still only in the write-ahead log. The copy
goes in steps of :data:`PAGES_PER_STEP` pages. A Luminary database is in WAL
mode: there the backup first opens a read transaction and copies that one
snapshot across all its steps, so writers go on committing meanwhile (into the
log) and the copy is the database as it was when the backup began::

    backup:  BEGIN ── read ──┬─ step ── step ── step ── … ── step ── COMMIT
    writer:      COMMIT 17   │   COMMIT 18     COMMIT 19   (not in the copy)
                 (in the copy: committed before the snapshot)

Without that snapshot SQLite would restart the copy whenever another connection
wrote between two steps, and a busy server could keep it from ever finishing.
The write-ahead log cannot be checkpointed past the snapshot while the backup
runs; it is afterwards. A database in another journal mode (never opened by
Luminary, which turns WAL on) is copied the same way without a snapshot: each
step holds SQLite's shared lock for its pages only, and a write by another
connection restarts the copy.

The copy is written to a temporary file beside the destination, then renamed
to it: an interrupted backup never leaves half a file under the destination's
name. It is readable by its owner only (it holds password and token hashes).

**Checks** (:func:`check_database`) run ``PRAGMA integrity_check`` (the
structure of every page, index and constraint) and ``PRAGMA
foreign_key_check`` (rows referring to rows that do not exist) and report what
they find; a file too damaged to read is reported as a problem too.

Both work on SQLite files only. For PostgreSQL they raise :class:`MaintenanceError`
naming the tools to use instead: ``pg_dump`` for backups, ``pg_amcheck`` for checks.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import URL, make_url

from .config import normalize_url
from .engine import SQLITE_BUSY_TIMEOUT_SECONDS, describe, sqlite_path
from .errors import DatabaseError

__all__ = [
    "CHECKS",
    "INTEGRITY_CHECK_LIMIT",
    "PAGES_PER_STEP",
    "Backup",
    "CheckReport",
    "DestinationExists",
    "MaintenanceError",
    "backup_database",
    "check_database",
]

#: Pages copied per step of a backup (4 MiB with SQLite's default 4 KiB pages).
PAGES_PER_STEP = 1024
#: What :func:`check_database` runs, in order.
CHECKS = ("integrity_check", "foreign_key_check")
#: The most problems ``integrity_check`` reports before it stops looking.
INTEGRITY_CHECK_LIMIT = 100

# The primary result codes that mean the file itself is damaged, not that it cannot be reached.
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
# What SQLite puts before the first problem of a database's integrity_check.
_INTEGRITY_HEADER = "*** in database main ***"


class MaintenanceError(DatabaseError):
    """A backup or a check could not be made; nothing was written.

    Not raised for the problems a check finds: those are its report.
    """


class DestinationExists(MaintenanceError):
    """The backup's destination already exists and replacing it was not asked for.

    Attributes:
        path: The destination.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} already exists: nothing was copied")
        self.path = path


@dataclass(frozen=True)
class Backup:
    """A backup made by :func:`backup_database`.

    Attributes:
        source: The database file copied (absolute).
        destination: The copy (absolute).
        pages: Pages in the copy.
        page_size: Bytes per page.
        size: Bytes of the copy on disk.
    """

    source: Path
    destination: Path
    pages: int
    page_size: int
    size: int


@dataclass(frozen=True)
class CheckReport:
    """What :func:`check_database` found.

    Attributes:
        path: The database file checked (absolute).
        checks: The pragmas run (:data:`CHECKS`).
        pages: Pages in the file (0 when it could not be read).
        problems: One line per problem, each starting with the check that found it;
            empty when the database is sound.
    """

    path: Path
    checks: tuple[str, ...]
    pages: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether no check found a problem."""
        return not self.problems


def backup_database(
    url: str,
    destination: str | os.PathLike[str],
    *,
    force: bool = False,
    pages_per_step: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Backup:
    """Copy the SQLite database of ``url`` to ``destination``, consistently, while others use it.

    See the module's documentation for how the copy stays consistent without
    holding writers out.

    Args:
        url: The database's URL (``sqlite:///…``); it must name an existing file.
        destination: The file to write; its directory must exist.
        force: Replace ``destination`` if it exists (else :class:`DestinationExists`).
        pages_per_step: Pages copied per step (default :data:`PAGES_PER_STEP`).
        progress: Called after each step with the pages remaining and the total.

    Returns:
        What was copied where.

    Raises:
        DestinationExists: ``destination`` exists and ``force`` is not set.
        MaintenanceError: The URL is not a SQLite file (PostgreSQL: the message
            says to use ``pg_dump``), the file does not exist, the destination
            cannot be written, or SQLite failed; nothing was left at ``destination``.
    """
    source = _sqlite_file(url, "back up", _postgres_backup)
    target = Path(os.path.abspath(destination))
    if target.is_dir():
        raise MaintenanceError(f"{target} is a directory: name the backup's file")
    if not target.parent.is_dir():
        raise MaintenanceError(f"Cannot write the backup {target}: its directory does not exist")
    if target.exists():
        if target.samefile(source):
            raise MaintenanceError(f"{target} is the database itself: back it up to another file")
        if not force:
            raise DestinationExists(target)
    step = PAGES_PER_STEP if pages_per_step is None else pages_per_step
    with _partial_file(target) as partial:
        try:
            with (
                contextlib.closing(_connect(source)) as connection,
                contextlib.closing(sqlite3.connect(partial, isolation_level=None)) as copy,
            ):
                with _snapshot(connection):
                    connection.backup(copy, pages=step, progress=_reporter(progress))
                pages = copy.execute("PRAGMA page_count").fetchone()[0]
                page_size = copy.execute("PRAGMA page_size").fetchone()[0]
        except sqlite3.Error as exc:
            raise MaintenanceError(f"Cannot back up {source}: {exc}") from None
        _move_into_place(partial, target, force=force)
    return Backup(source, target, pages, page_size, target.stat().st_size)


def check_database(url: str) -> CheckReport:
    """Run SQLite's integrity and foreign key checks on the database of ``url``.

    The checks read one snapshot of the database and do not hold writers out;
    they read every page, so they take a while on a large file.

    Args:
        url: The database's URL (``sqlite:///…``); it must name an existing file.

    Returns:
        The checks run and the problems they found, if any.

    Raises:
        MaintenanceError: The URL is not a SQLite file (PostgreSQL: the message
            says what to use instead), the file does not exist or cannot be opened.
    """
    path = _sqlite_file(url, "check", _postgres_check)
    problems: list[str] = []
    pages = 0
    check = CHECKS[0]
    try:
        with contextlib.closing(_connect(path)) as connection:
            try:
                pages = connection.execute("PRAGMA page_count").fetchone()[0]
                problems.extend(_integrity_problems(connection))
                check = CHECKS[1]
                problems.extend(_foreign_key_problems(connection))
            except sqlite3.DatabaseError as exc:
                if not _is_damage(exc):
                    raise
                problems.append(f"{check}: could not finish: {exc}")
    except sqlite3.Error as exc:
        raise MaintenanceError(f"Cannot check {path}: {exc}") from None
    return CheckReport(path, CHECKS, pages, tuple(problems))


def _integrity_problems(connection: sqlite3.Connection) -> list[str]:
    # One row per problem, or (SQLite before 3.43) one row of them all, a line each.
    rows = connection.execute(f"PRAGMA integrity_check({INTEGRITY_CHECK_LIMIT})").fetchall()
    found = [line for (text,) in rows for line in str(text).splitlines()]
    problems = [f"integrity_check: {line}" for line in found if line not in ("ok", _INTEGRITY_HEADER)]
    if len(problems) >= INTEGRITY_CHECK_LIMIT:
        problems.append(f"integrity_check: stopped looking after {INTEGRITY_CHECK_LIMIT} problems")
    return problems


def _foreign_key_problems(connection: sqlite3.Connection) -> list[str]:
    problems = []
    for table, rowid, parent, _ in connection.execute("PRAGMA foreign_key_check"):
        row = f"{table} row {rowid}" if rowid is not None else f"a row of {table}"
        problems.append(f"foreign_key_check: {row} refers to a {parent} row that does not exist")
    return problems


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    """Whether SQLite failed because the file is damaged, rather than out of reach."""
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def _sqlite_file(url: str, action: str, postgres: Callable[[URL], str]) -> Path:
    """The existing file a SQLite URL names, or the error saying why there is none."""
    parsed = make_url(normalize_url(url))
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        raise MaintenanceError(postgres(parsed))
    if backend != "sqlite":
        raise MaintenanceError(f"Cannot {action} {describe(parsed)}: only SQLite files are handled here")
    path = sqlite_path(parsed)
    if path is None:
        raise MaintenanceError(f"Cannot {action} {describe(parsed)}: it is a database in memory, not a file")
    found = Path(os.path.abspath(path))
    if not found.exists():
        raise MaintenanceError(f"The database file {found} does not exist: nothing to {action}")
    if not found.is_file():
        raise MaintenanceError(f"Cannot {action} {found}: it is not a file")
    return found


def _postgres_tool_arguments(url: URL) -> str:
    """The connection options of a PostgreSQL command-line tool for ``url``, without its password."""
    options = [
        f"--{name}={value}"
        for name, value in (("host", url.host), ("port", url.port), ("username", url.username))
        if value
    ]
    return " ".join(shlex.quote(part) for part in [*options, url.database or "postgres"])


def _postgres_backup(url: URL) -> str:
    return (
        "PostgreSQL databases are backed up with pg_dump, which takes a consistent copy while servers "
        f"run: pg_dump --format=custom --file=luminary.dump {_postgres_tool_arguments(url)} "
        "(restored with pg_restore); this backup copies SQLite files only"
    )


def _postgres_check(url: URL) -> str:
    return (
        "PostgreSQL databases are checked with pg_amcheck (PostgreSQL 14 or newer; it uses the amcheck "
        "extension, which --install-missing creates): pg_amcheck --install-missing --heapallindexed "
        f"{_postgres_tool_arguments(url)}; this check reads SQLite files only"
    )


def _connect(path: Path) -> sqlite3.Connection:
    # mode=rw never creates a missing file (and reads a write-protected one read-only).
    # The driver's own transaction handling is off: transactions are begun here, explicitly.
    return sqlite3.connect(
        f"file:{quote(str(path))}?mode=rw",
        uri=True,
        timeout=SQLITE_BUSY_TIMEOUT_SECONDS,
        isolation_level=None,
    )


@contextlib.contextmanager
def _snapshot(connection: sqlite3.Connection) -> Iterator[None]:
    """In WAL mode, hold one read transaction (one snapshot) for what runs inside."""
    (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
    if str(mode).lower() != "wal":
        yield
        return
    connection.execute("BEGIN")
    connection.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot is taken here
    try:
        yield
    finally:
        connection.execute("ROLLBACK")


def _reporter(progress: Callable[[int, int], None] | None) -> Callable[[int, int, int], None] | None:
    if progress is None:
        return None

    def report(status: int, remaining: int, total: int) -> None:
        progress(remaining, total)

    return report


@contextlib.contextmanager
def _partial_file(target: Path) -> Iterator[str]:
    """A new empty file beside ``target``, removed with SQLite's own files unless renamed meanwhile."""
    try:
        fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    except OSError as exc:
        raise MaintenanceError(f"Cannot write the backup beside {target}: {exc}") from None
    os.close(fd)
    try:
        yield partial
    finally:
        for leftover in (partial, f"{partial}-journal", f"{partial}-wal", f"{partial}-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)


def _move_into_place(partial: str, target: Path, *, force: bool) -> None:
    """Rename the finished copy to ``target``; without ``force``, never over a file made meanwhile."""
    try:
        if force:
            os.replace(partial, target)
        else:
            try:
                os.link(partial, target)  # fails if target exists, however recently it appeared
            except FileExistsError:
                raise DestinationExists(target) from None
            except OSError:  # no hard links on this file system
                if target.exists():
                    raise DestinationExists(target) from None
                os.replace(partial, target)
    except OSError as exc:
        raise MaintenanceError(f"Cannot write the backup {target}: {exc}") from None
    _sync_directory(target.parent)


def _sync_directory(directory: Path) -> None:
    """Make the rename durable (where the platform allows syncing a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
