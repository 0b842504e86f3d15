"""The queue of SQLite writers across processes: a lock file beside the database.

SQLite lets one writer in at a time. A writer that finds the database locked
waits on the busy timeout, which sleeps and tries again, the sleeps growing to
100 ms: it does not wake when the lock is freed, and whoever tries at the right
moment wins, so under load a few writers wait very long. Writers of one process
queue on a lock of their own (:func:`luminary.sql.engine.write_lock`); writers
of several processes (``luminary serve --workers N``) queue here: each takes an
exclusive ``flock`` on ``<database>-writer.lock`` before ``BEGIN IMMEDIATE``
and lets go once its transaction is over (committed or rolled back), so the
kernel wakes a waiting writer the moment the previous one is done::

    worker 1: flock ── BEGIN IMMEDIATE … COMMIT ── unlock
    worker 2: flock (waits) ─────────────────────────┴── BEGIN IMMEDIATE … COMMIT ── unlock

The lock only orders Luminary's writers; SQLite's own lock still guards the
data, and writers that do not take this lock (the ``sqlite3`` shell, a
migration) still wait on the busy timeout. A process that dies lets go of the
lock with its file descriptors. A writer waits for the lock no longer than the
connection's busy timeout; past it, it asks SQLite once more without waiting,
and a database still locked is reported as it would be without this lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading

__all__ = ["WriterLock", "WriterLockTimeout"]

log = logging.getLogger(__name__)


class WriterLockTimeout(Exception):
    """The writers' lock was not had in time."""


class WriterLock:
    """An exclusive lock on the file ``path``, one open file per holder.

    Each :meth:`acquire` opens the file anew: ``flock`` locks belong to an open
    file, so two threads of one process exclude each other as two processes do.

    Args:
        path: The lock file; created (empty) when missing.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._warned = False

    @classmethod
    def beside(cls, database: str) -> WriterLock:
        """The lock of the SQLite database file ``database``: ``<database>-writer.lock``."""
        return cls(f"{database}-writer.lock")

    def acquire(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` seconds for the lock; return its holder's file descriptor, to
        :meth:`release`.

        Returns ``None`` when the lock file cannot be opened or locked (a
        read-only directory, say): the writer then waits on SQLite's busy
        timeout as it would without this lock. That is logged once.

        Raises:
            WriterLockTimeout: Another writer held the lock all that time.
        """
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            self._warn(exc)
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return self._wait(fd, timeout)
        except OSError as exc:
            os.close(fd)
            self._warn(exc)
            return None
        return fd

    def _wait(self, fd: int, timeout: float) -> int:
        """Wait in the kernel's queue (a blocking ``flock``, in a thread of its own, which has no
        timeout), and give up after ``timeout``: the lock is then let go as soon as it comes."""
        got = threading.Event()
        abandoned = threading.Event()
        errors: list[OSError] = []
        guard = threading.Lock()

        def wait() -> None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as exc:
                errors.append(exc)
            with guard:
                if abandoned.is_set():
                    os.close(fd)
                got.set()

        threading.Thread(target=wait, name="sqlite-writer-lock", daemon=True).start()
        got.wait(timeout)
        with guard:
            if not got.is_set():
                abandoned.set()
                raise WriterLockTimeout(f"{self.path} was held by another writer for {timeout:g} s")
        if errors:
            os.close(fd)
            raise WriterLockTimeout(f"{self.path} could not be locked: {errors[0].strerror or errors[0]}")
        return fd

    def release(self, fd: int) -> None:
        """Let the next writer in: closing the file ends its lock."""
        with contextlib.suppress(OSError):
            os.close(fd)

    def _warn(self, exc: OSError) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "cannot lock %s (%s): writers of other processes wait on SQLite's busy timeout instead",
                self.path,
                exc.strerror or exc,
            )
