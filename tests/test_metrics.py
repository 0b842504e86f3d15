"""``/metrics`` and request ids: what is counted, by which labels, and with several workers."""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import falcon.inspect
import falcon.testing
import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from http_v1_support import V1World, error_of
from http_v2_support import problem_of, send
from luminary.core import ManualClock
from luminary.core.memory import InMemoryStore
from luminary.http.app import create_app
from luminary.http.logs import JsonFormatter, TextFormatter, new_request_id
from luminary.http.metrics import UNMATCHED, Metrics

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a Prometheus text answer, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series does not exist (yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(client: falcon.testing.TestClient) -> Samples:
    result = client.simulate_get("/metrics")
    assert result.status_code == 200
    assert result.headers["content-type"] == CONTENT_TYPE_LATEST
    return parse(result.text)


@pytest.fixture
def world(uow_factory: Callable[[], Any], clock: ManualClock) -> V1World:
    return V1World.build(uow_factory, clock)


@pytest.fixture
def memory_world(clock: ManualClock) -> V1World:
    return V1World.build(InMemoryStore().uow_factory(), clock)


# ---------------------------------------------------------------- requests


def test_requests_are_counted_by_method_route_template_and_status(memory_world):
    world = memory_world
    for path in ("/api/users/{ada}", "/api/users/{grace}/", "/api/v1/users/{ada}", "/api/users/999"):
        send(world, "GET", path)
    send(world, "GET", "/api/v2/users/{ada}")
    send(world, "DELETE", "/api/feed")  # 405
    send(world, "GET", "/api/nothing/here/42")
    send(world, "BREW", "/api/nothing/here/43")
    samples = scrape(world.client)

    requests = partial(value, samples, "luminary_http_requests_total")
    assert requests(method="GET", route="/api/users/{user_id}", status="200") == 2
    assert requests(method="GET", route="/api/users/{user_id}", status="404") == 1
    assert requests(method="GET", route="/api/v1/users/{user_id}", status="200") == 1
    assert requests(method="GET", route="/api/v2/users/{user_id}", status="200") == 1
    assert requests(method="DELETE", route="/api/feed", status="405") == 1
    # No raw path, no unknown method becomes a label: the series stay few whatever clients send.
    assert requests(method="GET", route=UNMATCHED, status="404") == 1
    assert requests(method="other", route=UNMATCHED, status="404") == 1
    routes = {dict(labels).get("route") for name, labels in samples if name == "luminary_http_requests_total"}
    assert not any("42" in route or "43" in route or ":" in route for route in routes if route), routes

    duration = partial(value, samples, "luminary_http_request_duration_seconds_count")
    assert duration(method="GET", route="/api/users/{user_id}") == 3  # 200s and the 404
    buckets = [
        (float(dict(labels)["le"]), v)
        for (name, labels), v in samples.items()
        if name == "luminary_http_request_duration_seconds_bucket"
        and dict(labels)["route"] == "/api/users/{user_id}"
    ]
    assert max(buckets) == (float("inf"), 3)
    assert [v for _, v in sorted(buckets)] == sorted(v for _, v in buckets)  # cumulative
    assert value(samples, "luminary_http_request_duration_seconds_sum", method="GET", route=UNMATCHED) > 0

    # The scrape itself is counted once it is answered.
    again = scrape(world.client)
    assert value(again, "luminary_http_requests_total", method="GET", route="/metrics", status="200") == 1


def test_requests_in_flight_count_the_request_being_answered(clock):
    metrics = Metrics()
    assert metrics.registry is not None
    seen: list[float | None] = []
    app = create_app(
        InMemoryStore().uow_factory(),
        clock=clock,
        metrics=metrics,
        readiness=lambda: seen.append(metrics.registry.get_sample_value("luminary_http_requests_in_flight")),
    )
    client = falcon.testing.TestClient(app)
    assert client.simulate_get("/readyz").status_code == 200
    assert seen == [1.0]
    assert metrics.registry.get_sample_value("luminary_http_requests_in_flight") == 0.0
    assert value(scrape(client), "luminary_http_requests_in_flight") == 1.0  # the scrape itself


def test_an_app_of_its_own_has_metrics_of_its_own(memory_world, clock):
    send(memory_world, "GET", "/api/users/{ada}")
    other = falcon.testing.TestClient(create_app(InMemoryStore().uow_factory(), clock=clock))
    samples = scrape(other)
    assert (
        value(
            samples, "luminary_http_requests_total", method="GET", route="/api/users/{user_id}", status="200"
        )
        == 0
    )


def middleware_of(app: falcon.App) -> list[str]:
    return [m.name for m in falcon.inspect.inspect_app(app).middleware.middleware_classes]


def test_without_metrics_nothing_is_measured_and_metrics_is_404(clock):
    store = InMemoryStore()
    assert "Metrics" in middleware_of(create_app(store.uow_factory(), clock=clock))
    app = create_app(store.uow_factory(), clock=clock, metrics=False, cors_origins=["https://a.example"])
    assert middleware_of(app) == ["RequestId", "AccessLog", "Cors", "SecurityHeaders", "BodyLimit"]
    client = falcon.testing.TestClient(app)
    result = client.simulate_get("/metrics")
    assert result.status_code == 404
    assert result.json == {"error": "Not Found"}
    # The rest is served as before: a write, the request id, CORS.
    made = client.simulate_post(
        "/api/users/", json={"display_name": "Ada"}, headers={"Origin": "https://a.example"}
    )
    assert made.status_code == 201
    assert made.headers["access-control-allow-origin"] == "https://a.example"
    assert made.headers["x-request-id"]


def test_the_metrics_switch_and_its_variable(monkeypatch, tmp_path):
    from luminary.http import cli

    monkeypatch.delenv("LUMINARY_METRICS", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env

    def metrics(*argv: str) -> bool:
        return bool(cli.build_parser().parse_args(["serve", *argv]).metrics)

    assert metrics() is True
    assert metrics("--no-metrics") is False
    for off in ("0", "false", "No", " OFF "):
        monkeypatch.setenv("LUMINARY_METRICS", off)
        assert metrics() is False, off
        assert metrics("--metrics") is True
    for on in ("1", "true", "yes", "On"):
        monkeypatch.setenv("LUMINARY_METRICS", on)
        assert metrics() is True, on
        assert metrics("--no-metrics") is False


@pytest.mark.slow
def test_serve_without_metrics_makes_no_metrics_directory(tmp_path, monkeypatch):
    pytest.importorskip("luminary.sql")
    from served import serve

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # where the server would make its directory
    url = f"sqlite:///{tmp_path / 'metrics.db'}"
    with serve(url, "--no-metrics", threads=1, workers=2) as server:
        assert _get(server.port, "/metrics")[0] == 404
        assert _get(server.port, "/api/constellations/")[0] == 200
        assert not list(scratch.iterdir())
    assert server.process.returncode == 0
    assert "  metrics   off (--no-metrics or LUMINARY_METRICS): /metrics is not served\n" in "".join(
        server.output
    )


# ---------------------------------------------------------------- the database pool


def test_the_pool_gauges_follow_the_connections_in_use(request, clock):
    sql = pytest.importorskip("luminary.sql")
    from sql_fixtures import sqlite_database

    engine = sql.make_engine(f"sqlite:///{sqlite_database(request)}")
    try:
        metrics = Metrics()
        metrics.watch_pool(engine)
        uow_factory = partial(sql.SqlAlchemyUnitOfWork, engine)
        registry = metrics.registry
        assert registry is not None
        during: list[float | None] = []

        def readiness() -> None:
            with uow_factory().reading() as uow:
                uow.constellations.count()
                during.append(registry.get_sample_value("luminary_db_pool_checked_out"))

        client = falcon.testing.TestClient(
            create_app(uow_factory, clock=clock, metrics=metrics, readiness=readiness)
        )
        assert client.simulate_get("/readyz").status_code == 200
        assert during == [1.0]
        samples = scrape(client)
        assert value(samples, "luminary_db_pool_size") == engine.pool.size() == 5
        assert value(samples, "luminary_db_pool_checked_out") == 0
        assert value(samples, "luminary_db_pool_idle") == 1
        assert value(samples, "luminary_db_pool_overflow") == 0
        # The pool emptied (a new one in its place): the gauges follow it too.
        engine.dispose()
        samples = scrape(client)
        assert value(samples, "luminary_db_pool_idle") == 0
        assert value(samples, "luminary_db_pool_checked_out") == 0
        assert client.simulate_get("/readyz").status_code == 200
        assert during == [1.0, 1.0]
        assert value(scrape(client), "luminary_db_pool_idle") == 1
    finally:
        engine.dispose()


def test_answering_a_request_does_no_work_for_the_pool_gauges(request, clock):
    """A single process reads its pool when scraped, not at each checkout or answer."""
    sql = pytest.importorskip("luminary.sql")
    from sql_fixtures import sqlite_database

    engine = sql.make_engine(f"sqlite:///{sqlite_database(request)}")
    try:
        metrics = Metrics()
        read = []
        pool_values = metrics.pool_values
        metrics.pool_values = lambda: read.append(1) or pool_values()  # type: ignore[method-assign]
        metrics.watch_pool(engine)
        uow_factory = partial(sql.SqlAlchemyUnitOfWork, engine)
        client = falcon.testing.TestClient(create_app(uow_factory, clock=clock, metrics=metrics))
        for _ in range(5):
            assert client.simulate_get("/readyz").status_code == 200
        assert read == []
        assert value(scrape(client), "luminary_db_pool_idle") == 1
        assert read == [1]
    finally:
        engine.dispose()


def test_a_workers_pool_gauges_are_written_for_the_others_scrapes(request, tmp_path, monkeypatch):
    """With workers, each writes its pool's gauges to its files, within a refresh of any change."""
    sql = pytest.importorskip("luminary.sql")
    from prometheus_client import CollectorRegistry, multiprocess

    from luminary.http import metrics as metrics_module
    from sql_fixtures import sqlite_database

    monkeypatch.setattr(metrics_module, "POOL_REFRESH_SECONDS", 0.02)
    engine = sql.make_engine(f"sqlite:///{sqlite_database(request)}")
    directory = tmp_path / "metrics"
    directory.mkdir()
    metrics_module.share_between_processes(str(directory))
    try:
        metrics = Metrics(multiprocess_dir=str(directory))
        metrics.watch_pool(engine)

        def checked_out() -> float | None:
            # As another worker answering a scrape reads them: from the files.
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=str(directory))
            return registry.get_sample_value("luminary_db_pool_checked_out", {"pid": str(os.getpid())})

        assert checked_out() == 0
        with engine.connect():
            assert _until(lambda: checked_out() == 1, seconds=5)
        assert _until(lambda: checked_out() == 0, seconds=5)
        metrics.close()
    finally:
        metrics_module.keep_in_process()
        engine.dispose()


def test_a_store_without_a_pool_reports_no_pool(memory_world):
    samples = scrape(memory_world.client)
    assert not [name for name, _ in samples if name.startswith("luminary_db_pool")]


# ---------------------------------------------------------------- what students did


def domain(world: V1World) -> tuple[float, float, float, float]:
    samples = scrape(world.client)
    return (
        value(samples, "luminary_sessions_completed_total"),
        value(samples, "luminary_minutes_credited_total"),
        value(samples, "luminary_minutes_withdrawn_total"),
        value(samples, "luminary_stars_earned_total"),
    )


def test_sessions_minutes_and_stars_are_counted_through_v1_and_v2(world):
    assert domain(world) == (0, 0, 0, 0)
    # v1: the app completes a study session (10 minutes), twice: counted once.
    assert send(world, "PUT", "/api/sessions/{s1}/complete").status_code == 200
    assert send(world, "PUT", "/api/sessions/{s1}/complete").status_code == 200
    assert domain(world) == (1, 10, 0, 0)
    # v1: a star, then cancelling the completed session takes its minutes back.
    assert send(world, "PUT", "/api/constellation_attempts/{a2}/").status_code == 200
    assert send(world, "PUT", "/api/sessions/{s1}/cancel").status_code == 200
    assert domain(world) == (1, 10, 10, 1)
    # v2: a session created completed, another completed by PATCH, a star.
    created = send(
        world, "POST", "/api/v2/sessions", {"title": "Flashcards", "status": "completed", "minutes": 25}
    )
    assert created.status_code == 201, created.text
    patched = send(world, "PATCH", "/api/v2/sessions/{s2}", {"status": "completed"})
    assert patched.status_code == 200, patched.text
    assert send(world, "POST", "/api/v2/attempts/{a2}/stars").status_code == 200
    assert domain(world) == (3, 10 + 25 + 20, 10, 2)
    # v1 completes an attempt: every star it lacked is earned (Delphinus has 5, 2 earned so far).
    assert send(world, "PUT", "/api/constellation_attempts/{a2}/complete").status_code == 200
    assert domain(world)[3] == 2 + 3


def test_what_fails_or_changes_nothing_is_not_counted(world):
    # Grace's attempt is complete: another star is a conflict, rolled back.
    assert send(world, "POST", "/api/v2/attempts/{a3}/stars").status_code == 409
    assert send(world, "PUT", "/api/constellation_attempts/{a3}/").status_code == 409
    # A timer that never started cannot stop; an invalid session is not created.
    assert send(world, "POST", "/api/v2/sessions/{s4}/stop").status_code == 409
    assert send(world, "POST", "/api/v2/sessions", {"title": "", "status": "completed"}).status_code == 400
    assert send(world, "GET", "/api/users/{ada}").status_code == 200
    assert domain(world) == (0, 0, 0, 0)


def test_a_timer_stopped_counts_a_completed_session_and_its_minutes(memory_world):
    world = memory_world
    created = send(world, "POST", "/api/v2/sessions", {"title": "Organic chemistry"})
    sid = created.json["data"]["id"]
    assert send(world, "POST", f"/api/v2/sessions/{sid}/start").status_code == 200
    world.clock.advance(timedelta(minutes=30))
    assert send(world, "POST", f"/api/v2/sessions/{sid}/stop").status_code == 200
    completed, credited, _, _ = domain(world)
    assert completed == 1
    assert credited == 30


# ---------------------------------------------------------------- request ids


def test_a_request_id_is_generated_or_echoed(memory_world):
    generated = memory_world.client.simulate_get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    assert (
        memory_world.client.simulate_get("/healthz").headers["x-request-id"]
        != generated.headers["x-request-id"]
    )
    for given in ("abc-123", "f47ac10b-58cc-4372-a567-0e02b2c3d479", "x" * 128, "req:1/2+3=4"):
        result = memory_world.client.simulate_get("/healthz", headers={"X-Request-ID": given})
        assert result.headers["x-request-id"] == given


def test_forked_workers_generate_ids_of_their_own():
    # Each worker is a fork of one parent: ids drawn from a generator they all inherited would
    # repeat across workers unless the child draws from a new state.
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, to the parent
        try:
            os.write(writer, "".join(new_request_id() for _ in range(3)).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        child = pipe.read().decode()
    os.waitpid(pid, 0)
    parent = "".join(new_request_id() for _ in range(3))
    assert len(child) == len(parent) == 96
    assert child != parent


@pytest.mark.parametrize("given", ["", "a b", "x" * 129, "caf\u00e9", "new\x07line", "tab\there"])
def test_an_unacceptable_request_id_is_replaced(memory_world, given):
    result = memory_world.client.simulate_get("/healthz", headers={"X-Request-ID": given})
    assert re.fullmatch(r"[0-9a-f]{32}", result.headers["x-request-id"])


def test_the_request_id_is_on_the_access_log_line(memory_world, caplog):
    caplog.set_level(logging.INFO, logger="luminary.access")
    send(memory_world, "GET", "/api/users/{ada}", headers={"X-Request-ID": "trace-42"})
    generated = send(memory_world, "GET", "/api/users/999")
    lines = [r.getMessage() for r in caplog.records if r.name == "luminary.access"]
    assert len(lines) == 2
    assert lines[0].endswith(" request_id=trace-42"), lines[0]
    assert lines[1].endswith(f" request_id={generated.headers['x-request-id']}"), lines[1]
    assert '"GET /api/users/999" 404 ' in lines[1]


def test_the_request_id_is_in_v2_problems_but_not_in_v1_error_bodies(memory_world):
    headers = {"X-Request-ID": "trace-7"}
    problem = problem_of(send(memory_world, "GET", "/api/v2/users/999", headers=headers), 404)
    assert problem["request_id"] == "trace-7"
    problem = problem_of(send(memory_world, "POST", "/api/v2/sessions", {"title": ""}), 400)
    assert re.fullmatch(r"[0-9a-f]{32}", problem["request_id"])
    # v1 stays the iOS app's contract: the same body as before, the id in the header only.
    result = send(memory_world, "GET", "/api/users/999", headers=headers)
    assert error_of(result, 404) == "User not found!"
    assert result.text == '{"error":"User not found!"}'
    assert result.headers["x-request-id"] == "trace-7"


def test_the_openapi_document_declares_the_request_id_of_problems(memory_world):
    document = send(memory_world, "GET", "/api/v2/openapi.json").json
    assert document["components"]["schemas"]["Problem"]["properties"]["request_id"]["type"] == "string"


# ---------------------------------------------------------------- text logs


def test_text_lines_are_those_of_the_standard_formatter(memory_world, caplog):
    """The date and time formatted once a second change nothing a line shows: within a second,
    across seconds, and for an access line."""
    fmt = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"
    caplog.set_level(logging.INFO, logger="luminary.access")
    send(memory_world, "GET", "/api/users/{ada}")
    (access,) = [r for r in caplog.records if r.name == "luminary.access"]
    ours, standard = TextFormatter(fmt), logging.Formatter(fmt)
    records = [access]
    for created in (1_764_000_000.0045, 1_764_000_000.999, 1_764_000_001.5, 1_764_000_000.25):
        record = logging.makeLogRecord({"name": "luminary.sql", "msg": "noted", "levelname": "INFO"})
        record.created, record.msecs = created, (created - int(created)) * 1000
        records.append(record)
    lines = [ours.format(record) for record in records]
    assert lines == [standard.format(record) for record in records]
    assert f'luminary.access: 127.0.0.1 "GET /api/users/{memory_world.ada}" 200 ' in lines[0]
    assert [line.split(" ", 2)[1][-3:] for line in lines[1:]] == ["004", "999", "500", "250"]


# ---------------------------------------------------------------- JSON logs


def test_a_json_access_line_has_its_fields_and_request_id(memory_world, caplog):
    caplog.set_level(logging.INFO, logger="luminary.access")
    send(memory_world, "GET", "/api/users/{ada}", headers={"X-Request-ID": "trace-9"})
    send(memory_world, "GET", "/api/users/1%0Aforged")
    records = [r for r in caplog.records if r.name == "luminary.access"]
    first, second = [json.loads(JsonFormatter().format(r)) for r in records]
    assert first["request_id"] == "trace-9"
    assert first["level"] == "INFO"
    assert first["logger"] == "luminary.access"
    assert first["pid"] == os.getpid()
    assert (first["method"], first["path"], first["status"]) == (
        "GET",
        f"/api/users/{memory_world.ada}",
        200,
    )
    assert isinstance(first["duration_ms"], float)
    assert first["message"].endswith("request_id=trace-9")
    assert datetime.fromisoformat(first["time"]).utcoffset() == timedelta(0)
    assert second["path"] == "/api/users/1\nforged"  # the client's path as sent, JSON-escaped
    assert "\n" not in JsonFormatter().format(records[1])  # one line


def test_a_json_line_names_the_request_being_answered_and_carries_tracebacks(clock, caplog):
    caplog.set_level(logging.INFO, logger="luminary")
    formatted: list[str] = []

    def readiness() -> None:
        logging.getLogger("luminary.sql").warning("the database said no")
        # A handler formats a record as it is logged, in the thread answering the request.
        formatted.append(JsonFormatter().format(caplog.records[-1]))
        raise RuntimeError("boom")

    client = falcon.testing.TestClient(
        create_app(InMemoryStore().uow_factory(), clock=clock, readiness=readiness)
    )
    client.simulate_get("/readyz", headers={"X-Request-ID": "trace-11"})
    (warned,) = [json.loads(line) for line in formatted]
    assert warned["message"] == "the database said no"
    assert warned["request_id"] == "trace-11"
    assert warned["level"] == "WARNING"
    try:
        raise ValueError("why")
    except ValueError:
        record = logging.getLogger("luminary.http").makeRecord(
            "luminary.http", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
        )
    line = json.loads(JsonFormatter().format(record))
    assert "request_id" not in line  # no request is being answered now
    assert "ValueError: why" in line["exception"]


@pytest.mark.slow
def test_serve_writes_json_log_lines(tmp_path):
    pytest.importorskip("luminary.sql")
    from served import serve

    with serve(f"sqlite:///{tmp_path / 'logs.db'}", "--log-format", "json", threads=1) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("GET", "/api/constellations/", headers={"X-Request-ID": "trace-e2e"})
        assert connection.getresponse().status == 200
        connection.close()
        deadline = time.monotonic() + 10
        while "trace-e2e" not in "".join(server.output) and time.monotonic() < deadline:
            time.sleep(0.05)
    (line,) = [line for line in server.output if "trace-e2e" in line]
    access = json.loads(line)
    assert access["request_id"] == "trace-e2e"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/api/constellations/", 200)
    assert server.process.returncode == 0


# ---------------------------------------------------------------- several workers, end to end


def _get(port: int, path: str) -> tuple[int, str]:
    """One GET on a connection of its own (each new connection goes to whichever worker takes it)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def _answering_pids(output: list[str]) -> set[int]:
    return {int(pid) for pid in re.findall(r"\[(\d+)\] luminary\.access", "".join(output))}


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid …; comm may hold spaces and parentheses.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.add(int(entry.name))
    return found


def _until(condition: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_the_supervisor_says_which_workers_ended(capfd):
    from luminary.http.workers import Supervisor

    ended: list[int] = []
    supervisor = Supervisor(
        lambda: 3, 2, quick_seconds=5, most_quick_deaths=3, first_pause=0.01, ended=ended.append
    )
    assert supervisor.run() == 1
    assert len(ended) == len(set(ended)) >= 3  # every worker started, once each
    assert supervisor.workers == {}

    def fails(pid: int) -> None:
        raise OSError("no such directory")

    # What the hook raises is logged, and the supervisor goes on.
    assert (
        Supervisor(lambda: 3, 1, quick_seconds=5, most_quick_deaths=2, first_pause=0.01, ended=fails).run()
        == 1
    )
    capfd.readouterr()


@pytest.mark.slow
def test_metrics_add_up_every_worker(tmp_path):
    pytest.importorskip("luminary.sql")
    from served import serve

    with serve(f"sqlite:///{tmp_path / 'metrics.db'}", threads=1, workers=2) as server:
        workers = _children(server.process.pid)
        assert len(workers) == 2
        sent = 0
        with ThreadPoolExecutor(8) as pool:
            for _ in range(20):  # which worker takes a connection is the kernel's choice
                statuses = list(pool.map(lambda _: _get(server.port, "/api/constellations/")[0], range(16)))
                assert set(statuses) == {200}
                sent += len(statuses)
                if _until(lambda: _answering_pids(server.output) == workers, seconds=0.5):
                    break
        assert _answering_pids(server.output) == workers, "both workers answered"

        # Whichever worker answers a scrape, it reports the requests of both.
        for scrapes in range(6):
            status, text = _get(server.port, "/metrics")
            assert status == 200
            samples = parse(text)
            total = partial(value, samples, "luminary_http_requests_total", method="GET")
            assert total(route="/api/constellations", status="200") == sent
            assert total(route="/metrics", status="200") == scrapes  # those answered before this one
            count = value(
                samples,
                "luminary_http_request_duration_seconds_count",
                method="GET",
                route="/api/constellations",
            )
            assert count == sent
            assert value(samples, "luminary_http_requests_in_flight") == 1  # this scrape
            pools = {dict(labels)["pid"] for name, labels in samples if name == "luminary_db_pool_size"}
            assert pools == {str(pid) for pid in workers}, "one pool per live worker"

        # A worker killed: its requests stay counted, its pool leaves, its replacement's joins.
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        assert _until(lambda: len(_children(server.process.pid) - {victim}) == 2)
        replacement = (_children(server.process.pid) - workers).pop()
        assert _until(lambda: f"worker {replacement} replaces it" in "".join(server.output))

        def pools_now() -> set[str]:
            samples = parse(_get(server.port, "/metrics")[1])
            return {dict(labels)["pid"] for name, labels in samples if name == "luminary_db_pool_size"}

        live = {str(pid) for pid in _children(server.process.pid)}
        assert str(victim) not in live
        assert _until(lambda: pools_now() == live, seconds=10)
        samples = parse(_get(server.port, "/metrics")[1])
        total = partial(value, samples, "luminary_http_requests_total", method="GET")
        assert total(route="/api/constellations", status="200") == sent
    assert server.process.returncode == 0
    assert "Traceback" not in "".join(server.output)


@pytest.mark.slow
def test_the_workers_metrics_directory_is_removed_when_the_server_stops(tmp_path, monkeypatch):
    pytest.importorskip("luminary.sql")
    from served import serve

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # where the server makes its directory
    with serve(f"sqlite:///{tmp_path / 'metrics.db'}", threads=1, workers=2) as server:
        assert _get(server.port, "/metrics")[0] == 200
        made = [p for p in scratch.iterdir() if p.name.startswith("luminary-metrics-")]
        assert len(made) == 1
        assert any(p.suffix == ".db" for p in made[0].iterdir())
    assert server.process.returncode == 0
    assert not list(scratch.iterdir())
