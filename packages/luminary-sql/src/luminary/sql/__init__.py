"""SQL storage for Luminary: SQLAlchemy Core tables, repositories, unit of work, migrations.

It implements the ports of :mod:`luminary.core.ports` on SQLite (the embedded
default) and PostgreSQL (production)::

    from functools import partial
    from luminary.sql import SqlAlchemyUnitOfWork, make_engine, upgrade

    url = "sqlite:///luminary.db"     # or postgresql+psycopg://…; luminary-sql reads no settings
    upgrade(url)                      # run the migrations shipped in this package
    engine = make_engine(url)         # SQLite: WAL, foreign keys, BEGIN IMMEDIATE; PostgreSQL: a pool
    uow_factory = partial(SqlAlchemyUnitOfWork, engine)

Modules: :mod:`~luminary.sql.tables` (schema and row↔entity mapping),
:mod:`~luminary.sql.repositories`, :mod:`~luminary.sql.unit_of_work`,
:mod:`~luminary.sql.engine`, :mod:`~luminary.sql.config`,
:mod:`~luminary.sql.migrate`, :mod:`~luminary.sql.availability` (a database that
cannot be used: 503s, one log line a minute, SQLite files replaced under the server),
:mod:`~luminary.sql.maintenance` (online backups and integrity checks of SQLite files),
:mod:`~luminary.sql.rate_limits` (request counts of the HTTP rate limits, shared in PostgreSQL).
"""

from .__about__ import __version__
from .availability import SchemaMissing, check_ready, migrate_when_missing
from .engine import check_connection, make_engine
from .errors import DatabaseError, DataLossRefused
from .maintenance import (
    Backup,
    CheckReport,
    DestinationExists,
    MaintenanceError,
    backup_database,
    check_database,
)
from .migrate import Migration, current_revision, downgrade, head_revision, upgrade
from .tables import metadata
from .unit_of_work import SqlAlchemyUnitOfWork

__all__ = [
    "Backup",
    "CheckReport",
    "DataLossRefused",
    "DatabaseError",
    "DestinationExists",
    "MaintenanceError",
    "Migration",
    "SchemaMissing",
    "SqlAlchemyUnitOfWork",
    "__version__",
    "backup_database",
    "check_connection",
    "check_database",
    "check_ready",
    "current_revision",
    "downgrade",
    "head_revision",
    "make_engine",
    "metadata",
    "migrate_when_missing",
    "upgrade",
]
