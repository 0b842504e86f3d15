"""Use cases: one function per operation of the two APIs.

Each use case takes a :class:`~luminary.core.ports.UnitOfWork`, opens it, loads
what it needs, applies the rules of :mod:`luminary.core.rules`, saves, and
commits. Writes also take a :class:`~luminary.core.clock.Clock`. Input arrives
raw (as a caller sent it) and is validated here; a failure raises a
:class:`~luminary.core.errors.LuminaryError` and changes nothing.

Reads come in two forms: flat entities (``get_user``, ``list_sessions`` …) and
*details* that bundle an entity with its relations (``get_user_detail`` …),
loaded with a fixed number of queries whatever the amount of data.

Use cases that only read enter the unit of work with ``uow.reading()``, so
that storage may let them run side by side with writers.

Locks are taken in one order — session, attempt, user — so that concurrent
writers never deadlock, and a counter is only changed on a row read with
``for_update=True``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from operator import attrgetter
from typing import cast

import attrs

from . import rules
from .clock import Clock
from .entities import Attempt, Constellation, Post, PostType, Session, SessionStatus, User
from .errors import Conflict, NotFound, ValidationFailed
from .pagination import Cursor, PageRequest, Slice
from .ports import UnitOfWork
from .validation import (
    DESCRIPTION_MAX,
    DIFFICULTY_MAX,
    DISPLAY_NAME_MAX,
    MESSAGE_MAX,
    MINUTES_MAX,
    NAME_MAX,
    STUDY_DURATION_MAX,
    TITLE_MAX,
    WEIGHT_MAX,
    Fields,
    choice,
    identifier,
    integer,
    text,
    timestamp,
)

__all__ = [
    "DEFAULT_CONSTELLATIONS",
    "CONSTELLATION_FIELDS",
    "SESSION_FIELDS",
    "USER_FIELDS",
    "AttemptDetail",
    "CompletedConstellations",
    "Completions",
    "ConstellationDetail",
    "MinutesSummary",
    "PostDetail",
    "SessionDetail",
    "SyncReport",
    "UserDetail",
    "add_star",
    "cancel_session",
    "complete_attempt",
    "complete_session",
    "completed_constellations",
    "completions",
    "create_constellation",
    "create_post",
    "create_session",
    "create_user",
    "current_attempt",
    "delete_attempt",
    "delete_constellation",
    "delete_post",
    "delete_session",
    "delete_user",
    "feed",
    "feed_details",
    "get_attempt",
    "get_attempt_detail",
    "get_constellation",
    "get_constellation_detail",
    "get_post",
    "get_post_detail",
    "get_session",
    "get_session_detail",
    "get_user",
    "get_user_detail",
    "list_attempt_details",
    "list_attempts",
    "list_constellation_details",
    "list_constellations",
    "list_post_details",
    "list_posts",
    "list_session_details",
    "list_sessions",
    "list_user_details",
    "list_users",
    "seed_constellations",
    "start_attempt",
    "sync_minutes",
    "total_minutes",
    "update_constellation",
    "update_session",
    "update_user",
]

#: The constellations a new Luminary starts with: (name, weight).
DEFAULT_CONSTELLATIONS: tuple[tuple[str, int], ...] = (
    ("Triangulum", 3),
    ("Delphinus", 5),
    ("Big Dipper", 7),
)

#: The session fields a caller may set on creation or change with :func:`update_session`.
SESSION_FIELDS = frozenset(
    {"title", "description", "status", "difficulty", "minutes", "started_at", "completed_at"}
)
#: The constellation fields :func:`update_constellation` may change.
CONSTELLATION_FIELDS = frozenset({"name", "weight"})
#: The user fields :func:`update_user` may change.
USER_FIELDS = frozenset({"display_name"})


# ---------------------------------------------------------------- details


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


def _group(items: Iterable[object], key: str) -> dict[int, list[object]]:
    grouped: dict[int, list[object]] = defaultdict(list)
    for item in items:
        grouped[getattr(item, key)].append(item)
    return grouped


def _describe_users(uow: UnitOfWork, users: Sequence[User]) -> list[UserDetail]:
    ids = [u.id for u in users]
    if not ids:
        return []
    attempts = _group(uow.attempts.list_by_users(ids), "user_id")
    sessions = _group(uow.sessions.list_by_users(ids), "user_id")
    posts = _group(uow.posts.list_by_users(ids), "user_id")
    details = []
    for user in users:
        own: list[Attempt] = attempts.get(user.id, [])  # type: ignore[assignment]
        current = next((a for a in own if a.id == user.current_attempt_id), None)
        details.append(
            UserDetail(
                user,
                current,
                own,
                sessions.get(user.id, []),  # type: ignore[arg-type]
                posts.get(user.id, []),  # type: ignore[arg-type]
            )
        )
    return details


def _describe_constellations(
    uow: UnitOfWork, constellations: Sequence[Constellation]
) -> list[ConstellationDetail]:
    ids = [c.id for c in constellations]
    if not ids:
        return []
    attempts = _group(uow.attempts.list_by_constellations(ids), "constellation_id")
    posts = _group(uow.posts.list_by_constellations(ids), "constellation_id")
    return [
        ConstellationDetail(c, attempts.get(c.id, []), posts.get(c.id, []))  # type: ignore[arg-type]
        for c in constellations
    ]


def _describe_attempts(uow: UnitOfWork, attempts: Sequence[Attempt]) -> list[AttemptDetail]:
    if not attempts:
        return []
    users = uow.users.get_many({a.user_id for a in attempts})
    constellations = uow.constellations.get_many({a.constellation_id for a in attempts})
    sessions = _group(uow.sessions.list_by_attempts([a.id for a in attempts]), "constellation_attempt_id")
    return [
        AttemptDetail(
            a,
            users[a.user_id],
            constellations[a.constellation_id],
            sessions.get(a.id, []),  # type: ignore[arg-type]
        )
        for a in attempts
    ]


def _describe_sessions(uow: UnitOfWork, sessions: Sequence[Session]) -> list[SessionDetail]:
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


def _describe_posts(uow: UnitOfWork, posts: Sequence[Post]) -> list[PostDetail]:
    if not posts:
        return []
    users = uow.users.get_many({p.user_id for p in posts})
    constellations = uow.constellations.get_many({p.constellation_id for p in posts})
    return [PostDetail(p, users[p.user_id], constellations[p.constellation_id]) for p in posts]


# ---------------------------------------------------------------- loading helpers


def _by_id(item: User | Constellation | Attempt) -> Cursor:
    return Cursor(None, item.id)


def _newest(item: Session | Post) -> Cursor:
    return Cursor(item.created_at, item.id)


def _user(uow: UnitOfWork, user_id: object, *, for_update: bool = False, field: str = "user_id") -> User:
    uid = _id(user_id, field)
    user = uow.users.get(uid, for_update=for_update)
    if user is None:
        raise NotFound("User", uid)
    return user


def _constellation(
    uow: UnitOfWork, constellation_id: object, *, field: str = "constellation_id"
) -> Constellation:
    cid = _id(constellation_id, field)
    constellation = uow.constellations.get(cid)
    if constellation is None:
        raise NotFound("Constellation", cid)
    return constellation


def _attempt(
    uow: UnitOfWork, attempt_id: object, *, for_update: bool = False, field: str = "attempt_id"
) -> Attempt:
    aid = _id(attempt_id, field)
    attempt = uow.attempts.get(aid, for_update=for_update)
    if attempt is None:
        raise NotFound("Constellation attempt", aid)
    return attempt


def _session(uow: UnitOfWork, session_id: object, *, for_update: bool = False) -> Session:
    sid = _id(session_id, "session_id")
    session = uow.sessions.get(sid, for_update=for_update)
    if session is None:
        raise NotFound("Session", sid)
    return session


def _post(uow: UnitOfWork, post_id: object) -> Post:
    pid = _id(post_id, "post_id")
    post = uow.posts.get(pid)
    if post is None:
        raise NotFound("Post", pid)
    return post


def _id(value: object, field: str) -> int:
    """An id of something to look up: a malformed or out-of-range id finds nothing."""
    try:
        return identifier(value, field)
    except ValidationFailed:
        if isinstance(value, int) and not isinstance(value, bool):
            # Well-formed but beyond any stored id (0, negative, 10**30): nothing has it.
            return 0
        raise


def _move_minutes(uow: UnitOfWork, user_id: int | None, delta: int) -> None:
    """Add ``delta`` to the user's total, on the locked row (rule 4)."""
    if user_id is None or delta == 0:
        return
    user = uow.users.get(user_id, for_update=True)
    if user is not None:
        uow.users.update(rules.with_minutes(user, delta))


