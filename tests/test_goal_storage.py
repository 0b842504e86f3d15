"""Goals in storage.

The repositories are called directly, through units of work over each
implementation (in-memory, SQLite, PostgreSQL): a goal comes back as it was
written, its due day as a :class:`datetime.date` and its creation as an aware
UTC datetime. The tests at the end are about the SQL schema alone (what its
CHECK constraints refuse).
"""

from __future__ import annotations

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from luminary.core import Conflict, GoalKind
from luminary.core.testing.goal_storage import (
    DUE,
    T0,
    add_constellation,
    add_goals,
    add_user,
    completing,
    goal,
)
from luminary.core.validation import GOAL_MINUTES_MAX
from sql_fixtures import SQL_BACKENDS


@pytest.mark.parametrize("backend", SQL_BACKENDS)
@pytest.mark.parametrize(
    "refused",
    [
        pytest.param(goal(kind=GoalKind.DAILY_MINUTES, target_minutes=0), id="no-minutes"),
        pytest.param(goal(kind=GoalKind.WEEKLY_MINUTES, target_minutes=GOAL_MINUTES_MAX + 1), id="too-many"),
        pytest.param(goal(kind=GoalKind.DAILY_MINUTES), id="minutes-missing"),
        pytest.param(goal(kind=GoalKind.DAILY_MINUTES, target_minutes=5, due=DUE), id="minutes-with-due"),
        pytest.param(goal(kind=GoalKind.COMPLETE_CONSTELLATION, constellation_id=1), id="complete-no-due"),
        pytest.param(goal(kind=GoalKind.COMPLETE_CONSTELLATION, due=DUE), id="complete-no-constellation"),
        pytest.param(
            goal(kind=GoalKind.COMPLETE_CONSTELLATION, constellation_id=1, due=DUE, target_minutes=5),
            id="complete-with-minutes",
        ),
        pytest.param(goal(kind=GoalKind.DAILY_MINUTES, target_minutes=5, user_id=99), id="unknown-user"),
        pytest.param(
            goal(kind=GoalKind.DAILY_MINUTES, target_minutes=5, constellation_id=99),
            id="unknown-constellation",
        ),
    ],
)
def test_sql_goals_the_schema_refuses_are_a_conflict(uow_factory, refused):
    add_user(uow_factory)
    add_constellation(uow_factory)
    # The bounds' edges pass.
    edges = add_goals(
        uow_factory,
        goal(kind=GoalKind.DAILY_MINUTES, target_minutes=1),
        goal(kind=GoalKind.WEEKLY_MINUTES, target_minutes=GOAL_MINUTES_MAX, constellation_id=1),
        goal(kind=GoalKind.COMPLETE_CONSTELLATION, constellation_id=1, due=DUE),
    )
    uow = uow_factory()
    with uow, pytest.raises(Conflict):
        uow.goals.add(refused)
    with uow:
        assert list(uow.goals.list_by_user(1)) == edges


@pytest.mark.parametrize("backend", SQL_BACKENDS)
def test_sql_goals_of_an_unknown_kind_are_refused(uow_factory):
    from luminary.sql.tables import goals

    add_user(uow_factory)
    # Core cannot even name such a kind: straight into the table.
    with uow_factory().engine.connect() as connection, pytest.raises(IntegrityError):
        connection.execute(
            insert(goals).values(user_id=1, kind="monthly_minutes", target_minutes=5, created_at=T0)
        )


@pytest.mark.parametrize("backend", SQL_BACKENDS)
def test_sql_a_user_or_constellation_with_goals_cannot_be_deleted(uow_factory):
    """No cascade: core deletes goals first, and a goal left behind makes the delete fail."""
    ada = add_user(uow_factory)
    lyra = add_constellation(uow_factory)
    add_goals(uow_factory, completing(ada, lyra))
    uow = uow_factory()
    with uow, pytest.raises(Conflict):
        uow.users.delete(ada.id)
    with uow, pytest.raises(Conflict):
        uow.constellations.delete(lyra.id)
    with uow:
        assert len(uow.goals.list_by_user(ada.id)) == 1
