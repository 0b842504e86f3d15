"""What the use cases need from storage: repository and unit-of-work protocols.

Luminary ships two implementations: the in-memory one in
:mod:`luminary.core.memory`, and the SQL one in the ``luminary-sql`` package. One
behavioural test suite runs against both.

Contracts every implementation keeps:

* ``add`` assigns the id and returns the stored entity; ``update`` replaces the
  stored entity with the same id; ``delete*`` of something absent does nothing.
* ``get(..., for_update=True)`` locks the row until the unit of work ends, so a
  read-modify-write of a counter cannot lose a concurrent update. Use cases lock
  in one order — session, attempt, user, constellation — and delete children
  before parents, so that two transactions never wait for each other in a circle.
* ``ConstellationRepository.get(..., for_share=True)`` holds the row unchanged
  until the unit of work ends: a ``for_update`` of it waits for this transaction
  to end, and this read waits for a ``for_update`` already held; ``for_share``
  readers do not wait for each other. A rule "X may change only while nothing
  refers to it" holds under concurrency when the writer of X locks it
  ``for_update`` *before* looking for referrers, and whoever adds a referrer
  first reads X ``for_share``: the second of the two waits for the first to end,
  then sees what it did (a new referrer, or the new X). This is how a
  constellation's weight changes only while no attempt at it exists.
* A list method taking a :class:`~luminary.core.pagination.PageRequest` returns
  at most ``page.limit`` items in its documented order, starting after
  ``page.after`` or, without a cursor, after ``page.offset`` items.
* Methods taking many ids (``get_many``, ``list_by_users`` …) cost one query
  whatever the number of ids or rows, so that use cases stay free of N+1 queries.
* :class:`Views` is the read model: API v1's documents, read as plain values
  without building entities. :class:`luminary.core.documents.EntityViews`
  implements it over the repositories for any store; a store may answer it
  more directly (``luminary-sql`` selects only the columns the documents show).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Any, Protocol

from .accounts import Credentials, LoginFailures, Token
from .entities import Attempt, Constellation, DayTotal, Goal, Post, Session, SessionStatus, User
from .pagination import PageRequest

__all__ = [
    "AttemptRepository",
    "ConstellationRepository",
    "CredentialRepository",
    "GoalRepository",
    "LoginFailureRepository",
    "PostRepository",
    "SessionRepository",
    "TokenRepository",
    "Document",
    "UnitOfWork",
    "UserRepository",
    "Views",
]

#: A document of the read model: a JSON object of ints, text, booleans, ``None``,
#: aware datetimes (written as ISO-8601), and nested documents and lists of them.
Document = dict[str, Any]


class UserRepository(Protocol):
    """Stored users."""

    def add(self, user: User) -> User:
        """Store a new user and return it with its id."""
        ...

    def get(self, user_id: int, *, for_update: bool = False) -> User | None:
        """Return the user, or ``None``; lock it when ``for_update``."""
        ...

    def get_many(self, user_ids: Collection[int]) -> dict[int, User]:
        """Return the users that exist among ``user_ids``, by id."""
        ...

    def list_page(self, page: PageRequest) -> Sequence[User]:
        """Return users by id, ascending."""
        ...

    def update(self, user: User) -> None:
        """Replace the stored user with the same id."""
        ...

    def delete(self, user_id: int) -> None:
        """Remove the user (its attempts, sessions and posts must be gone first)."""
        ...

    def total_minutes(self) -> dict[int, int]:
        """Return every user's stored ``total_minutes``, by id."""
        ...


class ConstellationRepository(Protocol):
    """Stored constellations."""

    def add(self, constellation: Constellation) -> Constellation:
        """Store a new constellation and return it with its id."""
        ...

    def get(
        self, constellation_id: int, *, for_update: bool = False, for_share: bool = False
    ) -> Constellation | None:
        """Return the constellation, or ``None``.

        With ``for_update``, lock it as it is about to change; with
        ``for_share``, keep it from changing (``for_update`` wins when both are
        given). See the module's contracts.
        """
        ...

    def get_many(self, constellation_ids: Collection[int]) -> dict[int, Constellation]:
        """Return the constellations that exist among the ids, by id."""
        ...

    def list_page(self, page: PageRequest) -> Sequence[Constellation]:
        """Return constellations by id, ascending."""
        ...

    def update(self, constellation: Constellation) -> None:
        """Replace the stored constellation with the same id."""
        ...

    def delete(self, constellation_id: int) -> None:
        """Remove the constellation (nothing may refer to it any more)."""
        ...

    def count(self) -> int:
        """Return how many constellations are stored."""
        ...


