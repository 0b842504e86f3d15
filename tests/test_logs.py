"""The log's plumbing: records made the cheap way are the records logging would make."""

from __future__ import annotations

import logging
import os
import threading
import time

from hypothesis import given
from hypothesis import strategies as st

from forked import told_by_a_forked_child
from luminary.http.logs import JsonFormatter, Records, TextFormatter, printable

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
