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
:mod:`~luminary.sql.migrate`.
"""

from .__about__ import __version__
from .engine import check_connection, make_engine
from .errors import DatabaseError
from .migrate import current_revision, downgrade, head_revision, upgrade
from .tables import metadata
from .unit_of_work import SqlAlchemyUnitOfWork

__all__ = [
    "DatabaseError",
    "SqlAlchemyUnitOfWork",
    "__version__",
    "check_connection",
    "current_revision",
    "downgrade",
    "head_revision",
    "make_engine",
    "metadata",
    "upgrade",
]
