"""No lost updates: many threads hammer one attempt and one user through the use cases.

Counters are read-modify-written by core's use cases on rows read with
``for_update=True``. If a backend let two transactions read the same value, a
star or some minutes would go missing; these tests count every one of them.
They also print the throughput, for the record (run with ``-s`` to see it);
speed itself is never asserted.

Rules of the form "may change only while nothing refers to it" are raced too:
a check that looks for attempts must still hold when one is being started.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from luminary import core
from luminary.core import SessionStatus
from luminary.core.testing.support import ContractFixtures, assert_minutes_invariant

THREADS = 8
ROUNDS = 125  # per thread: 125 × (add a star, create a session, complete it) = 375 operations


def run_threads(count: int, work: Callable[[int], None]) -> tuple[float, list[BaseException]]:
    """Run ``work(i)`` in ``count`` threads started together; return the time taken and the errors."""
    errors: list[BaseException] = []
    start = threading.Barrier(count + 1)

    def target(i: int) -> None:
        start.wait()
        try:
            work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began, errors


def minutes_for(thread: int, round_: int) -> int:
    return (thread * ROUNDS + round_) % 90 + 1


WEIGHT_RACE_ROUNDS = 100
#: How long the administrator of the weight race dawdles after counting attempts.
DAWDLE_SECONDS = 0.003


class Dawdling:
    """A unit of work whose attempt counts answer ``delay`` seconds late: a slow administrator.

    The pause falls between looking for attempts and committing what that look
    allowed. Without it, a check that does not hold under concurrency loses the
    race only when the scheduler happens to pause the thread there (on
    PostgreSQL, before the weight race was fixed: 1 to 12 rounds in 200); with
    it, in most rounds.
    """

    def __init__(self, uow: core.UnitOfWork, delay: float) -> None:
        self._uow = uow
        self._delay = delay

    def __enter__(self) -> Dawdling:
        self._uow.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._uow.__exit__(*exc_info)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._uow, name)

    @property
    def attempts(self) -> _LateCounts:
        return _LateCounts(self._uow.attempts, self._delay)


class _LateCounts:
    """An attempt repository whose ``exists_for_constellation`` answers ``delay`` seconds late."""

    def __init__(self, attempts: Any, delay: float) -> None:
        self._attempts = attempts
        self._delay = delay

    def __getattr__(self, name: str) -> Any:
        return getattr(self._attempts, name)

    def exists_for_constellation(self, constellation_id: int) -> bool:
        found: bool = self._attempts.exists_for_constellation(constellation_id)
        time.sleep(self._delay)
        return found


def race_weight_change_and_attempt(
    uow_factory: Callable[[], core.UnitOfWork], clock: core.Clock, user_id: int, constellation_id: int
) -> tuple[bool, core.Attempt]:
    """Reweigh the constellation to 3 in one thread while the user starts an attempt there and
    completes it in another, each with its own unit of work; return whether the weight
    changed, and the completed attempt."""
    reweighed: list[bool] = []
    completed: list[core.Attempt] = []

    def work(thread: int) -> None:
        if thread == 0:
            try:
                core.update_constellation(
                    Dawdling(uow_factory(), DAWDLE_SECONDS),
                    constellation_id,
                    core.ConstellationPatch(weight=3),
                    clock=clock,
                    actor=core.SYSTEM,
                )
            except core.Conflict:
                reweighed.append(False)
            else:
                reweighed.append(True)
        else:
            uow = uow_factory()
            attempt = core.start_attempt(
                uow, core.StartAttempt(user_id, constellation_id), clock=clock, actor=core.SYSTEM
            )
            completed.append(core.complete_attempt(uow, attempt.id, clock=clock, actor=core.SYSTEM))

    _, errors = run_threads(2, work)
    assert errors == []
    return reweighed[0], completed[0]


class ConcurrencyContract(ContractFixtures):
    """No update is lost when threads share the store, each with its own unit of work.

    Not part of :class:`StorageContract`: run it for a store whose unit-of-work factory may be
    called from several threads at once. Many threads add stars, complete sessions and count
    failed sign-ins on the same rows, and race a weight change against an attempt start; every
    star and minute must be counted. These tests take seconds, not milliseconds.
    """

    @pytest.mark.slow
    def test_concurrent_stars_and_minutes_are_all_counted(self, uow_factory, clock):
        setup = uow_factory()
        user = core.create_user(setup, core.CreateUser("Ada"), clock=clock, actor=core.SYSTEM)
        big = core.create_constellation(
            setup, core.CreateConstellation("Milky Way", THREADS * ROUNDS), clock=clock, actor=core.SYSTEM
        )
        attempt = core.start_attempt(
            setup, core.StartAttempt(user.id, big.id), clock=clock, actor=core.SYSTEM
        )

        def work(thread: int) -> None:
            uow = uow_factory()
            for round_ in range(ROUNDS):
                core.add_star(uow, attempt.id, clock=clock, actor=core.SYSTEM)
                session = core.create_session(
                    uow,
                    core.CreateSession(
                        constellation_attempt_id=attempt.id, minutes=minutes_for(thread, round_)
                    ),
                    clock=clock,
                    actor=core.SYSTEM,
                )
                core.complete_session(uow, session.id, clock=clock, actor=core.SYSTEM)

        elapsed, errors = run_threads(THREADS, work)
        operations = THREADS * ROUNDS * 3
        print(
            f"\n{type(self).__name__}: {operations} operations in {elapsed:.2f} s,"
            f" {operations / elapsed:.0f} per second"
        )

        assert errors == []
        final = core.get_attempt(setup, attempt.id, actor=core.SYSTEM)
        assert final.stars_completed == THREADS * ROUNDS
        assert final.is_completed
        expected = sum(minutes_for(t, r) for t in range(THREADS) for r in range(ROUNDS))
        assert core.get_user(setup, user.id, actor=core.SYSTEM).total_minutes == expected
        assert (
            core.sync_minutes(setup, actor=core.SYSTEM).users_updated == 0
        )  # the total is the sum of the sessions

    def test_two_threads_completing_the_same_session_count_it_once(self, uow_factory, clock):
        setup = uow_factory()
        user = core.create_user(setup, core.CreateUser("Ada"), clock=clock, actor=core.SYSTEM)
        sessions = [
            core.create_session(
                setup,
                core.CreateSession(user_id=user.id, title=f"s{i}", minutes=10 + i),
                clock=clock,
                actor=core.SYSTEM,
            )
            for i in range(30)
        ]
        together = threading.Barrier(2)

        def work(thread: int) -> None:
            uow = uow_factory()
            for session in sessions:
                together.wait()
                done = core.complete_session(uow, session.id, clock=clock, actor=core.SYSTEM)
                assert done.status is SessionStatus.COMPLETED

        _, errors = run_threads(2, work)
        assert errors == []
        assert core.get_user(setup, user.id, actor=core.SYSTEM).total_minutes == sum(
            s.minutes for s in sessions
        )
        assert_minutes_invariant(setup)

    def test_concurrent_failed_sign_ins_are_all_counted(self, uow_factory):
        """Failed sign-ins on one new key, in many threads at once: none is lost (the limit holds
        everywhere)."""
        key = "login:race"
        window = timedelta(minutes=15)
        now = datetime(2025, 12, 1, 10, 30, tzinfo=UTC)

        def work(i: int) -> None:
            for _ in range(5):
                with uow_factory() as uow:
                    uow.login_failures.add_failure(key, now, window)
                    uow.commit()

        _, errors = run_threads(THREADS, work)
        assert errors == []
        with uow_factory() as uow:
            counted = uow.login_failures.get(key)
        assert counted is not None
        assert counted.count == THREADS * 5

    def test_a_weight_change_racing_an_attempt_start_never_miscounts_it(self, uow_factory, clock):
        """A weight changes only while no attempt exists, even when an attempt is being started meanwhile.

        Each round races, on a fresh constellation of weight 2, an administrator
        reweighing it to 3 against a student who starts an attempt there and
        completes it at once (completing gives the attempt as many stars as the
        weight it reads). Either the change is refused, as the attempt exists, or it
        went first and the attempt is completed at the new weight: a completed
        attempt always has exactly as many stars as its constellation's weight.
        "2 stars at weight 3" is the lost race.
        """
        setup = uow_factory()
        user = core.create_user(setup, core.CreateUser("Ada"), clock=clock, actor=core.SYSTEM)
        lost: list[str] = []
        refused = 0
        for round_ in range(WEIGHT_RACE_ROUNDS):
            constellation = core.create_constellation(
                setup, core.CreateConstellation(f"Race {round_}", 2), clock=clock, actor=core.SYSTEM
            )
            reweighed, attempt = race_weight_change_and_attempt(uow_factory, clock, user.id, constellation.id)
            weight = core.get_constellation(setup, constellation.id, actor=core.SYSTEM).weight
            assert weight == (3 if reweighed else 2)
            refused += not reweighed
            stars = core.get_attempt(setup, attempt.id, actor=core.SYSTEM).stars_completed
            if stars != weight:
                lost.append(f"round {round_}: a completed attempt with {stars} stars at weight {weight}")
        print(
            f"\n{type(self).__name__}: {refused} of {WEIGHT_RACE_ROUNDS} weight changes refused,"
            f" {len(lost)} races lost"
        )
        assert lost == []
