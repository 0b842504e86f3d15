"""Study days and the timer: examples, and properties over real zones, DST changes and any clock.

The pure rules are checked on their own with many examples; the use cases with
fewer, on every backend (one store per test, a fresh user per example). A
``ManualClock`` drives every timer: nothing sleeps.
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from luminary import core
from luminary.core import Actor, Conflict, ManualClock, SessionStatus, study
from luminary.core.testing.support import ContractFixtures, assert_minutes_invariant
from luminary.core.validation import time_zones

#: Zones with DST changes between 2000 and 2040, and a few without.
ZONES = st.sampled_from(time_zones())
DST_ZONES = st.sampled_from(
    [
        "Europe/Paris",
        "America/New_York",
        "America/Santiago",
        "Australia/Sydney",
        "Australia/Lord_Howe",  # a half-hour change
        "Pacific/Chatham",
        "America/Sao_Paulo",  # DST until 2019
        "Asia/Tehran",  # DST until 2022
        "Europe/London",
    ]
)
INSTANTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 12, 31), timezones=st.just(UTC)
)
#: The start of nine years (which fit in one range of statistics, at most 3660 days), 2000 to 2040.
NINE_YEARS_FROM = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2031, 12, 31), timezones=st.just(UTC)
)


@functools.cache
def clock_changes(zone: str) -> tuple[date, ...]:
    """The local days, 2000 to 2040, on and next to which ``zone``'s clocks change."""
    tz = zoneinfo.ZoneInfo(zone)
    changes = []
    day = date(2000, 1, 1)
    before = datetime(2000, 1, 1, 12, tzinfo=tz).utcoffset()
    while day < date(2040, 12, 31):
        day += timedelta(days=1)
        offset = datetime(day.year, day.month, day.day, 12, tzinfo=tz).utcoffset()
        if offset != before:
            changes += [day - timedelta(days=1), day]  # the change came overnight, or during the day before
        before = offset
    return tuple(changes)


def days_around_clock_changes(zone: str) -> st.SearchStrategy[date]:
    """Days of the real clock changes of ``zone`` (23- and 25-hour days), and now and then any day."""
    changes = clock_changes(zone)
    anywhere = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 11, 1))
    if not changes:
        return anywhere
    near = st.sampled_from(changes)
    return st.one_of(near, near, near, anywhere)


PURE = settings(max_examples=300, deadline=None)
TIMED = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
STORED = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def local_midnight(day: date, zone: str) -> datetime:
    """The first instant of ``day`` in ``zone`` (a day may start at 01:00 where midnight is skipped)."""
    tz = zoneinfo.ZoneInfo(zone)
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    # A nonexistent local midnight: step forward until the wall clock round-trips.
    while start.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != start.replace(tzinfo=None):
        start += timedelta(minutes=15)
    return start.astimezone(UTC)


def make_student(uow_factory, clock, zone="UTC", hour=0):
    user = core.create_user(uow_factory(), core.CreateUser("Ada"), actor=core.SYSTEM, clock=clock)
    patch = core.UserPatch(time_zone=zone, day_start_hour=hour)
    return core.update_user(uow_factory(), user.id, patch, actor=core.SYSTEM, clock=clock)


ACTIONS = st.lists(
    st.tuples(st.sampled_from(["pause", "resume", "stop", "look"]), st.integers(0, 6 * 3600)),
    min_size=1,
    max_size=12,
)


