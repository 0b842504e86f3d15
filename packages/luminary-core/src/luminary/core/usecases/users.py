"""Use cases on users: sign-up, reads, renames, deletion, and their minutes."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .. import rules
from ..access import Actor, Scope, require
from ..clock import Clock
from ..commands import CreateUser, UserPatch, changes
from ..entities import User
from ..pagination import PageRequest, Slice
from ..ports import UnitOfWork
from ._loading import (
    by_id,
    load_user,
    move_minutes,
)

__all__ = [
    "MinutesSummary",
    "SyncReport",
    "USER_FIELDS",
    "create_user",
    "delete_user",
    "get_user",
    "list_users",
    "sync_minutes",
    "total_minutes",
    "update_user",
]


#: The user fields :func:`update_user` may change.
USER_FIELDS = frozenset(f.name for f in attrs.fields(UserPatch))


@attrs.frozen
class MinutesSummary:
    """A user's minute count.

    Attributes:
        user_id: The user.
        display_name: Their name.
        total_minutes: Minutes of their completed sessions.
    """

    user_id: int
    display_name: str
    total_minutes: int


@attrs.frozen
class SyncReport:
    """What :func:`sync_minutes` corrected.

    Attributes:
        corrections: For each user whose total was wrong, ``(stored, recomputed)``.
    """

    corrections: Mapping[int, tuple[int, int]]

    @property
    def users_updated(self) -> int:
        """How many users had their total corrected."""
        return len(self.corrections)


def create_user(uow: UnitOfWork, command: CreateUser, *, actor: Actor, clock: Clock) -> User:
    """Create a user without credentials (API v1's sign-up); for administrators and the system.

    Students sign up with :func:`~luminary.core.usecases.accounts.sign_up`.

    Args:
        uow: The unit of work to run in.
        command: The new user's name.
        actor: Who acts.
        clock: Gives ``created_at``.

    Raises:
        Forbidden: ``actor`` is not an administrator.
    """
    require(actor, Scope.ADMIN)
    with uow:
        user = uow.users.add(User(display_name=command.display_name, created_at=clock.now()))
        uow.commit()
    return user


def get_user(uow: UnitOfWork, user_id: int, *, actor: Actor) -> User:
    """Return the user.

    Raises:
        NotFound: No such user, or someone else.
    """
    require(actor, Scope.READ)
    with uow.reading():
        return load_user(uow, user_id, actor=actor)


def list_users(uow: UnitOfWork, page: PageRequest, *, actor: Actor) -> Slice[User]:
    """Return a page of users, by id; for administrators.

    Raises:
        Forbidden: ``actor`` is not an administrator.
    """
    require(actor, Scope.ADMIN)
    with uow.reading():
        return Slice.cut(uow.users.list_page(page.probe()), page, by_id)


def update_user(uow: UnitOfWork, user_id: int, patch: UserPatch, *, actor: Actor, clock: Clock) -> User:
    """Change a user's display name, time zone or day start.

    A new time zone or day start applies to sessions completed from now on:
    past study days stay where they were.

    Args:
        uow: The unit of work to run in.
        user_id: The user to change.
        patch: What changes; absent fields keep their value.
        actor: Who acts: the user (with ``account``) or an administrator.
        clock: Unused today; kept so every write takes a clock.

    Raises:
        Forbidden: The token lacks ``account``.
        NotFound: No such user, or someone else.
    """
    require(actor, Scope.ACCOUNT)
    with uow:
        user = load_user(uow, user_id, actor=actor, for_update=True)
        updated = attrs.evolve(user, **changes(patch))
        if updated == user:
            return user
        uow.users.update(updated)
        uow.commit()
    return updated


def delete_user(uow: UnitOfWork, user_id: int, *, actor: Actor) -> User:
    """Remove a user with their attempts, sessions, posts, goals, tokens and credentials (rule 5).

    Returns:
        The user as it was.

    Raises:
        Forbidden: The token lacks ``account``.
        NotFound: No such user, or someone else.
    """
    require(actor, Scope.ACCOUNT)
    with uow:
        user = load_user(uow, user_id, actor=actor)
        # Children first, the user last: the same order as every other writer.
        uow.sessions.delete_by_user(user.id)
        uow.posts.delete_by_user(user.id)
        uow.attempts.delete_by_user(user.id)
        uow.goals.delete_by_user(user.id)
        uow.tokens.delete_by_user(user.id)
        uow.credentials.delete(user.id)
        uow.users.delete(user.id)
        uow.commit()
    return user


def total_minutes(uow: UnitOfWork, user_id: int, *, actor: Actor) -> MinutesSummary:
    """Return the user's total minutes.

    Raises:
        NotFound: No such user, or someone else.
    """
    require(actor, Scope.READ)
    with uow.reading():
        user = load_user(uow, user_id, actor=actor)
    return MinutesSummary(user.id, user.display_name, user.total_minutes)


def sync_minutes(uow: UnitOfWork, *, actor: Actor) -> SyncReport:
    """Recompute every user's total minutes from their completed sessions (rule 4).

    Totals are kept right by every use case; this repairs data changed behind
    Luminary's back and reports what it corrected. For administrators and the system.

    Raises:
        Forbidden: ``actor`` is not an administrator.
    """
    require(actor, Scope.ADMIN)
    with uow:
        stale = _stale_totals(uow)
        if not stale:
            return SyncReport({})
        # Lock the users to correct, then recompute: a concurrent session change
        # either committed before the lock (and is in the sums) or waits for it.
        for user_id in sorted(stale):
            uow.users.get(user_id, for_update=True)
        corrections = _stale_totals(uow)
        for user_id, (stored, recomputed) in corrections.items():
            move_minutes(uow, user_id, recomputed - stored)
        uow.commit()
    return SyncReport(corrections)


def _stale_totals(uow: UnitOfWork) -> dict[int, tuple[int, int]]:
    sums = uow.sessions.minutes_by_user(rules.COUNTED_STATUSES)
    return {
        uid: (stored, sums.get(uid, 0))
        for uid, stored in uow.users.total_minutes().items()
        if stored != sums.get(uid, 0)
    }
