"""The reliability audit's probes (issue 12) against the real ``luminary serve``, as a repeatable script.

Usage::

    python benchmarks/audit.py                                  # the luminary beside this interpreter
    python benchmarks/audit.py --luminary /elsewhere/.venv/bin/luminary
    python benchmarks/audit.py --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test

It measures; it asserts nothing and always exits 0. Each probe prints one line:
its name (the number is the issue's item), what it observed (statuses, content
types, counts, bytes) and a verdict: ``DEFECT`` (the behaviour the audit
found), ``fixed`` (the behaviour the fix promises), ``partly`` or ``?`` (neither
quite), or ``n/a`` (the probe could not run, and why). A summary table ends
the run.

It runs against any version of Luminary, the code before the audit's fixes
included: it only uses ``serve --port 0 --database-url URL --no-seed
--threads N`` and ``db upgrade --database-url URL``, and talks HTTP (raw
sockets where framing matters, ``http.client`` elsewhere). Each server runs on
a fresh SQLite file in a temporary directory (its working directory too), with
``LUMINARY_*``, ``DATABASE_URL`` and ``POSTGRES_*`` taken out of its
environment; its output (stdout and stderr together) is kept and counted.

The probes, by item of the issue:

- 7: non-canonical path ids (``+1``, ``00001``, fullwidth ``１``, ``1_0``) on v1,
  and ``DELETE /api/users/%EF%BC%93/``: is user 3 gone?
- 8: ``%0a`` in a path: how many output lines one request writes, and whether a
  forged access-log line stands on its own.
- 9: ``HEAD /healthz`` and ``HEAD /api/users/``: status and body bytes.
- 6: ``Content-Length`` with ``Transfer-Encoding: chunked`` hiding a second
  request; ``Transfer-Encoding: gzip, chunked``.
- 11: waitress's own 413, 431 and 400 (status, Content-Type), and ``Expect:
  100-continue`` with ``Content-Length: 65537``.
- 12/13: a duplicate JSON member (v1 and v2), a name made of ``\\u200b`` or
  ``\\u202e``, a POST without Content-Type, the API's and the docs page's
  security headers, a v2 unknown query parameter (``?limt=5``) with a read
  token: on ``/api/v2/users`` (which needs the admin scope, so 403 says
  nothing about the query before the fix) and on ``/api/v2/constellations``,
  which decides the verdict.
- 2: the SQLite file removed under the running server: writes acknowledged,
  ``/readyz``, and how many acknowledged writes a restart finds.
- 4 (with ``--postgres-url``): PostgreSQL behind a TCP forwarder that is
  unplugged: 300 requests' statuses, the bytes and lines of output they cause
  (an access-log line per request is expected; the other lines are counted
  apart), and how long until the server answers 200 once it is plugged in
  again. A throwaway database is created on that server and dropped at the end.
- 14: ``serve`` on a port in use, ``db upgrade`` on a database whose
  ``alembic_version`` names an unknown revision, and on one whose tables exist
  without ``alembic_version``: exit code, stderr lines, traceback?
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The forwarder the end-to-end tests unplug, to make a database unreachable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from served import Cable

HOST = "127.0.0.1"
DEFECT, FIXED, PARTLY, UNCLEAR, NOT_RUN = "DEFECT", "fixed", "partly", "?", "n/a"


# ---------------------------------------------------------------- the server


def clean_environment() -> dict[str, str]:
    """This process's environment without anything that could choose a database or a setting."""
    return {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith(("LUMINARY_", "POSTGRES_")) or k == "DATABASE_URL")
    }


