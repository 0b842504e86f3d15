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

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Generic, TypeVar

import attrs

from .errors import FieldError, ValidationFailed
from .validation import integer

__all__ = ["MAX_LIMIT", "MAX_OFFSET", "Cursor", "PageRequest", "Slice"]

#: The largest page any list use case returns.
MAX_LIMIT = 500
#: The largest offset accepted; deeper pages are reached with cursors.
MAX_OFFSET = 1_000_000

T = TypeVar("T")
T2 = TypeVar("T2")


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
        """Return the cursor as an opaque URL-safe string."""
        raw = [self.created_at.isoformat() if self.created_at else None, self.id]
        return base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, *, field: str = "cursor") -> Cursor:
        """Read a cursor made by :meth:`encode`.

        Raises:
            ValidationFailed: The token is not a cursor; the error names ``field``.
        """
        try:
            padded = token + "=" * (-len(token) % 4)
            created, id_ = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            if type(id_) is not int or not (created is None or isinstance(created, str)):
                raise ValueError
            when = datetime.fromisoformat(created) if created is not None else None
            if when is not None and when.tzinfo is None:
                raise ValueError
        except (ValueError, TypeError, UnicodeError, binascii.Error):
            raise ValidationFailed.field(field, "is not a valid cursor") from None
        return cls(when, id_)


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

    def map(self, fn: Callable[[Sequence[T]], Sequence[T2]]) -> Slice[T2]:
        """Return a slice of ``fn(items)`` with the same cursor."""
        return Slice(fn(self.items), self.next_cursor)
