"""API v2: the current API for new clients, at ``/api/v2``.

Every operation is one row of :data:`OPERATIONS`: its method and path, the use
case it calls, the schema of its body and of its answer. The routes and the
OpenAPI document (:mod:`luminary.http.openapi`) are both generated from that
table, so they cannot drift apart.

Conventions: ``{"data": …}`` envelopes; lists newest first (or by id) with
``limit`` and ``cursor`` and a ``next_cursor``; ``POST`` creates (201 and
``Location``), ``PATCH`` changes only the fields sent, ``DELETE`` answers 204;
unknown body fields are refused; errors are RFC 9457 problem details.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import attrs
import falcon
from cattrs.preconf.json import make_converter

from luminary import core
from luminary.core import Clock, NotFound, Slice, UnitOfWork, ValidationFailed
from luminary.core import validation as limits

from .requests import body_of, field, page_of

PREFIX = "/api/v2"
DEFAULT_LIMIT = 50
MAX_LIMIT = 100

# The private converter: entities to JSON-ready dicts, timestamps as ISO-8601 with +00:00.
_converter = make_converter()
_converter.register_unstructure_hook(datetime, lambda d: d.isoformat())
_converter.register_unstructure_hook(enum.Enum, lambda e: e.value)


def unstructure(value: Any) -> Any:
    return _converter.unstructure(value)


# ---------------------------------------------------------------- request schemas

# The schemas mirror core's validation.text(), so that they refuse exactly what the
# domain refuses. Character classes are spelled out: JSON Schema's ``\s`` is
# ECMA-262's, which is not the set of characters ``str.strip()`` removes.
#: Control characters, which text() refuses (tab, line feed and carriage return are allowed).
CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
#: White space as Python's ``str.isspace()`` has it: what text() strips before its emptiness check.
SPACE = r"\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: At least one character that is neither white space nor a control character.
NOT_BLANK = f"^[^{CONTROL}]*[^{SPACE}{CONTROL}][^{CONTROL}]*$"
#: Any text without control characters, the empty string included.
ANY_TEXT = f"^[^{CONTROL}]*$"


def _name(maximum: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": maximum, "pattern": NOT_BLANK}


def _text(maximum: int) -> dict[str, Any]:
    return {"type": ["string", "null"], "maxLength": maximum, "pattern": ANY_TEXT}


def _nullable_name(maximum: int) -> dict[str, Any]:
    return {**_name(maximum), "type": ["string", "null"]}


def _integer(minimum: int, maximum: int, *, nullable: bool = False) -> dict[str, Any]:
    return {"type": ["integer", "null"] if nullable else "integer", "minimum": minimum, "maximum": maximum}


ID_SCHEMA = _integer(1, limits.ID_MAX)
_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}
_STATUS = {"type": "string", "enum": [s.value for s in core.SessionStatus]}


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


USER_CREATE = _object({"display_name": _name(limits.DISPLAY_NAME_MAX)}, ("display_name",))
USER_PATCH = _object({"display_name": _name(limits.DISPLAY_NAME_MAX)})
CONSTELLATION_CREATE = _object(
    {"name": _name(limits.NAME_MAX), "weight": _integer(1, limits.WEIGHT_MAX)}, ("name", "weight")
)
CONSTELLATION_PATCH = _object({"name": _name(limits.NAME_MAX), "weight": _integer(1, limits.WEIGHT_MAX)})
ATTEMPT_CREATE = _object(
    {"user_id": ID_SCHEMA, "constellation_id": ID_SCHEMA}, ("user_id", "constellation_id")
)
_SESSION_FIELDS: dict[str, Any] = {
    "title": _name(limits.TITLE_MAX),
    # Descriptions are stripped and must not be blank, like titles (validation.text's defaults).
    "description": _nullable_name(limits.DESCRIPTION_MAX),
    "status": _STATUS,
    "difficulty": _nullable_name(limits.DIFFICULTY_MAX),
    "minutes": _integer(0, limits.MINUTES_MAX, nullable=True),
    "started_at": _TIMESTAMP,
    "completed_at": _TIMESTAMP,
}
SESSION_CREATE = _object(
    {
        **_SESSION_FIELDS,
        "user_id": {**ID_SCHEMA, "type": ["integer", "null"]},
        "constellation_attempt_id": {**ID_SCHEMA, "type": ["integer", "null"]},
    },
    ("title",),
)
SESSION_PATCH = _object(_SESSION_FIELDS)
POST_CREATE = _object(
    {
        "user_id": ID_SCHEMA,
        "constellation_id": ID_SCHEMA,
        "post_type": {"type": "string", "enum": [t.value for t in core.PostType]},
        "message": _text(limits.MESSAGE_MAX),
        "study_duration": _integer(0, limits.STUDY_DURATION_MAX, nullable=True),
    },
    ("user_id", "constellation_id", "post_type"),
)


# ---------------------------------------------------------------- operations


@attrs.frozen
class Context:
    """What every operation gets: the request's parsed parts and the injected collaborators."""

    uow: Callable[[], UnitOfWork]
    clock: Clock
    req: falcon.Request
    params: Mapping[str, int]
    body: dict[str, Any]

    def page(self) -> core.PageRequest:
        return page_of(self.req, default_limit=DEFAULT_LIMIT, max_limit=MAX_LIMIT, offsets=False)


