"""In-memory repositories and unit of work.

A real implementation of :mod:`luminary.core.ports`, not a test double: apps can
run on it, and the behavioural suite checks it against the same contract as the
SQL implementation. Everything lives in one :class:`InMemoryStore`; units of work
made from the same store see each other's committed changes.

Transactions are serialised: entering a unit of work takes the store's lock and
leaving releases it, so the store is safe to share between threads (a server
runs on it in tests) and no update is ever lost. Each change is journalled;
leaving without :meth:`~InMemoryUnitOfWork.commit` replays the journal backwards::

    enter ── lock ── add u1 ── update a3 ── commit ── exit ── unlock   (kept)
    enter ── lock ── add u2 ── delete s7 ── (error) ── exit ── undo s7, undo u2 ── unlock

Example:
    >>> from luminary.core.memory import InMemoryStore
    >>> store = InMemoryStore()
    >>> uow = store.unit_of_work()
    >>> with uow:
    ...     uow.constellations.count()
    0
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, TypeVar

from .accounts import Credentials, LoginFailures, Token
from .documents import EntityViews
from .entities import Attempt, Constellation, DayTotal, Goal, Post, Session, SessionStatus, User
from .errors import Conflict
from .pagination import PageRequest
from .ports import (
    AttemptRepository,
    ConstellationRepository,
    CredentialRepository,
    GoalRepository,
    LoginFailureRepository,
    PostRepository,
    SessionRepository,
    TokenRepository,
    UserRepository,
    Views,
)

__all__ = [
    "InMemoryAttemptRepository",
    "InMemoryConstellationRepository",
    "InMemoryCredentialRepository",
    "InMemoryGoalRepository",
    "InMemoryLoginFailureRepository",
    "InMemoryPostRepository",
    "InMemorySessionRepository",
    "InMemoryStore",
    "InMemoryTokenRepository",
    "InMemoryUnitOfWork",
    "InMemoryUserRepository",
]

_MISSING: Any = object()


class _HasId(Protocol):
    @property
    def id(self) -> int: ...


class _Timed(_HasId, Protocol):
    @property
    def created_at(self) -> datetime: ...


E = TypeVar("E", bound=_HasId)
TE = TypeVar("TE", bound=_Timed)


class InMemoryStore:
    """The data of an in-memory Luminary: one dict per kind of entity, plus the lock.

    Make units of work with :meth:`unit_of_work`; do not touch the dicts
    directly.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tables: dict[str, dict[Any, Any]] = {
            name: {}
            for name in (
                "users",
                "constellations",
                "attempts",
                "sessions",
                "posts",
                "credentials",
                "tokens",
                "login_failures",
                "goals",
            )
        }
        self._ids = {name: itertools.count(1) for name in self.tables}

    def next_id(self, table: str) -> int:
        """Return a fresh id for ``table``; ids are never reused, as in a database sequence."""
        return next(self._ids[table])

    def unit_of_work(self) -> InMemoryUnitOfWork:
        """Return a new unit of work over this store."""
        return InMemoryUnitOfWork(self)

    def uow_factory(self) -> Callable[[], InMemoryUnitOfWork]:
        """Return a function that makes units of work over this store."""
        return self.unit_of_work


class _Table:
    """One table of a store, as seen by one unit of work: every write is journalled."""

    def __init__(self, store: InMemoryStore, name: str, journal: list[tuple[dict[Any, Any], Any, Any]]):
        self.store = store
        self.name = name
        self.rows: dict[Any, Any] = store.tables[name]
        self.journal = journal

    def put(self, key: Any, value: Any) -> None:
        self.journal.append((self.rows, key, self.rows.get(key, _MISSING)))
        self.rows[key] = value

    def remove(self, key: Any) -> None:
        if key in self.rows:
            self.journal.append((self.rows, key, self.rows[key]))
            del self.rows[key]


def _by_id(rows: Iterable[E], page: PageRequest) -> list[E]:
    ordered = sorted(rows, key=lambda r: r.id)
    if page.after is not None:
        after = page.after.id
        ordered = [r for r in ordered if r.id > after]
    else:
        ordered = ordered[page.offset :]
    return ordered[: page.limit]


def _newest_first_key(row: _Timed) -> tuple[datetime, int]:
    return (row.created_at, row.id)


