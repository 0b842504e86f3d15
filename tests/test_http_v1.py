"""API v1 over HTTP: every endpoint, its shapes, lists and flows, on every storage backend.

The contract is the v1 part of the API document: bare objects, lists wrapped under
a plural key, every path under ``/api`` and ``/api/v1``, with or without a
trailing slash. Errors have their own module, ``test_http_v1_errors``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import attrs
import falcon.testing
import pytest

from http_v1_support import (
    ATTEMPT_COMPLETED,
    COMPLETED_CONSTELLATIONS,
    SYNC_MINUTES,
    TOTAL_MINUTES,
    Json,
    V1World,
    check_attempt,
    check_constellation,
    check_learning_session,
    check_post,
    check_session,
    check_user,
    error_of,
    listed,
    make_client,
)
from luminary import core
from luminary.core import ManualClock, documents
from luminary.http import streaming, v1
from luminary.http.media import dumps


@pytest.fixture
def world(uow_factory, clock, v1_mode) -> V1World:
    return V1World.build(uow_factory, clock, v1_mode=v1_mode)


def call(world: V1World, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    """Send a request to ``world``'s app, check the status and return the JSON answer.

    ``{name}`` in ``path``, and string values ``"{name}"`` of ``body``, stand for ids of ``world``.
    """
    result = world.client.simulate_request(method, path.format(**world.ids), json=world.resolve(body))
    assert result.status_code == status, (method, path, result.status, result.text)
    if status == 204:
        assert result.content == b""
        return None
    assert result.headers["content-type"].startswith("application/json")
    return result.json


def data(world: V1World, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    """Like :func:`call`, for the Learning Sessions routes: the ``data`` of a ``{"data": …}`` answer."""
    answer = call(world, method, path, body, status)
    assert set(answer) == {"data"}, answer
    return answer["data"]


# ---------------------------------------------------------------- every route, every spelling

Check = Callable[[Json, V1World], None]


def _created_user(j: Json, w: V1World) -> None:
    check_user(j)
    assert j["display_name"] == "Lin"
    assert (j["total_minutes"], j["current_attempt_id"], j["current_attempt"]) == (0, None, None)
    assert (j["constellation_attempts"], j["sessions"], j["posts"]) == ([], [], [])


def _users(j: Json, w: V1World) -> None:
    assert listed(j, "users", check_user) == [w.ada, w.grace]


def _ada(j: Json, w: V1World) -> None:
    check_user(j)
    assert (j["id"], j["display_name"], j["current_attempt_id"]) == (w.ada, "Ada", w.a2)


def _message(j: Json, w: V1World) -> None:
    assert set(j) == {"message"}
    assert isinstance(j["message"], str)
    assert j["message"]


def _total_minutes(j: Json, w: V1World) -> None:
    assert set(j) == TOTAL_MINUTES
    assert j == {"user_id": w.ada, "display_name": "Ada", "total_minutes": 0}


def _completed(j: Json, w: V1World) -> None:
    assert set(j) == COMPLETED_CONSTELLATIONS
    assert (j["user_id"], j["display_name"]) == (w.grace, "Grace")
    assert listed({"c": j["completed_constellations"]}, "c", check_constellation) == [w.triangulum]
    assert j["num_completed"] == 1


def _current(j: Json, w: V1World) -> None:
    check_attempt(j)
    assert (j["id"], j["user_id"], j["constellation_id"]) == (w.a2, w.ada, w.delphinus)


def _synced(j: Json, w: V1World) -> None:
    assert set(j) == SYNC_MINUTES
    assert isinstance(j["message"], str)
    assert j["message"]
    assert j["users_updated"] == 0


def _created_constellation(j: Json, w: V1World) -> None:
    check_constellation(j)
    assert (j["name"], j["weight"], j["user_attempts"], j["posts"]) == ("Orion", 7, [], [])


def _constellations(j: Json, w: V1World) -> None:
    assert listed(j, "constellations", check_constellation) == [w.triangulum, w.delphinus, w.big_dipper]


def _triangulum(j: Json, w: V1World) -> None:
    check_constellation(j)
    assert (j["id"], j["name"], j["weight"]) == (w.triangulum, "Triangulum", 3)


def _renamed(j: Json, w: V1World) -> None:
    check_constellation(j)
    assert (j["id"], j["name"], j["weight"]) == (w.big_dipper, "Ursa Major", 7)


def _constellation_deleted(j: Json, w: V1World) -> None:
    assert j == {"message": "Constellation deleted successfully!"}


def _started(j: Json, w: V1World) -> None:
    check_attempt(j)
    assert (j["user_id"], j["constellation_id"], j["stars_completed"], j["sessions"]) == (
        w.ada,
        w.big_dipper,
        0,
        [],
    )


def _attempts(j: Json, w: V1World) -> None:
    assert listed(j, "constellation_attempts", check_attempt) == [w.a1, w.a2, w.a3]


def _a1(j: Json, w: V1World) -> None:
    check_attempt(j)
    assert (j["id"], j["stars_completed"]) == (w.a1, 0)


def _ada_attempts(j: Json, w: V1World) -> None:
    assert listed(j, "constellation_attempts", check_attempt) == [w.a1, w.a2]


def _one_star(j: Json, w: V1World) -> None:
    check_attempt(j)
    assert (j["id"], j["stars_completed"]) == (w.a1, 1)


def _attempt_completed(j: Json, w: V1World) -> None:
    assert set(j) == ATTEMPT_COMPLETED
    check_attempt(j["attempt"])
    assert (j["attempt"]["id"], j["attempt"]["stars_completed"]) == (w.a1, 3)
    assert j["user_updated"] is True
    assert j["message"] == "Constellation completed successfully!"


def _created_session(j: Json, w: V1World) -> None:
    check_session(j)
    assert (j["user_id"], j["constellation_attempt_id"], j["minutes"]) == (w.ada, w.a2, 25)
    assert (j["is_completed"], j["status"], j["title"]) == (False, "planned", "Delphinus")


def _sessions(j: Json, w: V1World) -> None:
    assert listed(j, "data", check_learning_session) == [w.s4, w.s3, w.s2, w.s1]


def _s1(j: Json, w: V1World) -> None:
    assert set(j) == {"data"}
    check_learning_session(j["data"])
    assert (j["data"]["id"], j["data"]["minutes"], j["data"]["status"]) == (w.s1, 10, "planned")


def _s1_hard(j: Json, w: V1World) -> None:
    assert set(j) == {"data"}
    check_learning_session(j["data"])
    assert (j["data"]["id"], j["data"]["difficulty"]) == (w.s1, "hard")


def _no_content(j: None, w: V1World) -> None:
    assert j is None


def _a1_sessions(j: Json, w: V1World) -> None:
    assert listed(j, "sessions", check_session) == [w.s2, w.s1]


def _s1_completed(j: Json, w: V1World) -> None:
    check_session(j)
    assert (j["id"], j["is_completed"], j["status"]) == (w.s1, True, "completed")


def _s1_cancelled(j: Json, w: V1World) -> None:
    check_session(j)
    assert (j["id"], j["is_completed"], j["status"]) == (w.s1, False, "cancelled")


def _created_post(j: Json, w: V1World) -> None:
    check_post(j)
    assert (j["user_id"], j["constellation_id"], j["post_type"]) == (w.grace, w.delphinus, "progress")
    assert (j["message"], j["study_duration"]) == ("Hello", 30)


def _posts(j: Json, w: V1World) -> None:
    assert listed(j, "posts", check_post) == [w.p3, w.p2, w.p1]


def _p1(j: Json, w: V1World) -> None:
    check_post(j)
    assert (j["id"], j["message"], j["study_duration"]) == (w.p1, "Two stars!", 10)


def _post_deleted(j: Json, w: V1World) -> None:
    assert j == {"message": "Post deleted successfully!"}


def _ada_posts(j: Json, w: V1World) -> None:
    assert listed(j, "posts", check_post) == [w.p3, w.p1]


def _triangulum_posts(j: Json, w: V1World) -> None:
    assert listed(j, "posts", check_post) == [w.p2, w.p1]


#: Every v1 route: method, path (after the prefix), body, status, what the answer must be.
def _login(j: Any, w: V1World) -> None:
    assert j == {"user_id": w.grace, "login": "grace"}


ROUTES: list[tuple[str, str, Json | None, int, Check]] = [
    ("POST", "/users", {"display_name": "Lin"}, 201, _created_user),
    ("GET", "/users", None, 200, _users),
    ("GET", "/users/{ada}", None, 200, _ada),
    ("DELETE", "/users/{grace}", None, 200, _message),
    ("PUT", "/users/{grace}/login", {"login": "Grace", "password": "amazing grace"}, 201, _login),
    ("GET", "/users/{ada}/total_minutes", None, 200, _total_minutes),
    ("GET", "/users/{grace}/completed_constellations", None, 200, _completed),
    ("GET", "/users/{ada}/current-attempt", None, 200, _current),
    ("POST", "/users/sync-minutes", None, 200, _synced),
    ("POST", "/constellations", {"name": "Orion", "weight": 7}, 201, _created_constellation),
    ("GET", "/constellations", None, 200, _constellations),
    ("GET", "/constellations/{triangulum}", None, 200, _triangulum),
    ("PUT", "/constellations/{big_dipper}", {"name": "Ursa Major"}, 200, _renamed),
    ("DELETE", "/constellations/{big_dipper}", None, 200, _constellation_deleted),
    ("POST", "/users/{ada}/constellation_attempts", {"constellation_id": "{big_dipper}"}, 201, _started),
    ("GET", "/constellation_attempts", None, 200, _attempts),
    ("GET", "/constellation_attempts/{a1}", None, 200, _a1),
    ("GET", "/users/{ada}/constellation_attempts", None, 200, _ada_attempts),
    ("PUT", "/constellation_attempts/{a1}", None, 200, _one_star),
    ("PUT", "/constellation_attempts/{a1}/complete", None, 200, _attempt_completed),
    ("DELETE", "/constellation_attempts/{a1}", None, 200, _message),
    (
        "POST",
        "/sessions",
        {"user_id": "{ada}", "constellation_attempt_id": "{a2}", "minutes": 25},
        201,
        _created_session,
    ),
    ("GET", "/sessions", None, 200, _sessions),
    ("GET", "/sessions/{s1}", None, 200, _s1),
    ("PATCH", "/sessions/{s1}", {"difficulty": "hard"}, 200, _s1_hard),
    ("DELETE", "/sessions/{s1}", None, 204, _no_content),
    ("GET", "/constellation_attempts/{a1}/sessions", None, 200, _a1_sessions),
    ("PUT", "/sessions/{s1}/complete", None, 200, _s1_completed),
    ("PUT", "/sessions/{s1}/cancel", None, 200, _s1_cancelled),
    (
        "POST",
        "/posts",
        {
            "user_id": "{grace}",
            "constellation_id": "{delphinus}",
            "post_type": "progress",
            "message": "Hello",
            "study_duration": 30,
        },
        201,
        _created_post,
    ),
    ("GET", "/posts", None, 200, _posts),
    ("GET", "/posts/{p1}", None, 200, _p1),
    ("DELETE", "/posts/{p1}", None, 200, _post_deleted),
    ("GET", "/users/{ada}/posts", None, 200, _ada_posts),
    ("GET", "/constellations/{triangulum}/posts", None, 200, _triangulum_posts),
    ("GET", "/feed", None, 200, _posts),
]
#: The two lists the original app also served outside ``/api``.
UNPREFIXED = {"/users/{ada}/posts", "/constellations/{triangulum}/posts"}


def _spellings() -> list[Any]:
    params = []
    for method, path, body, status, check in ROUTES:
        spellings = [("/api", "/"), ("/api/v1", "")]
        if path in UNPREFIXED:
            spellings += [("", "/"), ("", "")]
        for prefix, slash in spellings:
            full = prefix + path + slash
            params.append(pytest.param(method, full, body, status, check, id=f"{method} {full}"))
    return params


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{id}", path)


def test_the_route_table_covers_every_v1_route():
    """The table above has one row per row of the contract, and one per route the app serves."""
    served = {
        (method, _shape(path))
        for path, resource in v1.ROUTES
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
        if hasattr(resource, f"on_{method.lower()}")
    }
    tested = {(method, _shape(path)) for method, path, *_ in ROUTES}
    assert len(tested) == len(ROUTES) == 36
    assert tested == served


@pytest.mark.parametrize(("method", "path", "body", "status", "check"), _spellings())
def test_every_route(world, method, path, body, status, check):
    check(call(world, method, path, body, status), world)


GETS = [path for method, path, _, _, _ in ROUTES if method == "GET"]


@pytest.mark.parametrize("path", GETS)
def test_every_spelling_of_a_path_gives_the_same_answer(world, path):
    answers = [
        call(world, "GET", prefix + path + slash) for prefix in ("/api", "/api/v1") for slash in ("", "/")
    ]
    if path in UNPREFIXED:
        answers += [call(world, "GET", path), call(world, "GET", path + "/")]
    assert all(answer == answers[0] for answer in answers)


# ---------------------------------------------------------------- lists: order, limit, offset

LISTS: list[tuple[str, str, Callable[[Json], None], list[str]]] = [
    ("/api/users", "users", check_user, ["ada", "grace"]),
    ("/api/constellations", "constellations", check_constellation, ["triangulum", "delphinus", "big_dipper"]),
    ("/api/constellation_attempts", "constellation_attempts", check_attempt, ["a1", "a2", "a3"]),
    ("/api/users/{ada}/constellation_attempts", "constellation_attempts", check_attempt, ["a1", "a2"]),
    ("/api/sessions", "data", check_learning_session, ["s4", "s3", "s2", "s1"]),
    ("/api/constellation_attempts/{a1}/sessions", "sessions", check_session, ["s2", "s1"]),
    ("/api/posts", "posts", check_post, ["p3", "p2", "p1"]),
    ("/api/feed", "posts", check_post, ["p3", "p2", "p1"]),
    ("/api/users/{ada}/posts", "posts", check_post, ["p3", "p1"]),
    ("/users/{ada}/posts", "posts", check_post, ["p3", "p1"]),
    ("/api/constellations/{triangulum}/posts", "posts", check_post, ["p2", "p1"]),
    ("/constellations/{triangulum}/posts", "posts", check_post, ["p2", "p1"]),
]


@pytest.mark.parametrize(("path", "key", "check", "names"), LISTS)
def test_list_order_limit_and_offset(world, path, key, check, names):
    expected = [world.ids[name] for name in names]

    def ids(query: str = "") -> list[int]:
        return listed(call(world, "GET", path + query), key, check)

    assert ids() == expected
    assert ids("?limit=1") == expected[:1]
    assert ids("?limit=2") == expected[:2]
    assert ids("?offset=1") == expected[1:]
    assert ids("?limit=1&offset=1") == expected[1:2]
    assert ids(f"?offset={len(expected)}") == []
    assert ids("?limit=500") == expected
    assert ids("?offset=0&limit=100") == expected
    assert ids(f"?limit={2**63 - 1}") == expected


@pytest.mark.parametrize(("path", "key", "check", "names"), LISTS)
def test_list_refuses_bad_page_parameters(world, path, key, check, names):
    with world.unchanged():
        for query, field in [
            (f"limit={2**63}", "limit"),
            ("limit=0", "limit"),
            ("limit=-1", "limit"),
            ("limit=abc", "limit"),
            ("limit=", "limit"),
            ("offset=-1", "offset"),
            ("offset=abc", "offset"),
            ("offset=1000001", "offset"),
        ]:
            result = world.client.simulate_get(path.format(**world.ids) + "?" + query)
            assert field in error_of(result, 400), query


def test_newest_first_means_by_creation_time_not_by_id(world):
    # Made last, so with the highest ids, but dated a day earlier: they come last.
    earlier = ManualClock(datetime(2025, 11, 30, 8, 0, tzinfo=UTC))
    session = core.create_session(
        world.uow_factory(),
        core.CreateSession(constellation_attempt_id=world.a1, minutes=1),
        clock=earlier,
        actor=core.SYSTEM,
    )
    post = core.create_post(
        world.uow_factory(),
        core.CreatePost(user_id=world.ada, constellation_id=world.triangulum, post_type="progress"),
        clock=earlier,
        actor=core.SYSTEM,
    )
    expected = {
        "/api/sessions": [world.s4, world.s3, world.s2, world.s1, session.id],
        "/api/constellation_attempts/{a1}/sessions": [world.s2, world.s1, session.id],
        "/api/posts": [world.p3, world.p2, world.p1, post.id],
        "/api/feed": [world.p3, world.p2, world.p1, post.id],
        "/api/users/{ada}/posts": [world.p3, world.p1, post.id],
        "/constellations/{triangulum}/posts": [world.p2, world.p1, post.id],
    }
    for path, ids in expected.items():
        answer = call(world, "GET", path)
        [key] = answer
        assert [item["id"] for item in answer[key]] == ids, path
    assert call(world, "GET", f"/api/posts/{post.id}")["created_at"] == "2025-11-30T08:00:00+00:00"


def test_lists_answer_every_item_read_batch_by_batch(uow_factory, clock, monkeypatch):
    """The app finds a returning student by name in the whole list: the 101st too."""
    uow = uow_factory
    ids = [
        core.create_user(uow(), core.CreateUser(f"Student {i}"), clock=clock, actor=core.SYSTEM).id
        for i in range(2 * v1.NESTED_BATCH + 50)
    ]
    client = make_client(uow_factory, clock)

    def users(query: str = "") -> tuple[list[int], falcon.testing.Result]:
        result = client.simulate_get("/api/users/" + query)
        assert result.status_code == 200
        assert result.headers["content-type"] == "application/json"
        return listed(result.json, "users", check_user), result

    every, whole = users()
    assert every == ids  # three reads of 100 users
    assert int(whole.headers["content-length"]) == len(whole.content)  # short enough to send whole
    names = [u["display_name"] for u in whole.json["users"]]
    assert "Student 100" in names
    assert "Student 249" in names
    assert users("?offset=99&limit=3")[0] == ids[99:102]
    assert users("?limit=101")[0] == ids[:101]
    assert users("?limit=100")[0] == ids[:100]
    assert users("?offset=150")[0] == ids[150:]
    assert users("?offset=50&limit=151")[0] == ids[50:201]
    assert users(f"?offset={len(ids)}")[0] == []

    # Past streaming.STREAM_AFTER bytes the answer is sent in chunks: no Content-Length, same bytes.
    monkeypatch.setattr(streaming, "STREAM_AFTER", 1024)
    _, chunked = users()
    assert "content-length" not in chunked.headers
    assert chunked.content == whole.content


@pytest.mark.parametrize(("path", "key", "check", "names"), LISTS)
def test_a_list_read_in_batches_of_one_is_the_list_read_at_once(world, monkeypatch, path, key, check, names):
    queries = ["", "?limit=2", "?offset=1", "?offset=1&limit=1", "?limit=3", "?offset=2&limit=5"]
    path = path.format(**world.ids)
    whole = [world.client.simulate_get(path + query) for query in queries]
    monkeypatch.setattr(v1, "BATCH", 1)
    monkeypatch.setattr(v1, "NESTED_BATCH", 1)
    monkeypatch.setattr(streaming, "STREAM_AFTER", 0)
    for query, expected in zip(queries, whole, strict=True):
        result = world.client.simulate_get(path + query)
        assert result.status_code == expected.status_code == 200
        assert "content-length" not in result.headers
        assert result.content == expected.content, query  # byte for byte
        listed(result.json, key, check)


def test_a_stream_ends_the_list_when_its_owner_is_deleted_meanwhile(world, monkeypatch):
    monkeypatch.setattr(v1, "BATCH", 1)
    monkeypatch.setattr(streaming, "STREAM_AFTER", 0)
    environ = falcon.testing.create_environ(path=f"/api/users/{world.ada}/posts", headers=world.headers)
    answer = world.client.app(environ, lambda status, headers: None)
    chunks = iter(answer)
    first = next(chunks)
    core.delete_user(world.uow_factory(), world.ada, actor=core.SYSTEM)
    rest = b"".join(chunks)
    answer.close()
    # The first batch (Ada's newest post) was read before the deletion; the list then ends, whole JSON.
    assert [p["id"] for p in json.loads(first + rest)["posts"]] == [world.p3]


def _constellation(d: core.ConstellationDetail) -> Json:
    """The full constellation of the API reference, built from core's detail."""
    c = d.constellation
    return {
        "id": c.id,
        "name": c.name,
        "weight": c.weight,
        "user_attempts": [documents.attempt_summary(a) for a in d.attempts],
        "posts": [documents.post_summary(p) for p in d.posts],
    }


