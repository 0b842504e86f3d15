"""Prometheus metrics, served at ``/metrics`` in the Prometheus text format.

What is measured:

- every request, by method, route template (``/api/users/{user_id}``; a path
  no route matches is ``unmatched``, never the raw path, so that the series
  stay few) and status: a count, and a latency histogram by method and route;
- the requests in flight;
- the database connection pool of the process: its size, the connections
  checked out by requests, those idle in it, and those open beyond its size;
- what students did, as committed: sessions completed, minutes credited to
  (and taken back from) their totals, stars earned.

One process keeps its values in a registry of its own (:class:`Metrics`). With
``luminary serve --workers N`` every worker writes its values to memory-mapped
files in a directory the parent made (prometheus_client's multiprocess mode,
``PROMETHEUS_MULTIPROC_DIR``), and ``/metrics``, answered by whichever worker
takes the connection, adds up the files of every worker, those that died
included (their counts stay counted). Gauges of a worker that died are dropped
(:func:`worker_ended`): the requests in flight are summed over the live
workers, and each live worker's pool is a series labelled with its ``pid``.

The domain counters are counted here, in the adapter: the app's units of work
are wrapped (:meth:`Metrics.counting`) so that what a transaction changed in
sessions, users' totals and attempts is counted when it commits, whichever
use case (or API version) made the change; ``luminary.core`` knows nothing of
metrics.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

import falcon
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from luminary.core import (
    Attempt,
    AttemptRepository,
    ConstellationRepository,
    CredentialRepository,
    GoalRepository,
    LoginFailureRepository,
    PostRepository,
    Session,
    SessionRepository,
    TokenRepository,
    UnitOfWork,
    User,
    UserRepository,
    Views,
)
from luminary.sql.engine import kept_connections

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.pool import QueuePool

__all__ = [
    "MULTIPROCESS_VARIABLE",
    "UNMATCHED",
    "Metrics",
    "MetricsResource",
    "check_shared",
    "keep_in_process",
    "share_between_processes",
    "worker_ended",
]

#: Where prometheus_client's multiprocess mode keeps the workers' files (see
#: :func:`share_between_processes`).
MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
#: The route label of a request no route matched.
UNMATCHED = "unmatched"
#: The methods counted by name; any other is counted as ``other``.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

#: How often, in seconds, each worker writes its pool's gauges for the others' scrapes.
POOL_REFRESH_SECONDS = 1.0

_CONVERTER = re.compile(r"\{(\w+):[^}]*\}")
#: The gauges of a database pool, and what they say.
POOL_GAUGES = {
    "luminary_db_pool_size": "Connections the database pool keeps.",
    "luminary_db_pool_checked_out": "Pooled database connections in use.",
    "luminary_db_pool_idle": "Open database connections idle in the pool.",
    "luminary_db_pool_overflow": "Database connections open beyond the pool's size.",
}


def share_between_processes(directory: str) -> None:
    """Keep the values of the metrics made from now on (in forked workers) in files in ``directory``.

    prometheus_client chooses how values are kept when it is first imported, from
    ``PROMETHEUS_MULTIPROC_DIR``; ``luminary.http`` imports it before ``serve``
    knows how many workers it runs. No metric has a value in the parent yet, so
    choosing the multiprocess values now is what importing it later would have done.
    """
    os.environ[MULTIPROCESS_VARIABLE] = directory
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


def keep_in_process() -> None:
    """Keep the values of the metrics made from now on in this process's memory.

    A ``PROMETHEUS_MULTIPROC_DIR`` left in the environment (for another program)
    would otherwise have prometheus_client write this single process's values there.
    """
    os.environ.pop(MULTIPROCESS_VARIABLE, None)
    values.ValueClass = values.MutexValue


def check_shared() -> None:
    """Check that metrics made from now on are kept in ``PROMETHEUS_MULTIPROC_DIR``.

    Raises:
        RuntimeError: Values are kept in each process (:func:`share_between_processes`
            was not called): each worker would keep its values to itself.
    """
    if not getattr(values.ValueClass, "_multiprocess", False):
        raise RuntimeError(
            "metrics are kept per process: call share_between_processes() before forking the workers"
        )


def worker_ended(pid: int, directory: str) -> None:
    """Drop the live gauges of a worker that ended (its counters and histograms stay counted)."""
    multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


class Metrics:
    """The metrics of one app: in a registry of its own, or shared by the workers.

    Args:
        multiprocess_dir: The directory of prometheus_client's multiprocess mode,
            given to :func:`share_between_processes` before the workers were
            forked, when this process is one of several workers; ``None`` for a
            single process.

    Raises:
        RuntimeError: ``multiprocess_dir`` is given but values are kept per process.
    """

    def __init__(self, *, multiprocess_dir: str | None = None) -> None:
        if multiprocess_dir is not None:
            check_shared()
        self.multiprocess_dir = multiprocess_dir
        #: The registry of a single process; ``None`` with workers, whose files are read instead.
        self.registry = CollectorRegistry(auto_describe=True) if multiprocess_dir is None else None
        registry = self.registry
        self.requests = Counter(
            "luminary_http_requests",
            "Requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "luminary_http_request_duration_seconds",
            "Time from a request's arrival in the app to its answer, by method and route template.",
            ["method", "route"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "luminary_http_requests_in_flight",
            "Requests being answered now (summed over the live workers).",
            registry=registry,
            multiprocess_mode="livesum",
        )
        #: The pool's gauges of a worker, made by :meth:`watch_pool` (a single process reads its
        #: pool when scraped instead; a store without a pool has none).
        self.pool_gauges: dict[str, Gauge] = {}
        self.sessions_completed = Counter(
            "luminary_sessions_completed", "Sessions completed (committed).", registry=registry
        )
        self.minutes_credited = Counter(
            "luminary_minutes_credited",
            "Minutes added to students' totals (completed sessions, their minutes raised).",
            registry=registry,
        )
        self.minutes_withdrawn = Counter(
            "luminary_minutes_withdrawn",
            "Minutes taken back from students' totals (sessions cancelled, reopened, deleted, shortened).",
            registry=registry,
        )
        self.stars_earned = Counter("luminary_stars_earned", "Stars added to attempts.", registry=registry)
        self._engine: Engine | None = None
        #: What a worker's pool gauges were last set to (size, checked out, idle, overflow), under its lock.
        self._pool_shown: tuple[int, ...] = ()
        self._pool_lock = threading.Lock()
        self._closed = threading.Event()
        self._routes: dict[str, str] = {}
        #: The series of each (method, route, status) seen: ``labels()`` checks and locks at every call.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    # ------------------------------------------------------------ the database pool

    def watch_pool(self, engine: Engine) -> None:
        """Report ``engine``'s pool, read when the metrics are scraped: nothing is done per request.

        A single process reads its pool as it answers ``/metrics``. With workers,
        whichever worker answers reads the others' values from their files: each
        worker writes its own there every :data:`POOL_REFRESH_SECONDS` (from a thread
        of its own, only when a value changed) and as it answers a scrape. Only a
        ``QueuePool`` (every database but SQLite in memory) tells how it is used;
        another pool is not reported.
        """
        from sqlalchemy.pool import QueuePool

        if not isinstance(engine.pool, QueuePool) or self._engine is not None:
            return
        self._engine = engine
        if self.registry is not None:
            self.registry.register(_PoolCollector(self))
            return
        # One series per live worker (labelled pid): a pool belongs to one process.
        self.pool_gauges = {
            name: Gauge(name, text + " Per process.", registry=None, multiprocess_mode="liveall")
            for name, text in POOL_GAUGES.items()
        }
        self.refresh_pool()
        threading.Thread(target=self._refresh_pool_every, name="luminary-pool-gauges", daemon=True).start()

    def _refresh_pool_every(self) -> None:
        while not self._closed.wait(POOL_REFRESH_SECONDS):
            self.refresh_pool()

    def close(self) -> None:
        """Stop writing a worker's pool gauges (its thread ends within a refresh)."""
        self._closed.set()

    def pool_values(self) -> tuple[int, int, int, int]:
        """The watched pool's size, connections checked out, idle and beyond its size, read now."""
        assert self._engine is not None
        # The engine's pool is replaced when it is disposed, by one of the same class.
        pool = cast("QueuePool", self._engine.pool)
        size, idle, overflow = pool.size(), pool.checkedin(), pool.overflow()
        # Connections kept between units of work are checked out of the pool, but idle.
        kept = kept_connections(self._engine)
        if kept is not None:
            idle += kept.count()
        # size + overflow connections are open (overflow is negative while the pool has
        # not opened all of its own yet); those not idle are checked out.
        return size, size + overflow - idle, idle, max(0, overflow)

    def refresh_pool(self) -> None:
        """Write the pool gauges of this worker from its pool, those that changed (with workers only)."""
        if self._engine is None or not self.pool_gauges:
            return
        with self._pool_lock:
            shown = self.pool_values()
            if shown == self._pool_shown:
                return
            before = self._pool_shown or (None,) * len(shown)
            for gauge, old, new in zip(self.pool_gauges.values(), before, shown, strict=True):
                if old != new:
                    gauge.set(new)
            self._pool_shown = shown

    # ------------------------------------------------------------ the domain

    def counting(self, uow_factory: Callable[[], UnitOfWork]) -> Callable[[], UnitOfWork]:
        """``uow_factory``, whose units of work count what they commit (see :class:`_CountingUnitOfWork`)."""

        def factory() -> UnitOfWork:
            return _CountingUnitOfWork(uow_factory(), self)

        return factory

    def committed(self, tally: _Tally) -> None:
        """Count what a transaction committed."""
        if tally.completed:
            self.sessions_completed.inc(tally.completed)
        if tally.credited:
            self.minutes_credited.inc(tally.credited)
        if tally.withdrawn:
            self.minutes_withdrawn.inc(tally.withdrawn)
        if tally.stars:
            self.stars_earned.inc(tally.stars)

    # ------------------------------------------------------------ requests

    def route_of(self, req: falcon.Request) -> str:
        """The route template that matched ``req`` (converters left out), or :data:`UNMATCHED`."""
        template = req.uri_template
        if not template:
            return UNMATCHED
        route = self._routes.get(template)
        if route is None:
            route = self._routes[template] = _CONVERTER.sub(r"{\1}", template)
        return route

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.metrics_started = time.perf_counter()
        self.in_flight.inc()

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        started: float | None = req.context.get("metrics_started")
        if started is None:
            return  # an earlier middleware failed before this one began
        elapsed = time.perf_counter() - started
        self.in_flight.dec()
        method = req.method if req.method in METHODS else "other"
        route = self.route_of(req)
        status = resp.status_code
        series = self._series.get((method, route, status))
        if series is None:
            # Two threads may both make it: the same two series, from labels(), either way.
            series = self._series[method, route, status] = (
                self.requests.labels(method, route, str(status)),
                self.duration.labels(method, route),
            )
        series[0].inc()
        series[1].observe(elapsed)

    # ------------------------------------------------------------ exposition

    def exposition(self) -> bytes:
        """The metrics in the Prometheus text format: this process's, or every worker's added up."""
        self.refresh_pool()
        if self.registry is not None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry)