class StudyContract(ContractFixtures):
    """Study days, the timer, statistics, streaks and goals, through the use cases."""

    def test_a_completed_session_is_stamped_with_its_study_day_and_keeps_it(self, uow_factory):
        clock = ManualClock(datetime(2025, 3, 30, 1, 30, tzinfo=UTC))  # 03:30 in Paris
        ada = make_student(uow_factory, clock, "Europe/Paris", 4)
        as_ada = Actor.student(ada.id)
        planned = core.create_session(
            uow_factory(), core.CreateSession(title="Late", minutes=30), actor=as_ada, clock=clock
        )
        assert planned.study_day is None
        done = core.complete_session(uow_factory(), planned.id, actor=as_ada, clock=clock)
        assert done.study_day == date(2025, 3, 29)
        core.update_user(
            uow_factory(), ada.id, core.UserPatch(time_zone="Asia/Tokyo"), actor=as_ada, clock=clock
        )
        assert core.get_session(uow_factory(), done.id, actor=as_ada).study_day == date(2025, 3, 29)
        again = core.cancel_session(uow_factory(), done.id, actor=as_ada, clock=clock)
        assert again.study_day is None
        redone = core.complete_session(uow_factory(), done.id, actor=as_ada, clock=clock)
        assert redone.study_day == date(2025, 3, 30)  # 10:30 in Tokyo, the zone in force now
        made_done = core.create_session(
            uow_factory(),
            core.CreateSession(title="Logged", status="completed", minutes=5),
            actor=as_ada,
            clock=clock,
        )
        assert made_done.study_day == date(2025, 3, 30)

    @STORED
    @given(
        zones=st.lists(ZONES, min_size=2, max_size=4),
        hours=st.lists(st.integers(0, 23), min_size=2, max_size=4),
    )
    def test_changing_the_zone_never_moves_a_past_day(self, uow_factory, zones, hours):
        clock = ManualClock(datetime(2025, 10, 25, 22, 0, tzinfo=UTC), step=timedelta(hours=5))
        ada = make_student(uow_factory, clock, zones[0], hours[0])
        as_ada = Actor.student(ada.id)
        done = []
        for zone, hour in zip(zones, hours, strict=False):
            core.update_user(
                uow_factory(),
                ada.id,
                core.UserPatch(time_zone=zone, day_start_hour=hour),
                actor=as_ada,
                clock=clock,
            )
            command = core.CreateSession(title="x", status="completed", minutes=10)
            made = core.create_session(uow_factory(), command, actor=as_ada, clock=clock)
            assert made.study_day == study.study_day(made.completed_at, zone, hour)
            done.append(made)
            for earlier in done:
                assert (
                    core.get_session(uow_factory(), earlier.id, actor=as_ada).study_day == earlier.study_day
                )

    def test_a_timer_credits_its_running_stretches_only(self, uow_factory):
        clock = ManualClock(datetime(2025, 12, 1, 9, 0, tzinfo=UTC))
        ada = make_student(uow_factory, clock)
        as_ada = Actor.student(ada.id)
        session = core.create_session(
            uow_factory(), core.CreateSession(title="Focus"), actor=as_ada, clock=clock
        )
        started = core.start_timer(uow_factory(), session.id, actor=as_ada, clock=clock)
        assert (started.status, started.started_at, started.running_since) == (
            SessionStatus.IN_PROGRESS,
            clock.now(),
            clock.now(),
        )
        clock.advance(timedelta(minutes=25, seconds=30))
        core.pause_timer(uow_factory(), session.id, actor=as_ada, clock=clock)
        clock.advance(timedelta(hours=2))  # a break: not credited
        timer = core.get_timer(uow_factory(), actor=as_ada, clock=clock)
        assert timer is not None
        assert (timer.running, timer.elapsed_seconds) == (False, 25 * 60 + 30)
        core.resume_timer(uow_factory(), session.id, actor=as_ada, clock=clock)
        clock.advance(timedelta(minutes=4, seconds=29))
        running = core.get_timer(uow_factory(), actor=as_ada, clock=clock)
        assert running is not None
        assert (running.running, running.elapsed_seconds) == (True, 29 * 60 + 59)
        stopped = core.stop_timer(uow_factory(), session.id, actor=as_ada, clock=clock)
        assert (stopped.status, stopped.minutes, stopped.auto_stopped) == (SessionStatus.COMPLETED, 29, False)
        assert stopped.study_day == date(2025, 12, 1)
        assert core.total_minutes(uow_factory(), ada.id, actor=as_ada).total_minutes == 29
        assert core.get_timer(uow_factory(), actor=as_ada, clock=clock) is None

    def test_one_timer_at_a_time_and_the_conflict_names_it(self, uow_factory):
        clock = ManualClock(datetime(2025, 12, 1, 9, 0, tzinfo=UTC))
        ada = make_student(uow_factory, clock)
        as_ada = Actor.student(ada.id)
        first = core.create_session(
            uow_factory(), core.CreateSession(title="Algebra"), actor=as_ada, clock=clock
        )
        second = core.create_session(
            uow_factory(), core.CreateSession(title="Poetry"), actor=as_ada, clock=clock
        )
        core.start_timer(uow_factory(), first.id, actor=as_ada, clock=clock)
        with pytest.raises(Conflict, match=f"Session {first.id} \\(Algebra\\) is running"):
            core.start_timer(uow_factory(), second.id, actor=as_ada, clock=clock)
        core.pause_timer(uow_factory(), first.id, actor=as_ada, clock=clock)
        with pytest.raises(Conflict, match="is paused"):
            core.start_timer(uow_factory(), second.id, actor=as_ada, clock=clock)
        core.stop_timer(uow_factory(), first.id, actor=as_ada, clock=clock)
        assert core.start_timer(uow_factory(), second.id, actor=as_ada, clock=clock).is_running
        with pytest.raises(Conflict, match="started already"):
            core.start_timer(uow_factory(), second.id, actor=as_ada, clock=clock)

    def test_a_forgotten_timer_stops_itself_at_the_cap(self, uow_factory):
        clock = ManualClock(datetime(2025, 12, 1, 20, 0, tzinfo=UTC))
        ada = make_student(uow_factory, clock, "America/New_York")
        as_ada = Actor.student(ada.id)
        session = core.create_session(
            uow_factory(), core.CreateSession(title="Essay"), actor=as_ada, clock=clock
        )
        core.start_timer(uow_factory(), session.id, actor=as_ada, clock=clock)
        clock.advance(timedelta(hours=340))  # the client vanished for two weeks
        assert core.get_timer(uow_factory(), actor=as_ada, clock=clock) is None
        stopped = core.get_session(uow_factory(), session.id, actor=as_ada)
        assert stopped.auto_stopped
        assert (stopped.status, stopped.minutes) == (SessionStatus.COMPLETED, 12 * 60)
        assert stopped.completed_at == datetime(2025, 12, 2, 8, 0, tzinfo=UTC)  # at the cap, not when seen
        assert stopped.study_day == date(2025, 12, 2)  # 03:00 in New York
        assert core.total_minutes(uow_factory(), ada.id, actor=as_ada).total_minutes == 720
        # Acting on it answers it as it stopped.
        assert core.pause_timer(uow_factory(), session.id, actor=as_ada, clock=clock) == stopped

    def test_cancelling_a_timed_session_credits_nothing(self, uow_factory):
        clock = ManualClock(datetime(2025, 12, 1, 9, 0, tzinfo=UTC))
        ada = make_student(uow_factory, clock)
        as_ada = Actor.student(ada.id)
        session = core.create_session(
            uow_factory(), core.CreateSession(title="Focus"), actor=as_ada, clock=clock
        )
        core.start_timer(uow_factory(), session.id, actor=as_ada, clock=clock)
        clock.advance(timedelta(minutes=10))
        cancelled = core.cancel_session(uow_factory(), session.id, actor=as_ada, clock=clock)
        assert (cancelled.running_since, cancelled.elapsed_seconds, cancelled.minutes) == (None, 600, None)
        assert core.get_timer(uow_factory(), actor=as_ada, clock=clock) is None
        assert core.total_minutes(uow_factory(), ada.id, actor=as_ada).total_minutes == 0

    @TIMED
    @given(actions=ACTIONS, cap_hours=st.integers(1, 24), start=INSTANTS)
    def test_a_timer_credits_the_sum_of_its_running_stretches_never_above_the_cap(
        self, uow_factory, actions, cap_hours, start
    ):
        """Any sequence of pause, resume, stop and looks, at any instants: the credit is the running time."""
        clock = ManualClock(start)
        cap = timedelta(hours=cap_hours)
        ada = make_student(uow_factory, clock)
        as_ada = Actor.student(ada.id)
        session = core.create_session(
            uow_factory(), core.CreateSession(title="Focus"), actor=as_ada, clock=clock
        )
        core.start_timer(uow_factory(), session.id, actor=as_ada, clock=clock, cap=cap)
        running, since, seconds = True, clock.now(), 0
        for action, wait in actions:
            clock.advance(timedelta(seconds=wait, microseconds=wait % 7 * 1000))
            now = clock.now()
            if running and seconds + int((now - since).total_seconds()) >= cap.total_seconds():
                break  # it has stopped itself; checked below
            call = {"pause": core.pause_timer, "resume": core.resume_timer, "stop": core.stop_timer}.get(
                action
            )
            if call is None:
                timer = core.get_timer(uow_factory(), actor=as_ada, clock=clock, cap=cap)
                assert timer is not None
                expected = seconds + (int((now - since).total_seconds()) if running else 0)
                assert (timer.running, timer.elapsed_seconds) == (running, expected)
                continue
            try:
                call(uow_factory(), session.id, actor=as_ada, clock=clock, cap=cap)
            except Conflict:
                assert (action == "pause" and not running) or (action == "resume" and running)
                continue
            if action == "pause":
                seconds, running = seconds + int((now - since).total_seconds()), False
            elif action == "resume":
                since, running = now, True
            else:
                seconds += int((now - since).total_seconds()) if running else 0
                running = False
                done = core.get_session(uow_factory(), session.id, actor=as_ada)
                assert (done.minutes, done.auto_stopped) == (seconds // 60, False)
                break
        else:
            assume(False)  # never stopped: nothing to credit yet
        final = core.get_session(uow_factory(), session.id, actor=core.SYSTEM)
        if (
            final.status is not SessionStatus.COMPLETED
        ):  # stopped itself past the cap; the next look settles it
            assert core.get_timer(uow_factory(), actor=as_ada, clock=clock, cap=cap) is None
            final = core.get_session(uow_factory(), session.id, actor=core.SYSTEM)
            assert final.auto_stopped
            assert final.minutes == cap_hours * 60
        assert final.minutes is not None
        assert final.minutes <= cap_hours * 60
        assert core.total_minutes(uow_factory(), ada.id, actor=as_ada).total_minutes == final.minutes
        assert_minutes_invariant(uow_factory())

    @STORED
    @given(
        zone=ZONES,
        hour=st.integers(0, 23),
        week_start=st.integers(0, 6),
        base=NINE_YEARS_FROM,
        completions=st.lists(
            st.tuples(st.integers(0, 9 * 365 * 86400), st.integers(0, 300)), min_size=1, max_size=12
        ),
        by=st.sampled_from(list(study.Period)),
        data=st.data(),
    )
    def test_buckets_add_up_to_the_minutes_of_their_range_and_to_the_total(
        self, uow_factory, zone, hour, week_start, base, completions, by, data
    ):
        clock = ManualClock(datetime(2000, 1, 1, tzinfo=UTC))
        ada = make_student(uow_factory, clock, zone, hour)
        as_ada = Actor.student(ada.id)
        core.update_user(
            uow_factory(), ada.id, core.UserPatch(week_start=week_start), actor=as_ada, clock=clock
        )
        made = []
        for seconds, minutes in completions:
            at = base + timedelta(seconds=seconds)
            command = core.CreateSession(title="x", status="completed", minutes=minutes, completed_at=at)
            made.append(core.create_session(uow_factory(), command, actor=as_ada, clock=clock))
        days = sorted(s.study_day for s in made)
        first = data.draw(st.dates(min_value=days[0] - timedelta(days=40), max_value=days[-1]))
        last = data.draw(
            st.dates(min_value=first, max_value=min(first + timedelta(days=3000), date(2041, 1, 1)))
        )
        stats = core.statistics(
            uow_factory(), ada.id, actor=as_ada, clock=clock, first=first, last=last, by=by
        )
        inside = [s for s in made if first <= s.study_day <= last]
        assert stats.minutes == sum(b.minutes for b in stats.buckets) == sum(s.minutes for s in inside)
        assert stats.sessions == sum(b.sessions for b in stats.buckets) == len(inside)
        assert stats.buckets[0].start <= first <= stats.buckets[0].end
        assert stats.buckets[-1].start <= last <= stats.buckets[-1].end
        for before, after in zip(stats.buckets, stats.buckets[1:], strict=False):
            assert after.start == before.end + timedelta(days=1)
        if by is study.Period.WEEK:
            assert all(b.start.weekday() == week_start for b in stats.buckets)
        everything = core.statistics(
            uow_factory(),
            ada.id,
            actor=as_ada,
            clock=clock,
            first=days[0],
            last=days[-1],
            by=study.Period.MONTH,
        )
        assert everything.minutes == core.total_minutes(uow_factory(), ada.id, actor=as_ada).total_minutes

    def test_statistics_per_constellation_and_the_streak_of_a_student(self, uow_factory):
        clock = ManualClock(datetime(2025, 12, 1, 18, 0, tzinfo=UTC), step=timedelta(0))
        core.seed_constellations(uow_factory(), actor=core.SYSTEM, clock=clock)
        ada = make_student(uow_factory, clock, "Europe/Paris")
        as_ada = Actor.student(ada.id)
        attempt = core.start_attempt(uow_factory(), core.StartAttempt(ada.id, 2), actor=as_ada, clock=clock)
        for _ in range(3):
            session = core.CreateSession(constellation_attempt_id=attempt.id, minutes=20, status="completed")
            core.create_session(uow_factory(), session, actor=as_ada, clock=clock)
            other = core.CreateSession(title="Reading", minutes=5, status="completed")
            core.create_session(uow_factory(), other, actor=as_ada, clock=clock)
            clock.advance(timedelta(days=1))
        week = core.statistics(uow_factory(), ada.id, actor=as_ada, clock=clock)
        assert [b.minutes for b in week.buckets] == [0, 0, 0, 25, 25, 25, 0]
        assert [b.start for b in week.buckets][-1] == date(2025, 12, 4)  # today, in Paris
        delphinus = core.statistics(uow_factory(), ada.id, actor=as_ada, clock=clock, constellation_id=2)
        assert delphinus.minutes == 60
        found = core.streaks(uow_factory(), ada.id, actor=as_ada, clock=clock)
        assert (found.current, found.longest, found.studied_today) == (3, 3, False)
        core.update_user(uow_factory(), ada.id, core.UserPatch(daily_minimum=30), actor=as_ada, clock=clock)
        assert core.streaks(uow_factory(), ada.id, actor=as_ada, clock=clock).longest == 0
        with pytest.raises(core.NotFound):
            core.statistics(uow_factory(), ada.id, actor=Actor.student(ada.id + 1), clock=clock)
        with pytest.raises(core.ValidationFailed, match="to"):
            core.statistics(
                uow_factory(),
                ada.id,
                actor=as_ada,
                clock=clock,
                first=date(2000, 1, 1),
                last=date(2020, 1, 1),
            )

    def test_goal_progress_says_done_target_pace_and_what_a_day_would_catch_up(self, uow_factory):
        # Thursday 2025-12-04, 18:00 in Paris; weeks from Monday.
        clock = ManualClock(datetime(2025, 12, 4, 17, 0, tzinfo=UTC), step=timedelta(0))
        core.seed_constellations(uow_factory(), actor=core.SYSTEM, clock=clock)
        ada = make_student(uow_factory, clock, "Europe/Paris")
        as_ada = Actor.student(ada.id)
        attempt = core.start_attempt(
            uow_factory(), core.StartAttempt(ada.id, 3), actor=as_ada, clock=clock
        )  # 7 stars
        for _ in range(2):
            core.add_star(uow_factory(), attempt.id, actor=as_ada, clock=clock)
        logged = [
            (datetime(2025, 12, 1, 9, 0, tzinfo=UTC), 60),
            (datetime(2025, 12, 4, 8, 0, tzinfo=UTC), 20),
        ]
        for at, minutes in logged:
            command = core.CreateSession(title="x", status="completed", minutes=minutes, completed_at=at)
            core.create_session(uow_factory(), command, actor=as_ada, clock=clock)

        def goal(**fields):
            return core.create_goal(uow_factory(), core.CreateGoal(**fields), actor=as_ada, clock=clock)

        daily = goal(kind="daily_minutes", target_minutes=30)
        weekly = goal(kind="weekly_minutes", target_minutes=300)
        stars = goal(kind="complete_constellation", constellation_id=3, due="2025-12-08")
        progress = {
            p.goal.id: p for p in core.goal_progress(uow_factory(), ada.id, actor=as_ada, clock=clock)
        }
        today = progress[daily.id]
        assert (today.done, today.target, today.per_day) == (20, 30, 10)
        assert today.on_pace is False  # 3/4 of the day gone: 22.5 expected
        week = progress[weekly.id]
        assert (week.period_start, week.period_end, week.done) == (date(2025, 12, 1), date(2025, 12, 7), 80)
        assert week.on_pace is False  # 300 × 3/7 ≈ 128 expected by Thursday
        assert week.per_day == 55  # ⌈220 / 4⌉: Thursday to Sunday
        big_dipper = progress[stars.id]
        assert (big_dipper.done, big_dipper.target, big_dipper.unit) == (2, 7, "stars")
        assert big_dipper.per_day == 1  # ⌈5 / 5⌉: Thursday to Monday
        assert big_dipper.on_pace is True  # set today: nothing was expected yet
        clock.advance(timedelta(days=5))  # past the due day
        late = {p.goal.id: p for p in core.goal_progress(uow_factory(), ada.id, actor=as_ada, clock=clock)}[
            stars.id
        ]
        assert (late.on_pace, late.per_day) == (False, 5)

    def test_goals_are_their_students_own(self, uow_factory):
        clock = ManualClock(datetime(2025, 12, 4, 17, 0, tzinfo=UTC))
        core.seed_constellations(uow_factory(), actor=core.SYSTEM, clock=clock)
        ada, grace = make_student(uow_factory, clock), make_student(uow_factory, clock)
        as_ada, as_grace = Actor.student(ada.id), Actor.student(grace.id)
        goal = core.create_goal(
            uow_factory(),
            core.CreateGoal(kind="complete_constellation", constellation_id=1, due="2026-01-01"),
            actor=as_ada,
            clock=clock,
        )
        for call in (core.get_goal, core.delete_goal):
            with pytest.raises(core.NotFound, match="Goal not found"):
                call(uow_factory(), goal.id, actor=as_grace)
        with pytest.raises(core.NotFound):
            core.goal_progress(uow_factory(), ada.id, actor=as_grace, clock=clock)
        with pytest.raises(Conflict, match="goals"):
            core.delete_constellation(uow_factory(), 1, actor=core.SYSTEM)
        for _ in range(core.MAX_GOALS - 1):
            core.create_goal(
                uow_factory(),
                core.CreateGoal(kind="daily_minutes", target_minutes=5),
                actor=as_ada,
                clock=clock,
            )
        with pytest.raises(Conflict, match="at most"):
            core.create_goal(
                uow_factory(),
                core.CreateGoal(kind="daily_minutes", target_minutes=5),
                actor=as_ada,
                clock=clock,
            )
        core.delete_user(uow_factory(), ada.id, actor=as_ada)
        assert core.delete_constellation(uow_factory(), 1, actor=core.SYSTEM).id == 1