@pytest.mark.parametrize("batch", [None, 1, 2])
def test_a_constellation_is_sent_with_every_attempt_and_post_byte_for_byte(world, monkeypatch, batch):
    """A constellation carries every attempt at it and post about it, read in batches, streamed."""
    for _ in range(3):
        core.create_post(
            world.uow_factory(),
            core.CreatePost(user_id=world.grace, constellation_id=world.triangulum, post_type="progress"),
            clock=world.clock,
            actor=core.SYSTEM,
        )
    uow = world.uow_factory
    details = core.list_constellation_details(uow(), core.PageRequest(limit=10), actor=core.SYSTEM).items
    done = core.completed_constellations(uow(), world.grace, actor=core.SYSTEM)
    expected = {
        "/api/constellations": {"constellations": [_constellation(d) for d in details]},
        "/api/constellations/{triangulum}": _constellation(details[0]),
        "/api/users/{grace}/completed_constellations": {
            "user_id": world.grace,
            "display_name": "Grace",
            "completed_constellations": [_constellation(d) for d in done.constellations],
            "num_completed": 1,
        },
    }
    if batch is not None:
        monkeypatch.setattr(v1, "BATCH", batch)
        monkeypatch.setattr(v1, "NESTED_BATCH", batch)
        monkeypatch.setattr(streaming, "STREAM_AFTER", 0)
    for path, answer in expected.items():
        result = world.client.simulate_get(path.format(**world.ids))
        assert result.status_code == 200
        assert result.content == dumps(answer), path
    assert len(expected["/api/constellations/{triangulum}"]["posts"]) == 5


