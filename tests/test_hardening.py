"""What a reliability audit broke, kept fixed: a database that cannot be used, and the HTTP edge in-process.

The same defects are checked against the real ``luminary serve`` in
``test_e2e_hardening.py`` where they live in the server.
"""

from __future__ import annotations

import logging
import subprocess
from functools import partial

import pytest

from http_v1_support import V1World, error_of, make_client
from http_v2_support import problem_of, send
from luminary import core, sql
from luminary.core import Unavailable
from luminary.http.logs import printable
from luminary.sql import availability
from sql_fixtures import TemporaryPostgresDatabase, postgres_server_url, sqlite_database

# Nothing listens on port 1: connecting is refused at once.
DOWN = "postgresql+psycopg://postgres@127.0.0.1:1/luminary"


@pytest.fixture
def world(uow_factory, clock) -> V1World:
    return V1World.build(uow_factory, clock, v1_mode="token")


# ---------------------------------------------------------------- a database that cannot be used


@pytest.fixture
def down_client(clock):
    engine = sql.make_engine(DOWN, connect_args={"connect_timeout": 2})
    yield make_client(partial(sql.SqlAlchemyUnitOfWork, engine), clock)
    engine.dispose()


@pytest.mark.parametrize(
    ("method", "path", "v2"),
    [
        ("GET", "/api/users/", False),
        ("POST", "/api/sessions/", False),
        ("POST", "/api/v2/accounts", True),
        ("POST", "/api/v2/tokens", True),
    ],
)
def test_a_database_that_is_down_is_503_with_retry_after_in_each_format(down_client, method, path, v2):
    bodies = {
        "/api/sessions/": {"title": "t"},
        "/api/v2/accounts": {"display_name": "Ada", "login": "ada", "password": "x" * 12},
        "/api/v2/tokens": {"login": "ada", "password": "x" * 12, "name": "n", "scopes": ["read"]},
    }
    result = down_client.simulate_request(method, path, json=bodies.get(path))
    assert result.status_code == 503, result.text
    assert result.headers["retry-after"] == "5"
    if v2:
        assert result.headers["content-type"] == "application/problem+json"
        assert result.json["title"] == "Service Unavailable"
        assert "try again" in result.json["detail"]
    else:
        assert set(result.json) == {"error"}
        assert "try again" in result.json["error"]
    # What the client learns names no host, port or driver.
    assert "127.0.0.1" not in result.text
    assert "psycopg" not in result.text


def test_an_outage_is_logged_once_then_once_a_minute_and_its_end_once(down_client, caplog):
    caplog.set_level(logging.INFO, logger="luminary")
    for _ in range(20):
        assert down_client.simulate_get("/api/v2/constellations").status_code in (401, 503)
        assert down_client.simulate_get("/api/users/").status_code == 503
    lines = [r for r in caplog.records if r.name.startswith("luminary") and r.name != "luminary.access"]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].levelno == logging.ERROR
    assert "unavailable" in lines[0].getMessage()
    assert lines[0].exc_info is None  # no traceback


def test_the_outage_log_repeats_after_its_interval_and_says_when_it_is_over(caplog):
    caplog.set_level(logging.INFO, logger="luminary.sql")
    outage = availability.Outage(interval=0.0)
    error = Unavailable("The database is unavailable (refused).")
    outage.failed(error)
    outage.failed(error)
    assert outage.ongoing
    outage.answered()
    outage.answered()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3, messages
    assert "Still unavailable: 1 requests" in messages[1]
    assert messages[2].startswith("The database answers again")
    assert not outage.ongoing


def test_sqlite_locked_past_its_busy_timeout_is_unavailable_not_an_error(request):
    path = sqlite_database(request)
    holder = sql.make_engine(f"sqlite:///{path}")
    impatient = sql.make_engine(f"sqlite:///{path}", connect_args={"timeout": 0.05})
    try:
        with (
            sql.SqlAlchemyUnitOfWork(holder),
            pytest.raises(Unavailable, match="locked"),
            sql.SqlAlchemyUnitOfWork(impatient),
        ):
            pass
    finally:
        holder.dispose()
        impatient.dispose()


# ---------------------------------------------------------------- a SQLite file removed or replaced


@pytest.fixture
def sqlite_engine(request):
    path = sqlite_database(request)
    engine = sql.make_engine(f"sqlite:///{path}")
    yield path, engine
    engine.dispose()


def _add_user(engine, name: str = "Ada") -> core.User:
    clock = core.SystemClock()
    return core.create_user(
        sql.SqlAlchemyUnitOfWork(engine), core.CreateUser(display_name=name), actor=core.SYSTEM, clock=clock
    )


