"""Counts of requests in fixed windows, kept in PostgreSQL so every server sharing it agrees.

A rate limit of ``N`` requests every ``S`` seconds counts each client's requests
in windows aligned to the epoch: the window of an instant ``t`` ends at
``(floor(t / S) + 1) * S``, the same second for every server (whose clocks must
agree, as NTP keeps them). One row of ``rate_limit_windows`` holds a window's
count, and one atomic statement both counts and decides::

    INSERT … VALUES (key, window_end, k)
    ON CONFLICT (key, window_end) DO UPDATE SET hits = hits + k WHERE hits < N
    RETURNING hits

Concurrent takers of one row queue on its lock, so each sees the count the one
before left: the permits granted, ``min(k, N - (hits - k))``, never add up to more
than ``N`` in a window, whichever server asked. A full window returns no row and
is not written to again. Statements run in autocommit, outside any unit of work:
one round trip, no transaction held, on connections of the counter's own (a small
pool over the same database, closed when the app's engine is disposed), so that the
connections units of work keep between them (:class:`~luminary.sql.engine.KeptConnections`)
stay theirs. Ended windows are deleted now and then (at most once a minute per
counter), by whichever request is due.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from .engine import make_engine
from .tables import RATE_LIMIT_KEY_MAX

__all__ = ["SqlRateLimitCounter"]

#: The counter's own pool: connections kept open (leases make calls rare), and more opened for a
#: moment when that many requests take permits at once.
POOL_SIZE = 2
MAX_OVERFLOW = 8

_TAKE = text(
    "INSERT INTO rate_limit_windows (key, window_end, hits) VALUES (:key, :window_end, :wanted) "
    "ON CONFLICT (key, window_end) DO UPDATE SET hits = rate_limit_windows.hits + excluded.hits "
    "WHERE rate_limit_windows.hits < :limit "
    "RETURNING hits"
)
_SWEEP = text("DELETE FROM rate_limit_windows WHERE window_end <= :now")


class SqlRateLimitCounter:
    """Permits of fixed windows, counted in the ``rate_limit_windows`` table of a PostgreSQL database.

    Args:
        engine: The database's engine. The counter connects to the same database
            through an engine of its own (:data:`POOL_SIZE` connections kept), disposed
            with ``engine``: drawing on ``engine``'s pool, it found it empty while units of
            work kept their connections aside, and opened more, so that a worker held
            twice the connections it used; keeping none aside instead cost a quarter more
            CPU per request.
        sweep_every: Seconds between two deletions of ended windows.
    """

    #: Every process sharing the database sees the same counts (a limiter may lease permits in blocks).
    shared = True

    def __init__(self, engine: Engine, *, sweep_every: float = 60.0) -> None:
        own = make_engine(engine.url, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW)
        event.listen(engine, "engine_disposed", lambda _engine: own.dispose())
        self._engine = own.execution_options(isolation_level="AUTOCOMMIT")
        self._sweep_every = sweep_every
        self._next_sweep = 0.0
        self._lock = threading.Lock()

    def take(self, key: str, window_end: int, wanted: int, limit: int, now: float) -> tuple[int, int]:
        """Take up to ``wanted`` of the ``limit`` permits of ``key``'s window ending at ``window_end``.

        Returns:
            The permits granted (0 when the window is full) and the window's count
            after this call (at least ``limit`` when none was granted).
        """
        wanted = max(1, min(wanted, limit))
        params: dict[str, Any] = {
            "key": key[:RATE_LIMIT_KEY_MAX],
            "window_end": window_end,
            "wanted": wanted,
            "limit": limit,
        }
        with self._engine.connect() as connection:
            hits = connection.execute(_TAKE, params).scalar_one_or_none()
            if self._sweep_due(now):
                connection.execute(_SWEEP, {"now": int(now)})
        if hits is None:
            return 0, limit
        before = hits - wanted
        return max(0, min(wanted, limit - before)), hits

    def _sweep_due(self, now: float) -> bool:
        with self._lock:
            if now < self._next_sweep:
                return False
            self._next_sweep = now + self._sweep_every
            return True
