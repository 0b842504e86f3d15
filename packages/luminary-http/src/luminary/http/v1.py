"""API v1: the original Luminary contract, kept compatible with the published iOS app.

Bare JSON objects, lists wrapped under a plural key, errors as
``{"error": "..."}``. Each resource parses the request, calls one use case and
shapes the answer; the shapes below follow the contract key for key.

Lists answer every item unless ``?limit=`` says otherwise, as the original did:
the app has no paging. Lists, and the attempts and posts a constellation
carries, are read in batches and sent as they are encoded
(:mod:`luminary.http.streaming`), so that memory does not grow with the size
of the answer.

``/api/sessions`` serves two clients: the Learning Sessions API (``{"data": …}``
answers) and the app's study sessions (bare objects). :func:`is_study_session_body`
is the one rule that tells their ``POST`` bodies apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import falcon

from luminary import core
from luminary.core import (
    Actor,
    Attempt,
    Constellation,
    NotFound,
    PageRequest,
    Post,
    Session,
    Slice,
    UnitOfWork,
    User,
)

from .auth import Services, V1Mode
from .commands import V1_BODIES
from .media import dumps
from .requests import Window, body_of, window_of
from .streaming import batches, json_array, respond
from .v2 import unstructure

PREFIXES = ("/api", "/api/v1")
#: Items read per transaction while a list is sent. A user carries their attempts,
#: sessions and posts, a constellation its attempts and posts: fewer per batch.
BATCH = 500
NESTED_BATCH = 100

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

    def __init__(self, services: Services) -> None:
        self.services = services
        self.uow = services.uow_factory
        self.clock = services.clock

    def transaction(self) -> AbstractContextManager[UnitOfWork]:
        """One transaction for a write and the answer read after it: see `core.one_transaction`."""
        return core.one_transaction(self.uow())

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
        """Answer ``{key: [...]}`` with every item ``read`` finds, or the window the query asks for."""
        window = window_of(req)
        found = batches(lambda page: read(self.uow(), page), window, NESTED_BATCH if nested else BATCH)
        respond(resp, _document(key, json_array(found, _encoder(shape))))

    def constellation(self, constellation: Constellation, actor: Actor) -> Iterator[bytes]:
        """The full constellation, its attempts and posts read in batches."""

        def attempts(page: PageRequest) -> Slice[Attempt]:
            return core.list_attempts(self.uow(), page, constellation_id=constellation.id, actor=actor)

        def posts(page: PageRequest) -> Slice[Post]:
            return core.list_posts(self.uow(), page, constellation_id=constellation.id, actor=actor)

        yield dumps(constellation_simple(constellation))[:-1] + b',"user_attempts":'
        yield from json_array(batches(attempts, Window(), BATCH, owned=True), _encoder(attempt_simple))
        yield b',"posts":'
        yield from json_array(batches(posts, Window(), BATCH, owned=True), _encoder(post_simple))
        yield b"}"

    def constellations(self, items: Iterable[Constellation], actor: Actor) -> Iterator[bytes]:
        """A JSON array of full constellations."""
        opening = b"["
        for constellation in items:
            yield opening
            opening = b","
            yield from self.constellation(constellation, actor)
        yield b"[]" if opening == b"[" else b"]"


def _encoder(shape: Callable[[T], Json]) -> Callable[[T], bytes]:
    return lambda item: dumps(shape(item))


def _document(key: str, array: Iterator[bytes]) -> Iterator[bytes]:
    yield b'{"' + key.encode() + b'":'
    yield from array
    yield b"}"


class Users(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.services.v1_actor(req)
        self.answer_list(
            req, resp, "users", partial(core.list_user_details, actor=actor), user_full, nested=True
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.services.v1_actor(req)
        command = V1_BODIES.read(body_of(req), core.CreateUser)
        with self.transaction() as uow:
            user = core.create_user(uow, command, clock=self.clock, actor=actor)
            resp.media = user_full(core.get_user_detail(uow, user.id, actor=actor))
        resp.status = falcon.HTTP_201


class UserItem(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        actor = self.services.v1_actor(req)
        resp.media = user_full(core.get_user_detail(self.uow(), user_id, actor=actor))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        actor = self.services.v1_actor(req)
        core.delete_user(self.uow(), user_id, actor=actor)
        resp.media = {"message": "User deleted successfully!"}


class UserLogin(Resource):
    """Give a v1 user a login and a password, so that they can sign in through v2 (an addition to v1)."""

    def on_put(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        actor = self.services.v1_actor(req)
        command = V1_BODIES.read(body_of(req), core.ClaimAccount)
        credentials = core.claim_account(
            self.uow(), user_id, command, actor=actor, clock=self.clock, passwords=self.services.passwords
        )
        resp.media = {"user_id": credentials.user_id, "login": credentials.login}
        resp.status = falcon.HTTP_201


class UserTotalMinutes(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        actor = self.services.v1_actor(req)
        summary = core.total_minutes(self.uow(), user_id, actor=actor)
        resp.media = {
            "user_id": summary.user_id,
            "display_name": summary.display_name,
            "total_minutes": summary.total_minutes,
        }


class UserCompletedConstellations(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        actor = self.services.v1_actor(req)
        done = core.completions(self.uow(), user_id, actor=actor)

        def pieces() -> Iterator[bytes]:
            user = {"user_id": done.user.id, "display_name": done.user.display_name}
            yield dumps(user)[:-1] + b',"completed_constellations":'
            yield from self.constellations(done.constellations, actor)
            yield b',"num_completed":' + dumps(len(done.constellations)) + b"}"

        respond(resp, pieces())


class UserCurrentAttempt(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        actor = self.services.v1_actor(req)
        resp.media = attempt_full(core.current_attempt(self.uow(), user_id, actor=actor))


class SyncMinutes(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.services.v1_actor(req)
        report = core.sync_minutes(self.uow(), actor=actor)
        resp.media = {"message": "Total minutes synced!", "users_updated": report.users_updated}


class Constellations(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.services.v1_actor(req)

        def every(page: PageRequest) -> Slice[Constellation]:
            return core.list_constellations(self.uow(), page, actor=actor)

        found = batches(every, window_of(req), NESTED_BATCH)
        respond(
            resp,
            _document("constellations", self.constellations((c for batch in found for c in batch), actor)),
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.services.v1_actor(req)
        command = V1_BODIES.read(body_of(req), core.CreateConstellation)
        made = core.create_constellation(self.uow(), command, clock=self.clock, actor=actor)
        respond(resp, self.constellation(made, actor))
        resp.status = falcon.HTTP_201


class ConstellationItem(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, constellation_id: int) -> None:
        actor = self.services.v1_actor(req)
        respond(
            resp, self.constellation(core.get_constellation(self.uow(), constellation_id, actor=actor), actor)
        )

    def on_put(self, req: falcon.Request, resp: falcon.Response, constellation_id: int) -> None:
        actor = self.services.v1_actor(req)
        patch = V1_BODIES.read(body_of(req), core.ConstellationPatch)
        updated = core.update_constellation(
            self.uow(), constellation_id, patch, clock=self.clock, actor=actor
        )
        respond(resp, self.constellation(updated, actor))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, constellation_id: int) -> None:
        actor = self.services.v1_actor(req)
        core.delete_constellation(self.uow(), constellation_id, actor=actor)
        resp.media = {"message": "Constellation deleted successfully!"}


class UserAttempts(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        actor = self.services.v1_actor(req)

        def read(uow: UnitOfWork, page: PageRequest) -> Slice[core.AttemptDetail]:
            return core.list_attempt_details(uow, page, user_id=user_id, actor=actor)

        self.answer_list(req, resp, "constellation_attempts", read, attempt_full)

    def on_post(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        actor = self.services.v1_actor(req)
        command = V1_BODIES.read({**body_of(req), "user_id": user_id}, core.StartAttempt)
        with self.transaction() as uow:
            attempt = core.start_attempt(uow, command, clock=self.clock, actor=actor)
            resp.media = attempt_full(core.get_attempt_detail(uow, attempt.id, actor=actor))
        resp.status = falcon.HTTP_201


class Attempts(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.services.v1_actor(req)
        self.answer_list(
            req, resp, "constellation_attempts", partial(core.list_attempt_details, actor=actor), attempt_full
        )


class AttemptItem(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, attempt_id: int) -> None:
        actor = self.services.v1_actor(req)
        resp.media = attempt_full(core.get_attempt_detail(self.uow(), attempt_id, actor=actor))

    def on_put(self, req: falcon.Request, resp: falcon.Response, attempt_id: int) -> None:
        actor = self.services.v1_actor(req)
        with self.transaction() as uow:
            core.add_star(uow, attempt_id, clock=self.clock, actor=actor)
            resp.media = attempt_full(core.get_attempt_detail(uow, attempt_id, actor=actor))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, attempt_id: int) -> None:
        actor = self.services.v1_actor(req)
        core.delete_attempt(self.uow(), attempt_id, actor=actor)
        resp.media = {"message": "Constellation attempt deleted successfully!"}


class AttemptComplete(Resource):
    def on_put(self, req: falcon.Request, resp: falcon.Response, attempt_id: int) -> None:
        actor = self.services.v1_actor(req)
        with self.transaction() as uow:
            core.complete_attempt(uow, attempt_id, clock=self.clock, actor=actor)
            attempt = attempt_full(core.get_attempt_detail(uow, attempt_id, actor=actor))
        resp.media = {
            "attempt": attempt,
            "user_updated": True,
            "message": "Constellation completed successfully!",
        }


class AttemptSessions(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, attempt_id: int) -> None:
        actor = self.services.v1_actor(req)

        def read(uow: UnitOfWork, page: PageRequest) -> Slice[core.SessionDetail]:
            return core.list_session_details(uow, page, attempt_id=attempt_id, actor=actor)

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


#: What v2's session has beyond the Learning Sessions document's: left out of its answers.
V2_ONLY = ("study_day", "running_since", "elapsed_seconds", "auto_stopped")


def learning_session(session: Session) -> Json:
    """The Learning Sessions document's session object: API v2's, without the study day and timer."""
    json: Json = unstructure(session)
    for key in V2_ONLY:
        del json[key]
    return json


class Sessions(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.services.v1_actor(req)
        self.answer_list(req, resp, "data", partial(core.list_sessions, actor=actor), learning_session)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.services.v1_actor(req)
        body = body_of(req)
        command = V1_BODIES.read(body, core.CreateSession)
        resp.status = falcon.HTTP_201
        with self.transaction() as uow:
            session = core.create_session(uow, command, clock=self.clock, actor=actor)
            study = (
                session_full(core.get_session_detail(uow, session.id, actor=actor))
                if is_study_session_body(body)
                else None
            )
        if study is not None:
            resp.media = study
        else:
            resp.media = {"data": learning_session(session)}
            resp.location = f"{req.path}/{session.id}"


class SessionItem(Resource):
    """One learning session, as the Learning Sessions document serves it."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, session_id: int) -> None:
        actor = self.services.v1_actor(req)
        with _session_not_found():
            resp.media = {"data": learning_session(core.get_session(self.uow(), session_id, actor=actor))}

    def on_patch(self, req: falcon.Request, resp: falcon.Response, session_id: int) -> None:
        actor = self.services.v1_actor(req)
        patch = V1_BODIES.read(body_of(req), core.SessionPatch)
        with _session_not_found():
            session = core.update_session(self.uow(), session_id, patch, clock=self.clock, actor=actor)
        resp.media = {"data": learning_session(session)}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, session_id: int) -> None:
        actor = self.services.v1_actor(req)
        with _session_not_found():
            core.delete_session(self.uow(), session_id, actor=actor)
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
        actor = self.services.v1_actor(req)
        with self.transaction() as uow:
            core.complete_session(uow, session_id, clock=self.clock, actor=actor)
            resp.media = session_full(core.get_session_detail(uow, session_id, actor=actor))


