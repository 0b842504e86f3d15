"""Running the migrations from Python.

:func:`upgrade` and :func:`downgrade` run the Alembic migrations that ship in
this package (``luminary/sql/migrations``) without any ``alembic.ini``: the
configuration is built here and the connection handed to ``env.py``. Each
returns a :class:`Migration`, the revision the database was at and the one it
is at now.

Before migrating they look at the database, and refuse with a
:class:`DatabaseError` one that is at a revision these migrations do not know
(a newer Luminary migrated it) or that has tables but no migration recorded
(``metadata.create_all`` or another application made them): Luminary never
takes over tables it did not make.

A downgrade that would lose data refuses with :class:`DataLossRefused`, naming
what it would destroy, unless it is forced: ``downgrade(url, revision,
force_data_loss=True)``, or from the command line ``alembic -x
force-data-loss=true downgrade REVISION``. Both set the same Alembic ``-x``
option, which each revision's downgrade consults through
:func:`refuse_data_loss`. Downgrading an empty database needs no force.

Alembic is imported only when a migration function runs, so that importing
:mod:`luminary.sql` stays cheap and quiet (Alembic logs as it loads).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine

from .__about__ import __version__
from .engine import READ_ONLY, check_connection, describe, make_engine
from .errors import DatabaseError, DataLossRefused

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "FORCE_DATA_LOSS",
    "MIGRATIONS",
    "Migration",
    "alembic_config",
    "current_revision",
    "downgrade",
    "head_revision",
    "refuse_data_loss",
    "upgrade",
]

#: The folder of the Alembic environment and its revisions.
MIGRATIONS = Path(__file__).parent / "migrations"

#: The Alembic ``-x`` option that lets a downgrade destroy data: ``-x force-data-loss=true``.
FORCE_DATA_LOSS = "force-data-loss"

# Alembic's own table, and SQLite's bookkeeping (sqlite_sequence outlives the tables it counted for).
_NOT_DATA = ("alembic_version",)
_NOT_DATA_PREFIX = "sqlite_"

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    """What a run of the migrations did.

    Attributes:
        from_revision: The revision the database was at, ``None`` if it had never been migrated.
        to_revision: The revision it is at now, ``None`` after a downgrade to ``base``.
    """

    from_revision: str | None
    to_revision: str | None

    @property
    def changed(self) -> bool:
        """Whether any revision ran."""
        return self.from_revision != self.to_revision


def alembic_config(*, force_data_loss: bool = False) -> Config:
    """An Alembic configuration for the migrations of this package, with no database set.

    Args:
        force_data_loss: Set ``-x force-data-loss=true``, as ``alembic -x`` would.
    """
    from alembic.config import Config

    options = argparse.Namespace(x=[f"{FORCE_DATA_LOSS}=true"] if force_data_loss else [])
    config = Config(cmd_opts=options)
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    return config


def _one(heads: tuple[str, ...]) -> str | None:
    return ",".join(heads) or None


def _check_history(connection: Connection, config: Config) -> None:
    """Refuse a database whose migration history is not one of these migrations'."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = MigrationContext.configure(connection).get_current_heads()
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    unknown = [head for head in heads if head not in known]
    database = describe(connection.engine.url)
    if unknown:
        raise DatabaseError(
            f"The database {database} is at revision {unknown[0]!r}, which this Luminary (luminary-sql "
            f"{__version__}) does not know: a newer Luminary migrated it; use that version or a later one"
        )
    if heads:
        return
    tables = sorted(
        name
        for name in inspect(connection).get_table_names()
        if name not in _NOT_DATA and not name.startswith(_NOT_DATA_PREFIX)
    )
    if tables:
        shown = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5 else "")
        raise DatabaseError(
            f"The database {database} has tables ({shown}) but no Luminary migration recorded in "
            "alembic_version: it was made some other way (metadata.create_all, another application), and "
            "Luminary does not take over tables it did not make; use an empty database, or one made by "
            "`luminary db upgrade`"
        )


