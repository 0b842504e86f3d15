"""Loading what a use case works on: by id, or a page, with the errors callers expect.

Shared by the use-case modules; not part of the public API.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import TypeVar

from .. import rules
from ..access import Actor, see
from ..entities import Attempt, Constellation, Post, Session, User
from ..errors import NotFound
from ..pagination import Cursor, PageRequest, Slice
from ..ports import UnitOfWork
from ..validation import (
    ID,
)

T = TypeVar("T")


def group_by(items: Iterable[T], key: Callable[[T], int | None]) -> dict[int | None, list[T]]:
    """The items in lists by ``key(item)``, each list in the items' order."""
    grouped: dict[int | None, list[T]] = defaultdict(list)
    for item in items:
        grouped[key(item)].append(item)
    return grouped


def by_id(item: User | Constellation | Attempt) -> Cursor:
    return Cursor(None, item.id)


def newest(item: Session | Post) -> Cursor:
    return Cursor(item.created_at, item.id)


def load_user(
    uow: UnitOfWork,
    user_id: object,
    *,
    for_update: bool = False,
    field: str = "user_id",
    actor: Actor | None = None,
) -> User:
    """The user; with ``actor``, only one they may see (else :class:`NotFound`, as if absent)."""
    uid = lookup_id(user_id, field)
    user = uow.users.get(uid, for_update=for_update)
    if user is None:
        raise NotFound("User", uid)
    if actor is not None:
        see(actor, user.id, "User", user.id)
    return user


def load_constellation(
    uow: UnitOfWork,
    constellation_id: object,
    *,
    field: str = "constellation_id",
    for_update: bool = False,
    for_share: bool = False,
) -> Constellation:
    cid = lookup_id(constellation_id, field)
    constellation = uow.constellations.get(cid, for_update=for_update, for_share=for_share)
    if constellation is None:
        raise NotFound("Constellation", cid)
    return constellation


def load_attempt(
    uow: UnitOfWork,
    attempt_id: object,
    *,
    for_update: bool = False,
    field: str = "attempt_id",
    actor: Actor | None = None,
) -> Attempt:
    """The attempt; with ``actor``, only one they may see (else :class:`NotFound`, as if absent)."""
    aid = lookup_id(attempt_id, field)
    attempt = uow.attempts.get(aid, for_update=for_update)
    if attempt is None:
        raise NotFound("Constellation attempt", aid)
    if actor is not None:
        see(actor, attempt.user_id, "Constellation attempt", attempt.id)
    return attempt


def load_session(
    uow: UnitOfWork, session_id: object, *, for_update: bool = False, actor: Actor | None = None
) -> Session:
    """The session; with ``actor``, only one they may see (else :class:`NotFound`, as if absent)."""
    sid = lookup_id(session_id, "session_id")
    session = uow.sessions.get(sid, for_update=for_update)
    if session is None:
        raise NotFound("Session", sid)
    if actor is not None:
        see(actor, session.user_id, "Session", session.id)
    return session


def load_post(uow: UnitOfWork, post_id: object) -> Post:
    pid = lookup_id(post_id, "post_id")
    post = uow.posts.get(pid)
    if post is None:
        raise NotFound("Post", pid)
    return post


def lookup_id(value: object, field: str) -> int:
    """An id of something to look up: a malformed id is refused, an out-of-range one finds nothing."""
    return ID(value, field)


def move_minutes(uow: UnitOfWork, user_id: int | None, delta: int, *, locked: User | None = None) -> None:
    """Add ``delta`` to the user's total, on the locked row (rule 4).

    Every change of a stored ``total_minutes`` goes through here. ``locked`` is
    the user's row as this unit of work already read it ``for_update`` (and has
    not changed it since), which spares reading it again.
    """
    if user_id is None or delta == 0:
        return
    user = locked if locked is not None and locked.id == user_id else uow.users.get(user_id, for_update=True)
    if user is not None:
        uow.users.update(rules.with_minutes(user, delta))


def own_user_filter(uow: UnitOfWork, actor: Actor, user_id: int | None) -> int | None:
    """The user a list of private things is cut to: ``user_id`` if ``actor`` may see theirs.

    Without ``user_id``, a student's list is cut to their own; an administrator's is not cut.

    Raises:
        NotFound: ``user_id`` names nobody, or someone ``actor`` may not see.
    """
    if user_id is not None:
        user = load_user(uow, user_id, actor=actor)
        return user.id
    return None if actor.is_admin else (actor.user_id or 0)


def session_page(
    uow: UnitOfWork, actor: Actor, page: PageRequest, user_id: int | None, attempt_id: int | None
) -> Slice[Session]:
    uid = own_user_filter(uow, actor, user_id)
    aid = None if attempt_id is None else load_attempt(uow, attempt_id, actor=actor).id
    rows = uow.sessions.list_page(page.probe(), user_id=uid, attempt_id=aid)
    return Slice.cut(rows, page, newest)


def post_page(
    uow: UnitOfWork, page: PageRequest, user_id: int | None, constellation_id: int | None
) -> Slice[Post]:
    uid = None if user_id is None else load_user(uow, user_id).id
    cid = None if constellation_id is None else load_constellation(uow, constellation_id).id
    rows = uow.posts.list_page(page.probe(), user_id=uid, constellation_id=cid)
    return Slice.cut(rows, page, newest)
