"""The OpenAPI 3.1 document of API v1: the iOS app's contract, described as it is.

v1 was not designed from a document; this one describes what :mod:`luminary.http.v1`
serves (its answers are checked against it by the tests). Paths are written
under the ``/api`` server, and are the same under ``/api/v1``; every path
answers with and without its trailing slash. In ``open`` mode no operation
needs a token; in ``token`` mode every one needs a bearer token, as v2's do.
"""

from __future__ import annotations

import typing
from typing import Any

import attrs

from luminary import core
from luminary.core import commands
from luminary.core.pagination import MAX_OFFSET
from luminary.core.validation import Timestamp

from . import __version__
from .auth import V1Mode
from .commands import V1
from .openapi import SECURITY_SCHEME, TOO_MANY_HEADERS, component_schema, too_many, type_schema
from .v1 import UNPREFIXED, V2_ONLY
from .v2 import ID_SCHEMA
from .v2.schemas import rule_schema

Json = dict[str, Any]

SERVERS = [
    {"url": "/api", "description": "API v1, as the iOS app calls it"},
    {"url": "/api/v1", "description": "the same API under its version"},
]
#: The two lists the original app also served outside ``/api``.
UNPREFIXED_SERVERS = [*SERVERS, {"url": "/", "description": "outside /api, as the original app served it"}]


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: Json) -> Json:
    return {"type": "object", "properties": properties, "required": list(properties)}


def _fields(cls: type, *names: str) -> Json:
    """The schemas of some fields of a core entity, from its type hints."""
    hints = typing.get_type_hints(cls)
    return {name: type_schema(hints[name]) for name in names}


def _nullable(schema: Json) -> Json:
    return {"anyOf": [schema, {"type": "null"}]}


def schemas() -> Json:
    """The objects of v1 (docs/api.md, "Objects"), key for key."""
    user_simple = _object(_fields(core.User, "id", "display_name"))
    constellation_simple = _object(_fields(core.Constellation, "id", "name", "weight"))
    attempt_simple = _object(_fields(core.Attempt, "id", "user_id", "constellation_id", "stars_completed"))
    session_simple = _object(
        {
            **_fields(core.Session, "id", "user_id", "constellation_attempt_id"),
            "is_completed": {"type": "boolean"},
            "minutes": {"type": "integer", "description": "0 when unknown."},
        }
    )
    post_simple = _object(_fields(core.Post, "id", "post_type", "message", "study_duration", "created_at"))
    user = _object(
        {
            **_fields(core.User, "id", "display_name", "total_minutes", "current_attempt_id"),
            "current_attempt": _nullable(_ref("AttemptSimple")),
            "constellation_attempts": {"type": "array", "items": _ref("AttemptSimple")},
            "sessions": {"type": "array", "items": _ref("SessionSimple")},
            "posts": {"type": "array", "items": _ref("PostSimple")},
        }
    )
    constellation = _object(
        {
            **constellation_simple["properties"],
            "user_attempts": {"type": "array", "items": _ref("AttemptSimple")},
            "posts": {"type": "array", "items": _ref("PostSimple")},
        }
    )
    attempt = _object(
        {
            **attempt_simple["properties"],
            "user": _ref("UserSimple"),
            "constellation": _ref("ConstellationSimple"),
            "sessions": {"type": "array", "items": _ref("SessionSimple")},
        }
    )
    session = _object(
        {
            **session_simple["properties"],
            "user": _nullable(_ref("UserSimple")),
            "constellation_attempt": _nullable(_ref("AttemptSimple")),
            **_fields(
                core.Session,
                "title",
                "description",
                "status",
                "difficulty",
                "started_at",
                "completed_at",
                "created_at",
                "updated_at",
            ),
        }
    )
    post = _object(
        {
            **_fields(
                core.Post,
                "id",
                "user_id",
                "constellation_id",
                "post_type",
                "message",
                "study_duration",
                "created_at",
            ),
            "user": _ref("UserSimple"),
            "constellation": _ref("ConstellationSimple"),
        }
    )
    learning = component_schema(core.Session)
    for name in V2_ONLY:
        del learning["properties"][name]
    learning["required"] = list(learning["properties"])
    return {
        "UserSimple": user_simple,
        "ConstellationSimple": constellation_simple,
        "AttemptSimple": attempt_simple,
        "SessionSimple": session_simple,
        "PostSimple": post_simple,
        "User": user,
        "Constellation": constellation,
        "Attempt": attempt,
        "Session": session,
        "Post": post,
        "LearningSession": learning,
        "Message": _object({"message": {"type": "string"}}),
        "Error": {
            "type": "object",
            "description": 'What went wrong, in words: {"error": "User not found!"}.',
            "properties": {"error": {"type": "string"}},
            "required": ["error"],
        },
    }


