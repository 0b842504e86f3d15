"""SQL implementations of core's repository protocols.

Each repository works on the one :class:`~sqlalchemy.engine.Connection` of its
unit of work, and every method runs a fixed number of statements — one, except
where noted — whatever the number of rows or ids: methods taking many ids use a
single ``IN``, so a use case's statement count does not grow with the data.

The semantics are those of :mod:`luminary.core.memory`, which the same behavioural
suite checks. The SQL specifics:

* ``get(..., for_update=True)`` renders ``SELECT … FOR NO KEY UPDATE`` on
  PostgreSQL: it blocks other writers of the row until the transaction ends but,
  unlike ``FOR UPDATE``, not the foreign-key checks of a concurrent INSERT of a
  child row. (With ``FOR UPDATE``, two transactions that each insert a session of
  a user and then lock that user deadlock.) SQLite has no row locks: the
  ``BEGIN IMMEDIATE`` of every transaction already holds the database's write lock.
* ``SqlConstellationRepository.get(..., for_share=True)`` renders ``SELECT …
  FOR SHARE`` on PostgreSQL, which conflicts with ``FOR NO KEY UPDATE`` (and
  with ``UPDATE``) but not with itself. The foreign-key check of an INSERT only
  takes ``FOR KEY SHARE``, which conflicts with neither: without this read, an
  attempt inserted while a weight change holds the constellation would not wait
  for it, and both would commit, the change having counted no attempt.
* Database integrity errors (a foreign key broken by a concurrent delete, a
  CHECK constraint) and PostgreSQL's serialization failures and deadlocks are
  raised as :class:`~luminary.core.errors.Conflict`: the request met a state it
  cannot apply to, and may be retried.
* Two statements are written for each database, with its dialect's ``INSERT …
  ON CONFLICT`` (which both PostgreSQL and SQLite have): adding credentials
  whose login is taken (``DO NOTHING``, so the transaction stays usable) and
  storing a count of failed sign-ins (``DO UPDATE``, an upsert).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any, NoReturn

import attrs
from sqlalchemy import (
    FromClause,
    Select,
    Table,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, CursorResult, RowMapping
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.sql import Executable
from sqlalchemy.sql.elements import BindParameter

from luminary.core.accounts import Credentials, LoginFailures, Token
from luminary.core.entities import (
    Attempt,
    Constellation,
    DayTotal,
    Goal,
    Post,
    Session,
    SessionStatus,
    User,
)
from luminary.core.errors import Conflict
from luminary.core.pagination import PageRequest

from .availability import unavailable
from .driver import fetch_all, insert_row, update_rows
from .tables import (
    UtcDateTime,
    attempt_from_row,
    attempt_values,
    attempts,
    constellation_from_row,
    constellation_values,
    constellations,
    credentials,
    credentials_from_row,
    credentials_values,
    goal_from_row,
    goal_values,
    goals,
    login_failures,
    login_failures_from_row,
    login_failures_values,
    post_from_row,
    post_values,
    posts,
    session_from_row,
    session_values,
    sessions,
    token_from_row,
    token_values,
    tokens,
    user_from_row,
    user_values,
    users,
)

__all__ = [
    "SqlAttemptRepository",
    "SqlConstellationRepository",
    "SqlCredentialRepository",
    "SqlGoalRepository",
    "SqlLoginFailureRepository",
    "SqlPostRepository",
    "SqlSessionRepository",
    "SqlTokenRepository",
    "SqlUserRepository",
    "raise_translated",
]

# SQLSTATEs of transactions PostgreSQL aborted because of a concurrent one.
_RETRYABLE_SQLSTATES = {"40001", "40P01"}


def raise_translated(exc: DBAPIError) -> NoReturn:
    """Raise :class:`Conflict` for integrity and concurrency errors, :class:`Unavailable` for a
    database that cannot be used, else ``exc`` itself."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if isinstance(exc, IntegrityError):
        raise Conflict(
            "The change conflicts with related data, which may have been changed or removed meanwhile."
        ) from exc
    if sqlstate in _RETRYABLE_SQLSTATES:
        raise Conflict("The change collided with a concurrent change; try again.") from exc
    error = unavailable(exc)
    if error is not None:
        raise error from exc
    raise exc