V1_WRITES = [
    ("POST", "/api/users", {"display_name": "Lin"}, 201),
    ("POST", "/api/constellations", {"name": "Lyra", "weight": 5}, 201),
    ("PUT", "/api/constellations/{triangulum}", {"name": "Triangulum Australe"}, 200),
    ("POST", "/api/users/{ada}/constellation_attempts", {"constellation_id": "{big_dipper}"}, 201),
    ("PUT", "/api/constellation_attempts/{a1}", None, 200),
    ("PUT", "/api/constellation_attempts/{a1}/complete", None, 200),
    ("POST", "/api/sessions", {"user_id": "{ada}", "constellation_attempt_id": "{a2}", "minutes": 25}, 201),
    ("PUT", "/api/sessions/{s1}/complete", None, 200),
    ("PUT", "/api/sessions/{s1}/cancel", None, 200),
    (
        "POST",
        "/api/posts",
        {"user_id": "{ada}", "constellation_id": "{triangulum}", "post_type": "progress"},
        201,
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), V1_WRITES)
def test_a_write_and_its_answer_run_in_one_unit_of_work(world, method, path, body, status):
    """The answer is read in the write's transaction: no concurrent change can come between."""
    transactions = []

    class Counting:
        """A unit of work that counts the transactions begun on it."""

        def __init__(self, uow: core.UnitOfWork) -> None:
            self.uow = uow

        def __getattr__(self, name: str) -> Any:
            return getattr(self.uow, name)

        def __enter__(self) -> Any:
            transactions.append("write")
            return self.uow.__enter__()

        def __exit__(self, *exc_info: Any) -> None:
            self.uow.__exit__(*exc_info)

        def reading(self) -> Any:
            transactions.append("read")
            return self.uow.reading()

    client = make_client(lambda: Counting(world.uow_factory()), world.clock)
    result = client.simulate_request(method, path.format(**world.ids), json=world.resolve(body))
    assert result.status_code == status, result.text
    assert transactions == ["write"]