# ---------------------------------------------------------------- users


def create_user(uow: UnitOfWork, display_name: str, *, clock: Clock) -> User:
    """Sign a student up.

    Args:
        uow: The unit of work to run in.
        display_name: 1–1000 characters, surrounding spaces removed.
        clock: Gives ``created_at``.

    Raises:
        ValidationFailed: Naming ``display_name``.
    """
    name = text(display_name, "display_name", maximum=DISPLAY_NAME_MAX)
    with uow:
        user = uow.users.add(User(display_name=name, created_at=clock.now()))
        uow.commit()
    return user


def get_user(uow: UnitOfWork, user_id: int) -> User:
    """Return the user.

    Raises:
        NotFound: No such user.
    """
    with uow.reading():
        return _user(uow, user_id)


def list_users(uow: UnitOfWork, page: PageRequest) -> Slice[User]:
    """Return a page of users, by id."""
    with uow.reading():
        return Slice.cut(uow.users.list_page(page.probe()), page, _by_id)


def get_user_detail(uow: UnitOfWork, user_id: int) -> UserDetail:
    """Return the user with their attempts, sessions and posts.

    Raises:
        NotFound: No such user.
    """
    with uow.reading():
        return _describe_users(uow, [_user(uow, user_id)])[0]


def list_user_details(uow: UnitOfWork, page: PageRequest) -> Slice[UserDetail]:
    """Return a page of users, by id, each with their attempts, sessions and posts."""
    with uow.reading():
        users = Slice.cut(uow.users.list_page(page.probe()), page, _by_id)
        return Slice(_describe_users(uow, users.items), users.next_cursor)


