"""End to end, at the edges of the real ``luminary serve``: how it stops, how it reads a request's
framing, how it answers waitress's own errors, and how it holds up against slow and idle clients.

Most tests share one server with small limits, each test talking from loopback addresses of its
own (Linux routes all of 127.0.0.0/8 to the loopback interface), so that the per-address limit of
one test never touches another's.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

pytest.importorskip("luminary.sql", reason="luminary-sql is not installed")
pytest.importorskip("luminary.http", reason="luminary-http is not installed")

from luminary.http.requests import MAX_BODY
from served import Server, run_luminary, serve

pytestmark = pytest.mark.slow

REQUEST_TIMEOUT = 2
PER_ADDRESS = 4
CONNECTION_LIMIT = 20
CORS_ORIGIN = "https://app.example.com"

_hosts = itertools.count(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    url = f"sqlite:///{tmp_path_factory.mktemp('edge') / 'edge.db'}"
    with serve(
        url,
        "--request-timeout",
        str(REQUEST_TIMEOUT),
        "--max-connections-per-address",
        str(PER_ADDRESS),
        "--connection-limit",
        str(CONNECTION_LIMIT),
        "--cors-origin",
        CORS_ORIGIN,
        threads=4,
    ) as running:
        yield running


@pytest.fixture
def source() -> str:
    """A loopback address no other test uses."""
    return f"127.0.0.{next(_hosts)}"


# ---------------------------------------------------------------- speaking HTTP/1.1 by hand


def connect(port: int, source: str = "127.0.0.1", timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))


def read_to_end(sock: socket.socket, timeout: float = 10) -> bytes:
    """Everything the server sends until it ends the connection; fails if it does not within ``timeout``."""
    sock.settimeout(timeout)
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def parse(data: bytes) -> list[Answer]:
    """The answers in ``data``, one after the other (with Content-Length; 1xx have no body)."""
    answers = []
    while data:
        head, blank, data = data.partition(b"\r\n\r\n")
        assert blank, f"an incomplete answer: {head!r}"
        lines = head.decode("latin-1").split("\r\n")
        fields = (line.partition(":") for line in lines[1:])
        headers = {name.strip().lower(): value.strip() for name, _, value in fields}
        length = int(headers.get("content-length", "0"))
        answers.append(Answer(int(lines[0].split()[1]), headers, data[:length]))
        data = data[length:]
    return answers


def read_answer(sock: socket.socket) -> Answer:
    """One answer on a connection that stays open (it must have a Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection ended: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(parse(head + b"\r\n\r\n")[0].headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the connection ended within the body"
        body += chunk
    return parse(head + b"\r\n\r\n" + body)[0]


def send_in_background(sock: socket.socket, data: bytes) -> None:
    """Send ``data`` while the caller reads: the server may answer (and close) before it is all sent."""

    def send() -> None:
        with contextlib.suppress(OSError):
            sock.sendall(data)

    threading.Thread(target=send, daemon=True).start()


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: edge\r\n\r\n".encode()


def assert_json_error(answer: Answer, path: str, status: int) -> None:
    """The API's error format: problem details in v2, ``{"error": …}`` elsewhere."""
    assert answer.status == status
    if path.startswith("/api/v2"):
        assert answer.headers["content-type"] == "application/problem+json"
        problem = answer.json()
        assert problem["status"] == status
        assert problem["detail"]
        assert problem["title"]
    else:
        assert answer.headers["content-type"] == "application/json"
        assert set(answer.json()) == {"error"}
    assert answer.headers["connection"] == "close"


def user_names(port: int) -> list[str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=("127.0.0.2", 0))
    connection.request("GET", "/api/users/")
    names = [user["display_name"] for user in json.loads(connection.getresponse().read())["users"]]
    connection.close()
    return names


# ---------------------------------------------------------------- A. a graceful stop


def test_sigterm_answers_every_request_in_flight_then_exits(tmp_path):
    grace = 20
    results: dict[int, Any] = {}
    sent = [threading.Event() for _ in range(6)]

    def sign_up(port: int, i: int) -> None:
        # Signing up hashes a password (scrypt, a quarter of a second): slow enough to be in flight.
        body = json.dumps(
            {"display_name": f"S{i}", "login": f"student{i}", "password": "correct horse battery"}
        )
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("POST", "/api/v2/accounts", body, {"Content-Type": "application/json"})
            sent[i].set()
            response = connection.getresponse()
            results[i] = (response.status, response.getheader("Connection"), json.loads(response.read()))
        except Exception as exc:  # recorded, and reported by the assertion below
            results[i] = exc
        finally:
            sent[i].set()
            results[i, "at"] = time.monotonic()
            connection.close()

    with serve(f"sqlite:///{tmp_path / 'stop.db'}", "--shutdown-grace", str(grace), threads=2) as server:
        idle = connect(server.port)
        idle.sendall(get("/healthz"))
        assert read_answer(idle).status == 200
        late_body = json.dumps(
            {"display_name": "Late", "login": "late", "password": "correct horse battery"}
        ).encode()
        late = connect(server.port)
        late.sendall(
            b"POST /api/v2/accounts HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(late_body) + late_body[:10]
        )
        workers = [threading.Thread(target=sign_up, args=(server.port, i)) for i in range(len(sent))]
        for worker in workers:
            worker.start()
        for event in sent:
            assert event.wait(10)
        time.sleep(0.05)
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)

        # The listening socket closes: a new client is refused at once.
        refused = False
        while not refused and time.monotonic() < signalled + 5:
            try:
                connect(server.port, timeout=1).close()
                time.sleep(0.05)
            except (ConnectionRefusedError, ConnectionResetError):
                # Refused, or reset when the connection reached the listener as it closed.
                refused = True
        assert refused
        # A request that was still arriving is read to its end and answered.
        late.sendall(late_body[10:])
        late_answers = parse(read_to_end(late, timeout=grace))
        assert [a.status for a in late_answers] == [201]
        assert late_answers[0].headers["connection"] == "close"
        # The idle keep-alive connection is closed, without an answer.
        assert read_to_end(idle, timeout=grace) == b""
        for worker in workers:
            worker.join(timeout=grace)
        server.process.wait(timeout=grace)
        stopped = time.monotonic() - signalled

    for i in range(len(sent)):
        assert not isinstance(results[i], Exception), results[i]
        status, _, body = results[i]
        assert (status, body["data"]["display_name"]) == (201, f"S{i}")
    assert max(results[i, "at"] for i in range(len(sent))) > signalled, "some were answered after the signal"
    assert server.process.returncode == 0
    assert stopped < grace
    log = "".join(server.output)
    assert "received SIGTERM" in log
    assert log.count('"POST /api/v2/accounts" 201') == len(sent) + 1


def test_a_connection_accepted_before_the_signal_is_waited_for_a_moment_for_its_first_request(tmp_path):
    # Under load, a request sent just before the signal can reach the server after it: the
    # connection is accepted, its bytes still on their way. It is answered, not reset.
    with serve(f"sqlite:///{tmp_path / 'first.db'}") as server:
        quiet = connect(server.port)
        time.sleep(0.2)  # accepted by now
        silent = connect(server.port)
        time.sleep(0.2)
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.8)  # past a round of the server's loop, which closes idle connections
        quiet.sendall(get("/healthz"))
        answers = parse(read_to_end(quiet, timeout=10))
        assert [a.status for a in answers] == [200]
        assert answers[0].headers["connection"] == "close"
        # One that never says anything is closed all the same, within the moment it is given.
        assert read_to_end(silent, timeout=10) == b""
        server.process.wait(timeout=10)
        stopped = time.monotonic() - signalled
    assert server.process.returncode == 0
    assert stopped < 5