# ---------------------------------------------------------------- the full shapes, value by value


def test_user_bundles_attempts_sessions_and_posts(world):
    ada = call(world, "GET", "/api/users/{ada}/")
    check_user(ada)
    assert ada["current_attempt"] == {
        "id": world.a2,
        "user_id": world.ada,
        "constellation_id": world.delphinus,
        "stars_completed": 0,
    }
    assert sorted(a["id"] for a in ada["constellation_attempts"]) == [world.a1, world.a2]
    assert sorted(s["id"] for s in ada["sessions"]) == [world.s1, world.s2, world.s3]
    assert sorted(p["id"] for p in ada["posts"]) == [world.p1, world.p3]
    [p1] = [p for p in ada["posts"] if p["id"] == world.p1]
    assert p1 == {
        "id": world.p1,
        "post_type": "progress",
        "message": "Two stars!",
        "study_duration": 10,
        "created_at": p1["created_at"],
    }
    [s1] = [s for s in ada["sessions"] if s["id"] == world.s1]
    assert s1 == {
        "id": world.s1,
        "user_id": world.ada,
        "constellation_attempt_id": world.a1,
        "is_completed": False,
        "minutes": 10,
    }

    grace = call(world, "GET", "/api/users/{grace}")
    check_user(grace)
    assert (grace["current_attempt_id"], grace["current_attempt"], grace["sessions"]) == (None, None, [])
    assert grace["constellation_attempts"] == [
        {"id": world.a3, "user_id": world.grace, "constellation_id": world.triangulum, "stars_completed": 3}
    ]