class _SqlRepository:
    """What every repository shares: the connection, and error translation."""

    table: Table

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def _execute(self, statement: Executable, params: dict[str, Any] | None = None) -> CursorResult[Any]:
        try:
            return self._connection.execute(statement, params)
        except DBAPIError as exc:
            raise_translated(exc)

    # INSERT and UPDATE take their values as parameters of one statement per table,
    # built once: its SET or VALUES clause follows the keys given (and SQLAlchemy
    # caches its SQL by them), so no statement is built per write.

    def _insert(self, values: dict[str, Any]) -> int:
        try:
            return insert_row(self._connection, self._cached("insert", partial(insert, self.table)), values)
        except DBAPIError as exc:
            raise_translated(exc)

    def _update(self, entity_id: int, values: dict[str, Any]) -> None:
        def build() -> Executable:
            return update(self.table).where(self.table.c.id == bindparam("_id"))

        try:
            changed = update_rows(
                self._connection, self._cached("update", build), {**values, "_id": entity_id}
            )
        except DBAPIError as exc:
            raise_translated(exc)
        if changed == 0:
            # The in-memory store cannot lose a row between a read and a write;
            # a database can, when another transaction deleted it in between.
            raise Conflict(f"{_WORDS[self.table.name]} {entity_id} no longer exists.")

    def _delete_where(self, *criteria: Any) -> None:
        self._execute(delete(self.table).where(*criteria))

    def _exists(self, *criteria: Any) -> bool:
        return bool(self._execute(select(exists().where(*criteria))).scalar())

    # Statements are built once per shape and reused with new parameters:
    # building a SELECT costs several times more than running one on SQLite.

    def _cached(self, key: Hashable, build: Callable[[], Executable]) -> Executable:
        full_key = (self.table.name, key)
        statement = _STATEMENTS.get(full_key)
        if statement is None:
            statement = _STATEMENTS.setdefault(full_key, build())
        return statement

    def _get_row(
        self, entity_id: int, *, for_update: bool = False, for_share: bool = False
    ) -> Mapping[str, Any] | None:
        lock = "update" if for_update else "share" if for_share else None

        def build() -> Executable:
            statement = select(self.table).where(self.table.c.id == bindparam("id"))
            if lock == "update":
                # NO KEY UPDATE: see the module docstring.
                return statement.with_for_update(key_share=True)
            if lock == "share":
                return statement.with_for_update(read=True)
            return statement

        rows = self._mappings(self._cached(("get", lock), build), {"id": entity_id})
        return rows[0] if rows else None

    def _mappings(self, statement: Executable, params: dict[str, Any]) -> list[dict[str, Any]]:
        """The rows of ``statement`` (built once: see :meth:`_cached`) as dicts by column key, read
        on the driver's cursor (:mod:`luminary.sql.driver`)."""
        try:
            rows = fetch_all(self._connection, statement, params)
        except DBAPIError as exc:
            raise_translated(exc)
        keys = _KEYS.get(statement)
        if keys is None:
            keys = _KEYS.setdefault(statement, tuple(statement.selected_columns.keys()))  # type: ignore[attr-defined]
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def _rows_where_in(self, column: str, values: Collection[int], order: str) -> Iterable[RowMapping]:
        """Rows whose ``column`` is among ``values``, ``order`` being ``"id"`` or ``"newest"``."""

        def build() -> Executable:
            statement = select(self.table).where(
                self.table.c[column].in_(bindparam("values", expanding=True))
            )
            return self._ordered(statement, order)

        statement = self._cached(("in", column, order), build)
        return self._execute(statement, {"values": _ids(values)}).mappings().all()

    def _page_rows(self, page: PageRequest, order: str, **filters: int | None) -> Iterable[Mapping[str, Any]]:
        """One page of rows in ``order`` (``"id"`` ascending, or ``"newest"``), filtered by column values."""
        statement, params = paged(self.table, "rows", lambda: select(self.table), page, order, filters)
        return self._mappings(statement, params)

    def _ordered(self, statement: Select[Any], order: str) -> Select[Any]:
        return ordered(self.table, statement, order)