def test_the_grace_period_bounds_a_stop(tmp_path):
    with serve(f"sqlite:///{tmp_path / 'grace.db'}", "--shutdown-grace", "1") as server:
        # A request that never finishes arriving (well within its own deadline of 20 s).
        stuck = connect(server.port)
        stuck.sendall(b"POST /api/users/ HTTP/1.1\r\nHost: edge\r\nContent-Length: 100\r\n\r\n{")
        time.sleep(0.2)
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=10)
        stopped = time.monotonic() - signalled
        assert read_to_end(stuck, timeout=5) == b""
    assert server.process.returncode == 0
    assert 0.9 < stopped < 4
    assert "still open after the grace period" in "".join(server.output)


# ---------------------------------------------------------------- B. framing that could be read two ways


@pytest.mark.parametrize("path", ["/api/users/", "/api/v2/accounts"])
@pytest.mark.parametrize("length_first", [True, False])
def test_content_length_with_transfer_encoding_is_refused_and_hides_nothing(
    server, source, path, length_first
):
    hidden_body = json.dumps({"display_name": "Smuggled"})
    hidden = (
        "POST /api/users/ HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(hidden_body)}\r\n\r\n{hidden_body}"
    )
    body = "0\r\n\r\n" + hidden  # a chunked reader sees an empty body, then a second request
    framing = [f"Content-Length: {len(body)}", "Transfer-Encoding: chunked"]
    if not length_first:
        framing.reverse()
    head = f"POST {path} HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n" + "\r\n".join(framing)
    with connect(server.port, source) as sock:
        sock.sendall(f"{head}\r\n\r\n{body}".encode())
        answers = parse(read_to_end(sock))
    assert [a.status for a in answers] == [400]
    assert_json_error(answers[0], path, 400)
    assert "Smuggled" not in user_names(server.port)