def test_constellation_bundles_its_attempts_and_posts(world):
    triangulum = call(world, "GET", "/api/constellations/{triangulum}")
    check_constellation(triangulum)
    assert sorted(a["id"] for a in triangulum["user_attempts"]) == [world.a1, world.a3]
    assert sorted(p["id"] for p in triangulum["posts"]) == [world.p1, world.p2]
    big_dipper = call(world, "GET", "/api/constellations/{big_dipper}")
    assert big_dipper == {
        "id": world.big_dipper,
        "name": "Big Dipper",
        "weight": 7,
        "user_attempts": [],
        "posts": [],
    }


def test_attempt_bundles_user_constellation_and_sessions(world):
    a1 = call(world, "GET", "/api/constellation_attempts/{a1}")
    check_attempt(a1)
    assert a1["user"] == {"id": world.ada, "display_name": "Ada"}
    assert a1["constellation"] == {"id": world.triangulum, "name": "Triangulum", "weight": 3}
    assert sorted(s["id"] for s in a1["sessions"]) == [world.s1, world.s2]
    assert {s["minutes"] for s in a1["sessions"]} == {10, 20}


def test_session_carries_the_learning_fields(world):
    [s1] = [
        s
        for s in call(world, "GET", "/api/constellation_attempts/{a1}/sessions")["sessions"]
        if s["id"] == world.s1
    ]
    check_session(s1)
    timestamps = {"created_at", "updated_at"}
    assert {k: v for k, v in s1.items() if k not in timestamps} == {
        "id": world.s1,
        "user_id": world.ada,
        "constellation_attempt_id": world.a1,
        "is_completed": False,
        "minutes": 10,
        "user": {"id": world.ada, "display_name": "Ada"},
        "constellation_attempt": {
            "id": world.a1,
            "user_id": world.ada,
            "constellation_id": world.triangulum,
            "stars_completed": 0,
        },
        "title": "Triangulum",
        "description": None,
        "status": "planned",
        "difficulty": None,
        "started_at": None,
        "completed_at": None,
    }
    # Written with the injected clock, which started at 2025-12-01T10:30:00+00:00.
    assert s1["created_at"].startswith("2025-12-01T10:30:00")
    assert s1["created_at"].endswith("+00:00")

    s4 = call(world, "PUT", "/api/sessions/{s4}/cancel")
    check_session(s4)
    assert (s4["user_id"], s4["user"], s4["constellation_attempt_id"], s4["constellation_attempt"]) == (
        None,
        None,
        None,
        None,
    )
    assert (s4["title"], s4["minutes"], s4["is_completed"]) == ("Learn Falcon", 0, False)


def test_post_bundles_user_and_constellation(world):
    p1 = call(world, "GET", "/api/posts/{p1}")
    check_post(p1)
    assert p1 == {
        "id": world.p1,
        "user_id": world.ada,
        "constellation_id": world.triangulum,
        "post_type": "progress",
        "message": "Two stars!",
        "study_duration": 10,
        "created_at": p1["created_at"],
        "user": {"id": world.ada, "display_name": "Ada"},
        "constellation": {"id": world.triangulum, "name": "Triangulum", "weight": 3},
    }
    assert p1["created_at"].startswith("2025-12-01T10:30:00")
    p2 = call(world, "GET", "/api/posts/{p2}")
    assert (p2["post_type"], p2["message"], p2["study_duration"]) == ("completion", None, None)


# ---------------------------------------------------------------- users


def test_created_user_is_listed_and_readable(world):
    created = call(world, "POST", "/api/users/", {"display_name": "Lin"}, 201)
    check_user(created)
    assert call(world, "GET", f"/api/users/{created['id']}") == created
    assert [u["id"] for u in call(world, "GET", "/api/users")["users"]] == [
        world.ada,
        world.grace,
        created["id"],
    ]


def test_total_minutes_and_completed_constellations(world):
    call(world, "PUT", "/api/sessions/{s1}/complete")
    call(world, "PUT", "/api/sessions/{s3}/complete")
    assert call(world, "GET", "/api/users/{ada}/total_minutes") == {
        "user_id": world.ada,
        "display_name": "Ada",
        "total_minutes": 15,
    }
    done = call(world, "GET", "/api/users/{ada}/completed_constellations")
    assert done == {
        "user_id": world.ada,
        "display_name": "Ada",
        "completed_constellations": [],
        "num_completed": 0,
    }

    call(world, "PUT", "/api/constellation_attempts/{a2}/complete")
    call(world, "PUT", "/api/constellation_attempts/{a1}/complete")
    done = call(world, "GET", "/api/users/{ada}/completed_constellations/")
    assert set(done) == COMPLETED_CONSTELLATIONS
    assert [c["id"] for c in done["completed_constellations"]] == [world.triangulum, world.delphinus]
    assert done["num_completed"] == 2
    for constellation in done["completed_constellations"]:
        check_constellation(constellation)
    # One entry per completed attempt, in attempt order: a constellation completed twice counts twice,
    # as in the original and on the app's profile.
    again = call(
        world, "POST", "/api/users/{ada}/constellation_attempts", {"constellation_id": world.triangulum}, 201
    )
    call(world, "PUT", f"/api/constellation_attempts/{again['id']}/complete")
    done = call(world, "GET", "/api/users/{ada}/completed_constellations")
    assert [c["id"] for c in done["completed_constellations"]] == [
        world.triangulum,
        world.delphinus,
        world.triangulum,
    ]
    assert done["num_completed"] == 3
    assert done["completed_constellations"][0] == done["completed_constellations"][2]
    # API v2 lists each completed constellation once.
    v2_done = world.client.simulate_get(f"/api/v2/users/{world.ada}/completed_constellations").json["data"]
    assert [c["id"] for c in v2_done] == [world.triangulum, world.delphinus]


def test_delete_user_removes_their_attempts_sessions_and_posts(world):
    root = world.ids["ada"]
    world.use_another_administrator()  # Ada's token goes with her
    assert call(world, "DELETE", "/api/users/{ada}/") == {"message": "User deleted successfully!"}
    world.ids["root"] = root + 2  # the ids after Ada's and Grace's
    error_of(world.client.simulate_get(f"/api/users/{world.ada}"), 404)
    for path in ["a1", "a2"]:
        error_of(world.client.simulate_get(f"/api/constellation_attempts/{world.ids[path]}"), 404)
    for path in ["s1", "s2", "s3"]:
        error_of(world.client.simulate_get(f"/api/sessions/{world.ids[path]}"), 404)
    for path in ["p1", "p3"]:
        error_of(world.client.simulate_get(f"/api/posts/{world.ids[path]}"), 404)
    # Everything else stays (and Root, who deleted her).
    assert [u["id"] for u in call(world, "GET", "/api/users")["users"]] == [world.grace, world.root]
    assert [a["id"] for a in call(world, "GET", "/api/constellation_attempts")["constellation_attempts"]] == [
        world.a3
    ]
    assert [s["id"] for s in data(world, "GET", "/api/sessions")] == [world.s4]
    assert [p["id"] for p in call(world, "GET", "/api/feed")["posts"]] == [world.p2]
    triangulum = call(world, "GET", "/api/constellations/{triangulum}")
    assert [a["id"] for a in triangulum["user_attempts"]] == [world.a3]


