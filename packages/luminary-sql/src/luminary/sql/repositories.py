"""SQL implementations of core's repository protocols.

Each repository works on the one :class:`~sqlalchemy.engine.Connection` of its
unit of work, and every method runs a fixed number of statements — one, except
where noted — whatever the number of rows or ids: methods taking many ids use a
single ``IN``, so a use case's statement count does not grow with the data.

The semantics are those of :mod:`luminary.core.memory`, which the same behavioural
suite checks. Two SQL specifics:

* ``get(..., for_update=True)`` renders ``SELECT … FOR NO KEY UPDATE`` on
  PostgreSQL: it blocks other writers of the row until the transaction ends but,
  unlike ``FOR UPDATE``, not the foreign-key checks of a concurrent INSERT of a
  child row. (With ``FOR UPDATE``, two transactions that each insert a session of
  a user and then lock that user deadlock.) SQLite has no row locks: the
  ``BEGIN IMMEDIATE`` of every transaction already holds the database's write lock.
* Database integrity errors (a foreign key broken by a concurrent delete, a
  CHECK constraint) and PostgreSQL's serialization failures and deadlocks are
  raised as :class:`~luminary.core.errors.Conflict`: the request met a state it
  cannot apply to, and may be retried.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, NoReturn

import attrs
from sqlalchemy import Select, Table, delete, exists, func, insert, select, tuple_, update
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.sql import Executable

from luminary.core.entities import Attempt, Constellation, Post, Session, SessionStatus, User
from luminary.core.errors import Conflict
from luminary.core.pagination import PageRequest

from .tables import (
    attempt_from_row,
    attempt_values,
    attempts,
    constellation_from_row,
    constellation_values,
    constellations,
    post_from_row,
    post_values,
    posts,
    session_from_row,
    session_values,
    sessions,
    user_from_row,
    user_values,
    users,
)

__all__ = [
    "SqlAttemptRepository",
    "SqlConstellationRepository",
    "SqlPostRepository",
    "SqlSessionRepository",
    "SqlUserRepository",
    "raise_translated",
]

# SQLSTATEs of transactions PostgreSQL aborted because of a concurrent one.
_RETRYABLE_SQLSTATES = {"40001", "40P01"}


def raise_translated(exc: DBAPIError) -> NoReturn:
    """Raise :class:`Conflict` for integrity and concurrency errors, else ``exc`` itself."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if isinstance(exc, IntegrityError):
        raise Conflict(
            "The change conflicts with related data, which may have been changed or removed meanwhile."
        ) from exc
    if sqlstate in _RETRYABLE_SQLSTATES:
        raise Conflict("The change collided with a concurrent change; try again.") from exc
    raise exc


class _SqlRepository:
    """What every repository shares: the connection, and error translation."""

    table: Table

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def _execute(self, statement: Executable) -> CursorResult[Any]:
        try:
            return self._connection.execute(statement)
        except DBAPIError as exc:
            raise_translated(exc)

    def _insert(self, values: dict[str, Any]) -> int:
        result = self._execute(insert(self.table).values(**values))
        (new_id,) = result.inserted_primary_key or (None,)
        if new_id is None:  # pragma: no cover - every supported database reports it
            raise RuntimeError(f"{self.table.name}: the database did not report the new id")
        return int(new_id)

    def _update(self, entity_id: int, values: dict[str, Any]) -> None:
        result = self._execute(update(self.table).where(self.table.c.id == entity_id).values(**values))
        if result.rowcount == 0:
            # The in-memory store cannot lose a row between a read and a write;
            # a database can, when another transaction deleted it in between.
            raise Conflict(f"{_WORDS[self.table.name]} {entity_id} no longer exists.")

    def _delete_where(self, *criteria: Any) -> None:
        self._execute(delete(self.table).where(*criteria))

    def _exists(self, *criteria: Any) -> bool:
        return bool(self._execute(select(exists().where(*criteria))).scalar())

    def _by_id(self, statement: Select[Any], page: PageRequest) -> Select[Any]:
        """Order by id and cut out the page."""
        id_ = self.table.c.id
        if page.after is not None:
            statement = statement.where(id_ > page.after.id)
        elif page.offset:
            statement = statement.offset(page.offset)
        return statement.order_by(id_).limit(page.limit)

    def _newest_first(self, statement: Select[Any], page: PageRequest | None = None) -> Select[Any]:
        """Order by ``(created_at, id)`` descending and, given a page, cut it out."""
        created_at, id_ = self.table.c.created_at, self.table.c.id
        statement = statement.order_by(created_at.desc(), id_.desc())
        if page is None:
            return statement
        cursor = page.after
        if cursor is not None:
            if cursor.created_at is None:
                statement = statement.where(id_ < cursor.id)
            else:
                # A row-value comparison, which both databases can answer from
                # the (…, created_at, id) indexes.
                statement = statement.where(tuple_(created_at, id_) < (cursor.created_at, cursor.id))
        elif page.offset:
            statement = statement.offset(page.offset)
        return statement.limit(page.limit)