def _remove(path) -> None:
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def test_writes_are_refused_once_the_sqlite_file_is_removed(sqlite_engine):
    path, engine = sqlite_engine
    _add_user(engine)
    sql.check_ready(engine)
    _remove(path)
    with pytest.raises(Unavailable, match="was removed"):
        _add_user(engine, "Eve")
    with pytest.raises(Unavailable, match="was removed"):
        sql.check_ready(engine)
    assert not path.exists(), "nothing may create an empty file in its place"


def test_writes_are_refused_once_the_sqlite_file_is_replaced(sqlite_engine, tmp_path):
    path, engine = sqlite_engine
    _add_user(engine)
    other = tmp_path / "other.db"
    sql.upgrade(f"sqlite:///{other}")
    _remove(path)
    other.rename(path)
    with pytest.raises(Unavailable, match="replaced by another file"):
        _add_user(engine, "Eve")
    with pytest.raises(Unavailable, match="replaced"):
        sql.check_ready(engine)
    # A connection the pool opens now reaches the new file: refused as well.
    engine.dispose()
    with pytest.raises(Unavailable, match="replaced"), sql.SqlAlchemyUnitOfWork(engine).reading() as uow:
        uow.users.count()


def test_readiness_notices_a_sqlite_file_that_cannot_be_written(sqlite_engine):
    path, engine = sqlite_engine
    _add_user(engine)
    # Read-only even for root: the immutable attribute (where the file system has it).
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        with pytest.raises(Unavailable, match=r"cannot be (written|opened)"):
            sql.check_ready(engine)
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    sql.check_ready(engine)


def test_readiness_notices_a_full_disk(sqlite_engine, monkeypatch):
    _, engine = sqlite_engine
    sql.check_ready(engine)
    free = availability.sqlite_file(engine).free_bytes()
    # The disk holds less than the minimum the check asks for.
    monkeypatch.setattr(availability, "MIN_FREE_BYTES", free + 2**30)
    with pytest.raises(Unavailable, match="is full"):
        sql.check_ready(engine)


def test_readyz_says_why_it_is_not_ready(sqlite_engine, clock):
    path, engine = sqlite_engine
    client = make_client(
        partial(sql.SqlAlchemyUnitOfWork, engine), clock, readiness=partial(sql.check_ready, engine)
    )
    assert client.simulate_get("/readyz").json == {"status": "ready"}
    _remove(path)
    result = client.simulate_get("/readyz")
    assert result.status_code == 503
    assert result.json["status"] == "unavailable"
    assert "was removed" in result.json["reason"]
    assert client.simulate_post("/api/users/", json={"display_name": "Eve"}).status_code == 503


# ---------------------------------------------------------------- PostgreSQL dropped and created again


@pytest.mark.postgres
def test_a_postgres_database_dropped_and_created_again_is_503_then_migrated_and_served(clock, caplog):
    database = TemporaryPostgresDatabase(postgres_server_url(), migrate=True)
    try:
        engine = database.engine
        sql.migrate_when_missing(engine)
        client = make_client(partial(sql.SqlAlchemyUnitOfWork, engine), clock)
        assert client.simulate_post("/api/users/", json={"display_name": "Ada"}).status_code == 201
        with database._admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE "{database.name}" WITH (FORCE)')
            down = client.simulate_get("/api/users/")
            connection.exec_driver_sql(f'CREATE DATABASE "{database.name}"')
        assert down.status_code == 503
        assert down.headers["retry-after"] == "5"
        # The first request after it returns finds no tables: 503, and the tables are made.
        assert client.simulate_get("/api/users/").status_code == 503
        result = client.simulate_post("/api/users/", json={"display_name": "Eve"})
        assert result.status_code == 201, result.text
        assert [u["display_name"] for u in client.simulate_get("/api/users/").json["users"]] == ["Eve"]
        assert any("the migrations created them" in r.getMessage() for r in caplog.records)
    finally:
        database.drop()


# ---------------------------------------------------------------- the HTTP edge


def test_every_get_route_answers_head_with_the_same_headers_and_no_body(world):
    for path in ["/healthz", "/api/users/{ada}/", "/api/v2/users/{ada}", "/api/v2/openapi.json", "/api/feed"]:
        got = send(world, "GET", path)
        head = send(world, "HEAD", path)
        assert (head.status_code, head.content) == (got.status_code, b""), path
        assert head.headers["content-type"] == got.headers["content-type"], path
        assert head.headers["content-length"] == str(len(got.content)), path
    # A missing user is the same 404 either way; HEAD of a POST-only route is 405.
    assert send(world, "HEAD", "/api/v2/users/999999").status_code == 404
    assert send(world, "HEAD", "/api/v2/accounts").status_code == 405


