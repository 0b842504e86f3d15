# --8<-- [start:imports]
"""A dict-of-lists store: Luminary's storage protocols over plain Python lists.

Each table is a list of entities, and every read is a linear scan. A unit of
work copies the lists when it is entered and puts the copies back when it rolls
back. One lock lets one unit of work run at a time, so threads may share a store.

It is an example, short enough to read in one sitting: fine for tests and
small tools, too slow for a server with many rows.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Any

import attrs

from luminary.core import (
    Attempt,
    Conflict,
    Constellation,
    Credentials,
    DayTotal,
    Goal,
    PageRequest,
    Post,
    Session,
    SessionStatus,
    Token,
    User,
)
from luminary.core.accounts import LoginFailures
from luminary.core.documents import EntityViews

TABLES = (
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


# --8<-- [end:imports]
# --8<-- [start:store]
class DictStore:
    """The data: one list per table, a lock, and a counter of ids per table."""

    def __init__(self) -> None:
        self.tables: dict[str, list[Any]] = {name: [] for name in TABLES}
        self.lock = threading.RLock()
        self._ids = {name: itertools.count(1) for name in TABLES}

    def next_id(self, table: str) -> int:
        """A new id for ``table``. Ids are never reused, even after a rollback."""
        return next(self._ids[table])

    def unit_of_work(self) -> DictUnitOfWork:
        """A new unit of work over this store."""
        return DictUnitOfWork(self)


# --8<-- [end:store]
# --8<-- [start:pages]
# ------------------------------------------------------------------ filters, orders and pages


def wanted(value: object, only: object) -> bool:
    """Whether a row's ``value`` passes a list's filter: ``only`` is ``None`` (no filter) or equal."""
    return only is None or value == only


def by_id(rows: Iterable[Any], page: PageRequest) -> list[Any]:
    """Rows by id, ascending, cut to the page."""
    ordered = sorted(rows, key=lambda row: row.id)
    if page.after is not None:
        ordered = [row for row in ordered if row.id > page.after.id]
    else:
        ordered = ordered[page.offset :]
    return ordered[: page.limit]


def newest_first(rows: Iterable[Any], page: PageRequest | None = None) -> list[Any]:
    """Rows by ``created_at`` then id, descending; cut to the page when there is one."""
    ordered = sorted(rows, key=lambda row: (row.created_at, row.id), reverse=True)
    if page is None:
        return ordered
    cursor = page.after
    if cursor is None:
        ordered = ordered[page.offset :]
    elif cursor.created_at is None:
        ordered = [row for row in ordered if row.id < cursor.id]
    else:
        ordered = [row for row in ordered if (row.created_at, row.id) < (cursor.created_at, cursor.id)]
    return ordered[: page.limit]


# --8<-- [end:pages]
# --8<-- [start:table]
# ------------------------------------------------------------------ one table


class Table:
    """What every repository does with its list: find, insert, replace, remove."""

    name: str

    def __init__(self, store: DictStore) -> None:
        self.store = store

    @property
    def rows(self) -> list[Any]:
        # Read through the store each time: a rollback puts new lists in place.
        return self.store.tables[self.name]

    def where(self, test: Callable[[Any], bool]) -> list[Any]:
        return [row for row in self.rows if test(row)]

    def first(self, test: Callable[[Any], bool]) -> Any:
        return next((row for row in self.rows if test(row)), None)

    def insert(self, entity: Any) -> Any:
        stored = attrs.evolve(entity, id=self.store.next_id(self.name))
        self.rows.append(stored)
        return stored

    def replace(self, test: Callable[[Any], bool], entity: Any) -> None:
        for index, row in enumerate(self.rows):
            if test(row):
                self.rows[index] = entity
                return
        raise KeyError(f"{self.name}: {entity!r} is not stored")

    def remove(self, test: Callable[[Any], bool]) -> list[Any]:
        removed = self.where(test)
        self.rows[:] = [row for row in self.rows if not test(row)]
        return removed


# --8<-- [end:table]
# --8<-- [start:catalogue]
# ------------------------------------------------------------------ the repositories


class DictUsers(Table):
    name = "users"

    def add(self, user: User) -> User:
        stored: User = self.insert(user)
        return stored

    def get(self, user_id: int, *, for_update: bool = False) -> User | None:
        # for_update needs nothing more: the store's lock is held for the whole unit of work.
        found: User | None = self.first(lambda u: u.id == user_id)
        return found

    def get_many(self, user_ids: Collection[int]) -> dict[int, User]:
        return {u.id: u for u in self.rows if u.id in user_ids}

    def list_page(self, page: PageRequest) -> Sequence[User]:
        return by_id(self.rows, page)

    def update(self, user: User) -> None:
        self.replace(lambda u: u.id == user.id, user)

    def delete(self, user_id: int) -> None:
        self.remove(lambda u: u.id == user_id)

    def total_minutes(self) -> dict[int, int]:
        return {u.id: u.total_minutes for u in self.rows}


class DictConstellations(Table):
    name = "constellations"

    def add(self, constellation: Constellation) -> Constellation:
        stored: Constellation = self.insert(constellation)
        return stored

    def get(
        self, constellation_id: int, *, for_update: bool = False, for_share: bool = False
    ) -> Constellation | None:
        found: Constellation | None = self.first(lambda c: c.id == constellation_id)
        return found

    def get_many(self, constellation_ids: Collection[int]) -> dict[int, Constellation]:
        return {c.id: c for c in self.rows if c.id in constellation_ids}

    def list_page(self, page: PageRequest) -> Sequence[Constellation]:
        return by_id(self.rows, page)

    def update(self, constellation: Constellation) -> None:
        self.replace(lambda c: c.id == constellation.id, constellation)

    def delete(self, constellation_id: int) -> None:
        self.remove(lambda c: c.id == constellation_id)

    def count(self) -> int:
        return len(self.rows)


class DictAttempts(Table):
    name = "attempts"

    def add(self, attempt: Attempt) -> Attempt:
        stored: Attempt = self.insert(attempt)
        return stored

    def get(self, attempt_id: int, *, for_update: bool = False) -> Attempt | None:
        found: Attempt | None = self.first(lambda a: a.id == attempt_id)
        return found

    def get_many(self, attempt_ids: Collection[int]) -> dict[int, Attempt]:
        return {a.id: a for a in self.rows if a.id in attempt_ids}

    def list_page(
        self, page: PageRequest, *, user_id: int | None = None, constellation_id: int | None = None
    ) -> Sequence[Attempt]:
        return by_id(
            self.where(lambda a: wanted(a.user_id, user_id) and wanted(a.constellation_id, constellation_id)),
            page,
        )

    def list_by_users(self, user_ids: Collection[int]) -> Sequence[Attempt]:
        return sorted(self.where(lambda a: a.user_id in user_ids), key=lambda a: a.id)

    def list_by_constellations(self, constellation_ids: Collection[int]) -> Sequence[Attempt]:
        return sorted(self.where(lambda a: a.constellation_id in constellation_ids), key=lambda a: a.id)

    def update(self, attempt: Attempt) -> None:
        self.replace(lambda a: a.id == attempt.id, attempt)

    def delete(self, attempt_id: int) -> None:
        self.remove(lambda a: a.id == attempt_id)

    def delete_by_user(self, user_id: int) -> None:
        self.remove(lambda a: a.user_id == user_id)

    def exists_for_constellation(self, constellation_id: int) -> bool:
        return self.first(lambda a: a.constellation_id == constellation_id) is not None


# --8<-- [end:catalogue]
# --8<-- [start:study]
class DictSessions(Table):
    name = "sessions"

    def add(self, session: Session) -> Session:
        stored: Session = self.insert(session)
        return stored

    def get(self, session_id: int, *, for_update: bool = False) -> Session | None:
        found: Session | None = self.first(lambda s: s.id == session_id)
        return found

    def list_page(
        self, page: PageRequest, *, user_id: int | None = None, attempt_id: int | None = None
    ) -> Sequence[Session]:
        return newest_first(
            self.where(
                lambda s: wanted(s.user_id, user_id) and wanted(s.constellation_attempt_id, attempt_id)
            ),
            page,
        )

    def list_by_users(self, user_ids: Collection[int]) -> Sequence[Session]:
        return newest_first(self.where(lambda s: s.user_id in user_ids))

    def list_by_attempts(self, attempt_ids: Collection[int]) -> Sequence[Session]:
        return newest_first(self.where(lambda s: s.constellation_attempt_id in attempt_ids))

    def update(self, session: Session) -> None:
        self.replace(lambda s: s.id == session.id, session)

    def delete(self, session_id: int) -> None:
        self.remove(lambda s: s.id == session_id)

    def delete_by_attempt(self, attempt_id: int) -> Sequence[Session]:
        return self.remove(lambda s: s.constellation_attempt_id == attempt_id)

    def delete_by_user(self, user_id: int) -> None:
        self.remove(lambda s: s.user_id == user_id)

    def active_timer(self, user_id: int) -> Session | None:
        found: Session | None = self.first(
            lambda s: s.user_id == user_id and s.status is SessionStatus.IN_PROGRESS and s.is_timed
        )
        return found

    def minutes_by_day(
        self, user_id: int, first: date | None, last: date | None, *, constellation_id: int | None = None
    ) -> Sequence[DayTotal]:
        attempts = {a.id: a.constellation_id for a in self.store.tables["attempts"]}
        days: dict[date, DayTotal] = {}
        for s in self.rows:
            day = s.study_day
            if s.user_id != user_id or not s.is_completed or day is None:
                continue
            if (first is not None and day < first) or (last is not None and day > last):
                continue
            if constellation_id is not None and attempts.get(s.constellation_attempt_id) != constellation_id:
                continue
            seen = days.get(day, DayTotal(day, 0, 0))
            days[day] = DayTotal(day, seen.minutes + (s.minutes or 0), seen.sessions + 1)
        return [days[day] for day in sorted(days)]

    def minutes_by_user(self, statuses: Collection[SessionStatus]) -> dict[int, int]:
        totals: dict[int, int] = {}
        for s in self.rows:
            if s.user_id is not None and s.status in statuses:
                totals[s.user_id] = totals.get(s.user_id, 0) + (s.minutes or 0)
        return totals


class DictPosts(Table):
    name = "posts"

    def add(self, post: Post) -> Post:
        stored: Post = self.insert(post)
        return stored

    def get(self, post_id: int) -> Post | None:
        found: Post | None = self.first(lambda p: p.id == post_id)
        return found

    def list_page(
        self, page: PageRequest, *, user_id: int | None = None, constellation_id: int | None = None
    ) -> Sequence[Post]:
        return newest_first(
            self.where(lambda p: wanted(p.user_id, user_id) and wanted(p.constellation_id, constellation_id)),
            page,
        )

    def list_by_users(self, user_ids: Collection[int]) -> Sequence[Post]:
        return newest_first(self.where(lambda p: p.user_id in user_ids))

    def list_by_constellations(self, constellation_ids: Collection[int]) -> Sequence[Post]:
        return newest_first(self.where(lambda p: p.constellation_id in constellation_ids))

    def delete(self, post_id: int) -> None:
        self.remove(lambda p: p.id == post_id)

    def delete_by_user(self, user_id: int) -> None:
        self.remove(lambda p: p.user_id == user_id)

    def exists_for_constellation(self, constellation_id: int) -> bool:
        return self.first(lambda p: p.constellation_id == constellation_id) is not None


# --8<-- [end:study]
# --8<-- [start:accounts]
class DictCredentials(Table):
    name = "credentials"

    def add(self, credentials: Credentials) -> None:
        if self.get_by_login(credentials.login) is not None:
            raise Conflict(f"The login {credentials.login!r} is taken")
        if self.get(credentials.user_id) is not None:
            raise Conflict(f"User {credentials.user_id} already has a login")
        self.rows.append(credentials)

    def get(self, user_id: int) -> Credentials | None:
        found: Credentials | None = self.first(lambda c: c.user_id == user_id)
        return found

    def get_by_login(self, login: str) -> Credentials | None:
        found: Credentials | None = self.first(lambda c: c.login == login)
        return found

    def update(self, credentials: Credentials) -> None:
        self.replace(lambda c: c.user_id == credentials.user_id, credentials)

    def delete(self, user_id: int) -> None:
        self.remove(lambda c: c.user_id == user_id)


class DictTokens(Table):
    name = "tokens"

    def add(self, token: Token) -> Token:
        stored: Token = self.insert(token)
        return stored

    def get(self, token_id: int) -> Token | None:
        found: Token | None = self.first(lambda t: t.id == token_id)
        return found

    def get_by_digest(self, digest: str) -> Token | None:
        found: Token | None = self.first(lambda t: t.digest == digest)
        return found

    def list_by_user(self, user_id: int) -> Sequence[Token]:
        return sorted(self.where(lambda t: t.user_id == user_id), key=lambda t: t.id)

    def touch(self, token_id: int, when: datetime) -> None:
        token = self.get(token_id)
        if token is not None:
            self.replace(lambda t: t.id == token_id, attrs.evolve(token, last_used_at=when))

    def delete(self, token_id: int) -> None:
        self.remove(lambda t: t.id == token_id)

    def delete_by_user(self, user_id: int) -> None:
        self.remove(lambda t: t.user_id == user_id)


class DictLoginFailures(Table):
    name = "login_failures"

    def get(self, key: str, *, for_update: bool = False) -> LoginFailures | None:
        found: LoginFailures | None = self.first(lambda f: f.key == key)
        return found

    def add_failure(self, key: str, now: datetime, window: timedelta) -> LoginFailures:
        # One step under the store's lock, so concurrent failures are each counted.
        seen = self.get(key)
        if seen is None or now >= seen.window_start + window:
            counted = LoginFailures(key=key, count=1, window_start=now)
        else:
            counted = attrs.evolve(seen, count=seen.count + 1)
        self.remove(lambda f: f.key == key)
        self.rows.append(counted)
        return counted

    def delete(self, key: str) -> None:
        self.remove(lambda f: f.key == key)


class DictGoals(Table):
    name = "goals"

    def add(self, goal: Goal) -> Goal:
        stored: Goal = self.insert(goal)
        return stored

    def get(self, goal_id: int) -> Goal | None:
        found: Goal | None = self.first(lambda g: g.id == goal_id)
        return found

    def list_by_user(self, user_id: int) -> Sequence[Goal]:
        return sorted(self.where(lambda g: g.user_id == user_id), key=lambda g: g.id)

    def delete(self, goal_id: int) -> None:
        self.remove(lambda g: g.id == goal_id)

    def delete_by_user(self, user_id: int) -> None:
        self.remove(lambda g: g.user_id == user_id)

    def exists_for_constellation(self, constellation_id: int) -> bool:
        return self.first(lambda g: g.constellation_id == constellation_id) is not None


# --8<-- [end:accounts]
# --8<-- [start:unit-of-work]
# ------------------------------------------------------------------ the unit of work


class DictUnitOfWork:
    """One transaction: the store's lock is held from enter to exit.

    Entering copies every list; :meth:`commit` takes a new copy; :meth:`rollback`,
    and leaving without a commit, put the last copy back.
    """

    def __init__(self, store: DictStore) -> None:
        self.store = store
        self.users = DictUsers(store)
        self.constellations = DictConstellations(store)
        self.attempts = DictAttempts(store)
        self.sessions = DictSessions(store)
        self.posts = DictPosts(store)
        self.credentials = DictCredentials(store)
        self.tokens = DictTokens(store)
        self.login_failures = DictLoginFailures(store)
        self.goals = DictGoals(store)
        # The read model, built from the repositories above.
        self.views = EntityViews(self)
        self._snapshot: dict[str, list[Any]] = {}

    def __enter__(self) -> DictUnitOfWork:
        self.store.lock.acquire()
        self._snapshot = self._copy()
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

    def reading(self) -> DictUnitOfWork:
        """A read-only transaction is an ordinary one here."""
        return self

    def commit(self) -> None:
        self._snapshot = self._copy()

    def rollback(self) -> None:
        self.store.tables = {name: list(rows) for name, rows in self._snapshot.items()}

    def _copy(self) -> dict[str, list[Any]]:
        # Entities are immutable: copying the lists copies the data.
        return {name: list(rows) for name, rows in self.store.tables.items()}


# --8<-- [end:unit-of-work]
