"""Use cases of a student's statistics and streaks, derived from their completed sessions.

Nothing here is a stored counter: the store sums the completed sessions per
study day in one query (:meth:`~luminary.core.ports.SessionRepository.minutes_by_day`,
which storage answers from an index on user and study day), and the days are
grouped into weeks or months here. The buckets of a range add up exactly to
the minutes of the sessions completed in it, and over all time to the
student's ``total_minutes``.
"""

from __future__ import annotations

from datetime import date, timedelta

import attrs

from .. import study
from ..access import Actor, Scope, require
from ..clock import Clock
from ..entities import User
from ..errors import ValidationFailed
from ..ports import UnitOfWork
from ..study import MAX_RANGE_DAYS, Period
from ._loading import load_constellation, load_user

__all__ = ["Bucket", "Statistics", "Streaks", "statistics", "streaks", "today_of"]


@attrs.frozen
class Bucket:
    """One day, week or month of statistics.

    Attributes:
        start: Its first day (a week's may be before the range asked for).
        end: Its last day.
        minutes: Minutes completed on its days within the range.
        sessions: Sessions completed on its days within the range.
    """

    start: date
    end: date
    minutes: int
    sessions: int


@attrs.frozen
class Statistics:
    """A student's minutes and sessions over a range of study days.

    Attributes:
        first: The range's first day.
        last: Its last day.
        by: How days are grouped.
        buckets: Every bucket of the range, in order, empty ones included.
        minutes: Minutes completed in the range: the sum of the buckets'.
        sessions: Sessions completed in the range.
    """

    first: date
    last: date
    by: Period
    buckets: list[Bucket]
    minutes: int
    sessions: int


@attrs.frozen
class Streaks:
    """A student's streaks, as of today.

    Attributes:
        today: Their study day now.
        current: Study days in the streak still going.
        longest: Study days in their longest streak.
        studied_today: Whether today already counts.
        daily_minimum: Minutes a day needs to count.
        rest_days: Days a week without study that do not break a streak.
    """

    today: date
    current: int
    longest: int
    studied_today: bool
    daily_minimum: int
    rest_days: int


def today_of(user: User, clock: Clock) -> date:
    """The user's study day now."""
    return study.study_day(clock.now(), user.time_zone, user.day_start_hour)


def statistics(
    uow: UnitOfWork,
    user_id: int,
    *,
    actor: Actor,
    clock: Clock,
    first: date | None = None,
    last: date | None = None,
    by: Period = Period.DAY,
    constellation_id: int | None = None,
) -> Statistics:
    """Return the user's minutes and sessions per day, week or month from ``first`` to ``last`` (inclusive).

    ``last`` is the user's today unless given, ``first`` six days before
    ``last`` unless given (a week). Weeks start on the user's ``week_start``.
    A range that ends before it starts is empty.

    Raises:
        Forbidden: The token lacks ``read``.
        NotFound: No such user (or someone else), or no such constellation.
        ValidationFailed: The range is longer than :data:`~luminary.core.study.MAX_RANGE_DAYS`.
    """
    require(actor, Scope.READ)
    with uow.reading():
        user = load_user(uow, user_id, actor=actor)
        last = last or today_of(user, clock)
        first = first or last - timedelta(days=6)
        if (last - first).days >= MAX_RANGE_DAYS:
            raise ValidationFailed.field("to", f"must be less than {MAX_RANGE_DAYS} days after from")
        cid = None if constellation_id is None else load_constellation(uow, constellation_id).id
        days = uow.sessions.minutes_by_day(user.id, first, last, constellation_id=cid)
    buckets: dict[date, Bucket] = {}
    day = first
    while day <= last:
        start, end = study.bucket_of(day, by, user.week_start)
        buckets.setdefault(start, Bucket(start, end, 0, 0))
        day = end + timedelta(days=1)
    for total in days:
        start = study.bucket_of(total.day, by, user.week_start)[0]
        bucket = buckets[start]
        buckets[start] = attrs.evolve(
            bucket, minutes=bucket.minutes + total.minutes, sessions=bucket.sessions + total.sessions
        )
    ordered = [buckets[start] for start in sorted(buckets)]
    return Statistics(
        first,
        last,
        by,
        ordered,
        sum(b.minutes for b in ordered),
        sum(b.sessions for b in ordered),
    )


def streaks(uow: UnitOfWork, user_id: int, *, actor: Actor, clock: Clock) -> Streaks:
    """Return the user's current and longest streaks of study days, as of their today.

    A day counts when its completed minutes reach the user's ``daily_minimum``;
    up to ``rest_days`` days a week without study do not break a streak.

    Raises:
        Forbidden: The token lacks ``read``.
        NotFound: No such user, or someone else.
    """
    require(actor, Scope.READ)
    with uow.reading():
        user = load_user(uow, user_id, actor=actor)
        today = today_of(user, clock)
        days = uow.sessions.minutes_by_day(user.id, None, today)
    counted = [d.day for d in days if d.minutes >= user.daily_minimum]
    found = study.streak(counted, today, user.rest_days, user.week_start)
    return Streaks(
        today=today,
        current=found.current,
        longest=found.longest,
        studied_today=bool(counted) and counted[-1] == today,
        daily_minimum=user.daily_minimum,
        rest_days=user.rest_days,
    )
