"""The composition root: ``create_app`` wires use cases, routes and error handling."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Literal

import falcon

from luminary.core import DEFAULT_TIMER_CAP, Clock, PasswordHasher, SystemClock, Unavailable, UnitOfWork

from . import errors, media, openapi, v1, v2
from .auth import Authenticator, Services, V1Mode
from .cors import Cors
from .logs import Records, current_request_id, new_request_id, printable, written_directly
from .metrics import Metrics, MetricsResource
from .ratelimits import RateLimit, RateLimiter
from .requests import MAX_BODY, IdConverter

access_log = logging.getLogger("luminary.access")
#: The access log's records, one a request.
_ACCESS_MESSAGE = '%s "%s %s" %d %.1fms request_id=%s'
_access_records = Records(access_log, logging.INFO, _ACCESS_MESSAGE, __file__, "process_response")

#: The header a request's id comes in (from a proxy or the client) and goes back in.
REQUEST_ID_HEADER = "X-Request-ID"
#: A request id accepted as sent: 1 to 128 visible ASCII characters (no space, no control).
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")


def request_id_of(req: falcon.Request) -> str:
    """The id of ``req``: its ``X-Request-ID`` when acceptable, else :func:`.logs.new_request_id`."""
    given = req.get_header(REQUEST_ID_HEADER)
    if given is not None and _REQUEST_ID.fullmatch(given):
        return given
    return new_request_id()


class RequestId:
    """Give every request an id (``req.context.request_id``) and echo it in ``X-Request-ID``.

    The access log line and problem details carry it too, so that a client's
    report, a proxy's log and this server's log can be matched.
    """

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.request_id = request_id_of(req)
        # Every record logged while answering names the request (JSON logs).
        current_request_id.set(req.context.request_id)

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        request_id: str | None = req.context.get("request_id")
        if request_id is not None:
            resp.set_header(REQUEST_ID_HEADER, request_id)
        current_request_id.set(None)


class BodyLimit:
    """Refuse bodies over :data:`MAX_BODY` before anything reads them (413)."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        length = req.content_length
        if length is not None and length > MAX_BODY:
            raise falcon.HTTPContentTooLarge(
                title="Payload too large", description=f"The request body must not exceed {MAX_BODY} bytes."
            )


class AccessLog:
    """One line per request: client, method, path, status, duration, request id."""

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
            request_id: str = req.context.get("request_id") or "-"
            client, method, status = req.remote_addr, req.method, resp.status_code
            args = (client, printable(method), printable(target), status, elapsed, printable(request_id))
            # The fields of a JSON line (--log-format json); JSON escapes them itself.
            fields = {
                "client": client,
                "method": method,
                "path": target,
                "status": status,
                "duration_ms": round(elapsed, 1),
                "request_id": request_id,
            }
            # The line written without a record where luminary serve's handler is all it reaches.
            if written_directly(access_log, logging.INFO, _ACCESS_MESSAGE % args, fields):
                return
            # Made and handed on directly: Logger.info would also look up its caller's
            # file and line in the stack, which no line of the log shows.
            access_log.handle(_access_records.make(args, fields))


class SecurityHeaders:
    """Headers every answer carries: no content sniffing, and API answers never cached.

    Answers hold students' data and depend on the token: a shared cache (or
    the browser's) must not keep them. The explorers' pages get a
    Content-Security-Policy allowing this server's scripts and styles only; their
    static files, whose URLs change with their contents, are kept (``explorer``).
    """

    DOCS_POLICY = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        resp.set_header("X-Content-Type-Options", "nosniff")
        if req.path.startswith(openapi.DOCS_PAGES):
            resp.set_header("Content-Security-Policy", self.DOCS_POLICY)
        if not (req_succeeded and req.path.startswith(openapi.STATIC_PREFIX)):
            resp.set_header("Cache-Control", "no-store")


class App(falcon.App[falcon.Request, falcon.Response]):
    """Falcon's app, where every ``GET`` route answers ``HEAD`` too (the same headers, no body)."""

    def add_route(self, uri_template: str, resource: object, **kwargs: Any) -> None:
        suffix = kwargs.get("suffix")
        get, head = (f"on_get_{suffix}", f"on_head_{suffix}") if suffix else ("on_get", "on_head")
        if hasattr(resource, get) and not hasattr(resource, head):
            setattr(resource, head, getattr(resource, get))
        super().add_route(uri_template, resource, **kwargs)