def update_user(uow: UnitOfWork, user_id: int, changes: Mapping[str, object], *, clock: Clock) -> User:
    """Change a user's display name.

    Args:
        uow: The unit of work to run in.
        user_id: The user to change.
        changes: ``display_name`` (1–1000 characters), or nothing.
        clock: Unused today; kept so every write takes a clock.

    Raises:
        NotFound: No such user.
        ValidationFailed: A field is malformed or unknown.
    """
    _refuse_unknown(changes, USER_FIELDS)
    name = (
        text(changes["display_name"], "display_name", maximum=DISPLAY_NAME_MAX)
        if "display_name" in changes
        else None
    )
    with uow:
        user = _user(uow, user_id, for_update=True)
        if name is None or name == user.display_name:
            return user
        updated = attrs.evolve(user, display_name=name)
        uow.users.update(updated)
        uow.commit()
    return updated


def delete_user(uow: UnitOfWork, user_id: int) -> User:
    """Remove a user with their attempts, sessions and posts (rule 5).

    Returns:
        The user as it was.

    Raises:
        NotFound: No such user.
    """
    with uow:
        user = _user(uow, user_id)
        # Children first, the user last: the same order as every other writer.
        uow.sessions.delete_by_user(user.id)
        uow.posts.delete_by_user(user.id)
        uow.attempts.delete_by_user(user.id)
        uow.users.delete(user.id)
        uow.commit()
    return user


def total_minutes(uow: UnitOfWork, user_id: int) -> MinutesSummary:
    """Return the user's total minutes.

    Raises:
        NotFound: No such user.
    """
    with uow.reading():
        user = _user(uow, user_id)
    return MinutesSummary(user.id, user.display_name, user.total_minutes)


def completed_constellations(uow: UnitOfWork, user_id: int) -> CompletedConstellations:
    """Return what the user has completed: one constellation per completed attempt.

    Raises:
        NotFound: No such user.
    """
    with uow.reading():
        user = _user(uow, user_id)
        done = _completed_attempts(uow, user)
        found = uow.constellations.get_many({a.constellation_id for a in done}) if done else {}
        details = {
            d.constellation.id: d
            for d in _describe_constellations(uow, [found[cid] for cid in sorted(found)])
        }
        return CompletedConstellations(user, [details[a.constellation_id] for a in done])


def sync_minutes(uow: UnitOfWork) -> SyncReport:
    """Recompute every user's total minutes from their completed sessions (rule 4).

    Totals are kept right by every use case; this repairs data changed behind
    Luminary's back and reports what it corrected.
    """
    with uow:
        stale = _stale_totals(uow)
        if not stale:
            return SyncReport({})
        # Lock the users to correct, then recompute: a concurrent session change
        # either committed before the lock (and is in the sums) or waits for it.
        for user_id in sorted(stale):
            uow.users.get(user_id, for_update=True)
        corrections = _stale_totals(uow)
        for user_id, (_, recomputed) in corrections.items():
            user = uow.users.get(user_id, for_update=True)
            if user is not None:
                uow.users.update(attrs.evolve(user, total_minutes=recomputed))
        uow.commit()
    return SyncReport(corrections)