@pytest.mark.parametrize(
    ("version", "coding"),
    [
        ("1.1", "gzip, chunked"),
        ("1.1", "chunked, chunked"),
        ("1.1", "identity"),
        ("1.0", "chunked"),
    ],
)
def test_a_transfer_coding_other_than_chunked_is_refused(server, source, version, coding):
    body = json.dumps({"display_name": f"Coded {coding}"}).encode()
    request = (
        f"POST /api/v2/accounts HTTP/{version}\r\nHost: edge\r\nContent-Type: application/json\r\n"
        f"Transfer-Encoding: {coding}\r\n\r\n"
    ).encode() + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    with connect(server.port, source) as sock:
        sock.sendall(request)
        answers = parse(read_to_end(sock))
    assert [a.status for a in answers] == [400]
    assert_json_error(answers[0], "/api/v2/accounts", 400)
    assert "Transfer-Encoding" in answers[0].json()["detail"]


# ---------------------------------------------------------------- C. waitress's own errors, as the API's


@pytest.mark.parametrize("path", ["/api/users/", "/api/v2/accounts"])
def test_an_oversized_content_length_is_refused_before_100_continue(server, source, path):
    with connect(server.port, source) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
            f"Content-Length: {MAX_BODY + 1}\r\nExpect: 100-continue\r\n\r\n".encode()
        )
        answers = parse(read_to_end(sock, timeout=5))
    assert [a.status for a in answers] == [413]  # and no 100 Continue before it
    assert_json_error(answers[0], path, 413)


