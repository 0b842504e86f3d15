"""What the server writes to its logs: request data made safe to log, as text or as JSON.

Text lines (the default) escape what a client sent (:func:`printable`). With
``luminary serve --log-format json`` every line is one JSON object
(:class:`JsonFormatter`), for log pipelines: JSON escapes control characters
itself, so the fields keep what the client sent.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import threading
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "ACCESS_FIELDS",
    "LOG_FORMATS",
    "JsonFormatter",
    "Records",
    "TextFormatter",
    "current_request_id",
    "new_request_id",
    "printable",
    "written_directly",
]

#: The values of ``--log-format``.
LOG_FORMATS = ("text", "json")
#: The fields of an access log record beyond its message (``extra`` of the logging call).
ACCESS_FIELDS = ("client", "method", "path", "status", "duration_ms")

#: A field of a %-style format.
_FIELD = re.compile(r"%\((\w+)\)")
#: The fields of a text line :meth:`TextFormatter.line_of` makes without a record.
_LINE_FIELDS = {"asctime", "levelname", "name", "process", "message"}

#: Marks a slot of a line's parts (TextFormatter._parts): no logger's name or level's has it.
_SLOT = "\x00"


class _Process:
    """This process's id, known without a system call (renewed in a forked child)."""

    id = os.getpid()

    @classmethod
    def renew(cls) -> None:
        cls.id = os.getpid()


os.register_at_fork(after_in_child=_Process.renew)

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
#: Finds one of them: most text has none, and a search costs a third of a translation.
_ANY_UNSAFE = re.compile("[" + "".join(re.escape(chr(code)) for code in _UNSAFE) + "]")


def printable(text: str) -> str:
    """``text`` with every control character escaped as ``\\xHH``, so that it stays on its line.

    A request's path, method or header comes from the client: a ``%0a`` decoded
    into the path would otherwise start a forged line in the log. Quotes and
    backslashes are escaped too, so a quoted field ends where the log put its end.
    """
    if _ANY_UNSAFE.search(text) is None:
        return text
    return text.translate(_ESCAPES)


_new_record = object.__new__


class Records:
    """Makes the records of one logging call site (a logger, a level, a message), with less work
    a record than :meth:`logging.Logger.makeRecord`.

    A :class:`logging.LogRecord` works out, for every record, what is the same for
    every record of one call site in one process: its source file and module (two
    path operations), its level's name, the process's id and name. Here they are
    taken from a record made once per process (the first made by the standard
    way, so every attribute a record has on this Python is there, with what
    :data:`logging.logThreads` and its siblings said then); each record then gets
    its own time, thread, arguments and ``extra`` fields. For the access log,
    one line per request, where ``makeRecord`` cost as much as a short read's query.
    """

    def __init__(self, logger: logging.Logger, level: int, msg: str, pathname: str, func: str) -> None:
        self._logger = logger
        self._level = level
        self._msg = msg
        self._pathname = pathname
        self._func = func
        self._template: dict[str, Any] = {}
        self._pid = -1

    def make(self, args: tuple[Any, ...], extra: dict[str, Any]) -> logging.LogRecord:
        """A record of ``msg % args``, with ``extra``'s keys as attributes (as ``extra=`` gives them)."""
        pid = os.getpid()
        if pid != self._pid:
            # The first record of this process (a forked worker has another id and name).
            first = self._logger.makeRecord(
                self._logger.name, self._level, self._pathname, 0, self._msg, args, None, self._func
            )
            self._template, self._pid = dict(first.__dict__), pid
            if "taskName" in self._template:  # Python 3.12+: these records come from no asyncio task
                self._template["taskName"] = None
        template = self._template
        values = template.copy()
        created = time.time()
        values["created"] = created
        values["msecs"] = int((created - int(created)) * 1000) + 0.0
        values["relativeCreated"] = template["relativeCreated"] + (created - template["created"]) * 1000
        if template["thread"] is not None:
            values["thread"] = threading.get_ident()
            values["threadName"] = threading.current_thread().name
        values["args"] = args
        values.update(extra)
        record: logging.LogRecord = _new_record(logging.LogRecord)
        record.__dict__ = values
        return record


