"""Serving the app with waitress: its limits set explicitly, its edges hardened, and a graceful stop.

waitress reads requests on one thread (an asyncore loop) and runs the app on
worker threads. Its classes are subclassed here, never patched:

- :class:`RequestParser` refuses ambiguous framing (RFC 9112 §6.1): a request
  with both ``Content-Length`` and ``Transfer-Encoding``, a transfer coding
  other than ``chunked``, ``Transfer-Encoding`` outside HTTP/1.1 (400, then the
  connection is closed); and a ``Content-Length`` over :data:`MAX_BODY` (413),
  before any ``100 Continue``.
- :class:`Answer` keeps an HTTP/1.1 connection open after an answer sent in
  chunks (a long v1 list), where waitress closes every connection whose answer
  has no ``Content-Length``; an answer cut by an error still ends its
  connection, without the last chunk. Its head and the first piece of its body
  go out in one send.
- :class:`Channel` keeps what it has yet to send as the answer's own pieces
  (:class:`~luminary.http.outbuf.Pieces`), in memory within one budget for the
  whole process and in a temporary file beyond it, where waitress copies every
  answer into a buffer of its own and passes whatever is over 256 KB through a
  file, 16 KB a send.
- :class:`ErrorAnswer` answers waitress's own errors (400, 408, 413, 431, 500)
  in the API's JSON error format, with the app's CORS headers (the
  :class:`~luminary.http.cors.Cors` given to :class:`Service`), then closes the
  connection after a short lingering close, so that the client reads the
  answer rather than a reset.
- :class:`Channel` gives each request a deadline: its head and body must
  arrive within ``request_timeout`` seconds of its first byte (of the
  connection's opening, for the first request), else 408 and close. waitress's
  ``channel_timeout`` only ends connections that stay silent.
- :class:`Dispatcher` reports requests waiting for a thread at most once
  every :data:`REPORT_SECONDS` (the deepest queue since the last report),
  where waitress logs a warning for every request queued: under a steady
  load that was a log line per request, and a tenth of the CPU of a short read.
- :class:`Service` runs the loop: it caps the connections of one address, and
  when the connection limit is near it makes room rather than stop accepting:
  it closes idle keep-alive connections, oldest first, then ends (408) the
  requests that have been arriving the longest. On SIGTERM or SIGINT it stops
  gracefully. Its loop keeps its poll registrations from round to round and
  leaves a connection waiting for its next request alone until it has an event
  (:meth:`Service._poll`); :class:`Channel` is not watched for writing while a
  worker thread sends its answer (the loop would turn until the thread let go).

A graceful stop: the listening sockets are closed (connections already waiting
to be accepted are taken first), requests already received or being received
are answered in full (with ``Connection: close``), idle keep-alive connections
are closed (a new one that has sent nothing yet gets
:data:`FIRST_REQUEST_SECONDS` for its first request, which may be on its way),
and :func:`serve` returns once no connection is left, or when the
grace period is over (whatever is still open is then closed). A second signal
ends the grace period at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import gc
import json
import logging
import math
import select
import signal
import socket
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any, cast

import falcon
from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.buffers import ReadOnlyFileBasedBuffer
from waitress.channel import ClientDisconnected, HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError, TransferEncodingNotImplemented
from waitress.server import BaseWSGIServer, TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher, WSGITask
from waitress.utilities import (
    BadRequest,
    Error,
    InternalServerError,
    RequestEntityTooLarge,
    RequestHeaderFieldsTooLarge,
)

from .cors import Cors
from .errors import error_body
from .logs import new_request_id, printable
from .outbuf import SEND_AT_ONCE, Budget, Pieces
from .requests import MAX_BODY

log = logging.getLogger("luminary.server")
access_log = logging.getLogger("luminary.access")

#: Waitress settings; every limit is chosen, none left to a default. The
#: connection limit comes from :class:`Limits`.
SETTINGS: dict[str, Any] = {
    # How long an idle keep-alive connection (or a silent client) is kept.
    "channel_timeout": 60,
    "backlog": 2048,
    # Bounds a chunked body as waitress reads it; one over MAX_BODY (and under
    # this) reaches the app, whose BodyLimit answers 413. A Content-Length over
    # MAX_BODY is refused by RequestParser before the body is read.
    "max_request_body_size": MAX_BODY * 4,
    "max_request_header_size": 64 * 1024,
    # What a connection has yet to send is kept in luminary.http.outbuf's Pieces,
    # within a budget for the whole process (the thread waits once a connection has
    # waitress's 16 MB waiting). This is waitress's own buffer's limit in memory,
    # used only after a wsgi.file_wrapper answer (Luminary sends none).
    "outbuf_overflow": 256 * 1024,
    "asyncore_use_poll": True,
    "ident": "luminary",
    "clear_untrusted_proxy_headers": True,
}

#: The memory every connection of this process may hold of the answers they have yet to send.
ANSWERS_IN_MEMORY = Budget()

#: How long the loop waits for an event at most; deadlines are checked at least this often.
LOOP_SECONDS = 0.5
#: How long a connection closed after an error answer keeps reading (and dropping) what the client sends.
LINGER_SECONDS = 2.0
#: Near the connection limit with no idle connection left, requests arriving for longer than this are
#: ended (408), the longest first, to make room.
PRESSED_SECONDS = 2.0
#: While stopping, how long a connection that has sent nothing yet is waited for before it is closed.
FIRST_REQUEST_SECONDS = 2.0
#: The events a connection waits for when it wants to read.
_READ = select.POLLIN | select.POLLPRI
#: A warning that repeats (an address over its limit, the connection limit reached) is logged this seldom.
REPORT_SECONDS = 10.0


@dataclasses.dataclass(frozen=True)
class Limits:
    """How much of the server clients may hold, and for how long.

    Attributes:
        request_timeout: Seconds a client has to send a whole request (head and
            body), from its first byte; a new connection's first request, from
            the connection's opening.
        max_connections_per_address: Connections one client address may hold at
            once; more are closed as soon as they are accepted. 0: no limit.
        connection_limit: Connections held at once. Near it, the idle keep-alive
            connections are closed, oldest first.
        shutdown_grace: Seconds a graceful stop waits for requests in flight.
    """

    request_timeout: float = 20.0
    max_connections_per_address: int = 100
    connection_limit: int = 1000
    shutdown_grace: float = 30.0


class ServeError(Exception):
    """The server cannot start: the address is taken, say."""


class RequestTimeout(Error):
    code = 408
    reason = "Request Timeout"


def _request_path(head: bytes) -> str | None:
    """The path of the request line at the start of ``head``, if it has one."""
    line = head.lstrip(b"\r\n").split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    if len(parts) < 2 or not parts[1]:
        return None
    target = parts[1].decode("latin-1")
    if "://" in target:  # absolute form
        target = urllib.parse.urlsplit(target).path
    return urllib.parse.unquote(target.split("?", 1)[0].split("#", 1)[0]) or None


def _transfer_codings(head: bytes) -> list[bytes]:
    """Every transfer coding of every ``Transfer-Encoding`` field of ``head``, in order."""
    codings = []
    for line in head.split(b"\r\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and name.lower() == b"transfer-encoding":
            codings += [c.strip(b" \t").lower() for c in value.split(b",") if c.strip(b" \t")]
    return codings


class RequestParser(HTTPRequestParser):
    """waitress's parser, refusing what could be read two ways, and bodies too large to accept."""

    #: The request's path, once known; errors are answered in the format of the API it names.
    path = "/"
    path_known = False

    def received(self, data: bytes) -> int:
        head_before = self.header_plus
        headers_were_finished = self.headers_finished
        consumed = super().received(data)
        if (
            self.headers_finished
            and not headers_were_finished
            and self.error is None
            and not self.chunked
            and self.content_length > MAX_BODY
        ):
            # Refused from its Content-Length alone: its body is never read.
            self.error = RequestEntityTooLarge(f"Content-Length {self.content_length}")
            self.completed = True
        if self.error is not None:
            # Never invite a body that is refused (waitress would send 100 Continue).
            self.expect_continue = False
            if isinstance(self.error, RequestHeaderFieldsTooLarge):
                # waitress parsed a stand-in request line ("GET /"): read the real one's path.
                self.path = _request_path(head_before + data) or "/"
        return consumed

    def parse_header(self, header_plus: bytes) -> None:
        codings = _transfer_codings(header_plus)
        try:
            super().parse_header(header_plus)
        except TransferEncodingNotImplemented:
            self._learn_path(header_plus)
            raise ParsingError("Transfer-Encoding must be chunked, and only chunked") from None
        except ParsingError:
            self._learn_path(header_plus)
            raise
        self.path_known = True
        if codings or "TRANSFER_ENCODING" in self.headers:
            # waitress leaves the field in place (and reads Content-Length) unless it is HTTP/1.1.
            if self.version != "1.1":
                raise ParsingError("Transfer-Encoding is only understood in HTTP/1.1")
            if codings != [b"chunked"]:
                raise ParsingError("Transfer-Encoding must be chunked, and only chunked")
            if "CONTENT_LENGTH" in self.headers:
                raise ParsingError("Content-Length and Transfer-Encoding must not be sent together")

    def _learn_path(self, head: bytes) -> None:
        if not self.path_known:
            self.path = _request_path(head) or "/"
            self.path_known = True


