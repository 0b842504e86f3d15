"""The read side of API v1 as documents: what the answers show, read through the ``Views`` port.

The same reads as :mod:`.views`, with the same access rules and errors, but
answered by ``uow.views`` (:class:`~luminary.core.ports.Views`) as plain
documents (:mod:`luminary.core.documents`) instead of entities bundled in
details: a store can then read only the columns the answers show and skip
building entities. Each use case reads a fixed number of queries whatever the
data. Lists are cut with :meth:`Slice.cut` like every list: by id, or newest first.
"""

from __future__ import annotations

from collections.abc import Callable

from ..access import Actor, Scope, require, see
from ..entities import Constellation
from ..errors import NotFound
from ..pagination import Cursor, PageRequest, Slice
from ..ports import Document, UnitOfWork
from ._loading import by_id, load_attempt, load_constellation, load_user, lookup_id, own_user_filter

__all__ = [
    "attempt_document",
    "constellation_attempt_documents",
    "constellation_contents",
    "constellation_post_documents",
    "current_attempt_document",
    "list_attempt_documents",
    "list_constellation_contents",
    "list_post_documents",
    "list_session_documents",
    "list_user_documents",
    "post_document",
    "session_document",
    "user_document",
]


def _by_id(document: Document) -> Cursor:
    return Cursor(None, document["id"])


def _newest(document: Document) -> Cursor:
    return Cursor(document["created_at"], document["id"])


def user_document(uow: UnitOfWork, user_id: int, *, actor: Actor) -> Document:
    """The user with their current attempt, attempts, sessions and posts.

    Raises:
        NotFound: No such user, or one ``actor`` may not see.
    """
    require(actor, Scope.READ)
    uid = lookup_id(user_id, "user_id")
    with uow.reading():
        document = uow.views.user(uid)
    if document is None:
        raise NotFound("User", uid)
    see(actor, uid, "User", uid)
    return document


def list_user_documents(uow: UnitOfWork, page: PageRequest, *, actor: Actor) -> Slice[Document]:
    """A page of users by id, each as :func:`user_document` shows them (administrators only)."""
    require(actor, Scope.ADMIN)
    with uow.reading():
        return Slice.cut(uow.views.users(page.probe()), page, _by_id)


def attempt_document(uow: UnitOfWork, attempt_id: int, *, actor: Actor) -> Document:
    """The attempt with its user, constellation and sessions.

    Raises:
        NotFound: No such attempt, or one ``actor`` may not see.
    """
    return _owned(
        uow, attempt_id, "attempt_id", "Constellation attempt", lambda aid: uow.views.attempt(aid), actor
    )


def current_attempt_document(uow: UnitOfWork, user_id: int, *, actor: Actor) -> Document:
    """The user's current attempt, as :func:`attempt_document` shows it.

    Raises:
        NotFound: No such user, or the user has no current attempt.
    """
    require(actor, Scope.READ)
    with uow.reading():
        user = load_user(uow, user_id, actor=actor)
        document = uow.views.attempt(user.current_attempt_id) if user.current_attempt_id else None
    if document is None:
        raise NotFound("Constellation attempt", message="No current attempt found for this user!")
    return document


def list_attempt_documents(
    uow: UnitOfWork, page: PageRequest, *, actor: Actor, user_id: int | None = None
) -> Slice[Document]:
    """A page of attempts by id, as :func:`attempt_document` shows them.

    A student sees only their own: without ``user_id``, the list is theirs.

    Raises:
        NotFound: ``user_id`` names nobody, or someone ``actor`` may not see.
    """
    require(actor, Scope.READ)
    with uow.reading():
        uid = own_user_filter(uow, actor, user_id)
        return Slice.cut(uow.views.attempts(page.probe(), user_id=uid), page, _by_id)


def session_document(uow: UnitOfWork, session_id: int, *, actor: Actor) -> Document:
    """The session with its user and attempt.

    Raises:
        NotFound: No such session, or one ``actor`` may not see.
    """
    return _owned(uow, session_id, "session_id", "Session", lambda sid: uow.views.session(sid), actor)


def _owned(
    uow: UnitOfWork,
    raw_id: object,
    field: str,
    entity: str,
    read: Callable[[int], Document | None],
    actor: Actor,
) -> Document:
    """The document ``read`` finds for the id, if ``actor`` may see its owner's (else :class:`NotFound`)."""
    require(actor, Scope.READ)
    found_id = lookup_id(raw_id, field)
    with uow.reading():
        document = read(found_id)
    if document is None:
        raise NotFound(entity, found_id)
    see(actor, document["user_id"], entity, found_id)
    return document


