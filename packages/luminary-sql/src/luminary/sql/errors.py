"""The errors luminary-sql raises when the database cannot be used at all.

Configuration problems — a malformed URL, an unknown driver, a server that does
not answer, a database these migrations cannot take to their head (migrated by a
newer Luminary, or made some other way) — surface as one :class:`DatabaseError`
with a one-line message naming the database without its password, so that a
command can print it and exit instead of showing a traceback.
:class:`DataLossRefused` is the one a downgrade raises rather than destroy data.
"""

from __future__ import annotations

import re

__all__ = ["DataLossRefused", "DatabaseError", "redact_url"]


class DatabaseError(Exception):
    """The database is misconfigured, unreachable, or cannot be migrated.

    Attributes:
        message: One line meant for the person who configured the database; it
            never contains a password.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DataLossRefused(DatabaseError):
    """A downgrade would lose data, and was not forced; it changed nothing.

    The message names what would be lost (tables and their rows, values the
    older schema cannot hold) and how to force the downgrade.
    """


# Up to the last "@": an unquoted "@" inside a password must not leak its tail.
_PASSWORD = re.compile(r"(?P<scheme>^[^:/?#]+://[^:/?#@]*:)(?P<password>.*)@")


def redact_url(url: str) -> str:
    """Return ``url`` with its password replaced by ``***``.

    Works on text that is not a valid URL too, which is when it is most needed.
    """
    return _PASSWORD.sub(r"\g<scheme>***@", url)
