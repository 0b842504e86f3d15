"""The SQL unit of work: one connection, one transaction, every repository.

::

    with SqlAlchemyUnitOfWork(engine) as uow:   # connect, BEGIN (IMMEDIATE on SQLite)
        user = uow.users.get(1, for_update=True)
        uow.users.update(…)
        uow.commit()                            # COMMIT; a later statement begins anew
    # leaving: ROLLBACK of whatever was not committed, then the connection waits for the
    # next unit of work (luminary.sql.engine.KeptConnections) or goes back to the pool

A unit of work may be entered again once left; each entry is a new transaction,
on the connection the last unit of work left if one waits. It is not meant to be
shared between threads: make one per request
(``functools.partial(SqlAlchemyUnitOfWork, engine)`` is a factory).
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from luminary.core.errors import Unavailable

from .availability import outage_of, sqlite_file, unavailable
from .driver import begin_bare, end_bare
from .engine import READ_ONLY, kept_connections, write_lock
from .repositories import (
    SqlAttemptRepository,
    SqlConstellationRepository,
    SqlCredentialRepository,
    SqlGoalRepository,
    SqlLoginFailureRepository,
    SqlPostRepository,
    SqlSessionRepository,
    SqlTokenRepository,
    SqlUserRepository,
    raise_translated,
)
from .views import SqlViews

if TYPE_CHECKING:
    from luminary.core.ports import (
        AttemptRepository,
        ConstellationRepository,
        CredentialRepository,
        GoalRepository,
        LoginFailureRepository,
        PostRepository,
        SessionRepository,
        TokenRepository,
        UnitOfWork,
        UserRepository,
        Views,
    )

__all__ = ["SqlAlchemyUnitOfWork"]


class SqlAlchemyUnitOfWork:
    """A transaction over a SQL database, implementing core's ``UnitOfWork``.

    Args:
        engine: An engine made by :func:`luminary.sql.make_engine` (which sets up
            SQLite's transactions properly) over a migrated database.

    Attributes:
        users, constellations, attempts, sessions, posts, credentials, tokens,
            login_failures, goals: The repositories, valid inside the ``with`` block.
        views: The read model (:class:`~luminary.sql.views.SqlViews`), valid there too.
    """

    # Typed as the protocols: UnitOfWork's attributes are writable, hence invariant.
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

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None
        self._read_only = False
        self._lock: threading.Lock | None = None
        self._outage = outage_of(engine)
        #: Where a connection waits between units of work (see KeptConnections), if it can.
        self._kept = kept_connections(engine)

    def reading(self) -> SqlAlchemyUnitOfWork:
        """Make the next entry a read-only transaction (no write lock on SQLite)."""
        self._read_only = True
        return self

    def __enter__(self) -> SqlAlchemyUnitOfWork:
        if self._connection is not None:
            raise RuntimeError("this unit of work is already in use")
        read_only, self._read_only = self._read_only, False
        lock = None if read_only else write_lock(self.engine)
        if lock is not None:
            lock.acquire()
        try:
            if not read_only and (watched := sqlite_file(self.engine)) is not None:
                watched.check()
            if read_only:
                connection = self._begin_reading()
            else:
                connection = self._connect()
                try:
                    connection.begin()
                except BaseException:
                    connection.close()
                    raise
        except BaseException as exc:
            if lock is not None:
                lock.release()
            error = unavailable(exc)
            if error is not None:
                raise self._failed(error) from exc
            if isinstance(exc, Unavailable):
                raise self._failed(exc) from None
            raise
        self._outage.answered()
        self._lock = lock
        self._connection = connection
        self.users = SqlUserRepository(connection)
        self.constellations = SqlConstellationRepository(connection)
        self.attempts = SqlAttemptRepository(connection)
        self.sessions = SqlSessionRepository(connection)
        self.posts = SqlPostRepository(connection)
        self.credentials = SqlCredentialRepository(connection)
        self.tokens = SqlTokenRepository(connection)
        self.login_failures = SqlLoginFailureRepository(connection)
        self.goals = SqlGoalRepository(connection)
        self.views = SqlViews(connection)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        lock, self._lock = self._lock, None
        if connection is None:
            return
        if isinstance(exc, Unavailable):
            self._failed(exc)
        try:
            try:
                if connection.in_transaction():
                    connection.rollback()
            finally:
                # What a read did on the driver's connection (see _begin_reading), undone whatever
                # happened: a PostgreSQL connection must not go back to the pool in autocommit.
                end_bare(connection)
        except DBAPIError as rollback_error:
            # A connection lost mid-transaction cannot roll back, and need not:
            # the server dropped the transaction with it.
            error = unavailable(rollback_error)
            if error is None:
                raise
            if exc is None:
                raise self._failed(error) from rollback_error
        finally:
            if self._kept is None or not self._kept.keep(connection):
                connection.close()
            if lock is not None:
                lock.release()

    def _begin_reading(self) -> Connection:
        """A connection for a read-only transaction, begun as cheaply as the database allows.

        PostgreSQL at READ COMMITTED reads in autocommit: each statement reads its
        own snapshot, in a transaction or not, so one around the reads would only
        add two round trips (BEGIN, ROLLBACK); no transaction is begun, not even
        SQLAlchemy's. SQLite begins a plain ``BEGIN``, which takes no write lock.
        Both on the driver's connection (:func:`~luminary.sql.driver.begin_bare`),
        not through SQLAlchemy's transaction or isolation level option, which cost
        a third of a short read.
        """
        connection = self._connect()
        try:
            sqlite = connection.dialect.name == "sqlite"
            if (sqlite or _snapshot_per_statement(connection)) and begin_bare(connection):
                return connection
            connection.execution_options(**{READ_ONLY: True})
            connection.begin()
        except BaseException:
            connection.close()
            raise
        return connection

    def _connect(self) -> Connection:
        """The connection the last unit of work left, if one waits; else one from the pool."""
        kept = self._kept.take() if self._kept is not None else None
        return self.engine.connect() if kept is None else kept

    def _failed(self, error: Unavailable) -> Unavailable:
        self._outage.failed(error)
        return error

    def _active(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("the unit of work is used outside its `with` block")
        return self._connection

    def commit(self) -> None:
        """Make the changes of this transaction permanent.

        Raises:
            Conflict: The database refused the changes at commit time.
        """
        try:
            self._active().commit()
        except DBAPIError as exc:
            raise_translated(exc)

    def rollback(self) -> None:
        """Discard the changes of this transaction."""
        self._active().rollback()


def _snapshot_per_statement(connection: Connection) -> bool:
    """Whether ``connection`` is PostgreSQL at READ COMMITTED (its default, and Luminary's),
    known without asking the server."""
    chosen = connection.get_execution_options().get("isolation_level")
    level = chosen or connection.default_isolation_level
    return connection.dialect.name == "postgresql" and level == "READ COMMITTED"


if TYPE_CHECKING:

    def _implements_the_protocol(engine: Engine) -> UnitOfWork:
        return SqlAlchemyUnitOfWork(engine)
