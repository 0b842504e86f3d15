"""What only the SQL implementation does: engine setup, time zones, integrity, locks."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from functools import partial

import attrs
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError

from luminary.core import (
    Attempt,
    Conflict,
    Constellation,
    PageRequest,
    Session,
    SessionStatus,
    Unavailable,
    User,
)
from luminary.sql import DatabaseError, SqlAlchemyUnitOfWork, make_engine, upgrade
from luminary.sql.tables import sessions
from sql_fixtures import SQL_BACKENDS, sql_engine, sqlite_database, terminate_backend

T0 = datetime(2025, 12, 1, 10, 30, tzinfo=UTC)


@pytest.fixture(params=SQL_BACKENDS)
def engine(request):
    yield from sql_engine(request.param, request)


@pytest.fixture
def uow_factory(engine):
    return partial(SqlAlchemyUnitOfWork, engine)


@pytest.fixture
def postgres_engine(request):
    yield from sql_engine("postgres", request)


def seed(uow_factory):
    """A user with an attempt that is their current one, and a session of it."""
    with uow_factory() as uow:
        user = uow.users.add(User(display_name="Ada", created_at=T0))
        lyra = uow.constellations.add(Constellation(name="Lyra", weight=5, created_at=T0))
        attempt = uow.attempts.add(Attempt(user_id=user.id, constellation_id=lyra.id, created_at=T0))
        user = attrs.evolve(user, current_attempt_id=attempt.id)
        uow.users.update(user)
        session = uow.sessions.add(
            Session(
                title="Read",
                user_id=user.id,
                constellation_attempt_id=attempt.id,
                created_at=T0,
                updated_at=T0,
            )
        )
        uow.commit()
    return user, lyra, attempt, session


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(request):
    engine = make_engine(f"sqlite:///{sqlite_database(request)}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
            # FULL (2): a commit waits for the disk.
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    finally:
        engine.dispose()


@pytest.mark.parametrize("given", ["normal", "NORMAL", "full"])
def test_a_sqlite_url_says_how_commits_wait_for_the_disk(request, given):
    path = sqlite_database(request)
    upgrade(f"sqlite:///{path}?synchronous={given}")
    engine = make_engine(f"sqlite:///{path}?synchronous={given}")
    try:
        assert engine.url.query == {}  # the driver is not given it
        with SqlAlchemyUnitOfWork(engine) as uow:
            # Every connection of the pool, the write's included: NORMAL is 1, FULL 2.
            assert uow._connection is not None
            level = uow._connection.exec_driver_sql("PRAGMA synchronous").scalar()
            assert level == {"normal": 1, "full": 2}[given.lower()]
            uow.users.add(User(display_name="Ada", created_at=T0))
            uow.commit()
        with SqlAlchemyUnitOfWork(engine).reading() as uow:
            assert [u.display_name for u in uow.users.list_page(PageRequest(limit=5))] == ["Ada"]
    finally:
        engine.dispose()


@pytest.mark.parametrize("given", ["off", "extra", "2"])
def test_a_sqlite_url_asking_for_another_synchronous_level_is_refused(given):
    with pytest.raises(DatabaseError, match="synchronous must be full or normal"):
        make_engine(f"sqlite:///luminary.db?synchronous={given}")


def test_sqlite_transactions_take_the_write_lock_when_they_begin(request):
    path = sqlite_database(request)
    first = make_engine(f"sqlite:///{path}")
    impatient = make_engine(f"sqlite:///{path}", connect_args={"timeout": 0.05})
    try:
        # No statement runs in the first transaction, and yet a second one
        # cannot begin: BEGIN IMMEDIATE took the lock up front.
        with (
            SqlAlchemyUnitOfWork(first),
            pytest.raises(Unavailable, match="locked"),
            SqlAlchemyUnitOfWork(impatient),
        ):
            pass
        with SqlAlchemyUnitOfWork(impatient):
            pass
    finally:
        first.dispose()
        impatient.dispose()


def test_timestamps_come_back_as_aware_utc_with_microseconds(uow_factory, engine):
    plus_two = timezone(timedelta(hours=2))
    when = datetime(2025, 3, 30, 3, 15, 7, 123_456, tzinfo=plus_two)
    with uow_factory() as uow:
        stored = uow.sessions.add(Session(title="t", created_at=when, updated_at=when, started_at=when))
        loaded = uow.sessions.get(stored.id)
        uow.commit()
    assert loaded.created_at == when
    assert loaded.created_at.tzinfo is UTC
    assert loaded.created_at.hour == 1
    assert loaded.started_at.microsecond == 123_456
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            raw = connection.exec_driver_sql("SELECT created_at FROM sessions").scalar()
        assert raw == "2025-03-30 01:15:07.123456+00:00"
        # Text written without an offset (early development databases) reads as UTC.
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "UPDATE sessions SET updated_at = '2025-03-30 01:15:07.000001' WHERE id = ?", (stored.id,)
            )
        with uow_factory() as uow:
            assert uow.sessions.get(stored.id).updated_at == datetime(2025, 3, 30, 1, 15, 7, 1, tzinfo=UTC)


def test_naive_timestamps_are_refused(uow_factory):
    with uow_factory() as uow, pytest.raises(StatementError, match="naive datetime"):
        uow.sessions.add(Session(title="t", created_at=datetime(2025, 1, 1), updated_at=T0))


def test_integrity_errors_are_conflicts(uow_factory):
    user, lyra, attempt, session = seed(uow_factory)
    with uow_factory() as uow, pytest.raises(Conflict):
        uow.attempts.add(Attempt(user_id=user.id + 100, constellation_id=lyra.id, created_at=T0))
    with uow_factory() as uow, pytest.raises(Conflict):
        uow.attempts.delete(attempt.id)  # its session still refers to it: no cascade
    with uow_factory() as uow, pytest.raises(Conflict):
        uow.constellations.delete(lyra.id)
    with uow_factory() as uow, pytest.raises(Conflict):
        uow.users.update(attrs.evolve(user, total_minutes=-1))  # CHECK constraint
    with uow_factory() as uow:
        assert uow.attempts.get(attempt.id) == attempt
        assert uow.sessions.get(session.id) == session


def test_updating_a_row_deleted_meanwhile_is_a_conflict(uow_factory):
    with uow_factory() as uow:
        lyra = uow.constellations.add(Constellation(name="Lyra", weight=5, created_at=T0))
        uow.constellations.delete(lyra.id)
        with pytest.raises(Conflict, match="no longer exists"):
            uow.constellations.update(attrs.evolve(lyra, name="Vega"))


def test_deleting_the_current_attempt_clears_the_pointer(uow_factory):
    user, _, attempt, session = seed(uow_factory)
    with uow_factory() as uow:
        uow.sessions.delete(session.id)
        uow.attempts.delete(attempt.id)
        assert uow.users.get(user.id).current_attempt_id is None


@pytest.mark.postgres
def test_postgres_for_update_blocks_a_second_writer_until_commit(postgres_engine):
    factory = partial(SqlAlchemyUnitOfWork, postgres_engine)
    user, *_ = seed(factory)
    locked = threading.Event()
    order = []

    def first():
        with factory() as uow:
            uow.users.get(user.id, for_update=True)
            locked.set()
            time.sleep(0.3)
            order.append("first commits")
            uow.commit()

    thread = threading.Thread(target=first)
    thread.start()
    locked.wait(5)
    with factory() as uow:
        uow.users.get(user.id, for_update=True)
        order.append("second has the lock")
    thread.join()
    assert order == ["first commits", "second has the lock"]


@pytest.mark.postgres
def test_a_session_added_while_its_attempt_is_deleted_makes_the_delete_a_conflict(postgres_engine):
    factory = partial(SqlAlchemyUnitOfWork, postgres_engine)
    user, _, attempt, session = seed(factory)
    with factory() as deleter:
        deleter.attempts.get(attempt.id, for_update=True)
        assert deleter.sessions.delete_by_attempt(attempt.id) == [session]
        # Meanwhile another request adds a session to the attempt. Its foreign-key
        # check is not blocked by the deleter's lock (FOR NO KEY UPDATE), so it commits.
        with factory() as writer:
            late = Session(
                title="late",
                user_id=user.id,
                constellation_attempt_id=attempt.id,
                created_at=T0,
                updated_at=T0,
            )
            writer.sessions.add(late)
            writer.commit()
        # Deleting the attempt now would orphan the late session, or cascade it away unaccounted.
        with pytest.raises(Conflict):
            deleter.attempts.delete(attempt.id)
    with factory() as uow:  # the deleter rolled back: both sessions are there
        assert [s.title for s in uow.sessions.list_page(PageRequest())] == ["late", "Read"]


def test_delete_by_attempt_waits_for_a_concurrent_completion_and_returns_it(uow_factory):
    _, _, attempt, session = seed(uow_factory)
    removed = []
    with uow_factory() as completer:
        done = attrs.evolve(session, status=SessionStatus.COMPLETED, minutes=25, completed_at=T0)
        completer.sessions.update(done)

        def delete() -> None:
            with uow_factory() as deleter:
                removed.extend(deleter.sessions.delete_by_attempt(attempt.id))
                deleter.commit()

        thread = threading.Thread(target=delete)
        thread.start()
        time.sleep(0.3)
        assert thread.is_alive()  # PostgreSQL: waiting for the row; SQLite: for the write lock
        completer.commit()
    thread.join(10)
    assert removed == [done]


def test_statuses_are_stored_as_their_wire_names(uow_factory, engine):
    with uow_factory() as uow:
        uow.sessions.add(Session(title="t", status=SessionStatus.IN_PROGRESS, created_at=T0, updated_at=T0))
        uow.commit()
    with engine.connect() as connection:
        assert connection.execute(select(sessions.c.status)).scalar() == "in_progress"
        with pytest.raises(IntegrityError, match=r"(?i)check"):
            connection.execute(text("UPDATE sessions SET status = 'paused'"))


@pytest.mark.postgres
def test_postgres_reads_run_without_a_transaction_and_writes_within_one(postgres_engine):
    """At READ COMMITTED a read needs no BEGIN and ROLLBACK; the connection goes back to the pool
    as it was, and the next write on it is a transaction again."""
    seed(partial(SqlAlchemyUnitOfWork, postgres_engine))
    for _ in range(2):
        uow = SqlAlchemyUnitOfWork(postgres_engine)
        with uow.reading():
            assert uow.users.get(1) is not None
            raw = uow._connection.connection.dbapi_connection  # the psycopg connection
            assert raw.autocommit
            assert raw.info.transaction_status == 0  # IDLE: no transaction was begun
        with uow:
            assert uow.users.get(1, for_update=True) is not None
            raw = uow._connection.connection.dbapi_connection
            assert not raw.autocommit
            assert raw.info.transaction_status == 2  # INTRANS: the row is locked until the end


@pytest.mark.postgres
def test_postgres_reads_stay_in_a_transaction_at_a_stricter_isolation_level(postgres_engine):
    strict = make_engine(postgres_engine.url, isolation_level="REPEATABLE READ")
    try:
        uow = SqlAlchemyUnitOfWork(strict)
        with uow.reading():
            uow.users.get(1)
            assert not uow._connection.connection.dbapi_connection.autocommit
    finally:
        strict.dispose()


@pytest.mark.postgres
def test_postgres_pings_a_pooled_connection_only_after_it_sat_idle(postgres_engine, monkeypatch):
    """A connection in steady use is not pinged; one idle past the threshold is, and one the server
    closed meanwhile is replaced before use instead of failing the request."""
    from luminary.core import Unavailable
    from luminary.sql import engine as engine_module

    def backend_pid() -> int:
        uow = SqlAlchemyUnitOfWork(postgres_engine)
        with uow.reading():
            return int(uow._connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())

    seed(partial(SqlAlchemyUnitOfWork, postgres_engine))
    # Not idle long enough: the closed connection is used as it is, and the read fails.
    monkeypatch.setattr(engine_module, "POSTGRES_PING_AFTER_IDLE_SECONDS", 3600.0)
    pid = backend_pid()
    terminate_backend(postgres_engine, pid)
    with pytest.raises(Unavailable):
        # LIFO: the most recently used connection is handed out first, the one terminated above.
        uow = SqlAlchemyUnitOfWork(postgres_engine)
        with uow.reading():
            uow.users.get(1)
    # Idle past the threshold: pinged first, found closed, replaced.
    monkeypatch.setattr(engine_module, "POSTGRES_PING_AFTER_IDLE_SECONDS", 0.0)
    pid = backend_pid()
    terminate_backend(postgres_engine, pid)
    assert backend_pid() != pid


@pytest.mark.postgres
def test_postgres_sessions_speak_utc_whatever_the_server_zone(postgres_engine):
    """Times come back in ``datetime.UTC`` as psycopg reads them: no conversion per value."""
    # A server whose zone is set elsewhere, through the URL's options (which stay in effect otherwise).
    options = "-c timezone=America/Sao_Paulo -c application_name=elsewhere"
    engine = make_engine(postgres_engine.url.update_query_dict({"options": options}))
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW TIME ZONE").scalar() == "UTC"
            assert connection.exec_driver_sql("SHOW application_name").scalar() == "elsewhere"
            moment = connection.exec_driver_sql("SELECT timestamptz '2025-11-01 12:00:00.5+02'").scalar()
    finally:
        engine.dispose()
    assert moment.tzinfo is UTC
    assert moment == datetime(2025, 11, 1, 10, 0, 0, 500000, tzinfo=UTC)