_STATEMENTS: dict[tuple[str, Hashable], Executable] = {}
#: The column keys of the statements whose rows are read as dicts.
_KEYS: dict[Executable, tuple[str, ...]] = {}


def ordered(table: Table, statement: Select[Any], order: str) -> Select[Any]:
    """``statement`` ordered by ``table``'s id (``"id"``), or newest first (``"newest"``)."""
    if order == "id":
        return statement.order_by(table.c.id)
    return statement.order_by(table.c.created_at.desc(), table.c.id.desc())


def paged(
    table: Table,
    shape: Hashable,
    base: Callable[[], Select[Any]],
    page: PageRequest,
    order: str,
    filters: dict[str, int | None],
) -> tuple[Executable, dict[str, Any]]:
    """The statement and parameters of one page of ``base()`` (a SELECT from ``table``, which
    ``shape`` names in the statement cache), in ``order`` (``"id"`` ascending, or ``"newest"``
    by ``created_at`` then id, descending), filtered by ``table``'s column values."""
    columns = tuple(sorted(name for name, value in filters.items() if value is not None))
    cursor = page.after
    position = "none" if cursor is None else "id" if cursor.created_at is None else "time"
    with_offset = cursor is None and page.offset > 0

    def build() -> Executable:
        statement = base().where(*(table.c[name] == bindparam(f"f_{name}") for name in columns))
        id_ = table.c.id
        if position == "id":
            after: BindParameter[int] = bindparam("after_id")
            statement = statement.where(id_ > after if order == "id" else id_ < after)
        elif position == "time":
            # A row-value comparison, which both databases answer from the
            # (…, created_at, id) indexes.
            created_at = table.c.created_at
            statement = statement.where(
                tuple_(created_at, id_)
                < tuple_(bindparam("after_time", type_=created_at.type), bindparam("after_id"))
            )
        statement = ordered(table, statement, order).limit(bindparam("limit"))
        return statement.offset(bindparam("offset")) if with_offset else statement

    key = (table.name, ("page", shape, order, columns, position, with_offset))
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _STATEMENTS.setdefault(key, build())
    params: dict[str, Any] = {f"f_{name}": filters[name] for name in columns}
    params["limit"] = page.limit
    if cursor is not None:
        params["after_id"] = cursor.id
        if cursor.created_at is not None:
            params["after_time"] = cursor.created_at
    if with_offset:
        params["offset"] = page.offset
    return statement, params


_WORDS = {
    "users": "User",
    "constellations": "Constellation",
    "constellation_attempts": "Constellation attempt",
    "sessions": "Session",
    "posts": "Post",
    "tokens": "Token",
    "goals": "Goal",
}


def _ids(values: Collection[int]) -> list[int]:
    return sorted(set(values))


def _insert_on_conflict(connection: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An ``INSERT`` into ``table`` that can say ``ON CONFLICT``, in the connection's dialect."""
    name = connection.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"{table.name}: INSERT … ON CONFLICT is not written for {name}")


class SqlUserRepository(_SqlRepository):
    """Users in the ``users`` table."""

    table = users

    def add(self, user: User) -> User:
        """Store a new user and return it with its id."""
        return attrs.evolve(user, id=self._insert(user_values(user)))

    def get(self, user_id: int, *, for_update: bool = False) -> User | None:
        """Return the user, or ``None``; lock its row when ``for_update``."""
        row = self._get_row(user_id, for_update=for_update)
        return user_from_row(row) if row is not None else None

    def get_many(self, user_ids: Collection[int]) -> dict[int, User]:
        """Return the users that exist among ``user_ids``, by id."""
        if not user_ids:
            return {}
        return {row["id"]: user_from_row(row) for row in self._rows_where_in("id", user_ids, "id")}

    def list_page(self, page: PageRequest) -> Sequence[User]:
        """Return users by id, ascending."""
        return [user_from_row(row) for row in self._page_rows(page, "id")]

    def update(self, user: User) -> None:
        """Replace the stored user with the same id.

        Raises:
            Conflict: The user no longer exists.
        """
        self._update(user.id, user_values(user))

    def delete(self, user_id: int) -> None:
        """Remove the user."""
        self._delete_where(users.c.id == user_id)

    def total_minutes(self) -> dict[int, int]:
        """Return every user's stored ``total_minutes``, by id."""
        rows = self._execute(select(users.c.id, users.c.total_minutes)).mappings()
        return {row["id"]: row["total_minutes"] for row in rows}


