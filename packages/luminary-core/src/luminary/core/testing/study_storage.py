"""Study days and timers in storage: a user's time zone, day start and streak settings, a session's
study day and timer, and the minutes of a user's study days.

The repositories are called directly, through units of work over each
implementation (in-memory, SQLite, PostgreSQL): every read path returns the new
fields as they were written, study days as :class:`datetime.date` and timer
instants as aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import attrs
import pytest

from luminary import core
from luminary.core import DayTotal, PageRequest, Session, SessionStatus, User
from luminary.core.testing.support import ContractFixtures

# Microseconds included: they must survive the round trip.
T0 = datetime(2025, 3, 30, 23, 30, 15, 123456, tzinfo=UTC)
EVERYTHING = PageRequest(limit=core.MAX_LIMIT)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def assert_date(value: object, expected: date) -> None:
    # A datetime is a date too: it must be a plain date.
    assert type(value) is date
    assert value == expected


def assert_utc(value: datetime | None, expected: datetime) -> None:
    assert value is not None
    assert value.utcoffset() == timedelta(0)
    assert value == expected


def add_user(uow_factory, name: str = "Ada", **kw) -> User:
    uow = uow_factory()
    with uow:
        user = uow.users.add(User(display_name=name, created_at=T0, **kw))
        uow.commit()
    return user


def add_attempt(uow_factory, user: User, constellation: core.Constellation | None = None) -> core.Attempt:
    """An attempt of ``user`` at ``constellation``, or at a new one (Lyra)."""
    uow = uow_factory()
    with uow:
        if constellation is None:
            constellation = uow.constellations.add(core.Constellation(name="Lyra", weight=5, created_at=T0))
        attempt = uow.attempts.add(
            core.Attempt(user_id=user.id, constellation_id=constellation.id, created_at=T0)
        )
        uow.commit()
    return attempt


def add_constellation(uow_factory, name: str) -> core.Constellation:
    uow = uow_factory()
    with uow:
        constellation = uow.constellations.add(core.Constellation(name=name, weight=5, created_at=T0))
        uow.commit()
    return constellation


def session_of(user: User | None, title: str, created: datetime = T0, **kw) -> Session:
    return Session(
        title=title,
        user_id=user.id if user is not None else None,
        created_at=created,
        updated_at=created,
        **kw,
    )


def completed(user: User | None, title: str = "Done", **kw) -> Session:
    kw.setdefault("created_at", at(0))
    kw.setdefault("study_day", date(2025, 3, 30))
    kw.setdefault("minutes", 25)
    return Session(
        title=title,
        user_id=user.id if user is not None else None,
        status=SessionStatus.COMPLETED,
        started_at=at(-1500),
        completed_at=at(0),
        updated_at=kw["created_at"],
        elapsed_seconds=1500,
        **kw,
    )


def running(user: User, title: str = "Running", **kw) -> Session:
    kw.setdefault("created_at", at(1))
    return Session(
        title=title,
        user_id=user.id,
        status=SessionStatus.IN_PROGRESS,
        started_at=at(-60),
        running_since=at(-60),
        elapsed_seconds=0,
        updated_at=kw["created_at"],
        **kw,
    )


D28, D29, D30, D31, A01 = (
    date(2025, 3, 28),
    date(2025, 3, 29),
    date(2025, 3, 30),
    date(2025, 3, 31),
    date(2025, 4, 1),
)


@attrs.frozen
class Days:
    """Two students' sessions over a few days, at two constellations and at none."""

    ada: User
    bob: User
    lyra: core.Constellation
    vega: core.Constellation
    orion: core.Constellation


