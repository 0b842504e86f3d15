"""The composition root: ``create_app`` wires use cases, routes and error handling."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import falcon

from luminary.core import DEFAULT_TIMER_CAP, Clock, PasswordHasher, SystemClock, UnitOfWork

from . import errors, media, openapi, v1, v2
from .auth import Authenticator, Services, V1Mode
from .requests import MAX_BODY

access_log = logging.getLogger("luminary.access")


class BodyLimit:
    """Refuse bodies over :data:`MAX_BODY` before anything reads them (413)."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        length = req.content_length
        if length is not None and length > MAX_BODY:
            raise falcon.HTTPContentTooLarge(
                title="Payload too large", description=f"The request body must not exceed {MAX_BODY} bytes."
            )


class AccessLog:
    """One line per request: client, method, path, status, duration."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = time.perf_counter()

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        if access_log.isEnabledFor(logging.INFO):
            started: float = req.context.get("started") or time.perf_counter()
            elapsed = (time.perf_counter() - started) * 1000
            # The path as the client sent it (the app strips trailing slashes for routing).
            target = req.env.get("PATH_INFO", req.path)
            if req.query_string:
                target += "?" + req.query_string
            access_log.info(
                '%s "%s %s" %d %.1fms', req.remote_addr, req.method, target, resp.status_code, elapsed
            )


class Health:
    """``/healthz``: the process is up."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


class Ready:
    """``/readyz``: the database answers."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork]) -> None:
        self.uow_factory = uow_factory

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            with self.uow_factory().reading() as uow:
                uow.constellations.count()
        except Exception as exc:
            errors.log.warning("readiness check failed: %s", exc)
            resp.status = falcon.HTTP_503
            resp.media = {"status": "unavailable"}
            return
        resp.media = {"status": "ready"}


def create_app(
    uow_factory: Callable[[], UnitOfWork],
    clock: Clock | None = None,
    *,
    v1_mode: V1Mode | str = V1Mode.OPEN,
    passwords: PasswordHasher | None = None,
    timer_cap: timedelta = DEFAULT_TIMER_CAP,
) -> falcon.App[falcon.Request, falcon.Response]:
    """Build the Luminary WSGI app.

    Args:
        uow_factory: Makes a unit of work per use-case call (in-memory or SQL).
        clock: The time source of every write; the system clock by default.
        v1_mode: How API v1 is served: ``open`` (no token, the published app's
            way), ``token`` (a bearer token, as v2) or ``off``.
        passwords: Hashes passwords; scrypt with OWASP's parameters by default.
        timer_cap: How long a session's timer may run before it stops itself (12 hours).
    """
    clock = clock or SystemClock()
    services = Services(
        uow_factory=uow_factory,
        clock=clock,
        auth=Authenticator(uow_factory, clock),
        passwords=passwords or PasswordHasher(),
        v1_mode=V1Mode(v1_mode),
        timer_cap=timer_cap,
    )
    middleware: list[Any] = [AccessLog(), BodyLimit()]
    app = falcon.App(middleware=middleware)
    app.req_options.strip_url_path_trailing_slash = True
    json_handler = media.json_handler()
    # Bodies are JSON and nothing else: Falcon's form handlers would let a form through (415 instead).
    app.req_options.media_handlers = falcon.media.Handlers({falcon.MEDIA_JSON: json_handler})
    app.resp_options.media_handlers.update(
        {falcon.MEDIA_JSON: json_handler, "application/problem+json": json_handler}
    )
    errors.install(app)
    app.add_route("/healthz", Health())
    app.add_route("/readyz", Ready(uow_factory))
    v1.add_routes(app, services)
    v2.add_routes(app, services)
    openapi.add_routes(app)
    return app
