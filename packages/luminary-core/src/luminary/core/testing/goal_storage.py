"""Goals in storage.

The repositories are called directly, through units of work over each
implementation (in-memory, SQLite, PostgreSQL): a goal comes back as it was
written, its due day as a :class:`datetime.date` and its creation as an aware
UTC datetime.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from luminary import core
from luminary.core import Goal, GoalKind, User
from luminary.core.testing.support import ContractFixtures
from luminary.core.validation import GOAL_MINUTES_MAX

# Microseconds included: they must survive the round trip.
T0 = datetime(2025, 3, 30, 23, 30, 15, 123456, tzinfo=UTC)
DUE = date(2025, 4, 30)


def add_user(uow_factory, name: str = "Ada") -> User:
    uow = uow_factory()
    with uow:
        user = uow.users.add(User(display_name=name, created_at=T0))
        uow.commit()
    return user


def add_constellation(uow_factory, name: str = "Lyra") -> core.Constellation:
    uow = uow_factory()
    with uow:
        constellation = uow.constellations.add(core.Constellation(name=name, weight=5, created_at=T0))
        uow.commit()
    return constellation


def daily(user: User, minutes: int = 30, constellation_id: int | None = None, **kw) -> Goal:
    return Goal(
        user_id=user.id,
        kind=GoalKind.DAILY_MINUTES,
        target_minutes=minutes,
        constellation_id=constellation_id,
        created_at=T0,
        **kw,
    )


def completing(user: User, constellation: core.Constellation, due: date = DUE) -> Goal:
    return Goal(
        user_id=user.id,
        kind=GoalKind.COMPLETE_CONSTELLATION,
        constellation_id=constellation.id,
        due=due,
        created_at=T0 + timedelta(seconds=1),
    )


def add_goals(uow_factory, *goals: Goal) -> list[Goal]:
    uow = uow_factory()
    with uow:
        stored = [uow.goals.add(goal) for goal in goals]
        uow.commit()
    return stored


def goal(**values) -> Goal:
    """A goal of user 1, possibly malformed: the entity does not check, the schema must."""
    return Goal(**{"user_id": 1, "created_at": T0, **values})


class GoalStorageContract(ContractFixtures):
    """Goals read back as written, listed by user, deleted, and found by constellation."""

    def test_a_goal_reads_back_as_written(self, uow_factory):
        ada = add_user(uow_factory)
        lyra = add_constellation(uow_factory)
        minutes, complete, weekly = add_goals(
            uow_factory,
            daily(ada, 45),
            completing(ada, lyra),
            Goal(
                user_id=ada.id,
                kind=GoalKind.WEEKLY_MINUTES,
                target_minutes=GOAL_MINUTES_MAX,
                constellation_id=lyra.id,
                created_at=T0,
            ),
        )
        assert (minutes.id, complete.id, weekly.id) == (1, 2, 3)

        uow = uow_factory()
        with uow:
            read = [uow.goals.get(goal.id) for goal in (minutes, complete, weekly)]
            assert uow.goals.get(99) is None
        assert read == [minutes, complete, weekly]
        got_minutes, got_complete, got_weekly = read
        assert got_minutes is not None
        assert got_complete is not None
        assert got_weekly is not None
        assert got_minutes.kind is GoalKind.DAILY_MINUTES
        assert (got_minutes.target_minutes, got_minutes.constellation_id, got_minutes.due) == (45, None, None)
        assert got_complete.kind is GoalKind.COMPLETE_CONSTELLATION
        # A datetime is a date too: it must be a plain date.
        assert type(got_complete.due) is date
        assert got_complete.due == DUE
        assert got_complete.target_minutes is None
        assert got_weekly.kind is GoalKind.WEEKLY_MINUTES
        assert (got_weekly.target_minutes, got_weekly.constellation_id) == (GOAL_MINUTES_MAX, lyra.id)
        for goal in read:
            assert goal.created_at.utcoffset() == timedelta(0)
        assert got_complete.created_at == T0 + timedelta(seconds=1)

    def test_list_by_user_is_by_id_and_only_theirs(self, uow_factory):
        ada, bob = add_user(uow_factory, "Ada"), add_user(uow_factory, "Bob")
        lyra = add_constellation(uow_factory)
        # Created later but stored first: the order is by id, not by creation.
        first = Goal(
            user_id=ada.id, kind=GoalKind.DAILY_MINUTES, target_minutes=10, created_at=T0 + timedelta(days=1)
        )
        stored = add_goals(uow_factory, first, daily(bob, 20), completing(ada, lyra), daily(ada, 30))

        uow = uow_factory()
        with uow:
            assert [g.id for g in uow.goals.list_by_user(ada.id)] == [
                stored[0].id,
                stored[2].id,
                stored[3].id,
            ]
            assert list(uow.goals.list_by_user(bob.id)) == [stored[1]]
            assert list(uow.goals.list_by_user(99)) == []

    def test_delete_and_delete_by_user(self, uow_factory):
        ada, bob = add_user(uow_factory, "Ada"), add_user(uow_factory, "Bob")
        a1, b1, a2 = add_goals(uow_factory, daily(ada, 10), daily(bob, 20), daily(ada, 30))

        uow = uow_factory()
        with uow:
            uow.goals.delete(a1.id)
            uow.goals.delete(99)  # nothing to remove: no error
            uow.commit()
        with uow:
            assert uow.goals.get(a1.id) is None
            assert list(uow.goals.list_by_user(ada.id)) == [a2]
            uow.goals.delete_by_user(ada.id)
            uow.commit()
        with uow:
            assert list(uow.goals.list_by_user(ada.id)) == []
            assert list(uow.goals.list_by_user(bob.id)) == [b1]
            # With its goals gone, the user can go.
            uow.goals.delete_by_user(99)
            uow.users.delete(ada.id)
            uow.commit()
        # Ids are never handed out again.
        (later,) = add_goals(uow_factory, daily(bob, 40))
        assert later.id == 4

    def test_exists_for_constellation(self, uow_factory):
        ada = add_user(uow_factory)
        lyra, vega = add_constellation(uow_factory, "Lyra"), add_constellation(uow_factory, "Vega")
        complete, minutes = add_goals(
            uow_factory, completing(ada, lyra), daily(ada, 15, constellation_id=vega.id)
        )

        uow = uow_factory()
        with uow:
            assert uow.goals.exists_for_constellation(lyra.id)
            assert uow.goals.exists_for_constellation(vega.id)
            assert not uow.goals.exists_for_constellation(99)
            uow.goals.delete(complete.id)
            assert not uow.goals.exists_for_constellation(lyra.id)
            assert uow.goals.exists_for_constellation(vega.id)
            uow.goals.delete(minutes.id)
            assert not uow.goals.exists_for_constellation(vega.id)

    def test_rollback_keeps_nothing(self, uow_factory):
        ada = add_user(uow_factory)
        (kept,) = add_goals(uow_factory, daily(ada, 10))

        uow = uow_factory()
        with uow:
            added = uow.goals.add(daily(ada, 20))
            uow.goals.delete(kept.id)
            assert uow.goals.get(added.id) == added
            # Left without commit.
        with uow:
            assert list(uow.goals.list_by_user(ada.id)) == [kept]
            assert uow.goals.get(added.id) is None