def test_sync_minutes_repairs_totals_changed_behind_the_api(world):
    call(world, "PUT", "/api/sessions/{s2}/complete")
    assert call(world, "POST", "/api/users/sync-minutes/")["users_updated"] == 0

    with world.uow_factory() as uow:
        for user_id, wrong in [(world.ada, 999), (world.grace, 5)]:
            user = uow.users.get(user_id, for_update=True)
            uow.users.update(attrs.evolve(user, total_minutes=wrong))
        uow.commit()

    answer = call(world, "POST", "/api/users/sync-minutes")
    assert set(answer) == SYNC_MINUTES
    assert isinstance(answer["message"], str)
    assert answer["message"]
    assert answer["users_updated"] == 2
    assert call(world, "GET", "/api/users/{ada}/total_minutes")["total_minutes"] == 20
    assert call(world, "GET", "/api/users/{grace}/total_minutes")["total_minutes"] == 0
    assert call(world, "POST", "/api/v1/users/sync-minutes")["users_updated"] == 0


# ---------------------------------------------------------------- constellations


def test_create_update_and_delete_a_constellation(world):
    orion = call(world, "POST", "/api/constellations/", {"name": "Orion", "weight": 7}, 201)
    check_constellation(orion)
    oid = orion["id"]
    assert call(world, "GET", f"/api/constellations/{oid}") == orion
    assert [c["id"] for c in call(world, "GET", "/api/constellations")["constellations"]][-1] == oid

    assert call(world, "PUT", f"/api/constellations/{oid}", {"weight": 9})["weight"] == 9
    renamed = call(world, "PUT", f"/api/constellations/{oid}/", {"name": "Hunter"})
    assert (renamed["name"], renamed["weight"]) == ("Hunter", 9)
    assert call(world, "PUT", f"/api/constellations/{oid}", {}) == renamed
    assert call(world, "GET", f"/api/constellations/{oid}") == renamed

    assert call(world, "DELETE", f"/api/constellations/{oid}") == {
        "message": "Constellation deleted successfully!"
    }
    assert (
        error_of(world.client.simulate_get(f"/api/constellations/{oid}"), 404) == "Constellation not found!"
    )


def test_a_constellation_in_use_cannot_be_deleted(world):
    # Triangulum has attempts and posts, Delphinus too; a fresh one gets only a post.
    lone = call(world, "POST", "/api/constellations", {"name": "Lyra", "weight": 2}, 201)["id"]
    call(
        world,
        "POST",
        "/api/posts",
        {"user_id": world.ada, "constellation_id": lone, "post_type": "progress"},
        201,
    )
    for cid in [world.triangulum, world.delphinus, lone]:
        with world.unchanged():
            error_of(world.client.simulate_delete(f"/api/constellations/{cid}"), 409)

    # Once nothing refers to Delphinus any more, it can go.
    call(world, "DELETE", "/api/constellation_attempts/{a2}")
    call(world, "DELETE", "/api/posts/{p3}")
    assert call(world, "DELETE", "/api/constellations/{delphinus}/")["message"] == (
        "Constellation deleted successfully!"
    )


def test_renaming_a_constellation_in_use_is_allowed(world):
    renamed = call(world, "PUT", "/api/constellations/{triangulum}", {"name": "The Triangle"})
    assert (renamed["name"], renamed["weight"]) == ("The Triangle", 3)
    assert call(world, "GET", "/api/constellation_attempts/{a1}")["constellation"]["name"] == "The Triangle"


# ---------------------------------------------------------------- attempts


def test_attempt_flow_stars_until_complete(world):
    lin = call(world, "POST", "/api/users", {"display_name": "Lin"}, 201)["id"]
    assert error_of(world.client.simulate_get(f"/api/users/{lin}/current-attempt"), 404)

    attempt = call(
        world, "POST", f"/api/users/{lin}/constellation_attempts/", {"constellation_id": "{triangulum}"}, 201
    )
    check_attempt(attempt)
    aid = attempt["id"]
    assert (attempt["stars_completed"], attempt["sessions"]) == (0, [])
    assert attempt["user"] == {"id": lin, "display_name": "Lin"}
    assert attempt["constellation"] == {"id": world.triangulum, "name": "Triangulum", "weight": 3}

    user = call(world, "GET", f"/api/users/{lin}")
    assert user["current_attempt_id"] == aid
    assert user["current_attempt"] == {
        k: attempt[k] for k in ("id", "user_id", "constellation_id", "stars_completed")
    }
    assert call(world, "GET", f"/api/users/{lin}/current-attempt/") == attempt
    assert call(world, "GET", f"/api/constellation_attempts/{aid}") == attempt

    assert call(world, "PUT", f"/api/constellation_attempts/{aid}/")["stars_completed"] == 1
    assert call(world, "PUT", f"/api/constellation_attempts/{aid}")["stars_completed"] == 2
    assert call(world, "GET", f"/api/users/{lin}/current-attempt")["stars_completed"] == 2
    last = call(world, "PUT", f"/api/v1/constellation_attempts/{aid}")
    check_attempt(last)
    assert last["stars_completed"] == 3

    # Complete: no longer current, counted as completed, and no star beyond the weight.
    assert call(world, "GET", f"/api/users/{lin}")["current_attempt_id"] is None
    error_of(world.client.simulate_get(f"/api/users/{lin}/current-attempt"), 404)
    with world.unchanged():
        assert error_of(world.client.simulate_put(f"/api/constellation_attempts/{aid}"), 409)
    done = call(world, "GET", f"/api/users/{lin}/completed_constellations")
    assert ([c["id"] for c in done["completed_constellations"]], done["num_completed"]) == (
        [world.triangulum],
        1,
    )


def test_a_new_attempt_becomes_the_current_one(world):
    started = call(
        world, "POST", "/api/users/{ada}/constellation_attempts", {"constellation_id": "{big_dipper}"}, 201
    )
    assert call(world, "GET", "/api/users/{ada}/current-attempt")["id"] == started["id"]
    assert call(world, "GET", "/api/users/{ada}")["current_attempt_id"] == started["id"]


