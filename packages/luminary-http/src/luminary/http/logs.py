"""What the server writes to its logs: request data made safe to log, as text or as JSON.

Text lines (the default) escape what a client sent (:func:`printable`). With
``luminary serve --log-format json`` every line is one JSON object
(:class:`JsonFormatter`), for log pipelines: JSON escapes control characters
itself, so the fields keep what the client sent.
"""

from __future__ import annotations

import json
import logging
import random
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "ACCESS_FIELDS",
    "LOG_FORMATS",
    "JsonFormatter",
    "TextFormatter",
    "current_request_id",
    "new_request_id",
    "printable",
]

#: The values of ``--log-format``.
LOG_FORMATS = ("text", "json")
#: The fields of an access log record beyond its message (``extra`` of the logging call).
ACCESS_FIELDS = ("client", "method", "path", "status", "duration_ms")

#: The id of the request being answered in this thread, for the records logged meanwhile.
current_request_id: ContextVar[str | None] = ContextVar("luminary_request_id", default=None)


def new_request_id() -> str:
    """32 random hex digits.

    An id tells requests apart in logs; it guards nothing, so it need not be unpredictable:
    :mod:`random` (reseeded in each forked worker) spares a system call for every request
    (``uuid.uuid4`` reads the kernel's random source).
    """
    return f"{random.getrandbits(128):032x}"


# C0 and C1 controls, DEL, the Unicode line and paragraph separators, and the
# two characters that would make an escape or a quoted field ambiguous.
_UNSAFE = [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, ord('"'), ord("\\")]
_ESCAPES = {code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" for code in _UNSAFE}


def printable(text: str) -> str:
    """``text`` with every control character escaped as ``\\xHH``, so that it stays on its line.

    A request's path, method or header comes from the client: a ``%0a`` decoded
    into the path would otherwise start a forged line in the log. Quotes and
    backslashes are escaped too, so a quoted field ends where the log put its end.
    """
    return text.translate(_ESCAPES)


class TextFormatter(logging.Formatter):
    """Text lines exactly as :class:`logging.Formatter` makes them, with less work per line.

    Lines of the same second share its date and time, formatted once (one
    ``time.strftime`` a second, not one a line); each adds its milliseconds.
    """

    def __init__(self, fmt: str | None = None) -> None:
        super().__init__(fmt)
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        cached = self._second  # one read: another thread may replace it meanwhile
        if cached[0] != second:
            text = time.strftime(self.default_time_format, self.converter(record.created))
            cached = self._second = (second, text)
        return f"{cached[1]},{int(record.msecs):03d}"  # as default_msec_format has it


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``pid``, ``message``.

    Then ``request_id`` when the record was made while a request was answered
    (or names one), the :data:`ACCESS_FIELDS` of an access line, and
    ``exception`` with the traceback, if any. Non-ASCII characters are escaped,
    so a line is plain ASCII.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or current_request_id.get()
        if request_id:
            entry["request_id"] = request_id
        for field in ACCESS_FIELDS:
            if hasattr(record, field):
                entry[field] = getattr(record, field)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)