def completions(uow: UnitOfWork, user_id: int) -> Completions:
    """Return what the user has completed: one constellation per completed attempt, no details.

    Raises:
        NotFound: No such user.
    """
    with uow.reading():
        user = _user(uow, user_id)
        done = _completed_attempts(uow, user)
        found = uow.constellations.get_many({a.constellation_id for a in done}) if done else {}
        return Completions(user, [found[a.constellation_id] for a in done])


def _completed_attempts(uow: UnitOfWork, user: User) -> list[Attempt]:
    attempts = uow.attempts.list_by_users([user.id])
    return sorted((a for a in attempts if a.is_completed), key=attrgetter("id"))


def _stale_totals(uow: UnitOfWork) -> dict[int, tuple[int, int]]:
    sums = uow.sessions.completed_minutes_by_user()
    return {
        uid: (stored, sums.get(uid, 0))
        for uid, stored in uow.users.total_minutes().items()
        if stored != sums.get(uid, 0)
    }


# ---------------------------------------------------------------- constellations


def create_constellation(uow: UnitOfWork, name: str, weight: int, *, clock: Clock) -> Constellation:
    """Create a constellation.

    Args:
        uow: The unit of work to run in.
        name: 1–100 characters.
        weight: Number of stars, 1–1000.
        clock: Gives ``created_at``.

    Raises:
        ValidationFailed: Naming ``name`` and/or ``weight``.
    """
    fields = Fields()
    with fields:
        checked_name = text(name, "name", maximum=NAME_MAX)
    with fields:
        checked_weight = integer(weight, "weight", minimum=1, maximum=WEIGHT_MAX)
    fields.check()
    with uow:
        constellation = uow.constellations.add(
            Constellation(name=checked_name, weight=checked_weight, created_at=clock.now())
        )
        uow.commit()
    return constellation


def seed_constellations(
    uow: UnitOfWork,
    *,
    clock: Clock,
    defaults: Iterable[tuple[str, int]] = DEFAULT_CONSTELLATIONS,
) -> Sequence[Constellation]:
    """Add the default constellations to a store that has none.

    Returns:
        The constellations added; empty when the store already had some.
    """
    with uow:
        if uow.constellations.count():
            return []
        now = clock.now()
        added = [uow.constellations.add(Constellation(name=n, weight=w, created_at=now)) for n, w in defaults]
        uow.commit()
    return added


def get_constellation(uow: UnitOfWork, constellation_id: int) -> Constellation:
    """Return the constellation.

    Raises:
        NotFound: No such constellation.
    """
    with uow.reading():
        return _constellation(uow, constellation_id, field="constellation_id")


def list_constellations(uow: UnitOfWork, page: PageRequest) -> Slice[Constellation]:
    """Return a page of constellations, by id."""
    with uow.reading():
        return Slice.cut(uow.constellations.list_page(page.probe()), page, _by_id)


def get_constellation_detail(uow: UnitOfWork, constellation_id: int) -> ConstellationDetail:
    """Return the constellation with its attempts and posts.

    Raises:
        NotFound: No such constellation.
    """
    with uow.reading():
        return _describe_constellations(uow, [_constellation(uow, constellation_id)])[0]


def list_constellation_details(uow: UnitOfWork, page: PageRequest) -> Slice[ConstellationDetail]:
    """Return a page of constellations, by id, each with its attempts and posts."""
    with uow.reading():
        found = Slice.cut(uow.constellations.list_page(page.probe()), page, _by_id)
        return Slice(_describe_constellations(uow, found.items), found.next_cursor)


def update_constellation(
    uow: UnitOfWork, constellation_id: int, changes: Mapping[str, object], *, clock: Clock
) -> Constellation:
    """Rename a constellation or change its weight.

    Args:
        uow: The unit of work to run in.
        constellation_id: The constellation to change.
        changes: Any of ``name`` and ``weight``; absent fields keep their value.
        clock: Unused today; kept so every write takes a clock.

    Raises:
        NotFound: No such constellation.
        ValidationFailed: A field is malformed or unknown.
        Conflict: The weight would change while attempts refer to the
            constellation (their stars are counted against it).
    """
    _refuse_unknown(changes, CONSTELLATION_FIELDS)
    fields = Fields()
    updates: dict[str, object] = {}
    if "name" in changes:
        with fields:
            updates["name"] = text(changes["name"], "name", maximum=NAME_MAX)
    if "weight" in changes:
        with fields:
            updates["weight"] = integer(changes["weight"], "weight", minimum=1, maximum=WEIGHT_MAX)
    fields.check()
    with uow:
        constellation = _constellation(uow, constellation_id)
        if updates.get("weight", constellation.weight) != constellation.weight and (
            uow.attempts.exists_for_constellation(constellation.id)
        ):
            raise Conflict("Cannot change the weight of a constellation that has attempts!")
        updated = attrs.evolve(constellation, **updates)  # type: ignore[arg-type]
        if updated != constellation:
            uow.constellations.update(updated)
        uow.commit()
    return updated