TIMESTAMP: Json = {"type": "string", "description": "An ISO-8601 date and time; without an offset, UTC."}


def _body(cls: type, *, leave_out: tuple[str, ...] = (), example: Json | None = None) -> Json:
    """A v1 request body that structures into ``cls``: unknown members are ignored."""
    properties: Json = {}
    for field in attrs.fields(cls):
        if field.name in leave_out:
            continue
        spec = commands.spec_of(field)
        # v1 takes any ISO-8601 date and time (without an offset, UTC); v2 only RFC 3339's.
        member = TIMESTAMP if isinstance(spec.rule, Timestamp) else rule_schema(spec.rule)
        properties[field.name] = {**member, "type": [member["type"], "null"]} if spec.nullable else member
    required = [f.name for f in attrs.fields(cls) if f.name not in leave_out and V1.requires(cls, f)]
    schema: Json = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    media: Json = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"required": True, "content": {"application/json": media}}


def _list(key: str, item: str) -> Json:
    return _object({key: {"type": "array", "items": _ref(item)}})


LIST_PARAMETERS = [
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "At most this many items (every item when absent: the app has no paging).",
        "schema": {"type": "integer", "minimum": 1, "maximum": ID_SCHEMA["maximum"]},
    },
    {
        "name": "offset",
        "in": "query",
        "required": False,
        "description": "Items to skip first.",
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
    },
]


@attrs.frozen
class Operation:
    """One v1 operation: its path under ``/api``, what it takes and what it answers."""

    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    answer: Json
    status: int = 200
    body: Json | None = None
    listed: bool = False
    description: str | None = None


