"""End to end: the real ``luminary serve`` under waitress, on SQLite and PostgreSQL."""

from __future__ import annotations

import http.client
import json
import threading

import pytest

pytest.importorskip("luminary.sql", reason="luminary-sql is not installed")
pytest.importorskip("luminary.http", reason="luminary-http is not installed")

from served import serve

pytestmark = pytest.mark.slow


def test_the_ios_app_flow(database_url):
    with serve(database_url) as server:
        api = server.client()
        status, user = api.request("POST", "/api/users/", {"display_name": "Ada"})
        assert status == 201
        uid = user["id"]
        status, listed = api.request("GET", "/api/constellations/")
        assert status == 200
        assert [(c["name"], c["weight"]) for c in listed["constellations"]] == [
            ("Triangulum", 3),
            ("Delphinus", 5),
            ("Big Dipper", 7),
        ]
        triangulum = listed["constellations"][0]["id"]
        assert api.request("GET", f"/api/users/{uid}/current-attempt/")[0] == 404

        status, attempt = api.request(
            "POST", f"/api/users/{uid}/constellation_attempts/", {"constellation_id": triangulum}
        )
        assert (status, attempt["stars_completed"]) == (201, 0)
        aid = attempt["id"]
        status, current = api.request("GET", f"/api/users/{uid}/current-attempt")
        assert (status, current["id"]) == (200, aid)

        status, session = api.request(
            "POST", "/api/sessions/", {"user_id": uid, "constellation_attempt_id": aid, "minutes": 25}
        )
        assert (status, session["is_completed"], session["title"]) == (201, False, "Triangulum")
        status, session = api.request("PUT", f"/api/sessions/{session['id']}/complete/")
        assert (status, session["is_completed"]) == (200, True)

        status, starred = api.request("PUT", f"/api/constellation_attempts/{aid}/")
        assert (status, starred["stars_completed"]) == (200, 1)

        status, post = api.request(
            "POST",
            "/api/posts/",
            {
                "user_id": uid,
                "constellation_id": triangulum,
                "post_type": "progress",
                "message": "1 star",
                "study_duration": 25,
            },
        )
        assert (status, post["user"]["display_name"]) == (201, "Ada")

        status, done = api.request("PUT", f"/api/constellation_attempts/{aid}/complete")
        assert status == 200
        assert done["user_updated"] is True
        assert done["message"] == "Constellation completed successfully!"
        assert done["attempt"]["stars_completed"] == 3

        status, feed = api.request("GET", "/api/feed/")
        assert (status, [p["message"] for p in feed["posts"]]) == (200, ["1 star"])
        status, minutes = api.request("GET", f"/api/users/{uid}/total_minutes/")
        assert (status, minutes) == (200, {"user_id": uid, "display_name": "Ada", "total_minutes": 25})
        status, completed = api.request("GET", f"/api/users/{uid}/completed_constellations/")
        assert status == 200
        assert completed["num_completed"] == 1
        assert completed["completed_constellations"][0]["name"] == "Triangulum"

        status, cancelled = api.request("PUT", f"/api/sessions/{session['id']}/cancel")
        assert (status, cancelled["is_completed"], cancelled["status"]) == (200, False, "cancelled")
        assert api.request("GET", f"/api/users/{uid}/total_minutes")[1]["total_minutes"] == 0

        status, _ = api.request("DELETE", f"/api/users/{uid}/")
        assert status == 200
        assert api.request("GET", f"/api/users/{uid}")[0] == 404
        assert api.request("GET", "/api/feed")[1] == {"posts": []}
        assert api.request("GET", "/healthz") == (200, {"status": "ok"})
        assert api.request("GET", "/readyz") == (200, {"status": "ready"})
        api.close()
    access_lines = [line for line in server.output if '"GET /api/feed/' in line]
    assert access_lines, "one access-log line per request"
    assert server.process.returncode == 0, "SIGTERM stops the server cleanly"