class SessionCancel(Resource):
    def on_put(self, req: falcon.Request, resp: falcon.Response, session_id: int) -> None:
        actor = self.services.v1_actor(req)
        with self.transaction() as uow:
            core.cancel_session(uow, session_id, clock=self.clock, actor=actor)
            resp.media = session_full(core.get_session_detail(uow, session_id, actor=actor))


class Posts(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.services.v1_actor(req)
        self.answer_list(req, resp, "posts", partial(core.list_post_details, actor=actor), post_full)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.services.v1_actor(req)
        command = V1_BODIES.read(body_of(req), core.CreatePost)
        with self.transaction() as uow:
            post = core.create_post(uow, command, clock=self.clock, actor=actor)
            resp.media = post_full(core.get_post_detail(uow, post.id, actor=actor))
        resp.status = falcon.HTTP_201


class PostItem(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, post_id: int) -> None:
        actor = self.services.v1_actor(req)
        resp.media = post_full(core.get_post_detail(self.uow(), post_id, actor=actor))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, post_id: int) -> None:
        actor = self.services.v1_actor(req)
        core.delete_post(self.uow(), post_id, actor=actor)
        resp.media = {"message": "Post deleted successfully!"}


class UserPosts(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        actor = self.services.v1_actor(req)

        def read(uow: UnitOfWork, page: PageRequest) -> Slice[core.PostDetail]:
            return core.list_post_details(uow, page, user_id=user_id, actor=actor)

        self.answer_list(req, resp, "posts", read, post_full)


class ConstellationPosts(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, constellation_id: int) -> None:
        actor = self.services.v1_actor(req)

        def read(uow: UnitOfWork, page: PageRequest) -> Slice[core.PostDetail]:
            return core.list_post_details(uow, page, constellation_id=constellation_id, actor=actor)

        self.answer_list(req, resp, "posts", read, post_full)


class Feed(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.services.v1_actor(req)
        self.answer_list(req, resp, "posts", partial(core.feed_details, actor=actor), post_full)


# Any id reaches the use case, which answers "User not found!" for ids nothing has.
ID = "id"

ROUTES: list[tuple[str, type[Resource]]] = [
    ("/users", Users),
    ("/users/sync-minutes", SyncMinutes),
    (f"/users/{{user_id:{ID}}}", UserItem),
    (f"/users/{{user_id:{ID}}}/login", UserLogin),
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


def add_routes(app: falcon.App[falcon.Request, falcon.Response], services: Services) -> None:
    """Mount every v1 route under each prefix (trailing slashes are stripped by the app), unless v1 is off."""
    if services.v1_mode is V1Mode.OFF:
        return
    for path, resource_type in ROUTES:
        resource = resource_type(services)
        for prefix in PREFIXES:
            app.add_route(prefix + path, resource)
        if path in UNPREFIXED:
            app.add_route(path, resource)