def build_days(uow_factory) -> Days:
    ada, bob = add_user(uow_factory, "Ada"), add_user(uow_factory, "Bob")
    lyra, vega, orion = (add_constellation(uow_factory, name) for name in ("Lyra", "Vega", "Orion"))
    at_lyra, at_vega = add_attempt(uow_factory, ada, lyra), add_attempt(uow_factory, ada, vega)
    bob_at_lyra = add_attempt(uow_factory, bob, lyra)
    uow = uow_factory()
    with uow:
        for session in (
            # Ada: two on the 28th (one at no constellation), two on the 29th (one without
            # minutes), nothing on the 31st, 0 minutes on the 30th, a full day on 1 April.
            completed(ada, "A", study_day=D28, minutes=25, constellation_attempt_id=at_lyra.id),
            completed(ada, "B", study_day=D28, minutes=30),
            completed(ada, "C", study_day=D29, minutes=None, constellation_attempt_id=at_vega.id),
            completed(ada, "D", study_day=D29, minutes=10, constellation_attempt_id=at_lyra.id),
            completed(ada, "E", study_day=D30, minutes=0),
            completed(ada, "F", study_day=A01, minutes=1440, constellation_attempt_id=at_vega.id),
            # Not completed (so without a study day), or completed without one: never counted.
            session_of(ada, "Planned", minutes=45, constellation_attempt_id=at_lyra.id),
            session_of(ada, "Cancelled", status=SessionStatus.CANCELLED, minutes=50),
            running(ada, constellation_attempt_id=at_vega.id),
            completed(ada, "Dayless", study_day=None, minutes=99, constellation_attempt_id=at_lyra.id),
            # Bob, at the same constellation, the same day; and a session of nobody.
            completed(bob, "G", study_day=D28, minutes=60, constellation_attempt_id=bob_at_lyra.id),
            completed(None, "Alone", study_day=None, minutes=5),
        ):
            uow.sessions.add(session)
        uow.commit()
    return Days(ada, bob, lyra, vega, orion)


def minutes_by_day(uow_factory, user_id: int, first=None, last=None, **kw) -> list[DayTotal]:
    uow = uow_factory()
    with uow:
        totals = list(uow.sessions.minutes_by_day(user_id, first, last, **kw))
    for total in totals:
        assert type(total.day) is date  # not a datetime, nor text
        assert type(total.minutes) is int
        assert type(total.sessions) is int
    return totals