class _PoolCollector(Collector):
    """A single process's pool gauges, read from its pool as the registry is collected."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        values = self._metrics.pool_values()
        for (name, text), value in zip(POOL_GAUGES.items(), values, strict=True):
            yield GaugeMetricFamily(name, text + " Per process.", value=value)

    def describe(self) -> Iterator[Metric]:
        # Named without reading the pool (auto_describe would collect to learn the names).
        return (GaugeMetricFamily(name, text + " Per process.") for name, text in POOL_GAUGES.items())


class MetricsResource:
    """``/metrics``: the Prometheus text format. It asks for no token: serve it to the monitoring only."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = self.metrics.exposition()


# ------------------------------------------------------------ counting the domain


class _Tally:
    """What one transaction changed, and the last state it read or wrote of each row."""

    def __init__(self) -> None:
        self.sessions: dict[int, Session] = {}
        self.users: dict[int, User] = {}
        self.attempts: dict[int, Attempt] = {}
        self.clear()

    def clear(self) -> None:
        self.completed = self.credited = self.withdrawn = self.stars = 0

    def forget(self) -> None:
        self.clear()
        self.sessions.clear()
        self.users.clear()
        self.attempts.clear()

    def session(self, after: Session, *, new: bool = False) -> None:
        before = self.sessions.get(after.id)
        if after.is_completed and (new or (before is not None and not before.is_completed)):
            self.completed += 1
        self.sessions[after.id] = after

    def user(self, after: User) -> None:
        before = self.users.get(after.id)
        if before is not None:
            delta = after.total_minutes - before.total_minutes
            if delta > 0:
                self.credited += delta
            else:
                self.withdrawn -= delta
        self.users[after.id] = after

    def attempt(self, after: Attempt) -> None:
        before = self.attempts.get(after.id)
        if before is not None and after.stars_completed > before.stars_completed:
            self.stars += after.stars_completed - before.stars_completed
        self.attempts[after.id] = after