@attrs.frozen
class Operation:
    """One v2 operation: the single definition its route and its OpenAPI entry come from.

    Attributes:
        method: HTTP method.
        path: Path below ``/api/v2``; ``{name}`` segments are integer ids.
        operation_id: Unique name, used as the OpenAPI ``operationId``.
        summary: One line for the documentation.
        tag: The group it belongs to in the documentation.
        call: Runs the use case; returns an entity, a list or a :class:`Slice`, or ``None``.
        data: Component schema of the answer's ``data`` (``None`` for 204).
        body: JSON Schema of the request body, if it takes one.
        status: Status of a successful answer.
        many: The answer is a list: ``data`` is an array, with ``next_cursor``.
        nullable: ``data`` is ``null`` where there is nothing to show (a user's
            current attempt, when they have none); 404 stays for a missing parent.
        paginated: The list takes ``limit`` and ``cursor``.
        location: For 201 answers, the path of the created object, ``{id}`` filled in.
        example: A request body that the operation accepts, for the documentation.
    """

    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    call: Callable[[Context], Any]
    data: str | None = None
    body: dict[str, Any] | None = None
    status: int = 200
    many: bool = False
    nullable: bool = False
    paginated: bool = False
    location: str | None = None
    example: dict[str, Any] | None = None


def _fields(ctx: Context, names: tuple[str, ...]) -> dict[str, Any]:
    return {k: ctx.body[k] for k in names if k in ctx.body}


def _create_session(ctx: Context) -> core.Session:
    if "title" not in ctx.body:
        raise ValidationFailed.field("title", "is required")
    fields = _fields(ctx, ("user_id", "constellation_attempt_id", *sorted(core.SESSION_FIELDS)))
    return core.create_session(ctx.uow(), clock=ctx.clock, **fields)


def _create_post(ctx: Context) -> core.Post:
    return core.create_post(
        ctx.uow(),
        clock=ctx.clock,
        user_id=field(ctx.body, "user_id"),
        constellation_id=field(ctx.body, "constellation_id"),
        post_type=field(ctx.body, "post_type"),
        message=field(ctx.body, "message"),
        study_duration=field(ctx.body, "study_duration"),
    )


def _current_attempt(ctx: Context) -> core.Attempt | None:
    try:
        return core.current_attempt(ctx.uow(), ctx.params["user_id"]).attempt
    except NotFound as exc:
        if exc.entity == "User":
            raise
        return None  # the user is there, without a current attempt


def _completed(ctx: Context) -> list[core.Constellation]:
    result = core.completed_constellations(ctx.uow(), ctx.params["user_id"])
    return [d.constellation for d in result.distinct]


def _deleted(fn: Callable[[UnitOfWork, int], object], param: str) -> Callable[[Context], None]:
    def call(ctx: Context) -> None:
        fn(ctx.uow(), ctx.params[param])

    return call


USER, CONSTELLATION, ATTEMPT, SESSION, POST = "User", "Constellation", "Attempt", "Session", "Post"
U = "/users/{user_id}"
C = "/constellations/{constellation_id}"
A = "/attempts/{attempt_id}"
S = "/sessions/{session_id}"
P = "/posts/{post_id}"

