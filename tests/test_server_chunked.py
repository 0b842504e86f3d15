"""An answer sent in chunks keeps its HTTP/1.1 connection (waitress's own rule closes it); one cut
by an error, a HEAD answer and a client that asks to close still end theirs."""

from __future__ import annotations

import http.client
import signal
import socket
import threading
from collections.abc import Iterator

import pytest

pytest.importorskip("luminary.http", reason="luminary-http is not installed")

from luminary.http.server import Limits, Service

PIECES = [b"x" * 1000] * 50


def app(environ, start_response):
    """``/chunked``: 50 pieces and no Content-Length; ``/cut``: fails after its first piece;
    anything else: a short answer with its length. Each body ends with the client's port."""
    port = environ["REMOTE_PORT"].encode()
    path = environ["PATH_INFO"]
    start_response(
        "200 OK",
        [("Content-Type", "text/plain")]
        if path != "/short"
        else [
            ("Content-Type", "text/plain"),
            ("Content-Length", str(len(port))),
        ],
    )
    if path == "/short":
        return [port]
    if path == "/cut":
        return _cut()
    return _pieces(port)


def _pieces(port: bytes) -> Iterator[bytes]:
    yield from PIECES
    yield port


def _cut() -> Iterator[bytes]:
    yield b"first piece"
    raise RuntimeError("the list could not be read to its end")


@pytest.fixture(scope="module")
def port():
    service = Service(app, host="127.0.0.1", port=0, threads=2, limits=Limits())
    runner = threading.Thread(target=service.run)
    runner.start()
    yield service.port
    service.request_stop(signal.SIGTERM)
    runner.join(10)


def test_a_chunked_answer_keeps_the_connection_for_the_next_request(port):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/chunked")
    answer = connection.getresponse()
    assert answer.getheader("Transfer-Encoding") == "chunked"
    assert answer.getheader("Connection") is None
    body = answer.read()
    assert body[:50_000] == b"".join(PIECES)
    sock = connection.sock
    assert sock is not None, "the client saw Connection: close"
    own_port = str(sock.getsockname()[1]).encode()
    assert body[50_000:] == own_port
    # The same socket carries the next requests, chunked or not.
    for path in ("/chunked", "/short", "/chunked"):
        connection.request("GET", path)
        answer = connection.getresponse()
        assert answer.read().endswith(own_port)
        assert connection.sock is sock
    connection.close()


def exchange(port: int, request: bytes) -> tuple[bytes, bytes]:
    """The head and body the server sends for ``request`` until it closes the connection
    (a test waiting here for a connection kept open fails on its timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return head, body


def test_a_chunked_answer_cut_by_an_error_ends_its_connection_without_the_last_chunk(port):
    head, body = exchange(port, b"GET /cut HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert b"first piece" in body
    # Closed by the server (recv gave b""), and the terminating chunk never came.
    assert not body.endswith(b"0\r\n\r\n")


def test_a_client_that_asks_to_close_and_a_head_answer_end_their_connection(port):
    for method, headers in (("GET", {"Connection": "close"}), ("HEAD", {})):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request(method, "/chunked", headers=headers)
        answer = connection.getresponse()
        answer.read()
        assert answer.getheader("Connection") == "close", method
        assert answer.will_close
        connection.close()


def test_an_http_1_0_answer_without_a_length_ends_its_connection(port):
    head, body = exchange(port, b"GET /chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert b"Transfer-Encoding" not in head
    assert body.startswith(b"".join(PIECES))
