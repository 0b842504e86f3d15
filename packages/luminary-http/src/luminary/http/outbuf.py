"""What a connection has yet to send: the answer's own pieces, in memory within a budget.

waitress keeps a connection's output in a buffer of its own making: the bytes
the app writes are copied into it, and once more than ``outbuf_overflow``
waits (256 KB here), into a temporary file, which is then read back 16 KB at a
time, one ``send`` each. For the benchmark's long lists (0.6 to 1.6 MB, v1 lists
at 10× its data) that cost 0.4 to 2.2 ms of CPU an answer more (of 10 to 37), much
of it in the kernel: the 10× user list took 2.9-3.5 ms of system time an
answer, 1.9-2.5 with its pieces kept (`wrk`, five runs each).

:class:`Pieces` keeps the pieces themselves (no copy) and hands the socket a
view of each (up to :data:`SEND_AT_ONCE` a ``send``). Memory is bounded per
process rather than per connection: the pieces held by every connection of a
worker count against one :class:`Budget` (:data:`MEMORY_FOR_ANSWERS`); a piece
that does not fit goes to a temporary file, as waitress would have done, and so
does every piece after it on that connection until the file is sent, so that
the answer keeps its order. Many clients that read slowly thus cost a worker at
most the budget in memory, where waitress's per-connection limit allowed 256 KB
each (256 MB for the 1,000 connections a worker accepts); one fast client gets
its whole answer from memory.
"""

from __future__ import annotations

import threading
from collections import deque
from itertools import islice

from waitress.buffers import TempfileBasedBuffer

__all__ = ["MEMORY_FOR_ANSWERS", "SEND_AT_ONCE", "Budget", "Pieces"]

#: Bytes of answers a worker keeps in memory for its clients, all connections together.
MEMORY_FOR_ANSWERS = 16 * 1024 * 1024
#: The most one ``send`` is offered; the kernel takes what its buffer has room for.
SEND_AT_ONCE = 256 * 1024
#: Pieces shorter than this that follow one another are sent together (a chunk's end and the next).
_SMALL = 16 * 1024


class Budget:
    """Bytes that may be held in memory, shared by every connection of a process.

    Args:
        limit: The bytes held at most.
    """

    def __init__(self, limit: int = MEMORY_FOR_ANSWERS) -> None:
        self.limit = limit
        self.held = 0
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        """Hold ``size`` more bytes if they fit; whether they did."""
        with self._lock:
            if self.held + size > self.limit:
                return False
            self.held += size
            return True

    def give(self, size: int) -> None:
        """Let go of ``size`` bytes taken before."""
        with self._lock:
            self.held -= size


class Pieces:
    """A connection's output as waitress's channel uses its buffers (``append``, ``get``, ``skip``,
    ``close``, ``len``), keeping the bytes objects it is given.

    Args:
        budget: Where the memory held is counted.
    """

    def __init__(self, budget: Budget) -> None:
        self._budget = budget
        self._pieces: deque[bytes] = deque()
        self._offset = 0  # bytes of the first piece already sent
        self._held = 0  # bytes of the pieces in memory, sent or not (taken from the budget)
        self._file: TempfileBasedBuffer | None = None  # what follows the pieces, once over the budget
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __bool__(self) -> bool:
        return self._size > 0

    def append(self, data: bytes) -> None:
        if not data:
            return
        piece = bytes(data)  # a bytearray or a view could change before it is sent
        size = len(piece)
        if self._file is None and self._budget.take(size):
            self._pieces.append(piece)
            self._held += size
        else:
            if self._file is None:
                self._file = TempfileBasedBuffer()
            self._file.append(piece)
        self._size += size

    def get(self, numbytes: int = -1, skip: bool = False) -> bytes | memoryview:
        """Up to ``numbytes`` bytes from the start, as one piece (or a view of one); ``skip``
        drops them too."""
        if skip:  # pragma: no cover - waitress's channel never asks to skip in get
            raise NotImplementedError("Pieces.get(skip=True)")
        limit = self._size if numbytes < 0 else min(numbytes, self._size)
        pieces = self._pieces
        if not pieces:
            return self._file.get(limit) if self._file is not None else b""
        first = pieces[0]
        offset = self._offset
        rest = len(first) - offset
        if rest >= limit:
            return first if offset == 0 and rest == limit else memoryview(first)[offset : offset + limit]
        if rest >= _SMALL or len(pieces) == 1:
            return first if offset == 0 else memoryview(first)[offset:]
        # A short piece, and more after it: together, up to the limit (a short copy).
        parts = [first[offset:]]
        size = rest
        for piece in islice(pieces, 1, None):
            if size + len(piece) > limit:
                break
            parts.append(piece)
            size += len(piece)
        return b"".join(parts)

    def skip(self, numbytes: int, allow_prune: bool = False) -> None:
        """Drop the first ``numbytes`` bytes: they were sent."""
        if numbytes > self._size:
            raise ValueError(f"cannot skip {numbytes} bytes of {self._size}")
        self._size -= numbytes
        pieces = self._pieces
        while numbytes and pieces:
            first = pieces[0]
            rest = len(first) - self._offset
            if numbytes < rest:
                self._offset += numbytes
                return
            numbytes -= rest
            pieces.popleft()
            self._offset = 0
            self._held -= len(first)
            self._budget.give(len(first))
        if numbytes and self._file is not None:
            self._file.skip(numbytes, allow_prune)
        if self._file is not None and not len(self._file):
            # All sent: what comes next may be kept in memory again.
            self._file.close()
            self._file = None

    def close(self) -> None:
        """Let go of everything (the connection is closing)."""
        self._pieces.clear()
        self._offset = 0
        self._budget.give(self._held)
        self._held = 0
        if self._file is not None:
            self._file.close()
            self._file = None
        self._size = 0
