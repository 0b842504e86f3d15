"""Cross-origin requests from browsers (CORS), for the origins the operator names; none by default.

A page served from another origin (``https://app.example.com``) may call the
API when that origin is configured: every answer to it, errors included,
carries ``Access-Control-Allow-Origin``, and its preflights (``OPTIONS`` with
``Access-Control-Request-Method``) are answered by Falcon's default ``OPTIONS``
responder, which asks for no token: the methods of the route, the request
headers the browser asked for, and a day to remember them. Other origins get
no CORS header, so the browser keeps the answers from their scripts.
CORS decides which pages may read answers, not who may call: the token does.

Tokens travel in the ``Authorization`` header, which a script sets itself; the
API reads no cookie and no HTTP authentication, so it never allows credentials
(``Access-Control-Allow-Credentials``): nothing a browser sends on its own may
act for a student.

Falcon's :class:`falcon.CORSMiddleware` does the work; :class:`Cors` checks the
configured origins first, and adds ``Vary: Origin`` to every answer, since
they depend on the ``Origin`` header. The answers waitress makes before the app
runs (a ``Content-Length`` over the limit, a malformed or slow request: see
:mod:`luminary.http.server`) take the same headers from :meth:`Cors.headers`,
so that a script reads a 413 as a 413 rather than as a network error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import falcon

__all__ = ["ANY_ORIGIN", "EXPOSED_HEADERS", "Cors", "check_origins", "split_origins"]

#: Allows every origin.
ANY_ORIGIN = "*"

#: The headers of Luminary's answers a script may read, beyond the CORS-safelisted ones
#: (``Content-Type``, ``Content-Length``, ``Cache-Control``, …): where a created
#: resource is, when to try again (429, 503), why a token was refused (401), the
#: request's id (to quote when reporting a problem) and the rate limits' state.
EXPOSED_HEADERS = (
    "Location",
    "Retry-After",
    "WWW-Authenticate",
    "X-Request-ID",
    "RateLimit",
    "RateLimit-Policy",
)

_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_HOST = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?|\[[0-9a-f:.]+\]")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def split_origins(text: str) -> list[str]:
    """The origins of a setting such as ``LUMINARY_CORS_ORIGINS``: separated by commas or spaces."""
    return [origin for origin in re.split(r"[\s,]+", text) if origin]


def _problem(origin: str) -> str | None:
    """Why ``origin`` is not one a browser could send, or ``None`` when it is."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return f"{origin!r} is not scheme://host[:port]"
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    shown = f"[{host}]" if ":" in host else host
    if (
        "://" not in origin
        or not _SCHEME.fullmatch(scheme)
        or "@" in parts.netloc
        or not _HOST.fullmatch(shown)
        or port == 0
    ):
        return f"{origin!r} is not scheme://host[:port]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        shown += f":{port}"
    canonical = f"{scheme}://{shown}"
    if parts.path or parts.query or parts.fragment or origin.endswith(("?", "#")):
        return f"{origin!r} has a path (the origin is {canonical!r})"
    if origin != canonical:
        # Origins are compared as strings: one written otherwise would never match.
        return f"{origin!r} is sent by browsers as {canonical!r}"
    return None


def check_origins(origins: Iterable[str]) -> tuple[str, ...]:
    """The configured origins, once each, in their order; ``*`` allows any.

    Raises:
        ValueError: Some are not ``scheme://host[:port]`` exactly as browsers
            send them (lowercase, no default port, no path nor trailing
            slash); the message names each of them.
    """
    checked = tuple(dict.fromkeys(origin.strip() for origin in origins))
    problems = [p for p in (_problem(o) for o in checked if o != ANY_ORIGIN) if p]
    if problems:
        raise ValueError(
            "CORS origins must be scheme://host[:port] exactly as browsers send them, or * for any: "
            + "; ".join(problems)
        )
    return checked


class Cors:
    """Falcon's CORS policy for ``origins`` (``*`` among them: any), no credentials, and ``Vary: Origin``.

    Raises:
        ValueError: An origin is not ``scheme://host[:port]`` (see :func:`check_origins`).
    """

    def __init__(self, origins: Iterable[str]) -> None:
        self.origins = check_origins(origins)
        allowed: str | tuple[str, ...] = ANY_ORIGIN if ANY_ORIGIN in self.origins else self.origins
        # Its type parameters are those of ASGI apps; this app is WSGI.
        self.policy: falcon.CORSMiddleware[Any, Any] = falcon.CORSMiddleware(
            allow_origins=allowed, expose_headers=EXPOSED_HEADERS, allow_credentials=None
        )

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        self.policy.process_response(req, resp, resource, req_succeeded)
        # With or without an allowed Origin, the answer differs: a cache must not mix them up.
        resp.append_header("Vary", "Origin")

    def headers(self, origin: str | None) -> list[tuple[str, str]]:
        """The CORS headers of an answer (not a preflight) to a request from ``origin``, as
        :meth:`process_response` sets them: for answers made outside the app.

        ``origin`` is the request's ``Origin`` header, ``None`` when it has none or it could
        not be read (a head too large): ``Vary: Origin`` alone, as for an origin not allowed.
        """
        headers = [("Vary", "Origin")]
        if origin is None:
            return headers
        if ANY_ORIGIN in self.origins:
            allowed = ANY_ORIGIN
        elif origin in self.origins:
            allowed = origin
        else:
            return headers
        # Falcon's own value, as the app's answers carry it.
        return [
            ("Access-Control-Allow-Origin", allowed),
            ("Access-Control-Expose-Headers", str(self.policy.expose_headers)),
            *headers,
        ]