class AttemptRepository(Protocol):
    """Stored constellation attempts."""

    def add(self, attempt: Attempt) -> Attempt:
        """Store a new attempt and return it with its id."""
        ...

    def get(self, attempt_id: int, *, for_update: bool = False) -> Attempt | None:
        """Return the attempt, or ``None``; lock it when ``for_update``."""
        ...

    def get_many(self, attempt_ids: Collection[int]) -> dict[int, Attempt]:
        """Return the attempts that exist among the ids, by id."""
        ...

    def list_page(
        self, page: PageRequest, *, user_id: int | None = None, constellation_id: int | None = None
    ) -> Sequence[Attempt]:
        """Return attempts by id, ascending; only ``user_id``'s, or at ``constellation_id``, when given."""
        ...

    def list_by_users(self, user_ids: Collection[int]) -> Sequence[Attempt]:
        """Return every attempt of these users, by id."""
        ...

    def list_by_constellations(self, constellation_ids: Collection[int]) -> Sequence[Attempt]:
        """Return every attempt at these constellations, by id."""
        ...

    def update(self, attempt: Attempt) -> None:
        """Replace the stored attempt with the same id."""
        ...

    def delete(self, attempt_id: int) -> None:
        """Remove the attempt (its sessions must be gone first)."""
        ...

    def delete_by_user(self, user_id: int) -> None:
        """Remove every attempt of the user (their sessions must be gone first)."""
        ...

    def exists_for_constellation(self, constellation_id: int) -> bool:
        """Whether any attempt refers to the constellation."""
        ...


class SessionRepository(Protocol):
    """Stored sessions (study and learning sessions alike)."""

    def add(self, session: Session) -> Session:
        """Store a new session and return it with its id."""
        ...

    def get(self, session_id: int, *, for_update: bool = False) -> Session | None:
        """Return the session, or ``None``; lock it when ``for_update``."""
        ...

    def list_page(
        self,
        page: PageRequest,
        *,
        user_id: int | None = None,
        attempt_id: int | None = None,
    ) -> Sequence[Session]:
        """Return sessions newest first (``created_at`` then id, descending).

        Only ``user_id``'s, or only ``attempt_id``'s, when given.
        """
        ...

    def list_by_users(self, user_ids: Collection[int]) -> Sequence[Session]:
        """Return every session of these users, newest first."""
        ...

    def list_by_attempts(self, attempt_ids: Collection[int]) -> Sequence[Session]:
        """Return every session of these attempts, newest first."""
        ...

    def update(self, session: Session) -> None:
        """Replace the stored session with the same id."""
        ...

    def delete(self, session_id: int) -> None:
        """Remove the session."""
        ...

    def delete_by_attempt(self, attempt_id: int) -> Sequence[Session]:
        """Remove every session of the attempt and return them as they were.

        The sessions returned are their last committed state: a concurrent
        transaction completing one of them is waited for.
        """
        ...

    def delete_by_user(self, user_id: int) -> None:
        """Remove every session of the user."""
        ...

    def active_timer(self, user_id: int) -> Session | None:
        """Return the user's session whose timer runs or is paused (in progress and timed), if any.

        Use cases keep at most one per user (they lock the user to start one).
        """
        ...

    def minutes_by_day(
        self, user_id: int, first: date | None, last: date | None, *, constellation_id: int | None = None
    ) -> Sequence[DayTotal]:
        """Return the user's completed minutes and sessions per study day, by day, in one query.

        Only days with completed sessions appear; ``first`` and ``last`` bound the
        days (inclusive) when given; with ``constellation_id``, only sessions of
        attempts at that constellation count. Sessions without minutes count 0.
        """
        ...

    def minutes_by_user(self, statuses: Collection[SessionStatus]) -> dict[int, int]:
        """Return, for each user with sessions in one of ``statuses``, the sum of their minutes.

        Sessions without a user or without minutes add nothing. Core passes
        :data:`~luminary.core.rules.COUNTED_STATUSES`: which sessions count is
        decided there, not here.
        """
        ...


