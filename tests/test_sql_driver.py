"""Reads and writes on the driver's cursor (luminary.sql.driver): the rows and values SQLAlchemy would
give, its errors, and SQLAlchemy's own execution wherever the driver's would skip something it does."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import attrs
import pytest
from sqlalchemy import bindparam, event, insert, literal_column, select, text, tuple_, update
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError

from luminary.core import (
    Attempt,
    Constellation,
    PageRequest,
    Post,
    PostType,
    Session,
    SessionStatus,
    Unavailable,
    User,
)
from luminary.sql import SqlAlchemyUnitOfWork
from luminary.sql.driver import fetch_all, insert_row, update_rows
from luminary.sql.tables import sessions, users
from sql_fixtures import SQL_BACKENDS, sql_engine, terminate_backend

T0 = datetime(2025, 12, 1, 10, 30, tzinfo=UTC)


@pytest.fixture(params=SQL_BACKENDS)
def engine(request):
    yield from sql_engine(request.param, request)


def seed(engine) -> int:
    """A user with 5 sessions a minute apart, the even ones completed; the user's id."""
    with SqlAlchemyUnitOfWork(engine) as uow:
        user = uow.users.add(User(display_name="Ada", created_at=T0))
        lyra = uow.constellations.add(Constellation(name="Lyra", weight=5, created_at=T0))
        attempt = uow.attempts.add(Attempt(user_id=user.id, constellation_id=lyra.id, created_at=T0))
        for n in range(5):
            when = T0 + timedelta(minutes=n)
            done = n % 2 == 0
            uow.sessions.add(
                Session(
                    title=f"Read {n}",
                    user_id=user.id,
                    constellation_attempt_id=attempt.id,
                    minutes=10 + n if done else None,
                    status=SessionStatus.COMPLETED if done else SessionStatus.PLANNED,
                    completed_at=when if done else None,
                    created_at=when,
                    updated_at=when,
                )
            )
        uow.commit()
        assert user.id is not None
        return user.id


# Converted both ways: a time bound as a parameter (text on SQLite), times and a boolean
# (0 or 1 on SQLite) in the rows, and a literal that SQLAlchemy binds itself.
STATEMENT = (
    select(
        sessions.c.id,
        sessions.c.created_at,
        sessions.c.completed_at,
        (sessions.c.status == SessionStatus.COMPLETED.value).label("done"),
        literal_column("7").label("seven"),
    )
    .where(
        sessions.c.user_id == bindparam("user_id"),
        tuple_(sessions.c.created_at, sessions.c.id)
        < tuple_(bindparam("before", type_=sessions.c.created_at.type), bindparam("before_id")),
    )
    .order_by(sessions.c.created_at.desc(), sessions.c.id.desc())
)


def test_rows_equal_sqlalchemys_with_every_value_converted_as_it_converts_them(engine):
    user_id = seed(engine)
    params = {"user_id": user_id, "before": T0 + timedelta(minutes=3), "before_id": 10**9}
    with engine.connect() as connection, connection.begin():
        expected = [tuple(row) for row in connection.execute(STATEMENT, params)]
        found = fetch_all(connection, STATEMENT, params)
    assert found == expected
    # (created_at, id) before (the 4th session's time, any id): the 4th and those before it.
    assert [row[1] for row in found] == [T0 + timedelta(minutes=n) for n in (3, 2, 1, 0)]
    assert all(row[1].tzinfo is UTC for row in found)
    assert [row[3] for row in found] == [False, True, False, True]
    assert all(row[3] is bool(row[3]) for row in found)
    assert found[0][2] is None
    assert found[1][2] == T0 + timedelta(minutes=2)
    assert {row[4] for row in found} == {7}


def test_statement_listeners_see_every_read(engine):
    """An agent listening to the engine's statements gets them all: SQLAlchemy runs them then."""
    user_id = seed(engine)
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        uow = SqlAlchemyUnitOfWork(engine)
        with uow.reading():
            assert uow.users.get(user_id) is not None
            document = uow.views.user(user_id)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert document is not None
    assert len(document["sessions"]) == 5
    assert len([s for s in seen if s.lstrip().upper().startswith("SELECT")]) == 2