def _newest_first(rows: Iterable[TE], page: PageRequest | None = None) -> list[TE]:
    ordered = sorted(rows, key=_newest_first_key, reverse=True)
    if page is None:
        return ordered
    if page.after is not None:
        cursor = page.after
        if cursor.created_at is None:
            ordered = [r for r in ordered if r.id < cursor.id]
        else:
            key = (cursor.created_at, cursor.id)
            ordered = [r for r in ordered if _newest_first_key(r) < key]
    else:
        ordered = ordered[page.offset :]
    return ordered[: page.limit]


class _Repository:
    table_name: str

    def __init__(self, store: InMemoryStore, journal: list[tuple[dict[Any, Any], Any, Any]]) -> None:
        self._table = _Table(store, self.table_name, journal)
        self._store = store

    @property
    def _rows(self) -> dict[Any, Any]:
        return self._table.rows

    def _add(self, entity: Any) -> Any:
        import attrs

        stored = attrs.evolve(entity, id=self._store.next_id(self.table_name))
        self._table.put(stored.id, stored)
        return stored

    def _update(self, entity: Any) -> None:
        if entity.id not in self._rows:
            raise KeyError(f"{self.table_name} {entity.id} is not stored")
        self._table.put(entity.id, entity)

    def _where(self, predicate: Callable[[Any], bool]) -> list[Any]:
        return [row for row in self._rows.values() if predicate(row)]


class InMemoryUserRepository(_Repository):
    """Users kept in an :class:`InMemoryStore`."""

    table_name = "users"

    def add(self, user: User) -> User:
        """Store a new user and return it with its id."""
        stored: User = self._add(user)
        return stored

    def get(self, user_id: int, *, for_update: bool = False) -> User | None:
        """Return the user, or ``None`` (the store's lock already serialises writers)."""
        found: User | None = self._rows.get(user_id)
        return found

    def get_many(self, user_ids: Collection[int]) -> dict[int, User]:
        """Return the users that exist among ``user_ids``, by id."""
        return {i: self._rows[i] for i in user_ids if i in self._rows}

    def list_page(self, page: PageRequest) -> Sequence[User]:
        """Return users by id, ascending."""
        return _by_id(self._rows.values(), page)

    def update(self, user: User) -> None:
        """Replace the stored user with the same id."""
        self._update(user)

    def delete(self, user_id: int) -> None:
        """Remove the user."""
        self._table.remove(user_id)

    def total_minutes(self) -> dict[int, int]:
        """Return every user's stored ``total_minutes``, by id."""
        return {u.id: u.total_minutes for u in self._rows.values()}


class InMemoryConstellationRepository(_Repository):
    """Constellations kept in an :class:`InMemoryStore`."""

    table_name = "constellations"

    def add(self, constellation: Constellation) -> Constellation:
        """Store a new constellation and return it with its id."""
        stored: Constellation = self._add(constellation)
        return stored

    def get(
        self, constellation_id: int, *, for_update: bool = False, for_share: bool = False
    ) -> Constellation | None:
        """Return the constellation, or ``None``.

        Both locks are already held: the store's lock serialises whole units of
        work, so nothing changes the constellation before this one ends.
        """
        found: Constellation | None = self._rows.get(constellation_id)
        return found

    def get_many(self, constellation_ids: Collection[int]) -> dict[int, Constellation]:
        """Return the constellations that exist among the ids, by id."""
        return {i: self._rows[i] for i in constellation_ids if i in self._rows}

    def list_page(self, page: PageRequest) -> Sequence[Constellation]:
        """Return constellations by id, ascending."""
        return _by_id(self._rows.values(), page)

    def update(self, constellation: Constellation) -> None:
        """Replace the stored constellation with the same id."""
        self._update(constellation)

    def delete(self, constellation_id: int) -> None:
        """Remove the constellation."""
        self._table.remove(constellation_id)

    def count(self) -> int:
        """Return how many constellations are stored."""
        return len(self._rows)


