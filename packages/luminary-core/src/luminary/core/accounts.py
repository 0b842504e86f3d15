"""Accounts: credentials, tokens and the limit on failed sign-ins.

A user may hold :class:`Credentials`: a login name and a password hash. With
them they create :class:`Token` s, each with a name, :class:`~luminary.core.access.Scope` s
and an optional expiry; a request presents a token's secret, never the password.

Passwords are hashed with **scrypt** (RFC 7914, in Python's standard library),
a memory-hard function, with OWASP's parameters for it: N=2^15 (32 MiB), r=8,
p=3. Each hash records its parameters (``scrypt$32768$8$3$salt$hash``), so
they can be raised later and old hashes still verify; scrypt keeps
``luminary.core`` free of compiled dependencies.

A token's secret is ``lum_`` followed by 32 random base62 characters (190
bits) and a 6-character checksum, so that secret scanners can recognise a
leaked one (``lum_[0-9A-Za-z]{38}``) and a mistyped one is refused without a
look-up. Only its SHA-256 digest is stored: the secret is random and long, so a
fast hash is enough, and a request's look-up costs one indexed read.

Failed sign-ins are counted per account and per client address in fixed
windows (:class:`LoginFailures`), in the store, so that every process serving
the same database shares the count.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import zlib
from datetime import datetime, timedelta

import attrs

from .access import Scope

__all__ = [
    "ADDRESS_LIMIT",
    "ACCOUNT_LIMIT",
    "TOKEN_PREFIX",
    "Credentials",
    "LoginFailures",
    "LoginLimit",
    "PasswordHasher",
    "Token",
    "new_secret",
    "secret_digest",
    "well_formed_secret",
]

#: What every token secret starts with.
TOKEN_PREFIX = "lum_"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_RANDOM_CHARS = 32
_CHECK_CHARS = 6


@attrs.frozen(kw_only=True)
class Credentials:
    """How a user signs in.

    Attributes:
        user_id: Whose they are (a user holds at most one set).
        login: The login name, in lower case: logins are compared without regard to case.
        password_hash: The password, hashed by :class:`PasswordHasher`.
        updated_at: When the password was last set.
        is_admin: An administrator, who may hold tokens with the ``admin`` scope.
    """

    user_id: int
    login: str
    password_hash: str = attrs.field(repr=False)
    updated_at: datetime
    is_admin: bool = False


@attrs.frozen(kw_only=True)
class Token:
    """A named, scoped credential for requests.

    Attributes:
        id: Identifier assigned by the repository (0 until stored).
        user_id: Whose requests it authenticates.
        name: What its owner calls it ("iPhone", "grading script").
        scopes: What it lets its holder do.
        digest: SHA-256 of its secret, in hex (:func:`secret_digest`).
        created_at: When it was created.
        expires_at: When it stops working, or ``None`` for never.
        last_used_at: When it last authenticated a request (to the minute), or ``None``.
    """

    id: int = 0
    user_id: int
    name: str
    scopes: frozenset[Scope]
    digest: str
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        """Whether the token no longer works at ``now``."""
        return self.expires_at is not None and now >= self.expires_at


@attrs.frozen(kw_only=True)
class LoginFailures:
    """Failed sign-ins counted under one key, in one window.

    Attributes:
        key: ``"login:<login>"`` or ``"address:<client address>"``.
        count: Failures since ``window_start``.
        window_start: When the first of them happened.
    """

    key: str
    count: int
    window_start: datetime


@attrs.frozen
class LoginLimit:
    """At most ``failures`` failed sign-ins per ``window`` under one key.

    Attributes:
        failures: Failures allowed in a window; the next sign-in is refused.
        window: How long a window lasts from its first failure.
    """

    failures: int
    window: timedelta

    def retry_after(self, seen: LoginFailures | None, now: datetime) -> int | None:
        """Seconds to wait before another sign-in, or ``None`` if one may be tried now."""
        if seen is None or now >= seen.window_start + self.window or seen.count < self.failures:
            return None
        left = seen.window_start + self.window - now
        return max(1, int(-(-left.total_seconds() // 1)))


#: Failed sign-ins allowed per account: 5 in 15 minutes.
ACCOUNT_LIMIT = LoginLimit(5, timedelta(minutes=15))
#: Failed sign-ins allowed per client address: 20 in 15 minutes.
ADDRESS_LIMIT = LoginLimit(20, timedelta(minutes=15))


@attrs.frozen
class PasswordHasher:
    """Hashes passwords with scrypt and checks them against a stored hash.

    The defaults are OWASP's (N=2^15, r=8, p=3: 32 MiB and about 0.1–0.2 s a
    hash); a hash made with other parameters still verifies.

    Attributes:
        n: CPU and memory cost, a power of 2.
        r: Block size.
        p: Parallelism.
    """

    n: int = 2**15
    r: int = 8
    p: int = 3

    def hash(self, password: str) -> str:
        """The stored form of ``password``: ``scrypt$n$r$p$salt$hash``, salt and hash in base64."""
        salt = secrets.token_bytes(16)
        derived = self._derive(password, salt, self.n, self.r, self.p)
        return "$".join(["scrypt", str(self.n), str(self.r), str(self.p), _b64(salt), _b64(derived)])

    def verify(self, password: str, stored: str) -> bool:
        """Whether ``password`` is the one ``stored`` was made from (in constant time)."""
        try:
            scheme, n, r, p, salt, expected = stored.split("$")
            if scheme != "scrypt":
                return False
            derived = self._derive(password, _unb64(salt), int(n), int(r), int(p))
        except (ValueError, TypeError):
            return False
        return hmac.compare_digest(derived, _unb64(expected))

    def needs_rehash(self, stored: str) -> bool:
        """Whether ``stored`` was made with other parameters than this hasher's."""
        return not stored.startswith(f"scrypt${self.n}${self.r}${self.p}$")

    @staticmethod
    def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
        memory = 128 * r * (n + p + 2)
        return hashlib.scrypt(
            password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=memory + 1024 * 1024, dklen=32
        )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), _CHECK_CHARS)


def new_secret() -> str:
    """A fresh token secret: ``lum_``, 32 random base62 characters, a 6-character checksum."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_CHARS))
    return f"{TOKEN_PREFIX}{body}{_checksum(body)}"


def well_formed_secret(secret: str) -> bool:
    """Whether ``secret`` has the shape of a token secret and its checksum holds."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) != len(TOKEN_PREFIX) + _RANDOM_CHARS + _CHECK_CHARS:
        return False
    rest = secret[len(TOKEN_PREFIX) :]
    if any(c not in _ALPHABET for c in rest):
        return False
    body, check = rest[:_RANDOM_CHARS], rest[_RANDOM_CHARS:]
    return hmac.compare_digest(_checksum(body), check)


def secret_digest(secret: str) -> str:
    """What is stored of a secret: its SHA-256, in hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