def test_a_read_after_commit_begins_a_transaction_as_sqlalchemy_would(engine):
    user_id = seed(engine)
    with SqlAlchemyUnitOfWork(engine) as uow:
        uow.commit()
        connection = uow._connection
        assert connection is not None
        assert not connection.in_transaction()
        assert uow.users.get(user_id) is not None
        assert connection.in_transaction()


def test_an_in_list_is_expanded_by_sqlalchemy(engine):
    seed(engine)
    statement = select(sessions.c.id).where(sessions.c.id.in_(bindparam("ids", expanding=True)))
    with engine.connect() as connection, connection.begin():
        found = fetch_all(connection, statement.order_by(sessions.c.id), {"ids": [1, 3, 99]})
    assert [row[0] for row in found] == [1, 3]


def test_errors_take_sqlalchemys_shape(engine):
    with engine.connect() as connection, connection.begin(), pytest.raises(DBAPIError) as caught:
        fetch_all(connection, select(literal_column("1")).select_from(text("no_such_table")), {})
    assert caught.value.orig is not None
    assert "no_such_table" in str(caught.value)


@pytest.fixture
def postgres_engine(request):
    yield from sql_engine("postgres", request)


@pytest.mark.postgres
def test_a_lost_postgres_connection_is_invalidated_and_the_read_answers_unavailable(
    postgres_engine, monkeypatch, caplog
):
    """Invalidated at once, as SQLAlchemy does: the pool never hands it out again (the next
    read works) and nothing is logged as an error."""
    from luminary.sql import engine as engine_module

    # Never pinged before use: the read itself meets the closed connection.
    monkeypatch.setattr(engine_module, "POSTGRES_PING_AFTER_IDLE_SECONDS", 3600.0)
    engine = postgres_engine
    user_id = seed(engine)
    uow = SqlAlchemyUnitOfWork(engine)
    with uow.reading():
        pid = uow._connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    terminate_backend(engine, pid)
    with caplog.at_level(logging.ERROR, logger="sqlalchemy"), uow.reading():
        with pytest.raises(Unavailable) as caught:
            uow.users.get(user_id)
        connection = uow._connection
        assert connection is not None
        assert connection.invalidated
    assert isinstance(caught.value.__cause__, DBAPIError)
    assert caught.value.__cause__.connection_invalidated
    assert [r.getMessage() for r in caplog.records if r.name.startswith("sqlalchemy")] == []
    with uow.reading():
        assert uow._connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() != pid
        assert uow.users.get(user_id) is not None


@pytest.mark.postgres
def test_a_postgres_read_begins_no_transaction_and_leaves_the_connection_as_it_found_it(postgres_engine):
    user_id = seed(postgres_engine)
    uow = SqlAlchemyUnitOfWork(postgres_engine)
    with uow.reading():
        connection = uow._connection
        assert connection is not None
        assert uow.users.get(user_id) is not None
        document = uow.views.user(user_id)
        assert document is not None
        assert len(document["sessions"]) == 5
        # Autocommit at READ COMMITTED: each statement its own snapshot, nothing begun or to end.
        assert not connection.in_transaction()
        assert connection.connection.dbapi_connection.autocommit
    # The same pooled connection, back in transactions: what is not committed is not kept.
    with SqlAlchemyUnitOfWork(postgres_engine) as uow:
        assert uow._connection is not None
        assert not uow._connection.connection.dbapi_connection.autocommit
        uow.users.add(User(display_name="Not kept", created_at=T0))
    with SqlAlchemyUnitOfWork(postgres_engine).reading() as uow:
        assert [u.display_name for u in uow.users.list_page(PageRequest(limit=10))] == ["Ada"]


@pytest.fixture
def sqlite_engine(request):
    yield from sql_engine("sqlite", request)


def _names(users) -> list[str]:
    return sorted(u.display_name for u in users)


