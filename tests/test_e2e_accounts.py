"""End to end: accounts and tokens across real ``luminary serve`` processes.

Two servers share one database (SQLite file, PostgreSQL), as several stateless
processes do in production: a token revoked through one is refused by the
other on the very next request, and failed sign-ins are counted across both.
The operator's part goes through the real ``luminary admin`` command.
Token expiry cannot be aged here (a day at least); the unit tests cover it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from conftest import postgres_url

pytest.importorskip("luminary.sql", reason="luminary-sql is not installed")
pytest.importorskip("luminary.http", reason="luminary-http is not installed")

from served import Server, luminary_command, postgres_database, serve

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
WARNING = "WARNING: API v1 is served open on a non-loopback address"


def clean_environment() -> dict[str, str]:
    """This process's environment without any Luminary configuration."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LUMINARY_DATABASE", "LUMINARY_V1_MODE", "DATABASE_URL", "POSTGRES_"))
    }


def luminary(database_url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real ``luminary ARGS --database-url URL``; it must succeed."""
    result = subprocess.run(
        [*luminary_command(), *args, "--database-url", database_url],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_environment(),
    )
    assert result.returncode == 0, result.stderr
    return result


@attrs.frozen
class Issued:
    id: int
    secret: str


def create_token(database_url: str, login: str, name: str, *scopes: str) -> Issued:
    """``luminary admin create-token``: the secret on stdout, its id in the description on stderr."""
    result = luminary(
        database_url,
        "admin",
        "create-token",
        "--login",
        login,
        "--name",
        name,
        *[a for s in scopes for a in ("--scope", s)],
    )
    found = re.search(r"Token (\d+) ", result.stderr)
    assert found, result.stderr
    secret = result.stdout.strip()
    assert re.fullmatch(r"lum_[0-9A-Za-z]{38}", secret), result.stdout
    return Issued(int(found.group(1)), secret)


@attrs.frozen
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


def call(server: Server, method: str, path: str, body: Any = None, token: str | None = None) -> Answer:
    """One request on a new connection: status, headers (lower-case names) and JSON body."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        return Answer(
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            json.loads(raw) if raw else None,
        )
    finally:
        connection.close()


@attrs.frozen
class Database:
    """A migrated database with an administrator ``root`` and an admin token."""

    url: str
    admin: Issued


def prepare(url: str) -> Database:
    luminary(url, "admin", "create-user", "--login", "root", "--password-stdin", stdin=PASSWORD + "\n")
    return Database(url, create_token(url, "root", "operator", "admin"))


@pytest.fixture(scope="module")
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> Database:
    return prepare(f"sqlite:///{tmp_path_factory.mktemp('e2e-accounts') / 'luminary.db'}")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_database")
        return
    url = postgres_url()
    if not url:
        pytest.skip("LUMINARY_TEST_POSTGRES_URL is not set")
    with postgres_database(url) as created:
        yield prepare(created)


@attrs.frozen
class Pair:
    database: Database
    one: Server
    two: Server


@pytest.fixture(scope="module")
def pair(database: Database) -> Iterator[Pair]:
    """Two ``luminary serve`` processes on one database, v1 left at its default."""
    with contextlib.ExitStack() as stack, pytest.MonkeyPatch.context() as patch:
        patch.delenv("LUMINARY_V1_MODE", raising=False)
        one = stack.enter_context(serve(database.url, threads=4))
        two = stack.enter_context(serve(database.url, "--no-seed", threads=4))
        yield Pair(database, one, two)


def test_both_processes_know_the_operators_token(pair):
    for server in (pair.one, pair.two):
        me = call(server, "GET", "/api/v2/me", token=pair.database.admin.secret)
        assert me.status == 200, me.body
        assert (me.body["data"]["login"], me.body["data"]["is_admin"]) == ("root", True)
        assert call(server, "GET", "/api/v2/me").status == 401


def test_a_token_revoked_through_one_process_is_refused_by_the_other(pair):
    issued = create_token(pair.database.url, "root", "revoke-me", "read", "account")
    for server in (pair.one, pair.two):
        assert call(server, "GET", "/api/v2/me", token=issued.secret).status == 200

    revoked = call(pair.one, "DELETE", f"/api/v2/tokens/{issued.id}", token=issued.secret)
    assert revoked.status == 204, revoked.body

    refused = call(pair.two, "GET", "/api/v2/me", token=issued.secret)
    assert refused.status == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.body["status"] == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert call(pair.one, "GET", "/api/v2/me", token=issued.secret).status == 401
    # The operator's token is untouched, and no longer lists the revoked one.
    listed = call(pair.two, "GET", "/api/v2/tokens", token=pair.database.admin.secret)
    assert listed.status == 200
    assert issued.id not in [t["id"] for t in listed.body["data"]]