class _Watched:
    """A repository whose reads and writes of one kind of row the tally sees; the rest passes through.

    Use cases read a row (locked) before they write it: what they read is the
    state a write is compared with.
    """

    def __init__(self, inner: Any, seen: Callable[..., None], tally: _Tally) -> None:
        self._inner = inner
        self._seen = seen
        self._tally = tally

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _read(self, row: Any) -> Any:
        if row is not None:
            self._remember(row)
        return row

    def _remember(self, row: Any) -> None:
        raise NotImplementedError

    def get(self, row_id: int, **kwargs: Any) -> Any:
        return self._read(self._inner.get(row_id, **kwargs))

    def update(self, row: Any) -> None:
        self._inner.update(row)
        self._seen(row)


class _Sessions(_Watched):
    def _remember(self, row: Any) -> None:
        self._tally.sessions[row.id] = row

    def active_timer(self, user_id: int) -> Any:
        return self._read(self._inner.active_timer(user_id))

    def add(self, session: Session) -> Session:
        stored: Session = self._inner.add(session)
        self._tally.session(stored, new=True)
        return stored


class _Users(_Watched):
    def _remember(self, row: Any) -> None:
        self._tally.users[row.id] = row


class _Attempts(_Watched):
    def _remember(self, row: Any) -> None:
        self._tally.attempts[row.id] = row