def test_a_sqlite_read_keeps_one_snapshot_on_the_drivers_transaction_and_takes_no_write_lock(sqlite_engine):
    """The read begins on the driver's connection (SQLAlchemy sees no transaction of its own); its
    reads, those on the driver's cursor and those SQLAlchemy runs itself, see one snapshot; a writer
    commits meanwhile, not waiting; the pooled connection ends the read out of any transaction."""
    user_id = seed(sqlite_engine)
    reader = SqlAlchemyUnitOfWork(sqlite_engine)
    with reader.reading():
        connection = reader._connection
        assert connection is not None
        dbapi_connection = connection.connection.dbapi_connection
        assert dbapi_connection.in_transaction
        assert not connection.in_transaction()
        assert _names(reader.users.list_page(PageRequest(limit=10))) == ["Ada"]  # the snapshot starts
        with SqlAlchemyUnitOfWork(sqlite_engine) as writer:  # would wait 30 s on a write lock
            writer.users.add(User(display_name="Grace", created_at=T0))
            writer.commit()
        # The driver's cursor, then SQLAlchemy itself (an IN list it expands): the same snapshot.
        assert _names(reader.users.list_page(PageRequest(limit=10))) == ["Ada"]
        assert list(reader.users.get_many([user_id, user_id + 1])) == [user_id]
        assert connection.in_transaction()  # SQLAlchemy's, joining the driver's
    assert not dbapi_connection.in_transaction
    with SqlAlchemyUnitOfWork(sqlite_engine).reading() as after:
        assert _names(after.users.list_page(PageRequest(limit=10))) == ["Ada", "Grace"]


def test_a_sqlite_read_begun_on_the_driver_ends_there_when_sqlalchemy_never_joined(sqlite_engine):
    seed(sqlite_engine)
    reader = SqlAlchemyUnitOfWork(sqlite_engine)
    with reader.reading():
        connection = reader._connection
        assert connection is not None
        dbapi_connection = connection.connection.dbapi_connection
        assert reader.users.list_page(PageRequest(limit=10))
        assert dbapi_connection.in_transaction
        assert not connection.in_transaction()
    assert not dbapi_connection.in_transaction
    # The same pooled connection writes next: BEGIN IMMEDIATE, as a writer always does.
    with SqlAlchemyUnitOfWork(sqlite_engine) as writer:
        assert writer._connection is not None
        assert writer._connection.connection.dbapi_connection is dbapi_connection
        assert writer._connection.in_transaction()
        writer.users.add(User(display_name="Grace", created_at=T0))
        writer.commit()


@pytest.mark.postgres
def test_a_postgres_read_that_fails_still_gives_its_connection_back_out_of_autocommit(postgres_engine):
    user_id = seed(postgres_engine)
    reader = SqlAlchemyUnitOfWork(postgres_engine)
    with pytest.raises(RuntimeError, match="the answer failed"), reader.reading():
        connection = reader._connection
        assert connection is not None
        dbapi_connection = connection.connection.dbapi_connection
        # A statement SQLAlchemy runs itself (an IN list): its transaction begins nothing on the server.
        assert list(reader.users.get_many([user_id])) == [user_id]
        assert connection.in_transaction()
        assert dbapi_connection.autocommit
        raise RuntimeError("the answer failed")
    assert not dbapi_connection.autocommit
    with SqlAlchemyUnitOfWork(postgres_engine) as writer:
        assert writer._connection is not None
        assert writer._connection.connection.dbapi_connection is dbapi_connection
        writer.users.add(User(display_name="Not kept", created_at=T0))
    with SqlAlchemyUnitOfWork(postgres_engine).reading() as uow:
        assert [u.display_name for u in uow.users.list_page(PageRequest(limit=10))] == ["Ada"]


@pytest.mark.parametrize(
    "column",
    [
        ("2025-12-01 10:30:00.000000+00:00", "2025-12-01 10:31:00.250000+00:00"),
        ("2025-12-01 10:30:00.000000+00:00", None),  # a null: value by value
        ("2025-12-01 10:30:00.000000+00:00", "2025-12-01 10:31:00"),  # naive, as older rows may be
        ("2025-12-01 12:30:00+02:00",),
        (),
    ],
)
def test_a_column_of_sqlite_timestamps_reads_as_its_values_one_by_one(column):
    from luminary.sql.tables import _sqlite_result

    whole = list(_sqlite_result.column(column))
    assert whole == [_sqlite_result(value) for value in column]
    assert all(value is None or value.tzinfo is not None for value in whole)