class Server:
    """``luminary serve --port 0`` on ``url``; its output (stdout and stderr) recorded line by line."""

    def __init__(self, luminary: Path, url: str, cwd: Path, threads: int = 4) -> None:
        command = [str(luminary), "serve", "--port", "0", "--database-url", url, "--no-seed"]
        self.process = subprocess.Popen(
            [*command, "--threads", str(threads)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=clean_environment(),
        )
        self.lines: list[bytes] = []
        self.size = 0
        self.lock = threading.Lock()
        self.changed = time.monotonic()
        assert self.process.stdout is not None
        watchdog = threading.Timer(60, self.process.kill)  # a server that never says where it listens
        watchdog.start()
        port = None
        try:
            while port is None:
                line = self.process.stdout.readline()
                if not line:
                    self.process.wait()
                    output = b"".join(self.lines).decode(errors="replace")
                    raise RuntimeError(f"luminary serve exited ({self.process.returncode}): {output.strip()}")
                self._record(line)
                found = re.search(rb"Serving Luminary on http://\S+:(\d+)", line)
                if found:
                    port = int(found.group(1))
        finally:
            watchdog.cancel()
        self.port = port
        self.drain = threading.Thread(target=self._drain, daemon=True)
        self.drain.start()

    def _record(self, line: bytes) -> None:
        with self.lock:
            self.lines.append(line)
            self.size += len(line)
            self.changed = time.monotonic()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._record(line)

    def mark(self) -> tuple[int, int]:
        with self.lock:
            return len(self.lines), self.size

    def since(self, mark: tuple[int, int], quiet: float = 0.5, limit: float = 10) -> tuple[list[bytes], int]:
        """The lines and bytes written since ``mark``, once the output has been quiet for ``quiet`` s."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and time.monotonic() - self.changed < quiet:
            time.sleep(0.05)
        with self.lock:
            return self.lines[mark[0] :], self.size - mark[1]

    def output(self) -> str:
        with self.lock:
            return b"".join(self.lines).decode(errors="replace")

    def stop(self) -> int:
        """SIGTERM, and SIGKILL if it has not exited within 40 s; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.drain.join(timeout=5)
        return self.process.returncode


@contextlib.contextmanager
def serving(luminary: Path, url: str, cwd: Path, threads: int = 4) -> Iterator[Server]:
    server = Server(luminary, url, cwd, threads)
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------- speaking HTTP


@dataclass
class Answer:
    status: int  # 0: no answer (see error)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: str = ""

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def type(self) -> str:
        return self.headers.get("content-type", "-").split(";")[0] or "-"

    def show(self) -> str:
        return str(self.status) if self.status else f"no answer ({self.error})"


def call(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
    timeout: float = 30,
) -> Answer:
    """One request on a connection of its own; JSON ``body`` or ``raw`` bytes (no Content-Type added)."""
    fields = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        fields.setdefault("Content-Type", "application/json")
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request(method, path, body=data, headers=fields)
        response = connection.getresponse()
        found = {name.lower(): value for name, value in response.getheaders()}
        return Answer(response.status, found, response.read())
    except (OSError, http.client.HTTPException) as exc:
        return Answer(0, error=type(exc).__name__)
    finally:
        connection.close()


def _dechunk(data: bytes) -> tuple[bytes, bytes]:
    body = b""
    while True:
        line, crlf, data = data.partition(b"\r\n")
        if not crlf:
            return body, b""
        try:
            size = int(line.split(b";")[0], 16)
        except ValueError:
            return body, b""
        if size == 0:
            _, _, rest = data.partition(b"\r\n")  # no trailers in what this script reads
            return body, rest
        body += data[:size]
        data = data[size + 2 :]


def parse(data: bytes, head_only: bool = False) -> list[Answer]:
    """The answers in ``data``, one after the other; ``head_only``: one answer to HEAD, whatever follows."""
    answers = []
    while data.startswith(b"HTTP/"):
        head, blank, rest = data.partition(b"\r\n\r\n")
        if not blank:
            break
        lines = head.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split()[1])
        except (IndexError, ValueError):
            break
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if head_only:
            answers.append(Answer(status, headers, rest))
            break
        if 100 <= status < 200 or status in (204, 304):
            body, data = b"", rest
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body, data = _dechunk(rest)
        elif "content-length" in headers:
            length = int(headers["content-length"])
            body, data = rest[:length], rest[length:]
        else:
            body, data = rest, b""
        answers.append(Answer(status, headers, body))
    return answers