def test_api_answers_are_never_sniffed_nor_cached_and_the_docs_have_a_policy(world):
    for method, path in [
        ("GET", "/api/users/{ada}/"),
        ("GET", "/api/v2/users/999999"),
        ("POST", "/api/v2/feed"),
    ]:
        headers = send(world, method, path).headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["cache-control"] == "no-store", path
    docs = send(world, "GET", "/api/v2/docs").headers
    assert docs["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in docs["content-security-policy"]
    assert "script-src 'self'" in docs["content-security-policy"]


def test_unknown_query_parameters_are_named(world):
    problem = problem_of(send(world, "GET", "/api/v2/users?limit=2&limt=5&sort=name"), 400)
    assert {e["parameter"] for e in problem["errors"]} == {"limt", "sort"}
    # The parameters an operation declares pass.
    assert send(world, "GET", "/api/v2/users?limit=2").status_code == 200
    assert send(world, "GET", "/api/v2/me/stats?from=2025-11-25&by=week").status_code == 200
    # v1 keeps the published app's leniency.
    assert send(world, "GET", "/api/users/?limt=5").status_code == 200


def test_a_member_given_twice_is_named(world):
    raw = '{"title": "a", "minutes": 5, "title": "b", "minutes": 6}'
    problem = problem_of(send(world, "POST", "/api/v2/sessions", raw=raw), 400)
    assert '"minutes", "title"' in problem["detail"]
    assert '"title"' in error_of(send(world, "POST", "/api/sessions/", raw=raw), 400)


def test_a_body_without_content_type_is_415_in_v2_and_an_empty_one_needs_none(world):
    result = world.client.simulate_post("/api/v2/sessions", body='{"title": "t"}')
    assert "Content-Type" in problem_of(result, 415)["detail"]
    assert send(world, "POST", "/api/v2/attempts/{a2}/stars").status_code == 200


def test_the_access_log_escapes_what_the_client_sent(world, caplog):
    caplog.set_level(logging.INFO, logger="luminary.access")
    forged = '1\n127.0.0.1 "GET /api/v2/forged" 200 0.1ms'
    send(world, "GET", "/api/v2/users/" + forged.replace("\n", "%0A").replace(" ", "%20").replace('"', "%22"))
    (line,) = [r.getMessage() for r in caplog.records if r.name == "luminary.access"]
    assert "\n" not in line
    assert line.count('"') == 2, line  # the quoted request, and nothing the client could close it with
    assert "\\x0a127.0.0.1 \\x22GET /api/v2/forged\\x22" in line


@pytest.mark.parametrize(
    ("text", "logged"),
    [
        ("plain /path", "plain /path"),
        ("a\r\nb", "a\\x0d\\x0ab"),
        ('q"uote\\', "q\\x22uote\\x5c"),
        ("\x1b[31m\x7f\x85", "\\x1b[31m\\x7f\\x85"),
        ("line\u2028sep", "line\\u2028sep"),
        ("été 日本", "été 日本"),
    ],
)
def test_printable_escapes_controls_quotes_and_backslashes_only(text, logged):
    assert printable(text) == logged


def test_waitress_messages_quoting_a_request_path_are_escaped(caplog):
    from luminary.http.server import Answer, Channel

    caplog.set_level(logging.INFO, logger="waitress")
    # waitress formats the path into the message itself ("Exception while serving %s" % path).
    Channel.logger.info('Client disconnected while serving /a\n127.0.0.1 "GET /forged" 200')
    Answer.logger.warning("Exception while serving /b\r\nx")
    assert [r.getMessage() for r in caplog.records] == [
        "Client disconnected while serving /a\\x0a127.0.0.1 \\x22GET /forged\\x22 200",
        "Exception while serving /b\\x0d\\x0ax",
    ]


def test_requests_waiting_for_a_thread_are_reported_once_per_interval_with_the_deepest_queue(
    caplog, monkeypatch
):
    from luminary.http import server

    now = [100.0]
    monkeypatch.setattr(server.time, "monotonic", lambda: now[0])
    caplog.set_level(logging.WARNING, logger="luminary.server")
    dispatcher = server.Dispatcher()  # no threads: every task waits
    for _ in range(5):
        dispatcher.add_task(object())
    now[0] += server.REPORT_SECONDS / 2
    dispatcher.add_task(object())
    assert [r.getMessage() for r in caplog.records] == [
        "1 request(s) waiting for a thread (1 at most since the last report)"
    ]
    for _ in range(4):
        dispatcher.queue.popleft()  # as threads would take them
    now[0] += server.REPORT_SECONDS
    dispatcher.add_task(object())
    assert len(dispatcher.queue) == 3
    assert (
        caplog.records[-1].getMessage()
        == "3 request(s) waiting for a thread (6 at most since the last report)"
    )
    dispatcher.add_task(object())  # reported: quiet until the interval is over again
    assert len(caplog.records) == 2
