"""What ``luminary serve`` says as it starts, and ``luminary db upgrade`` as it ends.

A server explains itself: which Luminary, which database (its password
masked) and why that one, what the migrations did, how API v1 is served, how
many workers and threads, whether it serves metrics, its rate limits and CORS
origins, and how to stop it::

    Luminary  luminary-http 0.1.0, luminary-sql 0.1.0, luminary-core 0.1.0
      database  sqlite:///luminary.db (the file /srv/luminary/luminary.db)
                set by DATABASE_URL in /srv/luminary/.env, which wins over the POSTGRES_* variables …
      schema    revision 0004, just migrated from an empty database
      seed      added 3 constellations
      API v1    open: no token needed; API v2 needs a bearer token
      workers   2 (the default), each with 2 threads (the default)
      metrics   on: /metrics, in the Prometheus text format
      limits    off: no --rate-limit or LUMINARY_RATE_LIMITS
      CORS      none: answers carry no CORS header (no --cors-origin or LUMINARY_CORS_ORIGINS)
    Serving Luminary on http://127.0.0.1:8000 with 2 workers of 2 threads, each on one CPU
    Stop with Ctrl-C or SIGTERM to this process, 4242, which stops its workers (requests in flight get 30 s).

Scripts (the tests, the benchmarks) find the port in the line ``Serving
Luminary on http://HOST:PORT …``: it stays a line of its own, in that form (an
IPv6 address in brackets, as in a URL: ``http://[::1]:8000``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import attrs
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from luminary.sql import Migration
from luminary.sql.engine import describe

from .auth import V1Mode
from .ratelimits import ROUTE_CLASSES, Limit
from .settings import DatabaseChoice

__all__ = ["Startup", "address", "serving", "stopping", "upgraded", "url", "versions"]

_V1 = {
    V1Mode.OPEN: "open: no token needed; API v2 needs a bearer token",
    V1Mode.TOKEN: "token: a bearer token needed, as for API v2",
    V1Mode.OFF: "off: not served; API v2 needs a bearer token",
}


def versions() -> str:
    """The three packages' versions: ``luminary-http 0.1.0, luminary-sql 0.1.0, luminary-core 0.1.0``."""
    from luminary.core.__about__ import __version__ as core
    from luminary.sql.__about__ import __version__ as sql

    from .__about__ import __version__ as http

    return f"luminary-http {http}, luminary-sql {sql}, luminary-core {core}"


def database(choice: DatabaseChoice) -> str:
    """The URL as it may be shown (no password), with the file of a relative SQLite path."""
    shown = describe(choice.url)
    try:
        url = make_url(choice.url)
    except ArgumentError:
        return shown
    path = url.database or ""
    if url.get_backend_name() == "sqlite" and path and path != ":memory:" and not os.path.isabs(path):
        shown += f" (the file {Path(path).absolute()})"
    return shown


def schema(migration: Migration) -> str:
    """What the migrations did: ``revision 0004, up to date`` or ``…, just migrated from revision 0002``."""
    now = f"revision {migration.to_revision or 'none'}"
    if not migration.changed:
        return f"{now}, up to date"
    if migration.from_revision is None:
        return f"{now}, just migrated from an empty database"
    return f"{now}, just migrated from revision {migration.from_revision}"


def upgraded(choice: DatabaseChoice, migration: Migration) -> str:
    """What ``luminary db upgrade`` did, in one line naming the database and where it came from."""
    named = f"{describe(choice.url)} ({choice.origin})"
    if not migration.changed:
        return f"{named} is at revision {migration.to_revision}, up to date."
    before = (
        "no revision (an empty database)"
        if migration.from_revision is None
        else f"revision {migration.from_revision}"
    )
    return f"Upgraded {named} from {before} to revision {migration.to_revision}."