class InMemoryAttemptRepository(_Repository):
    """Attempts kept in an :class:`InMemoryStore`."""

    table_name = "attempts"

    def add(self, attempt: Attempt) -> Attempt:
        """Store a new attempt and return it with its id."""
        stored: Attempt = self._add(attempt)
        return stored

    def get(self, attempt_id: int, *, for_update: bool = False) -> Attempt | None:
        """Return the attempt, or ``None``."""
        found: Attempt | None = self._rows.get(attempt_id)
        return found

    def get_many(self, attempt_ids: Collection[int]) -> dict[int, Attempt]:
        """Return the attempts that exist among the ids, by id."""
        return {i: self._rows[i] for i in attempt_ids if i in self._rows}

    def list_page(
        self, page: PageRequest, *, user_id: int | None = None, constellation_id: int | None = None
    ) -> Sequence[Attempt]:
        """Return attempts by id, ascending; only ``user_id``'s, or at ``constellation_id``, when given."""
        rows = self._where(
            lambda a: (
                (user_id is None or a.user_id == user_id)
                and (constellation_id is None or a.constellation_id == constellation_id)
            )
        )
        return _by_id(rows, page)

    def list_by_users(self, user_ids: Collection[int]) -> Sequence[Attempt]:
        """Return every attempt of these users, by id."""
        wanted = set(user_ids)
        return sorted(self._where(lambda a: a.user_id in wanted), key=lambda a: a.id)

    def list_by_constellations(self, constellation_ids: Collection[int]) -> Sequence[Attempt]:
        """Return every attempt at these constellations, by id."""
        wanted = set(constellation_ids)
        return sorted(self._where(lambda a: a.constellation_id in wanted), key=lambda a: a.id)

    def update(self, attempt: Attempt) -> None:
        """Replace the stored attempt with the same id."""
        self._update(attempt)

    def delete(self, attempt_id: int) -> None:
        """Remove the attempt."""
        self._table.remove(attempt_id)

    def delete_by_user(self, user_id: int) -> None:
        """Remove every attempt of the user."""
        for attempt in self._where(lambda a: a.user_id == user_id):
            self._table.remove(attempt.id)

    def exists_for_constellation(self, constellation_id: int) -> bool:
        """Whether any attempt refers to the constellation."""
        return any(a.constellation_id == constellation_id for a in self._rows.values())


class InMemorySessionRepository(_Repository):
    """Sessions kept in an :class:`InMemoryStore`."""

    table_name = "sessions"

    def add(self, session: Session) -> Session:
        """Store a new session and return it with its id."""
        stored: Session = self._add(session)
        return stored

    def get(self, session_id: int, *, for_update: bool = False) -> Session | None:
        """Return the session, or ``None``."""
        found: Session | None = self._rows.get(session_id)
        return found

    def list_page(
        self,
        page: PageRequest,
        *,
        user_id: int | None = None,
        attempt_id: int | None = None,
    ) -> Sequence[Session]:
        """Return sessions newest first, filtered by user or attempt when given."""
        rows = self._where(
            lambda s: (
                (user_id is None or s.user_id == user_id)
                and (attempt_id is None or s.constellation_attempt_id == attempt_id)
            )
        )
        return _newest_first(rows, page)

    def list_by_users(self, user_ids: Collection[int]) -> Sequence[Session]:
        """Return every session of these users, newest first."""
        wanted = set(user_ids)
        return _newest_first(self._where(lambda s: s.user_id in wanted))

    def list_by_attempts(self, attempt_ids: Collection[int]) -> Sequence[Session]:
        """Return every session of these attempts, newest first."""
        wanted = set(attempt_ids)
        return _newest_first(self._where(lambda s: s.constellation_attempt_id in wanted))

    def update(self, session: Session) -> None:
        """Replace the stored session with the same id."""
        self._update(session)

    def delete(self, session_id: int) -> None:
        """Remove the session."""
        self._table.remove(session_id)

    def delete_by_attempt(self, attempt_id: int) -> Sequence[Session]:
        """Remove every session of the attempt and return them."""
        doomed = self._where(lambda s: s.constellation_attempt_id == attempt_id)
        for session in doomed:
            self._table.remove(session.id)
        return doomed

    def delete_by_user(self, user_id: int) -> None:
        """Remove every session of the user."""
        for session in self._where(lambda s: s.user_id == user_id):
            self._table.remove(session.id)

    def active_timer(self, user_id: int) -> Session | None:
        """Return the user's running or paused timed session, if any."""
        found = self._where(
            lambda s: s.user_id == user_id and s.status is SessionStatus.IN_PROGRESS and s.is_timed
        )
        return min(found, key=lambda s: s.id) if found else None

    def minutes_by_day(
        self, user_id: int, first: date | None, last: date | None, *, constellation_id: int | None = None
    ) -> Sequence[DayTotal]:
        """Return the user's completed minutes and sessions per study day, by day."""
        attempts = self._store.tables["attempts"]
        days: dict[date, tuple[int, int]] = {}
        for s in self._rows.values():
            day = s.study_day
            if s.user_id != user_id or not s.is_completed or day is None:
                continue
            if (first is not None and day < first) or (last is not None and day > last):
                continue
            if constellation_id is not None:
                attempt = attempts.get(s.constellation_attempt_id)
                if attempt is None or attempt.constellation_id != constellation_id:
                    continue
            minutes, count = days.get(day, (0, 0))
            days[day] = (minutes + (s.minutes or 0), count + 1)
        return [DayTotal(day, *days[day]) for day in sorted(days)]

    def minutes_by_user(self, statuses: Collection[SessionStatus]) -> dict[int, int]:
        """Return, for each user with sessions in one of ``statuses``, the sum of their minutes."""
        wanted = set(statuses)
        totals: dict[int, int] = {}
        for s in self._rows.values():
            if s.status in wanted and s.user_id is not None:
                totals[s.user_id] = totals.get(s.user_id, 0) + (s.minutes or 0)
        return totals


