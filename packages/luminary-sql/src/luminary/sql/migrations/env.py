"""Alembic's environment for Luminary's migrations.

Which database: a connection handed over in ``config.attributes["connection"]``
(what :func:`luminary.sql.upgrade` does), else ``sqlalchemy.url`` if the
configuration sets one, else ``LUMINARY_DATABASE_URL`` or ``DATABASE_URL`` from
the environment, else ``sqlite:///luminary.db``. So, from the repository root::

    DATABASE_URL=sqlite:///learning_env.db alembic upgrade head

(``luminary db upgrade`` reads every setting of the ``luminary`` command,
``.env`` and ``POSTGRES_*`` included.)

The whole run is one transaction, on SQLite too (whose DDL is transactional once
the driver stops managing transactions). On PostgreSQL an advisory lock makes
concurrent runs (several servers starting at once) wait for each other. On
SQLite, foreign keys are off during the run, because a migration that rebuilds
a table (``batch_alter_table``) drops the old one, and dropping a referenced
table would cascade or fail; every foreign key is checked before committing.

A downgrade that would lose data refuses (and the run rolls back) unless forced
with ``-x force-data-loss=true``; see :mod:`luminary.sql.migrate`. From the
``alembic`` command, such a refusal, like any :class:`~luminary.sql.DatabaseError`,
is one ``FAILED:`` line and a non-zero exit status, not a traceback. The run
leaves the revisions the database went from and to in
``config.attributes["revisions"]``, for :func:`luminary.sql.upgrade` to return.
"""

from __future__ import annotations

import logging.config
import os

from alembic import context
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection

from luminary.sql.config import normalize_url
from luminary.sql.engine import check_connection, make_engine
from luminary.sql.errors import DatabaseError
from luminary.sql.tables import metadata

config = context.config

# "Luminary" in ASCII: the key of the advisory lock serialising migration runs.
MIGRATION_LOCK_KEY = 0x4C756D696E617279


def database_url() -> str:
    configured = config.get_main_option("sqlalchemy.url")
    if configured:
        return configured
    for name in ("LUMINARY_DATABASE_URL", "DATABASE_URL"):
        value = os.environ.get(name, "").strip()
        if value:
            return normalize_url(value)
    return "sqlite:///luminary.db"


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations(connection: Connection) -> None:
    is_sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=metadata,
        transactional_ddl=True,
        render_as_batch=is_sqlite,
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        # Read under the lock, so a run that waited for another reports what it found.
        migration = context.get_context()
        before = migration.get_current_heads()
        context.run_migrations()
        config.attributes["revisions"] = (before, migration.get_current_heads())
        if is_sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration left {len(broken)} broken foreign keys, e.g. {broken[0]}")


def run_sqlite_migrations(connection: Connection) -> None:
    # PRAGMA foreign_keys is ignored inside a transaction, so it is set on the
    # driver's connection before the migration transaction begins.
    driver = connection.connection.driver_connection
    if driver is None or connection.in_transaction():
        run_migrations(connection)
        return
    (was_on,) = driver.execute("PRAGMA foreign_keys").fetchone()
    driver.execute("PRAGMA foreign_keys=OFF")
    try:
        run_migrations(connection)
    finally:
        driver.execute(f"PRAGMA foreign_keys={'ON' if was_on else 'OFF'}")


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    # The alembic command: it prints a CommandError as one "FAILED: …" line, anything else as a traceback.
    try:
        engine = make_engine(database_url())
        try:
            check_connection(engine)
            with engine.connect() as connection:
                run(connection)
        finally:
            engine.dispose()
    except DatabaseError as exc:
        raise CommandError(exc.message) from exc


def run(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        run_sqlite_migrations(connection)
    else:
        run_migrations(connection)


if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
