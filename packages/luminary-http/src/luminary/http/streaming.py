"""Long JSON answers, sent while they are read.

API v1 answers whole lists, and a constellation carries every attempt at it
and every post about it: answers that grow with the data. They are written as
a sequence of byte pieces instead of one value::

    batches(read)       ──▶ [a1 … a500] [a501 … a1000] …      each batch: one read transaction
    documents_array(…)  ──▶ b'[{…},…,{…}' b',{…},…' … b']'
    respond(resp, pieces)
        pieces up to STREAM_AFTER bytes ─▶ one body with Content-Length
        more than that                  ─▶ sent as they come (chunked)

The first pieces are produced before anything is sent, so that a missing
parent is still a 404. An error after the first chunk cannot change the
status any more: it propagates, and the server closes the connection without
finishing the answer, so that a client never takes a cut list for a whole one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import falcon

from luminary.core import Cursor, NotFound, PageRequest, Slice

from .media import dumps
from .requests import Window

T = TypeVar("T")

#: Answers up to this size are sent whole, with a Content-Length; longer ones in chunks.
STREAM_AFTER = 256 * 1024


def batches(
    read: Callable[[PageRequest], Slice[T]], window: Window, size: int, *, owned: bool = False
) -> Iterator[Sequence[T]]:
    """The items ``read`` finds in ``window``, ``size`` at a time, each batch read on its own.

    The first batch is read at once, by this call: a missing parent raises
    :class:`~luminary.core.errors.NotFound` here, before anything is sent. The
    following batches are read as the iterator is consumed; a ``NotFound``
    then means the owner of the list was deleted meanwhile, and the list ends.

    Args:
        read: Reads one page (in its own unit of work).
        window: Which items: all of them, or a ``limit`` after an ``offset``.
        size: Items per read.
        owned: The items belong to something listed around them (a
            constellation's attempts): if their owner is already gone, the
            list is empty rather than an error.
    """
    try:
        found = read(PageRequest(limit=_size(window.limit, size), offset=window.offset))
    except NotFound:
        if owned:
            return iter(())
        raise
    return _following(read, found, window.limit, size)


def continued(read: Callable[[PageRequest], Slice[T]], first: Slice[T], size: int) -> Iterator[Sequence[T]]:
    """``first``, a page already read (of every item, ``size`` at most), then the items after it,
    ``size`` at a time, as :func:`batches` reads them."""
    return _following(read, first, None, size)


def _following(
    read: Callable[[PageRequest], Slice[T]], found: Slice[T], remaining: int | None, size: int
) -> Iterator[Sequence[T]]:
    while True:
        yield found.items
        if remaining is not None:
            remaining -= len(found.items)
        if found.next_cursor is None or remaining == 0:
            return
        page = PageRequest(limit=_size(remaining, size), after=Cursor.decode(found.next_cursor))
        try:
            found = read(page)
        except NotFound:
            return


def _size(remaining: int | None, size: int) -> int:
    return size if remaining is None else min(size, remaining)


def json_array(batches: Iterable[Sequence[T]], encode: Callable[[T], bytes]) -> Iterator[bytes]:
    """A JSON array of the batches' items, a piece per batch."""
    opening = b"["
    for items in batches:
        if items:
            yield opening + b",".join(encode(item) for item in items)
            opening = b","
    yield b"[]" if opening == b"[" else b"]"


def documents_array(batches: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """A JSON array of the batches' documents, each batch encoded in one call."""
    opening = b"["
    for items in batches:
        if items:
            yield opening + dumps(items)[1:-1]
            opening = b","
    yield b"[]" if opening == b"[" else b"]"


def respond(resp: falcon.Response, pieces: Iterator[bytes]) -> None:
    """Send ``pieces`` as the JSON body: whole when short, in chunks when long."""
    resp.content_type = falcon.MEDIA_JSON
    head: list[bytes] = []
    size = 0
    for piece in pieces:
        head.append(piece)
        size += len(piece)
        if size > STREAM_AFTER:
            resp.stream = _then(b"".join(head), pieces)
            return
    resp.data = b"".join(head)


def _then(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    # A generator, so that the server's close() reaches the pieces' generator too.
    yield first
    yield from rest