class PostRepository(Protocol):
    """Stored posts."""

    def add(self, post: Post) -> Post:
        """Store a new post and return it with its id."""
        ...

    def get(self, post_id: int) -> Post | None:
        """Return the post, or ``None``."""
        ...

    def list_page(
        self,
        page: PageRequest,
        *,
        user_id: int | None = None,
        constellation_id: int | None = None,
    ) -> Sequence[Post]:
        """Return posts newest first (``created_at`` then id, descending).

        Only ``user_id``'s, or only those about ``constellation_id``, when given.
        """
        ...

    def list_by_users(self, user_ids: Collection[int]) -> Sequence[Post]:
        """Return every post of these users, newest first."""
        ...

    def list_by_constellations(self, constellation_ids: Collection[int]) -> Sequence[Post]:
        """Return every post about these constellations, newest first."""
        ...

    def delete(self, post_id: int) -> None:
        """Remove the post."""
        ...

    def delete_by_user(self, user_id: int) -> None:
        """Remove every post of the user."""
        ...

    def exists_for_constellation(self, constellation_id: int) -> bool:
        """Whether any post is about the constellation."""
        ...


class CredentialRepository(Protocol):
    """Stored credentials: at most one set per user, each login used once (compared in lower case)."""

    def add(self, credentials: Credentials) -> None:
        """Store credentials for a user that has none.

        Raises:
            Conflict: The login is taken (by a concurrent writer; use cases look first).
        """
        ...

    def get(self, user_id: int) -> Credentials | None:
        """Return the user's credentials, or ``None``."""
        ...

    def get_by_login(self, login: str) -> Credentials | None:
        """Return the credentials with this login (already in lower case), or ``None``."""
        ...

    def update(self, credentials: Credentials) -> None:
        """Replace the stored credentials of the same user."""
        ...

    def delete(self, user_id: int) -> None:
        """Remove the user's credentials."""
        ...


class TokenRepository(Protocol):
    """Stored tokens; revoking one removes it."""

    def add(self, token: Token) -> Token:
        """Store a new token and return it with its id."""
        ...

    def get(self, token_id: int) -> Token | None:
        """Return the token, or ``None``."""
        ...

    def get_by_digest(self, digest: str) -> Token | None:
        """Return the token whose secret has this digest, or ``None``; one indexed read."""
        ...

    def list_by_user(self, user_id: int) -> Sequence[Token]:
        """Return the user's tokens, by id."""
        ...

    def touch(self, token_id: int, when: datetime) -> None:
        """Set the token's ``last_used_at``."""
        ...

    def delete(self, token_id: int) -> None:
        """Remove the token: the next request presenting it is refused."""
        ...

    def delete_by_user(self, user_id: int) -> None:
        """Remove every token of the user."""
        ...


class LoginFailureRepository(Protocol):
    """Counts of failed sign-ins, by key; shared by every process using the store."""

    def get(self, key: str, *, for_update: bool = False) -> LoginFailures | None:
        """Return the count under ``key``, or ``None``; lock it when ``for_update``."""
        ...

    def add_failure(self, key: str, now: datetime, window: timedelta) -> LoginFailures:
        """Count one more failure under ``key`` at ``now``, in one atomic step, and return the count.

        A count whose window started ``window`` or longer before ``now`` starts
        over at 1 (its window at ``now``). Concurrent failures under one key,
        in any process, are each counted.
        """
        ...

    def delete(self, key: str) -> None:
        """Forget the count under ``key``."""
        ...


class GoalRepository(Protocol):
    """Stored goals."""

    def add(self, goal: Goal) -> Goal:
        """Store a new goal and return it with its id."""
        ...

    def get(self, goal_id: int) -> Goal | None:
        """Return the goal, or ``None``."""
        ...

    def list_by_user(self, user_id: int) -> Sequence[Goal]:
        """Return the user's goals, by id."""
        ...

    def delete(self, goal_id: int) -> None:
        """Remove the goal."""
        ...

    def delete_by_user(self, user_id: int) -> None:
        """Remove every goal of the user."""
        ...

    def exists_for_constellation(self, constellation_id: int) -> bool:
        """Whether any goal is about the constellation."""
        ...


