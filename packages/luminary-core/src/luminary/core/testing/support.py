"""What the contract's tests share, and yours may use: a clock, a world to act on, a snapshot of a store.

Everything here works through the ports of :mod:`luminary.core` only, so it
serves any store: :func:`snapshot` and :func:`assert_minutes_invariant` read
through the repositories, :class:`World` acts through the use cases.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from luminary import core
from luminary.core import ManualClock, PageRequest, UnitOfWork

#: A unit-of-work factory: each call makes a unit of work over the same store.
UowFactory = Callable[[], UnitOfWork]

#: The largest page a repository serves.
EVERYTHING = PageRequest(limit=core.MAX_LIMIT)


def new_clock() -> ManualClock:
    """A clock at 2025-12-01 10:30 UTC that moves one millisecond at each reading, so that
    timestamps differ and orders are defined."""
    return ManualClock(datetime(2025, 12, 1, 10, 30, tzinfo=UTC), step=timedelta(milliseconds=1))


def _all(list_page: Callable[[PageRequest], Any], key: Callable[[Any], core.Cursor]) -> list[Any]:
    rows: list[Any] = []
    page = EVERYTHING
    while True:
        batch = list(list_page(page))
        rows += batch
        if len(batch) < page.limit:
            return rows
        page = PageRequest(limit=core.MAX_LIMIT, after=key(batch[-1]))


def _by_id(row: Any) -> core.Cursor:
    return core.Cursor(None, row.id)


def _newest(row: Any) -> core.Cursor:
    return core.Cursor(row.created_at, row.id)


def snapshot(uow: UnitOfWork) -> dict[str, list[Any]]:
    """Every entity of the store, table by table, for before/after comparisons."""
    with uow:
        return {
            "users": _all(uow.users.list_page, _by_id),
            "constellations": _all(uow.constellations.list_page, _by_id),
            "attempts": _all(uow.attempts.list_page, _by_id),
            "sessions": _all(uow.sessions.list_page, _newest),
            "posts": _all(uow.posts.list_page, _newest),
        }


def assert_minutes_invariant(uow: UnitOfWork) -> None:
    """Rule 4: every user's total equals the minutes of their completed sessions."""
    state = snapshot(uow)
    sums: dict[int, int] = {}
    for s in state["sessions"]:
        if s.is_completed and s.user_id is not None:
            sums[s.user_id] = sums.get(s.user_id, 0) + (s.minutes or 0)
    for user in state["users"]:
        assert user.total_minutes == sums.get(user.id, 0), (user, sums)


@attrs.define
class World:
    """A user, the default constellations and an attempt at Triangulum (weight 3)."""

    uow_factory: Callable[[], UnitOfWork]
    clock: core.ManualClock
    user: core.User
    constellations: list[core.Constellation]
    attempt: core.Attempt

    @property
    def uow(self) -> UnitOfWork:
        return self.uow_factory()

    @classmethod
    def build(cls, uow_factory: Callable[[], UnitOfWork], clock: core.ManualClock) -> World:
        uow = uow_factory()
        constellations = list(core.seed_constellations(uow, clock=clock, actor=core.SYSTEM))
        user = core.create_user(uow, core.CreateUser("Ada"), clock=clock, actor=core.SYSTEM)
        attempt = core.start_attempt(
            uow, core.StartAttempt(user.id, constellations[0].id), clock=clock, actor=core.SYSTEM
        )
        return cls(uow_factory, clock, user, constellations, attempt)


class ContractFixtures:
    """The fixtures every contract class has: ``clock`` and ``world``.

    ``uow_factory`` is not among them: the class that runs a contract provides
    it (see :mod:`luminary.core.testing`).
    """

    @pytest.fixture
    def clock(self) -> ManualClock:
        """A fresh :func:`new_clock` for each test."""
        return new_clock()

    @pytest.fixture
    def world(self, uow_factory: UowFactory, clock: ManualClock) -> World:
        """A :class:`World` built in the store under test."""
        return World.build(uow_factory, clock)
