"""Bounded lists.

No caller can ask for an unbounded list: every list use case takes a
:class:`PageRequest` whose ``limit`` is capped at :data:`MAX_LIMIT`, and returns a
:class:`Slice` with an opaque ``next_cursor`` for the following page.

Two orders exist, and a cursor remembers the last item seen in its order::

    by id, ascending            users, constellations, attempts
        ... 7  8  9 | 10 11 12 ...        cursor = (None, 9)   → next: id > 9

    newest first                sessions, posts, the feed
        ... (t5,12) (t5,11) (t4,15) | (t3,9) ...
                                          cursor = (t4, 15)    → next: (created_at, id) < (t4, 15)

Pages can also be addressed by ``offset`` (the v1 API does); a cursor and an
offset are not combined.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

import attrs

from .errors import FieldError, ValidationFailed
from .validation import ID_MAX, integer

__all__ = ["CURSOR_PATTERN", "MAX_LIMIT", "MAX_OFFSET", "Cursor", "PageRequest", "Slice"]

#: The largest page any list use case returns.
MAX_LIMIT = 500
#: The largest offset accepted; deeper pages are reached with cursors.
MAX_OFFSET = 1_000_000

T = TypeVar("T")


#: Every cursor has this form, and every string of this form is a cursor: the id of
#: the last item seen, preceded for newest-first lists by its creation time in
#: microseconds since 0001-01-01T00:00:00Z and ``_`` (``63900180600001000_15``).
#: An API can publish the pattern: no string it admits is refused.
CURSOR_PATTERN = r"^([0-9]{1,18}_)?[0-9]{1,19}$"
_CURSOR = re.compile(CURSOR_PATTERN.replace("$", r"\Z"))
_ORIGIN = datetime(1, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_LAST_MICROSECOND = (datetime.max.replace(tzinfo=UTC) - _ORIGIN) // _MICROSECOND


@attrs.frozen
class Cursor:
    """A position in an ordered list: just after the item with this key.

    Attributes:
        created_at: The item's creation time, for newest-first lists; ``None``
            for lists ordered by id.
        id: The item's id.
    """

    created_at: datetime | None
    id: int

    def encode(self) -> str:
        """Return the cursor as an opaque URL-safe string matching :data:`CURSOR_PATTERN`."""
        if self.created_at is None:
            return str(self.id)
        created_at = self.created_at if self.created_at.tzinfo else self.created_at.replace(tzinfo=UTC)
        return f"{(created_at - _ORIGIN) // _MICROSECOND}_{self.id}"

    @classmethod
    def decode(cls, token: str, *, field: str = "cursor") -> Cursor:
        """Read a cursor made by :meth:`encode`.

        Any string matching :data:`CURSOR_PATTERN` is a position: a time after
        9999 stands for the last instant, an id beyond the largest one a store
        holds for that largest id.

        Raises:
            ValidationFailed: The token is not a cursor; the error names ``field``.
        """
        if not _CURSOR.match(token):
            raise ValidationFailed.field(field, "is not a valid cursor")
        micros, _, id_ = token.rpartition("_")
        when = _ORIGIN + min(int(micros), _LAST_MICROSECOND) * _MICROSECOND if micros else None
        return cls(when, min(int(id_), ID_MAX))


@attrs.frozen
class PageRequest:
    """Which part of a list to return.

    Build one with :meth:`of`, which validates raw input.

    Attributes:
        limit: How many items at most (1 to :data:`MAX_LIMIT`).
        after: Return the items after this position; ``None`` starts at the top.
        offset: Skip this many items first (only when ``after`` is ``None``).
    """

    limit: int = 50
    after: Cursor | None = None
    offset: int = 0

    @classmethod
    def of(
        cls,
        limit: object = 50,
        cursor: object = None,
        offset: object = 0,
        *,
        max_limit: int = MAX_LIMIT,
    ) -> PageRequest:
        """Validate raw page parameters.

        Args:
            limit: Number of items, 1 to ``max_limit``.
            cursor: A string made by :meth:`Cursor.encode`, or ``None``.
            offset: Items to skip, 0 to :data:`MAX_OFFSET`.
            max_limit: A lower cap than :data:`MAX_LIMIT`, for callers that want one.

        Raises:
            ValidationFailed: Naming ``limit``, ``cursor`` or ``offset``.
        """
        errors: list[FieldError] = []
        checked_limit = checked_offset = 0
        after = None
        try:
            checked_limit = integer(limit, "limit", minimum=1, maximum=min(max_limit, MAX_LIMIT))
        except ValidationFailed as exc:
            errors.extend(exc.errors)
        try:
            checked_offset = integer(offset, "offset", minimum=0, maximum=MAX_OFFSET)
        except ValidationFailed as exc:
            errors.extend(exc.errors)
        if cursor is not None:
            if not isinstance(cursor, str):
                errors.append(FieldError("cursor", "must be a string"))
            else:
                try:
                    after = Cursor.decode(cursor)
                except ValidationFailed as exc:
                    errors.extend(exc.errors)
        if errors:
            raise ValidationFailed(errors)
        return cls(limit=checked_limit, after=after, offset=checked_offset)

    def probe(self) -> PageRequest:
        """The same request asking for one more item, to learn whether a next page exists."""
        return attrs.evolve(self, limit=self.limit + 1)


@attrs.frozen
class Slice(Generic[T]):
    """One page of a list.

    Attributes:
        items: The items of this page, in the list's order.
        next_cursor: Pass this as ``cursor`` to get the next page; ``None`` on
            the last page.
    """

    items: Sequence[T]
    next_cursor: str | None = None

    @classmethod
    def cut(cls, rows: Sequence[T], page: PageRequest, key: Callable[[T], Cursor]) -> Slice[T]:
        """Build a slice from the rows fetched with ``page.probe()``."""
        if len(rows) > page.limit:
            items = rows[: page.limit]
            return cls(items, key(items[-1]).encode())
        return cls(rows, None)
