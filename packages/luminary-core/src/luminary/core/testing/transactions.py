"""``one_transaction``: several use cases, one transaction, on every backend."""

from __future__ import annotations

import pytest

from luminary import core
from luminary.core.testing.support import ContractFixtures, snapshot


class TransactionContract(ContractFixtures):
    """:func:`~luminary.core.one_transaction`: several use cases share one transaction, and a
    failure keeps nothing of it.
    """

    def test_a_write_and_the_read_after_it_share_one_transaction(self, world):
        with core.one_transaction(world.uow) as uow:
            session = core.create_session(
                uow,
                core.CreateSession(constellation_attempt_id=world.attempt.id, minutes=20),
                clock=world.clock,
                actor=core.SYSTEM,
            )
            core.complete_session(uow, session.id, clock=world.clock, actor=core.SYSTEM)
            detail = core.get_user_detail(uow, world.user.id, actor=core.SYSTEM)  # sees what the block wrote
            assert detail.user.total_minutes == 20
            assert [s.id for s in detail.sessions] == [session.id]
        assert core.total_minutes(world.uow, world.user.id, actor=core.SYSTEM).total_minutes == 20

    def test_nothing_is_kept_when_the_block_fails_after_a_use_case_committed(self, world):
        before = snapshot(world.uow)
        with pytest.raises(core.NotFound), core.one_transaction(world.uow) as uow:
            core.create_user(
                uow, core.CreateUser("Grace"), clock=world.clock, actor=core.SYSTEM
            )  # its commit only waits
            core.add_star(uow, world.attempt.id, clock=world.clock, actor=core.SYSTEM)
            core.get_attempt_detail(uow, 999, actor=core.SYSTEM)
        assert snapshot(world.uow) == before

    def test_a_failing_write_leaves_the_transaction_to_roll_back(self, world):
        before = snapshot(world.uow)
        with pytest.raises(core.Conflict), core.one_transaction(world.uow) as uow:
            core.complete_attempt(uow, world.attempt.id, clock=world.clock, actor=core.SYSTEM)
            core.add_star(uow, world.attempt.id, clock=world.clock, actor=core.SYSTEM)  # complete: a conflict
        assert snapshot(world.uow) == before
