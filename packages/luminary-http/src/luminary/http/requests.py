"""Reading requests: JSON bodies and page parameters, with errors that name the field."""

from __future__ import annotations

from typing import Any

import falcon

from luminary.core import PageRequest, ValidationFailed

#: The largest request body accepted, in bytes.
MAX_BODY = 64 * 1024


def body_of(req: falcon.Request) -> dict[str, Any]:
    """The request's JSON object; an empty body counts as ``{}``."""
    media = req.get_media(default_when_empty={})
    if not isinstance(media, dict):
        raise ValidationFailed.field("body", "must be a JSON object")
    return media


class QueryInvalid(ValidationFailed):
    """Bad query parameters: the failing fields are parameters, not parts of the body."""


def _query_int(req: falcon.Request, name: str) -> object:
    raw = req.get_param(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise QueryInvalid.field(name, "must be an integer") from None


def page_of(req: falcon.Request, *, default_limit: int, max_limit: int, offsets: bool) -> PageRequest:
    """The page a list request asks for: ``limit`` and ``cursor`` (and ``offset`` where allowed)."""
    try:
        limit = _query_int(req, "limit")
        offset = _query_int(req, "offset") if offsets else None
        return PageRequest.of(
            limit=default_limit if limit is None else limit,
            cursor=req.get_param("cursor"),
            offset=0 if offset is None else offset,
            max_limit=max_limit,
        )
    except ValidationFailed as exc:
        raise QueryInvalid(exc.errors) from None
