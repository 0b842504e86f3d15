"""The log's plumbing: records made the cheap way are the records logging would make, and lines
written without a record the lines the record would make."""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forked import told_by_a_forked_child
from luminary.http.logs import JsonFormatter, Records, TextFormatter, printable, written_directly

MESSAGE = '%s "%s %s" %d %.1fms request_id=%s'
ARGS = ("127.0.0.1", "GET", "/api/users/3/", 200, 1.25, "abc")
EXTRA = {"client": "127.0.0.1", "method": "GET", "path": "/api/users/3/", "status": 200, "duration_ms": 1.2}
# What differs from one record to the next, whoever makes them.
OWN = {"created", "msecs", "relativeCreated", "thread", "threadName"}


def _reference(text: str) -> str:
    def escaped(char: str) -> str:
        code = ord(char)
        if code < 0x20 or 0x7F <= code < 0xA0 or char in '"\\':
            return f"\\x{code:02x}"
        return f"\\u{code:04x}" if char in "\u2028\u2029" else char

    return "".join(escaped(char) for char in text)


@given(st.text())
def test_printable_escapes_what_it_must_and_nothing_else(text):
    assert printable(text) == _reference(text)


def test_a_record_made_by_records_is_the_one_make_record_makes():
    logger = logging.getLogger("luminary.test.records")
    records = Records(logger, logging.INFO, MESSAGE, __file__, "answer")
    records.make(ARGS, EXTRA)  # the first of the process, made the standard way
    made: list[logging.LogRecord] = []

    def in_a_thread() -> None:
        made.append(records.make(ARGS, EXTRA))

    before = time.time()
    worker = threading.Thread(target=in_a_thread, name="answering")
    worker.start()
    worker.join()
    after = time.time()
    (fast,) = made
    standard = logger.makeRecord(logger.name, logging.INFO, __file__, 0, MESSAGE, ARGS, None, "answer", EXTRA)

    assert isinstance(fast, logging.LogRecord)
    assert set(vars(fast)) == set(vars(standard))
    assert {k: v for k, v in vars(fast).items() if k not in OWN} == {
        k: v for k, v in vars(standard).items() if k not in OWN
    }
    assert before <= fast.created <= after
    assert fast.msecs == int((fast.created - int(fast.created)) * 1000)
    assert (
        abs(fast.relativeCreated - standard.relativeCreated - (fast.created - standard.created) * 1000) < 1e-3
    )
    assert (fast.threadName, fast.thread) == ("answering", worker.ident)
    assert fast.getMessage() == '127.0.0.1 "GET /api/users/3/" 200 1.2ms request_id=abc'


def test_lines_of_records_made_either_way_are_the_same_but_for_the_time():
    logger = logging.getLogger("luminary.test.lines")
    records = Records(logger, logging.INFO, MESSAGE, __file__, "answer")
    fast = records.make(ARGS, EXTRA)
    standard = logger.makeRecord(logger.name, logging.INFO, __file__, 0, MESSAGE, ARGS, None, "answer", EXTRA)
    standard.created, standard.msecs, standard.relativeCreated = (
        fast.created,
        fast.msecs,
        fast.relativeCreated,
    )
    text = TextFormatter("%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")
    assert text.format(fast) == text.format(standard)
    assert JsonFormatter().format(fast) == JsonFormatter().format(standard)


def test_a_forked_worker_s_records_carry_its_own_process():
    logger = logging.getLogger("luminary.test.fork")
    records = Records(logger, logging.INFO, MESSAGE, __file__, "answer")
    assert records.make(ARGS, EXTRA).process == os.getpid()
    told = told_by_a_forked_child(lambda: f"{os.getpid()} {records.make(ARGS, EXTRA).process}")
    child, process = told.split()
    assert process == child != str(os.getpid())


# ------------------------------------------------------------ lines written without a record

LINE_MESSAGE = MESSAGE % ARGS
ACCESS_FIELDS_GIVEN = {**EXTRA, "request_id": "abc"}


