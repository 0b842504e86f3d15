"""The OpenAPI 3.1 document of API v2, generated from :data:`luminary.http.v2.OPERATIONS`."""

from __future__ import annotations

import enum
import functools
import types
import typing
from datetime import date, datetime
from typing import Any

import attrs
import falcon

from luminary import core
from luminary.core.pagination import CURSOR_PATTERN

from . import __version__, explorer, media, v2
from .auth import V1Mode
from .ratelimits import route_class_of

#: The objects v2 answers with; their schemas come from the attrs classes themselves.
COMPONENTS: dict[str, type] = {
    "User": core.User,
    "Constellation": core.Constellation,
    "Attempt": core.Attempt,
    "Session": core.Session,
    "Post": core.Post,
    "MinutesSummary": core.MinutesSummary,
    **v2.accounts.COMPONENTS,
}

SECURITY_SCHEME = "bearerToken"

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "request_id": {
            "type": "string",
            "description": "The request's id, as in the X-Request-ID header of the answer: quote it when "
            "reporting a problem.",
        },
        "errors": {
            "type": "array",
            "description": "Each failing input: a JSON pointer into the body, or a query parameter.",
            "items": {
                "type": "object",
                "properties": {
                    "pointer": {"type": "string"},
                    "parameter": {"type": "string"},
                    "detail": {"type": "string"},
                },
                "required": ["detail"],
            },
        },
    },
    "required": ["type", "title", "status", "detail"],
}


#: The headers of a 429 answer (:mod:`luminary.http.ratelimits`), under ``components/headers`` in both
#: documents. Only ``Retry-After`` comes with every 429: too many failed sign-ins are refused without
#: the ``RateLimit`` headers, which only the rate limits send.
TOO_MANY_HEADERS: dict[str, Any] = {
    "Retry-After": {
        "description": "Seconds until the client may try again: the end of the window.",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    },
    "RateLimit-Policy": {
        "description": "The limit of the operation's class (draft-ietf-httpapi-ratelimit-headers): "
        '`"read";q=600;w=60` is 600 requests every 60 seconds per client.',
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'What is left of it: `"read";r=0;t=42` is no request left, for 42 more seconds.',
        "schema": {"type": "string"},
    },
}


def too_many(path: str, method: str, content: dict[str, Any]) -> dict[str, Any]:
    """The 429 answer of an operation, whose body is ``content`` (a media type and its schema).

    Every operation can be limited when the server is given rate limits
    (``luminary serve --rate-limit``): the description names the operation's class.
    """
    route_class = route_class_of(method.upper(), path)
    description = (
        f"Too many requests: the client went over the rate limit of `{route_class}` operations, if "
        "the server sets one (`luminary serve --rate-limit`); try again after `Retry-After` seconds."
    )
    if route_class == "signin":
        description += (
            " Operations that check a password also answer 429 after too many failed sign-ins "
            "(with `Retry-After` only)."
        )
    return {
        "description": description,
        "headers": {name: {"$ref": f"#/components/headers/{name}"} for name in TOO_MANY_HEADERS},
        "content": content,
    }


def type_schema(tp: Any) -> dict[str, Any]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        inner = type_schema(members[0]) if len(members) == 1 else {"anyOf": [type_schema(m) for m in members]}
        if "type" in inner:
            return {**inner, "type": [inner["type"], "null"]}
        return {"anyOf": [inner, {"type": "null"}]}
    if isinstance(tp, type) and attrs.has(tp):
        return component_schema(tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"type": "string", "enum": [m.value for m in tp]}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is str:
        return {"type": "string"}
    if tp is datetime:
        return {"type": "string", "format": "date-time"}
    if tp is date:
        return {"type": "string", "format": "date"}
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp)
        return {"type": "array", "items": type_schema(item)}
    raise TypeError(f"no JSON schema for {tp!r}")