class SqlConstellationRepository(_SqlRepository):
    """Constellations in the ``constellations`` table."""

    table = constellations

    def add(self, constellation: Constellation) -> Constellation:
        """Store a new constellation and return it with its id."""
        return attrs.evolve(constellation, id=self._insert(constellation_values(constellation)))

    def get(
        self, constellation_id: int, *, for_update: bool = False, for_share: bool = False
    ) -> Constellation | None:
        """Return the constellation, or ``None``; lock its row ``FOR NO KEY UPDATE`` when
        ``for_update``, else ``FOR SHARE`` when ``for_share`` (see the module docstring)."""
        row = self._get_row(constellation_id, for_update=for_update, for_share=for_share)
        return constellation_from_row(row) if row is not None else None

    def get_many(self, constellation_ids: Collection[int]) -> dict[int, Constellation]:
        """Return the constellations that exist among the ids, by id."""
        if not constellation_ids:
            return {}
        rows = self._rows_where_in("id", constellation_ids, "id")
        return {row["id"]: constellation_from_row(row) for row in rows}

    def list_page(self, page: PageRequest) -> Sequence[Constellation]:
        """Return constellations by id, ascending."""
        return [constellation_from_row(row) for row in self._page_rows(page, "id")]

    def update(self, constellation: Constellation) -> None:
        """Replace the stored constellation with the same id.

        Raises:
            Conflict: The constellation no longer exists.
        """
        self._update(constellation.id, constellation_values(constellation))

    def delete(self, constellation_id: int) -> None:
        """Remove the constellation.

        Raises:
            Conflict: An attempt or a post still refers to it.
        """
        self._delete_where(constellations.c.id == constellation_id)

    def count(self) -> int:
        """Return how many constellations are stored."""
        return int(self._execute(select(func.count()).select_from(constellations)).scalar_one())


class SqlAttemptRepository(_SqlRepository):
    """Attempts in the ``constellation_attempts`` table."""

    table = attempts

    def add(self, attempt: Attempt) -> Attempt:
        """Store a new attempt and return it with its id.

        Raises:
            Conflict: Its user or constellation does not exist (any more).
        """
        return attrs.evolve(attempt, id=self._insert(attempt_values(attempt)))

    def get(self, attempt_id: int, *, for_update: bool = False) -> Attempt | None:
        """Return the attempt, or ``None``; lock its row when ``for_update``."""
        row = self._get_row(attempt_id, for_update=for_update)
        return attempt_from_row(row) if row is not None else None

    def get_many(self, attempt_ids: Collection[int]) -> dict[int, Attempt]:
        """Return the attempts that exist among the ids, by id."""
        if not attempt_ids:
            return {}
        return {row["id"]: attempt_from_row(row) for row in self._rows_where_in("id", attempt_ids, "id")}

    def list_page(
        self, page: PageRequest, *, user_id: int | None = None, constellation_id: int | None = None
    ) -> Sequence[Attempt]:
        """Return attempts by id, ascending; only ``user_id``'s, or at ``constellation_id``, when given."""
        rows = self._page_rows(page, "id", user_id=user_id, constellation_id=constellation_id)
        return [attempt_from_row(row) for row in rows]

    def list_by_users(self, user_ids: Collection[int]) -> Sequence[Attempt]:
        """Return every attempt of these users, by id."""
        if not user_ids:
            return []
        return [attempt_from_row(row) for row in self._rows_where_in("user_id", user_ids, "id")]

    def list_by_constellations(self, constellation_ids: Collection[int]) -> Sequence[Attempt]:
        """Return every attempt at these constellations, by id."""
        if not constellation_ids:
            return []
        rows = self._rows_where_in("constellation_id", constellation_ids, "id")
        return [attempt_from_row(row) for row in rows]

    def update(self, attempt: Attempt) -> None:
        """Replace the stored attempt with the same id.

        Raises:
            Conflict: The attempt no longer exists.
        """
        self._update(attempt.id, attempt_values(attempt))

    def delete(self, attempt_id: int) -> None:
        """Remove the attempt; a user whose current attempt it was is left with none.

        Raises:
            Conflict: A session still refers to it.
        """
        self._delete_where(attempts.c.id == attempt_id)

    def delete_by_user(self, user_id: int) -> None:
        """Remove every attempt of the user.

        Raises:
            Conflict: A session still refers to one of them.
        """
        self._delete_where(attempts.c.user_id == user_id)

    def exists_for_constellation(self, constellation_id: int) -> bool:
        """Whether any attempt refers to the constellation."""
        return self._exists(attempts.c.constellation_id == constellation_id)


