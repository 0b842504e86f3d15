"""The rules of Luminary, as pure functions.

Each rule takes entities and returns new ones; none reads a clock, a store or
mutates its input. The use cases in :mod:`luminary.core.usecases` load, apply
these, and save.

Stars on an attempt (rule 2 and 3), for a constellation of weight 3::

    stars   0 ──add──> 1 ──add──> 2 ──add──> 3 (completed_at set) ──add──> Conflict
                         └────────────complete────────────┘ (idempotent)

Minutes (rule 4): a user's ``total_minutes`` is the sum of the minutes of their
completed sessions. Every change to a session moves it by
``counted_minutes(after) - counted_minutes(before)``::

    planned(30) ──complete──> completed(30)   total +30
    completed(30) ──patch minutes=45──>       total +15
    completed(45) ──cancel──> cancelled(45)   total -45
"""

from __future__ import annotations

import math
from datetime import datetime

import attrs

from . import study
from .entities import Attempt, Constellation, Session, SessionStatus, User
from .errors import Conflict
from .validation import MINUTES_MAX

__all__ = [
    "COUNTED_STATUSES",
    "add_star",
    "cancel_session",
    "complete_attempt",
    "complete_session",
    "counted_minutes",
    "derived_minutes",
    "minutes_delta",
    "release_attempt",
    "with_minutes",
]


def add_star(attempt: Attempt, constellation: Constellation, now: datetime) -> Attempt:
    """Return the attempt with one more star, completed if that reaches the weight.

    Raises:
        Conflict: The attempt already has all its stars.
    """
    if attempt.is_completed or attempt.stars_completed >= constellation.weight:
        raise Conflict("Constellation attempt is already completed!")
    stars = attempt.stars_completed + 1
    if stars >= constellation.weight:
        return complete_attempt(attempt, constellation, now)
    return attrs.evolve(attempt, stars_completed=stars)


def complete_attempt(attempt: Attempt, constellation: Constellation, now: datetime) -> Attempt:
    """Return the attempt with every star and a completion time; a completed attempt is returned as is."""
    if attempt.is_completed:
        return attempt
    return attrs.evolve(attempt, stars_completed=constellation.weight, completed_at=now)


def release_attempt(user: User, attempt_id: int) -> User:
    """Return the user without ``attempt_id`` as current attempt (unchanged if it is another)."""
    if user.current_attempt_id != attempt_id:
        return user
    return attrs.evolve(user, current_attempt_id=None)


def derived_minutes(started_at: datetime, completed_at: datetime) -> int:
    """Whole minutes between start and completion, within 0..1440."""
    seconds = (completed_at - started_at).total_seconds()
    return max(0, min(MINUTES_MAX, math.floor(seconds / 60)))


def complete_session(session: Session, now: datetime) -> Session:
    """Return the session completed.

    ``completed_at`` keeps a value already set, else becomes ``now``. A session
    without minutes but with ``started_at`` gets the whole minutes between its
    start and its completion; a timed one (:mod:`luminary.core.study`) gets its
    timer's running time instead, its running stretch ended. A completed
    session is returned as is.
    """
    if session.is_completed:
        return session
    completed_at = session.completed_at or now
    minutes = session.minutes
    if session.is_timed:
        session = study.close_stretch(session, completed_at)
        if minutes is None:
            minutes = (session.elapsed_seconds or 0) // 60
    elif minutes is None and session.started_at is not None:
        minutes = derived_minutes(session.started_at, completed_at)
    return attrs.evolve(
        session,
        status=SessionStatus.COMPLETED,
        completed_at=completed_at,
        minutes=minutes,
        updated_at=now,
    )


#: The statuses whose minutes count towards a user's total: the one place that says so.
#: Storage sums by it (``SessionRepository.minutes_by_user``) when totals are recomputed.
COUNTED_STATUSES = frozenset({SessionStatus.COMPLETED})


def cancel_session(session: Session, now: datetime) -> Session:
    """Return the session cancelled.

    A completed session loses its ``completed_at``, and its minutes no longer
    count; a running timer stops at ``now``, credited nothing. A cancelled
    session is returned as is.
    """
    if session.status is SessionStatus.CANCELLED:
        return session
    completed_at = None if session.is_completed else session.completed_at
    stopped = study.close_stretch(session, now)
    return attrs.evolve(stopped, status=SessionStatus.CANCELLED, completed_at=completed_at)


def counted_minutes(session: Session | None) -> int:
    """The minutes a session adds to its user's total: its minutes once completed, else 0.

    A session without a user counts for nobody.
    """
    if session is None or session.status not in COUNTED_STATUSES or session.user_id is None:
        return 0
    return session.minutes or 0


def minutes_delta(before: Session | None, after: Session | None) -> int:
    """How much a change from ``before`` to ``after`` moves the user's total.

    ``None`` stands for a session that does not exist (before creation, after
    deletion). Both sides must belong to the same user.
    """
    return counted_minutes(after) - counted_minutes(before)


def with_minutes(user: User, delta: int) -> User:
    """Return the user with ``delta`` added to ``total_minutes``."""
    if delta == 0:
        return user
    return attrs.evolve(user, total_minutes=user.total_minutes + delta)
