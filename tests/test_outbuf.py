"""A connection's output: the answer's pieces kept as they are, memory within the process's budget,
the rest in a temporary file, sent in order whatever the socket takes at a time."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

pytest.importorskip("luminary.http", reason="luminary-http is not installed")

from luminary.http import server as server_module
from luminary.http.outbuf import Budget, Pieces
from luminary.http.server import Service
from served import in_process


def _drain(buffer: Pieces, sends: Iterator[int], limit: int) -> bytes:
    """What a socket taking ``next(sends)`` bytes of each offer would receive, offered ``limit`` at most."""
    out = bytearray()
    while len(buffer):
        chunk = buffer.get(limit)
        assert 0 < len(chunk) <= limit
        taken = min(len(chunk), next(sends))
        out += bytes(chunk[:taken])
        buffer.skip(taken, True)
    return bytes(out)


pieces_strategy = st.lists(st.binary(min_size=0, max_size=3000), max_size=30)


@settings(max_examples=60, deadline=None)
# A piece over the budget, then one that would fit: it must still wait its turn, behind the file.
@example(batches=[[b"a" * 3000, b"b" * 3000, b"c" * 1000]], budget=5000, sends=[100], limit=4096)
@given(
    batches=st.lists(pieces_strategy, min_size=1, max_size=4),
    budget=st.integers(min_value=0, max_value=20_000),
    sends=st.lists(st.integers(min_value=1, max_value=5000), min_size=1),
    limit=st.sampled_from([1, 7, 4096, 256 * 1024]),
)
def test_what_is_sent_is_what_was_written_in_order(batches, budget, sends, limit):
    """Written in batches (the socket drained between them), over a budget or within it, taken a
    few bytes or many at a time: the bytes come out as they went in, and the memory is given back."""
    shared = Budget(budget)
    buffer = Pieces(shared)
    sizes = iter(sends * 10_000)
    written = received = b""
    for batch in batches:
        for piece in batch:
            buffer.append(piece)
            written += piece
            assert shared.held <= budget
        assert len(buffer) == len(written) - len(received)
        received += _drain(buffer, sizes, limit)
    assert received == written
    assert shared.held == 0


def test_a_piece_in_memory_is_handed_on_without_a_copy():
    buffer = Pieces(Budget(1 << 20))
    piece = b"y" * 100_000
    buffer.append(piece)
    assert buffer.get(256 * 1024) is piece
    buffer.skip(40_000)
    rest = buffer.get(256 * 1024)
    assert isinstance(rest, memoryview)
    assert rest.obj is piece
    assert bytes(rest) == piece[40_000:]


def test_short_pieces_go_out_together():
    """A chunk's end and the next chunk's size: one send, not one each."""
    buffer = Pieces(Budget(1 << 20))
    for piece in (b"\r\n", b"1F\r\n", b"z" * 31, b"\r\n", b"0\r\n\r\n"):
        buffer.append(piece)
    assert buffer.get(1024) == b"\r\n1F\r\n" + b"z" * 31 + b"\r\n0\r\n\r\n"


def test_over_the_budget_the_rest_goes_to_a_file_and_memory_is_used_again_once_it_is_sent():
    shared = Budget(10_000)
    first, second = Pieces(shared), Pieces(shared)
    first.append(b"a" * 8_000)
    second.append(b"b" * 4_000)  # does not fit: to second's file
    second.append(b"c" * 10)  # after the file's content, so to the file too
    assert shared.held == 8_000
    assert _drain(second, iter([3_000] * 10), 4096) == b"b" * 4_000 + b"c" * 10
    first.close()
    assert shared.held == 0
    second.append(b"d" * 9_000)  # memory again
    assert shared.held == 9_000
    second.close()
    assert (shared.held, len(second)) == (0, 0)


# ---------------------------------------------------------------- served


def app(environ, start_response):
    """``/long``: 6 MB in 60 pieces, sent in chunks; ``/short``: a little."""
    if environ["PATH_INFO"] == "/long":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (bytes([65 + i % 26]) * 100_000 for i in range(60))
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


LONG = b"".join(bytes([65 + i % 26]) * 100_000 for i in range(60))


@pytest.fixture
def small_budget(monkeypatch) -> Budget:
    budget = Budget(256 * 1024)
    monkeypatch.setattr(server_module, "ANSWERS_IN_MEMORY", budget)
    return budget


@pytest.fixture
def service(small_budget) -> Iterator[Service]:
    with in_process(app, threads=2) as running:
        yield running


def _settled(budget: Budget) -> int:
    deadline = time.monotonic() + 5
    while budget.held and time.monotonic() < deadline:
        time.sleep(0.02)
    return budget.held


def test_answers_longer_than_the_budget_reach_slow_and_fast_clients_whole(service, small_budget):
    def slow() -> None:
        sock = socket.create_connection(("127.0.0.1", service.port), timeout=30)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"GET /long HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        # Nothing read for a while: the kernel's buffers fill (a few MB on loopback), the rest of
        # the answer waits in the server, mostly in a file (the budget is 256 KB), and is sent as
        # the client reads.
        time.sleep(0.5)
        received = b""
        while piece := sock.recv(65536):
            received += piece
        sock.close()
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert _unchunked(body) == LONG

    def fast() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)
        for path in ("/long", "/short", "/long"):
            connection.request("GET", path)
            answer = connection.getresponse()
            assert answer.read() == (LONG if path == "/long" else b"ok")
        connection.close()

    clients = [threading.Thread(target=slow), *(threading.Thread(target=fast) for _ in range(3))]
    failures: list[BaseException] = []

    def run(client: threading.Thread) -> None:
        try:
            client.run()
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures
    assert _settled(small_budget) == 0


def test_a_client_that_leaves_half_way_gives_its_memory_back(service, small_budget):
    for _ in range(3):
        sock = socket.create_connection(("127.0.0.1", service.port), timeout=10)
        sock.sendall(b"GET /long HTTP/1.1\r\nHost: t\r\n\r\n")
        assert sock.recv(1000).startswith(b"HTTP/1.1 200 OK")
        sock.close()
    assert _settled(small_budget) == 0
    connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=10)
    connection.request("GET", "/short")
    assert connection.getresponse().read() == b"ok"
    connection.close()


def _unchunked(body: bytes) -> bytes:
    out = bytearray()
    while True:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return bytes(out)
        out += rest[:size]
        assert rest[size : size + 2] == b"\r\n"
        body = rest[size + 2 :]