class InMemoryPostRepository(_Repository):
    """Posts kept in an :class:`InMemoryStore`."""

    table_name = "posts"

    def add(self, post: Post) -> Post:
        """Store a new post and return it with its id."""
        stored: Post = self._add(post)
        return stored

    def get(self, post_id: int) -> Post | None:
        """Return the post, or ``None``."""
        found: Post | None = self._rows.get(post_id)
        return found

    def list_page(
        self,
        page: PageRequest,
        *,
        user_id: int | None = None,
        constellation_id: int | None = None,
    ) -> Sequence[Post]:
        """Return posts newest first, filtered by author or constellation when given."""
        rows = self._where(
            lambda p: (
                (user_id is None or p.user_id == user_id)
                and (constellation_id is None or p.constellation_id == constellation_id)
            )
        )
        return _newest_first(rows, page)

    def list_by_users(self, user_ids: Collection[int]) -> Sequence[Post]:
        """Return every post of these users, newest first."""
        wanted = set(user_ids)
        return _newest_first(self._where(lambda p: p.user_id in wanted))

    def list_by_constellations(self, constellation_ids: Collection[int]) -> Sequence[Post]:
        """Return every post about these constellations, newest first."""
        wanted = set(constellation_ids)
        return _newest_first(self._where(lambda p: p.constellation_id in wanted))

    def delete(self, post_id: int) -> None:
        """Remove the post."""
        self._table.remove(post_id)

    def delete_by_user(self, user_id: int) -> None:
        """Remove every post of the user."""
        for post in self._where(lambda p: p.user_id == user_id):
            self._table.remove(post.id)

    def exists_for_constellation(self, constellation_id: int) -> bool:
        """Whether any post is about the constellation."""
        return any(p.constellation_id == constellation_id for p in self._rows.values())


class InMemoryCredentialRepository(_Repository):
    """Credentials kept in an :class:`InMemoryStore`, by user id."""

    table_name = "credentials"

    def add(self, credentials: Credentials) -> None:
        """Store credentials for a user that has none."""
        if self.get_by_login(credentials.login) is not None:
            raise Conflict(f"The login {credentials.login!r} is taken")
        self._table.put(credentials.user_id, credentials)

    def get(self, user_id: int) -> Credentials | None:
        """Return the user's credentials, or ``None``."""
        found: Credentials | None = self._rows.get(user_id)
        return found

    def get_by_login(self, login: str) -> Credentials | None:
        """Return the credentials with this login, or ``None``."""
        return next((c for c in self._rows.values() if c.login == login), None)

    def update(self, credentials: Credentials) -> None:
        """Replace the stored credentials of the same user."""
        if credentials.user_id not in self._rows:
            raise KeyError(f"credentials of user {credentials.user_id} are not stored")
        self._table.put(credentials.user_id, credentials)

    def delete(self, user_id: int) -> None:
        """Remove the user's credentials."""
        self._table.remove(user_id)


class InMemoryTokenRepository(_Repository):
    """Tokens kept in an :class:`InMemoryStore`."""

    table_name = "tokens"

    def add(self, token: Token) -> Token:
        """Store a new token and return it with its id."""
        stored: Token = self._add(token)
        return stored

    def get(self, token_id: int) -> Token | None:
        """Return the token, or ``None``."""
        found: Token | None = self._rows.get(token_id)
        return found

    def get_by_digest(self, digest: str) -> Token | None:
        """Return the token whose secret has this digest, or ``None``."""
        return next((t for t in self._rows.values() if t.digest == digest), None)

    def list_by_user(self, user_id: int) -> Sequence[Token]:
        """Return the user's tokens, by id."""
        return sorted(self._where(lambda t: t.user_id == user_id), key=lambda t: t.id)

    def touch(self, token_id: int, when: datetime) -> None:
        """Set the token's ``last_used_at``."""
        import attrs

        token = self.get(token_id)
        if token is not None:
            self._table.put(token_id, attrs.evolve(token, last_used_at=when))

    def delete(self, token_id: int) -> None:
        """Remove the token."""
        self._table.remove(token_id)

    def delete_by_user(self, user_id: int) -> None:
        """Remove every token of the user."""
        for token in self._where(lambda t: t.user_id == user_id):
            self._table.remove(token.id)