class Views(Protocol):
    """The read model: the documents API v1 answers, with what they embed.

    Each method reads a fixed number of queries whatever the data, and checks
    no access: the use cases of :mod:`luminary.core.usecases.documents` do. Lists
    follow the repositories' orders and ``PageRequest`` contract. The shapes,
    key for key and in this order, are those of
    :mod:`luminary.core.documents` (``user_document`` and the others), which
    :class:`~luminary.core.documents.EntityViews` builds from entities; an
    implementation must produce equal documents (the contract tests compare
    their JSON byte for byte).
    """

    def users(self, page: PageRequest) -> Sequence[Document]:
        """Users by id, each with their current attempt, attempts, sessions and posts."""
        ...

    def user(self, user_id: int) -> Document | None:
        """One user's document, or ``None``."""
        ...

    def attempts(self, page: PageRequest, *, user_id: int | None = None) -> Sequence[Document]:
        """Attempts by id (only ``user_id``'s when given), each with its user, constellation and
        sessions."""
        ...

    def attempt(self, attempt_id: int) -> Document | None:
        """One attempt's document, or ``None``."""
        ...

    def sessions(
        self, page: PageRequest, *, user_id: int | None = None, attempt_id: int | None = None
    ) -> Sequence[Document]:
        """Sessions newest first (only ``user_id``'s, or ``attempt_id``'s, when given), each with
        its user and attempt."""
        ...

    def session(self, session_id: int) -> Document | None:
        """One session's document, or ``None``."""
        ...

    def posts(
        self, page: PageRequest, *, user_id: int | None = None, constellation_id: int | None = None
    ) -> Sequence[Document]:
        """Posts newest first (only ``user_id``'s, or about ``constellation_id``, when given), each
        with its author and constellation."""
        ...

    def post(self, post_id: int) -> Document | None:
        """One post's document, or ``None``."""
        ...

    def constellation_attempts(
        self, page: PageRequest, *, constellation_id: int, user_id: int | None = None
    ) -> Sequence[Document]:
        """The attempts at a constellation by id (only ``user_id``'s when given), without what they
        embed."""
        ...

    def constellation_posts(self, page: PageRequest, *, constellation_id: int) -> Sequence[Document]:
        """The posts about a constellation, newest first, without what they embed."""
        ...

    def constellation_contents(
        self, constellation_ids: Collection[int], limit: int, *, user_id: int | None = None
    ) -> Mapping[int, tuple[Sequence[Document], Sequence[Document]]]:
        """What each constellation carries, at most ``limit`` of each: its attempts by id (only
        ``user_id``'s when given) and its posts newest first, as :meth:`constellation_attempts` and
        :meth:`constellation_posts` answer ``PageRequest(limit=limit)``, for every constellation at
        once (a fixed number of queries whatever their number). Every id is a key; an id naming no
        constellation carries nothing."""
        ...


class UnitOfWork(Protocol):
    """One transaction over all the repositories.

    Used as a context manager. Leaving the block rolls back whatever was not
    committed, so a use case that raises halfway changes nothing. Only
    :meth:`commit` makes changes visible to others; use cases call it.

    A unit of work may be entered again after it has been left; each entry is
    a new transaction.
    """

    users: UserRepository
    constellations: ConstellationRepository
    attempts: AttemptRepository
    sessions: SessionRepository
    posts: PostRepository
    credentials: CredentialRepository
    tokens: TokenRepository
    login_failures: LoginFailureRepository
    goals: GoalRepository
    views: Views

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def reading(self) -> AbstractContextManager[UnitOfWork]:
        """Enter a transaction that only reads.

        Use it as ``with uow.reading():`` instead of ``with uow:`` for use
        cases that change nothing. Implementations may then skip write locks
        (SQLite lets readers run side by side and only writers queue) and
        transactions where they add nothing (PostgreSQL at READ COMMITTED gives
        each statement its own snapshot either way); what is read is never
        committed. Each statement sees only committed data, as in any transaction.
        """
        ...

    def commit(self) -> None:
        """Make the changes of this transaction permanent."""
        ...

    def rollback(self) -> None:
        """Discard the changes of this transaction."""
        ...