class Health:
    """``/healthz``: the process is up."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


class Ready:
    """``/readyz``: the store can be used, by ``readiness`` when given, else by reading from it."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork], readiness: Callable[[], None] | None) -> None:
        self.uow_factory = uow_factory
        self.readiness = readiness or self.read

    def read(self) -> None:
        with self.uow_factory().reading() as uow:
            uow.constellations.count()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            self.readiness()
        except Unavailable as exc:
            # Said in the answer, for whoever probes; the store logged it (once a minute).
            resp.status = falcon.HTTP_503
            resp.set_header("Retry-After", str(exc.retry_after))
            resp.media = {"status": "unavailable", "reason": exc.message}
            return
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
    readiness: Callable[[], None] | None = None,
    cors_origins: Sequence[str] = (),
    metrics: Metrics | Literal[False] | None = None,
    rate_limiter: RateLimiter | None = None,
) -> falcon.App[falcon.Request, falcon.Response]:
    """Build the Luminary WSGI app.

    Args:
        uow_factory: Makes a unit of work per use-case call (in-memory or SQL).
        clock: The time source of every write; the system clock by default.
        v1_mode: How API v1 is served: ``open`` (no token, the published app's
            way), ``token`` (a bearer token, as v2) or ``off``.
        passwords: Hashes passwords; scrypt with OWASP's parameters by default.
        timer_cap: How long a session's timer may run before it stops itself (12 hours).
        readiness: What ``/readyz`` runs: raises :class:`~luminary.core.errors.Unavailable`
            (answered 503 with its reason) unless the store can be used, reads
            *and* writes; by default ``/readyz`` reads from the store.
        cors_origins: The origins (``scheme://host[:port]``, ``*`` for any) whose
            pages may call the API from a browser (see :mod:`luminary.http.cors`);
            none by default, and then answers carry no CORS header.
        metrics: Where the app's metrics go, served at ``/metrics`` (see
            :mod:`luminary.http.metrics`); by default a registry of this app's own.
            ``luminary serve`` passes metrics shared by its workers, watching
            the database pool. ``False`` for none (``luminary serve --no-metrics``):
            ``/metrics`` is not served (404) and nothing is measured or counted.
        rate_limiter: Limits each client's requests per route class, answering 429 over
            them (see :mod:`luminary.http.ratelimits`); none by default.

    Raises:
        ValueError: An origin of ``cors_origins`` is not ``scheme://host[:port]``.
    """
    clock = clock or SystemClock()
    measured = None if metrics is False else metrics or Metrics()
    services = Services(
        # Its units of work count the sessions completed, minutes credited and stars earned.
        uow_factory=measured.counting(uow_factory) if measured is not None else uow_factory,
        clock=clock,
        auth=Authenticator(uow_factory, clock),
        passwords=passwords or PasswordHasher(),
        v1_mode=V1Mode(v1_mode),
        timer_cap=timer_cap,
    )
    # Answers pass the middleware last to first: the request id is set before anything
    # can fail, and the access log and the metrics see the final answer.
    security = SecurityHeaders()
    middleware: list[Any] = [RequestId(), AccessLog(), security, BodyLimit()]
    if measured is not None:
        middleware.insert(2, measured)
    if cors_origins:
        # CORS only answers (process_response), so errors raised by BodyLimit or a
        # resource get its headers too; preflights meet Falcon's default OPTIONS
        # responder, which asks for no token.
        origins = [cors_origins] if isinstance(cors_origins, str) else cors_origins
        middleware.insert(middleware.index(security), Cors(origins))
    if rate_limiter is not None:
        # Last: a request refused here has its id, its log line, its metrics and its CORS headers.
        middleware.append(RateLimit(rate_limiter))
    app = App(middleware=middleware)
    app.req_options.strip_url_path_trailing_slash = True
    app.router_options.converters["id"] = IdConverter
    json_handler = media.json_handler()
    # Bodies are JSON and nothing else: Falcon's form handlers would let a form through (415 instead).
    app.req_options.media_handlers = falcon.media.Handlers({falcon.MEDIA_JSON: json_handler})
    app.resp_options.media_handlers.update(
        {falcon.MEDIA_JSON: json_handler, "application/problem+json": json_handler}
    )
    errors.install(app)
    app.add_route("/healthz", Health())
    app.add_route("/readyz", Ready(uow_factory, readiness))
    if measured is not None:
        app.add_route("/metrics", MetricsResource(measured))
    v1.add_routes(app, services)
    v2.add_routes(app, services)
    openapi.add_routes(app, services.v1_mode)
    return app