class SqlSessionRepository(_SqlRepository):
    """Sessions in the ``sessions`` table."""

    table = sessions

    def add(self, session: Session) -> Session:
        """Store a new session and return it with its id.

        Raises:
            Conflict: Its user or attempt does not exist (any more).
        """
        return attrs.evolve(session, id=self._insert(session_values(session)))

    def get(self, session_id: int, *, for_update: bool = False) -> Session | None:
        """Return the session, or ``None``; lock its row when ``for_update``."""
        row = self._get_row(session_id, for_update=for_update)
        return session_from_row(row) if row is not None else None

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
        rows = self._page_rows(page, "newest", user_id=user_id, constellation_attempt_id=attempt_id)
        return [session_from_row(row) for row in rows]

    def list_by_users(self, user_ids: Collection[int]) -> Sequence[Session]:
        """Return every session of these users, newest first."""
        if not user_ids:
            return []
        return [session_from_row(row) for row in self._rows_where_in("user_id", user_ids, "newest")]

    def list_by_attempts(self, attempt_ids: Collection[int]) -> Sequence[Session]:
        """Return every session of these attempts, newest first."""
        if not attempt_ids:
            return []
        rows = self._rows_where_in("constellation_attempt_id", attempt_ids, "newest")
        return [session_from_row(row) for row in rows]

    def update(self, session: Session) -> None:
        """Replace the stored session with the same id.

        Raises:
            Conflict: The session no longer exists, or its new user or attempt does not.
        """
        self._update(session.id, session_values(session))

    def delete(self, session_id: int) -> None:
        """Remove the session."""
        self._delete_where(sessions.c.id == session_id)

    def delete_by_attempt(self, attempt_id: int) -> Sequence[Session]:
        """Remove every session of the attempt and return them as they were, by id.

        One ``DELETE … RETURNING``. On PostgreSQL it waits for a concurrent
        transaction holding one of the rows and returns the row as that
        transaction committed it; on SQLite no other writer can be running.
        """
        statement = (
            delete(sessions).where(sessions.c.constellation_attempt_id == attempt_id).returning(*sessions.c)
        )
        deleted = [session_from_row(row) for row in self._execute(statement).mappings()]
        return sorted(deleted, key=lambda s: s.id)

    def delete_by_user(self, user_id: int) -> None:
        """Remove every session of the user."""
        self._delete_where(sessions.c.user_id == user_id)

    def active_timer(self, user_id: int) -> Session | None:
        """Return the user's session whose timer runs or is paused (in progress and timed), if any.

        Use cases keep at most one per user; were there several, the oldest (lowest id) is returned.
        """

        def build() -> Executable:
            return (
                select(sessions)
                .where(
                    sessions.c.user_id == bindparam("user_id"),
                    sessions.c.status == SessionStatus.IN_PROGRESS.value,
                    sessions.c.elapsed_seconds.is_not(None),
                )
                .order_by(sessions.c.id)
                .limit(1)
            )

        row = self._execute(self._cached("active_timer", build), {"user_id": user_id}).mappings().first()
        return session_from_row(row) if row is not None else None

    def minutes_by_day(
        self, user_id: int, first: date | None, last: date | None, *, constellation_id: int | None = None
    ) -> Sequence[DayTotal]:
        """Return the user's completed minutes and sessions per study day, by day: one ``SELECT … GROUP BY``.

        Only days with completed sessions appear; ``first`` and ``last`` bound the
        days (inclusive) when given; with ``constellation_id``, only sessions of
        attempts at that constellation count (a join on the attempt's primary key).
        Sessions without minutes count 0. The ``(user_id, study_day)`` index finds
        the user's days in order, so the grouping needs no sort.
        """
        bounded_below = first is not None
        bounded_above = last is not None
        at_constellation = constellation_id is not None

        def build() -> Executable:
            study_day = sessions.c.study_day
            source: FromClause = sessions
            if at_constellation:
                source = sessions.join(
                    attempts,
                    (attempts.c.id == sessions.c.constellation_attempt_id)
                    & (attempts.c.constellation_id == bindparam("constellation_id")),
                )
            criteria = [
                sessions.c.user_id == bindparam("user_id"),
                sessions.c.status == SessionStatus.COMPLETED.value,
                study_day.is_not(None),
            ]
            if bounded_below:
                criteria.append(study_day >= bindparam("first"))
            if bounded_above:
                criteria.append(study_day <= bindparam("last"))
            return (
                select(
                    study_day,
                    func.coalesce(func.sum(sessions.c.minutes), 0).label("minutes"),
                    func.count().label("sessions"),
                )
                .select_from(source)
                .where(*criteria)
                .group_by(study_day)
                .order_by(study_day)
            )

        statement = self._cached(("minutes_by_day", bounded_below, bounded_above, at_constellation), build)
        params: dict[str, Any] = {"user_id": user_id}
        if first is not None:
            params["first"] = first
        if last is not None:
            params["last"] = last
        if constellation_id is not None:
            params["constellation_id"] = constellation_id
        rows = self._execute(statement, params).mappings()
        return [DayTotal(row["study_day"], int(row["minutes"]), int(row["sessions"])) for row in rows]

    def minutes_by_user(self, statuses: Collection[SessionStatus]) -> dict[int, int]:
        """Return, for each user with sessions in one of ``statuses``, the sum of their minutes."""
        if not statuses:
            return {}
        statement = (
            select(sessions.c.user_id, func.coalesce(func.sum(sessions.c.minutes), 0).label("minutes"))
            .where(sessions.c.status.in_(sorted(s.value for s in statuses)), sessions.c.user_id.is_not(None))
            .group_by(sessions.c.user_id)
        )
        return {row["user_id"]: int(row["minutes"]) for row in self._execute(statement).mappings()}


