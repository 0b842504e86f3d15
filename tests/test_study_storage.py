"""Study days and timers in storage: a user's time zone, day start and streak settings, a session's
study day and timer, and the minutes of a user's study days.

The repositories are called directly, through units of work over each
implementation (in-memory, SQLite, PostgreSQL): every read path returns the new
fields as they were written, study days as :class:`datetime.date` and timer
instants as aware UTC datetimes. A few tests at the end are about the SQL
schema alone (what its CHECK constraints refuse).
"""

from __future__ import annotations

from datetime import date

import attrs
import pytest

from luminary.core import Conflict
from luminary.core.testing.study_storage import T0, add_user, session_of
from sql_fixtures import SQL_BACKENDS


@pytest.mark.parametrize("backend", SQL_BACKENDS)
@pytest.mark.parametrize(
    "refused",
    [
        pytest.param(
            lambda user: session_of(user, "Early", study_day=date(2025, 3, 30)), id="day-not-completed"
        ),
        pytest.param(lambda user: session_of(user, "Uncounted", running_since=T0), id="running-uncounted"),
        pytest.param(lambda user: session_of(user, "Negative", elapsed_seconds=-1), id="negative-seconds"),
    ],
)
def test_sql_sessions_the_schema_refuses_are_a_conflict(uow_factory, refused):
    ada = add_user(uow_factory)
    uow = uow_factory()
    with uow, pytest.raises(Conflict):
        uow.sessions.add(refused(ada))
    with uow:
        assert list(uow.sessions.list_by_users([ada.id])) == []


@pytest.mark.parametrize("backend", SQL_BACKENDS)
@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"day_start_hour": 24}, id="hour-24"),
        pytest.param({"day_start_hour": -1}, id="hour-negative"),
        pytest.param({"time_zone": ""}, id="zone-empty"),
        pytest.param({"week_start": 7}, id="week-start-7"),
        pytest.param({"week_start": -1}, id="week-start-negative"),
        pytest.param({"daily_minimum": 0}, id="daily-minimum-0"),
        pytest.param({"daily_minimum": 1441}, id="daily-minimum-1441"),
        pytest.param({"rest_days": 7}, id="rest-days-7"),
        pytest.param({"rest_days": -1}, id="rest-days-negative"),
    ],
)
def test_sql_users_the_schema_refuses_are_a_conflict(uow_factory, changes):
    ada = add_user(uow_factory)
    uow = uow_factory()
    with uow, pytest.raises(Conflict):
        uow.users.update(attrs.evolve(ada, **changes))
    with uow:
        assert uow.users.get(ada.id) == ada
