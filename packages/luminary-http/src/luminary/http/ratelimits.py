"""Rate limits: at most N requests every S seconds per client, for each class of route.

Routes fall in three classes (:func:`route_class_of`): ``signin`` (the v2 routes that
check or set a password, or create a token), ``write`` (any other POST, PUT, PATCH or
DELETE) and ``read`` (GET and HEAD). ``/healthz``, ``/readyz``, ``/metrics`` and
OPTIONS preflights are never limited. A class with no limit set is not counted.

A client is its bearer token (a digest of it: the token is neither kept nor checked
here) when it sends one, else its address; ``signin`` always counts by address, so
that made-up tokens cannot buy a password guesser fresh windows.

Windows are fixed and aligned to the epoch: every server agrees on when a window
ends. A request is refused when its window already counted N: 429 with
``Retry-After`` (the seconds to the window's end), as problem details on API v2
and ``{"error": …}`` on v1. Every answer of a limited class carries the IETF
headers (draft-ietf-httpapi-ratelimit-headers)::

    RateLimit-Policy: "read";q=100;w=60
    RateLimit: "read";r=42;t=17

Counts live in a store. :class:`MemoryCounter` counts in this process, for one
process (or several, each counting on its own: the limit is then per process).
:class:`luminary.sql.rate_limits.SqlRateLimitCounter` counts in PostgreSQL, shared
by every server; to keep its round trip off most requests, the limiter *leases*
permits in blocks (up to an eighth of the limit, and of what remains, at most
:data:`MAX_LEASE`; one thread of a process at a time, the others meanwhile ask
for one permit each) and spends them locally. A lease never takes more than remains,
so the (N+1)th request of a window is refused whichever server it reaches; a
server may hold permits it has not spent, so a client spreading its requests over
several servers may be refused a few requests early. Limits under
:data:`EXACT_BELOW` are never leased: each request asks the database.

If the store fails (the database is down), requests are let through (the limiter
fails open) and the failure is logged at most once a minute.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import falcon

log = logging.getLogger("luminary.http.ratelimits")

#: The route classes, in the order the README lists them.
ROUTE_CLASSES = ("signin", "write", "read")
#: Paths never limited: probes and the metrics scrape.
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
#: The routes of the ``signin`` class: (method, path pattern).
SIGNIN_ROUTES = (
    ("POST", re.compile(r"/api/v2/accounts")),
    ("POST", re.compile(r"/api/v2/tokens")),
    ("PUT", re.compile(r"/api/v2/me/password")),
    ("PUT", re.compile(r"/api/v2/users/[^/]+/login")),
)
READ_METHODS = frozenset({"GET", "HEAD"})
MAX_REQUESTS = 1_000_000_000
MAX_SECONDS = 86_400
#: Limits below this are counted request by request, never leased.
EXACT_BELOW = 64
#: The most permits a process leases at once.
MAX_LEASE = 1024
_LIMIT = re.compile(r"\s*([a-z]+)\s*=\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``requests`` every ``seconds`` per client."""

    requests: int
    seconds: int


def parse_limit(text: str) -> tuple[str, Limit]:
    """``CLASS=N/SECONDS`` (``signin=10/60``) as its class and limit.

    Raises:
        ValueError: Not that shape, an unknown class, or a number out of bounds.
    """
    found = _LIMIT.fullmatch(text)
    if not found:
        raise ValueError(f"{text.strip()!r} is not a rate limit: write CLASS=N/SECONDS, e.g. signin=10/60")
    route_class, requests, seconds = found.group(1), int(found.group(2)), int(found.group(3))
    if route_class not in ROUTE_CLASSES:
        raise ValueError(f"{route_class!r} is not a route class: choose {', '.join(ROUTE_CLASSES)}")
    if not 1 <= requests <= MAX_REQUESTS:
        raise ValueError(f"{text.strip()!r}: the number of requests must be from 1 to {MAX_REQUESTS}")
    if not 1 <= seconds <= MAX_SECONDS:
        raise ValueError(f"{text.strip()!r}: the window must be from 1 to {MAX_SECONDS} seconds")
    return route_class, Limit(requests, seconds)


def parse_limits(text: str) -> tuple[tuple[str, Limit], ...]:
    """Limits separated by commas (``signin=10/60,write=120/60``); empty text is none."""
    return tuple(parse_limit(part) for part in text.split(",") if part.strip())


def route_class_of(method: str, path: str) -> str | None:
    """The class of a request, or ``None`` when it is never limited."""
    if method == "OPTIONS" or path in UNLIMITED_PATHS:
        return None
    if method in READ_METHODS:
        return "read"
    for signin_method, pattern in SIGNIN_ROUTES:
        if method == signin_method and pattern.fullmatch(path):
            return "signin"
    return "write"


def client_of(req: falcon.Request, route_class: str) -> str:
    """Who a request counts against: a digest of its bearer token, else its address."""
    if route_class != "signin":
        authorization = req.get_header("Authorization") or ""
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return "token:" + hashlib.sha256(token.strip().encode()).hexdigest()[:32]
    return "address:" + (req.remote_addr or "-")


class Counter(Protocol):
    """Where windows are counted (see the module's docstring)."""

    #: Whether other processes share the counts (then permits are leased in blocks).
    shared: bool

    def take(self, key: str, window_end: int, wanted: int, limit: int, now: float) -> tuple[int, int]:
        """Up to ``wanted`` permits of the window: (granted, the window's count after)."""
        ...