class SqlPostRepository(_SqlRepository):
    """Posts in the ``posts`` table."""

    table = posts

    def add(self, post: Post) -> Post:
        """Store a new post and return it with its id.

        Raises:
            Conflict: Its author or constellation does not exist (any more).
        """
        return attrs.evolve(post, id=self._insert(post_values(post)))

    def get(self, post_id: int) -> Post | None:
        """Return the post, or ``None``."""
        row = self._get_row(post_id)
        return post_from_row(row) if row is not None else None

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
        rows = self._page_rows(page, "newest", user_id=user_id, constellation_id=constellation_id)
        return [post_from_row(row) for row in rows]

    def list_by_users(self, user_ids: Collection[int]) -> Sequence[Post]:
        """Return every post of these users, newest first."""
        if not user_ids:
            return []
        return [post_from_row(row) for row in self._rows_where_in("user_id", user_ids, "newest")]

    def list_by_constellations(self, constellation_ids: Collection[int]) -> Sequence[Post]:
        """Return every post about these constellations, newest first."""
        if not constellation_ids:
            return []
        rows = self._rows_where_in("constellation_id", constellation_ids, "newest")
        return [post_from_row(row) for row in rows]

    def delete(self, post_id: int) -> None:
        """Remove the post."""
        self._delete_where(posts.c.id == post_id)

    def delete_by_user(self, user_id: int) -> None:
        """Remove every post of the user."""
        self._delete_where(posts.c.user_id == user_id)

    def exists_for_constellation(self, constellation_id: int) -> bool:
        """Whether any post is about the constellation."""
        return self._exists(posts.c.constellation_id == constellation_id)