_WORDS = {
    "users": "User",
    "constellations": "Constellation",
    "constellation_attempts": "Constellation attempt",
    "sessions": "Session",
    "posts": "Post",
}


def _ids(values: Collection[int]) -> list[int]:
    return sorted(set(values))


class SqlUserRepository(_SqlRepository):
    """Users in the ``users`` table."""

    table = users

    def add(self, user: User) -> User:
        """Store a new user and return it with its id."""
        return attrs.evolve(user, id=self._insert(user_values(user)))

    def get(self, user_id: int, *, for_update: bool = False) -> User | None:
        """Return the user, or ``None``; lock its row when ``for_update``."""
        statement = select(users).where(users.c.id == user_id)
        if for_update:
            statement = statement.with_for_update(key_share=True)
        row = self._execute(statement).mappings().first()
        return user_from_row(row) if row is not None else None

    def get_many(self, user_ids: Collection[int]) -> dict[int, User]:
        """Return the users that exist among ``user_ids``, by id."""
        if not user_ids:
            return {}
        rows = self._execute(select(users).where(users.c.id.in_(_ids(user_ids)))).mappings()
        return {row["id"]: user_from_row(row) for row in rows}

    def list_page(self, page: PageRequest) -> Sequence[User]:
        """Return users by id, ascending."""
        rows = self._execute(self._by_id(select(users), page)).mappings()
        return [user_from_row(row) for row in rows]

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

    def get(self, constellation_id: int) -> Constellation | None:
        """Return the constellation, or ``None``."""
        statement = select(constellations).where(constellations.c.id == constellation_id)
        row = self._execute(statement).mappings().first()
        return constellation_from_row(row) if row is not None else None

    def get_many(self, constellation_ids: Collection[int]) -> dict[int, Constellation]:
        """Return the constellations that exist among the ids, by id."""
        if not constellation_ids:
            return {}
        statement = select(constellations).where(constellations.c.id.in_(_ids(constellation_ids)))
        return {row["id"]: constellation_from_row(row) for row in self._execute(statement).mappings()}

    def list_page(self, page: PageRequest) -> Sequence[Constellation]:
        """Return constellations by id, ascending."""
        rows = self._execute(self._by_id(select(constellations), page)).mappings()
        return [constellation_from_row(row) for row in rows]

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
        statement = select(attempts).where(attempts.c.id == attempt_id)
        if for_update:
            statement = statement.with_for_update(key_share=True)
        row = self._execute(statement).mappings().first()
        return attempt_from_row(row) if row is not None else None

    def get_many(self, attempt_ids: Collection[int]) -> dict[int, Attempt]:
        """Return the attempts that exist among the ids, by id."""
        if not attempt_ids:
            return {}
        statement = select(attempts).where(attempts.c.id.in_(_ids(attempt_ids)))
        return {row["id"]: attempt_from_row(row) for row in self._execute(statement).mappings()}

    def list_page(self, page: PageRequest, *, user_id: int | None = None) -> Sequence[Attempt]:
        """Return attempts by id, ascending; only ``user_id``'s when given."""
        statement = select(attempts)
        if user_id is not None:
            statement = statement.where(attempts.c.user_id == user_id)
        return [attempt_from_row(row) for row in self._execute(self._by_id(statement, page)).mappings()]

    def list_by_users(self, user_ids: Collection[int]) -> Sequence[Attempt]:
        """Return every attempt of these users, by id."""
        if not user_ids:
            return []
        statement = select(attempts).where(attempts.c.user_id.in_(_ids(user_ids))).order_by(attempts.c.id)
        return [attempt_from_row(row) for row in self._execute(statement).mappings()]

    def list_by_constellations(self, constellation_ids: Collection[int]) -> Sequence[Attempt]:
        """Return every attempt at these constellations, by id."""
        if not constellation_ids:
            return []
        statement = (
            select(attempts)
            .where(attempts.c.constellation_id.in_(_ids(constellation_ids)))
            .order_by(attempts.c.id)
        )
        return [attempt_from_row(row) for row in self._execute(statement).mappings()]

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
        statement = select(sessions).where(sessions.c.id == session_id)
        if for_update:
            statement = statement.with_for_update(key_share=True)
        row = self._execute(statement).mappings().first()
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
        statement = select(sessions)
        if user_id is not None:
            statement = statement.where(sessions.c.user_id == user_id)
        if attempt_id is not None:
            statement = statement.where(sessions.c.constellation_attempt_id == attempt_id)
        rows = self._execute(self._newest_first(statement, page)).mappings()
        return [session_from_row(row) for row in rows]

    def list_by_users(self, user_ids: Collection[int]) -> Sequence[Session]:
        """Return every session of these users, newest first."""
        if not user_ids:
            return []
        statement = self._newest_first(select(sessions).where(sessions.c.user_id.in_(_ids(user_ids))))
        return [session_from_row(row) for row in self._execute(statement).mappings()]

    def list_by_attempts(self, attempt_ids: Collection[int]) -> Sequence[Session]:
        """Return every session of these attempts, newest first."""
        if not attempt_ids:
            return []
        statement = self._newest_first(
            select(sessions).where(sessions.c.constellation_attempt_id.in_(_ids(attempt_ids)))
        )
        return [session_from_row(row) for row in self._execute(statement).mappings()]

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

    def completed_minutes_by_user(self) -> dict[int, int]:
        """Return, for each user with completed sessions, the sum of their minutes."""
        statement = (
            select(sessions.c.user_id, func.coalesce(func.sum(sessions.c.minutes), 0).label("minutes"))
            .where(sessions.c.status == SessionStatus.COMPLETED.value, sessions.c.user_id.is_not(None))
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
        row = self._execute(select(posts).where(posts.c.id == post_id)).mappings().first()
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
        statement = select(posts)
        if user_id is not None:
            statement = statement.where(posts.c.user_id == user_id)
        if constellation_id is not None:
            statement = statement.where(posts.c.constellation_id == constellation_id)
        rows = self._execute(self._newest_first(statement, page)).mappings()
        return [post_from_row(row) for row in rows]

    def list_by_users(self, user_ids: Collection[int]) -> Sequence[Post]:
        """Return every post of these users, newest first."""
        if not user_ids:
            return []
        statement = self._newest_first(select(posts).where(posts.c.user_id.in_(_ids(user_ids))))
        return [post_from_row(row) for row in self._execute(statement).mappings()]

    def list_by_constellations(self, constellation_ids: Collection[int]) -> Sequence[Post]:
        """Return every post about these constellations, newest first."""
        if not constellation_ids:
            return []
        statement = self._newest_first(
            select(posts).where(posts.c.constellation_id.in_(_ids(constellation_ids)))
        )
        return [post_from_row(row) for row in self._execute(statement).mappings()]

    def delete(self, post_id: int) -> None:
        """Remove the post."""
        self._delete_where(posts.c.id == post_id)

    def delete_by_user(self, user_id: int) -> None:
        """Remove every post of the user."""
        self._delete_where(posts.c.user_id == user_id)

    def exists_for_constellation(self, constellation_id: int) -> bool:
        """Whether any post is about the constellation."""
        return self._exists(posts.c.constellation_id == constellation_id)