def test_a_token_revoked_by_the_operator_is_refused_by_both_processes(pair):
    issued = create_token(pair.database.url, "root", "cli-revoke", "read")
    for server in (pair.one, pair.two):
        assert call(server, "GET", "/api/v2/me", token=issued.secret).status == 200
    luminary(pair.database.url, "tokens", "revoke", str(issued.id))
    for server in (pair.two, pair.one):
        assert call(server, "GET", "/api/v2/me", token=issued.secret).status == 401


def test_failed_sign_ins_are_counted_across_processes(pair):
    signed_up = call(
        pair.one,
        "POST",
        "/api/v2/accounts",
        {"display_name": "Grace", "login": "grace", "password": PASSWORD},
    )
    assert signed_up.status == 201, signed_up.body

    def sign_in(server: Server, password: str) -> Answer:
        body = {"login": "grace", "password": password, "name": "phone", "scopes": ["read"]}
        return call(server, "POST", "/api/v2/tokens", body)

    for attempt in range(5):
        wrong = sign_in((pair.one, pair.two)[attempt % 2], f"wrong password {attempt}")
        assert wrong.status == 401, (attempt, wrong.body)

    for server in (pair.two, pair.one):
        blocked = sign_in(server, PASSWORD)  # even the right password, until the window ends
        assert blocked.status == 429, blocked.body
        assert 0 < int(blocked.headers["retry-after"]) <= 15 * 60
        assert blocked.headers["content-type"] == "application/problem+json"
        assert blocked.body["status"] == 429
        assert blocked.body["title"] == "Too Many Requests"
        assert "secret" not in json.dumps(blocked.body)
    # Another account from the same address is not blocked by grace's failures.
    root = call(
        pair.two,
        "POST",
        "/api/v2/tokens",
        {"login": "root", "password": PASSWORD, "name": "laptop", "scopes": ["read"]},
    )
    assert root.status == 201, root.body


def test_v1_is_open_by_default(pair):
    assert not any(WARNING in line for line in pair.one.output), "no warning on the loopback address"
    for server in (pair.one, pair.two):
        users = call(server, "GET", "/api/users/")
        assert users.status == 200
        assert "users" in users.body


def test_v1_off(sqlite_database):
    with serve(sqlite_database.url, "--no-seed", "--v1", "off", threads=2) as server:
        for path in ("/api/users/", "/api/users", "/api/v1/users/", "/api/constellations"):
            assert call(server, "GET", path).status == 404, path
            assert call(server, "GET", path, token=sqlite_database.admin.secret).status == 404, path
        me = call(server, "GET", "/api/v2/me", token=sqlite_database.admin.secret)
        assert me.status == 200
        assert me.body["data"]["login"] == "root"
        assert call(server, "GET", "/api/v2/constellations", token=sqlite_database.admin.secret).status == 200


def test_v1_token(sqlite_database):
    with serve(sqlite_database.url, "--no-seed", "--v1", "token", threads=2) as server:
        for path in ("/api/users/", "/api/v1/users"):
            refused = call(server, "GET", path)
            assert refused.status == 401, path
            assert set(refused.body) == {"error"}, refused.body
            assert refused.headers["content-type"].startswith("application/json")
            allowed = call(server, "GET", path, token=sqlite_database.admin.secret)
            assert allowed.status == 200, allowed.body
            assert "users" in allowed.body
        bad = call(server, "GET", "/api/users/", token="lum_" + "x" * 38)
        assert bad.status == 401
        assert set(bad.body) == {"error"}
    assert not any(WARNING in line for line in server.output)


def test_serving_v1_open_beyond_loopback_warns(tmp_path):
    process = subprocess.Popen(
        [
            *luminary_command(),
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--v1",
            "open",
            "--database-url",
            f"sqlite:///{tmp_path / 'open.db'}",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_environment(),
        cwd=tmp_path,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not any(WARNING in line for line in seen):
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if line is None:
                break
            seen.append(line)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=5)
    warning = [line for line in seen if WARNING in line]
    assert warning, "".join(seen)
    assert "--v1 token" in warning[0]
