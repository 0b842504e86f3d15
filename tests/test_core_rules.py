"""The pure rules, without any store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from luminary.core import Attempt, Conflict, Constellation, Session, SessionStatus, User, rules

T0 = datetime(2025, 12, 1, 10, 0, tzinfo=UTC)
TRIANGULUM = Constellation(id=1, name="Triangulum", weight=3, created_at=T0)


def attempt(stars: int = 0, completed: bool = False) -> Attempt:
    return Attempt(
        id=7,
        user_id=1,
        constellation_id=1,
        stars_completed=stars,
        completed_at=T0 if completed else None,
        created_at=T0,
    )


def session(**changes) -> Session:
    return attrs.evolve(Session(id=3, user_id=1, title="t", created_at=T0, updated_at=T0), **changes)


def test_add_star_counts_up_and_completes_at_the_weight():
    one = rules.add_star(attempt(), TRIANGULUM, T0)
    assert (one.stars_completed, one.completed_at) == (1, None)
    three = rules.add_star(attempt(2), TRIANGULUM, T0)
    assert (three.stars_completed, three.completed_at) == (3, T0)


def test_add_star_does_not_mutate_its_input():
    before = attempt(1)
    rules.add_star(before, TRIANGULUM, T0)
    assert before.stars_completed == 1


@pytest.mark.parametrize("state", [attempt(3, completed=True), attempt(3), attempt(1, completed=True)])
def test_add_star_to_a_full_or_completed_attempt_is_a_conflict(state):
    with pytest.raises(Conflict):
        rules.add_star(state, TRIANGULUM, T0)


def test_complete_attempt_is_idempotent():
    done = rules.complete_attempt(attempt(1), TRIANGULUM, T0)
    assert (done.stars_completed, done.completed_at) == (3, T0)
    assert rules.complete_attempt(done, TRIANGULUM, T0 + timedelta(hours=1)) is done


def test_release_attempt_only_clears_that_attempt():
    user = User(id=1, display_name="Ada", current_attempt_id=7, created_at=T0)
    assert rules.release_attempt(user, 7).current_attempt_id is None
    assert rules.release_attempt(user, 8) is user


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [
        (timedelta(minutes=42, seconds=59), 42),
        (timedelta(seconds=59), 0),
        (timedelta(minutes=-5), 0),
        (timedelta(days=3), 1440),
    ],
)
def test_derived_minutes_are_whole_and_bounded(elapsed, expected):
    assert rules.derived_minutes(T0, T0 + elapsed) == expected


def test_complete_session_derives_minutes_from_started_at():
    done = rules.complete_session(session(started_at=T0), T0 + timedelta(minutes=30))
    assert done.status is SessionStatus.COMPLETED
    assert done.minutes == 30
    assert done.completed_at == T0 + timedelta(minutes=30)


def test_complete_session_keeps_given_minutes_and_completion_time():
    when = T0 + timedelta(minutes=10)
    done = rules.complete_session(
        session(minutes=5, started_at=T0, completed_at=when), T0 + timedelta(hours=2)
    )
    assert (done.minutes, done.completed_at) == (5, when)


def test_counted_minutes_and_delta():
    planned = session(minutes=20)
    done = session(minutes=20, status=SessionStatus.COMPLETED)
    assert rules.counted_minutes(planned) == 0
    assert rules.counted_minutes(done) == 20
    assert rules.counted_minutes(session(status=SessionStatus.COMPLETED)) == 0
    assert rules.counted_minutes(attrs.evolve(done, user_id=None)) == 0
    assert rules.minutes_delta(planned, done) == 20
    assert rules.minutes_delta(done, None) == -20
    assert rules.minutes_delta(None, done) == 20


def test_with_minutes():
    user = User(id=1, display_name="Ada", total_minutes=10, created_at=T0)
    assert rules.with_minutes(user, 5).total_minutes == 15
    assert rules.with_minutes(user, 0) is user
