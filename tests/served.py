"""Running the real ``luminary serve`` for end-to-end tests and benchmarks."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def luminary_command() -> list[str]:
    """The installed ``luminary`` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("luminary")
    if not script.exists():
        raise RuntimeError("the luminary command is not installed in this environment")
    return [str(script)]


def run_luminary(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``luminary`` command to its end, its output captured.

    No database setting of this environment reaches it; ``env`` adds variables.
    """
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("LUMINARY_", "DATABASE_URL", "POSTGRES_"))
    }
    return subprocess.run(
        [*luminary_command(), *args],
        env={**clean, **(env or {})},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Server:
    """A ``luminary serve`` process on a free loopback port."""

    def __init__(self, process: subprocess.Popen[str], port: int, output: list[str]) -> None:
        self.process = process
        self.port = port
        self.output = output

    def client(self) -> Client:
        return Client(self.port)


@contextlib.contextmanager
def serve(
    database_url: str, *extra: str, threads: int | None = 8, workers: int = 1, cwd: Path | None = None
) -> Iterator[Server]:
    """Start ``luminary serve --port 0`` and stop it with SIGTERM when done.

    One worker unless told: one process, whatever the database (on PostgreSQL
    ``serve`` would run one worker per CPU). ``threads=None``: the server's default.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LUMINARY_DATABASE", "DATABASE_URL", "POSTGRES_"))
    }
    process = subprocess.Popen(
        [
            *luminary_command(),
            "serve",
            "--port",
            "0",
            *(["--threads", str(threads)] if threads is not None else []),
            "--workers",
            str(workers),
            "--database-url",
            database_url,
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=cwd,
        env=env,
    )
    output: list[str] = []
    port = None
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    while port is None:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("luminary serve exited early:\n" + "".join(output))
        output.append(line)
        found = re.search(r"Serving Luminary on http://[^:]+:(\d+)", line)
        if found:
            port = int(found.group(1))
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("luminary serve did not start:\n" + "".join(output))
    # Keep draining the output so the access log never blocks the server.
    drain = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)  # type: ignore[arg-type]
    drain.start()
    try:
        yield Server(process, port, output)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        drain.join(timeout=5)


class Client:
    """A keep-alive JSON client for one server."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None

    def close(self) -> None:
        self.connection.close()


@contextlib.contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database on the server of ``server_url``; dropped afterwards."""
    import sqlalchemy as sa

    name = f"luminary_e2e_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Cable:
    """A TCP forwarder to PostgreSQL that can be unplugged (every socket closed, new ones closed at once)
    and plugged in again, as a network would fail."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.plugged = True
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.plugged:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def unplug(self) -> None:
        self.plugged = False
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for end in sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def plug(self) -> None:
        self.plugged = True

    def close(self) -> None:
        self.unplug()
        self.listener.close()


@contextlib.contextmanager
def in_process(app: Any, *, threads: int) -> Iterator[Any]:
    """``app`` served by :class:`luminary.http.server.Service` in a thread of this process, on a
    free loopback port (``.port``), with the default limits; stopped (SIGTERM's way) at the end."""
    import signal

    from luminary.http.server import Limits, Service

    running = Service(app, host="127.0.0.1", port=0, threads=threads, limits=Limits())
    runner = threading.Thread(target=running.run)
    runner.start()
    try:
        yield running
    finally:
        running.request_stop(signal.SIGTERM)
        runner.join(10)
    assert not runner.is_alive()
