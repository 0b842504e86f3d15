"""The account ports of ``luminary.core.ports`` — credentials, tokens, failed sign-ins — on every backend.

The repositories are called directly, through units of work over each
implementation (in-memory, SQLite, PostgreSQL), so that the SQL ones are held
to what the in-memory ones do.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, datetime, timedelta

import attrs
import pytest

from luminary import core
from luminary.core import Conflict, Credentials, Scope, Token
from luminary.core.accounts import LoginFailures, new_secret, secret_digest
from luminary.core.testing.support import ContractFixtures

# Microseconds included: they must survive the round trip.
T0 = datetime(2026, 11, 26, 9, 30, 15, 123456, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def add_users(uow_factory, *names: str) -> list[core.User]:
    """Users stored and committed, in the order named."""
    uow = uow_factory()
    with uow:
        users = [uow.users.add(core.User(display_name=name, created_at=T0)) for name in names]
        uow.commit()
    return users


def credentials_of(user: core.User, login: str | None = None, **kw) -> Credentials:
    kw.setdefault("password_hash", f"scrypt$hash-of-{user.display_name}")
    kw.setdefault("updated_at", T0)
    return Credentials(user_id=user.id, login=login or user.display_name.lower(), **kw)


def token_of(user: core.User, name: str = "iPhone", **kw) -> Token:
    kw.setdefault("scopes", frozenset({Scope.READ}))
    kw.setdefault("digest", secret_digest(new_secret()))
    kw.setdefault("created_at", T0)
    return Token(user_id=user.id, name=name, **kw)


def failure_key(kind: str = "login") -> str:
    """A key no other test uses (PostgreSQL keeps its counts for the whole run)."""
    return f"{kind}:{secrets.token_hex(6)}"


def assert_utc(value: datetime | None) -> None:
    assert value is not None
    assert value.utcoffset() == timedelta(0)


class AccountStorageContract(ContractFixtures):
    """Credentials, tokens and failed sign-ins as stored: found by user, by login, by id and by
    digest; a taken login is a :class:`~luminary.core.Conflict`; failures counted in windows.
    """

    def test_credentials_are_found_by_user_and_by_login(self, uow_factory):
        ada, bob = add_users(uow_factory, "Ada", "Bob")
        uow = uow_factory()
        with uow:
            assert uow.credentials.get(ada.id) is None
            assert uow.credentials.get_by_login("ada") is None
            uow.credentials.add(credentials_of(ada, is_admin=True))
            uow.credentials.add(credentials_of(bob))
            uow.commit()

        with uow:
            stored = uow.credentials.get(ada.id)
            assert stored == credentials_of(ada, is_admin=True)
            assert stored is not None
            assert stored.is_admin is True
            assert_utc(stored.updated_at)
            assert uow.credentials.get_by_login("ada") == stored
            assert uow.credentials.get_by_login("bob") == credentials_of(bob)
            assert uow.credentials.get(bob.id).is_admin is False
            assert uow.credentials.get_by_login("cy") is None
            assert uow.credentials.get(bob.id + 1000) is None

    def test_a_taken_login_is_a_conflict_and_the_transaction_goes_on(self, uow_factory):
        ada, bob = add_users(uow_factory, "Ada", "Bob")
        uow = uow_factory()
        with uow:
            uow.credentials.add(credentials_of(ada))
            uow.commit()

        with uow:
            with pytest.raises(Conflict, match=r"The login 'ada' is taken"):
                uow.credentials.add(credentials_of(bob, login="ada"))
            # The refusal left the transaction usable: Bob signs up under another login.
            assert uow.credentials.get(bob.id) is None
            uow.credentials.add(credentials_of(bob, login="bob"))
            uow.commit()

        with uow:
            assert uow.credentials.get(ada.id) == credentials_of(ada)
            assert uow.credentials.get_by_login("ada") == credentials_of(ada)
            assert uow.credentials.get(bob.id) == credentials_of(bob, login="bob")

    def test_a_taken_login_leaves_nothing_behind_when_the_transaction_is_dropped(self, uow_factory):
        ada, bob = add_users(uow_factory, "Ada", "Bob")
        uow = uow_factory()
        with uow:
            uow.credentials.add(credentials_of(ada))
            uow.commit()

        with uow:
            uow.tokens.add(token_of(bob))
            with pytest.raises(Conflict):
                uow.credentials.add(credentials_of(bob, login="ada"))
            # Left without commit.

        with uow:
            assert uow.credentials.get(bob.id) is None
            assert uow.credentials.get_by_login("ada") == credentials_of(ada)
            assert uow.tokens.list_by_user(bob.id) == []

    def test_a_login_taken_by_a_concurrent_writer_is_a_conflict(self, uow_factory):
        ada, bob = add_users(uow_factory, "Ada", "Bob")
        outcome: list[object] = []
        ready = threading.Event()

        def bob_signs_up() -> None:
            uow = uow_factory()
            ready.set()
            try:
                with uow:  # waits for Ada's transaction (memory, SQLite) or at the INSERT (PostgreSQL)
                    try:
                        uow.credentials.add(credentials_of(bob, login="ada"))
                    except Conflict as exc:
                        outcome.append(exc)
                        uow.credentials.add(credentials_of(bob, login="bob"))
                        uow.commit()
            except Exception as exc:  # pragma: no cover - reported by the assertion below
                outcome.append(exc)

        uow = uow_factory()
        with uow:
            uow.credentials.add(credentials_of(ada))
            thread = threading.Thread(target=bob_signs_up)
            thread.start()
            ready.wait(10)
            time.sleep(0.1)  # lets Bob's INSERT reach the database and wait, where it can
            uow.commit()
        thread.join(30)

        assert not thread.is_alive()
        assert len(outcome) == 1
        assert isinstance(outcome[0], Conflict)
        assert str(outcome[0]) == "The login 'ada' is taken"
        with uow:
            assert uow.credentials.get_by_login("ada") == credentials_of(ada)
            assert uow.credentials.get_by_login("bob") == credentials_of(bob, login="bob")

    def test_credentials_update_and_delete(self, uow_factory):
        ada, bob = add_users(uow_factory, "Ada", "Bob")
        uow = uow_factory()
        with uow:
            uow.credentials.add(credentials_of(ada))
            uow.credentials.add(credentials_of(bob))
            uow.commit()

        changed = credentials_of(
            ada, login="ada.l", password_hash="scrypt$new", updated_at=at(60), is_admin=True
        )
        with uow:
            uow.credentials.update(changed)
            uow.commit()
        with uow:
            assert uow.credentials.get(ada.id) == changed
            assert uow.credentials.get_by_login("ada.l") == changed
            assert uow.credentials.get_by_login("ada") is None

            uow.credentials.delete(ada.id)
            uow.credentials.delete(ada.id)  # absent: nothing to do
            uow.commit()
        with uow:
            assert uow.credentials.get(ada.id) is None
            assert uow.credentials.get_by_login("ada.l") is None
            assert uow.credentials.get(bob.id) == credentials_of(bob)

    def test_deleting_a_user_removes_their_credentials_and_tokens(self, uow_factory):
        ada, bob = add_users(uow_factory, "Ada", "Bob")
        uow = uow_factory()
        with uow:
            uow.credentials.add(credentials_of(ada))
            uow.credentials.add(credentials_of(bob))
            ada_tokens = [uow.tokens.add(token_of(ada, name)) for name in ("iPhone", "script")]
            bob_token = uow.tokens.add(token_of(bob))
            uow.commit()

        core.delete_user(uow, ada.id, actor=core.SYSTEM)

        with uow:
            assert uow.users.get(ada.id) is None
            assert uow.credentials.get(ada.id) is None
            assert uow.credentials.get_by_login("ada") is None
            assert uow.tokens.list_by_user(ada.id) == []
            for token in ada_tokens:
                assert uow.tokens.get(token.id) is None
                assert uow.tokens.get_by_digest(token.digest) is None
            # Bob keeps his.
            assert uow.credentials.get(bob.id) == credentials_of(bob)
            assert uow.tokens.list_by_user(bob.id) == [bob_token]

    def test_tokens_are_found_by_id_and_by_digest(self, uow_factory):
        (ada,) = add_users(uow_factory, "Ada")
        every_field = token_of(
            ada,
            "grading script",
            scopes=frozenset({Scope.READ, Scope.STUDY, Scope.SOCIAL, Scope.ACCOUNT, Scope.ADMIN}),
            created_at=at(1),
            expires_at=at(86400 * 90),
            last_used_at=at(2),
        )
        uow = uow_factory()
        with uow:
            first = uow.tokens.add(token_of(ada))
            second = uow.tokens.add(every_field)
            uow.commit()

        assert 0 < first.id < second.id
        assert second == attrs.evolve(every_field, id=second.id)
        with uow:
            for token in (first, second):
                assert uow.tokens.get(token.id) == token
                assert uow.tokens.get_by_digest(token.digest) == token
            assert uow.tokens.get(second.id + 1000) is None
            assert uow.tokens.get_by_digest(secret_digest(new_secret())) is None

            stored = uow.tokens.get(second.id)
            assert stored is not None
            assert stored.scopes == every_field.scopes
            assert all(type(scope) is Scope for scope in stored.scopes)
            for value in (stored.created_at, stored.expires_at, stored.last_used_at):
                assert_utc(value)
            assert stored.created_at == at(1)  # to the microsecond
            plain = uow.tokens.get(first.id)
            assert plain is not None
            assert plain.expires_at is None
            assert plain.last_used_at is None

    @pytest.mark.parametrize(
        "scopes",
        [
            frozenset({Scope.READ}),
            frozenset({Scope.STUDY, Scope.READ}),
            frozenset({Scope.SOCIAL, Scope.ACCOUNT}),
            frozenset(Scope),
        ],
    )
    def test_scopes_come_back_as_a_frozenset_of_scopes(self, uow_factory, scopes):
        (ada,) = add_users(uow_factory, "Ada")
        uow = uow_factory()
        with uow:
            token = uow.tokens.add(token_of(ada, scopes=scopes))
            uow.commit()
        with uow:
            stored = uow.tokens.get_by_digest(token.digest)
        assert stored is not None
        assert isinstance(stored.scopes, frozenset)
        assert stored.scopes == scopes
        assert {type(scope) for scope in stored.scopes} == {Scope}

    def test_list_by_user_returns_only_theirs_by_id(self, uow_factory):
        ada, bob = add_users(uow_factory, "Ada", "Bob")
        uow = uow_factory()
        with uow:
            # Created out of time order: the list is by id, not by created_at.
            a1 = uow.tokens.add(token_of(ada, "one", created_at=at(30)))
            b1 = uow.tokens.add(token_of(bob, "bob's"))
            a2 = uow.tokens.add(token_of(ada, "two", created_at=at(10)))
            a3 = uow.tokens.add(token_of(ada, "three", created_at=at(20)))
            uow.commit()
        with uow:
            assert uow.tokens.list_by_user(ada.id) == [a1, a2, a3]
            assert uow.tokens.list_by_user(bob.id) == [b1]
            assert uow.tokens.list_by_user(bob.id + 1000) == []

    def test_touch_sets_last_used_at_and_ignores_a_token_gone(self, uow_factory):
        (ada,) = add_users(uow_factory, "Ada")
        uow = uow_factory()
        with uow:
            token = uow.tokens.add(token_of(ada))
            other = uow.tokens.add(token_of(ada, "other"))
            uow.commit()

        with uow:
            uow.tokens.touch(token.id, at(120))
            uow.tokens.touch(token.id + 1000, at(120))  # no such token: nothing happens
            uow.commit()
        with uow:
            assert uow.tokens.get(token.id) == attrs.evolve(token, last_used_at=at(120))
            assert uow.tokens.get(other.id) == other
            touched = uow.tokens.get_by_digest(token.digest)
            assert touched is not None
            assert_utc(touched.last_used_at)

            uow.tokens.touch(token.id, at(180))
            # Not committed: left as it was.
        with uow:
            assert uow.tokens.get(token.id) == attrs.evolve(token, last_used_at=at(120))

    def test_token_deletes(self, uow_factory):
        ada, bob = add_users(uow_factory, "Ada", "Bob")
        uow = uow_factory()
        with uow:
            a1, a2, a3 = (uow.tokens.add(token_of(ada, name)) for name in ("one", "two", "three"))
            b1 = uow.tokens.add(token_of(bob))
            uow.commit()

        with uow:
            uow.tokens.delete(a2.id)
            uow.tokens.delete(a2.id)  # absent: nothing to do
            uow.commit()
        with uow:
            assert uow.tokens.get(a2.id) is None
            assert uow.tokens.get_by_digest(a2.digest) is None
            assert uow.tokens.list_by_user(ada.id) == [a1, a3]

            uow.tokens.delete_by_user(ada.id)
            uow.tokens.delete_by_user(ada.id + 1000)
            uow.commit()
        with uow:
            assert uow.tokens.list_by_user(ada.id) == []
            assert uow.tokens.get_by_digest(a1.digest) is None
            assert uow.tokens.list_by_user(bob.id) == [b1]

    def test_login_failures_are_counted_in_windows_and_forgotten(self, uow_factory):
        key, other_key = failure_key("login"), failure_key("address")
        window = timedelta(minutes=15)
        uow = uow_factory()
        with uow:
            assert uow.login_failures.get(key) is None
            assert uow.login_failures.get(key, for_update=True) is None
            assert uow.login_failures.add_failure(key, T0, window) == LoginFailures(
                key=key, count=1, window_start=T0
            )
            uow.login_failures.add_failure(other_key, at(5), window)
            uow.commit()

        with uow:
            stored = uow.login_failures.get(key)
            assert stored == LoginFailures(key=key, count=1, window_start=T0)
            assert stored is not None
            assert_utc(stored.window_start)
            assert uow.login_failures.get(key, for_update=True) == stored
            # Within the window: counted on, the window kept.
            assert uow.login_failures.add_failure(key, at(60), window) == LoginFailures(
                key=key, count=2, window_start=T0
            )
            assert uow.login_failures.add_failure(key, at(899), window).count == 3
            # At its end: started over.
            assert uow.login_failures.add_failure(key, at(900), window) == LoginFailures(
                key=key, count=1, window_start=at(900)
            )
            uow.commit()

        with uow:
            assert uow.login_failures.get(key) == LoginFailures(key=key, count=1, window_start=at(900))
            assert uow.login_failures.get(other_key) == LoginFailures(
                key=other_key, count=1, window_start=at(5)
            )
            uow.login_failures.delete(key)
            uow.login_failures.delete(key)  # absent: nothing to do
            uow.commit()
        with uow:
            assert uow.login_failures.get(key) is None
            assert uow.login_failures.get(other_key) is not None
            uow.login_failures.delete(other_key)
            uow.commit()

    def test_leaving_without_commit_keeps_nothing(self, uow_factory):
        ada, bob = add_users(uow_factory, "Ada", "Bob")
        key = failure_key()
        uow = uow_factory()
        with uow:
            uow.credentials.add(credentials_of(bob))
            kept = uow.tokens.add(token_of(bob))
            uow.commit()

        with uow:
            uow.credentials.add(credentials_of(ada))
            uow.credentials.update(credentials_of(bob, password_hash="scrypt$changed"))
            token = uow.tokens.add(token_of(ada))
            uow.tokens.touch(kept.id, at(60))
            uow.login_failures.add_failure(key, T0, timedelta(minutes=15))
            assert uow.credentials.get(ada.id) is not None
            assert uow.tokens.get(token.id) is not None

        with uow:
            assert uow.credentials.get(ada.id) is None
            assert uow.credentials.get_by_login("ada") is None
            assert uow.credentials.get(bob.id) == credentials_of(bob)
            assert uow.tokens.get(token.id) is None
            assert uow.tokens.get_by_digest(token.digest) is None
            assert uow.tokens.list_by_user(bob.id) == [kept]
            assert uow.login_failures.get(key) is None