def test_complete_answers_attempt_and_message(world):
    answer = call(world, "PUT", "/api/constellation_attempts/{a1}/complete/")
    assert set(answer) == ATTEMPT_COMPLETED
    assert (answer["user_updated"], answer["message"]) == (True, "Constellation completed successfully!")
    check_attempt(answer["attempt"])
    assert answer["attempt"] == call(world, "GET", "/api/constellation_attempts/{a1}")
    assert answer["attempt"]["stars_completed"] == 3
    # a1 was not Ada's current attempt: a2 stays current.
    assert call(world, "GET", "/api/users/{ada}")["current_attempt_id"] == world.a2

    # Completing again changes nothing; adding a star is a conflict.
    with world.unchanged():
        assert call(world, "PUT", "/api/constellation_attempts/{a1}/complete") == answer
        error_of(world.client.simulate_put(f"/api/constellation_attempts/{world.a1}"), 409)

    current = call(world, "PUT", "/api/constellation_attempts/{a2}/complete")
    assert current["attempt"]["stars_completed"] == 5
    ada = call(world, "GET", "/api/users/{ada}")
    assert (ada["current_attempt_id"], ada["current_attempt"]) == (None, None)


def test_delete_attempt_removes_its_sessions_and_their_minutes(world):
    call(world, "PUT", "/api/sessions/{s1}/complete")
    call(world, "PUT", "/api/sessions/{s3}/complete")
    assert call(world, "GET", "/api/users/{ada}/total_minutes")["total_minutes"] == 15

    assert call(world, "DELETE", "/api/constellation_attempts/{a1}/") == {
        "message": "Constellation attempt deleted successfully!"
    }
    for name in ["a1", "s1", "s2"]:
        kind = "constellation_attempts" if name.startswith("a") else "sessions"
        error_of(world.client.simulate_get(f"/api/{kind}/{world.ids[name]}"), 404)
    assert call(world, "GET", "/api/users/{ada}/total_minutes")["total_minutes"] == 5
    assert call(world, "GET", "/api/users/{ada}")["current_attempt_id"] == world.a2

    call(world, "DELETE", "/api/constellation_attempts/{a2}")
    ada = call(world, "GET", "/api/users/{ada}")
    assert (ada["current_attempt_id"], ada["total_minutes"], ada["constellation_attempts"]) == (None, 0, [])


# ---------------------------------------------------------------- sessions


def total(world: V1World) -> int:
    minutes: int = call(world, "GET", "/api/users/{ada}/total_minutes")["total_minutes"]
    return minutes


def test_session_flow_moves_total_minutes(world):
    body = {"user_id": world.ada, "constellation_attempt_id": world.a2, "minutes": 30}
    session = call(world, "POST", "/api/sessions/", body, 201)
    check_session(session)
    sid = session["id"]
    assert (session["is_completed"], session["status"], session["title"]) == (False, "planned", "Delphinus")
    assert (session["minutes"], session["completed_at"]) == (30, None)
    assert total(world) == 0

    completed = call(world, "PUT", f"/api/sessions/{sid}/complete")
    check_session(completed)
    assert (completed["is_completed"], completed["status"], completed["minutes"]) == (True, "completed", 30)
    assert completed["completed_at"] is not None
    assert total(world) == 30
    assert call(world, "PUT", f"/api/sessions/{sid}/complete/") == completed
    assert total(world) == 30

    assert data(world, "PATCH", f"/api/sessions/{sid}", {"minutes": 45})["minutes"] == 45
    assert total(world) == 45

    cancelled = call(world, "PUT", f"/api/sessions/{sid}/cancel/")
    check_session(cancelled)
    assert (cancelled["is_completed"], cancelled["status"], cancelled["completed_at"]) == (
        False,
        "cancelled",
        None,
    )
    assert total(world) == 0
    assert call(world, "PUT", f"/api/sessions/{sid}/cancel") == cancelled
    assert total(world) == 0

    assert data(world, "PATCH", f"/api/sessions/{sid}/", {"status": "completed"})["status"] == "completed"
    assert total(world) == 45
    assert call(world, "DELETE", f"/api/sessions/{sid}", status=204) is None
    assert total(world) == 0
    assert error_of(world.client.simulate_get(f"/api/sessions/{sid}"), 404) == "Session not found"
    assert error_of(world.client.simulate_put(f"/api/sessions/{sid}/complete"), 404) == "Session not found!"


def test_a_session_created_completed_counts_at_once(world):
    body = {"constellation_attempt_id": world.a1, "minutes": 15, "status": "completed"}
    session = call(world, "POST", "/api/sessions", body, 201)
    check_session(session)
    assert (session["is_completed"], session["user_id"]) == (True, world.ada)
    assert session["completed_at"] is not None
    assert total(world) == 15
    assert session["id"] in [s["id"] for s in call(world, "GET", "/api/users/{ada}")["sessions"]]


def test_a_session_without_minutes_counts_from_its_start(world):
    # The clock reads 2025-12-01T10:30:00.xxx, an hour and a half after the start.
    body = {"title": "Reading", "user_id": world.ada, "started_at": "2025-12-01T09:00:00Z"}
    session = data(world, "POST", "/api/sessions", body, 201)
    assert (session["started_at"], session["minutes"], session["constellation_attempt_id"]) == (
        "2025-12-01T09:00:00+00:00",
        None,
        None,
    )
    completed = call(world, "PUT", f"/api/sessions/{session['id']}/complete")
    assert completed["minutes"] == 90
    assert total(world) == 90


def test_a_learning_session_needs_only_a_title(world):
    body = {
        "title": "Learn Flask",
        "status": "planned",
        "description": "Routing and templates",
        "difficulty": "easy",
    }
    session = data(world, "POST", "/api/sessions", body, 201)
    check_learning_session(session)
    assert {k: session[k] for k in body} == body
    # Served open, v1 acts as the system: the session is nobody's. With a token, it is the token holder's.
    owner = None if world.v1_mode == "open" else world.ada
    assert {k: session[k] for k in ("user_id", "constellation_attempt_id", "minutes")} == {
        "user_id": owner,
        "constellation_attempt_id": None,
        "minutes": None,
    }
    in_progress = data(world, "POST", "/api/sessions", {"title": "Go", "status": "in_progress"}, 201)
    assert in_progress["status"] == "in_progress"


