"""The audit's defects that live in the server, against the real ``luminary serve``.

A SQLite file removed under a running server, a PostgreSQL database dropped
and created again, and a forged access-log line; the rest of the edge is in
``test_e2e_edge.py``.
"""

from __future__ import annotations

import http.client
import time

import pytest

from served import Cable, postgres_database, serve


def _remove(path) -> None:
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def test_a_sqlite_file_removed_under_the_server_refuses_writes_and_readyz_says_so(tmp_path):
    path = tmp_path / "luminary.db"
    with serve(f"sqlite:///{path}", "--no-seed", threads=2) as server:
        client = server.client()
        assert client.request("GET", "/readyz") == (200, {"status": "ready"})
        assert client.request("POST", "/api/users/", {"display_name": "Ada"})[0] == 201
        _remove(path)
        # Before: 201, and every such user was gone after a restart.
        for name in ("Eve", "Lin", "Mo"):
            status, body = client.request("POST", "/api/users/", {"display_name": name})
            assert status == 503, body
            assert "try again" in body["error"]
        status, body = client.request("GET", "/readyz")
        assert status == 503
        assert "was removed" in body["reason"]
        client.close()
    logged = "".join(server.output)
    assert "Traceback" not in logged
    assert logged.count("was removed while the server ran") == 1, logged  # once, not per request


@pytest.mark.postgres
def test_a_postgres_database_dropped_and_created_again_is_served_again_without_a_restart():
    import sqlalchemy as sa

    from sql_fixtures import postgres_server_url

    server_url = postgres_server_url()
    with postgres_database(server_url) as url, serve(url, threads=2) as server:
        client = server.client()
        assert client.request("POST", "/api/users/", {"display_name": "Ada"})[0] == 201
        name = sa.engine.make_url(url).database
        admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            client.close()
            status, _ = client.request("GET", "/api/users/")
            assert status == 503
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        # Before: 500 until a restart. Now 503 while the tables are made again, then served.
        deadline = time.monotonic() + 20
        while (status := client.request("GET", "/api/constellations/")[0]) != 200:
            assert status == 503
            assert time.monotonic() < deadline
            time.sleep(0.2)
        status, body = client.request("GET", "/api/constellations/")
        assert len(body["constellations"]) > 0  # seeded again, as a restart would have
        assert client.request("POST", "/api/users/", {"display_name": "Eve"})[0] == 201
        client.close()
    assert "Traceback" not in "".join(server.output)


def test_a_newline_in_the_path_cannot_forge_an_access_log_line(tmp_path):
    with serve(f"sqlite:///{tmp_path / 'luminary.db'}", "--no-seed", threads=2) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        forged = '127.0.0.1 "GET /api/v2/forged HTTP/1.1" 200 0.1ms'
        connection.request("GET", "/api/users/1%0A" + forged.replace(" ", "%20").replace('"', "%22"))
        assert connection.getresponse().status == 404
        connection.close()
        time.sleep(0.3)
    lines = [line for line in "".join(server.output).splitlines() if "forged" in line]
    assert len(lines) == 1, lines
    assert lines[0].index("forged") > lines[0].index("/api/users/1\\x0a127.0.0.1 \\x22GET")


@pytest.mark.postgres
def test_postgres_unreachable_is_503_logged_once_and_served_again_when_it_returns():
    import sqlalchemy as sa

    from sql_fixtures import postgres_server_url

    server_url = postgres_server_url()
    parsed = sa.engine.make_url(server_url)
    cable = Cable((parsed.host or "127.0.0.1", parsed.port or 5432))
    try:
        with postgres_database(server_url) as url:
            via_cable = sa.engine.make_url(url).set(host="127.0.0.1", port=cable.port)
            with serve(via_cable.render_as_string(hide_password=False), threads=2) as server:
                client = server.client()
                assert client.request("POST", "/api/users/", {"display_name": "Ada"})[0] == 201
                cable.unplug()
                # Before: 500 and a traceback for each of these.
                for _ in range(30):
                    status, body = client.request("GET", "/api/users/")
                    assert status == 503, body
                assert client.request("GET", "/readyz")[0] == 503
                cable.plug()
                deadline = time.monotonic() + 20
                while client.request("GET", "/api/users/")[0] != 200:
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
                status, body = client.request("GET", "/api/users/")
                assert [u["display_name"] for u in body["users"]] == ["Ada"]
                client.close()
            logged = "".join(server.output)
    finally:
        cable.close()
    assert "Traceback" not in logged
    assert logged.count("Requests are answered 503 until it is back") == 1, logged
    assert logged.count("The database answers again") == 1, logged