def list_session_documents(
    uow: UnitOfWork,
    page: PageRequest,
    *,
    actor: Actor,
    user_id: int | None = None,
    attempt_id: int | None = None,
) -> Slice[Document]:
    """A page of sessions, newest first, as :func:`session_document` shows them.

    A student sees only their own: without ``user_id``, the list is theirs.

    Raises:
        NotFound: ``user_id`` or ``attempt_id`` names nothing, or something of
            someone ``actor`` may not see.
    """
    require(actor, Scope.READ)
    with uow.reading():
        uid = own_user_filter(uow, actor, user_id)
        aid = None if attempt_id is None else load_attempt(uow, attempt_id, actor=actor).id
        found = uow.views.sessions(page.probe(), user_id=uid, attempt_id=aid)
        return Slice.cut(found, page, _newest)


def post_document(uow: UnitOfWork, post_id: int, *, actor: Actor) -> Document:
    """The post with its author and constellation.

    Raises:
        NotFound: No such post.
    """
    require(actor, Scope.READ)
    pid = lookup_id(post_id, "post_id")
    with uow.reading():
        document = uow.views.post(pid)
    if document is None:
        raise NotFound("Post", pid)
    return document


def list_post_documents(
    uow: UnitOfWork,
    page: PageRequest,
    *,
    actor: Actor,
    user_id: int | None = None,
    constellation_id: int | None = None,
) -> Slice[Document]:
    """A page of posts (the feed, or a user's, or a constellation's), newest first, as
    :func:`post_document` shows them.

    Raises:
        NotFound: ``user_id`` or ``constellation_id`` names nothing.
    """
    require(actor, Scope.READ)
    with uow.reading():
        uid = None if user_id is None else load_user(uow, user_id).id
        cid = None if constellation_id is None else load_constellation(uow, constellation_id).id
        found = uow.views.posts(page.probe(), user_id=uid, constellation_id=cid)
        return Slice.cut(found, page, _newest)


def constellation_attempt_documents(
    uow: UnitOfWork, page: PageRequest, *, constellation_id: int, actor: Actor
) -> Slice[Document]:
    """A page of the attempts at a constellation, by id, without what they embed.

    A student sees only their own among them.

    Raises:
        NotFound: No such constellation.
    """
    require(actor, Scope.READ)
    with uow.reading():
        cid = load_constellation(uow, constellation_id).id
        uid = None if actor.is_admin else (actor.user_id or 0)
        found = uow.views.constellation_attempts(page.probe(), constellation_id=cid, user_id=uid)
        return Slice.cut(found, page, _by_id)


def constellation_post_documents(
    uow: UnitOfWork, page: PageRequest, *, constellation_id: int, actor: Actor
) -> Slice[Document]:
    """A page of the posts about a constellation, newest first, without what they embed.

    Raises:
        NotFound: No such constellation.
    """
    require(actor, Scope.READ)
    with uow.reading():
        cid = load_constellation(uow, constellation_id).id
        found = uow.views.constellation_posts(page.probe(), constellation_id=cid)
        return Slice.cut(found, page, _newest)


def constellation_contents(
    uow: UnitOfWork, constellation_id: int, page: PageRequest, *, actor: Actor
) -> tuple[Slice[Document], Slice[Document]]:
    """The first pages of what a constellation carries, read together: its attempts (by id; a
    student sees their own among them) and its posts (newest first), without what they embed.

    One transaction and one look-up of the constellation for both; the pages
    that follow are read with :func:`constellation_attempt_documents` and
    :func:`constellation_post_documents`.

    Raises:
        NotFound: No such constellation.
    """
    require(actor, Scope.READ)
    with uow.reading():
        cid = load_constellation(uow, constellation_id).id
        uid = None if actor.is_admin else (actor.user_id or 0)
        attempts = uow.views.constellation_attempts(page.probe(), constellation_id=cid, user_id=uid)
        posts = uow.views.constellation_posts(page.probe(), constellation_id=cid)
        return Slice.cut(attempts, page, _by_id), Slice.cut(posts, page, _newest)


def list_constellation_contents(
    uow: UnitOfWork, page: PageRequest, contents: PageRequest, *, actor: Actor
) -> Slice[tuple[Constellation, Slice[Document], Slice[Document]]]:
    """A page of constellations by id, each with the first pages of what it carries, as
    :func:`constellation_contents` reads them for one (``contents.limit`` of each; a student
    sees their own attempts among them).

    One transaction, and a fixed number of queries whatever the number of constellations:
    the page, then what all of them carry (``uow.views.constellation_contents``). The
    pages that follow are read with :func:`constellation_attempt_documents` and
    :func:`constellation_post_documents`.
    """
    require(actor, Scope.READ)
    with uow.reading():
        found = Slice.cut(uow.constellations.list_page(page.probe()), page, by_id)
        uid = None if actor.is_admin else (actor.user_id or 0)
        carried = uow.views.constellation_contents(
            [c.id for c in found.items], contents.limit + 1, user_id=uid
        )
    items = []
    for constellation in found.items:
        attempts, posts = carried.get(constellation.id, ((), ()))
        items.append(
            (constellation, Slice.cut(attempts, contents, _by_id), Slice.cut(posts, contents, _newest))
        )
    return Slice(items, found.next_cursor)