class InMemoryLoginFailureRepository(_Repository):
    """Counts of failed sign-ins kept in an :class:`InMemoryStore`, by key."""

    table_name = "login_failures"

    def get(self, key: str, *, for_update: bool = False) -> LoginFailures | None:
        """Return the count under ``key``, or ``None``."""
        found: LoginFailures | None = self._rows.get(key)
        return found

    def add_failure(self, key: str, now: datetime, window: timedelta) -> LoginFailures:
        """Count one more failure under ``key`` (the store's lock makes it atomic)."""
        seen = self.get(key)
        if seen is None or now >= seen.window_start + window:
            counted = LoginFailures(key=key, count=1, window_start=now)
        else:
            counted = LoginFailures(key=key, count=seen.count + 1, window_start=seen.window_start)
        self._table.put(key, counted)
        return counted

    def delete(self, key: str) -> None:
        """Forget the count under ``key``."""
        self._table.remove(key)


class InMemoryGoalRepository(_Repository):
    """Goals kept in an :class:`InMemoryStore`."""

    table_name = "goals"

    def add(self, goal: Goal) -> Goal:
        """Store a new goal and return it with its id."""
        stored: Goal = self._add(goal)
        return stored

    def get(self, goal_id: int) -> Goal | None:
        """Return the goal, or ``None``."""
        found: Goal | None = self._rows.get(goal_id)
        return found

    def list_by_user(self, user_id: int) -> Sequence[Goal]:
        """Return the user's goals, by id."""
        return sorted(self._where(lambda g: g.user_id == user_id), key=lambda g: g.id)

    def delete(self, goal_id: int) -> None:
        """Remove the goal."""
        self._table.remove(goal_id)

    def delete_by_user(self, user_id: int) -> None:
        """Remove every goal of the user."""
        for goal in self._where(lambda g: g.user_id == user_id):
            self._table.remove(goal.id)

    def exists_for_constellation(self, constellation_id: int) -> bool:
        """Whether any goal is about the constellation."""
        return any(g.constellation_id == constellation_id for g in self._rows.values())


class InMemoryUnitOfWork:
    """A transaction over an :class:`InMemoryStore`.

    Entering takes the store's lock (transactions run one at a time); leaving
    without :meth:`commit` undoes every change made inside the block.

    The repositories (``users``, ``constellations``, ``attempts``, ``sessions``,
    ``posts``, ``credentials``, ``tokens``, ``login_failures``, ``goals``) are
    valid inside the ``with`` block.
    """

    # Typed as the ports: protocol attributes are invariant, so this is what
    # makes an InMemoryUnitOfWork a UnitOfWork for type checkers.
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

    def __init__(self, store: InMemoryStore) -> None:
        self.store = store
        self._journal: list[tuple[dict[Any, Any], Any, Any]] = []

    def __enter__(self) -> InMemoryUnitOfWork:
        self.store.lock.acquire()
        self._journal = []
        self.users = InMemoryUserRepository(self.store, self._journal)
        self.constellations = InMemoryConstellationRepository(self.store, self._journal)
        self.attempts = InMemoryAttemptRepository(self.store, self._journal)
        self.sessions = InMemorySessionRepository(self.store, self._journal)
        self.posts = InMemoryPostRepository(self.store, self._journal)
        self.credentials = InMemoryCredentialRepository(self.store, self._journal)
        self.tokens = InMemoryTokenRepository(self.store, self._journal)
        self.login_failures = InMemoryLoginFailureRepository(self.store, self._journal)
        self.goals = InMemoryGoalRepository(self.store, self._journal)
        self.views = EntityViews(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.rollback()
        finally:
            self.store.lock.release()

    def reading(self) -> InMemoryUnitOfWork:
        """Enter a read-only transaction: here the same as entering the unit of work."""
        return self

    def commit(self) -> None:
        """Keep every change made so far in this transaction."""
        self._journal.clear()

    def rollback(self) -> None:
        """Undo every change made since the last commit."""
        while self._journal:
            rows, key, old = self._journal.pop()
            if old is _MISSING:
                rows.pop(key, None)
            else:
                rows[key] = old