def delete_constellation(uow: UnitOfWork, constellation_id: int) -> Constellation:
    """Remove a constellation nothing refers to (rule 5).

    Raises:
        NotFound: No such constellation.
        Conflict: Attempts or posts still refer to it.
    """
    with uow:
        constellation = _constellation(uow, constellation_id)
        if uow.attempts.exists_for_constellation(constellation.id) or uow.posts.exists_for_constellation(
            constellation.id
        ):
            raise Conflict("Cannot delete a constellation that has attempts or posts!")
        uow.constellations.delete(constellation.id)
        uow.commit()
    return constellation


# ---------------------------------------------------------------- attempts


def start_attempt(uow: UnitOfWork, user_id: int, constellation_id: int, *, clock: Clock) -> Attempt:
    """Start an attempt at a constellation; it becomes the user's current attempt (rule 1).

    Raises:
        NotFound: No such user or constellation.
    """
    with uow:
        user = _user(uow, user_id, for_update=True)
        constellation = _constellation(uow, constellation_id)
        attempt = uow.attempts.add(
            Attempt(user_id=user.id, constellation_id=constellation.id, created_at=clock.now())
        )
        uow.users.update(attrs.evolve(user, current_attempt_id=attempt.id))
        uow.commit()
    return attempt


def get_attempt(uow: UnitOfWork, attempt_id: int) -> Attempt:
    """Return the attempt.

    Raises:
        NotFound: No such attempt.
    """
    with uow.reading():
        return _attempt(uow, attempt_id)


def list_attempts(
    uow: UnitOfWork,
    page: PageRequest,
    *,
    user_id: int | None = None,
    constellation_id: int | None = None,
) -> Slice[Attempt]:
    """Return a page of attempts, by id; only the user's, or only those at a constellation, when given.

    Raises:
        NotFound: ``user_id`` or ``constellation_id`` names nothing.
    """
    with uow.reading():
        uid = None if user_id is None else _user(uow, user_id).id
        cid = None if constellation_id is None else _constellation(uow, constellation_id).id
        rows = uow.attempts.list_page(page.probe(), user_id=uid, constellation_id=cid)
        return Slice.cut(rows, page, _by_id)


def get_attempt_detail(uow: UnitOfWork, attempt_id: int) -> AttemptDetail:
    """Return the attempt with its user, constellation and sessions.

    Raises:
        NotFound: No such attempt.
    """
    with uow.reading():
        return _describe_attempts(uow, [_attempt(uow, attempt_id)])[0]


def list_attempt_details(
    uow: UnitOfWork, page: PageRequest, *, user_id: int | None = None
) -> Slice[AttemptDetail]:
    """Like :func:`list_attempts`, each attempt with its user, constellation and sessions."""
    with uow.reading():
        uid = None if user_id is None else _user(uow, user_id).id
        found = Slice.cut(uow.attempts.list_page(page.probe(), user_id=uid), page, _by_id)
        return Slice(_describe_attempts(uow, found.items), found.next_cursor)


def current_attempt(uow: UnitOfWork, user_id: int) -> AttemptDetail:
    """Return the user's current attempt with its details.

    Raises:
        NotFound: No such user, or the user has no current attempt.
    """
    with uow.reading():
        user = _user(uow, user_id)
        attempt = uow.attempts.get(user.current_attempt_id) if user.current_attempt_id else None
        if attempt is None:
            raise NotFound("Constellation attempt", message="No current attempt found for this user!")
        return _describe_attempts(uow, [attempt])[0]


def add_star(uow: UnitOfWork, attempt_id: int, *, clock: Clock) -> Attempt:
    """Add one star to an attempt, completing it when it reaches the weight (rule 2).

    Raises:
        NotFound: No such attempt.
        Conflict: The attempt is already complete.
    """
    with uow:
        attempt = _attempt(uow, attempt_id, for_update=True)
        constellation = _constellation(uow, attempt.constellation_id)
        updated = rules.add_star(attempt, constellation, clock.now())
        uow.attempts.update(updated)
        if updated.is_completed:
            _release(uow, updated)
        uow.commit()
    return updated


