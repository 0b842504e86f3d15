"""Reading requests: JSON bodies and page parameters, with errors that name the field."""

from __future__ import annotations

import enum
import re
from datetime import date
from typing import Any, TypeVar

import attrs
import falcon

from luminary.core import FieldError, PageRequest, ValidationFailed
from luminary.core.pagination import MAX_OFFSET
from luminary.core.validation import ID_MAX

#: The largest request body accepted, in bytes.
MAX_BODY = 64 * 1024

#: An integer query parameter as sent: ASCII digits, perhaps after a minus sign, nothing else
#: (``int()`` alone would also take `` 5``, ``+5``, ``1_0`` and non-ASCII digits).
_INTEGER = re.compile(r"-?[0-9]+")
#: An id in a path: ASCII digits without sign or leading zeros, as each id is written once.
_PATH_ID = re.compile(r"0|[1-9][0-9]{0,18}")
_MISSING = object()
E = TypeVar("E", bound=enum.Enum)


class IdConverter(falcon.routing.BaseConverter):
    """The ``{name:id}`` route field: an id written the one way ids are written.

    Falcon's ``int`` converter takes whatever ``int()`` takes, so ``+1``, ``00001``,
    ``1_0`` and ``\uff11`` (a fullwidth 1) reached users 1 and 10. A path that
    spells an id any other way matches no route (404). Nineteen digits at most:
    longer ids lie beyond any store, and answer 404 as well.
    """

    def convert(self, value: str) -> int | None:
        return int(value) if _PATH_ID.fullmatch(value) else None


class BodyInvalid(ValidationFailed):
    """The body as a whole is wrong (missing, or not a JSON object), not one of its members."""


class QueryInvalid(ValidationFailed):
    """Bad query parameters: the failing fields are parameters, not parts of the body."""


def body_of(req: falcon.Request, *, required: bool = False) -> dict[str, Any]:
    """The request's JSON object.

    An empty body counts as ``{}``, unless ``required``: then it is refused.
    A body without a ``Content-Type`` is not taken for JSON (415): a browser's
    form or a stray upload must not be read as a command.
    """
    if req.content_type is None:
        if req.content_length or req.get_header("Transfer-Encoding"):
            raise falcon.HTTPUnsupportedMediaType(
                description="The body has no Content-Type: send JSON, with Content-Type: application/json."
            )
        media: Any = _MISSING
    else:
        media = req.get_media(default_when_empty=_MISSING)
    if media is _MISSING:
        if required:
            raise BodyInvalid.field("body", "is required: send a JSON object")
        return {}
    if not isinstance(media, dict):
        raise BodyInvalid.field("body", "must be a JSON object")
    return media


def refuse_unknown_parameters(req: falcon.Request, known: frozenset[str]) -> None:
    """400 naming each query parameter the operation does not take: a misspelt one must not pass unseen."""
    unknown = sorted(set(req.params) - known)
    if unknown:
        raise QueryInvalid([FieldError(name, "is not a parameter of this operation") for name in unknown])


def _query_int(req: falcon.Request, name: str) -> int | None:
    raw = req.get_param(name)
    if raw is None:
        return None
    if not _INTEGER.fullmatch(raw):
        raise QueryInvalid.field(name, "must be an integer")
    try:
        return int(raw)
    except ValueError:  # more digits than Python converts
        raise QueryInvalid.field(name, "is out of range") from None


def page_of(req: falcon.Request, *, default_limit: int, max_limit: int) -> PageRequest:
    """The page a v2 list request asks for: ``limit`` and ``cursor``."""
    try:
        limit = _query_int(req, "limit")
        return PageRequest.of(
            limit=default_limit if limit is None else limit,
            cursor=req.get_param("cursor"),
            max_limit=max_limit,
        )
    except ValidationFailed as exc:
        raise QueryInvalid(exc.errors) from None


@attrs.frozen
class Window:
    """The part of a v1 list a request asks for: every item unless it says otherwise.

    Attributes:
        limit: At most this many items; ``None`` for all of them.
        offset: Skip this many items first.
    """

    limit: int | None = None
    offset: int = 0


def _bounded(req: falcon.Request, name: str, minimum: int, maximum: int) -> int | None:
    value = _query_int(req, name)
    if value is None:
        return None
    if not minimum <= value <= maximum:
        raise QueryInvalid.field(name, f"must be between {minimum} and {maximum}")
    return value


def window_of(req: falcon.Request) -> Window:
    """A v1 list's ``limit`` (1 or more, optional) and ``offset`` (0 to 1,000,000, default 0)."""
    errors: list[FieldError] = []
    limit = offset = None
    try:
        limit = _bounded(req, "limit", 1, ID_MAX)
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    try:
        offset = _bounded(req, "offset", 0, MAX_OFFSET)
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    if errors:
        raise QueryInvalid(errors)
    return Window(limit=limit, offset=offset or 0)


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def date_param(req: falcon.Request, name: str) -> date | None:
    """A ``YYYY-MM-DD`` query parameter, or ``None`` when absent."""
    raw = req.get_param(name)
    if raw is None:
        return None
    try:
        if not _DATE.fullmatch(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise QueryInvalid.field(name, "must be a date, like 2025-12-01") from None


def choice_param(req: falcon.Request, name: str, choices: type[E], default: E) -> E:
    """A query parameter naming a member of ``choices`` by value, or ``default`` when absent."""
    raw = req.get_param(name)
    if raw is None:
        return default
    for member in choices:
        if member.value == raw:
            return member
    allowed = ", ".join(str(m.value) for m in choices)
    raise QueryInvalid.field(name, f"must be one of: {allowed}")


def id_param(req: falcon.Request, name: str) -> int | None:
    """An id query parameter (ids beyond any store become 0, which finds nothing), or ``None``."""
    value = _query_int(req, name)
    if value is None:
        return None
    return value if 1 <= value <= ID_MAX else 0
