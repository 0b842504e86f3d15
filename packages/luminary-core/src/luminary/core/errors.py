"""Domain errors.

Every failure a use case reports is a :class:`LuminaryError`. Adapters map the
kinds to their own vocabulary in one place (the HTTP package maps them to 404,
400, 409, 401, 403 and 429); nothing in core knows about status codes.

A use case that raises has changed nothing: the unit of work rolls back.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = [
    "Conflict",
    "FieldError",
    "Forbidden",
    "LuminaryError",
    "NotFound",
    "TooManyAttempts",
    "Unavailable",
    "Unauthenticated",
    "ValidationFailed",
]


class LuminaryError(Exception):
    """Base class of every error a use case raises on purpose.

    Attributes:
        message: A sentence meant for the person who made the request.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(LuminaryError):
    """Something the request names does not exist.

    Attributes:
        entity: What was looked for, in words (``"User"``, ``"Constellation attempt"``).
        id: The identifier looked for, when there is one.
    """

    def __init__(self, entity: str, id: int | None = None, *, message: str | None = None) -> None:
        super().__init__(message or f"{entity} not found!")
        self.entity = entity
        self.id = id


@attrs.frozen
class FieldError:
    """One failing field of a request.

    Attributes:
        field: The field's name as callers spell it (``"display_name"``); nested
            fields are joined with ``/``.
        message: What is wrong with it.
    """

    field: str
    message: str


class ValidationFailed(LuminaryError):
    """The request's input is malformed; every failing field is named.

    Attributes:
        errors: The failing fields, in the order they were checked.
    """

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors = tuple(errors)
        if not self.errors:
            raise ValueError("ValidationFailed needs at least one FieldError")
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in self.errors))

    @classmethod
    def field(cls, field: str, message: str) -> ValidationFailed:
        """Build the error for a single failing field."""
        return cls([FieldError(field, message)])


class Conflict(LuminaryError):
    """The request is well formed but contradicts the current state.

    Examples: a star added to a completed attempt, a constellation deleted while
    attempts still refer to it.
    """


class Unauthenticated(LuminaryError):
    """Who is asking is not known: no credentials, or wrong, expired or revoked ones."""


class Forbidden(LuminaryError):
    """Who is asking is known, and may see what they ask about, but may not do this to it.

    Examples: a token without the scope an operation needs, a student changing
    the constellation catalogue or deleting another student's post. What a
    student may not even see is answered :class:`NotFound`, as if it did not
    exist (:mod:`luminary.core.access`).
    """


class TooManyAttempts(LuminaryError):
    """Too many failed sign-ins for an account or from one address; try again later.

    Attributes:
        retry_after: Whole seconds until a new attempt is considered.
    """

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed sign-ins; try again in {retry_after} seconds")
        self.retry_after = retry_after


class Unavailable(LuminaryError):
    """The store cannot be used right now: its server is down, or its file is gone.

    Storage adapters raise it, not use cases: nothing about the request was
    wrong, and the same request may succeed later. The HTTP API answers 503
    with ``Retry-After``.

    Attributes:
        retry_after: Whole seconds after which trying again makes sense.
    """

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after