def _json_error(
    error: Error, path: str, adj: Adjustments, request_id: str | None = None
) -> tuple[str, str, bytes]:
    """The status line, content type and body answering ``error`` on ``path``."""
    status = falcon.code_to_http_status(error.code)
    title = status[4:]
    if isinstance(error, RequestEntityTooLarge):
        title, message = "Payload too large", f"The request body must not exceed {MAX_BODY} bytes."
    elif isinstance(error, RequestHeaderFieldsTooLarge):
        message = f"The request line and headers must not exceed {adj.max_request_header_size} bytes."
    elif isinstance(error, InternalServerError):
        message = "Internal server error"
    elif isinstance(error, BadRequest | RequestTimeout):
        message = error.body
    else:
        message = title
    content_type, body = error_body(path, error.code, message, title, request_id=request_id)
    return status, content_type, json.dumps(body, separators=(",", ":")).encode()


class ErrorAnswer(ErrorTask):
    """waitress's error answer, in the API's JSON error format; the connection closes after it."""

    def execute(self) -> None:
        request = cast(HTTPRequestParser, self.request)  # typed as an Error in types-waitress
        error = request.error or InternalServerError("no error")
        path = request.path if isinstance(request, RequestParser) else "/"
        # A new id: the request's own X-Request-ID may be what could not be read.
        request_id = new_request_id()
        status, content_type, body = _json_error(error, path, self.channel.adj, request_id)
        self.status = status
        self.response_headers = [
            *self.response_headers,
            ("Content-Type", content_type),
            ("X-Content-Type-Options", "nosniff"),
            ("Cache-Control", "no-store"),
            ("X-Request-ID", request_id),
        ]
        owner = getattr(self.channel, "owner", None)
        if owner is not None and owner.cors is not None:
            # As the app's answers: a page of an allowed origin reads this one too.
            self.response_headers += owner.cors.headers(request.headers.get("ORIGIN"))
        self.set_close_on_finish()
        self.content_length = len(body)
        if isinstance(self.channel, Channel):
            self.channel.linger = True
        self.write(body)
        # The app never saw this request: the access log hears of it here (no duration: none ran).
        method = str(getattr(request, "command", "") or "-")
        access_log.info(
            '%s "%s %s" %d - request_id=%s',
            self.channel.addr[0],
            printable(method),
            printable(path),
            error.code,
            request_id,
            extra={
                "client": self.channel.addr[0],
                "method": method,
                "path": path,
                "status": error.code,
                "request_id": request_id,
            },
        )