def _run(
    target: str | Engine,
    action: Literal["upgrade", "downgrade"],
    revision: str,
    *,
    force_data_loss: bool = False,
) -> Migration:
    engine = make_engine(target) if isinstance(target, str) else target
    try:
        check_connection(engine)
        from alembic import command

        config = alembic_config(force_data_loss=force_data_loss)
        # A connection of its own: env.py needs one with no transaction begun (see its docstring).
        with engine.connect().execution_options(**{READ_ONLY: True}) as probe:
            _check_history(probe, config)
        with engine.connect() as connection:
            config.attributes["connection"] = connection
            migrate = command.upgrade if action == "upgrade" else command.downgrade
            migrate(config, revision)
        before, after = config.attributes["revisions"]
        return Migration(_one(before), _one(after))
    finally:
        if isinstance(target, str):
            engine.dispose()


def upgrade(url: str | Engine, revision: str = "head") -> Migration:
    """Migrate the database up to ``revision`` (the latest by default).

    Args:
        url: A database URL, or an engine made by :func:`~luminary.sql.make_engine`.
        revision: An Alembic revision identifier, ``"head"``, or a relative one (``"+1"``).

    Returns:
        The revision the database was at and the one it is at now (the same if nothing ran).

    Raises:
        DatabaseError: The URL is malformed, the database cannot be reached, it is
            at a revision these migrations do not know, or it has tables but no
            migration recorded.
    """
    return _run(url, "upgrade", revision)


def downgrade(url: str | Engine, revision: str, *, force_data_loss: bool = False) -> Migration:
    """Migrate the database down to ``revision`` (``"base"`` drops every table).

    A downgrade that would lose data (rows of a table it drops, values the older
    schema cannot hold) changes nothing and raises :class:`DataLossRefused`,
    unless ``force_data_loss`` is set.

    Args:
        url: A database URL, or an engine made by :func:`~luminary.sql.make_engine`.
        revision: An Alembic revision identifier, ``"base"``, or a relative one (``"-1"``).
        force_data_loss: Destroy whatever the older revisions cannot hold.

    Returns:
        The revision the database was at and the one it is at now.

    Raises:
        DataLossRefused: The downgrade would lose data and was not forced.
        DatabaseError: As :func:`upgrade`.
    """
    return _run(url, "downgrade", revision, force_data_loss=force_data_loss)


def refuse_data_loss(loss: str) -> None:
    """Stop the downgrade running now, which would lose ``loss``, unless it was forced.

    For a revision's ``downgrade()``, once it has found data the older schema
    cannot hold. Forced (``-x force-data-loss=true``), it logs a warning naming
    the loss and returns, and the downgrade goes on to destroy it.

    Args:
        loss: What would be lost, counted, as one line: "cannot downgrade below
            revision 0003: 2 tokens would be lost …".

    Raises:
        DataLossRefused: Not forced; the whole run is rolled back.
        DatabaseError: ``force-data-loss`` is set to something other than true or false.
    """
    from alembic import context

    value = context.get_x_argument(as_dictionary=True).get(FORCE_DATA_LOSS, "false").strip().lower()
    if value not in ("true", "false"):
        raise DatabaseError(f"-x {FORCE_DATA_LOSS} takes true or false, not {value!r}")
    if value == "true":
        _log.warning(
            "-x %s=true: the downgrade goes on and destroys what it refused for: %s", FORCE_DATA_LOSS, loss
        )
        return
    destination = context.get_revision_argument()
    target = " ".join(destination) if isinstance(destination, tuple) else destination or "base"
    raise DataLossRefused(
        f"{loss}. Nothing was changed; to destroy it anyway, force the downgrade: "
        f"alembic -x {FORCE_DATA_LOSS}=true downgrade {target} "
        f"(in Python: downgrade(url, {target!r}, force_data_loss=True))"
    )


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
