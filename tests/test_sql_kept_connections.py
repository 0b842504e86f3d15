"""Connections kept between units of work (luminary.sql.engine.KeptConnections): the next unit of
work gets one as the pool would hand it out, a SQLite writer's lock ends with its unit of work, and
nothing outlives its engine, its idle limit or a fork."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import event

from forked import told_by_a_forked_child
from luminary.core import PageRequest, Unavailable, User
from luminary.sql import SqlAlchemyUnitOfWork
from luminary.sql import engine as engine_module
from luminary.sql.engine import kept_connections, make_engine
from luminary.sql.writelock import WriterLock
from sql_fixtures import SQL_BACKENDS, sql_engine, terminate_backend


@pytest.fixture(params=SQL_BACKENDS)
def engine(request):
    for shared in sql_engine(request.param, request):
        # An engine of its own: PostgreSQL's run engine serves every test, and some dispose of theirs.
        engine = make_engine(shared.url)
        try:
            yield engine
        finally:
            engine.dispose()


def checkouts(engine) -> list[object]:
    """The driver connections the pool hands out from now on, one entry per checkout."""
    seen: list[object] = []
    event.listen(engine, "checkout", lambda dbapi, record, proxy: seen.append(dbapi))
    return seen


def read(engine) -> tuple[int, object]:
    """Count the users in a read-only unit of work; the count and the driver connection it used."""
    uow = SqlAlchemyUnitOfWork(engine)
    with uow.reading():
        count = len(uow.users.list_page(PageRequest(limit=100)))
        dbapi = uow._connection.connection.dbapi_connection  # type: ignore[union-attr]
    return count, dbapi


def write(engine, name: str) -> None:
    uow = SqlAlchemyUnitOfWork(engine)
    with uow:
        uow.users.add(User(display_name=name, created_at=datetime.now(UTC)))
        uow.commit()


def test_the_next_reader_gets_the_last_reader_s_connection_without_the_pool(engine):
    readers = kept_connections(engine)
    assert readers is not None
    _, first = read(engine)
    assert readers.count() == 1
    seen = checkouts(engine)
    for _ in range(3):
        count, again = read(engine)
        assert (count, again) == (0, first)
    assert seen == []
    assert readers.count() == 1


def test_writers_take_and_leave_it_too_and_readers_see_what_they_committed(engine):
    _, first = read(engine)
    seen = checkouts(engine)
    write(engine, "Ada")
    assert read(engine) == (1, first)
    write(engine, "Grace")
    assert read(engine) == (2, first)
    assert seen == []
    assert kept_connections(engine).count() == 1


def test_a_sqlite_writer_s_kept_connection_lets_other_processes_writers_in(engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("the writers' lock file is SQLite's")
    write(engine, "Ada")
    assert kept_connections(engine).count() == 1
    other = WriterLock.beside(engine.url.database)  # as another process would take it
    fd = other.acquire(timeout=0.5)
    assert fd is not None
    other.release(fd)


def test_units_of_work_at_once_keep_at_most_the_pool_s_size(engine):
    readers = kept_connections(engine)
    size = engine.pool.size()
    units = [SqlAlchemyUnitOfWork(engine) for _ in range(size + 2)]
    for uow in units:
        uow.reading().__enter__()
    for uow in units:
        uow.__exit__(None, None, None)
    assert readers.count() == size
    assert engine.pool.checkedout() == size  # the others went back to the pool


def pinging(engine, monkeypatch) -> list[object]:
    """Every connection kept is pinged before use from now on; the driver connections pinged."""
    monkeypatch.setattr(engine_module, "POSTGRES_PING_AFTER_IDLE_SECONDS", 0.0)
    pings: list[object] = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda dbapi: pings.append(dbapi) or ping(dbapi))
    return pings


def test_a_postgres_connection_kept_a_while_is_pinged_and_serves_without_the_pool(engine, monkeypatch):
    pings = pinging(engine, monkeypatch)
    _, first = read(engine)
    pings.clear()  # the pool may have pinged the one it handed out first
    seen = checkouts(engine)
    assert read(engine) == (0, first)
    assert seen == []  # no more connections than units of work at once
    assert pings == ([first] if engine.dialect.name == "postgresql" else [])


def test_disposing_the_engine_closes_the_kept_connections(engine):
    _, dbapi = read(engine)
    assert kept_connections(engine).count() == 1
    engine.dispose()
    assert kept_connections(engine).count() == 0
    with pytest.raises(engine.dialect.loaded_dbapi.Error):  # closed
        dbapi.cursor().execute("SELECT 1")
    assert read(engine)[0] == 0  # a new pool serves the next reader


def test_a_connection_not_as_the_pool_hands_them_out_is_not_kept(engine):
    readers = kept_connections(engine)
    kept = readers.count()
    in_transaction = engine.connect()
    in_transaction.begin()
    optioned = engine.connect().execution_options(isolation_level="SERIALIZABLE")
    try:
        assert readers.keep(in_transaction) is False
        assert readers.keep(optioned) is False
    finally:
        in_transaction.close()
        optioned.close()
    assert readers.count() == kept


def test_a_lost_connection_is_not_kept(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("a connection is lost to a server")
    _, dbapi = read(engine)
    terminate_backend(engine, dbapi.info.backend_pid)
    with pytest.raises(Unavailable):  # used at once: no ping, as the pool would not ping it either
        read(engine)
    assert kept_connections(engine).count() == 0
    assert read(engine)[0] == 0


def test_a_kept_connection_lost_a_while_ago_fails_its_ping_not_the_request(engine, monkeypatch):
    if engine.dialect.name != "postgresql":
        pytest.skip("a connection is lost to a server")
    pings = pinging(engine, monkeypatch)
    _, dbapi = read(engine)
    terminate_backend(engine, dbapi.info.backend_pid)
    pings.clear()
    count, other = read(engine)
    assert (count, pings[0]) == (0, dbapi)
    assert other is not dbapi
    assert kept_connections(engine).count() == 1


def test_a_forked_process_does_not_use_its_parent_s_kept_connections(engine):
    _, dbapi = read(engine)
    assert told_by_a_forked_child(lambda: str(kept_connections(engine).count())) == "0"
    assert read(engine) == (0, dbapi)  # the parent's is still good


def test_a_sql_rate_limiter_draws_on_connections_of_its_own(engine):
    """The units of work keep their connection, the limiter's come from its own pool (the app's
    is not checked out of at all), and disposing the app's engine closes the limiter's too."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the SQL rate limiter counts in PostgreSQL")
    from luminary.sql.rate_limits import SqlRateLimitCounter

    _, dbapi = read(engine)
    counter = SqlRateLimitCounter(engine)
    seen = checkouts(engine)
    now = time.time()
    window_end = int(now) + 60
    assert counter.take(f"read:test:{time.time_ns()}", window_end, 4, 10, now) == (4, 4)
    assert read(engine) == (0, dbapi)
    assert read(engine) == (0, dbapi)
    assert seen == []
    assert kept_connections(engine).count() == 1
    own_pool = counter._engine.pool
    assert own_pool is not engine.pool
    assert own_pool.checkedin() == 1
    engine.dispose()
    assert counter._engine.pool.checkedin() == 0
    assert kept_connections(engine).count() == 0
