"""Time, injected.

Nothing in Luminary reads the wall clock directly: use cases take a
:class:`Clock`. Servers pass :class:`SystemClock`; tests pass a
:class:`ManualClock` they can move.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """A source of the current time."""

    def now(self) -> datetime:
        """Return the current time as an aware datetime in UTC."""
        ...


class SystemClock:
    """The machine's clock, in UTC."""

    def now(self) -> datetime:
        """Return the current time as an aware datetime in UTC."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; safe to share between threads.

    Args:
        start: The initial time; naive datetimes are taken as UTC.
        step: How far the clock moves by itself after each reading (zero by
            default), so that successive timestamps can be made distinct.
    """

    def __init__(
        self,
        start: datetime = datetime(2025, 1, 1, tzinfo=UTC),
        *,
        step: timedelta = timedelta(0),
    ) -> None:
        self._now = start if start.tzinfo else start.replace(tzinfo=UTC)
        self._step = step
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the clock's time, then move it by ``step``."""
        with self._lock:
            now = self._now
            self._now = now + self._step
            return now

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward by ``delta``."""
        with self._lock:
            self._now += delta