OPERATIONS: tuple[Operation, ...] = (
    # users
    Operation(
        "GET",
        "/users",
        "listUsers",
        "List users by id",
        "users",
        lambda c: core.list_users(c.uow(), c.page()),
        USER,
        many=True,
        paginated=True,
    ),
    Operation(
        "POST",
        "/users",
        "createUser",
        "Create a user",
        "users",
        lambda c: core.create_user(c.uow(), field(c.body, "display_name"), clock=c.clock),
        USER,
        USER_CREATE,
        201,
        location="/users/{id}",
        example={"display_name": "Ada"},
    ),
    Operation(
        "GET",
        U,
        "getUser",
        "Get a user",
        "users",
        lambda c: core.get_user(c.uow(), c.params["user_id"]),
        USER,
    ),
    Operation(
        "PATCH",
        U,
        "updateUser",
        "Rename a user",
        "users",
        lambda c: core.update_user(c.uow(), c.params["user_id"], c.body, clock=c.clock),
        USER,
        USER_PATCH,
        example={"display_name": "Ada Lovelace"},
    ),
    Operation(
        "DELETE",
        U,
        "deleteUser",
        "Delete a user with their attempts, sessions and posts",
        "users",
        _deleted(core.delete_user, "user_id"),
        status=204,
    ),
    Operation(
        "GET",
        U + "/total_minutes",
        "getUserTotalMinutes",
        "A user's total minutes",
        "users",
        lambda c: core.total_minutes(c.uow(), c.params["user_id"]),
        "MinutesSummary",
    ),
    Operation(
        "GET",
        U + "/completed_constellations",
        "listUserCompletedConstellations",
        "Constellations the user has completed",
        "users",
        _completed,
        CONSTELLATION,
        many=True,
    ),
    Operation(
        "GET",
        U + "/current_attempt",
        "getUserCurrentAttempt",
        "The user's current attempt",
        "users",
        _current_attempt,
        ATTEMPT,
        nullable=True,
    ),
    Operation(
        "GET",
        U + "/attempts",
        "listUserAttempts",
        "A user's attempts, by id",
        "users",
        lambda c: core.list_attempts(c.uow(), c.page(), user_id=c.params["user_id"]),
        ATTEMPT,
        many=True,
        paginated=True,
    ),
    Operation(
        "GET",
        U + "/sessions",
        "listUserSessions",
        "A user's sessions, newest first",
        "users",
        lambda c: core.list_sessions(c.uow(), c.page(), user_id=c.params["user_id"]),
        SESSION,
        many=True,
        paginated=True,
    ),
    Operation(
        "GET",
        U + "/posts",
        "listUserPosts",
        "A user's posts, newest first",
        "users",
        lambda c: core.list_posts(c.uow(), c.page(), user_id=c.params["user_id"]),
        POST,
        many=True,
        paginated=True,
    ),
    # constellations
    Operation(
        "GET",
        "/constellations",
        "listConstellations",
        "List constellations by id",
        "constellations",
        lambda c: core.list_constellations(c.uow(), c.page()),
        CONSTELLATION,
        many=True,
        paginated=True,
    ),
    Operation(
        "POST",
        "/constellations",
        "createConstellation",
        "Create a constellation",
        "constellations",
        lambda c: core.create_constellation(
            c.uow(),
            field(c.body, "name"),
            field(c.body, "weight"),
            clock=c.clock,
        ),
        CONSTELLATION,
        CONSTELLATION_CREATE,
        201,
        location="/constellations/{id}",
        example={"name": "Orion", "weight": 7},
    ),
    Operation(
        "GET",
        C,
        "getConstellation",
        "Get a constellation",
        "constellations",
        lambda c: core.get_constellation(c.uow(), c.params["constellation_id"]),
        CONSTELLATION,
    ),
    Operation(
        "PATCH",
        C,
        "updateConstellation",
        "Rename or reweigh a constellation",
        "constellations",
        lambda c: core.update_constellation(c.uow(), c.params["constellation_id"], c.body, clock=c.clock),
        CONSTELLATION,
        CONSTELLATION_PATCH,
        example={"name": "Ursa Major"},
    ),
    Operation(
        "DELETE",
        C,
        "deleteConstellation",
        "Delete a constellation nothing refers to",
        "constellations",
        _deleted(core.delete_constellation, "constellation_id"),
        status=204,
    ),
    Operation(
        "GET",
        C + "/posts",
        "listConstellationPosts",
        "Posts about a constellation, newest first",
        "constellations",
        lambda c: core.list_posts(c.uow(), c.page(), constellation_id=c.params["constellation_id"]),
        POST,
        many=True,
        paginated=True,
    ),
    # attempts
    Operation(
        "GET",
        "/attempts",
        "listAttempts",
        "List attempts by id",
        "attempts",
        lambda c: core.list_attempts(c.uow(), c.page()),
        ATTEMPT,
        many=True,
        paginated=True,
    ),
    Operation(
        "POST",
        "/attempts",
        "startAttempt",
        "Start an attempt; it becomes the user's current one",
        "attempts",
        lambda c: core.start_attempt(
            c.uow(),
            field(c.body, "user_id"),
            field(c.body, "constellation_id"),
            clock=c.clock,
        ),
        ATTEMPT,
        ATTEMPT_CREATE,
        201,
        location="/attempts/{id}",
        example={"user_id": 1, "constellation_id": 1},
    ),
    Operation(
        "GET",
        A,
        "getAttempt",
        "Get an attempt",
        "attempts",
        lambda c: core.get_attempt(c.uow(), c.params["attempt_id"]),
        ATTEMPT,
    ),
    Operation(
        "DELETE",
        A,
        "deleteAttempt",
        "Delete an attempt with its sessions",
        "attempts",
        _deleted(core.delete_attempt, "attempt_id"),
        status=204,
    ),
    Operation(
        "POST",
        A + "/stars",
        "addStar",
        "Add a star; 409 once the attempt is complete",
        "attempts",
        lambda c: core.add_star(c.uow(), c.params["attempt_id"], clock=c.clock),
        ATTEMPT,
    ),
    Operation(
        "POST",
        A + "/complete",
        "completeAttempt",
        "Complete an attempt (idempotent)",
        "attempts",
        lambda c: core.complete_attempt(c.uow(), c.params["attempt_id"], clock=c.clock),
        ATTEMPT,
    ),
    Operation(
        "GET",
        A + "/sessions",
        "listAttemptSessions",
        "An attempt's sessions, newest first",
        "attempts",
        lambda c: core.list_sessions(c.uow(), c.page(), attempt_id=c.params["attempt_id"]),
        SESSION,
        many=True,
        paginated=True,
    ),
    # sessions
    Operation(
        "GET",
        "/sessions",
        "listSessions",
        "List sessions, newest first",
        "sessions",
        lambda c: core.list_sessions(c.uow(), c.page()),
        SESSION,
        many=True,
        paginated=True,
    ),
    Operation(
        "POST",
        "/sessions",
        "createSession",
        "Create a learning or study session",
        "sessions",
        _create_session,
        SESSION,
        SESSION_CREATE,
        201,
        location="/sessions/{id}",
        example={"title": "Learn Flask", "status": "planned"},
    ),
    Operation(
        "GET",
        S,
        "getSession",
        "Get a session",
        "sessions",
        lambda c: core.get_session(c.uow(), c.params["session_id"]),
        SESSION,
    ),
    Operation(
        "PATCH",
        S,
        "updateSession",
        "Change some fields of a session",
        "sessions",
        lambda c: core.update_session(c.uow(), c.params["session_id"], c.body, clock=c.clock),
        SESSION,
        SESSION_PATCH,
        example={"status": "in_progress", "difficulty": "medium"},
    ),
    Operation(
        "DELETE",
        S,
        "deleteSession",
        "Delete a session",
        "sessions",
        _deleted(core.delete_session, "session_id"),
        status=204,
    ),
    Operation(
        "POST",
        S + "/complete",
        "completeSession",
        "Complete a session; its minutes count",
        "sessions",
        lambda c: core.complete_session(c.uow(), c.params["session_id"], clock=c.clock),
        SESSION,
    ),
    Operation(
        "POST",
        S + "/cancel",
        "cancelSession",
        "Cancel a session; its minutes are taken back",
        "sessions",
        lambda c: core.cancel_session(c.uow(), c.params["session_id"], clock=c.clock),
        SESSION,
    ),
    # posts and the feed
    Operation(
        "GET",
        "/posts",
        "listPosts",
        "List posts, newest first",
        "posts",
        lambda c: core.list_posts(c.uow(), c.page()),
        POST,
        many=True,
        paginated=True,
    ),
    Operation(
        "POST",
        "/posts",
        "createPost",
        "Share progress in the feed",
        "posts",
        _create_post,
        POST,
        POST_CREATE,
        201,
        location="/posts/{id}",
        example={
            "user_id": 1,
            "constellation_id": 1,
            "post_type": "progress",
            "message": "Two stars!",
            "study_duration": 25,
        },
    ),
    Operation(
        "GET",
        P,
        "getPost",
        "Get a post",
        "posts",
        lambda c: core.get_post(c.uow(), c.params["post_id"]),
        POST,
    ),
    Operation(
        "DELETE", P, "deletePost", "Delete a post", "posts", _deleted(core.delete_post, "post_id"), status=204
    ),
    Operation(
        "GET",
        "/feed",
        "getFeed",
        "The social feed, newest first",
        "posts",
        lambda c: core.feed(c.uow(), c.page()),
        POST,
        many=True,
        paginated=True,
    ),
)


