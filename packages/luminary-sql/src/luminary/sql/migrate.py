"""Running the migrations from Python.

:func:`upgrade` and :func:`downgrade` run the Alembic migrations that ship in
this package (``luminary/sql/migrations``) without any ``alembic.ini``: the
configuration is built here and the connection handed to ``env.py``.

Alembic is imported only when a migration function runs, so that importing
:mod:`luminary.sql` stays cheap and quiet (Alembic logs as it loads).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy.engine import Engine

from .engine import check_connection, make_engine

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["MIGRATIONS", "alembic_config", "current_revision", "downgrade", "head_revision", "upgrade"]

#: The folder of the Alembic environment and its revisions.
MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    """An Alembic configuration for the migrations of this package, with no database set."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    return config


def _run(target: str | Engine, action: Literal["upgrade", "downgrade"], revision: str) -> None:
    engine = make_engine(target) if isinstance(target, str) else target
    try:
        check_connection(engine)
        from alembic import command

        with engine.connect() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            migrate = command.upgrade if action == "upgrade" else command.downgrade
            migrate(config, revision)
    finally:
        if isinstance(target, str):
            engine.dispose()


def upgrade(url: str | Engine, revision: str = "head") -> None:
    """Migrate the database up to ``revision`` (the latest by default).

    Args:
        url: A database URL, or an engine made by :func:`~luminary.sql.make_engine`.
        revision: An Alembic revision identifier, ``"head"``, or a relative one (``"+1"``).

    Raises:
        DatabaseError: The URL is malformed or the database cannot be reached.
    """
    _run(url, "upgrade", revision)


def downgrade(url: str | Engine, revision: str) -> None:
    """Migrate the database down to ``revision`` (``"base"`` empties it entirely).

    Args:
        url: A database URL, or an engine made by :func:`~luminary.sql.make_engine`.
        revision: An Alembic revision identifier, ``"base"``, or a relative one (``"-1"``).

    Raises:
        DatabaseError: The URL is malformed or the database cannot be reached.
    """
    _run(url, "downgrade", revision)


def head_revision() -> str | None:
    """The revision the shipped migrations lead to."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` if it was never migrated.

    Raises:
        DatabaseError: The database cannot be reached.
    """
    from alembic.runtime.migration import MigrationContext

    check_connection(engine)
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