def _operations() -> list[Operation]:
    user_path = "/users/{user_id}"
    constellation_path = "/constellations/{constellation_id}"
    attempt_path = "/constellation_attempts/{attempt_id}"
    session_path = "/sessions/{session_id}"
    study = {"user_id": 1, "constellation_attempt_id": 1, "minutes": 25}
    return [
        Operation(
            "GET", "/users", "listUsers", "Every user, by id", "users", _list("users", "User"), listed=True
        ),
        Operation(
            "POST",
            "/users",
            "createUser",
            "Sign a student up",
            "users",
            _ref("User"),
            201,
            _body(commands.CreateUser, example={"display_name": "Ada"}),
        ),
        Operation(
            "POST",
            "/users/sync-minutes",
            "syncMinutes",
            "Recompute every user's total minutes",
            "users",
            _object({"message": {"type": "string"}, "users_updated": {"type": "integer"}}),
        ),
        Operation(
            "GET",
            user_path,
            "getUser",
            "A user, with their attempts, sessions and posts",
            "users",
            _ref("User"),
        ),
        Operation(
            "DELETE",
            user_path,
            "deleteUser",
            "Delete a user, their attempts, sessions and posts",
            "users",
            _ref("Message"),
        ),
        Operation(
            "PUT",
            user_path + "/login",
            "claimUser",
            "Give a user a login and a password (for v2)",
            "users",
            _object({"user_id": {"type": "integer"}, "login": {"type": "string"}}),
            201,
            _body(commands.ClaimAccount, example={"login": "ada", "password": "correct horse battery"}),
        ),
        Operation(
            "GET",
            user_path + "/total_minutes",
            "getTotalMinutes",
            "A user's total minutes",
            "users",
            _object(
                {
                    "user_id": {"type": "integer"},
                    "display_name": {"type": "string"},
                    "total_minutes": {"type": "integer"},
                }
            ),
        ),
        Operation(
            "GET",
            user_path + "/completed_constellations",
            "listCompletedConstellations",
            "The constellations a user completed, once per completed attempt",
            "users",
            _object(
                {
                    "user_id": {"type": "integer"},
                    "display_name": {"type": "string"},
                    "completed_constellations": {"type": "array", "items": _ref("Constellation")},
                    "num_completed": {"type": "integer"},
                }
            ),
        ),
        Operation(
            "GET",
            user_path + "/current-attempt",
            "getCurrentAttempt",
            "A user's current attempt (404 when they have none)",
            "attempts",
            _ref("Attempt"),
        ),
        Operation(
            "GET",
            user_path + "/constellation_attempts",
            "listUserAttempts",
            "A user's attempts, by id",
            "attempts",
            _list("constellation_attempts", "Attempt"),
            listed=True,
        ),
        Operation(
            "POST",
            user_path + "/constellation_attempts",
            "startAttempt",
            "Start an attempt; it becomes the user's current one",
            "attempts",
            _ref("Attempt"),
            201,
            _body(commands.StartAttempt, leave_out=("user_id",), example={"constellation_id": 1}),
        ),
        Operation(
            "GET",
            user_path + "/posts",
            "listUserPosts",
            "A user's posts, newest first",
            "posts",
            _list("posts", "Post"),
            listed=True,
        ),
        Operation(
            "GET",
            "/constellations",
            "listConstellations",
            "Every constellation, with its attempts and posts, by id",
            "constellations",
            _list("constellations", "Constellation"),
            listed=True,
        ),
        Operation(
            "POST",
            "/constellations",
            "createConstellation",
            "Add a constellation",
            "constellations",
            _ref("Constellation"),
            201,
            _body(commands.CreateConstellation, example={"name": "Orion", "weight": 7}),
        ),
        Operation(
            "GET",
            constellation_path,
            "getConstellation",
            "A constellation, with its attempts and posts",
            "constellations",
            _ref("Constellation"),
        ),
        Operation(
            "PUT",
            constellation_path,
            "updateConstellation",
            "Rename or reweigh a constellation (409 for a new weight while attempts exist)",
            "constellations",
            _ref("Constellation"),
            body=_body(commands.ConstellationPatch, example={"name": "Orion's Belt"}),
        ),
        Operation(
            "DELETE",
            constellation_path,
            "deleteConstellation",
            "Delete a constellation (409 while attempts or posts refer to it)",
            "constellations",
            _ref("Message"),
        ),
        Operation(
            "GET",
            constellation_path + "/posts",
            "listConstellationPosts",
            "A constellation's posts, newest first",
            "posts",
            _list("posts", "Post"),
            listed=True,
        ),
        Operation(
            "GET",
            "/constellation_attempts",
            "listAttempts",
            "Every attempt, by id",
            "attempts",
            _list("constellation_attempts", "Attempt"),
            listed=True,
        ),
        Operation("GET", attempt_path, "getAttempt", "An attempt", "attempts", _ref("Attempt")),
        Operation(
            "PUT",
            attempt_path,
            "addStar",
            "Add a star to an attempt (409 when complete)",
            "attempts",
            _ref("Attempt"),
        ),
        Operation(
            "DELETE",
            attempt_path,
            "deleteAttempt",
            "Delete an attempt, its sessions and their minutes",
            "attempts",
            _ref("Message"),
        ),
        Operation(
            "PUT",
            attempt_path + "/complete",
            "completeAttempt",
            "Complete an attempt",
            "attempts",
            _object(
                {
                    "attempt": _ref("Attempt"),
                    "user_updated": {"type": "boolean"},
                    "message": {"type": "string"},
                }
            ),
        ),
        Operation(
            "GET",
            attempt_path + "/sessions",
            "listAttemptSessions",
            "An attempt's sessions, newest first",
            "sessions",
            _list("sessions", "Session"),
            listed=True,
        ),
        Operation(
            "GET",
            "/sessions",
            "listLearningSessions",
            "Every session, newest first",
            "sessions",
            _list("data", "LearningSession"),
            listed=True,
        ),
        Operation(
            "POST",
            "/sessions",
            "createSession",
            "Log the app's study session, or plan a learning session",
            "sessions",
            {"oneOf": [_ref("Session"), _object({"data": _ref("LearningSession")})]},
            201,
            _body(commands.CreateSession, example=study),
            description=(
                "A body with a `constellation_attempt_id` member (whatever its value) is the app's "
                "study session, answered with the bare session; any other body is a learning session "
                'of the Learning Sessions document, answered `{"data": session}` with a `Location`.'
            ),
        ),
        Operation(
            "GET",
            session_path,
            "getLearningSession",
            "A learning session",
            "sessions",
            _object({"data": _ref("LearningSession")}),
        ),
        Operation(
            "PATCH",
            session_path,
            "updateLearningSession",
            "Change the fields sent of a session",
            "sessions",
            _object({"data": _ref("LearningSession")}),
            body=_body(commands.SessionPatch, example={"status": "in_progress", "difficulty": "medium"}),
        ),
        Operation("DELETE", session_path, "deleteLearningSession", "Delete a session", "sessions", {}, 204),
        Operation(
            "PUT",
            session_path + "/complete",
            "completeSession",
            "Complete a session: its minutes join the user's total",
            "sessions",
            _ref("Session"),
        ),
        Operation(
            "PUT",
            session_path + "/cancel",
            "cancelSession",
            "Cancel a session: minutes it had added are taken back",
            "sessions",
            _ref("Session"),
        ),
        Operation(
            "GET",
            "/posts",
            "listPosts",
            "Every post, newest first",
            "posts",
            _list("posts", "Post"),
            listed=True,
        ),
        Operation(
            "POST",
            "/posts",
            "createPost",
            "Share progress on a constellation",
            "posts",
            _ref("Post"),
            201,
            _body(
                commands.CreatePost,
                example={
                    "user_id": 1,
                    "constellation_id": 1,
                    "post_type": "progress",
                    "message": "First star!",
                },
            ),
        ),
        Operation("GET", "/posts/{post_id}", "getPost", "A post", "posts", _ref("Post")),
        Operation("DELETE", "/posts/{post_id}", "deletePost", "Delete a post", "posts", _ref("Message")),
        Operation(
            "GET",
            "/feed",
            "getFeed",
            "The feed: every post, newest first",
            "posts",
            _list("posts", "Post"),
            listed=True,
        ),
    ]


