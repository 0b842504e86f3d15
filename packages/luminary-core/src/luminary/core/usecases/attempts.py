"""Use cases on attempts: starting one, stars, completion, deletion."""

from __future__ import annotations

import attrs

from .. import rules
from ..access import Actor, Scope, require
from ..clock import Clock
from ..commands import StartAttempt
from ..entities import Attempt
from ..pagination import PageRequest, Slice
from ..ports import UnitOfWork
from ._loading import (
    by_id,
    load_attempt,
    load_constellation,
    load_user,
    move_minutes,
    own_user_filter,
)

__all__ = [
    "add_star",
    "complete_attempt",
    "delete_attempt",
    "get_attempt",
    "list_attempts",
    "start_attempt",
]


def start_attempt(uow: UnitOfWork, command: StartAttempt, *, actor: Actor, clock: Clock) -> Attempt:
    """Start an attempt at a constellation; it becomes the user's current attempt (rule 1).

    The constellation is read ``for_share``: a concurrent weight change either
    commits first, or waits for this attempt and is refused
    (:func:`~luminary.core.usecases.constellations.update_constellation`).

    Raises:
        NotFound: No such user or constellation.
    """
    require(actor, Scope.STUDY)
    with uow:
        user = load_user(uow, command.user_id, for_update=True, actor=actor)
        # Held for_share: its weight stays as read until this unit of work ends.
        constellation = load_constellation(uow, command.constellation_id, for_share=True)
        attempt = uow.attempts.add(
            Attempt(user_id=user.id, constellation_id=constellation.id, created_at=clock.now())
        )
        uow.users.update(attrs.evolve(user, current_attempt_id=attempt.id))
        uow.commit()
    return attempt


def get_attempt(uow: UnitOfWork, attempt_id: int, *, actor: Actor) -> Attempt:
    """Return the attempt.

    Raises:
        NotFound: No such attempt.
    """
    require(actor, Scope.READ)
    with uow.reading():
        return load_attempt(uow, attempt_id, actor=actor)


def list_attempts(
    uow: UnitOfWork,
    page: PageRequest,
    *,
    actor: Actor,
    user_id: int | None = None,
    constellation_id: int | None = None,
) -> Slice[Attempt]:
    """Return a page of attempts, by id; only the user's, or only those at a constellation, when given.

    A student sees only their own attempts: without ``user_id``, the list is theirs.

    Raises:
        NotFound: ``user_id`` or ``constellation_id`` names nothing, or
            ``user_id`` names someone else.
    """
    require(actor, Scope.READ)
    with uow.reading():
        uid = own_user_filter(uow, actor, user_id)
        cid = None if constellation_id is None else load_constellation(uow, constellation_id).id
        rows = uow.attempts.list_page(page.probe(), user_id=uid, constellation_id=cid)
        return Slice.cut(rows, page, by_id)


def add_star(uow: UnitOfWork, attempt_id: int, *, actor: Actor, clock: Clock) -> Attempt:
    """Add one star to an attempt, completing it when it reaches the weight (rule 2).

    Raises:
        NotFound: No such attempt.
        Conflict: The attempt is already complete.
    """
    require(actor, Scope.STUDY)
    with uow:
        attempt = load_attempt(uow, attempt_id, actor=actor, for_update=True)
        constellation = load_constellation(uow, attempt.constellation_id)
        updated = rules.add_star(attempt, constellation, clock.now())
        uow.attempts.update(updated)
        if updated.is_completed:
            _release(uow, updated)
        uow.commit()
    return updated


def complete_attempt(uow: UnitOfWork, attempt_id: int, *, actor: Actor, clock: Clock) -> Attempt:
    """Complete an attempt: every star, a completion time, no longer current (rule 3).

    Completing a completed attempt changes nothing.

    Raises:
        NotFound: No such attempt.
    """
    require(actor, Scope.STUDY)
    with uow:
        attempt = load_attempt(uow, attempt_id, actor=actor, for_update=True)
        constellation = load_constellation(uow, attempt.constellation_id)
        updated = rules.complete_attempt(attempt, constellation, clock.now())
        if updated != attempt:
            uow.attempts.update(updated)
        _release(uow, updated)
        uow.commit()
    return updated


def _release(uow: UnitOfWork, attempt: Attempt) -> None:
    user = uow.users.get(attempt.user_id, for_update=True)
    if user is not None and user.current_attempt_id == attempt.id:
        uow.users.update(rules.release_attempt(user, attempt.id))


def delete_attempt(uow: UnitOfWork, attempt_id: int, *, actor: Actor) -> Attempt:
    """Remove an attempt with its sessions; their minutes leave the user's total (rules 4, 5).

    Raises:
        NotFound: No such attempt.
    """
    require(actor, Scope.STUDY)
    with uow:
        attempt = load_attempt(uow, attempt_id, actor=actor, for_update=True)
        removed = uow.sessions.delete_by_attempt(attempt.id)
        lost = sum(rules.counted_minutes(s) for s in removed if s.user_id == attempt.user_id)
        uow.attempts.delete(attempt.id)
        _release(uow, attempt)
        move_minutes(uow, attempt.user_id, -lost)
        uow.commit()
    return attempt
