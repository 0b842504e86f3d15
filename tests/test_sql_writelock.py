"""The writers' lock file of SQLite: held from BEGIN IMMEDIATE to the end of a write transaction."""

from __future__ import annotations

import fcntl
import os
import threading
import time

import pytest

pytest.importorskip("luminary.sql", reason="luminary-sql is not installed")

from luminary.sql import SqlAlchemyUnitOfWork, make_engine, upgrade
from luminary.sql.writelock import WriterLock, WriterLockTimeout


def taken(path: str) -> bool:
    """Whether another open file holds the lock on ``path``."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_write_transaction_holds_the_lock_file_until_it_ends_and_a_read_never_takes_it(tmp_path):
    database = tmp_path / "lock.db"
    upgrade(f"sqlite:///{database}")
    engine = make_engine(f"sqlite:///{database}")
    lock_file = f"{database}-writer.lock"
    try:
        with SqlAlchemyUnitOfWork(engine).reading() as uow:
            uow.constellations.count()
            assert not taken(lock_file)
        with SqlAlchemyUnitOfWork(engine) as uow:
            assert taken(lock_file)
            uow.commit()
            uow.constellations.count()  # a later statement begins anew: still held
            assert taken(lock_file)
        assert not taken(lock_file)
        with pytest.raises(RuntimeError), SqlAlchemyUnitOfWork(engine):
            raise RuntimeError("rolled back")
        assert not taken(lock_file)
    finally:
        engine.dispose()


def test_holders_queue_and_the_next_one_starts_when_the_lock_is_let_go(tmp_path):
    lock = WriterLock.beside(str(tmp_path / "queue.db"))
    first = lock.acquire(timeout=5)
    assert first is not None
    got: list[float] = []

    def second() -> None:
        fd = lock.acquire(timeout=5)
        got.append(time.monotonic())
        assert fd is not None
        lock.release(fd)

    waiter = threading.Thread(target=second)
    waiter.start()
    time.sleep(0.2)
    assert not got  # a thread of the same process waits as another process would
    lock.release(first)
    waiter.join(timeout=5)
    assert got


def test_a_lock_file_that_cannot_be_made_leaves_writers_to_the_busy_timeout(tmp_path, caplog):
    lock = WriterLock(str(tmp_path / "missing" / "db-writer.lock"))
    assert lock.acquire(timeout=1) is None
    assert lock.acquire(timeout=1) is None
    assert len([r for r in caplog.records if "cannot lock" in r.message]) == 1


def test_a_writer_waits_for_the_lock_no_longer_than_its_timeout(tmp_path):
    lock = WriterLock.beside(str(tmp_path / "patience.db"))
    held = lock.acquire(timeout=1)
    assert held is not None
    started = time.monotonic()
    with pytest.raises(WriterLockTimeout):
        lock.acquire(timeout=0.2)
    assert 0.2 <= time.monotonic() - started < 2
    lock.release(held)
    # The abandoned wait let go of the lock as soon as it had it: the next writer gets it at once.
    again = lock.acquire(timeout=1)
    assert again is not None
    lock.release(again)
