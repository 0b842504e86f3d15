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


@attrs.frozen
class DatabaseChoice:
    """The database to use.

    Attributes:
        url: A SQLAlchemy URL, normalised by :func:`luminary.sql.config.normalize_url`.
        source: Where it came from: ``--database-url``, a variable's name (with
            `` (.env)`` when the ``.env`` file set it), ``POSTGRES_*``, or ``default``.
    """

    url: str
    source: str


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
    if cli_value and cli_value.strip():
        return DatabaseChoice(normalize_url(cli_value), "--database-url")
    from_file = _read_dotenv(cwd if cwd is not None else Path.cwd())
    real = dict(os.environ if environ is None else environ)

    def get(name: str) -> tuple[str | None, str]:
        # The real environment wins over the file, even with an empty value (which counts as unset).
        values, where = (real, name) if name in real else (from_file, f"{name} (.env)")
        return values.get(name, "").strip() or None, where

    for name in ("LUMINARY_DATABASE_URL", "DATABASE_URL"):
        value, where = get(name)
        if value:
            return DatabaseChoice(normalize_url(value), where)
    host, where = get("POSTGRES_HOST")
    if host:
        port = get("POSTGRES_PORT")[0] or "5432"
        if not port.isdigit():
            raise DatabaseError(f"POSTGRES_PORT must be a number, not {port!r}")
        user = get("POSTGRES_USER")[0] or "postgres"
        # As in the official PostgreSQL image, the database is named after the user by default.
        url = URL.create(
            "postgresql+psycopg",
            username=user,
            password=get("POSTGRES_PASSWORD")[0],
            host=host,
            port=int(port),
            database=get("POSTGRES_DB")[0] or user,
        )
        return DatabaseChoice(url.render_as_string(hide_password=False), where.replace("HOST", "*"))
    return DatabaseChoice(DEFAULT_DATABASE_URL, "default")


def resolve_database_url(
    cli_value: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    """The URL of :func:`choose_database`."""
    return choose_database(cli_value, environ, cwd).url
