"""Running the real ``luminary serve`` for end-to-end tests and benchmarks."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
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
def serve(database_url: str, *extra: str, threads: int = 8, cwd: Path | None = None) -> Iterator[Server]:
    """Start ``luminary serve --port 0`` and stop it with SIGTERM when done."""
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
            "--threads",
            str(threads),
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