@dataclass
class Exchange:
    answers: list[Answer]
    closed: bool  # the server ended the connection (else it was still open after ``wait`` s of silence)
    received: bytes


def exchange(port: int, data: bytes, wait: float = 3, first_only: bool = False) -> Exchange:
    """Send ``data`` on a new connection (in the background: the server may answer before it is all sent)
    and read until the server closes, or stays silent ``wait`` s; ``first_only``: until the first head."""
    sock = socket.create_connection((HOST, port), timeout=10)

    def send() -> None:
        with contextlib.suppress(OSError):
            sock.sendall(data)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    received = b""
    closed = False
    sock.settimeout(wait)
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            received += chunk
            if first_only and b"\r\n\r\n" in received:
                break
    finally:
        sock.close()
        sender.join(timeout=5)
    return Exchange(parse(received), closed, received)


def statuses(answers: list[Answer]) -> str:
    return "[" + ", ".join(str(a.status) for a in answers) + "]"


def is_json(answer: Answer) -> bool:
    return answer.type in ("application/json", "application/problem+json")


def user_names(port: int) -> list[str] | None:
    answer = call(port, "GET", "/api/users/")
    found = answer.json()
    if answer.status != 200 or not isinstance(found, dict):
        return None
    return [user["display_name"] for user in found.get("users", [])]


# ---------------------------------------------------------------- reporting


@dataclass
class Result:
    name: str
    observed: str
    verdict: str


class Report:
    def __init__(self) -> None:
        self.results: list[Result] = []

    def add(self, name: str, observed: str, verdict: str) -> None:
        result = Result(name, observed, verdict)
        self.results.append(result)
        print(f"{name:<28} {verdict:<7} {observed}", flush=True)

    def run(self, name: str, probe: Callable[[], None]) -> None:
        """Run ``probe``; one that fails outright is reported as such, and the run goes on."""
        try:
            probe()
        except Exception as exc:
            self.add(name, f"the probe failed: {type(exc).__name__}: {exc}", NOT_RUN)

    def summary(self) -> None:
        width = max(len(r.name) for r in self.results)
        print()
        print("Summary")
        print(f"{'probe':<{width}}  {'verdict':<7}  observed")
        print(f"{'-' * width}  {'-' * 7}  {'-' * 40}")
        for r in self.results:
            print(f"{r.name:<{width}}  {r.verdict:<7}  {r.observed}")
        counts = Counter(r.verdict for r in self.results)
        print()
        print(", ".join(f"{counts[v]} {v}" for v in (DEFECT, PARTLY, UNCLEAR, FIXED, NOT_RUN) if counts[v]))


# ---------------------------------------------------------------- the edge probes (one shared server)


def probe_7_ids(report: Report, server: Server) -> None:
    created = [
        call(server.port, "POST", "/api/users/", {"display_name": f"Student {i}"}) for i in range(1, 11)
    ]
    ids = [(a.json() or {}).get("id") for a in created]
    if ids != list(range(1, 11)):
        report.add("7 non-canonical ids", f"users 1..10 could not be made: ids {ids}", NOT_RUN)
        return
    paths = {"+1": "/api/users/+1/", "00001": "/api/users/00001/", "１": "/api/users/%EF%BC%91/"}
    paths["1_0"] = "/api/users/1_0/"
    seen = []
    reached = 0
    for label, path in paths.items():
        answer = call(server.port, "GET", path)
        found = answer.json()
        who = f"→user {found['id']}" if answer.status == 200 and isinstance(found, dict) else ""
        reached += answer.status == 200
        seen.append(f"{label}:{answer.show()}{who}")
    deleted = call(server.port, "DELETE", "/api/users/%EF%BC%93/")
    after = call(server.port, "GET", "/api/users/3/")
    gone = after.status == 404
    observed = (
        f"GET {' '.join(seen)}; DELETE ３:{deleted.show()}, then GET /3/:{after.show()} "
        f"(user 3 {'DELETED' if gone else 'still there'})"
    )
    if reached or gone:
        verdict = DEFECT
    elif all(s.split(":")[1][:1] == "4" for s in seen) and after.status == 200:
        verdict = FIXED
    else:
        verdict = UNCLEAR
    report.add("7 non-canonical ids", observed, verdict)