def component_schema(cls: type) -> dict[str, Any]:
    """The JSON schema of an attrs class as v2 writes it: every field, always present."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in attrs.fields(cls)]
    return {
        "type": "object",
        "properties": {name: type_schema(hints[name]) for name in names},
        "required": names,
        "additionalProperties": False,
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _parameters(op: v2.Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": segment[1:-1], "in": "path", "required": True, "schema": v2.ID_SCHEMA}
        for segment in op.path.split("/")
        if segment.startswith("{")
    ]
    params += [{"in": "query", "required": False, **param} for param in op.query]
    if op.paginated:
        params += [
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": f"Items per page (default {v2.DEFAULT_LIMIT}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": v2.MAX_LIMIT},
            },
            {
                "name": "cursor",
                "in": "query",
                "required": False,
                "description": "The next_cursor of the previous page.",
                "schema": {"type": "string", "pattern": CURSOR_PATTERN},
            },
        ]
    return params


def _success(op: v2.Operation) -> dict[str, Any]:
    if op.status == 204:
        return {"description": "Done; no content."}
    assert op.data is not None
    if op.many:
        envelope = {
            "type": "object",
            "properties": {
                "data": {"type": "array", "items": _ref(op.data)},
                "next_cursor": {"type": ["string", "null"]},
            },
            "required": ["data", "next_cursor"],
        }
    else:
        data: dict[str, Any] = _ref(op.data)
        if op.nullable:
            data = {"anyOf": [data, {"type": "null"}]}
        envelope = {"type": "object", "properties": {"data": data}, "required": ["data"]}
    answer: dict[str, Any] = {
        "description": "Created." if op.status == 201 else "OK.",
        "content": {"application/json": {"schema": envelope}},
    }
    if op.location:
        answer["headers"] = {
            "Location": {"description": "The path of the new object.", "schema": {"type": "string"}}
        }
    return answer


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": _ref("Problem")}}}


def _operation(op: v2.Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {str(op.status): _success(op)}
    if op.scope is not None:
        responses["401"] = _problem_response("No token, or one that is unknown, expired or revoked.")
        responses["403"] = _problem_response(
            f"The token lacks the {op.scope.value!r} scope, or may not do this."
        )
    responses["429"] = too_many(op.path, op.method, {"application/problem+json": {"schema": _ref("Problem")}})
    responses["default"] = _problem_response("An error, as problem details.")
    entry: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": _parameters(op),
        # OpenAPI 3.1 lets a bearer scheme name the roles an operation needs: here, the token scope.
        "security": [] if op.scope is None else [{SECURITY_SCHEME: [op.scope.value]}],
        "responses": responses,
    }
    if op.body is not None:
        media: dict[str, Any] = {"schema": op.body}
        if op.example is not None:
            media["example"] = op.example
        entry["requestBody"] = {"required": True, "content": {"application/json": media}}
    return entry


def document() -> dict[str, Any]:
    """Build the OpenAPI 3.1 document of every v2 operation."""
    paths: dict[str, dict[str, Any]] = {}
    for op in v2.OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    schemas = {name: component_schema(cls) for name, cls in COMPONENTS.items()}
    schemas["Problem"] = PROBLEM
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Luminary API",
            "version": __version__,
            "description": "API v2 of Luminary, the study-tracking backend.",
        },
        # Relative: "Try it out" calls the server that served the document.
        "servers": [{"url": "/"}],
        "paths": paths,
        "security": [{SECURITY_SCHEME: []}],
        "components": {
            "schemas": schemas,
            "headers": TOO_MANY_HEADERS,
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": (
                        "A token from POST /api/v2/tokens, sent as `Authorization: Bearer lum_…`. Scopes: "
                        "read, study (attempts, sessions, stars), social (posts), account (my account and "
                        "tokens), admin (the catalogue, any user; includes the others)."
                    ),
                }
            },
        },
    }


class OpenApiDocument:
    """``GET /api/v…/openapi.json``: v2's document, or v1's as served in ``v1_mode``.

    A document depends on nothing but this code: each is built and encoded at its first
    request, once per process, and shared by every app (building both at each app's
    making took about half of its time).
    """

    def __init__(self, v1_mode: V1Mode | None = None) -> None:
        self.v1_mode = v1_mode

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = _encoded(self.v1_mode)


@functools.cache
def _encoded(v1_mode: V1Mode | None) -> bytes:
    # Two threads may both build one at first: the same bytes, either kept.
    if v1_mode is None:
        return media.dumps(document())
    from . import openapi_v1  # it builds on this module

    return media.dumps(openapi_v1.document(v1_mode))


DOCS_PATH = "/api/v2/docs"
V1_DOCUMENT_PATH = "/api/v1/openapi.json"
V1_DOCS_PATH = "/api/v1/docs"
#: The routes under /api/v2 that are not operations.
META_PATHS = ("/api/v2/openapi.json", DOCS_PATH)
#: The explorer's pages, which get a Content-Security-Policy (``app.SecurityHeaders``).
DOCS_PAGES = (DOCS_PATH, V1_DOCS_PATH)
STATIC_PREFIX = explorer.STATIC_PREFIX


def add_routes(app: falcon.App[falcon.Request, falcon.Response], v1_mode: V1Mode = V1Mode.OPEN) -> None:
    """The OpenAPI documents and their explorers: v2's, and v1's unless v1 is off."""
    app.add_route(META_PATHS[0], OpenApiDocument())
    app.add_route(DOCS_PATH, explorer.ExplorerPage("Luminary API v2", META_PATHS[0]))
    app.add_route(explorer.STATIC_ROUTE, explorer.StaticFiles())
    if v1_mode is not V1Mode.OFF:
        app.add_route(V1_DOCUMENT_PATH, OpenApiDocument(v1_mode))
        app.add_route(V1_DOCS_PATH, explorer.ExplorerPage("Luminary API v1", V1_DOCUMENT_PATH))