_UTC_TIME = datetime(2025, 12, 1, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "column",
    [
        (_UTC_TIME, _UTC_TIME + timedelta(microseconds=250)),  # as psycopg gives them: kept as they are
        (_UTC_TIME, None),  # a null: value by value
        (_UTC_TIME, datetime(2025, 12, 1, 10, 31)),  # naive
        (_UTC_TIME, datetime(2025, 12, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))),  # another zone
        (datetime(2025, 12, 1, 10, 30, tzinfo=ZoneInfo("UTC")),),  # UTC, but not datetime.UTC
        (),
    ],
)
def test_a_column_of_postgresql_timestamps_reads_as_its_values_one_by_one(column):
    from luminary.sql.tables import _aware_result

    whole = list(_aware_result.column(column))
    one_by_one = [_aware_result(value) for value in column]
    assert whole == one_by_one
    assert all(value is None or value.tzinfo is UTC for value in whole)


# ---------------------------------------------------------------- writes

UPDATE = update(sessions).where(sessions.c.id == bindparam("_id"))
INSERT = insert(sessions)


def _session_row(connection, session_id: int) -> tuple:
    return tuple(connection.execute(select(sessions).where(sessions.c.id == session_id)).one())


def test_an_update_on_the_driver_writes_what_sqlalchemy_writes_and_counts_its_rows(engine):
    """Its SET clause follows the keys given; times, dates and booleans are converted as SQLAlchemy
    converts them (text on SQLite)."""
    seed(engine)
    done = T0 + timedelta(hours=1, microseconds=250)
    values = {
        "status": SessionStatus.COMPLETED.value,
        "minutes": 40,
        "completed_at": done,
        "study_day": done.date(),
        "auto_stopped": True,
    }
    with engine.connect() as connection, connection.begin():
        assert update_rows(connection, UPDATE, {**values, "_id": 2}) == 1
        connection.execute(UPDATE, {**values, "_id": 4})
        # Another shape of the same statement: only the title.
        assert update_rows(connection, UPDATE, {"title": "Renamed", "_id": 2}) == 1
        connection.execute(UPDATE, {"title": "Renamed", "_id": 4})
        assert update_rows(connection, UPDATE, {"title": "Nobody", "_id": 10**9}) == 0
        mine, theirs = _session_row(connection, 2), _session_row(connection, 4)
    written = [sessions.c.keys().index(key) for key in (*values, "title")]
    assert [mine[i] for i in written] == [theirs[i] for i in written]
    assert [mine[i] for i in written] == [*values.values(), "Renamed"]
    # What the writes did not name stays (the second session's own creation time).
    assert mine[sessions.c.keys().index("created_at")] == T0 + timedelta(minutes=1)


def test_an_insert_on_the_driver_gives_the_new_rows_id(engine):
    seed(engine)
    values = {
        "title": "New",
        "status": SessionStatus.PLANNED.value,
        "created_at": T0,
        "updated_at": T0 + timedelta(seconds=1),
        "user_id": 1,
    }
    with engine.connect() as connection, connection.begin():
        first = insert_row(connection, INSERT, values)
        second = connection.execute(INSERT, values).inserted_primary_key[0]
        third = insert_row(connection, INSERT, {**values, "minutes": 5})
        assert (second, third) == (first + 1, first + 2)
        assert _session_row(connection, first)[1:] == _session_row(connection, second)[1:]
        assert _session_row(connection, third)[sessions.c.keys().index("minutes")] == 5


def test_a_write_on_the_driver_fails_as_sqlalchemy_would(engine):
    seed(engine)
    with engine.connect() as connection, connection.begin(), pytest.raises(IntegrityError):
        # The title's length check.
        update_rows(connection, UPDATE, {"title": "", "_id": 1})
    with engine.connect() as connection, connection.begin(), pytest.raises(IntegrityError):
        insert_row(connection, INSERT, {"title": "x", "status": "lost", "created_at": T0, "updated_at": T0})


def test_statement_listeners_see_every_write(engine):
    """An agent listening to statements gets the writes too: SQLAlchemy runs them then."""
    user_id = seed(engine)
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement.lstrip().split()[0].upper())

    event.listen(engine, "before_cursor_execute", record)
    try:
        with SqlAlchemyUnitOfWork(engine) as uow:
            user = uow.users.get(user_id, for_update=True)
            assert user is not None
            uow.users.update(attrs.evolve(user, display_name="Grace"))
            uow.posts.add(
                Post(
                    user_id=user_id,
                    constellation_id=1,
                    post_type=PostType.PROGRESS,
                    message="Hi",
                    created_at=T0,
                )
            )
            uow.commit()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert [s for s in seen if s in ("UPDATE", "INSERT")] == ["UPDATE", "INSERT"]


