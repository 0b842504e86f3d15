"""API v1: the original Luminary contract, kept compatible with the published iOS app.

Bare JSON objects, lists wrapped under a plural key, errors as
``{"error": "..."}``. Each resource parses the request, calls one use case and
shapes the answer; the shapes below follow the contract key for key.

Lists answer every item unless ``?limit=`` says otherwise, as the original did:
the app has no paging. They are read in batches, each in its own read
transaction, and a list longer than one batch is sent as it is encoded
(chunked), so that memory does not grow with the size of the answer.

``/api/sessions`` serves two clients: the Learning Sessions API (``{"data": …}``
answers) and the app's study sessions (bare objects). :func:`is_study_session_body`
is the one rule that tells their ``POST`` bodies apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import falcon

from luminary import core
from luminary.core import (
    Attempt,
    Clock,
    Constellation,
    Cursor,
    NotFound,
    PageRequest,
    Post,
    Session,
    Slice,
    UnitOfWork,
    User,
)

from .media import dumps
from .requests import Window, body_of, field, window_of
from .v2 import unstructure

PREFIXES = ("/api", "/api/v1")
#: Items read per transaction while a list is sent. A user carries their attempts,
#: sessions and posts, a constellation its attempts and posts: fewer per batch.
BATCH = 500
NESTED_BATCH = 100
SESSION_BODY_FIELDS = ("user_id", "constellation_attempt_id", *sorted(core.SESSION_FIELDS))
POST_BODY_FIELDS = ("user_id", "constellation_id", "post_type", "message", "study_duration")

Json = dict[str, Any]
T = TypeVar("T")


# ---------------------------------------------------------------- shapes


def _time(value: datetime | None) -> datetime | None:
    # The JSON encoder writes aware datetimes as ISO-8601 (``…+00:00``) itself.
    return value


def user_simple(u: User) -> Json:
    return {"id": u.id, "display_name": u.display_name}


def constellation_simple(c: Constellation) -> Json:
    return {"id": c.id, "name": c.name, "weight": c.weight}


def attempt_simple(a: Attempt) -> Json:
    return {
        "id": a.id,
        "user_id": a.user_id,
        "constellation_id": a.constellation_id,
        "stars_completed": a.stars_completed,
    }


def session_simple(s: Session) -> Json:
    # The app decodes minutes as a plain integer: a session without minutes shows 0.
    return {
        "id": s.id,
        "user_id": s.user_id,
        "constellation_attempt_id": s.constellation_attempt_id,
        "is_completed": s.is_completed,
        "minutes": s.minutes or 0,
    }


def post_simple(p: Post) -> Json:
    return {
        "id": p.id,
        "post_type": p.post_type.value,
        "message": p.message,
        "study_duration": p.study_duration,
        "created_at": _time(p.created_at),
    }


def user_full(d: core.UserDetail) -> Json:
    u = d.user
    return {
        "id": u.id,
        "display_name": u.display_name,
        "total_minutes": u.total_minutes,
        "current_attempt_id": u.current_attempt_id,
        "current_attempt": attempt_simple(d.current_attempt) if d.current_attempt else None,
        "constellation_attempts": [attempt_simple(a) for a in d.attempts],
        "sessions": [session_simple(s) for s in d.sessions],
        "posts": [post_simple(p) for p in d.posts],
    }


def constellation_full(d: core.ConstellationDetail) -> Json:
    c = d.constellation
    return {
        "id": c.id,
        "name": c.name,
        "weight": c.weight,
        "user_attempts": [attempt_simple(a) for a in d.attempts],
        "posts": [post_simple(p) for p in d.posts],
    }


def attempt_full(d: core.AttemptDetail) -> Json:
    json = attempt_simple(d.attempt)
    json["user"] = user_simple(d.user)
    json["constellation"] = constellation_simple(d.constellation)
    json["sessions"] = [session_simple(s) for s in d.sessions]
    return json


def session_full(d: core.SessionDetail) -> Json:
    s = d.session
    json = session_simple(s)
    json["user"] = user_simple(d.user) if d.user else None
    json["constellation_attempt"] = attempt_simple(d.attempt) if d.attempt else None
    json["title"] = s.title
    json["description"] = s.description
    json["status"] = s.status.value
    json["difficulty"] = s.difficulty
    json["started_at"] = _time(s.started_at)
    json["completed_at"] = _time(s.completed_at)
    json["created_at"] = _time(s.created_at)
    json["updated_at"] = _time(s.updated_at)
    return json


def post_full(d: core.PostDetail) -> Json:
    p = d.post
    return {
        "id": p.id,
        "user_id": p.user_id,
        "constellation_id": p.constellation_id,
        "post_type": p.post_type.value,
        "message": p.message,
        "study_duration": p.study_duration,
        "created_at": _time(p.created_at),
        "user": user_simple(d.user),
        "constellation": constellation_simple(d.constellation),
    }


# ---------------------------------------------------------------- resources


class Resource:
    """Base of every v1 resource: holds the collaborators injected by ``create_app``."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork], clock: Clock) -> None:
        self.uow = uow_factory
        self.clock = clock

    def answer_list(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        key: str,
        read: Callable[[UnitOfWork, PageRequest], Slice[T]],
        shape: Callable[[T], Json],
        *,
        nested: bool = False,
    ) -> None:
        """Answer ``{key: [...]}`` with every item ``read`` finds, or the window the query asks for.

        The first batch is read here, so that a missing parent is a 404 before
        anything is sent; a list longer than one batch is streamed.
        """
        window = window_of(req)
        batch = NESTED_BATCH if nested else BATCH
        first = read(self.uow(), PageRequest(limit=_batch_size(window.limit, batch), offset=window.offset))
        resp.content_type = falcon.MEDIA_JSON
        head = b'{"' + key.encode() + b'":['
        if first.next_cursor is None or window.limit == len(first.items):
            resp.data = head + _encoded(first.items, shape) + b"]}"
        else:
            resp.stream = _stream(head, first, lambda page: read(self.uow(), page), shape, window, batch)