class StudyStorageContract(ContractFixtures):
    """Time zones, day starts, streak settings, study days, timers and the minutes of study days
    survive every read path.
    """

    def test_a_new_user_counts_in_utc_from_midnight(self, uow_factory):
        ada = add_user(uow_factory)
        uow = uow_factory()
        with uow:
            stored = uow.users.get(ada.id)
        assert stored == ada
        assert stored is not None
        assert (stored.time_zone, stored.day_start_hour) == ("UTC", 0)
        # Weeks from Monday, a day counts from 1 minute, no rest day.
        assert (stored.week_start, stored.daily_minimum, stored.rest_days) == (0, 1, 0)

    def test_a_users_time_zone_and_day_start_survive_every_read(self, uow_factory):
        ada = add_user(uow_factory, "Ada", time_zone="Europe/Paris", day_start_hour=4)
        bob = add_user(uow_factory, "Bob", time_zone="America/Argentina/ComodRivadavia", day_start_hour=23)
        uow = uow_factory()
        with uow:
            assert uow.users.get(ada.id) == ada
            assert uow.users.get(bob.id, for_update=True) == bob
            assert uow.users.get_many([ada.id, bob.id]) == {ada.id: ada, bob.id: bob}
            assert list(uow.users.list_page(EVERYTHING)) == [ada, bob]
            stored = uow.users.get_many([ada.id])[ada.id]
        assert (stored.time_zone, stored.day_start_hour) == ("Europe/Paris", 4)

    def test_a_users_streak_settings_survive_every_read_and_update(self, uow_factory):
        # The bounds of each setting, both ends.
        ada = add_user(uow_factory, "Ada", week_start=6, daily_minimum=1440, rest_days=6)
        bob = add_user(uow_factory, "Bob", week_start=3, daily_minimum=20, rest_days=1)
        uow = uow_factory()
        with uow:
            assert uow.users.get(ada.id) == ada
            assert uow.users.get(bob.id, for_update=True) == bob
            assert uow.users.get_many([ada.id, bob.id]) == {ada.id: ada, bob.id: bob}
            assert list(uow.users.list_page(EVERYTHING)) == [ada, bob]
            stored = uow.users.get_many([ada.id])[ada.id]
        assert (stored.week_start, stored.daily_minimum, stored.rest_days) == (6, 1440, 6)

        reset = attrs.evolve(ada, week_start=0, daily_minimum=1, rest_days=0)
        with uow:
            uow.users.update(reset)
            uow.commit()
        with uow:
            assert uow.users.get(ada.id) == reset
            assert uow.users.get(bob.id) == bob
            # Moving minutes rewrites the whole row: the settings stay.
            locked = uow.users.get(bob.id, for_update=True)
            assert locked is not None
            uow.users.update(core.rules.with_minutes(locked, 15))
            uow.commit()
        with uow:
            assert uow.users.get(bob.id) == attrs.evolve(bob, total_minutes=15)

    def test_update_writes_the_time_zone_and_day_start(self, uow_factory):
        ada = add_user(uow_factory, time_zone="Europe/Paris", day_start_hour=4)
        moved = attrs.evolve(ada, time_zone="Asia/Kathmandu", day_start_hour=0)
        uow = uow_factory()
        with uow:
            uow.users.update(moved)
            uow.commit()
        with uow:
            assert uow.users.get(ada.id) == moved

    def test_moving_minutes_keeps_the_time_zone_and_day_start(self, uow_factory):
        """A user's total moves through a locked read and an update of the whole row: nothing else changes."""
        ada = add_user(uow_factory, time_zone="Pacific/Chatham", day_start_hour=5)
        uow = uow_factory()
        with uow:
            locked = uow.users.get(ada.id, for_update=True)
            assert locked is not None
            uow.users.update(core.rules.with_minutes(locked, 90))
            uow.commit()
        with uow:
            assert uow.users.get(ada.id) == attrs.evolve(ada, total_minutes=90)
            assert uow.users.total_minutes() == {ada.id: 90}

    def test_a_session_without_a_timer_has_none(self, uow_factory):
        uow = uow_factory()
        with uow:
            plain = uow.sessions.add(session_of(None, "Plain"))
            uow.commit()
        with uow:
            stored = uow.sessions.get(plain.id)
        assert stored == plain
        assert stored is not None
        assert (stored.study_day, stored.running_since, stored.elapsed_seconds, stored.auto_stopped) == (
            None,
            None,
            None,
            False,
        )

    def test_study_days_and_timers_survive_every_read(self, uow_factory):
        ada = add_user(uow_factory, time_zone="Europe/Paris", day_start_hour=4)
        bob = add_user(uow_factory, "Bob")
        attempt = add_attempt(uow_factory, ada)
        uow = uow_factory()
        with uow:
            done = uow.sessions.add(
                completed(ada, "Done", constellation_attempt_id=attempt.id, study_day=date(2025, 3, 29))
            )
            stopped = uow.sessions.add(
                completed(bob, "Stopped", created_at=at(2), study_day=date(2024, 2, 29), auto_stopped=True)
            )
            live = uow.sessions.add(running(ada, constellation_attempt_id=attempt.id))
            paused = uow.sessions.add(
                session_of(bob, "Paused", at(3), status=SessionStatus.IN_PROGRESS, elapsed_seconds=2**40)
            )
            uow.commit()

        newest_first = [paused, stopped, live, done]
        with uow:
            assert uow.sessions.get(done.id) == done
            assert uow.sessions.get(live.id, for_update=True) == live
            assert list(uow.sessions.list_page(EVERYTHING)) == newest_first
            assert list(uow.sessions.list_page(EVERYTHING, user_id=ada.id)) == [live, done]
            assert list(uow.sessions.list_page(EVERYTHING, attempt_id=attempt.id)) == [live, done]
            assert list(uow.sessions.list_by_users([ada.id, bob.id])) == newest_first
            assert list(uow.sessions.list_by_attempts([attempt.id])) == [live, done]
            loaded = {s.id: s for s in uow.sessions.list_page(EVERYTHING)}

        assert_date(loaded[done.id].study_day, date(2025, 3, 29))
        assert_date(loaded[stopped.id].study_day, date(2024, 2, 29))
        assert loaded[stopped.id].auto_stopped is True
        assert loaded[done.id].auto_stopped is False
        assert loaded[done.id].elapsed_seconds == 1500
        assert loaded[live.id].study_day is None
        assert_utc(loaded[live.id].running_since, at(-60))
        assert loaded[live.id].elapsed_seconds == 0
        assert loaded[paused.id].running_since is None
        assert loaded[paused.id].elapsed_seconds == 2**40

    def test_update_writes_the_timer_and_the_study_day(self, uow_factory):
        ada = add_user(uow_factory)
        uow = uow_factory()
        with uow:
            live = uow.sessions.add(running(ada))
            uow.commit()

        paused = attrs.evolve(live, running_since=None, elapsed_seconds=61, updated_at=at(10))
        with uow:
            uow.sessions.update(paused)
            uow.commit()
        with uow:
            assert uow.sessions.get(live.id) == paused

        resumed = attrs.evolve(paused, running_since=at(3600), updated_at=at(3600))
        with uow:
            uow.sessions.update(resumed)
            uow.commit()
        with uow:
            assert uow.sessions.get(live.id) == resumed

        done = attrs.evolve(
            resumed,
            status=SessionStatus.COMPLETED,
            running_since=None,
            elapsed_seconds=43_200,
            completed_at=at(46_800),
            minutes=720,
            auto_stopped=True,
            study_day=date(2025, 3, 31),
            updated_at=at(50_000),
        )
        with uow:
            uow.sessions.update(done)
            uow.commit()
        with uow:
            stored = uow.sessions.get(live.id)
            assert list(uow.sessions.list_by_users([ada.id])) == [done]
        assert stored == done
        assert stored is not None
        assert_date(stored.study_day, date(2025, 3, 31))

        # Un-completing clears the study day (core's rules do; storage keeps what it is given).
        reopened = attrs.evolve(done, status=SessionStatus.PLANNED, study_day=None, completed_at=None)
        with uow:
            uow.sessions.update(reopened)
            uow.commit()
        with uow:
            assert uow.sessions.get(live.id) == reopened

    def test_deleting_an_attempts_sessions_returns_them_whole(self, uow_factory):
        ada = add_user(uow_factory)
        attempt = add_attempt(uow_factory, ada)
        uow = uow_factory()
        with uow:
            done = uow.sessions.add(completed(ada, constellation_attempt_id=attempt.id, auto_stopped=True))
            live = uow.sessions.add(running(ada, constellation_attempt_id=attempt.id))
            uow.commit()
        with uow:
            assert list(uow.sessions.delete_by_attempt(attempt.id)) == [done, live]
            uow.commit()

    def test_active_timer_is_the_running_or_paused_session_of_the_user(self, uow_factory):
        ada, bob = add_user(uow_factory, "Ada"), add_user(uow_factory, "Bob")
        uow = uow_factory()
        with uow:
            uow.sessions.add(completed(ada))
            uow.sessions.add(session_of(ada, "Untimed", status=SessionStatus.IN_PROGRESS))
            uow.sessions.add(session_of(ada, "Planned"))
            uow.commit()
        with uow:
            assert uow.sessions.active_timer(ada.id) is None
            assert uow.sessions.active_timer(bob.id) is None
            live = uow.sessions.add(running(ada))
            paused = uow.sessions.add(
                session_of(bob, "Paused", status=SessionStatus.IN_PROGRESS, elapsed_seconds=30)
            )
            uow.commit()
        with uow:
            assert uow.sessions.active_timer(ada.id) == live
            assert uow.sessions.active_timer(bob.id) == paused
            assert uow.sessions.active_timer(999_999) is None

    def test_leaving_without_commit_keeps_the_old_timer(self, uow_factory):
        ada = add_user(uow_factory)
        uow = uow_factory()
        with uow:
            live = uow.sessions.add(running(ada))
            uow.commit()
        with uow:
            uow.sessions.update(attrs.evolve(live, running_since=None, elapsed_seconds=99))
            uow.users.update(attrs.evolve(ada, time_zone="Asia/Tokyo", day_start_hour=6))
        with uow:
            assert uow.sessions.get(live.id) == live
            assert uow.users.get(ada.id) == ada

    def test_minutes_by_day_sums_completed_sessions_per_study_day(self, uow_factory):
        w = build_days(uow_factory)
        assert minutes_by_day(uow_factory, w.ada.id) == [
            DayTotal(D28, 55, 2),
            DayTotal(D29, 10, 2),  # a session without minutes counts 0 minutes, but 1 session
            DayTotal(D30, 0, 1),
            DayTotal(A01, 1440, 1),
        ]
        assert minutes_by_day(uow_factory, w.bob.id) == [DayTotal(D28, 60, 1)]

    @pytest.mark.parametrize(
        ("first", "last", "days"),
        [
            pytest.param(D29, D30, [D29, D30], id="both"),
            pytest.param(D29, None, [D29, D30, A01], id="from"),
            pytest.param(None, D29, [D28, D29], id="until"),
            pytest.param(D30, D30, [D30], id="one-day"),
            pytest.param(D28, A01, [D28, D29, D30, A01], id="exactly-all"),
            pytest.param(D31, D31, [], id="a-day-without-study"),
            pytest.param(A01 + timedelta(days=1), None, [], id="after-all"),
            pytest.param(D30, D29, [], id="reversed"),
        ],
    )
    def test_minutes_by_day_bounds_are_inclusive(self, uow_factory, first, last, days):
        w = build_days(uow_factory)
        assert [t.day for t in minutes_by_day(uow_factory, w.ada.id, first, last)] == days

    def test_minutes_by_day_at_a_constellation_counts_only_its_attempts_sessions(self, uow_factory):
        w = build_days(uow_factory)
        assert minutes_by_day(uow_factory, w.ada.id, constellation_id=w.lyra.id) == [
            DayTotal(D28, 25, 1),
            DayTotal(D29, 10, 1),
        ]
        assert minutes_by_day(uow_factory, w.ada.id, constellation_id=w.vega.id) == [
            DayTotal(D29, 0, 1),
            DayTotal(A01, 1440, 1),
        ]
        assert minutes_by_day(uow_factory, w.ada.id, D29, D29, constellation_id=w.lyra.id) == [
            DayTotal(D29, 10, 1)
        ]
        assert minutes_by_day(uow_factory, w.ada.id, D30, None, constellation_id=w.lyra.id) == []
        assert minutes_by_day(uow_factory, w.bob.id, constellation_id=w.lyra.id) == [DayTotal(D28, 60, 1)]
        # Sessions at no constellation never match one; nor does a constellation without attempts.
        assert minutes_by_day(uow_factory, w.bob.id, constellation_id=w.vega.id) == []
        assert minutes_by_day(uow_factory, w.ada.id, constellation_id=w.orion.id) == []
        assert minutes_by_day(uow_factory, w.ada.id, constellation_id=999_999) == []

    def test_minutes_by_day_is_empty_without_completed_sessions(self, uow_factory):
        assert minutes_by_day(uow_factory, 1) == []
        w = build_days(uow_factory)
        carl = add_user(uow_factory, "Carl")
        uow = uow_factory()
        with uow:
            uow.sessions.add(session_of(carl, "Planned", minutes=30))
            uow.sessions.add(running(carl))
            uow.commit()
        assert minutes_by_day(uow_factory, carl.id) == []
        assert minutes_by_day(uow_factory, carl.id, D28, A01, constellation_id=w.lyra.id) == []
        assert minutes_by_day(uow_factory, 999_999) == []