def test_patch_changes_only_the_given_fields(world):
    before = data(world, "GET", "/api/sessions/{s4}")
    after = data(world, "PATCH", "/api/sessions/{s4}/", {"status": "in_progress", "difficulty": "medium"})
    check_learning_session(after)
    assert (after["status"], after["difficulty"]) == ("in_progress", "medium")
    assert after["updated_at"] > before["updated_at"]
    unchanged = {k for k in before if k not in {"status", "difficulty", "updated_at"}}
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}
    assert data(world, "GET", "/api/sessions/{s4}") == after

    edited = data(
        world,
        "PATCH",
        "/api/sessions/{s4}",
        {
            "title": "Learn Falcon 4",
            "description": "Media handlers",
            "started_at": "2025-12-01T10:00:00+00:00",
        },
    )
    assert (edited["title"], edited["description"], edited["started_at"]) == (
        "Learn Falcon 4",
        "Media handlers",
        "2025-12-01T10:00:00+00:00",
    )
    # An empty patch is a no-op.
    with world.unchanged():
        assert data(world, "PATCH", "/api/sessions/{s4}", {}) == edited


def test_sessions_are_listed_newest_first_with_the_new_one_on_top(world):
    made = call(world, "POST", "/api/sessions", {"constellation_attempt_id": world.a1}, 201)
    assert next(s["id"] for s in data(world, "GET", "/api/sessions")) == made["id"]
    on_a1 = call(world, "GET", "/api/constellation_attempts/{a1}/sessions/")["sessions"]
    assert [s["id"] for s in on_a1] == [made["id"], world.s2, world.s1]


# ---------------------------------------------------------------- posts


def test_create_and_delete_a_post(world):
    body = {"user_id": world.grace, "constellation_id": world.big_dipper, "post_type": "completion"}
    post = call(world, "POST", "/api/posts/", body, 201)
    check_post(post)
    assert (post["message"], post["study_duration"]) == (None, None)
    assert post["user"] == {"id": world.grace, "display_name": "Grace"}
    assert post["constellation"] == {"id": world.big_dipper, "name": "Big Dipper", "weight": 7}
    assert call(world, "GET", f"/api/posts/{post['id']}") == post
    assert call(world, "GET", "/api/feed")["posts"][0] == post
    assert [p["id"] for p in call(world, "GET", "/users/{grace}/posts")["posts"]] == [post["id"], world.p2]
    assert [p["id"] for p in call(world, "GET", "/constellations/{big_dipper}/posts/")["posts"]] == [
        post["id"]
    ]

    assert call(world, "DELETE", f"/api/posts/{post['id']}/") == {"message": "Post deleted successfully!"}
    assert error_of(world.client.simulate_get(f"/api/posts/{post['id']}"), 404) == "Post not found!"
    assert [p["id"] for p in call(world, "GET", "/api/feed")["posts"]] == [world.p3, world.p2, world.p1]


# ---------------------------------------------------------------- leniency of v1


UNKNOWN_FIELDS = [
    ("POST", "/api/users", {"display_name": "Lin"}, 201),
    ("POST", "/api/constellations", {"name": "Orion", "weight": 4}, 201),
    ("PUT", "/api/constellations/{big_dipper}", {"name": "Plough"}, 200),
    ("POST", "/api/users/{ada}/constellation_attempts", {"constellation_id": "{big_dipper}"}, 201),
    ("POST", "/api/sessions", {"constellation_attempt_id": "{a1}", "minutes": 5}, 201),
    (
        "POST",
        "/api/posts",
        {"user_id": "{ada}", "constellation_id": "{triangulum}", "post_type": "progress"},
        201,
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), UNKNOWN_FIELDS)
def test_unknown_body_fields_are_ignored(world, method, path, body, status):
    answer = call(world, method, path, {**body, "unexpected": "field", "id": 777, "created_at": "x"}, status)
    assert "unexpected" not in answer
    assert answer["id"] != 777
    for key, value in world.resolve(body).items():
        assert answer[key] == value


# ---------------------------------------------------------------- health


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/healthz/", "/readyz/"])
def test_health_checks_answer_200(world, path):
    result = world.client.simulate_get(path)
    assert result.status_code == 200
    assert result.json["status"] in {"ok", "ready"}


def test_readyz_tells_when_the_store_does_not_answer(clock):
    def broken() -> Any:
        raise ConnectionError("database is down")

    client = make_client(broken, clock)
    assert client.simulate_get("/readyz").status_code == 503
    assert client.simulate_get("/healthz").status_code == 200


# ---------------------------------------------------------------- limits of the fields


def test_values_at_the_limits_are_accepted_and_read_back(world):
    name = "Zoë ✨ " + "n" * 994  # 1000 characters: the app's sign-up field has no limit
    user = call(world, "POST", "/api/users", {"display_name": name}, 201)
    assert user["display_name"] == name
    assert call(world, "GET", f"/api/users/{user['id']}")["display_name"] == name

    for weight in [1, 1000]:
        made = call(world, "POST", "/api/constellations", {"name": "c" * 100, "weight": weight}, 201)
        assert (made["name"], made["weight"]) == ("c" * 100, weight)

    body = {
        "title": "t" * 200,
        "difficulty": "d" * 50,
        "description": "Line one\nLine two\ttabbed",
        "user_id": user["id"],
        "minutes": 1440,
        "started_at": "0001-01-01T00:00:00+00:00",
        "completed_at": "9999-12-31T23:59:59.999999+00:00",
    }
    session = data(world, "POST", "/api/sessions", body, 201)
    assert {k: session[k] for k in body} == body
    assert data(world, "GET", f"/api/sessions/{session['id']}") == session
    assert data(world, "PATCH", f"/api/sessions/{session['id']}", {"minutes": 0})["minutes"] == 0
    # A 5.0 from a client that writes every number as a float is the integer 5.
    assert data(world, "PATCH", f"/api/sessions/{session['id']}", {"minutes": 5.0})["minutes"] == 5

    post_body = {
        "user_id": user["id"],
        "constellation_id": world.triangulum,
        "post_type": "progress",
        "message": "m" * 60_000,
        "study_duration": 2**31 - 1,  # an attempt's sessions summed
    }
    post = call(world, "POST", "/api/posts", post_body, 201)
    assert {k: post[k] for k in post_body} == post_body
    empty = call(world, "POST", "/api/posts", {**post_body, "message": "", "study_duration": 0}, 201)
    assert (empty["message"], empty["study_duration"]) == ("", 0)


def test_a_body_without_content_type_is_refused_and_an_empty_one_is_fine(world):
    # A form or a stray upload is not a command; the original app's get_json() refused it too.
    with world.unchanged():
        result = world.client.simulate_post("/api/users/", body='{"display_name": "Lin"}')
    assert result.status_code == 415
    assert "Content-Type" in result.json["error"]
    # No body at all needs no Content-Type.
    attempt = world.client.simulate_put(f"/api/constellation_attempts/{world.a2}/complete")
    assert attempt.status_code == 200, attempt.text
