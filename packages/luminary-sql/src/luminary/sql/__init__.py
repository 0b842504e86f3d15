"""SQL storage for Luminary: SQLAlchemy Core tables, repositories, unit of work, migrations.

It implements the ports of :mod:`luminary.core.ports` on SQLite (the embedded
default) and PostgreSQL (production)::

    from functools import partial
    from luminary.sql import SqlAlchemyUnitOfWork, make_engine, resolve_database_url, upgrade

    url = resolve_database_url()      # --database-url, environment, .env, or sqlite:///luminary.db
    upgrade(url)                      # run the migrations shipped in this package
    engine = make_engine(url)         # SQLite: WAL, foreign keys, BEGIN IMMEDIATE; PostgreSQL: a pool
    uow_factory = partial(SqlAlchemyUnitOfWork, engine)

Modules: :mod:`~luminary.sql.tables` (schema and row↔entity mapping),
:mod:`~luminary.sql.repositories`, :mod:`~luminary.sql.unit_of_work`,
:mod:`~luminary.sql.engine`, :mod:`~luminary.sql.config`,
:mod:`~luminary.sql.migrate`.
"""

from .__about__ import __version__
from .config import DEFAULT_DATABASE_URL, resolve_database_url
from .engine import check_connection, make_engine
from .errors import DatabaseError
from .migrate import current_revision, downgrade, head_revision, upgrade
from .tables import metadata
from .unit_of_work import SqlAlchemyUnitOfWork

__all__ = [
    "DEFAULT_DATABASE_URL",
    "DatabaseError",
    "SqlAlchemyUnitOfWork",
    "__version__",
    "check_connection",
    "current_revision",
    "downgrade",
    "head_revision",
    "make_engine",
    "metadata",
    "resolve_database_url",
    "upgrade",
]