class SqlCredentialRepository(_SqlRepository):
    """Credentials in the ``credentials`` table, keyed by user id."""

    table = credentials

    def add(self, credentials: Credentials) -> None:
        """Store credentials for a user that has none.

        One ``INSERT … ON CONFLICT (login) DO NOTHING``: a login taken by a
        concurrent writer inserts nothing (on PostgreSQL, once that writer has
        committed) instead of failing the transaction.

        Raises:
            Conflict: The login is taken, or the user has credentials or no longer exists.
        """

        def build() -> Executable:
            table = self.table
            statement = _insert_on_conflict(self._connection, table)
            return statement.on_conflict_do_nothing(index_elements=[table.c.login]).returning(table.c.user_id)

        statement = self._cached(("add", self._connection.dialect.name), build)
        # RETURNING says whether a row went in (psycopg reports no rowcount here).
        if self._execute(statement, credentials_values(credentials)).first() is None:
            raise Conflict(f"The login {credentials.login!r} is taken")

    def get(self, user_id: int) -> Credentials | None:
        """Return the user's credentials, or ``None``."""
        return self._one("user_id", user_id)

    def get_by_login(self, login: str) -> Credentials | None:
        """Return the credentials with this login (already in lower case), or ``None``."""
        return self._one("login", login)

    def _one(self, column: str, value: object) -> Credentials | None:
        def build() -> Executable:
            return select(self.table).where(self.table.c[column] == bindparam("value"))

        statement = self._cached(("by", column), build)
        row = self._execute(statement, {"value": value}).mappings().first()
        return credentials_from_row(row) if row is not None else None

    def update(self, credentials: Credentials) -> None:
        """Replace the stored credentials of the same user.

        Raises:
            Conflict: They no longer exist, or the new login is taken.
        """
        table = self.table
        values = credentials_values(credentials)
        del values["user_id"]
        result = self._execute(update(table).where(table.c.user_id == credentials.user_id).values(**values))
        if result.rowcount == 0:
            raise Conflict(f"The credentials of user {credentials.user_id} no longer exist.")

    def delete(self, user_id: int) -> None:
        """Remove the user's credentials."""
        self._delete_where(self.table.c.user_id == user_id)


class SqlTokenRepository(_SqlRepository):
    """Tokens in the ``tokens`` table."""

    table = tokens

    def add(self, token: Token) -> Token:
        """Store a new token and return it with its id.

        Raises:
            Conflict: Its user no longer exists (or, against all odds, its digest is taken).
        """
        return attrs.evolve(token, id=self._insert(token_values(token)))

    def get(self, token_id: int) -> Token | None:
        """Return the token, or ``None``."""
        row = self._get_row(token_id)
        return token_from_row(row) if row is not None else None

    def get_by_digest(self, digest: str) -> Token | None:
        """Return the token whose secret has this digest, or ``None``: one read of the unique index."""

        def build() -> Executable:
            return select(tokens).where(tokens.c.digest == bindparam("digest"))

        rows = self._mappings(self._cached("by_digest", build), {"digest": digest})
        return token_from_row(rows[0]) if rows else None

    def list_by_user(self, user_id: int) -> Sequence[Token]:
        """Return the user's tokens, by id."""

        def build() -> Executable:
            return select(tokens).where(tokens.c.user_id == bindparam("user_id")).order_by(tokens.c.id)

        rows = self._execute(self._cached("by_user", build), {"user_id": user_id}).mappings()
        return [token_from_row(row) for row in rows]

    def touch(self, token_id: int, when: datetime) -> None:
        """Set the token's ``last_used_at``: one ``UPDATE``, which changes nothing if the token is gone."""

        def build() -> Executable:
            return (
                update(tokens)
                .where(tokens.c.id == bindparam("token_id"))
                .values(last_used_at=bindparam("used_at", type_=tokens.c.last_used_at.type))
            )

        try:
            update_rows(
                self._connection, self._cached("touch", build), {"token_id": token_id, "used_at": when}
            )
        except DBAPIError as exc:
            raise_translated(exc)

    def delete(self, token_id: int) -> None:
        """Remove the token: the next request presenting it is refused."""
        self._delete_where(tokens.c.id == token_id)

    def delete_by_user(self, user_id: int) -> None:
        """Remove every token of the user."""
        self._delete_where(tokens.c.user_id == user_id)


