"""Fresh, migrated SQL databases for the tests.

``conftest.uow_factory`` calls :func:`sql_uow_factory` for the ``sqlite`` and
``postgres`` backends:

* **SQLite**: each test gets its own database file in its ``tmp_path``, a copy
  of one file migrated once per run with :func:`luminary.sql.upgrade` (copying
  is much faster than migrating each time).
* **PostgreSQL**: each test run (each pytest process) creates its own database,
  ``luminary_test_<pid>_<random>``, on the server of ``LUMINARY_TEST_POSTGRES_URL``,
  migrates it once, and drops it at the end; each test starts by emptying the
  tables and restarting their sequences (so ids start at 1 as in memory).
  Runs sharing a server never see each other's rows.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

from luminary.core import UnitOfWork
from luminary.sql import SqlAlchemyUnitOfWork, make_engine, upgrade
from luminary.sql.config import normalize_url
from luminary.sql.tables import metadata

#: The SQL backends, as ``pytest.mark.parametrize`` values.
SQL_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

#: Every table of the schema, children first.
TABLES = (
    "login_failures",
    "tokens",
    "credentials",
    "posts",
    "sessions",
    "constellation_attempts",
    "constellations",
    "users",
)


def postgres_server_url() -> str:
    """The server the PostgreSQL tests use; skips the test when none is configured."""
    from conftest import postgres_url

    url = postgres_url()
    if not url:
        pytest.skip(
            "PostgreSQL tests need LUMINARY_TEST_POSTGRES_URL (a server URL they may create databases on)"
        )
    return normalize_url(url)


class TemporaryPostgresDatabase:
    """A database created on a server for a while, then dropped with whatever is in it.

    Args:
        server_url: Any database URL on the server; it is used to create and drop.
        migrate: Whether to run the migrations into the new database.
    """

    def __init__(self, server_url: str, *, migrate: bool) -> None:
        self.name = f"luminary_test_{os.getpid()}_{secrets.token_hex(4)}"
        self._admin = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with self._admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
            # A test database need not survive a crash of the server: commits do not wait for the
            # disk (a tenth of the PostgreSQL tests' time). Durability across kill -9 is measured
            # by benchmarks/crash_loop.py, on the server's own settings.
            connection.exec_driver_sql(f'ALTER DATABASE "{self.name}" SET synchronous_commit = off')
        self.url = make_url(server_url).set(database=self.name).render_as_string(hide_password=False)
        if migrate:
            upgrade(self.url)
        self.engine = make_engine(self.url)
        self._sequences: Sequence[str] | None = None

    def truncate(self) -> None:
        """Empty every table and restart the ids at 1.

        ``DELETE`` rather than ``TRUNCATE``: on a test's few rows it took 2.6–6.9 ms against
        14.5 (``TRUNCATE`` makes every table a new file), once before each PostgreSQL test.
        """
        with self.engine.begin() as connection:
            # A test that left a transaction open would otherwise hang the next one.
            connection.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
            if self._sequences is None:
                names = "SELECT sequence_name FROM information_schema.sequences"
                self._sequences = connection.exec_driver_sql(names).scalars().all()
            for table in reversed(metadata.sorted_tables):  # children first
                connection.execute(table.delete())
            for sequence in self._sequences:
                connection.exec_driver_sql(f'ALTER SEQUENCE "{sequence}" RESTART')

    def drop(self) -> None:
        """Close the pool and drop the database, even with sessions still connected."""
        self.engine.dispose()
        with self._admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self._admin.dispose()

    def __enter__(self) -> TemporaryPostgresDatabase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.drop()


_run_database: TemporaryPostgresDatabase | None = None
_sqlite_template: Path | None = None


def postgres_run_database(request: pytest.FixtureRequest) -> TemporaryPostgresDatabase:
    """The migrated database of this test run, created at its first use."""
    global _run_database
    if _run_database is None:
        database = TemporaryPostgresDatabase(postgres_server_url(), migrate=True)
        _run_database = database

        def drop() -> None:
            global _run_database
            _run_database = None
            database.drop()

        request.config.add_cleanup(drop)
    return _run_database


def sqlite_database(request: pytest.FixtureRequest) -> Path:
    """A fresh migrated SQLite file in the test's ``tmp_path``."""
    global _sqlite_template
    if _sqlite_template is None:
        folder: Path = request.getfixturevalue("tmp_path_factory").mktemp("sqlite-template")
        template = folder / "migrated.db"
        upgrade(f"sqlite:///{template}")  # disposes its engine: the WAL is checkpointed into the file
        _sqlite_template = template
    path: Path = request.getfixturevalue("tmp_path") / "luminary.db"
    shutil.copyfile(_sqlite_template, path)
    return path


def sql_engine(backend: str, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An engine over an empty migrated database of ``backend`` (``sqlite`` or ``postgres``)."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{sqlite_database(request)}")
        try:
            yield engine
        finally:
            engine.dispose()
    elif backend == "postgres":
        database = postgres_run_database(request)
        database.truncate()
        yield database.engine
    else:
        raise ValueError(f"unknown SQL backend {backend!r}")


def sql_uow_factory(backend: str, request: pytest.FixtureRequest) -> Iterator[Callable[[], UnitOfWork]]:
    """Make units of work over an empty migrated database of ``backend``."""
    for engine in sql_engine(backend, request):
        yield partial(SqlAlchemyUnitOfWork, engine)


def terminate_backend(engine: Engine, pid: int) -> None:
    """End PostgreSQL backend ``pid`` from another connection, as a server restart would."""
    admin = create_engine(engine.url, poolclass=NullPool)
    try:
        with admin.connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
    finally:
        admin.dispose()
