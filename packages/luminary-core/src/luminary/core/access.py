"""Who is acting, and what they may do: the one policy every use case applies.

Every use case takes an :class:`Actor`: a student holding a token with some
:class:`Scope` s, or :data:`SYSTEM` (the ``luminary`` command, an app that
embeds core, API v1 in its ``open`` mode). The use case asks this module before
it changes or returns anything, so the rules hold whichever API, or none, is in
front of it.

What a student may do::

    the constellation catalogue   read: anyone with ``read``    change: ``admin``
    posts (the social feed)       read: anyone with ``read``    create, delete: their own, ``social``
    attempts, sessions            read: their own, ``read``     change: their own, ``study``
    their account                 read: their own, ``read``     change: their own, ``account``
    any user's data, sync-minutes ``admin``

``admin`` holds every other scope, for any user. :data:`SYSTEM` holds them all.

Refusals follow one rule:

* what a student may not **see** — another student's account, attempts or
  sessions, or another student named as the owner of something new — is
  :class:`~luminary.core.errors.NotFound`, word for word what a missing object
  gets, so that nobody learns what exists of someone else's;
* what they may see but not **do** — the catalogue without ``admin``, another
  student's post, an operation their token has no scope for — is
  :class:`~luminary.core.errors.Forbidden`.

The scope is checked first: a token without the scope an operation needs is
refused before anything is looked up.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import attrs

from .errors import Forbidden, NotFound

__all__ = [
    "ALL_SCOPES",
    "ANONYMOUS",
    "SYSTEM",
    "Actor",
    "Scope",
    "change",
    "require",
    "see",
    "visible",
]


class Scope(enum.StrEnum):
    """What a token lets its holder do."""

    #: Read their own data and everything public.
    READ = "read"
    #: Start attempts, add stars, log and change study sessions.
    STUDY = "study"
    #: Share and delete their own posts.
    SOCIAL = "social"
    #: Rename themselves, change their password, revoke their tokens, delete their account.
    ACCOUNT = "account"
    #: The constellation catalogue, ``sync-minutes``, and any user's data; includes every other scope.
    ADMIN = "admin"


#: Every scope.
ALL_SCOPES = frozenset(Scope)


def _scopes(value: Iterable[Scope]) -> frozenset[Scope]:
    return frozenset(value)


@attrs.frozen
class Actor:
    """Who a use case acts for.

    Attributes:
        user_id: The student, or ``None`` for the system.
        scopes: What they may do.
        token_id: The token they presented, if any.
    """

    user_id: int | None
    scopes: frozenset[Scope] = attrs.field(converter=_scopes)
    token_id: int | None = None

    @classmethod
    def student(cls, user_id: int, scopes: Iterable[Scope] = ALL_SCOPES - {Scope.ADMIN}) -> Actor:
        """A student acting with ``scopes`` (by default all but ``admin``)."""
        return cls(user_id, frozenset(scopes))

    @property
    def is_admin(self) -> bool:
        """Whether they may act on anyone's data."""
        return Scope.ADMIN in self.scopes

    def has(self, scope: Scope) -> bool:
        """Whether they hold ``scope`` (``admin`` holds them all)."""
        return scope in self.scopes or self.is_admin

    def owns(self, owner_id: int | None) -> bool:
        """Whether something owned by ``owner_id`` is theirs."""
        return owner_id is not None and owner_id == self.user_id


#: The system itself: the ``luminary`` command, an embedding app, API v1 served ``open``.
SYSTEM = Actor(None, ALL_SCOPES)
#: Nobody in particular: a request without a token, which may only sign up or sign in.
ANONYMOUS = Actor(None, frozenset())


def require(actor: Actor, scope: Scope) -> None:
    """Refuse unless ``actor`` holds ``scope``.

    Raises:
        Forbidden: They do not.
    """
    if not actor.has(scope):
        raise Forbidden(f"This needs the {scope.value!r} scope, which the token does not have")


def visible(actor: Actor, owner_id: int | None) -> bool:
    """Whether ``actor`` may see private data owned by ``owner_id`` (``None``: owned by nobody)."""
    return actor.is_admin or actor.owns(owner_id)


def see(actor: Actor, owner_id: int | None, entity: str, id: int) -> None:
    """Refuse, as if it did not exist, what ``actor`` may not see.

    Args:
        actor: Who asks.
        owner_id: Whose it is.
        entity: What it is, in words, as :class:`~luminary.core.errors.NotFound` names it.
        id: Its id.

    Raises:
        NotFound: It is someone else's.
    """
    if not visible(actor, owner_id):
        raise NotFound(entity, id)


def change(actor: Actor, owner_id: int, what: str) -> None:
    """Refuse a change to something public (a post) that is not ``actor``'s.

    Raises:
        Forbidden: It is someone else's and they are not an admin.
    """
    if not visible(actor, owner_id):
        raise Forbidden(f"You may only change your own {what}")
