"""The read side of API v1: entities bundled with their relations.

Each ``*Detail`` is what one v1 answer shows, read with a fixed number of
queries whatever the amount of data (the readers batch their lookups).
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter

import attrs

from ..access import Actor, Scope, require, visible
from ..entities import Attempt, Constellation, Post, Session, User
from ..errors import NotFound
from ..pagination import PageRequest, Slice
from ..ports import UnitOfWork
from ._loading import (
    by_id,
    group_by,
    load_attempt,
    load_constellation,
    load_post,
    load_session,
    load_user,
    own_user_filter,
    post_page,
    session_page,
)

__all__ = [
    "AttemptDetail",
    "CompletedConstellations",
    "Completions",
    "ConstellationDetail",
    "PostDetail",
    "SessionDetail",
    "UserDetail",
    "completed_constellations",
    "completions",
    "current_attempt",
    "feed_details",
    "get_attempt_detail",
    "get_constellation_detail",
    "get_post_detail",
    "get_session_detail",
    "get_user_detail",
    "list_attempt_details",
    "list_constellation_details",
    "list_post_details",
    "list_session_details",
    "list_user_details",
]


@attrs.frozen
class UserDetail:
    """A user with everything that belongs to them.

    Attributes:
        user: The user.
        current_attempt: The attempt named by ``user.current_attempt_id``, if any.
        attempts: The user's attempts, by id.
        sessions: The user's sessions, newest first.
        posts: The user's posts, newest first.
    """

    user: User
    current_attempt: Attempt | None
    attempts: Sequence[Attempt]
    sessions: Sequence[Session]
    posts: Sequence[Post]


@attrs.frozen
class ConstellationDetail:
    """A constellation with the attempts at it and the posts about it.

    Attributes:
        constellation: The constellation.
        attempts: Attempts at it, by id.
        posts: Posts about it, newest first.
    """

    constellation: Constellation
    attempts: Sequence[Attempt]
    posts: Sequence[Post]


@attrs.frozen
class AttemptDetail:
    """An attempt with its user, its constellation and its sessions.

    Attributes:
        attempt: The attempt.
        user: Who makes it.
        constellation: What it attempts.
        sessions: Its sessions, newest first.
    """

    attempt: Attempt
    user: User
    constellation: Constellation
    sessions: Sequence[Session]


@attrs.frozen
class SessionDetail:
    """A session with its user and attempt, where it has them.

    Attributes:
        session: The session.
        user: Its user, or ``None``.
        attempt: Its attempt, or ``None``.
    """

    session: Session
    user: User | None
    attempt: Attempt | None


@attrs.frozen
class PostDetail:
    """A post with its author and constellation.

    Attributes:
        post: The post.
        user: Its author.
        constellation: What it is about.
    """

    post: Post
    user: User
    constellation: Constellation


@attrs.frozen
class CompletedConstellations:
    """What a user has completed.

    Attributes:
        user: The user.
        constellations: One entry per completed attempt, in the order the
            attempts were started: a constellation completed twice is there
            twice, each time with its details.
    """

    user: User
    constellations: Sequence[ConstellationDetail]

    @property
    def distinct(self) -> list[ConstellationDetail]:
        """Each completed constellation once, by id."""
        unique = {d.constellation.id: d for d in self.constellations}
        return [unique[cid] for cid in sorted(unique)]


@attrs.frozen
class Completions:
    """What a user has completed, without the constellations' attempts and posts.

    Attributes:
        user: The user.
        constellations: One constellation per completed attempt, in the order
            the attempts were started.
    """

    user: User
    constellations: Sequence[Constellation]


def _user_id(item: Attempt | Session | Post) -> int | None:
    return item.user_id


def _constellation_id(item: Attempt | Post) -> int:
    return item.constellation_id


def _attempt_id(item: Session) -> int | None:
    return item.constellation_attempt_id


def describe_users(uow: UnitOfWork, users: Sequence[User]) -> list[UserDetail]:
    ids = [u.id for u in users]
    if not ids:
        return []
    attempts = group_by(uow.attempts.list_by_users(ids), _user_id)
    sessions = group_by(uow.sessions.list_by_users(ids), _user_id)
    posts = group_by(uow.posts.list_by_users(ids), _user_id)
    details = []
    for user in users:
        own: list[Attempt] = attempts.get(user.id, [])
        current = next((a for a in own if a.id == user.current_attempt_id), None)
        details.append(
            UserDetail(
                user,
                current,
                own,
                sessions.get(user.id, []),
                posts.get(user.id, []),
            )
        )
    return details


def _describe_constellations(
    uow: UnitOfWork, constellations: Sequence[Constellation], actor: Actor
) -> list[ConstellationDetail]:
    ids = [c.id for c in constellations]
    if not ids:
        return []
    # Attempts are private: a student sees their own among a constellation's.
    seen = [a for a in uow.attempts.list_by_constellations(ids) if visible(actor, a.user_id)]
    attempts = group_by(seen, _constellation_id)
    posts = group_by(uow.posts.list_by_constellations(ids), _constellation_id)
    return [ConstellationDetail(c, attempts.get(c.id, []), posts.get(c.id, [])) for c in constellations]


def describe_attempts(uow: UnitOfWork, attempts: Sequence[Attempt]) -> list[AttemptDetail]:
    if not attempts:
        return []
    users = uow.users.get_many({a.user_id for a in attempts})
    constellations = uow.constellations.get_many({a.constellation_id for a in attempts})
    sessions = group_by(uow.sessions.list_by_attempts([a.id for a in attempts]), _attempt_id)
    return [
        AttemptDetail(
            a,
            users[a.user_id],
            constellations[a.constellation_id],
            sessions.get(a.id, []),
        )
        for a in attempts
    ]


def describe_sessions(uow: UnitOfWork, sessions: Sequence[Session]) -> list[SessionDetail]:
    user_ids = {s.user_id for s in sessions if s.user_id is not None}
    attempt_ids = {s.constellation_attempt_id for s in sessions if s.constellation_attempt_id is not None}
    users = uow.users.get_many(user_ids) if user_ids else {}
    attempts = uow.attempts.get_many(attempt_ids) if attempt_ids else {}
    return [
        SessionDetail(
            s,
            users.get(s.user_id) if s.user_id is not None else None,
            attempts.get(s.constellation_attempt_id) if s.constellation_attempt_id is not None else None,
        )
        for s in sessions
    ]


def describe_posts(uow: UnitOfWork, posts: Sequence[Post]) -> list[PostDetail]:
    if not posts:
        return []
    users = uow.users.get_many({p.user_id for p in posts})
    constellations = uow.constellations.get_many({p.constellation_id for p in posts})
    return [PostDetail(p, users[p.user_id], constellations[p.constellation_id]) for p in posts]


def get_user_detail(uow: UnitOfWork, user_id: int, *, actor: Actor) -> UserDetail:
    """Return the user with their attempts, sessions and posts.

    Raises:
        NotFound: No such user.
    """
    require(actor, Scope.READ)
    with uow.reading():
        return describe_users(uow, [load_user(uow, user_id, actor=actor)])[0]


def list_user_details(uow: UnitOfWork, page: PageRequest, *, actor: Actor) -> Slice[UserDetail]:
    """Return a page of users, by id, each with their attempts, sessions and posts."""
    require(actor, Scope.ADMIN)
    with uow.reading():
        users = Slice.cut(uow.users.list_page(page.probe()), page, by_id)
        return Slice(describe_users(uow, users.items), users.next_cursor)


def completed_constellations(uow: UnitOfWork, user_id: int, *, actor: Actor) -> CompletedConstellations:
    """Return what the user has completed: one constellation per completed attempt.

    Raises:
        NotFound: No such user.
    """
    require(actor, Scope.READ)
    with uow.reading():
        user = load_user(uow, user_id, actor=actor)
        done = _completed_attempts(uow, user)
        found = uow.constellations.get_many({a.constellation_id for a in done}) if done else {}
        details = {
            d.constellation.id: d
            for d in _describe_constellations(uow, [found[cid] for cid in sorted(found)], actor)
        }
        return CompletedConstellations(user, [details[a.constellation_id] for a in done])


def completions(uow: UnitOfWork, user_id: int, *, actor: Actor) -> Completions:
    """Return what the user has completed: one constellation per completed attempt, no details.

    Raises:
        NotFound: No such user.
    """
    require(actor, Scope.READ)
    with uow.reading():
        user = load_user(uow, user_id, actor=actor)
        done = _completed_attempts(uow, user)
        found = uow.constellations.get_many({a.constellation_id for a in done}) if done else {}
        return Completions(user, [found[a.constellation_id] for a in done])


def _completed_attempts(uow: UnitOfWork, user: User) -> list[Attempt]:
    attempts = uow.attempts.list_by_users([user.id])
    return sorted((a for a in attempts if a.is_completed), key=attrgetter("id"))


def get_constellation_detail(uow: UnitOfWork, constellation_id: int, *, actor: Actor) -> ConstellationDetail:
    """Return the constellation with its attempts and posts.

    Raises:
        NotFound: No such constellation.
    """
    require(actor, Scope.READ)
    with uow.reading():
        return _describe_constellations(uow, [load_constellation(uow, constellation_id)], actor)[0]


def list_constellation_details(
    uow: UnitOfWork, page: PageRequest, *, actor: Actor
) -> Slice[ConstellationDetail]:
    """Return a page of constellations, by id, each with its attempts and posts."""
    require(actor, Scope.READ)
    with uow.reading():
        found = Slice.cut(uow.constellations.list_page(page.probe()), page, by_id)
        return Slice(_describe_constellations(uow, found.items, actor), found.next_cursor)


def get_attempt_detail(uow: UnitOfWork, attempt_id: int, *, actor: Actor) -> AttemptDetail:
    """Return the attempt with its user, constellation and sessions.

    Raises:
        NotFound: No such attempt.
    """
    require(actor, Scope.READ)
    with uow.reading():
        attempt = load_attempt(uow, attempt_id, actor=actor)
        return describe_attempts(uow, [attempt])[0]


def list_attempt_details(
    uow: UnitOfWork, page: PageRequest, *, actor: Actor, user_id: int | None = None
) -> Slice[AttemptDetail]:
    """Like :func:`list_attempts`, each attempt with its user, constellation and sessions."""
    require(actor, Scope.READ)
    with uow.reading():
        uid = own_user_filter(uow, actor, user_id)
        found = Slice.cut(uow.attempts.list_page(page.probe(), user_id=uid), page, by_id)
        return Slice(describe_attempts(uow, found.items), found.next_cursor)


def current_attempt(uow: UnitOfWork, user_id: int, *, actor: Actor) -> AttemptDetail:
    """Return the user's current attempt with its details.

    Raises:
        NotFound: No such user, or the user has no current attempt.
    """
    require(actor, Scope.READ)
    with uow.reading():
        user = load_user(uow, user_id, actor=actor)
        attempt = uow.attempts.get(user.current_attempt_id) if user.current_attempt_id else None
        if attempt is None:
            raise NotFound("Constellation attempt", message="No current attempt found for this user!")
        return describe_attempts(uow, [attempt])[0]


def get_session_detail(uow: UnitOfWork, session_id: int, *, actor: Actor) -> SessionDetail:
    """Return the session with its user and attempt.

    Raises:
        NotFound: No such session.
    """
    require(actor, Scope.READ)
    with uow.reading():
        session = load_session(uow, session_id, actor=actor)
        return describe_sessions(uow, [session])[0]


def list_session_details(
    uow: UnitOfWork,
    page: PageRequest,
    *,
    actor: Actor,
    user_id: int | None = None,
    attempt_id: int | None = None,
) -> Slice[SessionDetail]:
    """Like :func:`list_sessions`, each session with its user and attempt."""
    require(actor, Scope.READ)
    with uow.reading():
        found = session_page(uow, actor, page, user_id, attempt_id)
        return Slice(describe_sessions(uow, found.items), found.next_cursor)


def get_post_detail(uow: UnitOfWork, post_id: int, *, actor: Actor) -> PostDetail:
    """Return the post with its author and constellation.

    Raises:
        NotFound: No such post.
    """
    require(actor, Scope.READ)
    with uow.reading():
        return describe_posts(uow, [load_post(uow, post_id)])[0]


def list_post_details(
    uow: UnitOfWork,
    page: PageRequest,
    *,
    actor: Actor,
    user_id: int | None = None,
    constellation_id: int | None = None,
) -> Slice[PostDetail]:
    """Like :func:`list_posts`, each post with its author and constellation."""
    require(actor, Scope.READ)
    with uow.reading():
        found = post_page(uow, page, user_id, constellation_id)
        return Slice(describe_posts(uow, found.items), found.next_cursor)


def feed_details(uow: UnitOfWork, page: PageRequest, *, actor: Actor) -> Slice[PostDetail]:
    """Return a page of the feed, each post with its author and constellation."""
    require(actor, Scope.READ)
    return list_post_details(uow, page, actor=actor)