class _Escaping(logging.Filter):
    """Escapes control characters in a record's message: waitress formats request paths into some."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = printable(record.getMessage()), None
        return True


#: The logger of waitress's connections and tasks here ("Exception while serving /…").
WAITRESS_LOG = logging.getLogger("waitress.requests")
WAITRESS_LOG.addFilter(_Escaping())


class Answer(WSGITask):
    """The app's answer; while the server stops, it ends its connection.

    An HTTP/1.1 answer without ``Content-Length`` (sent in chunks, or with no
    body) keeps its connection, as HTTP/1.1 allows: waitress would close it,
    and a client reading long lists would open a connection for each. A chunked
    answer is whole only once its last chunk is sent, which waitress does when
    the app's iterator is done; one that fails half-way is still cut, its
    connection closed (waitress's channel sees to that, whatever the header
    said). A ``HEAD`` answer keeps the rule: waitress would write the empty
    last chunk after it, which a kept connection would read as the start of
    the next answer.
    """

    logger = WAITRESS_LOG

    #: Set while waitress builds the header of an answer that may keep its connection
    #: without a ``Content-Length``: waitress's own call to close it is then refused.
    _unframed_keeps_alive = False

    def build_response_header(self) -> bytes:
        channel = self.channel
        if isinstance(channel, Channel) and channel.owner is not None and channel.owner.stopping:
            self.set_close_on_finish()
        request = self.request
        self._unframed_keeps_alive = (
            isinstance(request, HTTPRequestParser)
            and not self.close_on_finish
            and self.version == "1.1"
            and request.command != "HEAD"  # type: ignore[comparison-overlap]  # str, not bytes as typed
            and request.headers.get("CONNECTION", "").lower() != "close"
        )
        try:
            return super().build_response_header()
        finally:
            self._unframed_keeps_alive = False

    def set_close_on_finish(self) -> None:
        # Within build_response_header, for HTTP/1.1 when the client did not ask to close,
        # waitress calls this for one reason only: the answer has no Content-Length.
        if not self._unframed_keeps_alive:
            super().set_close_on_finish()

    def write(self, data: bytes) -> None:
        channel = self.channel
        if self.wrote_header or not data or not isinstance(channel, Channel):
            super().write(data)
            return
        # waitress hands the head and the first piece of the body to the connection one after
        # the other, and each went out in a send of its own: gathered, they go out in one.
        channel.gathered = []
        try:
            super().write(data)
        finally:
            pieces, channel.gathered = channel.gathered, None
        if pieces:
            channel.write_soon(b"".join(pieces))


class Channel(HTTPChannel):
    """One client connection, with a deadline for each request it sends."""

    task_class = Answer
    error_task_class = ErrorAnswer
    parser_class = RequestParser
    logger = WAITRESS_LOG

    #: Set by waitress (types-waitress does not declare them, or declares them otherwise).
    requests_lock: threading.Lock
    _fileno: int | None
    outbufs: list[Any]
    _flush_outbufs_below_high_watermark: Callable[[], None]
    _flush_exception: Callable[..., tuple[bool, bool]]
    _flush_some: Callable[..., bool]
    owner: Service | None = None
    address = ""
    #: When the request being received began (monotonic seconds); None while none is.
    request_started: float | None = None
    #: Whether a request came whole on this connection (it is then a keep-alive one when idle).
    kept_alive = False
    #: Whether closing this connection should first let the client finish sending.
    linger = False
    #: Until when a closed-for-writing connection still reads and drops input.
    lingering_until: float | None = None
    #: While an answer gathers what it writes (see :meth:`Answer.write`), the pieces so far.
    gathered: list[bytes] | None = None

    def __init__(
        self, server: BaseWSGIServer, sock: socket.socket, addr: Any, adj: Adjustments, map: Any = None
    ) -> None:
        super().__init__(server, sock, addr, adj, map)
        self.opened = self.request_started = time.monotonic()  # its first request is owed at once
        # The answers' own pieces, within the process's budget (see luminary.http.outbuf), offered
        # to the socket up to SEND_AT_ONCE a send rather than the 16 KB waitress reads off SO_SNDBUF.
        self.outbufs = [Pieces(ANSWERS_IN_MEMORY)]
        self.sendbuf_len = max(self.sendbuf_len, SEND_AT_ONCE)

    def received(self, data: bytes) -> bool:
        if self.request_started is None:
            self.request_started = time.monotonic()
        result = super().received(data)
        if self.request is None:  # nothing left half received
            self.request_started = None
            self.kept_alive = True
        return result

    def write_soon(self, data: bytes) -> int:
        gathered = self.gathered
        if gathered is not None:
            gathered.append(data)
            return len(data)
        if isinstance(data, ReadOnlyFileBasedBuffer):  # wsgi.file_wrapper: waitress's own way
            return int(super().write_soon(data))
        # As waitress's, but into one Pieces for the connection's life: waitress starts a buffer
        # of its own making for each answer (and whenever one has taken outbuf_high_watermark),
        # so that a long-lived connection does not keep a grown one; Pieces keeps nothing sent.
        if not self.connected:
            raise ClientDisconnected
        if not data:
            return 0
        with self.outbuf_lock:
            self._flush_outbufs_below_high_watermark()  # waits while the client is that far behind
            if not self.connected:
                raise ClientDisconnected
            buffer = self.outbufs[-1]
            if not isinstance(buffer, Pieces):  # after a file_wrapper's
                buffer = Pieces(ANSWERS_IN_MEMORY)
                self.outbufs.append(buffer)
            buffer.append(data)
            self.total_outbufs_len += len(data)
            if self.total_outbufs_len >= self.adj.send_bytes:
                flushed, failed = self._flush_exception(self._flush_some, do_close=False)
                if failed or not flushed or self.total_outbufs_len >= self.adj.send_bytes:
                    self.server.pull_trigger()  # the loop sends the rest as the socket takes it
        return len(data)

    def idle(self) -> bool:
        """Whether the connection waits for a request, with nothing received, running or to send."""
        return (
            self.connected
            and not self.requests
            and self.request is None
            and not self.total_outbufs_len
            and not self.will_close
            and not self.close_when_flushed
            and self.lingering_until is None
        )

    def readable(self) -> bool:
        return True if self.lingering_until is not None else super().readable()

    def writable(self) -> bool:
        if self.lingering_until is not None or not super().writable():
            return False
        if self.requests and not (self.will_close or self.close_when_flushed):
            # A task is answering on this connection. While its thread holds the output lock
            # (it sends what it writes itself, the lock held across the send), the main loop
            # could not send either: were the socket asked for, it would be ready at once and
            # the loop would turn without doing anything until the lock is let go (measured:
            # 14 turns of the whole loop per answer at 2 threads, doubling the CPU an answer
            # costs). The task's thread pulls the trigger whenever it leaves output unsent, and
            # when the task ends, so the loop looks again then.
            if not self.outbuf_lock.acquire(False):
                return False
            self.outbuf_lock.release()
        return True

    def handle_read(self) -> None:
        if self.lingering_until is None:
            super().handle_read()
            return
        try:
            self.recv(self.adj.recv_bytes)  # dropped; at the client's end of input, recv closes
        except OSError:
            self.close_now()

    def handle_close(self) -> None:
        lingers = self.linger and self.lingering_until is None and not self.total_outbufs_len
        if lingers and self.connected and self.socket is not None:
            # The answer is sent: say so with a FIN, and read what the client still sends, so
            # that closing with unread input (a reset) does not destroy the answer on its way.
            try:
                self.socket.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            else:
                self.lingering_until = time.monotonic() + LINGER_SECONDS
                self.will_close = False
                return
        self.close_now()

    def close_now(self) -> None:
        self.linger = False
        self.lingering_until = None
        super().handle_close()

    def del_channel(self, map: Any = None) -> None:
        fd = self._fileno
        super().del_channel(map)
        if self.owner is not None:
            self.owner.release(self, fd)
            self.owner = None

    def check(self, now: float, wall_clock: float, limits: Limits) -> None:
        """Enforce the request deadline, the idle timeout and the end of lingering."""
        if self.lingering_until is not None:
            if now >= self.lingering_until:
                self.close_now()
            return
        started = self.request_started
        if started is not None and now - started > limits.request_timeout:
            self.time_out(f"The request was not received within {limits.request_timeout:g} seconds.")
        elif not self.requests and wall_clock - self.last_activity > self.adj.channel_timeout:
            self.will_close = True  # the loop closes it, after sending what it can

    def leaving(self) -> bool:
        """Whether the connection is closing (once what it has to send is sent)."""
        return self.will_close or self.close_when_flushed or self.lingering_until is not None

    def time_out(self, message: str, *, linger: bool = True) -> None:
        """Answer 408 to the request being received (or close a connection that sent nothing)."""
        with self.requests_lock:
            if self.requests:
                return  # a request before it is being answered: this one's turn comes after
            self.request_started = None
            if self.will_close or self.close_when_flushed:
                return
            request = self.request
            if request is None:
                self.will_close = True
                return
            self.request = None
            request.error = RequestTimeout(message)
            request.completed = True
            request.expect_continue = False
            task = ErrorAnswer(self, cast(Any, request))
            try:
                task.service()
            except ClientDisconnected:
                pass
            finally:
                request.close()
            self.linger = linger
            self.close_when_flushed = True


class Dispatcher(ThreadedTaskDispatcher):
    """waitress's worker threads, with the depth of their queue reported seldom (see the module's doc)."""

    def __init__(self) -> None:
        super().__init__()
        self.deepest = 0
        self.next_report = 0.0

    def add_task(self, task: Any) -> None:
        with self.lock:
            self.queue.append(task)
            self.queue_cv.notify()
            waiting = len(self.queue) - (len(self.threads) - self.stop_count - self.active_count)
            if waiting <= 0:
                return
            self.deepest = max(self.deepest, waiting)
            now = time.monotonic()
            if now < self.next_report:
                return
            deepest, self.deepest, self.next_report = self.deepest, 0, now + REPORT_SECONDS
        log.warning("%d request(s) waiting for a thread (%d at most since the last report)", waiting, deepest)


class Listener(TcpWSGIServer):
    """One listening socket of a :class:`Service`; its connections are :class:`Channel` objects."""

    channel_class = Channel

    def __init__(self, service: Service, application: Any, **kw: Any) -> None:
        self.service = service
        super().__init__(application, **kw)

    def readable(self) -> bool:
        return self.accepting and self.service.may_accept()

    def handle_accept(self) -> None:
        self.accept_one()

    def accept_one(self) -> bool:
        """Accept one waiting connection, if there is one; whether there was."""
        try:
            pair = self.accept()
            if pair is None:
                return False
            conn, addr = pair
            self.set_socket_options(conn)
        except OSError:
            # As waitress: a connection that went away before it was accepted is no reason to stop.
            log.debug("accept() failed", exc_info=True)
            return True
        self.service.admit(self, conn, addr)
        return True


class _Wakeup(wasyncore.dispatcher):
    """The read end of a socket pair a signal writes to (``signal.set_wakeup_fd``): it wakes the loop."""

    def __init__(self, map: Any) -> None:
        reader, self.writer = socket.socketpair()
        self.writer.setblocking(False)
        super().__init__(reader, map=map)

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def handle_read(self) -> None:
        with contextlib.suppress(OSError):
            self.recv(512)

    def handle_close(self) -> None:
        self.close()

    def close(self) -> None:
        super().close()
        self.writer.close()


class Service:
    """waitress's listening sockets, worker threads and loop, run with :class:`Limits`."""

    def __init__(
        self,
        app: Any,
        *,
        host: str,
        port: int,
        threads: int,
        limits: Limits,
        sockets: Sequence[socket.socket] = (),
        cors: Cors | None = None,
    ) -> None:
        self.limits = limits
        #: The CORS policy of waitress's own answers (:class:`ErrorAnswer`), the app's own.
        self.cors = cors
        self.map: dict[int, Any] = {}
        self.channels: set[Channel] = set()
        self.per_address: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.next_refusal_report = 0.0
        self.signals: list[int] = []
        self.stopping = False
        self.deadline = math.inf
        self.next_check = 0.0
        self.next_prune = 0.0
        self.pruned_idle = self.pruned_slow = 0
        self.next_report = self.next_full_report = 0.0
        self.pollster = select.poll()
        #: The events each file descriptor is registered for in ``pollster`` (absent: none).
        self.registered: dict[int, int] = {}
        #: Connections waiting for their next request with nothing else to do, by file descriptor:
        #: the loop does not ask them for their flags again until they have an event, or until the
        #: periodic check (which may close them) has run.
        self.quiet: dict[int, Channel] = {}
        #: Rounds of the loop, and how many dispatchers they asked for their flags in all.
        self.turns = self.looked_at = 0
        bound: list[tuple[socket.socket | None, Any]]
        if sockets:
            # Listening sockets bound by another process (the supervisor of --workers).
            adj = Adjustments(
                sockets=list(sockets), threads=threads, connection_limit=limits.connection_limit, **SETTINGS
            )
            bound = [(sock, (sock.family, sock.type, sock.proto, sock.getsockname())) for sock in sockets]
        else:
            adj = _adjustments(host, port, threads, limits)
            bound = [(None, sockinfo) for sockinfo in cast(list[Any], adj.listen)]
        self.dispatcher = Dispatcher()
        self.listeners: list[Listener] = []
        try:
            for sock, sockinfo in bound:
                self.listeners.append(
                    Listener(
                        self,
                        app,
                        map=self.map,
                        dispatcher=self.dispatcher,
                        adj=adj,
                        sockinfo=sockinfo,
                        _sock=sock,
                        bind_socket=sock is None,
                    )
                )
        except OSError as exc:
            wasyncore.close_all(self.map, ignore_all=True)
            raise ServeError(f"cannot listen on {_address(host, port)}: {exc.strerror or exc}") from None
        self.port = int(getattr(self.listeners[0], "effective_port", port))
        self.dispatcher.set_thread_count(threads)

    # ------------------------------------------------------------ connections

    def may_accept(self) -> bool:
        full = len(self.channels) >= self.limits.connection_limit
        now = time.monotonic()
        if full and now >= self.next_full_report:
            self.next_full_report = now + REPORT_SECONDS
            log.warning("the connection limit is reached (%d open): new connections wait", len(self.channels))
        return not full and not self.stopping

    def admit(self, listener: Listener, conn: socket.socket, addr: Any) -> None:
        address = str(addr[0]) if isinstance(addr, tuple) and addr else ""
        most = self.limits.max_connections_per_address
        if most and self.per_address[address] >= most:
            conn.close()
            self.refused[address] += 1
            now = time.monotonic()
            if now >= self.next_refusal_report:
                self.next_refusal_report = now + REPORT_SECONDS
                log.warning(
                    "refused %d connection(s) from addresses holding %d already: %s",
                    self.refused.total(),
                    most,
                    ", ".join(a for a, _ in self.refused.most_common(5)),
                )
                self.refused.clear()
            return
        channel = Channel(listener, conn, addr, listener.adj, map=self.map)
        channel.owner = self
        channel.address = address
        self.channels.add(channel)
        self.per_address[address] += 1

    def release(self, channel: Channel, fd: int | None = None) -> None:
        if fd is not None and self.quiet.get(fd) is channel:
            del self.quiet[fd]
        if channel in self.channels:
            self.channels.discard(channel)
            self.per_address[channel.address] -= 1
            if self.per_address[channel.address] <= 0:
                del self.per_address[channel.address]

    def _prune(self, now: float) -> bool:
        """Near the connection limit, make room: close idle keep-alive connections, oldest first; if
        that is not enough, end the requests that have been arriving the longest (beyond a moment).
        Whether it closed or ended any."""
        limit = self.limits.connection_limit
        keep = limit - max(1, limit // 10)
        if len(self.channels) <= keep or now < self.next_prune:
            return False
        self.next_prune = now + 0.05
        staying = [c for c in self.channels if not c.leaving()]
        excess = len(staying) - keep
        if excess <= 0:
            return False
        # A new connection is not idle, but about to send its request (for a moment).
        idle = sorted(
            (c for c in staying if c.idle() and (c.kept_alive or now - c.opened > PRESSED_SECONDS)),
            key=lambda c: c.last_activity,
        )[:excess]
        for channel in idle:
            channel.close_now()
        excess -= len(idle)
        slow = sorted(
            (
                c
                for c in staying
                if c.request_started is not None and now - c.request_started > PRESSED_SECONDS
            ),
            key=lambda c: c.request_started or now,
        )[: max(0, excess)]
        for channel in slow:
            # No lingering: the room is needed now, and such a client is hardly waiting for an answer.
            channel.time_out("The request was not received in time: the server is busy.", linger=False)
        self.pruned_idle += len(idle)
        self.pruned_slow += len(slow)
        if (self.pruned_idle or self.pruned_slow) and now >= self.next_report:
            self.next_report = now + REPORT_SECONDS
            log.warning(
                "near the connection limit: closed %d idle connection(s), ended %d slow request(s)",
                self.pruned_idle,
                self.pruned_slow,
            )
            self.pruned_idle = self.pruned_slow = 0
        return bool(idle or slow)

    # ------------------------------------------------------------ the loop

    def request_stop(self, signum: int, frame: FrameType | None = None) -> None:
        """The signal handler: only a note, acted on by the loop (a handler must not take locks)."""
        self.signals.append(signum)

    def run(self) -> None:
        """Serve until stopped; then return once every connection is done or the grace period is over."""
        freeze_startup_objects()
        try:
            while True:
                self._poll(LOOP_SECONDS)
                if self._tick(time.monotonic()):
                    break
        finally:
            self.close()

    def _poll(self, timeout: float) -> None:
        """One round of the loop: wait up to ``timeout`` seconds for events, and handle them.

        waitress's own round (``wasyncore.poll2``) asks every connection whether it wants to read
        or write, and registers each with a new poll object, every time: with 16 connections that
        was a fifth of a short answer's CPU by profile, and 90 idle keep-alive connections beside them
        made each answer cost 44% more. Here registrations are kept from round to round and changed
        only when a connection's wishes change, and a connection that waits for its next request
        with nothing else to do (:attr:`quiet`) is not asked again until it has an event: only
        the loop's thread changes such a connection (worker threads only touch connections with a
        request), by reading from it or in :meth:`_tick`, which forgets the quiet ones when it has
        checked or closed connections.
        """
        map_, quiet, registered, pollster = self.map, self.quiet, self.registered, self.pollster
        for fd in registered.keys() - map_.keys():  # closed since the last round
            del registered[fd]
            pollster.unregister(fd)
        looking = map_.keys() - quiet.keys() if quiet else list(map_)
        self.turns += 1
        self.looked_at += len(looking)
        for fd in looking:
            obj = map_[fd]
            flags = _READ if obj.readable() else 0
            if not obj.accepting and obj.writable():
                flags |= select.POLLOUT
            if flags != registered.get(fd, 0):
                if not flags:
                    del registered[fd]
                    pollster.unregister(fd)
                else:
                    if fd in registered:
                        pollster.modify(fd, flags)
                    else:
                        pollster.register(fd, flags)
                    registered[fd] = flags
            if flags == _READ and type(obj) is Channel and not obj.requests:
                quiet[fd] = obj
        for fd, events in pollster.poll(timeout * 1000):
            obj = map_.get(fd)
            if obj is None:
                continue
            quiet.pop(fd, None)
            wasyncore.readwrite(obj, events)

    def _tick(self, now: float) -> bool:
        """Work between two rounds of the loop, where closing connections is safe; True when done."""
        if self.signals and not self.stopping:
            self._begin_stop(now)
            return False  # idle connections are closed next time, once their waiting input is read
        if len(self.signals) > 1 and self.deadline > now:
            log.warning("received %s again: stopping now", signal.Signals(self.signals[-1]).name)
            self.deadline = now
        if now >= self.next_check:
            self.next_check = now + LOOP_SECONDS
            wall_clock = time.time()
            for channel in list(self.channels):
                channel.check(now, wall_clock, self.limits)
            self.quiet.clear()  # a check may have changed what a connection waits for
        if not self.stopping:
            if self._prune(now):
                self.quiet.clear()
            return False
        self.quiet.clear()
        for channel in list(self.channels):
            # A connection accepted but still silent may have its first request on the way
            # (sent before the signal, not yet through the kernel): it gets a moment.
            if channel.idle() and (channel.kept_alive or now - channel.opened > FIRST_REQUEST_SECONDS):
                channel.close_now()
        if not self.channels:
            log.info("every request answered: stopped")
            return True
        if now >= self.deadline:
            log.warning(
                "%d connection(s) still open after the grace period of %g s: closing them",
                len(self.channels),
                self.limits.shutdown_grace,
            )
            return True
        return False

    def _begin_stop(self, now: float) -> None:
        self.stopping = True
        self.deadline = now + self.limits.shutdown_grace
        for listener in self.listeners:
            # Connections the kernel already accepted are taken, as any before them were.
            for _ in range(self.limits.connection_limit):
                if not listener.accept_one():
                    break
            wasyncore.dispatcher.close(listener)  # the listening socket only: its trigger stays
        log.info(
            "received %s: no new connections; %d open, given up to %g s to finish",
            signal.Signals(self.signals[0]).name,
            len(self.channels),
            self.limits.shutdown_grace,
        )

    def close(self) -> None:
        for channel in list(self.channels):
            channel.close_now()
        for listener in self.listeners:
            listener.close()
        remaining = self.deadline - time.monotonic() if math.isfinite(self.deadline) else 1.0
        self.dispatcher.shutdown(cancel_pending=True, timeout=max(1, math.ceil(remaining)))

    @contextlib.contextmanager
    def signals_handled(self) -> Iterator[None]:
        """SIGTERM and SIGINT stop the server gracefully while inside (from the main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        wakeup = _Wakeup(self.map)
        previous_fd = signal.set_wakeup_fd(wakeup.writer.fileno(), warn_on_full_buffer=False)
        stops = (signal.SIGTERM, signal.SIGINT)
        previous = {sig: signal.signal(sig, self.request_stop) for sig in stops}
        # A worker starts with them blocked (Supervisor's hold_signals): one sent meanwhile
        # is pending, and handled now.
        previous_mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(previous_fd)
            wakeup.close()


def freeze_startup_objects() -> None:
    """Keep what start-up made (modules, the app, the engine) out of the garbage collector's rounds.

    A full collection visits every object the collector tracks, some 70,000
    once the app is built, though those live as long as the process; a list of
    a few thousand rows allocates enough to set one off every few requests.
    Frozen (``gc.freeze``), they are skipped: measured in-process, ``GET
    /api/users/`` (52 users) took 13-30% less time. Objects made later are
    collected as before.
    """
    gc.collect()
    gc.freeze()


def _adjustments(host: str, port: int, threads: int, limits: Limits) -> Adjustments:
    try:
        return Adjustments(
            host=host, port=port, threads=threads, connection_limit=limits.connection_limit, **SETTINGS
        )
    except (OSError, ValueError) as exc:
        why = _unresolved(host, port) or exc
        raise ServeError(f"cannot listen on {_address(host, port)}: {why}") from None


def _bind_failure(exc: OSError) -> str:
    """The reason a bind failed, with what it means when the system's words do not say it."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{reason}: no interface of this machine has that address"
    if exc.errno == errno.EACCES:
        return f"{reason}: ports below 1024 need privileges"
    return reason


def _unresolved(host: str, port: int) -> str | None:
    """Why ``host`` names no address to listen on, if that is why (waitress only says "Invalid host/port")."""
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        return f"{host!r} is neither an IP address nor a host name that resolves ({reason})"
    return None


def listen(host: str, port: int) -> list[socket.socket]:
    """Bind and listen on ``host`` and ``port`` as :class:`Service` would, for processes to share.

    A :class:`Service` given these sockets serves on them; processes forked
    afterwards share them, and the kernel hands each connection to one of them.

    Raises:
        ServeError: It cannot listen on ``host`` and ``port`` (taken, say).
    """
    adj = _adjustments(host, port, 1, Limits())
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, address in cast(list[Any], adj.listen):
            sockets.append(_listening(family, kind, proto, address, backlog=adj.backlog))
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise ServeError(f"cannot listen on {_address(host, port)}: {_bind_failure(exc)}") from None
    return sockets


def can_listen_apart() -> bool:
    """Whether :func:`listen_apart` is available: Linux spreads connections over sockets sharing a port."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def listen_apart(host: str, port: int, places: int) -> list[list[socket.socket]]:
    """``places`` sets of listening sockets on one ``host`` and ``port``, each set for one process.

    Each socket has ``SO_REUSEPORT``: the kernel sends each new connection to one
    socket of the port, chosen by a hash of the connection's addresses and
    ports, so a burst of connections from one client is spread evenly. (Processes
    sharing one socket are not: whichever is awake first accepts, and a burst of
    16 connections often lands 14 to 2, or all on one.) Set ``i`` is for the
    process in place ``i``; whoever holds a set open keeps its queue, so
    connections sent to a place whose process is being replaced wait for the
    replacement rather than being refused.

    The port is first bound the plain way and let go: a port another server
    holds is refused as :func:`listen` refuses it, ``SO_REUSEPORT`` or not, and
    port 0 picks one free port for every set. A plain bind on a port these
    sockets hold fails, so a second server started on it is refused too.

    Raises:
        ServeError: It cannot listen on ``host`` and ``port`` (taken, say).
    """
    adj = _adjustments(host, port, 1, Limits())
    sets: list[list[socket.socket]] = [[] for _ in range(places)]
    try:
        for family, kind, proto, address in cast(list[Any], adj.listen):
            probe = socket.socket(family, kind, proto)
            try:
                _prepare(probe, family)
                probe.bind(address)
                chosen = probe.getsockname()
            finally:
                probe.close()
            for own in sets:
                own.append(_listening(family, kind, proto, chosen, backlog=adj.backlog, apart=True))
    except OSError as exc:
        for sock in (sock for own in sets for sock in own):
            sock.close()
        raise ServeError(f"cannot listen on {_address(host, port)}: {_bind_failure(exc)}") from None
    return sets


def _prepare(sock: socket.socket, family: int) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)


def _listening(
    family: int, kind: int, proto: int, address: Any, *, backlog: int, apart: bool = False
) -> socket.socket:
    sock = socket.socket(family, kind, proto)
    try:
        _prepare(sock, family)
        if apart:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(backlog)
        # Each process waits for connections in its own loop: none may block in accept().
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def serve(
    app: Any, *, host: str, port: int, threads: int, limits: Limits | None = None, cors: Cors | None = None
) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, then stop gracefully and return.

    ``cors`` is the app's CORS policy, for the answers waitress makes itself.

    Raises:
        ServeError: It cannot listen on ``host`` and ``port`` (taken, say).
    """
    from . import banner

    service = Service(app, host=host, port=port, threads=threads, limits=limits or Limits(), cors=cors)
    with service.signals_handled():
        print(f"Serving Luminary on {banner.url(host, service.port)} with {threads} threads", flush=True)
        service.run()


def _address(host: str, port: int) -> str:
    from .banner import address

    return address(host, port)