@pytest.mark.parametrize("size", [MAX_BODY + 1, MAX_BODY * 4 + 1])
def test_an_oversized_body_sent_at_once_gets_a_json_413(server, source, size):
    body = b"[" + b"0," * (size // 2) + b"0]"
    request = (
        b"POST /api/users/ HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    ) + body
    with connect(server.port, source) as sock:
        send_in_background(sock, request)
        answers = parse(read_to_end(sock))
    assert [a.status for a in answers] == [413]
    assert_json_error(answers[0], "/api/users/", 413)


@pytest.mark.parametrize("size", [MAX_BODY + 100, MAX_BODY * 4 + 100])
def test_a_chunked_body_that_grows_too_large_gets_a_json_413(server, source, size):
    chunk = b"x" * 4096
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(size // len(chunk) + 1))
    request = (
        b"POST /api/users/ HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    )
    with connect(server.port, source) as sock:
        send_in_background(sock, request)
        answer = read_answer(sock)
    assert answer.status == 413
    assert answer.json() == {"error": f"The request body must not exceed {MAX_BODY} bytes."}


@pytest.mark.parametrize(
    ("request_bytes", "path", "status"),
    [
        (b"GET /api/v2/me HTTP/1.1\r\nHost: edge\r\nNot a header\r\n\r\n", "/api/v2/me", 400),
        (b"GET /api/users/ HTTP/1.1\r\nHost: edge\r\nNot a header\r\n\r\n", "/api/users/", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", "/", 400),
        (
            b"GET /api/v2/me HTTP/1.1\r\nHost: edge\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
            "/api/v2/me",
            431,
        ),
        (
            b"GET /api/users/ HTTP/1.1\r\nHost: edge\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
            "/api/users/",
            431,
        ),
    ],
    ids=["v2-bad-header", "v1-bad-header", "not-http", "v2-head-too-large", "v1-head-too-large"],
)
def test_a_malformed_request_is_answered_in_the_apis_error_format(
    server, source, request_bytes, path, status
):
    with connect(server.port, source) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(request_bytes)
        answers = parse(read_to_end(sock))
    assert [a.status for a in answers] == [status]
    assert_json_error(answers[0], path, status)
    assert answers[0].headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [(CORS_ORIGIN, True), ("https://evil.example.net", False)],
    ids=["allowed-origin", "other-origin"],
)
def test_waitress_own_answers_carry_the_apps_cors_headers(server, source, origin, allowed):
    # The 413 a browser meets when a script posts too much: readable by an allowed page's script.
    with connect(server.port, source) as sock:
        sock.sendall(
            f"POST /api/v2/accounts HTTP/1.1\r\nHost: edge\r\nOrigin: {origin}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode()
        )
        answers = parse(read_to_end(sock, timeout=5))
    assert_json_error(answers[0], "/api/v2/accounts", 413)
    headers = answers[0].headers
    assert headers["vary"] == "Origin"
    if allowed:
        assert headers["access-control-allow-origin"] == origin
        assert "X-Request-ID" in headers["access-control-expose-headers"].split(", ")
    else:
        assert not [name for name in headers if name.startswith("access-control-")]


def test_an_origin_in_a_head_too_large_to_read_gets_no_cors_header(server, source):
    request = (
        f"GET /api/v2/me HTTP/1.1\r\nHost: edge\r\nOrigin: {CORS_ORIGIN}\r\nX-Big: {'a' * 70_000}\r\n\r\n"
    ).encode()
    with connect(server.port, source) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(request)
        answers = parse(read_to_end(sock))
    assert_json_error(answers[0], "/api/v2/me", 431)
    assert answers[0].headers["vary"] == "Origin"  # the head was not read: its Origin is not known
    assert "access-control-allow-origin" not in answers[0].headers


# ---------------------------------------------------------------- D. slow and idle clients


def test_a_slow_client_is_cut_off_at_its_deadline(server, source):
    slow = connect(server.port, source)
    silent = connect(server.port, source)
    opened = time.monotonic()
    slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: edge\r\n")
    slow.settimeout(0.3)
    received = b""
    # A header line every 0.3 s: never silent, never done.
    while time.monotonic() < opened + REQUEST_TIMEOUT + 5:
        try:
            data = slow.recv(65536)
        except TimeoutError:
            with contextlib.suppress(OSError):
                slow.sendall(b"X-Slow: 1\r\n")
            continue
        except ConnectionResetError:
            break
        if not data:
            break
        received += data
    cut_after = time.monotonic() - opened
    assert REQUEST_TIMEOUT - 0.2 < cut_after < REQUEST_TIMEOUT + 2
    answers = parse(received)
    assert [a.status for a in answers] == [408]
    assert_json_error(answers[0], "/healthz", 408)
    # A connection that sends nothing at all owes its first request just as soon.
    assert read_to_end(silent, timeout=3) == b""
    assert time.monotonic() - opened < REQUEST_TIMEOUT + 2.5
    slow.close()
    silent.close()


def test_a_new_client_is_served_while_idle_connections_fill_the_limit(server):
    idle = []
    try:
        # CONNECTION_LIMIT idle keep-alive connections, from addresses each within its own limit.
        for i in range(CONNECTION_LIMIT):
            sock = connect(server.port, f"127.0.1.{1 + i // PER_ADDRESS}")
            sock.sendall(get("/healthz"))
            assert read_answer(sock).status == 200
            idle.append(sock)
        started = time.monotonic()
        with connect(server.port, "127.0.1.200", timeout=5) as newcomer:
            newcomer.sendall(get("/healthz"))
            assert read_answer(newcomer).status == 200
        assert time.monotonic() - started < 2
        # The oldest idle connections were closed to make room; the newest are still served.
        assert read_to_end(idle[0], timeout=2) == b""
        idle[-1].sendall(get("/healthz"))
        assert read_answer(idle[-1]).status == 200
    finally:
        for sock in idle:
            sock.close()


def test_slow_requests_filling_the_limit_give_way_to_a_new_client(tmp_path):
    limit = 10
    with serve(
        f"sqlite:///{tmp_path / 'full.db'}",
        "--connection-limit",
        str(limit),
        "--request-timeout",
        "30",
        "--max-connections-per-address",
        "0",
    ) as server:
        slow = [connect(server.port) for _ in range(limit)]
        try:
            for sock in slow:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: edge\r\n")  # and never more
            time.sleep(2.5)  # they have been arriving for a while: the oldest give way
            started = time.monotonic()
            with connect(server.port, timeout=5) as newcomer:
                newcomer.sendall(get("/healthz"))
                assert read_answer(newcomer).status == 200
            assert time.monotonic() - started < 2
            answers = parse(read_to_end(slow[0], timeout=3))
            assert [a.status for a in answers] == [408]
            assert answers[0].json() == {"error": "The request was not received in time: the server is busy."}
        finally:
            for sock in slow:
                sock.close()


def test_an_address_over_its_limit_is_refused_while_others_are_served(server, source):
    held = [connect(server.port, source) for _ in range(PER_ADDRESS)]
    try:
        for sock in held:
            sock.sendall(get("/healthz"))
            assert read_answer(sock).status == 200
        one_too_many = connect(server.port, source)
        with contextlib.suppress(OSError):
            one_too_many.sendall(get("/healthz"))
        assert read_to_end(one_too_many, timeout=2) == b""  # closed at once, unanswered
        one_too_many.close()
        with connect(server.port, "127.0.0.3") as other:
            other.sendall(get("/healthz"))
            assert read_answer(other).status == 200
        held[0].sendall(get("/healthz"))  # what the address holds still works
        assert read_answer(held[0]).status == 200
        held.pop().close()
        time.sleep(0.2)
        with connect(server.port, source) as again:  # and a place freed is a place again
            again.sendall(get("/healthz"))
            assert read_answer(again).status == 200
    finally:
        for sock in held:
            sock.close()


# ---------------------------------------------------------------- E. the command's own refusals


def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        database = f"sqlite:///{tmp_path / 'taken.db'}"
        result = run_luminary(
            "serve", "--no-seed", "--port", str(port), "--database-url", database, cwd=tmp_path
        )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0] == f"luminary: cannot listen on 127.0.0.1:{port}: Address already in use"


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--port", "70000"),
        ("--port", "-1"),
        ("--threads", "0"),
        ("--request-timeout", "0"),
        ("--max-connections-per-address", "-1"),
        ("--connection-limit", "0"),
        ("--shutdown-grace", "soon"),
    ],
)
def test_serve_refuses_an_option_out_of_range_before_anything_runs(tmp_path, option, value):
    result = run_luminary(
        "serve", option, value, "--database-url", f"sqlite:///{tmp_path / 'no.db'}", cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith(
        f"luminary serve: error: argument {option}: {value!r} is not"
    )
    assert not (tmp_path / "no.db").exists()


def test_serve_refuses_a_bad_setting_from_the_environment(tmp_path):
    result = run_luminary(
        "serve",
        "--database-url",
        f"sqlite:///{tmp_path / 'no.db'}",
        cwd=tmp_path,
        env={"LUMINARY_SHUTDOWN_GRACE": "-5"},
    )
    assert result.returncode == 2
    assert "LUMINARY_SHUTDOWN_GRACE" in result.stderr.splitlines()[-1]
