"""The ``luminary`` command's settings: which database it uses, and where that choice came from.

The first of these that is set wins::

    1. the --database-url option
    2. LUMINARY_DATABASE_URL
    3. DATABASE_URL
    4. POSTGRES_HOST (with POSTGRES_PORT, POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB)
    5. sqlite:///luminary.db

Variables come from the environment and from a ``.env`` file in the working
directory (read with python-dotenv); the real environment wins over the file.
Empty values count as unset. ``luminary-sql`` itself takes a URL and reads
nothing: this is the command's business.

The order is by source, not by file: a ``DATABASE_URL`` in ``.env`` wins over a
``POSTGRES_HOST`` in the environment. So :func:`choose_database` says where its
URL came from and which other sources it won over, and ``luminary serve`` and
``luminary db upgrade`` print it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import attrs
from dotenv import dotenv_values
from sqlalchemy.engine import URL

from luminary.sql import DatabaseError
from luminary.sql.config import normalize_url

__all__ = ["DEFAULT_DATABASE_URL", "DatabaseChoice", "choose_database", "resolve_database_url"]

#: Where Luminary keeps its data when nothing else is configured.
DEFAULT_DATABASE_URL = "sqlite:///luminary.db"

#: The sources of the database URL, first to last, before the default.
_SOURCES = ("--database-url", "LUMINARY_DATABASE_URL", "DATABASE_URL", "POSTGRES_HOST")
#: How a source says the ``.env`` file set it: ``DATABASE_URL (.env)``.
_FROM_DOTENV = " (.env)"


@attrs.frozen
class DatabaseChoice:
    """The database to use, and where that choice came from.

    Attributes:
        url: A SQLAlchemy URL, normalised by :func:`luminary.sql.config.normalize_url`.
        source: Where it came from: ``--database-url``, a variable's name (with
            `` (.env)`` when the ``.env`` file set it), ``POSTGRES_*``, or ``default``.
        dotenv: The ``.env`` file that was read, if there was one.
        overrides: The sources after ``source`` that are set too and lose to it,
            in the notation of ``source``: a ``DATABASE_URL`` in ``.env`` wins over
            ``POSTGRES_HOST`` in the environment, which surprises people.
    """

    url: str
    source: str
    dotenv: Path | None = None
    overrides: tuple[str, ...] = ()

    @property
    def origin(self) -> str:
        """The source in words: ``--database-url``, ``DATABASE_URL in /srv/app/.env``, ``the default``."""
        if self.source == "default":
            return "the default"
        if self.source == "--database-url":
            return self.source
        return self._in_words(self.source)

    @property
    def reason(self) -> str:
        """Why this database, in a phrase: the source, and what it wins over."""
        if self.source == "default":
            return f"the default: no {', '.join(_SOURCES[:-1])} or {_SOURCES[-1]} is set"
        said = f"set by {self.origin}"
        if self.overrides:
            said += ", which wins over " + " and ".join(self._in_words(o) for o in self.overrides)
        return said

    def _in_words(self, source: str) -> str:
        name = source.removesuffix(_FROM_DOTENV)
        where = f"in {self.dotenv}" if source.endswith(_FROM_DOTENV) else "in the environment"
        return f"{'the POSTGRES_* variables' if name == 'POSTGRES_*' else name} {where}"


def _read_dotenv(directory: Path) -> dict[str, str]:
    path = directory / ".env"
    if not path.is_file():
        return {}
    try:
        values = dotenv_values(path, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatabaseError(f"Cannot read {path}: {exc}") from exc
    return {name: value for name, value in values.items() if value is not None}


def setting(name: str, environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> str | None:
    """The variable ``name``: from the real environment, else from ``.env``; blank counts as unset."""
    real = os.environ if environ is None else environ
    if name in real:
        return real[name].strip() or None
    try:
        from_file = _read_dotenv(cwd if cwd is not None else Path.cwd())
    except DatabaseError:
        return None  # reported when the database is chosen
    return from_file.get(name, "").strip() or None


def choose_database(
    cli_value: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> DatabaseChoice:
    """Return the database to use, following the order in this module's docs.

    Args:
        cli_value: A URL given on the command line; wins when set.
        environ: The environment to read (``os.environ`` by default).
        cwd: The directory whose ``.env`` is read (the working directory by default).

    Raises:
        DatabaseError: The chosen URL is malformed, or ``.env`` cannot be read.
    """
    directory = cwd if cwd is not None else Path.cwd()
    given = (cli_value or "").strip()
    try:
        from_file = _read_dotenv(directory)
    except DatabaseError:
        if not given:
            raise
        from_file = {}  # the option needs no file; only what it wins over goes unsaid
    real = dict(os.environ if environ is None else environ)
    dotenv = (directory / ".env").absolute() if (directory / ".env").is_file() else None

    def get(name: str) -> tuple[str | None, str]:
        # The real environment wins over the file, even with an empty value (which counts as unset).
        values, where = (real, name) if name in real else (from_file, f"{name}{_FROM_DOTENV}")
        return values.get(name, "").strip() or None, where

    # Every source that is set, first to last: the first wins, the others are what it overrides.
    found: list[tuple[str, str]] = [(given, "--database-url")] if given else []
    for name in ("LUMINARY_DATABASE_URL", "DATABASE_URL", "POSTGRES_HOST"):
        value, where = get(name)
        if value:
            found.append((value, where.replace("HOST", "*")))
    if not found:
        return DatabaseChoice(DEFAULT_DATABASE_URL, "default", dotenv)
    (value, source), overrides = found[0], tuple(where for _, where in found[1:])
    if not source.startswith("POSTGRES_"):
        return DatabaseChoice(normalize_url(value), source, dotenv, overrides)
    port = get("POSTGRES_PORT")[0] or "5432"
    if not port.isdigit():
        raise DatabaseError(f"POSTGRES_PORT must be a number, not {port!r}")
    user = get("POSTGRES_USER")[0] or "postgres"
    # As in the official PostgreSQL image, the database is named after the user by default.
    url = URL.create(
        "postgresql+psycopg",
        username=user,
        password=get("POSTGRES_PASSWORD")[0],
        host=value,
        port=int(port),
        database=get("POSTGRES_DB")[0] or user,
    )
    return DatabaseChoice(url.render_as_string(hide_password=False), source, dotenv, overrides)


def resolve_database_url(
    cli_value: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    """The URL of :func:`choose_database`."""
    return choose_database(cli_value, environ, cwd).url
