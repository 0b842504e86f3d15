"""Domain errors and HTTP errors become responses here, and only here.

v1 answers ``{"error": "<message>"}``; v2 answers RFC 9457 problem details.
Which one a request gets depends on its path.
"""

from __future__ import annotations

import logging
from typing import Any

import falcon

from luminary.core import (
    Conflict,
    Forbidden,
    LuminaryError,
    NotFound,
    TooManyAttempts,
    Unauthenticated,
    Unavailable,
    ValidationFailed,
)

from .logs import printable
from .requests import BodyInvalid, QueryInvalid

log = logging.getLogger("luminary.http")

STATUS_OF: dict[type[LuminaryError], int] = {
    NotFound: 404,
    ValidationFailed: 400,
    Conflict: 409,
    Unauthenticated: 401,
    Forbidden: 403,
    TooManyAttempts: 429,
    Unavailable: 503,
}
V2_PREFIX = "/api/v2"


def status_of(error: LuminaryError) -> int:
    for kind, status in STATUS_OF.items():
        if isinstance(error, kind):
            return status
    return 400


def json_pointer(field: str) -> str:
    """The RFC 6901 pointer to a top-level member of the body."""
    return "/" + field.replace("~", "~0").replace("/", "~1")


def _field_errors(ex: ValidationFailed) -> list[dict[str, str]]:
    """The ``errors`` member of a problem: a query parameter, the whole body (``""``) or one member."""
    if isinstance(ex, QueryInvalid):
        return [{"parameter": e.field, "detail": e.message} for e in ex.errors]
    if isinstance(ex, BodyInvalid):
        return [{"pointer": "", "detail": e.message} for e in ex.errors]
    return [{"pointer": json_pointer(e.field), "detail": e.message} for e in ex.errors]


def is_v2_path(path: str) -> bool:
    """Whether ``path`` belongs to API v2, whose errors are problem details."""
    return path == V2_PREFIX or path.startswith(V2_PREFIX + "/")


def _problem(
    status: int,
    title: str,
    detail: str,
    errors: list[dict[str, str]] | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    if request_id is not None:
        body["request_id"] = request_id
    return body


def error_body(
    path: str, status: int, message: str, title: str, errors: Any = None, request_id: str | None = None
) -> tuple[str, dict[str, Any]]:
    """The content type and body of an error on ``path``: problem details in v2, else ``{"error"}``.

    Problem details carry the request's id (an extension member, ``request_id``);
    v1's body stays the iOS app's ``{"error": …}`` exactly (its id is in ``X-Request-ID``).
    """
    if is_v2_path(path):
        return "application/problem+json", _problem(status, title, message, errors, request_id)
    return falcon.MEDIA_JSON, {"error": message}


def _respond(
    req: falcon.Request, resp: falcon.Response, status: int, message: str, title: str, errors: Any = None
) -> None:
    resp.status = status
    request_id: str | None = req.context.get("request_id")
    resp.content_type, resp.media = error_body(req.path, status, message, title, errors, request_id)


def handle_domain_error(
    req: falcon.Request, resp: falcon.Response, ex: LuminaryError, params: dict[str, Any]
) -> None:
    status = status_of(ex)
    errors = None
    if isinstance(ex, ValidationFailed):
        errors = _field_errors(ex)
    elif isinstance(ex, Unauthenticated):
        # RFC 6750: a request without a token gets the challenge alone; a bad token is named.
        bad = bool((req.get_header("Authorization") or "").strip())
        resp.set_header(
            "WWW-Authenticate", 'Bearer realm="luminary"' + (', error="invalid_token"' if bad else "")
        )
    elif isinstance(ex, TooManyAttempts):
        resp.set_header("Retry-After", str(ex.retry_after))
    elif isinstance(ex, Unavailable):
        # The store logged what failed (once a minute); the client learns when to come back.
        resp.set_header("Retry-After", str(ex.retry_after))
        message = f"The service cannot use its database right now; try again in {ex.retry_after} seconds."
        _respond(req, resp, status, message, "Service Unavailable")
        return
    _respond(req, resp, status, ex.message, falcon.code_to_http_status(status)[4:], errors)


def handle_http_error(
    req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError, params: dict[str, Any]
) -> None:
    if ex.headers:
        resp.set_headers(ex.headers)
    reason = falcon.code_to_http_status(ex.status_code)[4:]
    title = ex.title if ex.title and not ex.title[:3].isdigit() else reason
    _respond(req, resp, ex.status_code, ex.description or title, title)


def handle_unexpected(
    req: falcon.Request, resp: falcon.Response, ex: Exception, params: dict[str, Any]
) -> None:
    log.exception(
        "unhandled error on %s %s (request_id=%s)",
        printable(req.method),
        printable(req.path),
        printable(req.context.get("request_id") or "-"),
    )
    _respond(req, resp, 500, "Internal server error", "Internal Server Error")


def install(app: falcon.App[falcon.Request, falcon.Response]) -> None:
    """Register the handlers; later registrations win, so the most specific goes last."""
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(falcon.HTTPError, handle_http_error)
    app.add_error_handler(LuminaryError, handle_domain_error)