def probe_8_log_forging(report: Report, server: Server) -> None:
    forged = '2026-01-01 00:00:00,000 INFO luminary.access: 10.6.6.6 "GET /forged HTTP/1.1" 200 0.1ms'
    target = "/api/users/1%0a" + urllib.parse.quote(forged, safe="/:,")
    mark = server.mark()
    done = exchange(
        server.port, f"GET {target} HTTP/1.1\r\nHost: audit\r\nConnection: close\r\n\r\n".encode()
    )
    lines, _ = server.since(mark)
    text = [line.decode(errors="replace") for line in lines]
    alone = [line for line in text if '"GET /forged' in line and "/api/users/1" not in line]
    observed = (
        f"status {statuses(done.answers)}; the request wrote {len(text)} output line(s); "
        f"a forged line on its own: {'YES' if alone else 'no'}"
    )
    if alone or len(text) > 1:
        verdict = DEFECT
    elif len(text) == 1:
        verdict = FIXED
    else:
        verdict = UNCLEAR  # nothing logged at all
    report.add("8 access-log forging", observed, verdict)


def probe_9_head(report: Report, server: Server) -> None:
    seen = []
    good = True
    for path in ("/healthz", "/api/users/"):
        done = exchange(
            server.port, f"HEAD {path} HTTP/1.1\r\nHost: audit\r\nConnection: close\r\n\r\n".encode()
        )
        answers = parse(done.received, head_only=True)
        if not answers:
            seen.append(f"{path}: no answer")
            good = False
            continue
        answer = answers[0]
        seen.append(f"{path}: {answer.status}, body {len(answer.body)} B")
        good = good and answer.status == 200 and not answer.body
    verdict = FIXED if good else DEFECT if "405" in " ".join(seen) else UNCLEAR
    report.add("9 HEAD", "; ".join(seen), verdict)