class MemoryCounter:
    """Windows counted in this process: a dict under a lock, ended windows dropped now and then."""

    shared = False

    def __init__(self) -> None:
        self._hits: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def take(self, key: str, window_end: int, wanted: int, limit: int, now: float) -> tuple[int, int]:
        with self._lock:
            if now >= self._next_sweep:
                self._next_sweep = now + 60
                self._hits = {k: v for k, v in self._hits.items() if k[1] > now}
            hits = self._hits.get((key, window_end), 0)
            granted = max(0, min(wanted, limit - hits))
            if granted:
                self._hits[key, window_end] = hits = hits + granted
            return granted, hits


@dataclass(slots=True)
class _Lease:
    """A process's view of one client's window: permits leased but not spent, and what remained."""

    window_end: int
    permits: int = 0
    remaining: int = 0
    full: bool = False
    #: Whether a thread is asking for a block: the others ask for one permit each meanwhile.
    leasing: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a request may go on, and what its answer says about the limit."""

    allowed: bool
    route_class: str
    limit: Limit
    remaining: int
    reset: int

    def headers(self) -> dict[str, str]:
        name = f'"{self.route_class}"'
        headers = {
            "RateLimit-Policy": f"{name};q={self.limit.requests};w={self.limit.seconds}",
            "RateLimit": f"{name};r={self.remaining};t={self.reset}",
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset)
        return headers


class RateLimiter:
    """Decides, for each request of a limited class, whether its client's window has room.

    Args:
        limits: The limit of each limited class (``{"signin": Limit(10, 60)}``).
        counter: Where windows are counted; in this process by default.
        clock: Seconds since the epoch (``time.time``); tests pass their own.
    """

    def __init__(
        self,
        limits: Mapping[str, Limit] | Iterable[tuple[str, Limit]],
        counter: Counter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limits = dict(limits)
        self.counter = counter or MemoryCounter()
        self.clock = clock
        self._leases: dict[str, _Lease] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0
        self._next_warning = 0.0

    def check(self, route_class: str, client: str) -> Decision | None:
        """Count a request of ``client``; ``None`` when its class is not limited (or the store failed)."""
        limit = self.limits.get(route_class)
        if limit is None:
            return None
        now = self.clock()
        window_end = (math.floor(now / limit.seconds) + 1) * limit.seconds
        reset = max(1, math.ceil(window_end - now))
        key = f"{route_class}:{client}"
        with self._lock:
            lease = self._lease(key, window_end, limit, now)
            if lease.permits:
                lease.permits -= 1
                return Decision(True, route_class, limit, lease.remaining + lease.permits, reset)
            if lease.full:
                return Decision(False, route_class, limit, 0, reset)
            wanted = 1
            if self.counter.shared and not lease.leasing:
                wanted = self._lease_size(limit.requests, lease.remaining)
                lease.leasing = wanted > 1
        try:
            granted, hits = self.counter.take(key, window_end, wanted, limit.requests, now)
        except Exception as exc:
            self._warn(now, exc)
            return None
        finally:
            if wanted > 1:
                with self._lock:
                    lease.leasing = False
        with self._lock:
            # Counts only grow in a window: an answer that overtook this one knew less remains.
            lease.remaining = min(lease.remaining, max(0, limit.requests - hits))
            if not granted:
                lease.full = True
                return Decision(False, route_class, limit, 0, reset)
            lease.permits += granted - 1
            return Decision(True, route_class, limit, lease.remaining + lease.permits, reset)

    @staticmethod
    def _lease_size(limit: int, remaining: int) -> int:
        if limit < EXACT_BELOW:
            return 1
        return max(1, min(limit // 8, remaining // 8, MAX_LEASE))

    def _lease(self, key: str, window_end: int, limit: Limit, now: float) -> _Lease:
        if now >= self._next_sweep:
            self._next_sweep = now + 60
            self._leases = {k: v for k, v in self._leases.items() if v.window_end > now}
        lease = self._leases.get(key)
        if lease is None or lease.window_end != window_end:
            lease = self._leases[key] = _Lease(window_end, remaining=limit.requests)
        return lease

    def _warn(self, now: float, exc: Exception) -> None:
        if now >= self._next_warning:
            self._next_warning = now + 60
            log.warning("rate limits not enforced: their store failed: %s", exc)


def counter_for(engine: Any) -> Counter:
    """The counter for a database: shared in PostgreSQL, else in this process (per process on SQLite)."""
    if engine is not None and engine.dialect.name == "postgresql":
        from luminary.sql.rate_limits import SqlRateLimitCounter

        return SqlRateLimitCounter(engine)
    return MemoryCounter()


def limiter_for(limits: Iterable[tuple[str, Limit]], engine: Any = None) -> RateLimiter | None:
    """What ``luminary serve`` runs: ``None`` without limits, else a limiter over the database's counter."""
    chosen = dict(limits)
    return RateLimiter(chosen, counter_for(engine)) if chosen else None


class RateLimit:
    """The middleware: refuse a request over its client's limit (429) and tell every answer the limit."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        route_class = route_class_of(req.method, req.path)
        if route_class is None or route_class not in self.limiter.limits:
            return
        decision = self.limiter.check(route_class, client_of(req, route_class))
        if decision is None:
            return
        req.context.rate_limit = decision
        if not decision.allowed:
            limit = decision.limit
            raise falcon.HTTPTooManyRequests(
                title="Too Many Requests",
                description=f"Too many {route_class} requests: at most {limit.requests} every "
                f"{limit.seconds} seconds; try again in {decision.reset} seconds.",
                headers=decision.headers(),
            )

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        decision: Decision | None = req.context.get("rate_limit")
        if decision is not None:
            resp.set_headers(decision.headers())
