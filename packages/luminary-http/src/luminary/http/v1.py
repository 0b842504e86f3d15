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
from functools import partial
from typing import Any, TypeVar

import falcon

from luminary import core
from luminary.core import (
    Actor,
    Constellation,
    NotFound,
    PageRequest,
    Session,
    Slice,
    UnitOfWork,
    documents,
)
from luminary.core.ports import Document

from .auth import Services, V1Mode
from .commands import V1_BODIES
from .media import dumps
from .requests import body_of, window_of
from .streaming import batches, continued, documents_array, respond
from .v2 import unstructure

PREFIXES = ("/api", "/api/v1")
#: Items read per transaction while a list is sent. A user carries their attempts,
#: sessions and posts, a constellation its attempts and posts: fewer per batch.
BATCH = 500
NESTED_BATCH = 100

Json = dict[str, Any]
T = TypeVar("T")


# ---------------------------------------------------------------- shapes
#
# The answers are core's documents (luminary.core.documents), read through the
# ``Views`` read model; a store's own read model (luminary-sql's) reads only the
# columns they show, and builds no entities.

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
        read: Callable[[UnitOfWork, PageRequest], Slice[Document]],
        *,
        nested: bool = False,
    ) -> None:
        """Answer ``{key: [...]}`` with every document ``read`` finds, or the window the query asks for."""
        window = window_of(req)
        found = batches(lambda page: read(self.uow(), page), window, NESTED_BATCH if nested else BATCH)
        respond(resp, _document(key, documents_array(found)))

    def constellation(
        self,
        constellation: Constellation,
        actor: Actor,
        uow: Callable[[], UnitOfWork] | None = None,
    ) -> Iterator[bytes]:
        """The full constellation: the first batches of its attempts and posts read together, in
        one transaction, the batches after them each in its own (or all in ``uow``'s, if given)."""
        unit = uow or self.uow
        try:
            first_attempts, first_posts = core.constellation_contents(
                unit(), constellation.id, PageRequest(limit=BATCH), actor=actor
            )
        except NotFound:
            # Deleted since it was listed: it is answered as it was, carrying nothing.
            first_attempts = first_posts = Slice([])
        yield from self.carrying(constellation, first_attempts, first_posts, actor, unit)

    def carrying(
        self,
        constellation: Constellation,
        first_attempts: Slice[Document],
        first_posts: Slice[Document],
        actor: Actor,
        unit: Callable[[], UnitOfWork],
    ) -> Iterator[bytes]:
        """The full constellation from the first batches of its attempts and posts, already read;
        the batches after them are read each in a transaction of ``unit``'s."""
        cid = constellation.id

        def attempts(page: PageRequest) -> Slice[Document]:
            return core.constellation_attempt_documents(unit(), page, constellation_id=cid, actor=actor)

        def posts(page: PageRequest) -> Slice[Document]:
            return core.constellation_post_documents(unit(), page, constellation_id=cid, actor=actor)

        yield dumps(documents.constellation_summary(constellation))[:-1] + b',"user_attempts":'
        yield from documents_array(continued(attempts, first_attempts, BATCH))
        yield b',"posts":'
        yield from documents_array(continued(posts, first_posts, BATCH))
        yield b"}"

    def constellations(self, items: Iterable[Constellation], actor: Actor) -> Iterator[bytes]:
        """A JSON array of full constellations."""
        opening = b"["
        for constellation in items:
            yield opening
            opening = b","
            yield from self.constellation(constellation, actor)
        yield b"[]" if opening == b"[" else b"]"


def _document(key: str, array: Iterator[bytes]) -> Iterator[bytes]:
    yield b'{"' + key.encode() + b'":'
    yield from array
    yield b"}"


