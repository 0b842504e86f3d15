"""Accounts, tokens and the policy, through core's use cases, on every backend."""

from __future__ import annotations

import pytest

from luminary import core
from luminary.core import (
    Actor,
    Scope,
    ValidationFailed,
)
from luminary.core.accounts import (
    PasswordHasher,
)
from luminary.core.testing.accounts import FAST


def test_the_password_hash_is_scrypt_with_owasps_parameters():
    hasher = PasswordHasher()
    assert (hasher.n, hasher.r, hasher.p) == (2**15, 8, 3)
    stored = FAST.hash("correct horse")
    assert stored.startswith("scrypt$1024$8$1$")
    assert FAST.verify("correct horse", stored)
    assert not FAST.verify("correct horsE", stored)
    assert hasher.verify("correct horse", stored)  # parameters travel with the hash
    assert hasher.needs_rehash(stored)
    assert not FAST.needs_rehash(stored)
    assert FAST.hash("correct horse") != stored  # salted
    for broken in ("", "scrypt$x", "bcrypt$1$2$3$aa$bb", stored[:-4]):
        assert not FAST.verify("correct horse", broken)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("login", "ab", "at least 3"),
        ("login", "-ada", "letters, digits"),
        ("login", "ada lovelace", "letters, digits"),
        ("password", "short", "at least 8"),
        ("scopes", [], "must not be empty"),
        ("scopes", ["read", "read"], "must not repeat"),
        ("scopes", ["write"], "must be one of"),
        ("scopes", "read", "must be a list"),
        ("expires_in_days", 0, "between 1 and 3650"),
    ],
)
def test_a_token_request_names_its_failing_field(field, value, message):
    given = {"login": "ada", "password": "correct horse", "name": "x", "scopes": ["read"], field: value}
    with pytest.raises(ValidationFailed) as failed:
        core.CreateToken(**given)
    assert [(e.field, message in e.message) for e in failed.value.errors] == [(field, True)]


def test_admin_holds_every_scope_and_the_system_is_an_admin():
    admin = Actor(7, {Scope.ADMIN})
    assert all(admin.has(scope) for scope in Scope)
    assert core.SYSTEM.is_admin
    assert core.SYSTEM.user_id is None
    assert not any(core.ANONYMOUS.has(scope) for scope in Scope)
    student = Actor.student(3)
    assert student.scopes == frozenset(Scope) - {Scope.ADMIN}
    assert student.owns(3)
    assert not student.owns(4)
    assert not student.owns(None)
