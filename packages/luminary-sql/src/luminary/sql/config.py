"""Which database to use.

The first of these that is set wins::

    1. an explicit value (the ``--database-url`` option)
    2. LUMINARY_DATABASE_URL
    3. DATABASE_URL
    4. POSTGRES_HOST (with POSTGRES_PORT, POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB)
    5. sqlite:///luminary.db

Variables come from the environment and from a ``.env`` file in the working
directory; the real environment wins over the file. Empty values count as unset.

PostgreSQL URLs are normalised to the psycopg 3 driver: ``postgres://…`` and
``postgresql://…`` (what hosting providers hand out) become
``postgresql+psycopg://…``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from .errors import DatabaseError, redact_url

__all__ = ["DEFAULT_DATABASE_URL", "normalize_url", "parse_dotenv", "read_dotenv", "resolve_database_url"]

#: Where Luminary keeps its data when nothing else is configured.
DEFAULT_DATABASE_URL = "sqlite:///luminary.db"

_PLAIN_POSTGRES_SCHEMES = ("postgres://", "postgresql://")


def parse_dotenv(text: str) -> dict[str, str]:
    """Read the variables of a ``.env`` file.

    The format is the common subset: ``NAME=value`` lines, an optional
    ``export`` in front, blank lines and ``#`` comments; values may be quoted
    with ``'`` (taken literally) or ``"`` (where ``\\n``, ``\\"`` and ``\\\\`` are
    escapes); an unquoted value ends at `` #``. Lines that are not assignments
    are ignored.

    Args:
        text: The content of the file.

    Returns:
        The variables, by name; a name assigned twice keeps its last value.
    """
    values: dict[str, str] = {}
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            continue
        values[name] = _dotenv_value(value.strip())
    return values


def _dotenv_value(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        out: list[str] = []
        chars = iter(value[1:-1])
        for char in chars:
            if char == "\\":
                escaped = next(chars, "\\")
                out.append({"n": "\n", "t": "\t"}.get(escaped, escaped))
            else:
                out.append(char)
        return "".join(out)
    comment = value.find(" #")
    return (value[:comment] if comment >= 0 else value).rstrip()


def read_dotenv(directory: Path) -> dict[str, str]:
    """Read ``directory/.env``; a missing file holds no variables.

    Raises:
        DatabaseError: The file exists but cannot be read.
    """
    path = directory / ".env"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise DatabaseError(f"Cannot read {path}: {exc}") from exc
    return parse_dotenv(text)


def normalize_url(url: str) -> str:
    """Check a database URL and point plain PostgreSQL URLs at psycopg 3.

    Raises:
        DatabaseError: The URL is malformed.
    """
    url = url.strip()
    for scheme in _PLAIN_POSTGRES_SCHEMES:
        if url.startswith(scheme):
            url = "postgresql+psycopg://" + url[len(scheme) :]
            break
    try:
        make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise DatabaseError(f"Invalid database URL {redact_url(url)!r}: {exc}") from None
    return url


def resolve_database_url(
    cli_value: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    """Return the URL of the database to use, following the order in this module's docs.

    Args:
        cli_value: A URL given explicitly (on the command line); wins when set.
        environ: The environment to read (``os.environ`` by default).
        cwd: The directory whose ``.env`` is read (the working directory by default).

    Returns:
        A SQLAlchemy URL, normalised by :func:`normalize_url`.

    Raises:
        DatabaseError: The chosen URL is malformed, or ``.env`` cannot be read.
    """
    if cli_value and cli_value.strip():
        return normalize_url(cli_value)
    env = read_dotenv(cwd if cwd is not None else Path.cwd())
    env.update(os.environ if environ is None else environ)

    def get(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    for name in ("LUMINARY_DATABASE_URL", "DATABASE_URL"):
        value = get(name)
        if value:
            return normalize_url(value)
    host = get("POSTGRES_HOST")
    if host:
        port = get("POSTGRES_PORT") or "5432"
        if not port.isdigit():
            raise DatabaseError(f"POSTGRES_PORT must be a number, not {port!r}")
        user = get("POSTGRES_USER") or "postgres"
        # As in the official PostgreSQL image, the database is named after the user by default.
        url = URL.create(
            "postgresql+psycopg",
            username=user,
            password=get("POSTGRES_PASSWORD"),
            host=host,
            port=int(port),
            database=get("POSTGRES_DB") or user,
        )
        return url.render_as_string(hide_password=False)
    return DEFAULT_DATABASE_URL