def test_a_write_outside_a_transaction_is_run_by_sqlalchemy_which_begins_one(engine):
    user_id = seed(engine)
    with engine.connect() as connection:
        assert (
            update_rows(
                connection,
                update(users).where(users.c.id == bindparam("_id")),
                {"display_name": "Grace", "_id": user_id},
            )
            == 1
        )
        assert connection.in_transaction()
        connection.commit()
    with engine.connect() as connection:
        assert connection.execute(select(users.c.display_name)).scalar_one() == "Grace"


def test_a_value_its_column_type_refuses_raises_as_sqlalchemy_would(engine):
    seed(engine)
    naive = datetime(2025, 1, 1)
    with engine.connect() as connection, connection.begin():
        with pytest.raises(StatementError, match="naive datetime") as sqlalchemys:
            connection.execute(UPDATE, {"completed_at": naive, "_id": 1})
        for run in (
            lambda: fetch_all(connection, STATEMENT, {"user_id": 1, "before": naive, "before_id": 1}),
            lambda: update_rows(connection, UPDATE, {"completed_at": naive, "_id": 1}),
            lambda: insert_row(connection, INSERT, {"title": "t", "status": "planned", "created_at": naive}),
        ):
            with pytest.raises(StatementError, match="naive datetime") as caught:
                run()
            assert type(caught.value) is type(sqlalchemys.value)
            assert isinstance(caught.value.orig, ValueError)


@pytest.mark.postgres
def test_postgres_statements_share_one_cursor_per_connection_made_anew_after_a_failure(postgres_engine):
    """psycopg's cursor is kept on its connection, reads and writes alike; one whose statement
    failed is closed and not used again, and the connection's next statement gets a new one."""
    from luminary.sql import driver

    user_id = seed(postgres_engine)
    params = {"user_id": user_id, "before": T0 + timedelta(minutes=3), "before_id": 10**9}
    with postgres_engine.connect() as connection, connection.begin():
        assert len(fetch_all(connection, STATEMENT, params)) == 4
        kept = connection.connection.info[driver._CURSOR]
        assert not kept.closed
        assert update_rows(connection, UPDATE, {"title": "Renamed", "_id": 2}) == 1
        assert connection.connection.info[driver._CURSOR] is kept
        # A second statement's rows do not disturb the rows the first one gave.
        first = fetch_all(connection, STATEMENT, params)
        second = fetch_all(connection, STATEMENT, {**params, "before": T0 + timedelta(minutes=1)})
        assert (len(first), len(second)) == (4, 2)
        assert connection.connection.info[driver._CURSOR] is kept
        with pytest.raises(IntegrityError), connection.begin_nested():
            update_rows(connection, UPDATE, {"title": "", "_id": 1})
        assert kept.closed
        assert driver._CURSOR not in connection.connection.info
        assert update_rows(connection, UPDATE, {"title": "Again", "_id": 3}) == 1
        again = connection.connection.info[driver._CURSOR]
        assert again is not kept
        assert not again.closed
        assert [row[0] for row in fetch_all(connection, STATEMENT, params)] == [r[0] for r in first]


@pytest.mark.postgres
def test_postgres_rows_come_in_binary(postgres_engine):
    """The server sends the driver's reads in binary (which the rows test above finds equal to
    SQLAlchemy's, read as text); SQLAlchemy's own execution is left as it was."""
    from luminary.sql import driver

    user_id = seed(postgres_engine)
    params = {"user_id": user_id, "before": T0 + timedelta(minutes=3), "before_id": 10**9}
    with postgres_engine.connect() as connection, connection.begin():
        fetch_all(connection, STATEMENT, params)
        result = connection.connection.info[driver._CURSOR].pgresult
        assert [result.fformat(n) for n in range(result.nfields)] == [1] * 5
        own = connection.execute(STATEMENT, params).cursor
        assert own.pgresult.fformat(0) == 0