class _CountingUnitOfWork:
    """A unit of work that counts, when it commits, the sessions completed, minutes and stars it wrote.

    It wraps the store's own: the sessions, users and attempts it writes are
    compared with what the transaction read of them before (every use case
    reads a row, locked, before changing it). Nothing is counted on rollback.
    """

    users: UserRepository
    constellations: ConstellationRepository
    attempts: AttemptRepository
    sessions: SessionRepository
    posts: PostRepository
    credentials: CredentialRepository
    tokens: TokenRepository
    login_failures: LoginFailureRepository
    goals: GoalRepository
    views: Views

    def __init__(self, inner: UnitOfWork, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics
        self._tally = _Tally()
        self._entering: AbstractContextManager[UnitOfWork] | None = None
        self._entered: list[AbstractContextManager[UnitOfWork]] = []

    def reading(self) -> AbstractContextManager[UnitOfWork]:
        self._entering = self._inner.reading()
        return self

    def __enter__(self) -> UnitOfWork:
        manager: AbstractContextManager[UnitOfWork] = self._entering or self._inner
        # A read on its own commits nothing, so there is nothing to watch.
        reading_only = self._entering is not None and not self._entered
        self._entering = None
        uow = manager.__enter__()
        self._entered.append(manager)
        tally = self._tally
        tally.forget()
        if reading_only:
            self.users, self.attempts, self.sessions = uow.users, uow.attempts, uow.sessions
        else:
            # Typed as the protocols they stand for: every other method passes through.
            self.users = cast(UserRepository, _Users(uow.users, tally.user, tally))
            self.attempts = cast(AttemptRepository, _Attempts(uow.attempts, tally.attempt, tally))
            self.sessions = cast(SessionRepository, _Sessions(uow.sessions, tally.session, tally))
        self.constellations = uow.constellations
        self.posts = uow.posts
        self.credentials = uow.credentials
        self.tokens = uow.tokens
        self.login_failures = uow.login_failures
        self.goals = uow.goals
        self.views = uow.views
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._tally.forget()
        self._entered.pop().__exit__(exc_type, exc, tb)

    def commit(self) -> None:
        self._inner.commit()
        self._metrics.committed(self._tally)
        self._tally.clear()

    def rollback(self) -> None:
        self._tally.forget()
        self._inner.rollback()