def complete_attempt(uow: UnitOfWork, attempt_id: int, *, clock: Clock) -> Attempt:
    """Complete an attempt: every star, a completion time, no longer current (rule 3).

    Completing a completed attempt changes nothing.

    Raises:
        NotFound: No such attempt.
    """
    with uow:
        attempt = _attempt(uow, attempt_id, for_update=True)
        constellation = _constellation(uow, attempt.constellation_id)
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


def delete_attempt(uow: UnitOfWork, attempt_id: int) -> Attempt:
    """Remove an attempt with its sessions; their minutes leave the user's total (rules 4, 5).

    Raises:
        NotFound: No such attempt.
    """
    with uow:
        attempt = _attempt(uow, attempt_id, for_update=True)
        removed = uow.sessions.delete_by_attempt(attempt.id)
        lost = sum(rules.counted_minutes(s) for s in removed if s.user_id == attempt.user_id)
        uow.attempts.delete(attempt.id)
        user = uow.users.get(attempt.user_id, for_update=True)
        if user is not None:
            updated = rules.with_minutes(rules.release_attempt(user, attempt.id), -lost)
            if updated != user:
                uow.users.update(updated)
        uow.commit()
    return attempt


# ---------------------------------------------------------------- sessions


def _session_fields(values: Mapping[str, object]) -> dict[str, object]:
    """Validate the learning-session fields present in ``values``."""
    fields = Fields()
    checked: dict[str, object] = {}
    checks: dict[str, Callable[[object], object]] = {
        "title": lambda v: text(v, "title", maximum=TITLE_MAX),
        "description": lambda v: None if v is None else text(v, "description", maximum=DESCRIPTION_MAX),
        "status": lambda v: choice(v, "status", SessionStatus),
        "difficulty": lambda v: None if v is None else text(v, "difficulty", maximum=DIFFICULTY_MAX),
        "minutes": lambda v: None if v is None else integer(v, "minutes", minimum=0, maximum=MINUTES_MAX),
        "started_at": lambda v: None if v is None else timestamp(v, "started_at"),
        "completed_at": lambda v: None if v is None else timestamp(v, "completed_at"),
    }
    for name, check in checks.items():
        if name in values:
            with fields:
                checked[name] = check(values[name])
    fields.check()
    return checked


def _check_times(session: Session, given: Mapping[str, object]) -> None:
    """A session is not completed before it started.

    When the request gave both times, its input is malformed; when one of them is
    stored or is the moment of completion, the request contradicts the session's
    state (or the clock).
    """
    if session.started_at and session.completed_at and session.completed_at < session.started_at:
        if given.get("started_at") is not None and given.get("completed_at") is not None:
            raise ValidationFailed.field("completed_at", "must not be before started_at")
        raise Conflict("A session cannot be completed before it started!")


def _refuse_unknown(values: Mapping[str, object], known: Collection[str]) -> None:
    unknown = sorted(set(values) - set(known))
    if unknown:
        fields = Fields()
        for name in unknown:
            fields.add(name, "is not a known field")
        fields.check()


def create_session(
    uow: UnitOfWork,
    *,
    clock: Clock,
    user_id: int | None = None,
    constellation_attempt_id: int | None = None,
    title: str | None = None,
    description: str | None = None,
    status: SessionStatus | str | None = None,
    difficulty: str | None = None,
    minutes: int | None = None,
    started_at: datetime | str | None = None,
    completed_at: datetime | str | None = None,
) -> Session:
    """Create a study or learning session.

    A session needs a title or an attempt; with an attempt and no title, the
    title is the constellation's name. A session of an attempt belongs to the
    attempt's user. It is ``planned`` unless ``status`` says otherwise; one
    created ``completed`` adds its minutes to the user's total at once.

    Raises:
        ValidationFailed: A field is malformed, neither title nor attempt is given,
            the attempt belongs to another user than ``user_id``, or ``completed_at``
            is before ``started_at``.
        NotFound: ``user_id`` or ``constellation_attempt_id`` names nothing.
        Conflict: A session created completed would be completed before its ``started_at``.
    """
    raw: dict[str, object] = {
        "description": description,
        "difficulty": difficulty,
        "minutes": minutes,
        "started_at": started_at,
        "completed_at": completed_at,
    }
    if title is not None:
        raw["title"] = title
    if status is not None:
        raw["status"] = status
    fields = Fields()
    with fields:
        values = _session_fields(raw)
    with fields:
        uid = None if user_id is None else _id(user_id, "user_id")
    with fields:
        aid = (
            None
            if constellation_attempt_id is None
            else _id(constellation_attempt_id, "constellation_attempt_id")
        )
    if title is None and constellation_attempt_id is None:
        fields.add("title", "is required when there is no constellation_attempt_id")
    fields.check()
    with uow:
        if aid is not None:
            attempt = _attempt(uow, aid, field="constellation_attempt_id")
            if uid is not None and uid != attempt.user_id:
                raise ValidationFailed.field("constellation_attempt_id", "belongs to another user")
            uid = attempt.user_id
            if "title" not in values:
                values["title"] = _constellation(uow, attempt.constellation_id).name
        if uid is not None:
            _user(uow, uid)
        now = clock.now()
        session = Session(
            user_id=uid,
            constellation_attempt_id=aid,
            created_at=now,
            updated_at=now,
            **values,  # type: ignore[arg-type]
        )
        if session.is_completed:
            session = rules.complete_session(attrs.evolve(session, status=SessionStatus.PLANNED), now)
        _check_times(session, values)
        session = uow.sessions.add(session)
        _move_minutes(uow, session.user_id, rules.counted_minutes(session))
        uow.commit()
    return session