# ---------------------------------------------------------------- routing


def falcon_path(path: str) -> str:
    """``/users/{user_id}`` as a Falcon route with integer converters."""
    return PREFIX + path.replace("_id}", "_id:int}")


class OperationsResource:
    """All the operations on one path; Falcon finds ``on_<method>`` responders here."""

    def __init__(
        self, operations: list[Operation], uow_factory: Callable[[], UnitOfWork], clock: Clock
    ) -> None:
        self.uow_factory = uow_factory
        self.clock = clock
        for op in operations:
            setattr(self, f"on_{op.method.lower()}", self._responder(op))

    def _responder(self, op: Operation) -> Callable[..., None]:
        def respond(req: falcon.Request, resp: falcon.Response, **params: int) -> None:
            body: dict[str, Any] = {}
            if op.body is not None:
                body = body_of(req, required=True)
                check_body(body, op.body)
            result = op.call(Context(self.uow_factory, self.clock, req, params, body))
            resp.status = op.status
            if op.status == 204:
                return
            if isinstance(result, Slice):
                resp.media = {"data": unstructure(list(result.items)), "next_cursor": result.next_cursor}
            elif op.many:
                resp.media = {"data": unstructure(list(result)), "next_cursor": None}
            else:
                resp.media = {"data": unstructure(result)}
            if op.location:
                resp.location = PREFIX + op.location.format(id=result.id)

        return respond