@attrs.frozen
class Startup:
    """What ``luminary serve`` chose and did before serving.

    Attributes:
        choice: The database and where it came from.
        migration: What the migrations did at this start.
        seeded: Constellations added at this start; ``None`` when seeding is off.
        v1_mode: How API v1 is served.
        workers: Processes serving the port.
        threads: Threads of each.
        defaulted: The counts (``workers``, ``threads``) left to their defaults.
        metrics: Whether ``/metrics`` is served (``--no-metrics`` turns it off).
        rate_limits: The limit of each limited route class, as ``--rate-limit`` gives them.
        cors_origins: The origins whose pages may call the API (CORS).
    """

    choice: DatabaseChoice
    migration: Migration
    seeded: int | None
    v1_mode: V1Mode
    workers: int
    threads: int
    defaulted: frozenset[str] = frozenset()
    metrics: bool = True
    rate_limits: Sequence[tuple[str, Limit]] = ()
    cors_origins: Sequence[str] = ()

    def lines(self) -> list[str]:
        """The banner, before the ``Serving Luminary on`` line."""
        rows = [
            ("database", database(self.choice)),
            ("", self.choice.reason),
            ("schema", schema(self.migration)),
            ("seed", self._seed()),
            ("API v1", _V1[self.v1_mode]),
            ("workers", self._workers()),
            ("metrics", self._metrics()),
            ("limits", self._rate_limits()),
            ("CORS", self._cors()),
        ]
        return [f"Luminary  {versions()}", *(f"  {name:<8}  {text}".rstrip() for name, text in rows)]

    def _seed(self) -> str:
        if self.seeded is None:
            return "off (--no-seed or LUMINARY_NO_SEED)"
        if self.seeded == 0:
            return "nothing to add: the database has constellations"
        return f"added {self.seeded} constellations"

    def _metrics(self) -> str:
        if not self.metrics:
            return "off (--no-metrics or LUMINARY_METRICS): /metrics is not served"
        return "on: /metrics, in the Prometheus text format"

    def _rate_limits(self) -> str:
        if not self.rate_limits:
            return "off: no --rate-limit or LUMINARY_RATE_LIMITS"
        chosen = dict(self.rate_limits)
        each = ", ".join(
            f"{name} {chosen[name].requests:,} every {chosen[name].seconds} s"
            for name in ROUTE_CLASSES
            if name in chosen
        )
        if _backend(self.choice.url) == "postgresql":
            where = "counted in the database, shared by every server on it"
        elif self.workers > 1:
            where = "counted by each worker on its own"
        else:
            where = "counted in this process"
        return f"per client, {each}; {where}"

    def _cors(self) -> str:
        if not self.cors_origins:
            return "none: answers carry no CORS header (no --cors-origin or LUMINARY_CORS_ORIGINS)"
        return ", ".join("* (every origin)" if o == "*" else o for o in self.cors_origins)

    def _workers(self) -> str:
        default = " (the default)"
        workers = f"{self.workers}{default if 'workers' in self.defaulted else ''}"
        threads = f"{self.threads} thread{'s' if self.threads != 1 else ''}"
        threads += default if "threads" in self.defaulted else ""
        return f"{workers}, {'each ' if self.workers > 1 else ''}with {threads}"


def _backend(database_url: str) -> str | None:
    try:
        return make_url(database_url).get_backend_name()
    except ArgumentError:
        return None


def address(host: str, port: int) -> str:
    """``HOST:PORT``, an IPv6 address in brackets (``[::1]:8000``), as in a URL."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def url(host: str, port: int) -> str:
    """``http://HOST:PORT``, an IPv6 address in brackets (``http://[::1]:8000``)."""
    return f"http://{address(host, port)}"


def serving(host: str, port: int, workers: int, threads: int, on_one_cpu: bool = False) -> str:
    """The line scripts read the port from: ``Serving Luminary on http://HOST:PORT with …``."""
    each = f"{threads} thread{'s' if threads != 1 else ''}"
    if workers == 1:
        kept = ", on one CPU" if on_one_cpu else ""
        return f"Serving Luminary on {url(host, port)} with {each}{kept}"
    kept = ", each on one CPU" if on_one_cpu else ""
    return f"Serving Luminary on {url(host, port)} with {workers} workers of {each}{kept}"


def stopping(workers: int, grace: float, pid: int) -> str:
    """How to stop the server, and what happens to the requests in flight."""
    if workers == 1:
        return f"Stop with Ctrl-C or SIGTERM (requests in flight get {grace:g} s)."
    return (
        f"Stop with Ctrl-C or SIGTERM to this process, {pid}, which stops its workers "
        f"(requests in flight get {grace:g} s)."
    )