class Users(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.services.v1_actor(req)
        self.answer_list(req, resp, "users", partial(core.list_user_documents, actor=actor), nested=True)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.services.v1_actor(req)
        command = V1_BODIES.read(body_of(req), core.CreateUser)
        user = core.create_user(self.uow(), command, clock=self.clock, actor=actor)
        # A user just made has no attempts, sessions or posts: nothing more to read.
        resp.media = documents.user_document(core.UserDetail(user, None, (), (), ()))
        resp.status = falcon.HTTP_201


class UserItem(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        actor = self.services.v1_actor(req)
        resp.media = core.user_document(self.uow(), user_id, actor=actor)

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
        resp.media = core.current_attempt_document(self.uow(), user_id, actor=actor)


class SyncMinutes(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.services.v1_actor(req)
        report = core.sync_minutes(self.uow(), actor=actor)
        resp.media = {"message": "Total minutes synced!", "users_updated": report.users_updated}


class Constellations(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.services.v1_actor(req)

        def every(page: PageRequest) -> Slice[tuple[Constellation, Slice[Document], Slice[Document]]]:
            # A batch of constellations and the first batches of what each carries: one transaction.
            return core.list_constellation_contents(self.uow(), page, PageRequest(limit=BATCH), actor=actor)

        found = batches(every, window_of(req), NESTED_BATCH)

        def pieces() -> Iterator[bytes]:
            opening = b"["
            for batch in found:
                for constellation, first_attempts, first_posts in batch:
                    yield opening
                    opening = b","
                    yield from self.carrying(constellation, first_attempts, first_posts, actor, self.uow)
            yield b"[]" if opening == b"[" else b"]"

        respond(resp, _document("constellations", pieces()))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.services.v1_actor(req)
        command = V1_BODIES.read(body_of(req), core.CreateConstellation)
        made = core.create_constellation(self.uow(), command, clock=self.clock, actor=actor)
        # A constellation just made has no attempts and no posts: nothing more to read.
        resp.media = {**documents.constellation_summary(made), "user_attempts": [], "posts": []}
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
        with self.transaction() as uow:
            updated = core.update_constellation(uow, constellation_id, patch, clock=self.clock, actor=actor)
            # Read whole in the write's transaction: what it carries cannot change in between.
            answer = b"".join(self.constellation(updated, actor, lambda: uow))
        resp.content_type = falcon.MEDIA_JSON
        resp.data = answer

    def on_delete(self, req: falcon.Request, resp: falcon.Response, constellation_id: int) -> None:
        actor = self.services.v1_actor(req)
        core.delete_constellation(self.uow(), constellation_id, actor=actor)
        resp.media = {"message": "Constellation deleted successfully!"}


class UserAttempts(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        actor = self.services.v1_actor(req)

        def read(uow: UnitOfWork, page: PageRequest) -> Slice[Document]:
            return core.list_attempt_documents(uow, page, user_id=user_id, actor=actor)

        self.answer_list(req, resp, "constellation_attempts", read)

    def on_post(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        actor = self.services.v1_actor(req)
        command = V1_BODIES.read({**body_of(req), "user_id": user_id}, core.StartAttempt)
        with self.transaction() as uow:
            attempt = core.start_attempt(uow, command, clock=self.clock, actor=actor)
            resp.media = core.attempt_document(uow, attempt.id, actor=actor)
        resp.status = falcon.HTTP_201


class Attempts(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.services.v1_actor(req)
        self.answer_list(
            req, resp, "constellation_attempts", partial(core.list_attempt_documents, actor=actor)
        )


class AttemptItem(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, attempt_id: int) -> None:
        actor = self.services.v1_actor(req)
        resp.media = core.attempt_document(self.uow(), attempt_id, actor=actor)

    def on_put(self, req: falcon.Request, resp: falcon.Response, attempt_id: int) -> None:
        actor = self.services.v1_actor(req)
        with self.transaction() as uow:
            core.add_star(uow, attempt_id, clock=self.clock, actor=actor)
            resp.media = core.attempt_document(uow, attempt_id, actor=actor)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, attempt_id: int) -> None:
        actor = self.services.v1_actor(req)
        core.delete_attempt(self.uow(), attempt_id, actor=actor)
        resp.media = {"message": "Constellation attempt deleted successfully!"}


class AttemptComplete(Resource):
    def on_put(self, req: falcon.Request, resp: falcon.Response, attempt_id: int) -> None:
        actor = self.services.v1_actor(req)
        with self.transaction() as uow:
            core.complete_attempt(uow, attempt_id, clock=self.clock, actor=actor)
            attempt = core.attempt_document(uow, attempt_id, actor=actor)
        resp.media = {
            "attempt": attempt,
            "user_updated": True,
            "message": "Constellation completed successfully!",
        }


class AttemptSessions(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, attempt_id: int) -> None:
        actor = self.services.v1_actor(req)

        def read(uow: UnitOfWork, page: PageRequest) -> Slice[Document]:
            return core.list_session_documents(uow, page, attempt_id=attempt_id, actor=actor)

        self.answer_list(req, resp, "sessions", read)


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

        def read(uow: UnitOfWork, page: PageRequest) -> Slice[Document]:
            found = core.list_sessions(uow, page, actor=actor)
            return Slice([learning_session(s) for s in found.items], found.next_cursor)

        self.answer_list(req, resp, "data", read)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.services.v1_actor(req)
        body = body_of(req)
        command = V1_BODIES.read(body, core.CreateSession)
        resp.status = falcon.HTTP_201
        with self.transaction() as uow:
            session = core.create_session(uow, command, clock=self.clock, actor=actor)
            study = (
                core.session_document(uow, session.id, actor=actor) if is_study_session_body(body) else None
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
            resp.media = core.session_document(uow, session_id, actor=actor)


class SessionCancel(Resource):
    def on_put(self, req: falcon.Request, resp: falcon.Response, session_id: int) -> None:
        actor = self.services.v1_actor(req)
        with self.transaction() as uow:
            core.cancel_session(uow, session_id, clock=self.clock, actor=actor)
            resp.media = core.session_document(uow, session_id, actor=actor)


class Posts(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.services.v1_actor(req)
        self.answer_list(req, resp, "posts", partial(core.list_post_documents, actor=actor))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.services.v1_actor(req)
        command = V1_BODIES.read(body_of(req), core.CreatePost)
        with self.transaction() as uow:
            post = core.create_post(uow, command, clock=self.clock, actor=actor)
            resp.media = core.post_document(uow, post.id, actor=actor)
        resp.status = falcon.HTTP_201


class PostItem(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, post_id: int) -> None:
        actor = self.services.v1_actor(req)
        resp.media = core.post_document(self.uow(), post_id, actor=actor)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, post_id: int) -> None:
        actor = self.services.v1_actor(req)
        core.delete_post(self.uow(), post_id, actor=actor)
        resp.media = {"message": "Post deleted successfully!"}


class UserPosts(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
        actor = self.services.v1_actor(req)

        def read(uow: UnitOfWork, page: PageRequest) -> Slice[Document]:
            return core.list_post_documents(uow, page, user_id=user_id, actor=actor)

        self.answer_list(req, resp, "posts", read)


class ConstellationPosts(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, constellation_id: int) -> None:
        actor = self.services.v1_actor(req)

        def read(uow: UnitOfWork, page: PageRequest) -> Slice[Document]:
            return core.list_post_documents(uow, page, constellation_id=constellation_id, actor=actor)

        self.answer_list(req, resp, "posts", read)


class Feed(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.services.v1_actor(req)
        self.answer_list(req, resp, "posts", partial(core.list_post_documents, actor=actor))


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