class SqlLoginFailureRepository(_SqlRepository):
    """Counts of failed sign-ins in the ``login_failures`` table, keyed by their key."""

    table = login_failures

    def get(self, key: str, *, for_update: bool = False) -> LoginFailures | None:
        """Return the count under ``key``, or ``None``; lock its row when ``for_update``.

        The lock is a plain ``FOR UPDATE`` on PostgreSQL: no row refers to these,
        so the weaker lock of the other repositories would spare nothing.
        """

        def build() -> Executable:
            statement = select(login_failures).where(login_failures.c.key == bindparam("key"))
            return statement.with_for_update() if for_update else statement

        statement = self._cached(("get", for_update), build)
        row = self._execute(statement, {"key": key}).mappings().first()
        return login_failures_from_row(row) if row is not None else None

    def add_failure(self, key: str, now: datetime, window: timedelta) -> LoginFailures:
        """Count one more failure: one ``INSERT … ON CONFLICT (key) DO UPDATE … RETURNING``.

        The row is created at 1, or incremented in place (started over at 1 when
        its window is over), so that concurrent failures are each counted.
        """

        def build() -> Executable:
            statement = _insert_on_conflict(self._connection, login_failures)
            over = login_failures.c.window_start <= bindparam("stale", type_=UtcDateTime())
            return statement.on_conflict_do_update(
                index_elements=[login_failures.c.key],
                set_={
                    "count": case((over, 1), else_=login_failures.c.count + 1),
                    "window_start": case(
                        (over, statement.excluded["window_start"]), else_=login_failures.c.window_start
                    ),
                },
            ).returning(login_failures)

        statement = self._cached(("add_failure", self._connection.dialect.name), build)
        values = login_failures_values(LoginFailures(key=key, count=1, window_start=now))
        row = self._execute(statement, {**values, "stale": now - window}).mappings().one()
        return login_failures_from_row(row)

    def delete(self, key: str) -> None:
        """Forget the count under ``key``."""
        self._delete_where(login_failures.c.key == key)


class SqlGoalRepository(_SqlRepository):
    """Goals in the ``goals`` table."""

    table = goals

    def add(self, goal: Goal) -> Goal:
        """Store a new goal and return it with its id.

        Raises:
            Conflict: Its user or constellation does not exist (any more).
        """
        return attrs.evolve(goal, id=self._insert(goal_values(goal)))

    def get(self, goal_id: int) -> Goal | None:
        """Return the goal, or ``None``."""
        row = self._get_row(goal_id)
        return goal_from_row(row) if row is not None else None

    def list_by_user(self, user_id: int) -> Sequence[Goal]:
        """Return the user's goals, by id."""

        def build() -> Executable:
            return select(goals).where(goals.c.user_id == bindparam("user_id")).order_by(goals.c.id)

        rows = self._execute(self._cached("by_user", build), {"user_id": user_id}).mappings()
        return [goal_from_row(row) for row in rows]

    def delete(self, goal_id: int) -> None:
        """Remove the goal."""
        self._delete_where(goals.c.id == goal_id)

    def delete_by_user(self, user_id: int) -> None:
        """Remove every goal of the user."""
        self._delete_where(goals.c.user_id == user_id)

    def exists_for_constellation(self, constellation_id: int) -> bool:
        """Whether any goal is about the constellation."""
        return self._exists(goals.c.constellation_id == constellation_id)
