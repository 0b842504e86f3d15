"""Database URLs as luminary-sql takes them.

luminary-sql takes a URL and reads no settings: choosing the database (flags,
environment, ``.env``) is the business of the program that uses it, such as
the ``luminary`` command (``luminary.http.settings``).

PostgreSQL URLs are normalised to the psycopg 3 driver: ``postgres://…`` and
``postgresql://…`` (what hosting providers hand out) become
``postgresql+psycopg://…``.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from .errors import DatabaseError, redact_url

__all__ = ["normalize_url"]

_PLAIN_POSTGRES_SCHEMES = ("postgres://", "postgresql://")


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
