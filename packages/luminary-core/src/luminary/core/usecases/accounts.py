"""Use cases on accounts: signing up, claiming a user, passwords, tokens, and who a token is.

Hashing a password takes a tenth of a second on purpose; it runs outside any
transaction, so that a sign-in never holds a store's write lock while it hashes.
A sign-in with an unknown login hashes too, and records its failure the same
way, so that it takes as long as one with a known login and a wrong password.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

import attrs

from ..access import Actor, Scope, require, see
from ..accounts import (
    ACCOUNT_LIMIT,
    ADDRESS_LIMIT,
    Credentials,
    PasswordHasher,
    Token,
    new_secret,
    secret_digest,
    well_formed_secret,
)
from ..clock import Clock
from ..commands import ChangePassword, ClaimAccount, CreateToken, SignUp
from ..entities import User
from ..errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    TooManyAttempts,
    Unauthenticated,
    ValidationFailed,
)
from ..ports import UnitOfWork
from ..validation import LIFETIME_DAYS, LOGIN, SCOPES, TOKEN_NAME
from ._loading import load_user, lookup_id

__all__ = [
    "Account",
    "IssuedToken",
    "authenticate",
    "change_password",
    "claim_account",
    "create_account",
    "create_token",
    "get_account",
    "issue_token",
    "list_tokens",
    "revoke_token",
    "sign_up",
]

#: A token's ``last_used_at`` is written at most once a minute, so that reads stay reads.
LAST_USED_PRECISION = timedelta(minutes=1)

T = TypeVar("T")

_DEFAULT_HASHER = PasswordHasher()
_WRONG = "Wrong login or password"


@attrs.frozen
class Account:
    """A user as they see themselves.

    Attributes:
        user: The user.
        login: Their login, or ``None`` if they have no credentials.
        is_admin: Whether they are an administrator.
        scopes: What the token they act with may do.
    """

    user: User
    login: str | None
    is_admin: bool
    scopes: frozenset[Scope]


@attrs.frozen
class IssuedToken:
    """A new token and its secret, which is shown this once and never stored.

    Attributes:
        token: The stored token.
        secret: What requests present (``Authorization: Bearer <secret>``).
    """

    token: Token
    secret: str = attrs.field(repr=False)


def sign_up(
    uow: UnitOfWork, command: SignUp, *, clock: Clock, passwords: PasswordHasher = _DEFAULT_HASHER
) -> User:
    """Create a student who can sign in; anyone may.

    Raises:
        Conflict: The login is taken.
    """
    return _create_account(uow, command, clock=clock, passwords=passwords, admin=False)


def create_account(
    uow: UnitOfWork,
    command: SignUp,
    *,
    actor: Actor,
    clock: Clock,
    admin: bool = False,
    passwords: PasswordHasher = _DEFAULT_HASHER,
) -> User:
    """Create a user who can sign in, an administrator if ``admin``; for administrators and the system.

    Raises:
        Forbidden: ``actor`` is not an administrator.
        Conflict: The login is taken.
    """
    require(actor, Scope.ADMIN)
    return _create_account(uow, command, clock=clock, passwords=passwords, admin=admin)


def _create_account(
    uow: UnitOfWork, command: SignUp, *, clock: Clock, passwords: PasswordHasher, admin: bool
) -> User:
    hashed = passwords.hash(command.password)
    with uow:
        _check_login_free(uow, command.login)
        now = clock.now()
        user = uow.users.add(User(display_name=command.display_name, created_at=now))
        uow.credentials.add(
            Credentials(
                user_id=user.id, login=command.login, password_hash=hashed, updated_at=now, is_admin=admin
            )
        )
        uow.commit()
    return user


def _check_login_free(uow: UnitOfWork, login: str) -> None:
    if uow.credentials.get_by_login(login) is not None:
        raise Conflict(f"The login {login!r} is taken")


def claim_account(
    uow: UnitOfWork,
    user_id: int,
    command: ClaimAccount,
    *,
    actor: Actor,
    clock: Clock,
    passwords: PasswordHasher = _DEFAULT_HASHER,
) -> Credentials:
    """Give a user without credentials (one made through API v1) a login and a password.

    For administrators and the system: the operator's command, API v2 with an
    ``admin`` token, or API v1 served ``open`` (where anyone may already act as
    any v1 user).

    Raises:
        Forbidden: ``actor`` is not an administrator.
        NotFound: No such user.
        Conflict: The user has credentials already, or the login is taken.
    """
    require(actor, Scope.ADMIN)
    hashed = passwords.hash(command.password)
    with uow:
        user = load_user(uow, user_id, for_update=True)
        if uow.credentials.get(user.id) is not None:
            raise Conflict("This user has a login already")
        _check_login_free(uow, command.login)
        credentials = Credentials(
            user_id=user.id, login=command.login, password_hash=hashed, updated_at=clock.now()
        )
        uow.credentials.add(credentials)
        uow.commit()
    return credentials


def get_account(uow: UnitOfWork, *, actor: Actor) -> Account:
    """Return the acting user, their login and the scopes they act with.

    Raises:
        Forbidden: The token lacks ``read``.
        NotFound: ``actor`` is the system, or their user is gone.
    """
    require(actor, Scope.READ)
    with uow.reading():
        user = load_user(uow, _own_user(actor))
        credentials = uow.credentials.get(user.id)
    login = None if credentials is None else credentials.login
    return Account(user, login, credentials is not None and credentials.is_admin, actor.scopes)


def change_password(
    uow: UnitOfWork,
    command: ChangePassword,
    *,
    actor: Actor,
    clock: Clock,
    passwords: PasswordHasher = _DEFAULT_HASHER,
) -> None:
    """Replace the acting user's password; their tokens keep working (revoke them to end them).

    A wrong ``current_password`` counts as a failed sign-in of the account.

    Raises:
        Forbidden: The token lacks ``account``.
        NotFound: The acting user has no credentials.
        TooManyAttempts: Too many failed sign-ins of the account lately.
        ValidationFailed: ``current_password`` is wrong.
    """
    require(actor, Scope.ACCOUNT)
    user_id = _own_user(actor)
    now = clock.now()
    with uow.reading():
        credentials = uow.credentials.get(user_id)
        key = None if credentials is None else f"login:{credentials.login}"
        seen = None if key is None else uow.login_failures.get(key)
    if credentials is None or key is None:
        raise NotFound("Account", user_id)
    # A wrong current password counts as a failed sign-in: a token cannot be used to guess the password.
    wait = ACCOUNT_LIMIT.retry_after(seen, now)
    if wait is not None:
        raise TooManyAttempts(wait)
    if not passwords.verify(command.current_password, credentials.password_hash):
        with uow:
            uow.login_failures.add_failure(key, now, ACCOUNT_LIMIT.window)
            uow.commit()
        raise ValidationFailed.field("current_password", "is not the password in force")
    hashed = passwords.hash(command.new_password)
    with uow:
        current = uow.credentials.get(user_id)
        if current is None:
            raise NotFound("Account", user_id)
        uow.credentials.update(attrs.evolve(current, password_hash=hashed, updated_at=clock.now()))
        uow.commit()


def create_token(
    uow: UnitOfWork,
    command: CreateToken,
    *,
    clock: Clock,
    address: str | None = None,
    passwords: PasswordHasher = _DEFAULT_HASHER,
) -> IssuedToken:
    """Sign in with a login and a password, and create a token; anyone may try.

    Failed sign-ins are counted per account and per ``address`` (the client's,
    if known): past :data:`~luminary.core.accounts.ACCOUNT_LIMIT` or
    :data:`~luminary.core.accounts.ADDRESS_LIMIT` in a window, sign-ins are
    refused, rightly or wrongly signed, until the window ends.

    Raises:
        TooManyAttempts: Too many failures for this account or address.
        Unauthenticated: Wrong login or password (the same answer for either).
        Forbidden: ``admin`` asked for by someone who is not an administrator.
    """
    keys = [(f"login:{command.login}", ACCOUNT_LIMIT)]
    if address:
        keys.append((f"address:{address[:200]}", ADDRESS_LIMIT))
    now = clock.now()
    with uow.reading():
        waits = [limit.retry_after(uow.login_failures.get(key), now) for key, limit in keys]
        credentials = uow.credentials.get_by_login(command.login)
    blocked = [w for w in waits if w is not None]
    if blocked:
        raise TooManyAttempts(max(blocked))
    # The stand-in hash is made on the first sign-in of a process, known login or not.
    dummy = _dummy_hash(passwords)
    stored = dummy if credentials is None else credentials.password_hash
    right = passwords.verify(command.password, stored) and credentials is not None
    with uow:
        if not right or credentials is None:
            for key, limit in keys:
                uow.login_failures.add_failure(key, now, limit.window)
            uow.commit()
            raise Unauthenticated(_WRONG)
        uow.login_failures.delete(keys[0][0])
        issued = _add_token(uow, credentials, command.name, command.scopes, command.expires_in_days, now)
        uow.commit()
    return issued


def issue_token(
    uow: UnitOfWork,
    login: str,
    *,
    name: str,
    scopes: object,
    expires_in_days: int | None = None,
    actor: Actor,
    clock: Clock,
) -> IssuedToken:
    """Create a token for the account with ``login`` without its password; for the system and administrators.

    This is how an operator gives the first administrator a token.

    Raises:
        Forbidden: ``actor`` is not an administrator, or ``admin`` is asked
            for an account that is not an administrator's.
        NotFound: No account has that login.
        ValidationFailed: A malformed name, scope list or lifetime.
    """
    require(actor, Scope.ADMIN)
    errors: list[FieldError] = []
    key = _checked(LOGIN, login, "login", errors)
    token_name = _checked(TOKEN_NAME, name, "name", errors)
    token_scopes = _checked(SCOPES, scopes, "scopes", errors)
    if expires_in_days is not None:
        _checked(LIFETIME_DAYS, expires_in_days, "expires_in_days", errors)
    if errors or key is None or token_name is None or token_scopes is None:
        raise ValidationFailed(errors)
    with uow:
        credentials = uow.credentials.get_by_login(key)
        if credentials is None:
            raise NotFound("Account", message=f"No account has the login {key!r}")
        issued = _add_token(uow, credentials, token_name, token_scopes, expires_in_days, clock.now())
        uow.commit()
    return issued


def _checked(
    rule: Callable[[object, str], T], value: object, field: str, errors: list[FieldError]
) -> T | None:
    try:
        return rule(value, field)
    except ValidationFailed as exc:
        errors += exc.errors
        return None


def _add_token(
    uow: UnitOfWork,
    credentials: Credentials,
    name: str,
    scopes: frozenset[Scope],
    expires_in_days: int | None,
    now: datetime,
) -> IssuedToken:
    if Scope.ADMIN in scopes and not credentials.is_admin:
        raise Forbidden("Only an administrator may hold the 'admin' scope")
    secret = new_secret()
    expires = None if expires_in_days is None else now + timedelta(days=expires_in_days)
    token = uow.tokens.add(
        Token(
            user_id=credentials.user_id,
            name=name,
            scopes=scopes,
            digest=secret_digest(secret),
            created_at=now,
            expires_at=expires,
        )
    )
    return IssuedToken(token, secret)


_dummies: dict[PasswordHasher, str] = {}


def _dummy_hash(passwords: PasswordHasher) -> str:
    # A real hash of nothing anyone knows, made with the same parameters, for unknown logins.
    if passwords not in _dummies:
        _dummies[passwords] = passwords.hash(new_secret())
    return _dummies[passwords]


def authenticate(uow: UnitOfWork, secret: str, *, clock: Clock) -> Actor:
    """Return who presents the token ``secret``, checked against the store on every call.

    A revoked (deleted) or expired token is refused on the very next request,
    in every process sharing the store: nothing is cached. ``last_used_at`` is
    written at most once a minute.

    Raises:
        Unauthenticated: The secret is malformed, unknown, expired or revoked.
    """
    if not well_formed_secret(secret):
        raise Unauthenticated("The token is not a Luminary token")
    now = clock.now()
    with uow.reading():
        token = uow.tokens.get_by_digest(secret_digest(secret))
    if token is None or token.expired(now):
        raise Unauthenticated("The token is unknown, expired or revoked")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        with uow:
            uow.tokens.touch(token.id, now)
            uow.commit()
    return Actor(token.user_id, token.scopes, token.id)


def list_tokens(uow: UnitOfWork, user_id: int, *, actor: Actor) -> list[Token]:
    """Return the user's tokens (never their secrets), by id.

    Raises:
        Forbidden: The token lacks ``read``.
        NotFound: No such user, or someone else's.
    """
    require(actor, Scope.READ)
    with uow.reading():
        user = load_user(uow, user_id, actor=actor)
        return list(uow.tokens.list_by_user(user.id))


def revoke_token(uow: UnitOfWork, token_id: object, *, actor: Actor) -> Token:
    """Remove a token; the next request presenting it is refused.

    Raises:
        Forbidden: The token acting lacks ``account``.
        NotFound: No such token, or someone else's.
    """
    require(actor, Scope.ACCOUNT)
    tid = lookup_id(token_id, "token_id")
    with uow:
        token = uow.tokens.get(tid)
        if token is None:
            raise NotFound("Token", tid)
        see(actor, token.user_id, "Token", tid)
        uow.tokens.delete(token.id)
        uow.commit()
    return token


def _own_user(actor: Actor) -> int:
    if actor.user_id is None:
        raise NotFound("User", message="The system is not a user")
    return actor.user_id
