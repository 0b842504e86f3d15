"""Properties: any sequence of operations keeps the invariants of rules 2 and 4.

Two hypothesis state machines drive the use cases with random operations and
check, after every step, that

* every user's ``total_minutes`` equals the minutes of their completed sessions;
* no attempt has more stars than its constellation's weight, and an attempt is
  completed exactly when it has all of them.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, initialize, invariant, rule

from luminary import core
from luminary.core import Conflict, InMemoryStore, ManualClock, NotFound, ValidationFailed
from luminary.core.testing.support import EVERYTHING, assert_minutes_invariant

EXAMPLES = settings(
    max_examples=200,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

minutes = st.one_of(st.none(), st.integers(min_value=0, max_value=1440))
statuses = st.sampled_from(["planned", "in_progress", "completed", "cancelled"])


class MinuteAccounting(RuleBasedStateMachine):
    """Sessions created, completed, cancelled, patched and deleted, in any order."""

    users = Bundle("users")
    attempts = Bundle("attempts")
    sessions = Bundle("sessions")

    def __init__(self) -> None:
        super().__init__()
        self.uow = InMemoryStore().unit_of_work()
        self.clock = ManualClock(step=timedelta(seconds=1))

    @initialize(target=users)
    def seed(self):
        core.seed_constellations(self.uow, clock=self.clock, actor=core.SYSTEM)
        return core.create_user(self.uow, core.CreateUser("Ada"), clock=self.clock, actor=core.SYSTEM).id

    @rule(target=users)
    def add_user(self):
        return core.create_user(self.uow, core.CreateUser("Bob"), clock=self.clock, actor=core.SYSTEM).id

    @rule(target=attempts, user=users, constellation=st.integers(1, 3))
    def start(self, user, constellation):
        try:
            return core.start_attempt(
                self.uow, core.StartAttempt(user, constellation), clock=self.clock, actor=core.SYSTEM
            ).id
        except NotFound:
            return 0

    @rule(target=sessions, attempt=attempts, n=minutes, status=statuses)
    def session_of_attempt(self, attempt, n, status):
        try:
            return core.create_session(
                self.uow,
                core.CreateSession(constellation_attempt_id=attempt, minutes=n, status=status),
                clock=self.clock,
                actor=core.SYSTEM,
            ).id
        except NotFound:
            return 0

    @rule(target=sessions, user=users, n=minutes, started=st.booleans())
    def loose_session(self, user, n, started):
        start = self.clock.now() - timedelta(minutes=37) if started else None
        try:
            return core.create_session(
                self.uow,
                core.CreateSession(user_id=user, title="t", minutes=n, started_at=start),
                clock=self.clock,
                actor=core.SYSTEM,
            ).id
        except NotFound:
            return 0

    @rule(session=sessions)
    def complete(self, session):
        try:
            core.complete_session(self.uow, session, clock=self.clock, actor=core.SYSTEM)
        except NotFound:
            pass

    @rule(session=sessions)
    def cancel(self, session):
        try:
            core.cancel_session(self.uow, session, clock=self.clock, actor=core.SYSTEM)
        except NotFound:
            pass

    @rule(session=sessions, n=minutes, status=st.one_of(st.none(), statuses))
    def patch(self, session, n, status):
        changes: dict[str, object] = {"minutes": n}
        if status is not None:
            changes["status"] = status
        try:
            core.update_session(
                self.uow, session, core.SessionPatch(**changes), clock=self.clock, actor=core.SYSTEM
            )
        except NotFound:
            pass

    @rule(session=consumes(sessions))
    def delete(self, session):
        try:
            core.delete_session(self.uow, session, actor=core.SYSTEM)
        except NotFound:
            pass

    @rule(attempt=consumes(attempts))
    def delete_attempt(self, attempt):
        try:
            core.delete_attempt(self.uow, attempt, actor=core.SYSTEM)
        except NotFound:
            pass

    @rule(user=consumes(users))
    def delete_user(self, user):
        try:
            core.delete_user(self.uow, user, actor=core.SYSTEM)
        except NotFound:
            pass

    @rule(n=st.integers(-5, 5))
    def bad_patch(self, n):
        # Invalid input must change nothing.
        try:
            core.update_session(
                self.uow, 1, core.SessionPatch(minutes=n - 10), clock=self.clock, actor=core.SYSTEM
            )
        except (NotFound, ValidationFailed):
            pass

    @invariant()
    def totals_match_completed_minutes(self):
        assert_minutes_invariant(self.uow)


class StarCounting(RuleBasedStateMachine):
    """Stars added, attempts completed and deleted, in any order."""

    attempts = Bundle("attempts")

    def __init__(self) -> None:
        super().__init__()
        self.uow = InMemoryStore().unit_of_work()
        self.clock = ManualClock(step=timedelta(seconds=1))
        self.conflicts = 0

    @initialize()
    def seed(self):
        core.seed_constellations(self.uow, clock=self.clock, actor=core.SYSTEM)
        core.create_constellation(
            self.uow, core.CreateConstellation("Single", 1), clock=self.clock, actor=core.SYSTEM
        )
        self.user = core.create_user(self.uow, core.CreateUser("Ada"), clock=self.clock, actor=core.SYSTEM).id

    @rule(target=attempts, constellation=st.integers(1, 4))
    def start(self, constellation):
        return core.start_attempt(
            self.uow, core.StartAttempt(self.user, constellation), clock=self.clock, actor=core.SYSTEM
        ).id

    @rule(attempt=attempts)
    def star(self, attempt):
        try:
            core.add_star(self.uow, attempt, clock=self.clock, actor=core.SYSTEM)
        except Conflict:
            self.conflicts += 1
        except NotFound:
            pass

    @rule(attempt=attempts)
    def complete(self, attempt):
        try:
            core.complete_attempt(self.uow, attempt, clock=self.clock, actor=core.SYSTEM)
        except NotFound:
            pass

    @rule(attempt=consumes(attempts))
    def delete(self, attempt):
        try:
            core.delete_attempt(self.uow, attempt, actor=core.SYSTEM)
        except NotFound:
            pass

    @invariant()
    def stars_within_weight(self):
        if not hasattr(self, "user"):
            return
        with self.uow:
            weights = {c.id: c.weight for c in self.uow.constellations.list_page(EVERYTHING)}
            attempts = list(self.uow.attempts.list_page(EVERYTHING))
            user = self.uow.users.get(self.user)
        ids = {a.id for a in attempts}
        for a in attempts:
            assert 0 <= a.stars_completed <= weights[a.constellation_id]
            assert a.is_completed == (a.stars_completed == weights[a.constellation_id])
        if user.current_attempt_id is not None:
            current = next(a for a in attempts if a.id == user.current_attempt_id)
            assert not current.is_completed
            assert current.id in ids


TestMinuteAccounting = MinuteAccounting.TestCase
TestMinuteAccounting.settings = EXAMPLES
TestStarCounting = StarCounting.TestCase
TestStarCounting.settings = EXAMPLES