def _isolated(name: str, *handlers: logging.Handler) -> logging.Logger:
    """A logger whose records reach ``handlers`` only (not the test run's own)."""
    logger = logging.getLogger(f"luminary.test.direct.{name}")
    logger.handlers[:] = list(handlers)
    logger.filters[:] = []
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def _stream_handler(
    formatter: logging.Formatter | None,
) -> tuple[logging.StreamHandler[io.StringIO], io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    return handler, stream


TEXT_FORMATS = [
    "%(asctime)s %(levelname)s %(name)s: %(message)s",  # luminary serve's
    "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s",  # its workers'
    "%(message)s at %(asctime)s",  # the date after the message
    "%(name)s %(message)s",  # no date
]


@given(
    created=st.floats(min_value=0, max_value=4e9),
    fmt=st.sampled_from(TEXT_FORMATS),
    level=st.sampled_from([20, 30]),
)
def test_a_text_line_made_without_a_record_is_the_line_of_the_record(created, fmt, level):
    logger = logging.getLogger("luminary.test.lines")
    record = logger.makeRecord(
        logger.name, level, __file__, 0, MESSAGE, ARGS, None, "answer", ACCESS_FIELDS_GIVEN
    )
    record.created, record.msecs = created, int((created - int(created)) * 1000) + 0.0
    line = TextFormatter(fmt).line_of(created, level, logger.name, LINE_MESSAGE, ACCESS_FIELDS_GIVEN)
    # As logging's own formatter writes it (TextFormatter's record path is checked against it too).
    assert line == logging.Formatter(fmt).format(record) == TextFormatter(fmt).format(record)


@given(created=st.floats(min_value=0, max_value=4e9))
def test_a_json_line_made_without_a_record_is_the_line_of_the_record(created):
    logger = logging.getLogger("luminary.test.lines")
    record = logger.makeRecord(
        logger.name, logging.INFO, __file__, 0, MESSAGE, ARGS, None, "answer", ACCESS_FIELDS_GIVEN
    )
    record.created = created
    line = JsonFormatter().line_of(created, logging.INFO, logger.name, LINE_MESSAGE, ACCESS_FIELDS_GIVEN)
    assert line == JsonFormatter().format(record)


@pytest.mark.parametrize("formatter", [TextFormatter(TEXT_FORMATS[1]), JsonFormatter()], ids=["text", "json"])
def test_a_line_is_written_directly_where_one_stream_handler_of_ours_is_all_a_record_reaches(formatter):
    handler, stream = _stream_handler(formatter)
    parent = _isolated("parent", handler)
    logger = logging.getLogger(f"{parent.name}.child")  # the record goes up to its parent's handler
    logger.handlers[:] = []
    logger.propagate = True
    record = logger.makeRecord(
        logger.name, logging.INFO, __file__, 0, MESSAGE, ARGS, None, "answer", ACCESS_FIELDS_GIVEN
    )

    before = time.time()
    assert written_directly(logger, logging.INFO, LINE_MESSAGE, ACCESS_FIELDS_GIVEN)
    after = time.time()

    (line,) = stream.getvalue().splitlines()
    if isinstance(formatter, JsonFormatter):
        written = json.loads(line)
        expected = json.loads(formatter.format(record))
        assert before - 0.001 <= datetime.fromisoformat(written.pop("time")).timestamp() <= after
        del expected["time"]
        assert written == expected
    else:
        date, clock, rest = line.split(" ", 2)
        assert rest == formatter.format(record).split(" ", 2)[2]
        moment = datetime.strptime(f"{date} {clock}", "%Y-%m-%d %H:%M:%S,%f").timestamp()
        assert before - 0.001 <= moment <= after


class _Dropping(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


def _file_handler(tmp_path: Path) -> logging.Handler:
    handler = logging.FileHandler(tmp_path / "log.txt", delay=True)
    handler.setFormatter(TextFormatter(TEXT_FORMATS[0]))
    return handler


@pytest.mark.parametrize(
    "arrange",
    [
        pytest.param(
            lambda logger, handler, tmp: logger.addHandler(_stream_handler(TextFormatter())[0]),
            id="two handlers",
        ),
        pytest.param(lambda logger, handler, tmp: logger.addFilter(_Dropping()), id="a filter on the logger"),
        pytest.param(
            lambda logger, handler, tmp: handler.addFilter(_Dropping()), id="a filter on the handler"
        ),
        pytest.param(
            lambda logger, handler, tmp: handler.setFormatter(logging.Formatter()), id="logging's formatter"
        ),
        pytest.param(
            lambda logger, handler, tmp: handler.setFormatter(TextFormatter("%(threadName)s %(message)s")),
            id="a field only a record has",
        ),
        pytest.param(
            lambda logger, handler, tmp: setattr(handler.formatter, "datefmt", "%H:%M"), id="a date format"
        ),
        pytest.param(
            lambda logger, handler, tmp: setattr(logger, "handlers", [_file_handler(tmp)]),
            id="a file handler",
        ),
        pytest.param(lambda logger, handler, tmp: setattr(logger, "handlers", []), id="no handler"),
        pytest.param(lambda logger, handler, tmp: setattr(logger, "disabled", True), id="a disabled logger"),
        pytest.param(
            lambda logger, handler, tmp: handler.setLevel(logging.WARNING), id="a handler above INFO"
        ),
    ],
)
def test_nothing_is_written_directly_where_a_record_would_go_otherwise(arrange, tmp_path):
    handler, stream = _stream_handler(TextFormatter(TEXT_FORMATS[0]))
    logger = _isolated("elsewhere", handler)
    arrange(logger, handler, tmp_path)
    assert not written_directly(logger, logging.INFO, LINE_MESSAGE, ACCESS_FIELDS_GIVEN)
    assert stream.getvalue() == ""
    assert not (tmp_path / "log.txt").exists()


def test_a_stream_that_fails_writes_nothing_and_says_so():
    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError("disk full")

    handler = logging.StreamHandler(Broken())
    handler.setFormatter(TextFormatter(TEXT_FORMATS[0]))
    logger = _isolated("broken", handler)
    assert not written_directly(logger, logging.INFO, LINE_MESSAGE, ACCESS_FIELDS_GIVEN)


def test_a_forked_worker_s_lines_carry_its_own_process():
    handler, stream = _stream_handler(TextFormatter("[%(process)d] %(message)s"))
    logger = _isolated("fork", handler)
    assert written_directly(logger, logging.INFO, "parent", {})

    def in_child() -> str:
        written_directly(logger, logging.INFO, "child", {})
        return f"{os.getpid()} {stream.getvalue().splitlines()[-1]}"

    child, line = told_by_a_forked_child(in_child).split(" ", 1)
    assert line == f"[{child}] child"
    assert stream.getvalue() == f"[{os.getpid()}] parent\n"