def _batch_size(remaining: int | None, batch: int) -> int:
    return batch if remaining is None else min(batch, remaining)


def _encoded(items: Sequence[T], shape: Callable[[T], Json]) -> bytes:
    return b",".join(dumps(shape(item)) for item in items)


def _stream(
    head: bytes,
    found: Slice[T],
    read: Callable[[PageRequest], Slice[T]],
    shape: Callable[[T], Json],
    window: Window,
    batch: int,
) -> Iterator[bytes]:
    """The chunks of a long list: one per batch, each batch read in its own transaction.

    An error after the first chunk cannot change the status any more: it
    propagates, and the server ends the connection without finishing the
    answer, so a client never takes a cut list for a whole one.
    """
    remaining = window.limit
    yield head + _encoded(found.items, shape)
    while True:
        if remaining is not None:
            remaining -= len(found.items)
        if found.next_cursor is None or remaining == 0:
            break
        page = PageRequest(limit=_batch_size(remaining, batch), after=Cursor.decode(found.next_cursor))
        try:
            found = read(page)
        except NotFound:
            break  # the user, attempt or constellation listed from was deleted meanwhile
        if found.items:
            yield b"," + _encoded(found.items, shape)
    yield b"]}"


class Users(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.answer_list(req, resp, "users", core.list_user_details, user_full, nested=True)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = body_of(req)
        user = core.create_user(self.uow(), field(body, "display_name"), clock=self.clock)
        resp.media = user_full(core.get_user_detail(self.uow(), user.id))
        resp.status = falcon.HTTP_201


class UserItem(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        resp.media = user_full(core.get_user_detail(self.uow(), user_id))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        core.delete_user(self.uow(), user_id)
        resp.media = {"message": "User deleted successfully!"}


class UserTotalMinutes(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        summary = core.total_minutes(self.uow(), user_id)
        resp.media = {
            "user_id": summary.user_id,
            "display_name": summary.display_name,
            "total_minutes": summary.total_minutes,
        }


class UserCompletedConstellations(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        result = core.completed_constellations(self.uow(), user_id)
        resp.media = {
            "user_id": result.user.id,
            "display_name": result.user.display_name,
            "completed_constellations": [constellation_full(d) for d in result.constellations],
            "num_completed": len(result.constellations),
        }


class UserCurrentAttempt(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        resp.media = attempt_full(core.current_attempt(self.uow(), user_id))


class SyncMinutes(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        report = core.sync_minutes(self.uow())
        resp.media = {"message": "Total minutes synced!", "users_updated": report.users_updated}


class Constellations(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.answer_list(
            req, resp, "constellations", core.list_constellation_details, constellation_full, nested=True
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = body_of(req)
        made = core.create_constellation(
            self.uow(), field(body, "name"), field(body, "weight"), clock=self.clock
        )
        resp.media = constellation_full(core.get_constellation_detail(self.uow(), made.id))
        resp.status = falcon.HTTP_201


class ConstellationItem(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, constellation_id: int) -> None:
        resp.media = constellation_full(core.get_constellation_detail(self.uow(), constellation_id))

    def on_put(self, req: falcon.Request, resp: falcon.Response, constellation_id: int) -> None:
        body = body_of(req)
        changes: dict[str, object] = {k: body[k] for k in ("name", "weight") if k in body}
        core.update_constellation(self.uow(), constellation_id, changes, clock=self.clock)
        resp.media = constellation_full(core.get_constellation_detail(self.uow(), constellation_id))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, constellation_id: int) -> None:
        core.delete_constellation(self.uow(), constellation_id)
        resp.media = {"message": "Constellation deleted successfully!"}


class UserAttempts(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        def read(uow: UnitOfWork, page: PageRequest) -> Slice[core.AttemptDetail]:
            return core.list_attempt_details(uow, page, user_id=user_id)

        self.answer_list(req, resp, "constellation_attempts", read, attempt_full)

    def on_post(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        body = body_of(req)
        attempt = core.start_attempt(self.uow(), user_id, field(body, "constellation_id"), clock=self.clock)
        resp.media = attempt_full(core.get_attempt_detail(self.uow(), attempt.id))
        resp.status = falcon.HTTP_201


class Attempts(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.answer_list(req, resp, "constellation_attempts", core.list_attempt_details, attempt_full)


class AttemptItem(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, attempt_id: int) -> None:
        resp.media = attempt_full(core.get_attempt_detail(self.uow(), attempt_id))

    def on_put(self, req: falcon.Request, resp: falcon.Response, attempt_id: int) -> None:
        core.add_star(self.uow(), attempt_id, clock=self.clock)
        resp.media = attempt_full(core.get_attempt_detail(self.uow(), attempt_id))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, attempt_id: int) -> None:
        core.delete_attempt(self.uow(), attempt_id)
        resp.media = {"message": "Constellation attempt deleted successfully!"}


class AttemptComplete(Resource):
    def on_put(self, req: falcon.Request, resp: falcon.Response, attempt_id: int) -> None:
        core.complete_attempt(self.uow(), attempt_id, clock=self.clock)
        resp.media = {
            "attempt": attempt_full(core.get_attempt_detail(self.uow(), attempt_id)),
            "user_updated": True,
            "message": "Constellation completed successfully!",
        }


class AttemptSessions(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, attempt_id: int) -> None:
        def read(uow: UnitOfWork, page: PageRequest) -> Slice[core.SessionDetail]:
            return core.list_session_details(uow, page, attempt_id=attempt_id)

        self.answer_list(req, resp, "sessions", read, session_full)


def is_study_session_body(body: Mapping[str, Any]) -> bool:
    """Whether a ``POST /api/sessions`` body is the app's study session (the one rule).

    The app always sends ``constellation_attempt_id`` (with ``user_id`` and
    ``minutes``); a learning session of the Learning Sessions document never
    does. A body with that member, whatever its value, is a study session and
    is answered with the bare v1 session; any other body is a learning session,
    answered ``{"data": session}``.
    """
    return "constellation_attempt_id" in body


def learning_session(session: Session) -> Json:
    """The Learning Sessions document's session object (the same object as API v2's)."""
    json: Json = unstructure(session)
    return json


class Sessions(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.answer_list(req, resp, "data", core.list_sessions, learning_session)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = body_of(req)
        fields = {k: body[k] for k in SESSION_BODY_FIELDS if k in body}
        session = core.create_session(self.uow(), clock=self.clock, **fields)
        resp.status = falcon.HTTP_201
        if is_study_session_body(body):
            resp.media = session_full(core.get_session_detail(self.uow(), session.id))
        else:
            resp.media = {"data": learning_session(session)}
            resp.location = f"{req.path}/{session.id}"


class SessionItem(Resource):
    """One learning session, as the Learning Sessions document serves it."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, session_id: int) -> None:
        with _session_not_found():
            resp.media = {"data": learning_session(core.get_session(self.uow(), session_id))}

    def on_patch(self, req: falcon.Request, resp: falcon.Response, session_id: int) -> None:
        body = body_of(req)
        changes = {k: body[k] for k in core.SESSION_FIELDS if k in body}
        with _session_not_found():
            session = core.update_session(self.uow(), session_id, changes, clock=self.clock)
        resp.media = {"data": learning_session(session)}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, session_id: int) -> None:
        with _session_not_found():
            core.delete_session(self.uow(), session_id)
        resp.status = falcon.HTTP_204


@contextmanager
def _session_not_found() -> Iterator[None]:
    # The Learning Sessions document's wording; the app's calls keep "Session not found!".
    try:
        yield
    except NotFound as exc:
        if exc.entity == "Session":
            raise NotFound("Session", exc.id, message="Session not found") from None
        raise


class SessionComplete(Resource):
    def on_put(self, req: falcon.Request, resp: falcon.Response, session_id: int) -> None:
        core.complete_session(self.uow(), session_id, clock=self.clock)
        resp.media = session_full(core.get_session_detail(self.uow(), session_id))


class SessionCancel(Resource):
    def on_put(self, req: falcon.Request, resp: falcon.Response, session_id: int) -> None:
        core.cancel_session(self.uow(), session_id, clock=self.clock)
        resp.media = session_full(core.get_session_detail(self.uow(), session_id))


class Posts(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.answer_list(req, resp, "posts", core.list_post_details, post_full)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = body_of(req)
        fields: dict[str, Any] = {k: field(body, k) for k in POST_BODY_FIELDS}
        post = core.create_post(self.uow(), clock=self.clock, **fields)
        resp.media = post_full(core.get_post_detail(self.uow(), post.id))
        resp.status = falcon.HTTP_201


class PostItem(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, post_id: int) -> None:
        resp.media = post_full(core.get_post_detail(self.uow(), post_id))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, post_id: int) -> None:
        core.delete_post(self.uow(), post_id)
        resp.media = {"message": "Post deleted successfully!"}


class UserPosts(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        def read(uow: UnitOfWork, page: PageRequest) -> Slice[core.PostDetail]:
            return core.list_post_details(uow, page, user_id=user_id)

        self.answer_list(req, resp, "posts", read, post_full)


class ConstellationPosts(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, constellation_id: int) -> None:
        def read(uow: UnitOfWork, page: PageRequest) -> Slice[core.PostDetail]:
            return core.list_post_details(uow, page, constellation_id=constellation_id)

        self.answer_list(req, resp, "posts", read, post_full)


class Feed(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.answer_list(req, resp, "posts", core.feed_details, post_full)


# Any integer reaches the use case, which answers "User not found!" for ids nothing has.
ID = "int"

ROUTES: list[tuple[str, type[Resource]]] = [
    ("/users", Users),
    ("/users/sync-minutes", SyncMinutes),
    (f"/users/{{user_id:{ID}}}", UserItem),
    (f"/users/{{user_id:{ID}}}/total_minutes", UserTotalMinutes),
    (f"/users/{{user_id:{ID}}}/completed_constellations", UserCompletedConstellations),
    (f"/users/{{user_id:{ID}}}/current-attempt", UserCurrentAttempt),
    (f"/users/{{user_id:{ID}}}/constellation_attempts", UserAttempts),
    (f"/users/{{user_id:{ID}}}/posts", UserPosts),
    ("/constellations", Constellations),
    (f"/constellations/{{constellation_id:{ID}}}", ConstellationItem),
    (f"/constellations/{{constellation_id:{ID}}}/posts", ConstellationPosts),
    ("/constellation_attempts", Attempts),
    (f"/constellation_attempts/{{attempt_id:{ID}}}", AttemptItem),
    (f"/constellation_attempts/{{attempt_id:{ID}}}/complete", AttemptComplete),
    (f"/constellation_attempts/{{attempt_id:{ID}}}/sessions", AttemptSessions),
    ("/sessions", Sessions),
    (f"/sessions/{{session_id:{ID}}}", SessionItem),
    (f"/sessions/{{session_id:{ID}}}/complete", SessionComplete),
    (f"/sessions/{{session_id:{ID}}}/cancel", SessionCancel),
    ("/posts", Posts),
    (f"/posts/{{post_id:{ID}}}", PostItem),
    ("/feed", Feed),
]

# The original app also served these two lists outside /api.
UNPREFIXED = {f"/users/{{user_id:{ID}}}/posts", f"/constellations/{{constellation_id:{ID}}}/posts"}


def add_routes(
    app: falcon.App[falcon.Request, falcon.Response], uow_factory: Callable[[], UnitOfWork], clock: Clock
) -> None:
    """Mount every v1 route under each prefix (trailing slashes are stripped by the app)."""
    for path, resource_type in ROUTES:
        resource = resource_type(uow_factory, clock)
        for prefix in PREFIXES:
            app.add_route(prefix + path, resource)
        if path in UNPREFIXED:
            app.add_route(path, resource)