class TextFormatter(logging.Formatter):
    """Text lines exactly as :class:`logging.Formatter` makes them, with less work per line.

    Lines of the same second share its date and time, formatted once (one
    ``time.strftime`` a second, not one a line); each adds its milliseconds.
    """

    def __init__(self, fmt: str | None = None) -> None:
        super().__init__(fmt)
        self._second: tuple[int, str] = (-1, "")
        # Whether a line can be made without a record: its fields are all a record's
        # that line_of gives (and %-style, the only style given here).
        fields = set(_FIELD.findall(self._fmt or ""))
        self._quick = isinstance(self._style, logging.PercentStyle) and fields <= _LINE_FIELDS
        #: What a line of a level, a logger and a process is made of (see _parts).
        self._lines: dict[tuple[int, str, int], list[str]] = {}

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        return self._asctime(record.created)

    def _asctime(self, created: float) -> str:
        second = int(created)
        cached = self._second  # one read: another thread may replace it meanwhile
        if cached[0] != second:
            text = time.strftime(self.default_time_format, self.converter(created))
            cached = self._second = (second, text)
        # As default_msec_format has it, with the record's msecs.
        return f"{cached[1]},{int((created - second) * 1000):03d}"

    def line_of(
        self, created: float, level: int, name: str, message: str, fields: dict[str, Any]
    ) -> str | None:
        """The line :meth:`format` makes of a record of ``message`` (no arguments left, no
        exception) logged at ``created`` by logger ``name`` in this process; ``None`` if this
        formatter's format or date format needs more of a record."""
        if not self._quick or self.datefmt is not None:
            return None
        key = (level, name, _Process.id)
        parts = self._lines.get(key)
        if parts is None:
            parts = self._lines[key] = self._parts(level, name)
        if len(parts) == 5 and parts[1] == "a" and parts[3] == "m":  # the date before the message
            return f"{parts[0]}{self._asctime(created)}{parts[2]}{message}{parts[4]}"
        slots = {"a": self._asctime(created), "m": message}
        return "".join(slots[part] if index % 2 else part for index, part in enumerate(parts))

    def _parts(self, level: int, name: str) -> list[str]:
        """The line of ``level`` and ``name`` in this process, split around its date (``a``) and
        message (``m``): text, slot, text, ..., text."""
        values = {
            "asctime": f"{_SLOT}a{_SLOT}",
            "levelname": logging.getLevelName(level),
            "name": name,
            "process": _Process.id,
            "message": f"{_SLOT}m{_SLOT}",
        }
        return re.split(f"{_SLOT}([am]){_SLOT}", self._fmt % values)  # type: ignore[operator]


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``pid``, ``message``.

    Then ``request_id`` when the record was made while a request was answered
    (or names one), the :data:`ACCESS_FIELDS` of an access line, and
    ``exception`` with the traceback, if any. Non-ASCII characters are escaped,
    so a line is plain ASCII.
    """

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry = self._entry(record.created, record.levelname, record.name, record.process, message)
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

    def line_of(self, created: float, level: int, name: str, message: str, fields: dict[str, Any]) -> str:
        """The line :meth:`format` makes of a record of ``message`` (no arguments left, no
        exception) logged at ``created`` by logger ``name`` in this process, with ``fields``
        as the attributes ``extra`` gives it."""
        entry = self._entry(created, logging.getLevelName(level), name, _Process.id, message)
        request_id = fields.get("request_id") or current_request_id.get()
        if request_id:
            entry["request_id"] = request_id
        for field in ACCESS_FIELDS:
            if field in fields:
                entry[field] = fields[field]
        return json.dumps(entry, default=str)

    @staticmethod
    def _entry(created: float, level: str, name: str, pid: int | None, message: str) -> dict[str, Any]:
        return {
            "time": datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"),
            "level": level,
            "logger": name,
            "pid": pid,
            "message": message,
        }


def written_directly(logger: logging.Logger, level: int, message: str, fields: dict[str, Any]) -> bool:
    """Write the line a record of ``message`` (``fields`` its ``extra``) would make, without the record.

    Only where the record would reach nothing else than one
    :class:`logging.StreamHandler` (the one ``luminary serve`` sets up), without
    filters, formatting with :class:`TextFormatter` or :class:`JsonFormatter`:
    the line is then the one that handler would write, written to its stream
    under its lock. Making the record and passing it through the logger and the
    handler costs more than the rest of a short request's logging (measured in
    the access log: ``luminary.http.app.AccessLog``). Returns ``False``, having
    written nothing, in every other case (another handler, a filter, a handler
    of another kind: ``caplog``'s, a log file's), or when the stream fails; the
    caller then logs the record the usual way. The caller checks the level
    (``logger.isEnabledFor``).
    """
    if logger.disabled or logger.filters:
        return False
    handler: logging.Handler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        for candidate in current.handlers:
            if level >= candidate.level:
                if handler is not None:
                    return False
                handler = candidate
        current = current.parent if current.propagate else None
    # No handler at all: logging's last resort writes warnings only; the usual way decides.
    if type(handler) is not logging.StreamHandler or handler.filters:
        return False
    formatter = handler.formatter
    if not isinstance(formatter, TextFormatter | JsonFormatter):
        return False
    line = formatter.line_of(time.time(), level, logger.name, message, fields)
    if line is None:
        return False
    handler.acquire()
    try:
        stream = handler.stream
        stream.write(line + handler.terminator)
        if hasattr(stream, "flush"):  # as StreamHandler.flush
            stream.flush()
    except Exception:
        return False
    finally:
        handler.release()
    return True