def get_session(uow: UnitOfWork, session_id: int) -> Session:
    """Return the session.

    Raises:
        NotFound: No such session.
    """
    with uow.reading():
        return _session(uow, session_id)


def list_sessions(
    uow: UnitOfWork,
    page: PageRequest,
    *,
    user_id: int | None = None,
    attempt_id: int | None = None,
) -> Slice[Session]:
    """Return a page of sessions, newest first; only a user's or an attempt's when given.

    Raises:
        NotFound: ``user_id`` or ``attempt_id`` names nothing.
    """
    with uow.reading():
        return _list_sessions(uow, page, user_id, attempt_id)


def _list_sessions(
    uow: UnitOfWork, page: PageRequest, user_id: int | None, attempt_id: int | None
) -> Slice[Session]:
    uid = None if user_id is None else _user(uow, user_id).id
    aid = None if attempt_id is None else _attempt(uow, attempt_id).id
    rows = uow.sessions.list_page(page.probe(), user_id=uid, attempt_id=aid)
    return Slice.cut(rows, page, _newest)


def get_session_detail(uow: UnitOfWork, session_id: int) -> SessionDetail:
    """Return the session with its user and attempt.

    Raises:
        NotFound: No such session.
    """
    with uow.reading():
        return _describe_sessions(uow, [_session(uow, session_id)])[0]


def list_session_details(
    uow: UnitOfWork,
    page: PageRequest,
    *,
    user_id: int | None = None,
    attempt_id: int | None = None,
) -> Slice[SessionDetail]:
    """Like :func:`list_sessions`, each session with its user and attempt."""
    with uow.reading():
        found = _list_sessions(uow, page, user_id, attempt_id)
        return Slice(_describe_sessions(uow, found.items), found.next_cursor)


def update_session(
    uow: UnitOfWork, session_id: int, changes: Mapping[str, object], *, clock: Clock
) -> Session:
    """Change some fields of a session; the others keep their value.

    ``changes`` may hold any of :data:`SESSION_FIELDS`. ``updated_at`` moves.
    Setting ``status`` to ``completed`` completes the session as
    :func:`complete_session` does; moving a completed session to another status
    clears ``completed_at`` (unless given) and takes its minutes back. Changing
    the minutes of a completed session moves the user's total by the
    difference (rule 4).

    Raises:
        NotFound: No such session.
        ValidationFailed: A field is malformed or unknown, ``title`` is null, or
            ``completed_at`` is before ``started_at``, both given.
        Conflict: The session would be completed before it started, one of the
            two times being stored or the moment of completion.
    """
    _refuse_unknown(changes, SESSION_FIELDS)
    values = _session_fields(changes)
    with uow:
        before = _session(uow, session_id, for_update=True)
        now = clock.now()
        status = cast(SessionStatus, values.pop("status", before.status))
        after = attrs.evolve(before, **values)  # type: ignore[arg-type]
        if status is SessionStatus.COMPLETED:
            after = rules.complete_session(after, now)
        else:
            if before.is_completed and "completed_at" not in values:
                after = attrs.evolve(after, completed_at=None)
            after = attrs.evolve(after, status=status)
        _check_times(after, values)
        if after == before:
            return before
        after = attrs.evolve(after, updated_at=now)
        uow.sessions.update(after)
        _move_minutes(uow, after.user_id, rules.minutes_delta(before, after))
        uow.commit()
    return after


def complete_session(uow: UnitOfWork, session_id: int, *, clock: Clock) -> Session:
    """Complete a session; its minutes join the user's total (rule 4).

    Completing a completed session changes nothing, so two concurrent
    completions count the minutes once.

    Raises:
        NotFound: No such session.
        Conflict: The session starts later than now.
    """
    return update_session(uow, session_id, {"status": SessionStatus.COMPLETED}, clock=clock)


