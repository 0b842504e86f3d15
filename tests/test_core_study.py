"""Study days and the timer: examples, and properties over real zones, DST changes and any clock.

The pure rules are checked on their own with many examples; the use cases with
fewer, on every backend (one store per test, a fresh user per example). A
``ManualClock`` drives every timer: nothing sleeps.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from luminary import core
from luminary.core import study
from luminary.core.testing.study import (
    DST_ZONES,
    INSTANTS,
    PURE,
    ZONES,
    days_around_clock_changes,
    local_midnight,
)


def test_the_day_start_hour_moves_late_nights_to_the_day_before():
    assert study.study_day(datetime(2025, 3, 30, 1, 30, tzinfo=UTC), "Europe/Paris", 4) == date(2025, 3, 29)
    assert study.study_day(datetime(2025, 3, 30, 2, 30, tzinfo=UTC), "Europe/Paris", 4) == date(2025, 3, 30)
    assert study.study_day(datetime(2025, 3, 30, 23, 30, tzinfo=UTC), "UTC", 0) == date(2025, 3, 30)
    assert study.study_day(datetime(2025, 3, 30, 23, 30, tzinfo=UTC), "Asia/Tokyo", 0) == date(2025, 3, 31)
    assert study.study_day(datetime(2025, 3, 30, 3, 0, tzinfo=UTC), "America/Los_Angeles", 0) == date(
        2025, 3, 29
    )


@PURE
@given(zone=DST_ZONES, data=st.data())
def test_every_instant_of_a_local_day_counts_for_that_day_whatever_its_length(zone, data):
    """A 23-hour and a 25-hour local day are one day each: every instant in it belongs to it."""
    day = data.draw(days_around_clock_changes(zone))
    start, end = local_midnight(day, zone), local_midnight(day + timedelta(days=1), zone)
    assert timedelta(hours=22) <= end - start <= timedelta(hours=26)
    offset = data.draw(st.integers(0, int((end - start).total_seconds()) - 1))
    assert study.study_day(start + timedelta(seconds=offset), zone, 0) == day


@PURE
@given(instant=INSTANTS, zone=ZONES, hour=st.integers(0, 23))
def test_a_study_day_is_the_local_date_shifted_by_the_day_start(instant, zone, hour):
    local = instant.astimezone(zoneinfo.ZoneInfo(zone))
    day = study.study_day(instant, zone, hour)
    assert day == (local.date() if local.hour >= hour else local.date() - timedelta(days=1))


@PURE
@given(zones=st.lists(DST_ZONES, min_size=1, max_size=3), days=st.integers(2, 45), data=st.data())
def test_one_session_every_local_day_gives_consecutive_study_days(zones, days, data):
    """Across spring-forward, fall-back and a change of zone mid-way (a trip), no day is lost or doubled."""
    first = data.draw(days_around_clock_changes(zones[0])) - timedelta(
        days=data.draw(st.integers(0, days - 1))
    )
    stamped = []
    for i in range(days):
        zone = zones[i * len(zones) // days]  # the zone in force that day
        day = first + timedelta(days=i)
        start, end = local_midnight(day, zone), local_midnight(day + timedelta(days=1), zone)
        at = start + timedelta(seconds=data.draw(st.integers(0, int((end - start).total_seconds()) - 1)))
        stamped.append(study.study_day(at, zone, 0))
    assert stamped == [first + timedelta(days=i) for i in range(days)]


def test_a_time_zone_is_checked_by_name():
    assert (
        core.UserPatch(time_zone="America/Argentina/Buenos_Aires").time_zone
        == "America/Argentina/Buenos_Aires"
    )
    for bad in ("Mars/Olympus", "utc+2", "", "europe/paris"):
        with pytest.raises(core.ValidationFailed, match="time_zone"):
            core.UserPatch(time_zone=bad)
    with pytest.raises(core.ValidationFailed, match="day_start_hour"):
        core.UserPatch(day_start_hour=24)


def test_weeks_start_on_the_students_day_and_months_on_the_first():
    wednesday = date(2025, 12, 3)
    assert study.bucket_of(wednesday, study.Period.WEEK, 0) == (date(2025, 12, 1), date(2025, 12, 7))
    assert study.bucket_of(wednesday, study.Period.WEEK, 6) == (date(2025, 11, 30), date(2025, 12, 6))
    assert study.bucket_of(date(2024, 2, 10), study.Period.MONTH, 0) == (date(2024, 2, 1), date(2024, 2, 29))
    assert study.bucket_of(wednesday, study.Period.DAY, 3) == (wednesday, wednesday)


def test_streaks_with_and_without_rest_days():
    monday = date(2025, 12, 1)
    days = [monday + timedelta(days=i) for i in (0, 1, 3, 4, 5, 6, 7)]  # Wednesday missed
    assert study.streak(days, monday + timedelta(days=7), rest_days=0, week_start=0) == study.Streak(5, 5)
    assert study.streak(days, monday + timedelta(days=7), rest_days=1, week_start=0) == study.Streak(7, 7)
    # Today not studied yet does not break it; yesterday missed does.
    assert study.streak(days, monday + timedelta(days=8), rest_days=0, week_start=0).current == 5
    assert study.streak(days, monday + timedelta(days=9), rest_days=0, week_start=0) == study.Streak(0, 5)
    assert study.streak([], monday, rest_days=2, week_start=0) == study.Streak(0, 0)


@PURE
@given(zones=st.lists(DST_ZONES, min_size=1, max_size=3), days=st.integers(1, 60), data=st.data())
def test_one_session_every_local_day_keeps_the_streak_unbroken(zones, days, data):
    """Across spring-forward, fall-back and a change of zone mid-streak, the streak is every day."""
    first = data.draw(days_around_clock_changes(zones[0])) - timedelta(
        days=data.draw(st.integers(0, days - 1))
    )
    stamped = []
    for i in range(days):
        zone = zones[i * len(zones) // days]
        day = first + timedelta(days=i)
        start, end = local_midnight(day, zone), local_midnight(day + timedelta(days=1), zone)
        at = start + timedelta(seconds=data.draw(st.integers(0, int((end - start).total_seconds()) - 1)))
        stamped.append(study.study_day(at, zone, data.draw(st.just(0))))
    today = stamped[-1]
    assert study.streak(stamped, today, rest_days=0, week_start=data.draw(st.integers(0, 6))) == study.Streak(
        days, days
    )


def test_a_goal_request_names_what_its_kind_needs():
    with pytest.raises(core.ValidationFailed, match="target_minutes: is required"):
        core.CreateGoal(kind="daily_minutes")
    with pytest.raises(core.ValidationFailed) as failed:
        core.CreateGoal(kind="complete_constellation", target_minutes=30)
    assert {e.field for e in failed.value.errors} == {"target_minutes", "constellation_id", "due"}
    with pytest.raises(core.ValidationFailed, match="due: is only"):
        core.CreateGoal(kind="weekly_minutes", target_minutes=30, due="2026-01-01")
    with pytest.raises(core.ValidationFailed, match="target_minutes: must be between 1 and 10080"):
        core.CreateGoal(kind="weekly_minutes", target_minutes=10081)
    assert core.CreateGoal(kind="complete_constellation", constellation_id=1, due="2026-01-31").due == date(
        2026, 1, 31
    )