def _error(description: str) -> Json:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _operation(op: Operation, mode: V1Mode) -> Json:
    success: Json = {"description": {200: "OK.", 201: "Created.", 204: "Done; no content."}[op.status]}
    if op.status != 204:
        success["content"] = {"application/json": {"schema": op.answer}}
    responses: Json = {str(op.status): success}
    if mode is V1Mode.TOKEN:
        responses["401"] = _error("No token, or one that is unknown, expired or revoked.")
        responses["403"] = _error("The token may not do this.")
    # Paths are written under /api; the rate limits class them as served there.
    responses["429"] = too_many("/api" + op.path, op.method, {"application/json": {"schema": _ref("Error")}})
    responses["default"] = _error('An error: 400 names the field, 404 "… not found!", 409 a conflict.')
    parameters = [
        {"name": segment[1:-1], "in": "path", "required": True, "schema": ID_SCHEMA}
        for segment in op.path.split("/")
        if segment.startswith("{")
    ]
    if op.listed:
        parameters += LIST_PARAMETERS
    entry: Json = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": parameters,
        "security": [] if mode is V1Mode.OPEN else [{SECURITY_SCHEME: []}],
        "responses": responses,
    }
    if op.description:
        entry["description"] = op.description
    if op.body is not None:
        entry["requestBody"] = op.body
    return entry


def document(mode: V1Mode | str = V1Mode.OPEN) -> Json:
    """Build the OpenAPI 3.1 document of API v1 as it is served in ``mode`` (``open`` or ``token``)."""
    mode = V1Mode(mode)
    if mode is V1Mode.OFF:
        raise ValueError("API v1 is off: there is nothing to describe")
    paths: dict[str, Json] = {}
    for op in _operations():
        item = paths.setdefault(op.path, {})
        item[op.method.lower()] = _operation(op, mode)
    for path in UNPREFIXED:
        paths[path.replace(":id}", "}")]["servers"] = UNPREFIXED_SERVERS
    how = (
        "No token is needed (`open` mode): every request acts as the system."
        if mode is V1Mode.OPEN
        else "Every request needs a bearer token (`token` mode), as in API v2."
    )
    components: Json = {"schemas": schemas(), "headers": TOO_MANY_HEADERS}
    if mode is V1Mode.TOKEN:
        components["securitySchemes"] = {
            SECURITY_SCHEME: {
                "type": "http",
                "scheme": "bearer",
                "description": "A token from POST /api/v2/tokens, sent as `Authorization: Bearer lum_…`.",
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Luminary API v1",
            "version": __version__,
            "description": (
                "API v1 of Luminary: the contract of the published iOS app, described as it is. Bare JSON "
                'objects, lists under a plural key, errors as `{"error": "…"}`; unknown body members are '
                "ignored. Every path answers with and without its trailing slash, under `/api` and "
                f"`/api/v1`. {how} New clients use API v2 (`/api/v2/docs`)."
            ),
        },
        "servers": SERVERS,
        "paths": paths,
        "components": components,
    }