def probe_6_smuggling(report: Report, server: Server) -> None:
    hidden_body = json.dumps({"display_name": "Smuggled"})
    hidden = (
        "POST /api/users/ HTTP/1.1\r\nHost: audit\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(hidden_body)}\r\n\r\n{hidden_body}"
    )
    body = "0\r\n\r\n" + hidden  # a chunked reader sees an empty body, then a second request
    head = (
        "POST /api/users/ HTTP/1.1\r\nHost: audit\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    done = exchange(server.port, (head + body).encode())
    names = user_names(server.port)
    smuggled = names is not None and "Smuggled" in names
    observed = (
        f"CL+TE: statuses {statuses(done.answers)}, connection {'closed' if done.closed else 'left open'}, "
        f"'Smuggled' {'EXISTS' if smuggled else 'absent' if names is not None else 'unknown'}"
    )
    if smuggled or len(done.answers) > 1:
        verdict = DEFECT
    elif [a.status for a in done.answers] == [400] and done.closed and names is not None:
        verdict = FIXED
    else:
        verdict = PARTLY
    report.add("6 smuggling CL+TE", observed, verdict)

    coded = json.dumps({"display_name": "Coded"}).encode()
    request = (
        b"POST /api/users/ HTTP/1.1\r\nHost: audit\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: gzip, chunked\r\n\r\n" + b"%x\r\n%s\r\n0\r\n\r\n" % (len(coded), coded)
    )
    done = exchange(server.port, request)
    first = done.answers[0] if done.answers else Answer(0, error="none")
    observed = f"TE gzip,chunked: {statuses(done.answers)} {first.type}"
    if first.status and 400 <= first.status < 500 and is_json(first):
        verdict = FIXED
    elif first.status == 501 or (first.status and not is_json(first)):
        verdict = DEFECT
    else:
        verdict = UNCLEAR
    report.add("6 unknown transfer coding", observed, verdict)


def probe_11_waitress_errors(report: Report, server: Server) -> None:
    cases = [
        (
            "11 body > 256 KiB",
            413,
            b"POST /api/users/ HTTP/1.1\r\nHost: audit\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (300 * 1024) + b"x" * (300 * 1024),
        ),
        (
            "11 70 KiB header",
            431,
            b"GET /api/users/ HTTP/1.1\r\nHost: audit\r\nX-Big: " + b"a" * (70 * 1024) + b"\r\n\r\n",
        ),
        ("11 malformed header", 400, b"GET /api/users/ HTTP/1.1\r\nHost: audit\r\nNot a header\r\n\r\n"),
    ]
    for name, expected, request in cases:
        done = exchange(server.port, request)
        first = done.answers[0] if done.answers else None
        if first is None:
            how = "closed" if done.closed else "open"
            report.add(name, f"no answer (connection {how}, {len(done.received)} B)", UNCLEAR)
            continue
        observed = f"{statuses(done.answers)} {first.type}"
        if first.status == expected and is_json(first):
            verdict = FIXED
        elif first.status == expected:
            verdict = DEFECT  # the right status, in waitress's text/plain
        else:
            verdict = UNCLEAR
        report.add(name, observed, verdict)

    request = (
        b"POST /api/users/ HTTP/1.1\r\nHost: audit\r\nContent-Type: application/json\r\n"
        b"Content-Length: 65537\r\nExpect: 100-continue\r\n\r\n"
    )
    done = exchange(server.port, request, first_only=True)
    line = done.received.split(b"\r\n", 1)[0].decode("latin-1") or "nothing"
    if line.split()[1:2] == ["100"]:
        verdict = DEFECT
    elif line.split()[1:2] == ["413"]:
        verdict = FIXED
    else:
        verdict = UNCLEAR
    report.add("11 Expect 100-continue", f"first back: {line!r} (Content-Length 65537)", verdict)


def probe_12_13_input_and_headers(report: Report, server: Server) -> None:
    duplicate = b'{"display_name": "Dup A", "display_name": "Dup B"}'
    v1 = call(server.port, "POST", "/api/users/", raw=duplicate, headers={"Content-Type": "application/json"})
    signup = (
        b'{"display_name": "Dup A", "display_name": "Dup B", "login": "dup", '
        b'"password": "correct horse battery"}'
    )
    v2 = call(
        server.port, "POST", "/api/v2/accounts", raw=signup, headers={"Content-Type": "application/json"}
    )
    observed = f"v1 POST /api/users/: {v1.show()}; v2 POST /api/v2/accounts: {v2.show()}"
    if 200 <= v1.status < 300 or 200 <= v2.status < 300:
        verdict = DEFECT
    elif v1.status == 400 and v2.status == 400:
        verdict = FIXED
    else:
        verdict = UNCLEAR
    report.add("12 duplicate JSON member", observed, verdict)

    invisible = call(server.port, "POST", "/api/users/", {"display_name": "\u200b"})
    bidi = call(server.port, "POST", "/api/users/", {"display_name": "\u202e"})
    observed = f'"\\u200b": {invisible.show()}; "\\u202e": {bidi.show()}'
    if 200 <= invisible.status < 300 or 200 <= bidi.status < 300:
        verdict = DEFECT
    elif 400 <= invisible.status < 500 and 400 <= bidi.status < 500:
        verdict = FIXED
    else:
        verdict = UNCLEAR
    report.add("12 invisible name", observed, verdict)

    untyped = call(server.port, "POST", "/api/users/", raw=json.dumps({"display_name": "Untyped"}).encode())
    observed = f"POST /api/users/ without Content-Type: {untyped.show()}"
    if 200 <= untyped.status < 300:
        verdict = DEFECT
    elif 400 <= untyped.status < 500:
        verdict = FIXED
    else:
        verdict = UNCLEAR
    report.add("13 no Content-Type", observed, verdict)

    listing = call(server.port, "GET", "/api/users/")
    nosniff = listing.headers.get("x-content-type-options", "-")
    cache = listing.headers.get("cache-control", "-")
    observed = f"GET /api/users/ {listing.show()}: X-Content-Type-Options {nosniff}, Cache-Control {cache}"
    if nosniff.lower() == "nosniff" and "no-store" in cache.lower():
        verdict = FIXED
    elif nosniff == "-" and cache == "-":
        verdict = DEFECT
    else:
        verdict = PARTLY
    report.add("13 API headers", observed, verdict)

    docs = call(server.port, "GET", "/api/v2/docs")
    policy = docs.headers.get("content-security-policy")
    observed = f"GET /api/v2/docs {docs.show()}: Content-Security-Policy {'present' if policy else 'ABSENT'}"
    report.add("13 docs CSP", observed, FIXED if policy else DEFECT if docs.status == 200 else UNCLEAR)

    password = "correct horse battery staple"
    account = {"display_name": "Auditor", "login": "auditor", "password": password}
    signed_up = call(server.port, "POST", "/api/v2/accounts", account)
    token_request = {"login": "auditor", "password": password, "name": "audit", "scopes": ["read"]}
    issued = call(server.port, "POST", "/api/v2/tokens", token_request)
    secret = ((issued.json() or {}).get("data") or {}).get("secret")
    if not secret:
        observed = f"sign-up {signed_up.show()}, token {issued.show()}: no token to ask with"
        report.add("12 v2 unknown query param", observed, NOT_RUN)
        return
    bearer = {"Authorization": f"Bearer {secret}"}
    # GET /api/v2/users needs the admin scope, so its answer to a read token is 403 whatever the query;
    # GET /api/v2/constellations needs read only, and shows whether the unknown parameter is refused.
    seen = []
    answers = {}
    for path in ("/api/v2/users?limt=5", "/api/v2/constellations?limt=5", "/api/v2/constellations?limit=5"):
        answer = answers[path] = call(server.port, "GET", path, headers=bearer)
        named = "limt" in path and "limt" in answer.body.decode(errors="replace")
        seen.append(f"{path}: {answer.show()}{' (names it)' if named else ''}")
    unknown = answers["/api/v2/constellations?limt=5"]
    known = answers["/api/v2/constellations?limit=5"]
    observed = "; ".join(seen)
    if unknown.status == 200:
        verdict = DEFECT
    elif unknown.status == 400 and known.status == 200:
        verdict = FIXED
    else:
        verdict = UNCLEAR
    report.add("12 v2 unknown query param", observed, verdict)


def edge_probes(report: Report, luminary: Path, workdir: Path) -> None:
    directory = workdir / "edge"
    directory.mkdir()
    names = [
        "7 non-canonical ids",
        "8 access-log forging",
        "9 HEAD",
        "6 smuggling",
        "11 waitress errors",
        "12/13 input and headers",
    ]
    try:
        server = Server(luminary, f"sqlite:///{directory / 'edge.db'}", directory)
    except Exception as exc:
        for name in names:
            report.add(name, f"luminary serve did not start: {exc}", NOT_RUN)
        return
    try:
        for name, probe in zip(
            names,
            [
                probe_7_ids,
                probe_8_log_forging,
                probe_9_head,
                probe_6_smuggling,
                probe_11_waitress_errors,
                probe_12_13_input_and_headers,
            ],
            strict=True,
        ):
            report.run(name, lambda probe=probe: probe(report, server))  # type: ignore[misc]
    finally:
        server.stop()


# ---------------------------------------------------------------- 2: the SQLite file removed


def probe_2_sqlite_removed(report: Report, luminary: Path, workdir: Path) -> None:
    directory = workdir / "removed"
    directory.mkdir()
    path = directory / "luminary.db"
    url = f"sqlite:///{path}"
    acknowledged: list[str] = []
    outcomes: Counter[str] = Counter()
    with serving(luminary, url, directory) as server:
        first = call(server.port, "POST", "/api/users/", {"display_name": "Before removal"})
        if first.status != 201:
            report.add("2 SQLite file removed", f"the first user was not created: {first.show()}", NOT_RUN)
            return
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        for i in range(200):
            name = f"Ghost {i:03d}"
            answer = call(server.port, "POST", "/api/users/", {"display_name": name})
            outcomes[answer.show()] += 1
            if 200 <= answer.status < 300:
                acknowledged.append(name)
        ready = call(server.port, "GET", "/readyz")
    restarted = "restarted"
    try:
        with serving(luminary, url, directory) as again:
            names = user_names(again.port) or []
    except RuntimeError as exc:
        restarted = f"restart failed: {str(exc)[:80]}"
        names = []
        if path.exists():
            with contextlib.closing(sqlite3.connect(path)) as db:
                names = [row[0] for row in db.execute("SELECT display_name FROM users")]
    found = sum(name in names for name in set(acknowledged))
    lost = len(acknowledged) - found
    answers = ", ".join(f"{status}×{n}" for status, n in sorted(outcomes.items()))
    observed = (
        f"200 POSTs after removal: {answers}; acknowledged {len(acknowledged)}; /readyz {ready.show()}; "
        f"{restarted}: found {found}, LOST {lost}"
    )
    if lost or ready.status == 200:
        verdict = DEFECT
    elif not acknowledged and ready.status == 503:
        verdict = FIXED
    else:
        verdict = UNCLEAR
    report.add("2 SQLite file removed", observed, verdict)


# ---------------------------------------------------------------- 4: PostgreSQL unplugged


def probe_4_postgres_unplugged(
    report: Report, luminary: Path, workdir: Path, postgres_url: str | None
) -> None:
    name = "4 PostgreSQL unplugged"
    if not postgres_url:
        report.add(name, "not run: needs --postgres-url", NOT_RUN)
        return
    try:
        import sqlalchemy as sa
    except ImportError:
        report.add(name, "not run: SQLAlchemy is not installed beside this interpreter", NOT_RUN)
        return
    server_url = sa.engine.make_url(postgres_url)
    database = f"luminary_audit_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    cable = Cable((server_url.host or HOST, server_url.port or 5432))
    directory = workdir / "postgres"
    directory.mkdir()
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{database}"'))
        via_cable = server_url.set(database=database, host=HOST, port=cable.port)
        with serving(luminary, via_cable.render_as_string(hide_password=False), directory) as server:
            created = call(server.port, "POST", "/api/users/", {"display_name": "Ada"})
            if created.status != 201:
                report.add(name, f"the first user was not created: {created.show()}", NOT_RUN)
                return
            mark = server.mark()
            cable.unplug()
            outcomes: Counter[str] = Counter()
            retry_after = 0
            started = time.monotonic()
            sent = 0
            for _ in range(300):
                if time.monotonic() - started > 180:
                    break
                answer = call(server.port, "GET", "/api/users/")
                outcomes[answer.show()] += 1
                retry_after += "retry-after" in answer.headers
                sent += 1
            lines, size = server.since(mark)
            cable.plug()
            plugged = time.monotonic()
            recovered = None
            while time.monotonic() - plugged < 30:
                if call(server.port, "GET", "/api/users/", timeout=10).status == 200:
                    recovered = time.monotonic() - plugged
                    break
                time.sleep(0.2)
            logged = b"".join(lines).decode(errors="replace")
            other = [line for line in lines if b"luminary.access" not in line]  # beyond the access log
        answers = ", ".join(f"{status}×{n}" for status, n in sorted(outcomes.items()))
        again = f"recovered in {recovered:.2f} s" if recovered is not None else "NOT RECOVERED in 30 s"
        observed = (
            f"{sent} GETs unplugged: {answers} (Retry-After on {retry_after}); output meanwhile {size:,} B, "
            f"{len(lines)} lines ({len(other)} not access-log), {logged.count('Traceback')} tracebacks; "
            f"plugged: {again}"
        )
        server_errors = sum(n for status, n in outcomes.items() if status.startswith("5") and status != "503")
        if server_errors or recovered is None or logged.count("Traceback"):
            verdict = DEFECT
        elif outcomes.get("503") == sent and len(other) <= 5:
            verdict = FIXED
        else:
            verdict = PARTLY
        report.add(name, observed, verdict)
    finally:
        cable.close()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


# ---------------------------------------------------------------- 14: the command's own errors


def run_command(luminary: Path, args: list[str], cwd: Path) -> tuple[str, bool]:
    """Run ``luminary ARGS``: a description of its exit and stderr, and whether it is the clean refusal."""
    try:
        result = subprocess.run(
            [str(luminary), *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            env=clean_environment(),
        )
    except subprocess.TimeoutExpired:
        return "still running after 60 s (killed)", False
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    traceback = "Traceback" in result.stderr
    text = f"exit {result.returncode}, {len(lines)} stderr line(s), Traceback: {'YES' if traceback else 'no'}"
    if len(lines) == 1:
        text += f" ({lines[0][:90]!r})"
    return text, result.returncode != 0 and len(lines) == 1 and not traceback


def probe_14_cli(report: Report, luminary: Path, workdir: Path) -> None:
    directory = workdir / "cli"
    directory.mkdir()
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = [
            "serve",
            "--port",
            str(port),
            "--no-seed",
            "--database-url",
            f"sqlite:///{directory / 'p.db'}",
        ]
        text, clean = run_command(luminary, args, directory)
    report.add("14 port in use", text, FIXED if clean else DEFECT)

    upgrade = ["db", "upgrade", "--database-url", "sqlite:///x.db"]
    first, _ = run_command(luminary, upgrade, directory)
    if not (directory / "x.db").exists():
        report.add("14 unknown revision", f"the first `db upgrade` made no database: {first}", NOT_RUN)
        return
    with contextlib.closing(sqlite3.connect(directory / "x.db")) as db:
        db.execute("UPDATE alembic_version SET version_num = 'ffff_unknown'")
        db.commit()
    text, clean = run_command(luminary, upgrade, directory)
    report.add("14 unknown revision", text, FIXED if clean else DEFECT)

    orphan = ["db", "upgrade", "--database-url", "sqlite:///y.db"]
    run_command(luminary, orphan, directory)
    with contextlib.closing(sqlite3.connect(directory / "y.db")) as db:
        db.execute("DROP TABLE alembic_version")
        db.commit()
    text, clean = run_command(luminary, orphan, directory)
    report.add("14 no alembic_version", text, FIXED if clean else DEFECT)


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--luminary",
        type=Path,
        default=Path(sys.executable).with_name("luminary"),
        help="the luminary console script to measure (default: the one beside this interpreter)",
    )
    parser.add_argument(
        "--postgres-url",
        help="a PostgreSQL server for probe 4 (a database is created on it, then dropped); else 4 is skipped",
    )
    args = parser.parse_args()
    luminary = args.luminary.absolute()
    report = Report()
    print(f"Probing {luminary}", flush=True)
    with tempfile.TemporaryDirectory(prefix="luminary-audit-") as temporary:
        workdir = Path(temporary)
        edge_probes(report, luminary, workdir)
        report.run("2 SQLite file removed", lambda: probe_2_sqlite_removed(report, luminary, workdir))
        report.run(
            "4 PostgreSQL unplugged",
            lambda: probe_4_postgres_unplugged(report, luminary, workdir, args.postgres_url),
        )
        report.run("14 command errors", lambda: probe_14_cli(report, luminary, workdir))
    report.summary()
    return 0


if __name__ == "__main__":
    sys.exit(main())