#: RFC 3339's date-time, which ``format: date-time`` stands for (core takes any ISO-8601 form).
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def check_body(body: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Refuse what the body schema refuses and core's validation would let through.

    Core validates every value it is given, leniently where v1 needs it: it never
    sees unknown fields (v1 ignores them), reads ``null`` as "not given" for some
    fields, and takes any ISO-8601 timestamp. v2 refuses unknown fields, ``null``
    where the schema has no null, and timestamps that are not RFC 3339.
    """
    properties: Mapping[str, Any] = schema["properties"]
    errors = [core.FieldError(name, "is not a known field") for name in sorted(set(body) - set(properties))]
    for name, value in body.items():
        prop = properties.get(name)
        if prop is None:
            continue
        types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
        if value is None and "null" not in types:
            errors.append(core.FieldError(name, "must not be null"))
        elif prop.get("format") == "date-time" and isinstance(value, str) and not _DATE_TIME.fullmatch(value):
            errors.append(core.FieldError(name, "must be an RFC 3339 date-time, like 2025-12-01T10:30:00Z"))
    if errors:
        raise ValidationFailed(errors)


def add_routes(
    app: falcon.App[falcon.Request, falcon.Response], uow_factory: Callable[[], UnitOfWork], clock: Clock
) -> None:
    """Mount every operation of :data:`OPERATIONS`."""
    by_path: dict[str, list[Operation]] = {}
    for op in OPERATIONS:
        by_path.setdefault(op.path, []).append(op)
    for path, operations in by_path.items():
        app.add_route(falcon_path(path), OperationsResource(operations, uow_factory, clock))
