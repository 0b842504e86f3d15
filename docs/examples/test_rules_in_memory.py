"""Luminary's rules tested in memory: a new store and a clock for each test, no database."""

from datetime import UTC, datetime, timedelta

import pytest

from luminary.core import (
    SYSTEM,
    Actor,
    Conflict,
    CreateConstellation,
    CreateSession,
    CreateUser,
    InMemoryStore,
    ManualClock,
    StartAttempt,
    add_star,
    complete_session,
    create_constellation,
    create_session,
    create_user,
    start_attempt,
    total_minutes,
)


@pytest.fixture
def clock():
    """A clock that moves only when the test moves it."""
    return ManualClock(datetime(2025, 12, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
def uow():
    """A unit of work over a new, empty store."""
    return InMemoryStore().unit_of_work()


@pytest.fixture
def attempt(uow, clock):
    """Ada's attempt at Lyra, a constellation of two stars."""
    ada = create_user(uow, CreateUser(display_name="Ada"), actor=SYSTEM, clock=clock)
    lyra = create_constellation(uow, CreateConstellation(name="Lyra", weight=2), actor=SYSTEM, clock=clock)
    command = StartAttempt(user_id=ada.id, constellation_id=lyra.id)
    return start_attempt(uow, command, actor=Actor.student(ada.id), clock=clock)


def test_the_last_star_completes_the_attempt(uow, clock, attempt):
    as_ada = Actor.student(attempt.user_id)
    add_star(uow, attempt.id, actor=as_ada, clock=clock)
    clock.advance(timedelta(days=1))
    done = add_star(uow, attempt.id, actor=as_ada, clock=clock)
    assert done.stars_completed == 2
    assert done.completed_at == datetime(2025, 12, 2, 9, 0, tzinfo=UTC)
    with pytest.raises(Conflict):
        add_star(uow, attempt.id, actor=as_ada, clock=clock)


def test_a_session_without_minutes_counts_the_whole_minutes_it_lasted(uow, clock, attempt):
    as_ada = Actor.student(attempt.user_id)
    command = CreateSession(constellation_attempt_id=attempt.id, started_at=clock.now())
    session = create_session(uow, command, actor=as_ada, clock=clock)
    clock.advance(timedelta(minutes=42, seconds=59))
    complete_session(uow, session.id, actor=as_ada, clock=clock)
    assert total_minutes(uow, attempt.user_id, actor=as_ada).total_minutes == 42
