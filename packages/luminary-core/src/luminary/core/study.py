"""Study days and the session timer, as pure functions.

**Study days.** A completed session counts for one study day: the local date of
its completion in its student's time zone, the day starting at the student's
day-start hour. With the zone Europe/Paris and a day start of 4::

    completed 2025-03-30 01:30 UTC = 03:30 in Paris (before 4:00)  → study day 2025-03-29
    completed 2025-03-30 02:30 UTC = 04:30 in Paris                → study day 2025-03-30

The day is stamped when the session is completed, with the zone and day start
in force then, so changing either later never moves a past day. A day is a
date, not 24 hours: the 23-hour day of a spring-forward change and the 25-hour
day of a fall-back change are one day each.

**The timer.** The server stamps each transition with its clock and credits the
running stretches, never what a client claims::

    start ──run── pause ─ ─ ─ resume ──run── stop      credited: the two "run" stretches
                                              └─ completed, minutes = ⌊seconds / 60⌋

Each running stretch counts its whole seconds; the session is credited the
whole minutes of their sum, rounded down (59 seconds credit nothing). A timer
left running stops itself at the cap (12 hours by default): it is completed at
the instant the cap was reached, marked ``auto_stopped``, and credited the cap,
never more. The stop is written the first time anyone looks at the timer or
acts on it after the cap, with the instant it happened.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import attrs

from .entities import Session, SessionStatus, User
from .errors import Conflict

__all__ = [
    "DEFAULT_TIMER_CAP",
    "MAX_RANGE_DAYS",
    "Period",
    "Streak",
    "bucket_of",
    "streak",
    "close_stretch",
    "credited_minutes",
    "elapsed_seconds",
    "pause_timer",
    "resume_timer",
    "settle_timer",
    "start_timer",
    "stop_timer",
    "stops_at",
    "study_day",
    "with_study_day",
]

#: How long a timer may run before it stops itself.
DEFAULT_TIMER_CAP = timedelta(hours=12)


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def study_day(instant: datetime, time_zone: str, day_start_hour: int) -> date:
    """The study day ``instant`` falls on, in ``time_zone`` with days starting at ``day_start_hour``."""
    local = instant.astimezone(_zone(time_zone))
    # Wall-clock arithmetic on the local time: before the day-start hour is the day before.
    return (local.replace(tzinfo=None) - timedelta(hours=day_start_hour)).date()


def with_study_day(session: Session, user: User | None) -> Session:
    """The session with the study day its completion falls on for ``user`` (``None`` unless completed)."""
    if not session.is_completed or session.completed_at is None or user is None:
        return session if session.study_day is None else attrs.evolve(session, study_day=None)
    return attrs.evolve(
        session, study_day=study_day(session.completed_at, user.time_zone, user.day_start_hour)
    )


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds()))


def elapsed_seconds(session: Session, now: datetime) -> int:
    """Seconds the timer has run, its running stretch up to ``now`` included."""
    done = session.elapsed_seconds or 0
    if session.running_since is None:
        return done
    return done + _seconds(session.running_since, now)


def credited_minutes(seconds: int, cap: timedelta) -> int:
    """The whole minutes ``seconds`` of running credit, at most the cap's."""
    return min(seconds, int(cap.total_seconds())) // 60


def close_stretch(session: Session, at: datetime) -> Session:
    """The session with its running stretch (if any) ended at ``at`` and added up."""
    if session.running_since is None:
        return session
    return attrs.evolve(session, elapsed_seconds=elapsed_seconds(session, at), running_since=None)


def start_timer(session: Session, now: datetime) -> Session:
    """Start the timer of a planned (or untimed in-progress) session.

    Raises:
        Conflict: The session is completed or cancelled, or its timer was started already.
    """
    if session.status in (SessionStatus.COMPLETED, SessionStatus.CANCELLED):
        raise Conflict(f"A {session.status.value} session cannot be started!")
    if session.is_timed:
        raise Conflict("This session's timer was started already: pause, resume or stop it")
    return attrs.evolve(
        session,
        status=SessionStatus.IN_PROGRESS,
        started_at=session.started_at or now,
        running_since=now,
        elapsed_seconds=0,
    )