def test_the_ios_app_and_the_learning_sessions_document_on_one_server(database_url):
    """The app's calls and the Learning Sessions document's examples, replayed against one server."""
    with serve(database_url) as server:
        api = server.client()
        # The app finds a returning student by name in the whole user list: the 301st too. Names
        # may be long (the app's sign-up field has no limit), which makes this list long enough
        # (over 256 KiB) to be sent in chunks.
        for i in range(300):
            name = f"Student {i} ".ljust(1000, "x")
            assert api.request("POST", "/api/users/", {"display_name": name})[0] == 201
        status, ada = api.request("POST", "/api/users/", {"display_name": "Ada " + "L" * 300})
        assert status == 201
        raw = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        raw.request("GET", "/api/users/")
        response = raw.getresponse()
        assert response.getheader("Transfer-Encoding") == "chunked"
        assert response.getheader("Content-Length") is None
        users = json.loads(response.read())["users"]
        raw.close()
        assert len(users) == 301
        assert [u["id"] for u in users if u["display_name"] == ada["display_name"]] == [ada["id"]]

        uid, triangulum = ada["id"], 1
        sessions = []
        for _ in range(2):  # Triangulum twice: both completions count
            aid = api.request(
                "POST", f"/api/users/{uid}/constellation_attempts/", {"constellation_id": triangulum}
            )[1]["id"]
            status, session = api.request(
                "POST", "/api/sessions/", {"user_id": uid, "constellation_attempt_id": aid, "minutes": 25}
            )
            assert (status, session["is_completed"], session["user"]["id"]) == (201, False, uid)
            status, session = api.request("PUT", f"/api/sessions/{session['id']}/complete/")
            assert (status, session["is_completed"], session["status"]) == (200, True, "completed")
            sessions.append(session)
            assert api.request("PUT", f"/api/constellation_attempts/{aid}/complete")[0] == 200
        status, cancelled = api.request("PUT", f"/api/sessions/{sessions[1]['id']}/cancel")
        assert (status, cancelled["status"], cancelled["is_completed"]) == (200, "cancelled", False)
        completed = api.request("GET", f"/api/users/{uid}/completed_constellations/")[1]
        assert completed["num_completed"] == 2
        assert [c["name"] for c in completed["completed_constellations"]] == ["Triangulum", "Triangulum"]
        status, post = api.request(
            "POST",
            "/api/posts/",
            {
                "user_id": uid,
                "constellation_id": triangulum,
                "post_type": "completion",
                "study_duration": 3000,
            },
        )
        assert (status, post["study_duration"]) == (201, 3000)  # a whole attempt's minutes

        # The Learning Sessions document, at the path it names.
        status, created = api.request("POST", "/api/sessions/", {"title": "Learn Flask", "status": "planned"})
        assert status == 201
        learning = created["data"]
        assert (learning["title"], learning["status"], learning["description"]) == (
            "Learn Flask",
            "planned",
            None,
        )
        assert learning["created_at"].endswith("+00:00")
        sid = learning["id"]
        status, listed = api.request("GET", "/api/sessions/")
        assert status == 200
        assert listed["data"][0]["id"] == sid
        status, patched = api.request(
            "PATCH", f"/api/sessions/{sid}", {"status": "in_progress", "difficulty": "medium"}
        )
        assert (status, patched["data"]["status"], patched["data"]["difficulty"]) == (
            200,
            "in_progress",
            "medium",
        )
        assert api.request("GET", f"/api/v1/sessions/{sid}") == (200, patched)
        status, error = api.request("POST", "/api/sessions/", {"title": ""})
        assert status == 400
        assert set(error) == {"error"}
        assert "title" in error["error"]
        assert api.request("DELETE", f"/api/sessions/{sid}") == (204, None)
        assert api.request("GET", f"/api/sessions/{sid}") == (404, {"error": "Session not found"})
        # The app's study sessions were not touched.
        assert api.request("GET", f"/api/users/{uid}/total_minutes")[1]["total_minutes"] == 25
        api.close()
    assert server.process.returncode == 0


def test_sixteen_clients_keep_counters_exact(database_url):
    clients, stars_each, sessions_each, minutes = 16, 60, 6, 7
    with serve(database_url, threads=8) as server:
        api = server.client()
        uid = api.request("POST", "/api/users", {"display_name": "Racer"})[1]["id"]
        cid = api.request("POST", "/api/constellations", {"name": "Huge", "weight": 1000})[1]["id"]
        aid = api.request("POST", f"/api/users/{uid}/constellation_attempts", {"constellation_id": cid})[1][
            "id"
        ]
        statuses: list[int] = []
        lock = threading.Lock()

        def work() -> None:
            mine = server.client()
            seen = []
            for i in range(max(stars_each, sessions_each)):
                if i < stars_each:
                    seen.append(mine.request("PUT", f"/api/constellation_attempts/{aid}/")[0])
                if i < sessions_each:
                    status, s = mine.request(
                        "POST",
                        "/api/sessions/",
                        {"user_id": uid, "constellation_attempt_id": aid, "minutes": minutes},
                    )
                    seen.append(status)
                    # Every client completes its session twice: the minutes must count once.
                    seen.append(mine.request("PUT", f"/api/sessions/{s['id']}/complete")[0])
                    seen.append(mine.request("PUT", f"/api/sessions/{s['id']}/complete/")[0])
            mine.close()
            with lock:
                statuses.extend(seen)

        threads = [threading.Thread(target=work) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [s for s in statuses if s >= 500] == []
        assert set(statuses) <= {200, 201}
        attempt = api.request("GET", f"/api/constellation_attempts/{aid}")[1]
        assert attempt["stars_completed"] == clients * stars_each
        total = api.request("GET", f"/api/users/{uid}/total_minutes")[1]["total_minutes"]
        assert total == clients * sessions_each * minutes
        api.close()


def test_serve_refuses_a_malformed_database_url(tmp_path):
    from served import run_luminary

    result = run_luminary("serve", "--database-url", "notadatabase://", "--port", "0", cwd=tmp_path)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("luminary:")


def test_command_help():
    import subprocess

    from served import luminary_command

    for args in (
        ["--help"],
        ["serve", "--help"],
        ["db", "upgrade", "--help"],
        ["seed", "--help"],
        ["sync-minutes", "--help"],
    ):
        result = subprocess.run([*luminary_command(), *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0
        assert "usage: luminary" in result.stdout
