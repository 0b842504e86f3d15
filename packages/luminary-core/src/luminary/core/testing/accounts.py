"""Accounts, tokens and the policy, through core's use cases, on every backend."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from luminary import core
from luminary.core import (
    Actor,
    Forbidden,
    NotFound,
    Scope,
    TooManyAttempts,
    Unauthenticated,
    ValidationFailed,
)
from luminary.core.accounts import (
    ACCOUNT_LIMIT,
    ADDRESS_LIMIT,
    PasswordHasher,
    new_secret,
    secret_digest,
    well_formed_secret,
)
from luminary.core.testing.support import ContractFixtures

FAST = PasswordHasher(n=2**10, r=8, p=1)
READ_STUDY = ["read", "study"]


def sign_up(uow_factory, clock, login="ada", password="correct horse"):
    command = core.SignUp(display_name=login.title(), login=login, password=password)
    return core.sign_up(uow_factory(), command, clock=clock, passwords=FAST)


def sign_in(
    uow_factory, clock, login="ada", password="correct horse", scopes=READ_STUDY, address=None, **more
):
    command = core.CreateToken(login=login, password=password, name="phone", scopes=scopes, **more)
    return core.create_token(uow_factory(), command, clock=clock, passwords=FAST, address=address)


class AccountContract(ContractFixtures):
    """Signing up and in, tokens, the limits on failed sign-ins and who may do what, through the
    use cases.
    """

    def test_a_student_signs_up_signs_in_and_is_known_by_the_token(self, uow_factory, clock):
        ada = sign_up(uow_factory, clock, login="Ada.Lovelace")
        issued = sign_in(uow_factory, clock, login="ADA.lovelace")  # logins ignore case
        assert issued.token.user_id == ada.id
        assert issued.token.scopes == {Scope.READ, Scope.STUDY}
        assert issued.token.digest == secret_digest(issued.secret) != issued.secret
        actor = core.authenticate(uow_factory(), issued.secret, clock=clock)
        assert actor == Actor(ada.id, {Scope.READ, Scope.STUDY}, issued.token.id)
        account = core.get_account(uow_factory(), actor=actor)
        assert (account.user, account.login, account.is_admin) == (ada, "ada.lovelace", False)

    def test_a_login_is_taken_whatever_its_case(self, uow_factory, clock):
        sign_up(uow_factory, clock, login="ada")
        with pytest.raises(core.Conflict, match="taken"):
            sign_up(uow_factory, clock, login="ADA")

    def test_a_wrong_password_and_an_unknown_login_get_the_same_answer(self, uow_factory, clock):
        sign_up(uow_factory, clock)
        with pytest.raises(Unauthenticated) as wrong:
            sign_in(uow_factory, clock, password="wrong horse")
        with pytest.raises(Unauthenticated) as unknown:
            sign_in(uow_factory, clock, login="grace")
        assert str(wrong.value) == str(unknown.value) == "Wrong login or password"

    def test_an_unknown_login_hashes_as_much_as_a_known_one(self, uow_factory, clock, monkeypatch):
        """The same work whether or not the account exists: one scrypt verification each."""
        sign_up(uow_factory, clock)
        calls: list[str] = []
        verify = PasswordHasher.verify

        def counting(self, password, stored):
            calls.append(stored.split("$")[0])
            return verify(self, password, stored)

        monkeypatch.setattr(PasswordHasher, "verify", counting)
        for login in ("ada", "nobody"):
            with pytest.raises(Unauthenticated):
                sign_in(uow_factory, clock, login=login, password="wrong horse")
        assert calls == ["scrypt", "scrypt"]

    def test_failed_sign_ins_are_limited_per_account(self, uow_factory, clock):
        sign_up(uow_factory, clock)
        for _ in range(ACCOUNT_LIMIT.failures):
            with pytest.raises(Unauthenticated):
                sign_in(uow_factory, clock, password="wrong horse")
        with pytest.raises(TooManyAttempts) as limited:
            sign_in(uow_factory, clock)  # even the right password, until the window ends
        assert 0 < limited.value.retry_after <= ACCOUNT_LIMIT.window.total_seconds()
        clock.advance(ACCOUNT_LIMIT.window)
        assert sign_in(uow_factory, clock).token.user_id

    def test_a_success_forgets_the_accounts_failures(self, uow_factory, clock):
        sign_up(uow_factory, clock)
        for _ in range(ACCOUNT_LIMIT.failures - 1):
            with pytest.raises(Unauthenticated):
                sign_in(uow_factory, clock, password="wrong horse")
        sign_in(uow_factory, clock)
        for _ in range(ACCOUNT_LIMIT.failures - 1):
            with pytest.raises(Unauthenticated):
                sign_in(uow_factory, clock, password="wrong horse")
        sign_in(uow_factory, clock)

    def test_failed_sign_ins_are_limited_per_address_across_logins(self, uow_factory, clock):
        sign_up(uow_factory, clock)
        for i in range(ADDRESS_LIMIT.failures):
            with pytest.raises(Unauthenticated):
                sign_in(uow_factory, clock, login=f"guess{i}", address="203.0.113.9")
        with pytest.raises(TooManyAttempts):
            sign_in(uow_factory, clock, address="203.0.113.9")
        assert sign_in(uow_factory, clock, address="198.51.100.1").token  # another address is not held back

    def test_only_an_administrator_may_hold_the_admin_scope(self, uow_factory, clock):
        sign_up(uow_factory, clock)
        with pytest.raises(Forbidden, match="administrator"):
            sign_in(uow_factory, clock, scopes=["admin"])
        root = core.SignUp(display_name="Root", login="root", password="password root")
        core.create_account(uow_factory(), root, actor=core.SYSTEM, clock=clock, admin=True, passwords=FAST)
        issued = sign_in(uow_factory, clock, login="root", password="password root", scopes=["admin"])
        assert core.authenticate(uow_factory(), issued.secret, clock=clock).is_admin

    def test_creating_accounts_for_others_is_for_administrators(self, uow_factory, clock):
        command = core.SignUp(display_name="Eve", login="eve", password="password eve")
        with pytest.raises(Forbidden):
            core.create_account(uow_factory(), command, actor=Actor.student(1), clock=clock, passwords=FAST)

    def test_expired_and_revoked_tokens_are_refused_at_once(self, uow_factory, clock):
        ada = sign_up(uow_factory, clock)
        short = sign_in(uow_factory, clock, expires_in_days=1)
        kept = sign_in(uow_factory, clock)
        assert short.token.expires_at == short.token.created_at + timedelta(days=1)
        assert core.authenticate(uow_factory(), short.secret, clock=clock).user_id == ada.id
        clock.advance(timedelta(days=1))
        with pytest.raises(Unauthenticated, match="expired"):
            core.authenticate(uow_factory(), short.secret, clock=clock)
        owner = Actor.student(ada.id)
        core.revoke_token(uow_factory(), kept.token.id, actor=owner)
        with pytest.raises(Unauthenticated, match="revoked"):
            core.authenticate(uow_factory(), kept.secret, clock=clock)

    def test_a_malformed_secret_is_refused_without_a_look_up(self, uow_factory, clock):
        secret = new_secret()
        assert re.fullmatch(r"lum_[0-9A-Za-z]{38}", secret)
        assert well_formed_secret(secret)
        typo = secret[:10] + ("A" if secret[10] != "A" else "B") + secret[11:]
        assert not well_formed_secret(typo)  # the checksum catches it
        for bad in ("", "lum_", secret + "x", "ghp_" + secret[4:], typo):
            with pytest.raises(Unauthenticated, match="not a Luminary token"):
                core.authenticate(uow_factory(), bad, clock=clock)

    def test_last_use_is_written_at_most_once_a_minute(self, uow_factory, clock):
        ada = sign_up(uow_factory, clock)
        issued = sign_in(uow_factory, clock)
        assert issued.token.last_used_at is None
        core.authenticate(uow_factory(), issued.secret, clock=clock)
        (first,) = core.list_tokens(uow_factory(), ada.id, actor=Actor.student(ada.id))
        assert first.last_used_at is not None
        clock.advance(timedelta(seconds=30))
        core.authenticate(uow_factory(), issued.secret, clock=clock)
        (same,) = core.list_tokens(uow_factory(), ada.id, actor=Actor.student(ada.id))
        assert same.last_used_at == first.last_used_at
        clock.advance(timedelta(seconds=31))
        core.authenticate(uow_factory(), issued.secret, clock=clock)
        (later,) = core.list_tokens(uow_factory(), ada.id, actor=Actor.student(ada.id))
        assert later.last_used_at is not None
        assert later.last_used_at > first.last_used_at

    def test_a_student_lists_and_revokes_only_their_own_tokens(self, uow_factory, clock):
        ada = sign_up(uow_factory, clock)
        grace = sign_up(uow_factory, clock, login="grace")
        adas = sign_in(uow_factory, clock)
        as_grace = Actor.student(grace.id)
        with pytest.raises(NotFound):
            core.list_tokens(uow_factory(), ada.id, actor=as_grace)
        with pytest.raises(NotFound, match="Token not found"):
            core.revoke_token(uow_factory(), adas.token.id, actor=as_grace)
        assert core.authenticate(uow_factory(), adas.secret, clock=clock).user_id == ada.id
        with pytest.raises(Forbidden):  # listing is a read; revoking needs the account scope
            core.revoke_token(uow_factory(), adas.token.id, actor=Actor.student(ada.id, [Scope.READ]))

    @pytest.mark.parametrize("token_id", [0, -1, 2**63, 10**30])
    def test_a_token_id_beyond_any_store_is_not_found(self, uow_factory, token_id):
        with pytest.raises(NotFound, match="Token not found"):
            core.revoke_token(uow_factory(), token_id, actor=core.SYSTEM)

    def test_deleting_a_user_ends_their_tokens_and_frees_their_login(self, uow_factory, clock):
        ada = sign_up(uow_factory, clock)
        issued = sign_in(uow_factory, clock)
        core.delete_user(uow_factory(), ada.id, actor=Actor.student(ada.id))
        with pytest.raises(Unauthenticated):
            core.authenticate(uow_factory(), issued.secret, clock=clock)
        assert sign_up(uow_factory, clock).id != ada.id

    def test_changing_a_password_needs_the_current_one(self, uow_factory, clock):
        ada = sign_up(uow_factory, clock)
        as_ada = Actor.student(ada.id)
        wrong = core.ChangePassword(current_password="not it at all", new_password="a new password")
        with pytest.raises(ValidationFailed, match="current_password"):
            core.change_password(uow_factory(), wrong, actor=as_ada, clock=clock, passwords=FAST)
        right = core.ChangePassword(current_password="correct horse", new_password="a new password")
        core.change_password(uow_factory(), right, actor=as_ada, clock=clock, passwords=FAST)
        with pytest.raises(Unauthenticated):
            sign_in(uow_factory, clock)
        assert sign_in(uow_factory, clock, password="a new password").token.user_id == ada.id

    def test_guessing_the_current_password_counts_as_failed_sign_ins(self, uow_factory, clock):
        ada = sign_up(uow_factory, clock)
        wrong = core.ChangePassword(current_password="not it at all", new_password="a new password")
        for _ in range(ACCOUNT_LIMIT.failures):
            with pytest.raises(ValidationFailed):
                core.change_password(
                    uow_factory(), wrong, actor=Actor.student(ada.id), clock=clock, passwords=FAST
                )
        with pytest.raises(TooManyAttempts):
            core.change_password(
                uow_factory(), wrong, actor=Actor.student(ada.id), clock=clock, passwords=FAST
            )
        with pytest.raises(TooManyAttempts):
            sign_in(uow_factory, clock)

    def test_a_v1_user_is_claimed_once_by_an_administrator(self, uow_factory, clock):
        lin = core.create_user(uow_factory(), core.CreateUser("Lin"), actor=core.SYSTEM, clock=clock)
        claim = core.ClaimAccount(login="lin", password="password lin")
        with pytest.raises(Forbidden):
            core.claim_account(
                uow_factory(), lin.id, claim, actor=Actor.student(lin.id), clock=clock, passwords=FAST
            )
        core.claim_account(uow_factory(), lin.id, claim, actor=core.SYSTEM, clock=clock, passwords=FAST)
        assert sign_in(uow_factory, clock, login="lin", password="password lin").token.user_id == lin.id
        with pytest.raises(core.Conflict, match="already"):
            core.claim_account(uow_factory(), lin.id, claim, actor=core.SYSTEM, clock=clock, passwords=FAST)

    def test_a_student_reaches_only_their_own_private_data(self, uow_factory, clock):
        """The rule of luminary.core.access, use case by use case (HTTP repeats it in its matrix)."""
        uow, system = uow_factory, core.SYSTEM
        core.seed_constellations(uow(), actor=system, clock=clock)
        ada = core.create_user(uow(), core.CreateUser("Ada"), actor=system, clock=clock)
        grace = core.create_user(uow(), core.CreateUser("Grace"), actor=system, clock=clock)
        attempt = core.start_attempt(uow(), core.StartAttempt(ada.id, 1), actor=system, clock=clock)
        post = core.create_post(
            uow(),
            core.CreatePost(user_id=ada.id, constellation_id=1, post_type="progress"),
            actor=system,
            clock=clock,
        )
        as_grace = Actor.student(grace.id)
        before = [
            core.get_attempt(uow(), attempt.id, actor=system),
            core.get_user(uow(), ada.id, actor=system),
        ]
        with pytest.raises(NotFound, match="Constellation attempt not found!"):
            core.add_star(uow(), attempt.id, actor=as_grace, clock=clock)
        with pytest.raises(NotFound, match="User not found!"):
            core.get_user(uow(), ada.id, actor=as_grace)
        with pytest.raises(NotFound, match="User not found!"):
            core.start_attempt(uow(), core.StartAttempt(ada.id, 1), actor=as_grace, clock=clock)
        with pytest.raises(NotFound, match="Constellation attempt not found!"):
            core.create_session(
                uow(), core.CreateSession(constellation_attempt_id=attempt.id), actor=as_grace, clock=clock
            )
        with pytest.raises(Forbidden, match="your own posts"):
            core.delete_post(uow(), post.id, actor=as_grace)
        with pytest.raises(Forbidden, match="'admin'"):
            core.delete_constellation(uow(), 3, actor=as_grace)
        with pytest.raises(Forbidden, match="'admin'"):
            core.list_users(uow(), core.PageRequest(limit=10), actor=as_grace)
        # Reads of what is public, and lists cut to what is theirs.
        assert core.get_post(uow(), post.id, actor=as_grace) == post
        assert core.list_attempts(uow(), core.PageRequest(limit=10), actor=as_grace).items == []
        assert core.list_attempts(uow(), core.PageRequest(limit=10), actor=Actor.student(ada.id)).items == [
            attempt
        ]
        assert core.get_constellation_detail(uow(), 1, actor=as_grace).attempts == []
        assert before == [
            core.get_attempt(uow(), attempt.id, actor=system),
            core.get_user(uow(), ada.id, actor=system),
        ]