def pause_timer(session: Session, now: datetime, cap: timedelta = DEFAULT_TIMER_CAP) -> Session:
    """Pause a running timer (``cap`` is the timer's; a pause needs none).

    Raises:
        Conflict: The timer is not running.
    """
    if not session.is_running:
        raise Conflict("The timer is not running!")
    return close_stretch(session, now)


def resume_timer(session: Session, now: datetime, cap: timedelta = DEFAULT_TIMER_CAP) -> Session:
    """Resume a paused timer (``cap`` is the timer's; resuming needs none).

    Raises:
        Conflict: The timer is not paused.
    """
    if session.is_running or not session.is_timed or session.status is not SessionStatus.IN_PROGRESS:
        raise Conflict("The timer is not paused!")
    return attrs.evolve(session, running_since=now)


def stop_timer(session: Session, now: datetime, cap: timedelta) -> Session:
    """Stop a running or paused timer: the session is completed and credited its running time.

    Raises:
        Conflict: The timer was never started, or the session is no longer in progress.
    """
    if not session.is_timed or session.status is not SessionStatus.IN_PROGRESS:
        raise Conflict("The timer is not running or paused!")
    closed = close_stretch(session, now)
    return attrs.evolve(
        closed,
        status=SessionStatus.COMPLETED,
        completed_at=now,
        minutes=credited_minutes(closed.elapsed_seconds or 0, cap),
    )


def stops_at(session: Session, cap: timedelta) -> datetime | None:
    """When a running timer reaches the cap (``None`` unless it runs)."""
    if session.running_since is None:
        return None
    return session.running_since + timedelta(
        seconds=int(cap.total_seconds()) - (session.elapsed_seconds or 0)
    )


def settle_timer(session: Session, now: datetime, cap: timedelta) -> Session:
    """The session as its timer left it by ``now``: stopped at the cap if it ran that long."""
    stopped_at = stops_at(session, cap)
    limit = int(cap.total_seconds())
    if stopped_at is None or elapsed_seconds(session, now) < limit:
        return session
    return attrs.evolve(
        session,
        status=SessionStatus.COMPLETED,
        running_since=None,
        elapsed_seconds=limit,
        completed_at=stopped_at,
        minutes=credited_minutes(limit, cap),
        auto_stopped=True,
    )


# ---------------------------------------------------------------- statistics and streaks

#: The longest range of days statistics are given for at once: about ten years.
MAX_RANGE_DAYS = 3660


class Period(enum.StrEnum):
    """How statistics group study days."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def bucket_of(day: date, by: Period, week_start: int) -> tuple[date, date]:
    """The first and last day of the bucket ``day`` falls in; weeks start on ``week_start`` (0 is Monday)."""
    if by is Period.DAY:
        return day, day
    if by is Period.WEEK:
        first = day - timedelta(days=(day.weekday() - week_start) % 7)
        return first, first + timedelta(days=6)
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


@attrs.frozen
class Streak:
    """A student's streaks of study days.

    Attributes:
        current: Study days in the streak that is still going (today, not over
            yet, does not break it).
        longest: Study days in the longest streak ever.
    """

    current: int
    longest: int


def streak(study_days: Iterable[date], today: date, rest_days: int, week_start: int) -> Streak:
    """The streaks of ``study_days`` (the days that count) up to ``today``.

    A streak is a run of study days; in each week (starting on ``week_start``),
    up to ``rest_days`` days without study do not break it, and a day beyond
    them does. Days are dates, so a change of clocks or of zone never breaks a
    streak by itself::

        rest_days=1   Mo Tu We Th Fr Sa Su | Mo Tu
                      x  x  .  x  x  x  x  | x  .      one rest a week: a streak of 7
                      x  x  .  .  x        |           a second rest breaks it: 2, then 1
    """
    days = sorted({d for d in study_days if d <= today})
    if not days:
        return Streak(0, 0)
    studied = set(days)
    run = longest = 0
    rested: dict[date, int] = {}
    day = days[0]
    while day <= today:
        if day in studied:
            run += 1
        elif day != today:  # today is not over: it cannot break anything yet
            week = bucket_of(day, Period.WEEK, week_start)[0]
            rested[week] = rested.get(week, 0) + 1
            if rested[week] > rest_days:
                run = 0
                rested[week] = 0  # a new streak starts with the week's rests unspent
        longest = max(longest, run)
        day += timedelta(days=1)
    return Streak(run, longest)