def cancel_session(uow: UnitOfWork, session_id: int, *, clock: Clock) -> Session:
    """Cancel a session; minutes it had added to the user's total are taken back.

    Raises:
        NotFound: No such session.
    """
    return update_session(uow, session_id, {"status": SessionStatus.CANCELLED}, clock=clock)


def delete_session(uow: UnitOfWork, session_id: int) -> Session:
    """Remove a session; its minutes leave the user's total if it was completed.

    Raises:
        NotFound: No such session.
    """
    with uow:
        session = _session(uow, session_id, for_update=True)
        uow.sessions.delete(session.id)
        _move_minutes(uow, session.user_id, rules.minutes_delta(session, None))
        uow.commit()
    return session


# ---------------------------------------------------------------- posts


def create_post(
    uow: UnitOfWork,
    *,
    clock: Clock,
    user_id: int,
    constellation_id: int,
    post_type: PostType | str,
    message: str | None = None,
    study_duration: int | None = None,
) -> Post:
    """Share progress on a constellation in the feed.

    Raises:
        ValidationFailed: A field is malformed.
        NotFound: No such user or constellation.
    """
    fields = Fields()
    with fields:
        uid = _id(user_id, "user_id")
    with fields:
        cid = _id(constellation_id, "constellation_id")
    with fields:
        kind = choice(post_type, "post_type", PostType)
    with fields:
        checked_message = (
            None if message is None else text(message, "message", maximum=MESSAGE_MAX, minimum=0, strip=False)
        )
    with fields:
        duration = (
            None
            if study_duration is None
            else integer(study_duration, "study_duration", minimum=0, maximum=STUDY_DURATION_MAX)
        )
    fields.check()
    with uow:
        _user(uow, uid)
        _constellation(uow, cid)
        post = uow.posts.add(
            Post(
                user_id=uid,
                constellation_id=cid,
                post_type=kind,
                message=checked_message,
                study_duration=duration,
                created_at=clock.now(),
            )
        )
        uow.commit()
    return post


def get_post(uow: UnitOfWork, post_id: int) -> Post:
    """Return the post.

    Raises:
        NotFound: No such post.
    """
    with uow.reading():
        return _post(uow, post_id)


def get_post_detail(uow: UnitOfWork, post_id: int) -> PostDetail:
    """Return the post with its author and constellation.

    Raises:
        NotFound: No such post.
    """
    with uow.reading():
        return _describe_posts(uow, [_post(uow, post_id)])[0]


def list_posts(
    uow: UnitOfWork,
    page: PageRequest,
    *,
    user_id: int | None = None,
    constellation_id: int | None = None,
) -> Slice[Post]:
    """Return a page of posts, newest first; only a user's, or about a constellation, when given.

    Raises:
        NotFound: ``user_id`` or ``constellation_id`` names nothing.
    """
    with uow.reading():
        return _list_posts(uow, page, user_id, constellation_id)


def _list_posts(
    uow: UnitOfWork, page: PageRequest, user_id: int | None, constellation_id: int | None
) -> Slice[Post]:
    uid = None if user_id is None else _user(uow, user_id).id
    cid = None if constellation_id is None else _constellation(uow, constellation_id).id
    rows = uow.posts.list_page(page.probe(), user_id=uid, constellation_id=cid)
    return Slice.cut(rows, page, _newest)


def list_post_details(
    uow: UnitOfWork,
    page: PageRequest,
    *,
    user_id: int | None = None,
    constellation_id: int | None = None,
) -> Slice[PostDetail]:
    """Like :func:`list_posts`, each post with its author and constellation."""
    with uow.reading():
        found = _list_posts(uow, page, user_id, constellation_id)
        return Slice(_describe_posts(uow, found.items), found.next_cursor)


def feed(uow: UnitOfWork, page: PageRequest) -> Slice[Post]:
    """Return a page of the social feed: every post, newest first."""
    return list_posts(uow, page)


def feed_details(uow: UnitOfWork, page: PageRequest) -> Slice[PostDetail]:
    """Return a page of the feed, each post with its author and constellation."""
    return list_post_details(uow, page)


def delete_post(uow: UnitOfWork, post_id: int) -> Post:
    """Remove a post.

    Raises:
        NotFound: No such post.
    """
    with uow:
        post = _post(uow, post_id)
        uow.posts.delete(post.id)
        uow.commit()
    return post
