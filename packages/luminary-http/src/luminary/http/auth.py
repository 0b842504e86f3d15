"""Who a request acts for: bearer tokens, and the three ways API v1 may be served.

A token travels as ``Authorization: Bearer lum_…``. :class:`Authenticator`
turns it into a :class:`~luminary.core.access.Actor` with
:func:`luminary.core.authenticate`, which reads the store on every request:
a revoked or expired token is refused on the next request in every process.
What the actor may then do is core's decision, not this module's.

API v1 is served in one of three :class:`V1Mode` s: ``open`` (no token, as the
published iOS app expects: requests act as the system), ``token`` (v1 and
``/api/sessions`` need a token exactly like v2), or ``off`` (not served).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import timedelta

import attrs
import falcon

from luminary import core
from luminary.core import Actor, Clock, PasswordHasher, UnitOfWork


class V1Mode(enum.StrEnum):
    """How API v1 (``/api/…``, ``/api/v1/…``, ``/api/sessions``) is served."""

    #: No token: every request acts as the system, as the published iOS app expects.
    OPEN = "open"
    #: A bearer token, exactly as v2 asks.
    TOKEN = "token"
    #: Not served: every v1 path is 404.
    OFF = "off"


class Authenticator:
    """Finds the actor of a request from its bearer token."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork], clock: Clock) -> None:
        self.uow_factory = uow_factory
        self.clock = clock

    def actor(self, req: falcon.Request) -> Actor:
        """The actor whose token the request presents.

        Raises:
            Unauthenticated: No token, a malformed header, or a token that is
                unknown, expired or revoked.
        """
        header = req.get_header("Authorization")
        if not header:
            raise core.Unauthenticated("This needs a token: send Authorization: Bearer <token>")
        scheme, _, secret = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise core.Unauthenticated("The Authorization header must be: Bearer <token>")
        return core.authenticate(self.uow_factory(), secret.strip(), clock=self.clock)


@attrs.frozen
class Services:
    """What every resource is built with.

    Attributes:
        uow_factory: Makes a unit of work per use-case call.
        clock: The time source of every write.
        auth: Finds who a request acts for.
        passwords: Hashes and checks passwords.
        v1_mode: How API v1 is served.
        timer_cap: How long a session's timer may run before it stops itself.
    """

    uow_factory: Callable[[], UnitOfWork]
    clock: Clock
    auth: Authenticator
    passwords: PasswordHasher
    v1_mode: V1Mode = V1Mode.OPEN
    timer_cap: timedelta = core.DEFAULT_TIMER_CAP

    def v1_actor(self, req: falcon.Request) -> Actor:
        """Who a v1 request acts for: the system when v1 is open, else the token's holder."""
        if self.v1_mode is V1Mode.OPEN:
            return core.SYSTEM
        return self.auth.actor(req)


def client_address(req: falcon.Request) -> str | None:
    """The client's address, which failed sign-ins are also counted by."""
    return req.remote_addr or None
