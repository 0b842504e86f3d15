"""Use cases of the session timer: start, pause, resume, stop, and what runs now.

The rules are in :mod:`luminary.core.study`. Every use case here first lets the
timer catch up with the clock (:func:`~luminary.core.study.settle_timer`): a
timer that ran past the cap is stopped at the cap, and that is what the
caller gets back, whatever it asked. A student has at most one timer running
or paused; starting another is a :class:`~luminary.core.errors.Conflict` that
names it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import attrs

from .. import study
from ..access import Actor, Scope, require, see
from ..clock import Clock
from ..entities import Session
from ..errors import Conflict, NotFound
from ..ports import UnitOfWork
from ._loading import load_session
from .sessions import _save, store_change

__all__ = [
    "Timer",
    "get_timer",
    "pause_timer",
    "resume_timer",
    "start_timer",
    "stop_timer",
]


@attrs.frozen
class Timer:
    """A student's running or paused timer.

    Attributes:
        session: The session it times.
        running: Whether it runs now (else it is paused).
        elapsed_seconds: Seconds it has run so far, to the moment it was read.
        stops_at: When it will stop itself at the cap if it keeps running; ``None`` while paused.
    """

    session: Session
    running: bool
    elapsed_seconds: int
    stops_at: datetime | None


def _settled(uow: UnitOfWork, session_id: int, actor: Actor, now: datetime, cap: timedelta) -> Session:
    """The session, locked, its timer stopped at the cap if it ran that long (stored, not committed)."""
    before = load_session(uow, session_id, for_update=True)
    see(actor, before.user_id, "Session", before.id)
    return store_change(uow, before, study.settle_timer(before, now, cap), now)


def start_timer(
    uow: UnitOfWork, session_id: int, *, actor: Actor, clock: Clock, cap: timedelta = study.DEFAULT_TIMER_CAP
) -> Session:
    """Start timing a session; it becomes ``in_progress``.

    Raises:
        Forbidden: The token lacks ``study``.
        NotFound: No such session, or someone else's.
        Conflict: The student has another timer running or paused (named), the
            session has no user, is completed or cancelled, or was started already.
    """
    require(actor, Scope.STUDY)
    with uow:
        now = clock.now()
        before = load_session(uow, session_id, for_update=True)
        see(actor, before.user_id, "Session", before.id)
        if before.user_id is None:
            raise Conflict("A session without a user has no timer")
        # The user's row serialises the starts of their timers: at most one is active.
        uow.users.get(before.user_id, for_update=True)
        active = uow.sessions.active_timer(before.user_id)
        if active is not None and active.id != before.id:
            settled = study.settle_timer(active, now, cap)
            if settled == active:
                state = "running" if active.is_running else "paused"
                raise Conflict(
                    f"Session {active.id} ({active.title}) is {state}: stop it before starting another"
                )
            store_change(uow, active, settled, now)  # it had stopped itself at the cap
        return _save(uow, before, study.start_timer(before, now), now)


def _act(
    uow: UnitOfWork,
    session_id: int,
    actor: Actor,
    clock: Clock,
    cap: timedelta,
    rule: Callable[[Session, datetime, timedelta], Session],
) -> Session:
    """Apply a timer rule to the session, unless its timer stopped itself at the cap: then answer it so."""
    require(actor, Scope.STUDY)
    with uow:
        now = clock.now()
        session = _settled(uow, session_id, actor, now, cap)
        if session.auto_stopped:
            uow.commit()
            return session
        return _save(uow, session, rule(session, now, cap), now)


def pause_timer(
    uow: UnitOfWork, session_id: int, *, actor: Actor, clock: Clock, cap: timedelta = study.DEFAULT_TIMER_CAP
) -> Session:
    """Pause a running timer (a timer that reached the cap is returned stopped).

    Raises:
        Forbidden: The token lacks ``study``.
        NotFound: No such session, or someone else's.
        Conflict: The timer is not running.
    """
    return _act(uow, session_id, actor, clock, cap, study.pause_timer)


def resume_timer(
    uow: UnitOfWork, session_id: int, *, actor: Actor, clock: Clock, cap: timedelta = study.DEFAULT_TIMER_CAP
) -> Session:
    """Resume a paused timer.

    Raises:
        Forbidden: The token lacks ``study``.
        NotFound: No such session, or someone else's.
        Conflict: The timer is not paused.
    """
    return _act(uow, session_id, actor, clock, cap, study.resume_timer)


def stop_timer(
    uow: UnitOfWork, session_id: int, *, actor: Actor, clock: Clock, cap: timedelta = study.DEFAULT_TIMER_CAP
) -> Session:
    """Stop a running or paused timer: the session is completed and credited its running time.

    Raises:
        Forbidden: The token lacks ``study``.
        NotFound: No such session, or someone else's.
        Conflict: The session's timer is not running or paused.
    """
    return _act(uow, session_id, actor, clock, cap, study.stop_timer)


def get_timer(
    uow: UnitOfWork, *, actor: Actor, clock: Clock, cap: timedelta = study.DEFAULT_TIMER_CAP
) -> Timer | None:
    """Return the acting student's running or paused timer, or ``None``.

    A timer found past the cap is stopped there first (and ``None`` returned):
    what the store holds is what the clock says, whenever the student asks.

    Raises:
        Forbidden: The token lacks ``read``.
        NotFound: ``actor`` is the system, not a student.
    """
    require(actor, Scope.READ)
    if actor.user_id is None:
        raise NotFound("User", message="The system has no timer")
    now = clock.now()
    with uow.reading():
        active = uow.sessions.active_timer(actor.user_id)
    if active is None:
        return None
    if study.settle_timer(active, now, cap) != active:
        with uow:
            _settled(uow, active.id, actor, now, cap)
            uow.commit()
        return None
    return Timer(active, active.is_running, study.elapsed_seconds(active, now), study.stops_at(active, cap))
