"""The documents of API v1, and a read model that builds them from entities.

A document is a plain ``dict`` ready to be written as JSON (see
:data:`~luminary.core.ports.Document`). The functions below give each shape
from entities, key for key and in order; :class:`EntityViews` implements the
:class:`~luminary.core.ports.Views` port with them over any unit of work's
repositories. A store may implement the port more directly, as
``luminary-sql`` does, as long as its documents are equal to these.

The shapes::

    user_document        id, display_name, total_minutes, current_attempt_id,
                         current_attempt (attempt summary or null),
                         constellation_attempts (attempt summaries, by id),
                         sessions (session summaries, newest first),
                         posts (post summaries, newest first)
    attempt_document     attempt summary + user (summary), constellation
                         (summary), sessions (session summaries, newest first)
    session_document     session summary + user, constellation_attempt (summaries
                         or null), title, description, status, difficulty,
                         started_at, completed_at, created_at, updated_at
    post_document        id, user_id, constellation_id, post_type, message,
                         study_duration, created_at, user, constellation (summaries)

    user_summary          id, display_name
    constellation_summary id, name, weight
    attempt_summary       id, user_id, constellation_id, stars_completed
    session_summary       id, user_id, constellation_attempt_id, is_completed,
                          minutes (0 when unknown)
    post_summary          id, post_type, message, study_duration, created_at
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from .entities import Attempt, Constellation, Post, Session, User
from .pagination import PageRequest
from .ports import Document, UnitOfWork
from .usecases import views

__all__ = [
    "EntityViews",
    "attempt_document",
    "attempt_summary",
    "constellation_summary",
    "post_document",
    "post_summary",
    "session_document",
    "session_summary",
    "user_document",
    "user_summary",
]


def user_summary(u: User) -> Document:
    return {"id": u.id, "display_name": u.display_name}


def constellation_summary(c: Constellation) -> Document:
    return {"id": c.id, "name": c.name, "weight": c.weight}


def attempt_summary(a: Attempt) -> Document:
    return {
        "id": a.id,
        "user_id": a.user_id,
        "constellation_id": a.constellation_id,
        "stars_completed": a.stars_completed,
    }


def session_summary(s: Session) -> Document:
    # The app decodes minutes as a plain integer: a session without minutes shows 0.
    return {
        "id": s.id,
        "user_id": s.user_id,
        "constellation_attempt_id": s.constellation_attempt_id,
        "is_completed": s.is_completed,
        "minutes": s.minutes or 0,
    }


def post_summary(p: Post) -> Document:
    return {
        "id": p.id,
        "post_type": p.post_type.value,
        "message": p.message,
        "study_duration": p.study_duration,
        "created_at": p.created_at,
    }


def user_document(d: views.UserDetail) -> Document:
    u = d.user
    return {
        "id": u.id,
        "display_name": u.display_name,
        "total_minutes": u.total_minutes,
        "current_attempt_id": u.current_attempt_id,
        "current_attempt": attempt_summary(d.current_attempt) if d.current_attempt else None,
        "constellation_attempts": [attempt_summary(a) for a in d.attempts],
        "sessions": [session_summary(s) for s in d.sessions],
        "posts": [post_summary(p) for p in d.posts],
    }


def attempt_document(d: views.AttemptDetail) -> Document:
    document = attempt_summary(d.attempt)
    document["user"] = user_summary(d.user)
    document["constellation"] = constellation_summary(d.constellation)
    document["sessions"] = [session_summary(s) for s in d.sessions]
    return document


def session_document(d: views.SessionDetail) -> Document:
    s = d.session
    document = session_summary(s)
    document["user"] = user_summary(d.user) if d.user else None
    document["constellation_attempt"] = attempt_summary(d.attempt) if d.attempt else None
    document["title"] = s.title
    document["description"] = s.description
    document["status"] = s.status.value
    document["difficulty"] = s.difficulty
    document["started_at"] = s.started_at
    document["completed_at"] = s.completed_at
    document["created_at"] = s.created_at
    document["updated_at"] = s.updated_at
    return document


def post_document(d: views.PostDetail) -> Document:
    p = d.post
    return {
        "id": p.id,
        "user_id": p.user_id,
        "constellation_id": p.constellation_id,
        "post_type": p.post_type.value,
        "message": p.message,
        "study_duration": p.study_duration,
        "created_at": p.created_at,
        "user": user_summary(d.user),
        "constellation": constellation_summary(d.constellation),
    }


class EntityViews:
    """The :class:`~luminary.core.ports.Views` port over a unit of work's repositories.

    Works with any store that implements the repositories (the in-memory one
    uses it); called inside the unit of work's transaction, like a repository.
    """

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def users(self, page: PageRequest) -> Sequence[Document]:
        found = self._uow.users.list_page(page)
        return [user_document(d) for d in views.describe_users(self._uow, found)]

    def user(self, user_id: int) -> Document | None:
        user = self._uow.users.get(user_id)
        return None if user is None else user_document(views.describe_users(self._uow, [user])[0])

    def attempts(self, page: PageRequest, *, user_id: int | None = None) -> Sequence[Document]:
        found = self._uow.attempts.list_page(page, user_id=user_id)
        return [attempt_document(d) for d in views.describe_attempts(self._uow, found)]

    def attempt(self, attempt_id: int) -> Document | None:
        attempt = self._uow.attempts.get(attempt_id)
        if attempt is None:
            return None
        return attempt_document(views.describe_attempts(self._uow, [attempt])[0])

    def sessions(
        self, page: PageRequest, *, user_id: int | None = None, attempt_id: int | None = None
    ) -> Sequence[Document]:
        found = self._uow.sessions.list_page(page, user_id=user_id, attempt_id=attempt_id)
        return [session_document(d) for d in views.describe_sessions(self._uow, found)]

    def session(self, session_id: int) -> Document | None:
        session = self._uow.sessions.get(session_id)
        if session is None:
            return None
        return session_document(views.describe_sessions(self._uow, [session])[0])

    def posts(
        self, page: PageRequest, *, user_id: int | None = None, constellation_id: int | None = None
    ) -> Sequence[Document]:
        found = self._uow.posts.list_page(page, user_id=user_id, constellation_id=constellation_id)
        return [post_document(d) for d in views.describe_posts(self._uow, found)]

    def post(self, post_id: int) -> Document | None:
        post = self._uow.posts.get(post_id)
        return None if post is None else post_document(views.describe_posts(self._uow, [post])[0])

    def constellation_attempts(
        self, page: PageRequest, *, constellation_id: int, user_id: int | None = None
    ) -> Sequence[Document]:
        found = self._uow.attempts.list_page(page, user_id=user_id, constellation_id=constellation_id)
        return [attempt_summary(a) for a in found]

    def constellation_posts(self, page: PageRequest, *, constellation_id: int) -> Sequence[Document]:
        found = self._uow.posts.list_page(page, constellation_id=constellation_id)
        return [post_summary(p) for p in found]

    def constellation_contents(
        self, constellation_ids: Collection[int], limit: int, *, user_id: int | None = None
    ) -> Mapping[int, tuple[Sequence[Document], Sequence[Document]]]:
        # Two queries for every constellation: all they carry (attempts by id, posts newest
        # first, as the repositories promise), each constellation's cut to ``limit``.
        attempts: dict[int, list[Document]] = {cid: [] for cid in constellation_ids}
        posts: dict[int, list[Document]] = {cid: [] for cid in constellation_ids}
        for a in self._uow.attempts.list_by_constellations(attempts):
            mine = attempts[a.constellation_id]
            if (user_id is None or a.user_id == user_id) and len(mine) < limit:
                mine.append(attempt_summary(a))
        for p in self._uow.posts.list_by_constellations(posts):
            theirs = posts[p.constellation_id]
            if len(theirs) < limit:
                theirs.append(post_summary(p))
        return {cid: (attempts[cid], posts[cid]) for cid in attempts}
