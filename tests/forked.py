"""Run a little code in a process forked from the test's, as a forked worker would run it."""

from __future__ import annotations

import os
from collections.abc import Callable


def told_by_a_forked_child(tell: Callable[[], str]) -> str:
    """What ``tell()`` returns in a child forked from this process (sent back through a pipe)."""
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's side
        try:
            os.write(writing, tell().encode())
        finally:
            os._exit(0)
    os.close(writing)
    with os.fdopen(reading) as pipe:
        told = pipe.read()
    os.waitpid(child, 0)
    return told
