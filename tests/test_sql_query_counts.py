"""Bounded queries: what a request costs in SQL statements does not grow with the data.

Every read use case runs once on a small world (10 rows per relation) and once
on a big one (1,000), and the statements reaching the database are counted with
a ``before_cursor_execute`` listener. The counts must be equal: an N+1 query
would show up as a difference of hundreds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.engine import Engine

from luminary import core
from luminary.core import PageRequest, PostType, SessionStatus
from luminary.sql import SqlAlchemyUnitOfWork
from luminary.sql.tables import (
    attempts,
    constellations,
    posts,
    sessions,
    users,
)
from sql_fixtures import SQL_BACKENDS, sql_engine

T0 = datetime(2025, 12, 1, tzinfo=UTC)


@attrs.frozen
class World:
    """One user and one constellation with ``size`` of everything around them."""

    user_id: int
    constellation_id: int
    attempt_id: int
    session_id: int
    post_id: int


def build_world(engine: Engine, size: int, tag: str) -> World:
    """Insert, in bulk:

    * ``size`` users and ``size`` constellations, among them the world's own pair;
    * the user's attempt at every constellation, and every user's at the constellation;
    * one completed session per attempt, and the matching posts.
    """

    def when(i: int) -> datetime:
        return T0 + timedelta(seconds=i)

    def add(connection: Any, table: Any, rows: list[dict[str, Any]]) -> list[int]:
        # One executemany; alone in its transaction, the rows get ascending ids in order.
        before = connection.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
        connection.execute(insert(table), rows)
        return list(
            connection.execute(select(table.c.id).where(table.c.id > before).order_by(table.c.id)).scalars()
        )

    with engine.begin() as connection:
        user_ids = add(
            connection, users, [{"display_name": f"{tag}{i}", "created_at": when(i)} for i in range(size)]
        )
        constellation_ids = add(
            connection,
            constellations,
            [{"name": f"{tag}{i}", "weight": 1000, "created_at": when(i)} for i in range(size)],
        )
        me, it = user_ids[0], constellation_ids[0]
        pairs = [(me, c) for c in constellation_ids] + [(u, it) for u in user_ids[1:]]
        attempt_ids = add(
            connection,
            attempts,
            [
                {"user_id": u, "constellation_id": c, "stars_completed": 1, "created_at": when(i)}
                for i, (u, c) in enumerate(pairs)
            ],
        )
        session_ids = add(
            connection,
            sessions,
            [
                {
                    "user_id": u,
                    "constellation_attempt_id": a,
                    "title": "Study",
                    "status": SessionStatus.COMPLETED.value,
                    "minutes": 1,
                    "completed_at": when(i),
                    "created_at": when(i),
                    "updated_at": when(i),
                }
                for i, ((u, _), a) in enumerate(zip(pairs, attempt_ids, strict=True))
            ],
        )
        post_ids = add(
            connection,
            posts,
            [
                {
                    "user_id": u,
                    "constellation_id": c,
                    "post_type": PostType.PROGRESS.value,
                    "created_at": when(i),
                }
                for i, (u, c) in enumerate(pairs)
            ],
        )
        connection.execute(
            users.update()
            .where(users.c.id == me)
            .values(current_attempt_id=attempt_ids[0], total_minutes=size)
        )
        connection.execute(
            users.update().where(users.c.id.in_(user_ids[1:])).values(total_minutes=1),
        )
    return World(me, it, attempt_ids[0], session_ids[0], post_ids[0])


PAGE = PageRequest(limit=50)
SECOND_PAGE = PageRequest(limit=5, after=core.Cursor(T0 + timedelta(days=1), 2**62))
BY_ID_PAGE = PageRequest(limit=5, after=core.Cursor(None, 1))

#: The read use cases, each as it would be called for one request.
READS: dict[str, Callable[[Callable[[], Any], World], Any]] = {
    "get_user_detail": lambda uow, w: core.get_user_detail(uow(), w.user_id, actor=core.SYSTEM),
    "get_constellation_detail": lambda uow, w: core.get_constellation_detail(
        uow(), w.constellation_id, actor=core.SYSTEM
    ),
    "get_attempt_detail": lambda uow, w: core.get_attempt_detail(uow(), w.attempt_id, actor=core.SYSTEM),
    "get_session_detail": lambda uow, w: core.get_session_detail(uow(), w.session_id, actor=core.SYSTEM),
    "get_post_detail": lambda uow, w: core.get_post_detail(uow(), w.post_id, actor=core.SYSTEM),
    "current_attempt": lambda uow, w: core.current_attempt(uow(), w.user_id, actor=core.SYSTEM),
    "completed_constellations": lambda uow, w: core.completed_constellations(
        uow(), w.user_id, actor=core.SYSTEM
    ),
    "total_minutes": lambda uow, w: core.total_minutes(uow(), w.user_id, actor=core.SYSTEM),
    "feed": lambda uow, w: core.feed(uow(), PAGE, actor=core.SYSTEM),
    "feed (cursor)": lambda uow, w: core.feed(uow(), SECOND_PAGE, actor=core.SYSTEM),
    "feed_details": lambda uow, w: core.feed_details(uow(), PAGE, actor=core.SYSTEM),
    "list_users": lambda uow, w: core.list_users(uow(), PAGE, actor=core.SYSTEM),
    "list_users (cursor)": lambda uow, w: core.list_users(uow(), BY_ID_PAGE, actor=core.SYSTEM),
    "list_user_details": lambda uow, w: core.list_user_details(uow(), PAGE, actor=core.SYSTEM),
    "list_constellations": lambda uow, w: core.list_constellations(uow(), PAGE, actor=core.SYSTEM),
    "list_constellation_details": lambda uow, w: core.list_constellation_details(
        uow(), PAGE, actor=core.SYSTEM
    ),
    "list_attempts": lambda uow, w: core.list_attempts(uow(), PAGE, actor=core.SYSTEM),
    "list_attempts (user)": lambda uow, w: core.list_attempts(
        uow(), PAGE, user_id=w.user_id, actor=core.SYSTEM
    ),
    "list_attempts (constellation)": lambda uow, w: core.list_attempts(
        uow(), PAGE, constellation_id=w.constellation_id, actor=core.SYSTEM
    ),
    "list_attempt_details": lambda uow, w: core.list_attempt_details(uow(), PAGE, actor=core.SYSTEM),
    "list_sessions": lambda uow, w: core.list_sessions(uow(), PAGE, actor=core.SYSTEM),
    "list_sessions (user)": lambda uow, w: core.list_sessions(
        uow(), PAGE, user_id=w.user_id, actor=core.SYSTEM
    ),
    "list_sessions (attempt)": lambda uow, w: core.list_sessions(
        uow(), PAGE, attempt_id=w.attempt_id, actor=core.SYSTEM
    ),
    "list_session_details": lambda uow, w: core.list_session_details(
        uow(), PAGE, user_id=w.user_id, actor=core.SYSTEM
    ),
    "list_posts": lambda uow, w: core.list_posts(uow(), PAGE, actor=core.SYSTEM),
    "list_posts (user)": lambda uow, w: core.list_posts(uow(), PAGE, user_id=w.user_id, actor=core.SYSTEM),
    "list_posts (constellation)": lambda uow, w: core.list_posts(
        uow(), PAGE, constellation_id=w.constellation_id, actor=core.SYSTEM
    ),
    "list_post_details": lambda uow, w: core.list_post_details(uow(), PAGE, actor=core.SYSTEM),
    "sync_minutes (nothing to correct)": lambda uow, w: core.sync_minutes(uow(), actor=core.SYSTEM),
    # The same reads as documents, through the read model (uow.views).
    "user_document": lambda uow, w: core.user_document(uow(), w.user_id, actor=core.SYSTEM),
    "list_user_documents": lambda uow, w: core.list_user_documents(uow(), PAGE, actor=core.SYSTEM),
    "attempt_document": lambda uow, w: core.attempt_document(uow(), w.attempt_id, actor=core.SYSTEM),
    "current_attempt_document": lambda uow, w: core.current_attempt_document(
        uow(), w.user_id, actor=core.SYSTEM
    ),
    "list_attempt_documents": lambda uow, w: core.list_attempt_documents(uow(), PAGE, actor=core.SYSTEM),
    "list_attempt_documents (user)": lambda uow, w: core.list_attempt_documents(
        uow(), PAGE, user_id=w.user_id, actor=core.SYSTEM
    ),
    "session_document": lambda uow, w: core.session_document(uow(), w.session_id, actor=core.SYSTEM),
    "list_session_documents (attempt)": lambda uow, w: core.list_session_documents(
        uow(), PAGE, attempt_id=w.attempt_id, actor=core.SYSTEM
    ),
    "post_document": lambda uow, w: core.post_document(uow(), w.post_id, actor=core.SYSTEM),
    "list_post_documents": lambda uow, w: core.list_post_documents(uow(), PAGE, actor=core.SYSTEM),
    "list_post_documents (cursor)": lambda uow, w: core.list_post_documents(
        uow(), SECOND_PAGE, actor=core.SYSTEM
    ),
    "list_post_documents (user)": lambda uow, w: core.list_post_documents(
        uow(), PAGE, user_id=w.user_id, actor=core.SYSTEM
    ),
    "constellation_attempt_documents": lambda uow, w: core.constellation_attempt_documents(
        uow(), PAGE, constellation_id=w.constellation_id, actor=core.SYSTEM
    ),
    "constellation_post_documents": lambda uow, w: core.constellation_post_documents(
        uow(), PAGE, constellation_id=w.constellation_id, actor=core.SYSTEM
    ),
    "list_constellation_contents": lambda uow, w: core.list_constellation_contents(
        uow(), PAGE, PageRequest(limit=500), actor=core.SYSTEM
    ),
    "list_constellation_contents (own)": lambda uow, w: core.list_constellation_contents(
        uow(), PAGE, PageRequest(limit=500), actor=core.Actor.student(w.user_id)
    ),
}


def count_statements(engine: Engine, world: World) -> dict[str, int]:
    factory = lambda: SqlAlchemyUnitOfWork(engine)  # noqa: E731
    counts: dict[str, int] = {}
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        for name, read in READS.items():
            seen.clear()
            read(factory, world)
            counts[name] = len(seen)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return counts


@pytest.fixture(params=SQL_BACKENDS)
def engine(request):
    yield from sql_engine(request.param, request)


@pytest.mark.slow
def test_statement_counts_do_not_grow_with_the_data(engine):
    small = build_world(engine, 10, "small")
    at_10 = count_statements(engine, small)
    big = build_world(engine, 1000, "big")
    at_1000 = count_statements(engine, big)

    detail = core.get_user_detail(SqlAlchemyUnitOfWork(engine), big.user_id, actor=core.SYSTEM)
    assert len(detail.attempts) == len(detail.sessions) == len(detail.posts) == 1000
    document = core.user_document(SqlAlchemyUnitOfWork(engine), big.user_id, actor=core.SYSTEM)
    assert (
        len(document["constellation_attempts"]) == len(document["sessions"]) == len(document["posts"]) == 1000
    )
    assert (
        len(
            core.get_constellation_detail(
                SqlAlchemyUnitOfWork(engine), big.constellation_id, actor=core.SYSTEM
            ).posts
        )
        == 1000
    )

    print(f"\nstatements per read on {engine.dialect.name} (10 rows / 1,000 rows):")
    for name in READS:
        print(f"  {name:36} {at_10[name]:3} {at_1000[name]:3}")
    assert at_1000 == at_10
    assert max(at_10.values()) <= 6


def add_study_days(engine: Engine, sessions_per_day: int, days: int) -> tuple[int, int]:
    """A new user with ``sessions_per_day`` completed sessions on each of ``days`` study days,
    every other one at an attempt of a new constellation; returns the user's and the constellation's ids."""
    first_day = T0.date()
    with engine.begin() as connection:
        user_id = connection.execute(
            insert(users).values(display_name="Days", created_at=T0).returning(users.c.id)
        ).scalar_one()
        constellation_id = connection.execute(
            insert(constellations).values(name="Days", weight=5, created_at=T0).returning(constellations.c.id)
        ).scalar_one()
        attempt_id = connection.execute(
            insert(attempts)
            .values(user_id=user_id, constellation_id=constellation_id, created_at=T0)
            .returning(attempts.c.id)
        ).scalar_one()
        connection.execute(
            insert(sessions),
            [
                {
                    "user_id": user_id,
                    "constellation_attempt_id": attempt_id if i % 2 else None,
                    "title": "Study",
                    "status": SessionStatus.COMPLETED.value,
                    "minutes": 1,
                    "completed_at": T0,
                    "created_at": T0,
                    "updated_at": T0,
                    "study_day": first_day + timedelta(days=day),
                }
                for day in range(days)
                for i in range(sessions_per_day)
            ],
        )
    return user_id, constellation_id


def test_minutes_by_day_is_one_statement_whatever_the_sessions(engine):
    def statements(user_id: int, constellation_id: int) -> dict[str, int]:
        counts: dict[str, int] = {}
        seen: list[str] = []

        def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            seen.append(statement)

        uow = SqlAlchemyUnitOfWork(engine)
        with uow:  # BEGIN is not the read's
            event.listen(engine, "before_cursor_execute", record)
            try:
                for first in (None, T0.date() + timedelta(days=1)):
                    for last in (None, T0.date() + timedelta(days=1000)):
                        for at in (None, constellation_id):
                            seen.clear()
                            totals = uow.sessions.minutes_by_day(user_id, first, last, constellation_id=at)
                            assert totals
                            counts[f"first={first} last={last} constellation={at is not None}"] = len(seen)
            finally:
                event.remove(engine, "before_cursor_execute", record)
        return counts

    small = statements(*add_study_days(engine, sessions_per_day=2, days=5))
    big = statements(*add_study_days(engine, sessions_per_day=4, days=500))
    assert set(small.values()) == {1}
    assert big == small


def test_a_year_of_daily_statistics_costs_the_same_statements_for_365_or_10000_sessions(engine, capsys):
    """A year of ``GET /api/v2/me/stats`` by day: the token, the user, one grouped query; printed."""
    import time
    from functools import partial

    from http_v1_support import give_login, make_client, token_for

    clock = core.ManualClock(T0 + timedelta(days=400))
    uow_factory = partial(SqlAlchemyUnitOfWork, engine)

    def measure(sessions_per_day: int, tag: str) -> tuple[int, float, dict[str, Any]]:
        user_id, _ = add_study_days(engine, sessions_per_day=sessions_per_day, days=365)
        give_login(uow_factory, user_id, tag)
        client = make_client(uow_factory, clock, token=token_for(uow_factory, clock, tag))
        path = f"/api/v2/me/stats?from={T0.date()}&to={T0.date() + timedelta(days=364)}&by=day"
        client.simulate_get(path)  # the token's last use is written once a minute: not in the count
        seen: list[str] = []

        def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", record)
        try:
            began = time.perf_counter()
            answer = client.simulate_get(path)
            elapsed = time.perf_counter() - began
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert answer.status_code == 200, answer.text
        return len(seen), elapsed, answer.json["data"]

    few, few_time, few_stats = measure(1, "few")  # 365 sessions
    many, many_time, many_stats = measure(28, "many")  # 10,220 sessions
    assert (few_stats["sessions"], many_stats["sessions"]) == (365, 10_220)
    assert len(many_stats["buckets"]) == 365
    assert many == few
    with capsys.disabled():
        print(
            f"\n  a year of daily stats: {many} statements; {few_time * 1000:.1f} ms for 365 sessions, "
            f"{many_time * 1000:.1f} ms for 10,220 ({engine.dialect.name})"
        )


def test_the_constellation_list_costs_three_statements_in_one_transaction_for_10_or_90(engine):
    """``GET /api/constellations/``: a batch of constellations (up to v1's 100) with the first batches
    of what each carries, in one transaction of three statements (the constellations, their
    posts, their attempts), however many constellations; was 1 + 3 per constellation, in 1 + 1 per
    constellation transactions."""
    from functools import partial

    from http_v1_support import make_client

    client = make_client(partial(SqlAlchemyUnitOfWork, engine), core.ManualClock(T0))

    def measure() -> tuple[int, int, int]:
        seen: list[str] = []
        begins: list[object] = []

        def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.strip().upper() != "BEGIN":  # SQLite's BEGIN: counted as a transaction
                seen.append(statement)

        def begin(conn: Any) -> None:
            begins.append(conn)

        event.listen(engine, "before_cursor_execute", record)
        event.listen(engine, "begin", begin)
        try:
            answer = client.simulate_get("/api/constellations/")
        finally:
            event.remove(engine, "before_cursor_execute", record)
            event.remove(engine, "begin", begin)
        assert answer.status_code == 200, answer.text
        listed = answer.json["constellations"]
        assert all(c["user_attempts"] and c["posts"] for c in listed)
        return len(seen), len(begins), len(listed)

    build_world(engine, 10, "small")
    few = measure()
    build_world(engine, 80, "big")  # the big world's own constellation carries 80 attempts and posts
    many = measure()
    assert (few[2], many[2]) == (10, 90)
    assert few[:2] == many[:2] == (3, 1)
