"""The account ports of ``luminary.core.ports`` — credentials, tokens, failed sign-ins — on every backend.

The repositories are called directly, through units of work over each
implementation (in-memory, SQLite, PostgreSQL), so that the SQL ones are held
to what the in-memory ones do. A few tests at the end are about the SQL schema
alone (what it refuses, what goes with a user).
"""

from __future__ import annotations

import attrs
import pytest

from luminary.core import Conflict
from luminary.core.testing.account_storage import add_users, credentials_of, token_of
from sql_fixtures import SQL_BACKENDS


@pytest.mark.parametrize("backend", SQL_BACKENDS)
def test_sql_a_users_credentials_and_tokens_go_with_the_user_row(uow_factory):
    ada, bob = add_users(uow_factory, "Ada", "Bob")
    uow = uow_factory()
    with uow:
        uow.credentials.add(credentials_of(ada))
        token = uow.tokens.add(token_of(ada))
        uow.tokens.add(token_of(bob))
        uow.commit()
    with uow:
        uow.users.delete(ada.id)  # ON DELETE CASCADE
        uow.commit()
    with uow:
        assert uow.credentials.get(ada.id) is None
        assert uow.tokens.get(token.id) is None
        assert len(uow.tokens.list_by_user(bob.id)) == 1


@pytest.mark.parametrize("backend", SQL_BACKENDS)
@pytest.mark.parametrize(
    "refused",
    [
        pytest.param(lambda user: credentials_of(user, login="Ada"), id="login-not-lower-case"),
        pytest.param(
            lambda user: attrs.evolve(credentials_of(user), user_id=user.id + 1000), id="no-such-user"
        ),
    ],
)
def test_sql_credentials_the_schema_refuses_are_a_conflict(uow_factory, refused):
    (ada,) = add_users(uow_factory, "Ada")
    uow = uow_factory()
    with uow, pytest.raises(Conflict):
        uow.credentials.add(refused(ada))
    with uow:
        assert uow.credentials.get(ada.id) is None
