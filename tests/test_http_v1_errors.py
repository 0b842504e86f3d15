"""API v1 over HTTP: errors, on every storage backend.

Every error answers ``{"error": "<message>"}`` as JSON: 404 for an unknown id,
400 naming the malformed field, 405 with ``Allow``, 409 for a conflict, 413 for
an oversized body. A request that fails changes nothing in the store.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from http_v1_support import V1World, error_of
from luminary.http.requests import MAX_BODY


@pytest.fixture
def world(uow_factory, clock, v1_mode) -> V1World:
    return V1World.build(uow_factory, clock, v1_mode=v1_mode)


def send(world: V1World, method: str, path: str, body: Any = None, *, raw: str | bytes | None = None) -> Any:
    """Send ``body`` as JSON, or ``raw`` bytes labelled as JSON.

    ``{name}`` in the path, and string values ``"{name}"`` of ``body``, stand for ids of ``world``.
    """
    path = path.format(**world.ids)
    if raw is not None:
        return world.client.simulate_request(method, path, body=raw, content_type="application/json")
    body = world.resolve(body)
    if body is None:
        return world.client.simulate_request(method, path)
    # ASCII-only JSON, so that lone surrogates travel as the escapes a client would send.
    return world.client.simulate_request(method, path, body=json.dumps(body), content_type="application/json")


def refused(
    world: V1World, status: int, method: str, path: str, body: Any = None, *, raw: str | bytes | None = None
) -> str:
    """Send a request that must fail with ``status`` and change nothing; return the error message."""
    with world.unchanged():
        return error_of(send(world, method, path, body, raw=raw), status)


# ---------------------------------------------------------------- 404: unknown ids

USER = "User not found!"
CONSTELLATION = "Constellation not found!"
ATTEMPT = "Constellation attempt not found!"
SESSION = "Session not found!"
#: The Learning Sessions document's wording, for the routes it describes (the app's calls keep the one above).
LEARNING_SESSION = "Session not found"
POST = "Post not found!"

UNKNOWN: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", "/api/users/999", None, USER),
    ("DELETE", "/api/users/999", None, USER),
    ("GET", "/api/users/999/total_minutes", None, USER),
    ("GET", "/api/users/999/completed_constellations", None, USER),
    ("GET", "/api/users/999/current-attempt", None, USER),
    ("GET", "/api/users/999/constellation_attempts", None, USER),
    ("POST", "/api/users/999/constellation_attempts", {"constellation_id": "{triangulum}"}, USER),
    ("GET", "/api/users/999/posts", None, USER),
    ("GET", "/users/999/posts", None, USER),
    ("POST", "/api/sessions", {"user_id": 999, "title": "Alone"}, USER),
    (
        "POST",
        "/api/posts",
        {"user_id": 999, "constellation_id": "{triangulum}", "post_type": "progress"},
        USER,
    ),
    ("GET", "/api/constellations/999", None, CONSTELLATION),
    ("PUT", "/api/constellations/999", {"name": "Orion"}, CONSTELLATION),
    ("DELETE", "/api/constellations/999", None, CONSTELLATION),
    ("GET", "/api/constellations/999/posts", None, CONSTELLATION),
    ("GET", "/constellations/999/posts", None, CONSTELLATION),
    ("POST", "/api/users/{ada}/constellation_attempts", {"constellation_id": 999}, CONSTELLATION),
    (
        "POST",
        "/api/posts",
        {"user_id": "{ada}", "constellation_id": 999, "post_type": "progress"},
        CONSTELLATION,
    ),
    ("GET", "/api/constellation_attempts/999", None, ATTEMPT),
    ("PUT", "/api/constellation_attempts/999", None, ATTEMPT),
    ("PUT", "/api/constellation_attempts/999/complete", None, ATTEMPT),
    ("DELETE", "/api/constellation_attempts/999", None, ATTEMPT),
    ("GET", "/api/constellation_attempts/999/sessions", None, ATTEMPT),
    ("POST", "/api/sessions", {"constellation_attempt_id": 999, "minutes": 5}, ATTEMPT),
    ("GET", "/api/sessions/999", None, LEARNING_SESSION),
    ("PATCH", "/api/sessions/999", {"minutes": 5}, LEARNING_SESSION),
    ("DELETE", "/api/sessions/999", None, LEARNING_SESSION),
    ("PUT", "/api/sessions/999/complete", None, SESSION),
    ("PUT", "/api/sessions/999/cancel", None, SESSION),
    ("GET", "/api/posts/999", None, POST),
    ("DELETE", "/api/posts/999", None, POST),
]


@pytest.mark.parametrize(("method", "path", "body", "message"), UNKNOWN)
def test_unknown_ids_are_404_naming_the_kind(world, method, path, body, message):
    assert refused(world, 404, method, path, body) == message
    assert refused(world, 404, method, path.replace("/api/", "/api/v1/") + "/", body) == message


def test_a_user_without_a_current_attempt_has_none_to_show(world):
    message = refused(world, 404, "GET", "/api/users/{grace}/current-attempt/")
    assert "attempt" in message.lower()


#: One path per kind of id in a path, with the message an id that fits in 64 bits gets.
ITEMS = [
    ("GET", "/api/users/{}", USER),
    ("GET", "/api/users/{}/total_minutes", USER),
    ("GET", "/api/users/{}/posts", USER),
    ("GET", "/users/{}/posts", USER),
    ("DELETE", "/api/constellations/{}", CONSTELLATION),
    ("GET", "/constellations/{}/posts", CONSTELLATION),
    ("PUT", "/api/constellation_attempts/{}", ATTEMPT),
    ("GET", "/api/constellation_attempts/{}/sessions", ATTEMPT),
    ("PATCH", "/api/sessions/{}", LEARNING_SESSION),
    ("PUT", "/api/sessions/{}/complete", SESSION),
    ("DELETE", "/api/posts/{}", POST),
]


@pytest.mark.parametrize(("method", "path", "message"), ITEMS)
def test_ids_out_of_range_are_404_never_500(world, method, path, message):
    # The largest 64-bit id reaches the store, which has no such row.
    assert refused(world, 404, method, path.format(2**63 - 1)) == message
    # Beyond 64 bits, zero, negative or not a number: no such resource either.
    for bad in [2**63, 10**30, 0, -1, "abc", "1.5"]:
        refused(world, 404, method, path.format(bad))


def test_ids_out_of_range_in_a_body_are_refused_not_500(world):
    # 10**30 is both malformed (beyond 64 bits) and unknown: 400 or 404, never a crash.
    for method, path, body in [
        ("POST", "/api/users/{ada}/constellation_attempts", {"constellation_id": 10**30}),
        ("POST", "/api/sessions", {"constellation_attempt_id": 10**30, "minutes": 5}),
        ("POST", "/api/sessions", {"user_id": 10**30, "title": "Big"}),
        (
            "POST",
            "/api/posts",
            {"user_id": 10**30, "constellation_id": "{triangulum}", "post_type": "progress"},
        ),
        ("POST", "/api/posts", {"user_id": "{ada}", "constellation_id": -(10**30), "post_type": "progress"}),
    ]:
        with world.unchanged():
            result = send(world, method, path, body)
        assert result.status_code in {400, 404}, (path, body, result.text)
        error_of(result, result.status_code)


def test_unknown_paths_answer_json_404(world):
    for path in ["/api/nothing", "/api/users/1/nothing", "/api/v3/users", "/users", "/"]:
        refused(world, 404, "GET", path)


# ---------------------------------------------------------------- 400: malformed fields

TOO_LONG_NAME = "x" * 1001
MALFORMED: list[tuple[str, str, Any, str]] = [
    # users
    ("POST", "/api/users", {}, "display_name"),
    ("POST", "/api/users", {"display_name": None}, "display_name"),
    ("POST", "/api/users", {"display_name": ""}, "display_name"),
    ("POST", "/api/users", {"display_name": "   "}, "display_name"),
    ("POST", "/api/users", {"display_name": 42}, "display_name"),
    ("POST", "/api/users", {"display_name": ["Ada"]}, "display_name"),
    ("POST", "/api/users", {"display_name": TOO_LONG_NAME}, "display_name"),
    ("POST", "/api/users", {"display_name": "Ada\u0000"}, "display_name"),
    ("POST", "/api/users", {"display_name": "\ud800"}, "display_name"),
    # constellations
    ("POST", "/api/constellations", {"name": "Orion"}, "weight"),
    ("POST", "/api/constellations", {"weight": 3}, "name"),
    ("POST", "/api/constellations", {"name": "Orion", "weight": True}, "weight"),
    ("POST", "/api/constellations", {"name": "Orion", "weight": "3"}, "weight"),
    ("POST", "/api/constellations", {"name": "Orion", "weight": 2.5}, "weight"),
    ("POST", "/api/constellations", {"name": "Orion", "weight": 0}, "weight"),
    ("POST", "/api/constellations", {"name": "Orion", "weight": 1001}, "weight"),
    ("POST", "/api/constellations", {"name": TOO_LONG_NAME, "weight": 3}, "name"),
    ("PUT", "/api/constellations/{big_dipper}", {"weight": False}, "weight"),
    ("PUT", "/api/constellations/{big_dipper}", {"weight": -7}, "weight"),
    ("PUT", "/api/constellations/{big_dipper}", {"name": ""}, "name"),
    ("PUT", "/api/constellations/{big_dipper}", {"name": None}, "name"),
    # attempts
    ("POST", "/api/users/{ada}/constellation_attempts", {}, "constellation_id"),
    ("POST", "/api/users/{ada}/constellation_attempts", {"constellation_id": True}, "constellation_id"),
    ("POST", "/api/users/{ada}/constellation_attempts", {"constellation_id": "1"}, "constellation_id"),
    ("POST", "/api/users/{ada}/constellation_attempts", {"constellation_id": 1.5}, "constellation_id"),
    # sessions
    ("POST", "/api/sessions", {}, "title"),
    ("POST", "/api/sessions", {"minutes": 5}, "title"),
    ("POST", "/api/sessions", {"title": ""}, "title"),
    ("POST", "/api/sessions", {"title": "x" * 201}, "title"),
    ("POST", "/api/sessions", {"title": 7}, "title"),
    ("POST", "/api/sessions", {"constellation_attempt_id": "{a1}", "minutes": -1}, "minutes"),
    ("POST", "/api/sessions", {"constellation_attempt_id": "{a1}", "minutes": 1441}, "minutes"),
    ("POST", "/api/sessions", {"constellation_attempt_id": "{a1}", "minutes": True}, "minutes"),
    ("POST", "/api/sessions", {"constellation_attempt_id": "{a1}", "minutes": "30"}, "minutes"),
    ("POST", "/api/sessions", {"constellation_attempt_id": True, "minutes": 5}, "constellation_attempt_id"),
    ("POST", "/api/sessions", {"constellation_attempt_id": "{a1}", "user_id": False}, "user_id"),
    (
        "POST",
        "/api/sessions",
        {"constellation_attempt_id": "{a1}", "user_id": "{grace}"},
        "constellation_attempt_id",
    ),
    ("POST", "/api/sessions", {"title": "t", "status": "done"}, "status"),
    ("POST", "/api/sessions", {"title": "t", "status": 1}, "status"),
    ("POST", "/api/sessions", {"title": "t", "difficulty": "x" * 51}, "difficulty"),
    ("POST", "/api/sessions", {"title": "t", "description": 3}, "description"),
    ("POST", "/api/sessions", {"title": "t", "started_at": "yesterday"}, "started_at"),
    ("POST", "/api/sessions", {"title": "t", "completed_at": 1733049000}, "completed_at"),
    ("POST", "/api/sessions", {"title": "t", "started_at": "2025-13-01T00:00:00Z"}, "started_at"),
    ("POST", "/api/sessions", {"title": "t", "started_at": "9999-12-31T23:00:00-05:00"}, "started_at"),
    (
        "POST",
        "/api/sessions",
        {"title": "t", "started_at": "2025-12-01T10:00:00Z", "completed_at": "2025-12-01T09:00:00Z"},
        "completed_at",
    ),
    ("PATCH", "/api/sessions/{s1}", {"minutes": -5}, "minutes"),
    ("PATCH", "/api/sessions/{s1}", {"minutes": False}, "minutes"),
    ("PATCH", "/api/sessions/{s1}", {"status": "bogus"}, "status"),
    ("PATCH", "/api/sessions/{s1}", {"status": None}, "status"),
    ("PATCH", "/api/sessions/{s1}", {"title": None}, "title"),
    ("PATCH", "/api/sessions/{s1}", {"title": "x" * 201}, "title"),
    ("PATCH", "/api/sessions/{s1}", {"difficulty": "x" * 51}, "difficulty"),
    ("PATCH", "/api/sessions/{s1}", {"started_at": "not a date"}, "started_at"),
    (
        "PATCH",
        "/api/sessions/{s1}",
        {"started_at": "2025-12-01T12:00:00Z", "completed_at": "2025-12-01T11:00:00Z"},
        "completed_at",
    ),
    # posts
    ("POST", "/api/posts", {"user_id": "{ada}", "constellation_id": "{triangulum}"}, "post_type"),
    (
        "POST",
        "/api/posts",
        {"user_id": "{ada}", "constellation_id": "{triangulum}", "post_type": "brag"},
        "post_type",
    ),
    ("POST", "/api/posts", {"constellation_id": "{triangulum}", "post_type": "progress"}, "user_id"),
    ("POST", "/api/posts", {"user_id": "{ada}", "post_type": "progress"}, "constellation_id"),
    (
        "POST",
        "/api/posts",
        {"user_id": True, "constellation_id": "{triangulum}", "post_type": "progress"},
        "user_id",
    ),
    (
        "POST",
        "/api/posts",
        {
            "user_id": "{ada}",
            "constellation_id": "{triangulum}",
            "post_type": "progress",
            "study_duration": -1,
        },
        "study_duration",
    ),
    (
        "POST",
        "/api/posts",
        {
            "user_id": "{ada}",
            "constellation_id": "{triangulum}",
            "post_type": "progress",
            "study_duration": 2**31,
        },
        "study_duration",
    ),
    (
        "POST",
        "/api/posts",
        {
            "user_id": "{ada}",
            "constellation_id": "{triangulum}",
            "post_type": "progress",
            "study_duration": True,
        },
        "study_duration",
    ),
    (
        "POST",
        "/api/posts",
        {"user_id": "{ada}", "constellation_id": "{triangulum}", "post_type": "progress", "message": 5},
        "message",
    ),
    (
        "POST",
        "/api/posts",
        {
            "user_id": "{ada}",
            "constellation_id": "{triangulum}",
            "post_type": "progress",
            "message": "x" * 60_001,
        },
        "message",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), MALFORMED)
def test_malformed_fields_are_400_naming_the_field(world, method, path, body, field):
    message = refused(world, 400, method, path, body)
    assert field in message, message


def test_every_failing_field_is_named(world):
    message = refused(world, 400, "POST", "/api/constellations", {"name": "", "weight": True})
    assert "name" in message
    assert "weight" in message


WRITES = [
    ("POST", "/api/users"),
    ("POST", "/api/constellations"),
    ("PUT", "/api/constellations/{big_dipper}"),
    ("POST", "/api/users/{ada}/constellation_attempts"),
    ("POST", "/api/sessions"),
    ("PATCH", "/api/sessions/{s1}"),
    ("POST", "/api/posts"),
]
NOT_OBJECTS = ["[1, 2]", '[{"display_name": "Ada"}]', "null", '"Ada"', "42", "true"]
NOT_JSON = ["{bad", '{"display_name": "Ada"', "NaN", '{"weight": Infinity}', "{'name': 'x'}", b"\xff\xfe{}"]


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_bodies_that_are_not_json_objects_are_400(world, method, path):
    for raw in NOT_OBJECTS:
        message = refused(world, 400, method, path, raw=raw)
        assert "body" in message, (raw, message)
    for raw in NOT_JSON:
        refused(world, 400, method, path, raw=raw)


def test_pathological_json_is_400(world):
    refused(world, 400, "POST", "/api/users", raw="[" * 20_000 + "]" * 20_000)
    refused(world, 400, "POST", "/api/sessions", raw='{"title": "t", "minutes": 1' + "0" * 5000 + "}")
    # 1e400 is valid JSON for a number too large for a float: not a number of minutes.
    assert "minutes" in refused(world, 400, "POST", "/api/sessions", raw='{"title": "t", "minutes": 1e400}')


def test_a_body_that_is_not_json_is_refused(world):
    result = world.client.simulate_post("/api/users/", body="display_name=Ada", content_type="text/plain")
    with world.unchanged():
        error_of(result, 415)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=abc", "limit"),
        ("limit=1.5", "limit"),
        ("limit=9223372036854775808", "limit"),
        ("limit=0", "limit"),
        ("limit=99999999999999999999999", "limit"),
        ("offset=abc", "offset"),
        ("offset=-1", "offset"),
    ],
)
def test_malformed_page_parameters_are_400(world, query, field):
    for path in ["/api/users", "/api/v1/sessions/", "/api/feed", "/users/{ada}/posts"]:
        assert field in refused(world, 400, "GET", f"{path}?{query}")


# ---------------------------------------------------------------- 405, 409, 413

WRONG_METHODS = [
    ("PATCH", "/api/users/{ada}", {"GET", "DELETE"}),
    ("DELETE", "/api/users", {"GET", "POST"}),
    ("PUT", "/api/users/{ada}/total_minutes", {"GET"}),
    ("GET", "/api/users/sync-minutes", {"POST"}),
    ("DELETE", "/api/users/{ada}/constellation_attempts/", {"GET", "POST"}),
    ("POST", "/api/v1/constellations/{triangulum}", {"GET", "PUT", "DELETE"}),
    ("DELETE", "/api/constellation_attempts", {"GET"}),
    ("GET", "/api/constellation_attempts/{a1}/complete", {"PUT"}),
    ("POST", "/api/constellation_attempts/{a1}", {"GET", "PUT", "DELETE"}),
    ("PUT", "/api/sessions/", {"GET", "POST"}),
    ("POST", "/api/sessions/{s1}/cancel", {"PUT"}),
    ("PUT", "/api/posts/{p1}", {"GET", "DELETE"}),
    ("POST", "/api/feed/", {"GET"}),
    ("DELETE", "/users/{ada}/posts/", {"GET"}),
    ("POST", "/healthz", {"GET"}),
]


@pytest.mark.parametrize(("method", "path", "allowed"), WRONG_METHODS)
def test_wrong_methods_are_405_with_allow(world, method, path, allowed):
    with world.unchanged():
        result = send(world, method, path, {"display_name": "Eve"})
    error_of(result, 405)
    # Every GET route answers HEAD too.
    head = {"HEAD"} if "GET" in allowed else set()
    assert {m.strip() for m in result.headers["allow"].split(",")} - {"OPTIONS"} == allowed | head


def test_conflicts_are_409_and_change_nothing(world):
    # A star beyond the weight of Grace's completed attempt.
    assert refused(world, 409, "PUT", "/api/constellation_attempts/{a3}")
    # Constellations still referred to by attempts or posts.
    assert refused(world, 409, "DELETE", "/api/constellations/{triangulum}")
    assert refused(world, 409, "DELETE", "/api/v1/constellations/{delphinus}/")
    # A new weight for a constellation whose attempts count stars against it.
    assert refused(world, 409, "PUT", "/api/constellations/{triangulum}", {"weight": 4})


def _padded(size: int) -> str:
    """A valid user body of exactly ``size`` bytes, padded by a field v1 ignores."""
    base = json.dumps({"display_name": "Ada", "pad": ""})
    raw = json.dumps({"display_name": "Ada", "pad": "x" * (size - len(base))})
    assert len(raw.encode()) == size
    return raw


def test_bodies_over_64_kib_are_413(world):
    assert refused(world, 413, "POST", "/api/users", raw=_padded(MAX_BODY + 1))
    refused(world, 413, "PATCH", "/api/sessions/{s1}", raw=" " * (MAX_BODY + 1))
    refused(world, 413, "POST", "/api/v1/posts/", raw="x" * (10 * MAX_BODY))
    # 64 KiB exactly is still accepted.
    result = send(world, "POST", "/api/users", raw=_padded(MAX_BODY))
    assert result.status_code == 201
    assert result.json["display_name"] == "Ada"


# ---------------------------------------------------------------- nothing changes


def test_a_batch_of_failing_requests_changes_nothing(world):
    """Every bad request of this module, one after the other, leaves the store as it was."""
    before = world.snapshot()
    statuses = []
    for method, path, body, _ in UNKNOWN + MALFORMED:
        statuses.append(send(world, method, path, body).status_code)
    for method, path in WRITES:
        for raw in NOT_OBJECTS + NOT_JSON:
            statuses.append(send(world, method, path, raw=raw).status_code)
    for method, path, _ in WRONG_METHODS:
        statuses.append(send(world, method, path, {"display_name": "Eve"}).status_code)
    statuses.append(send(world, "PUT", "/api/constellation_attempts/{a3}").status_code)
    statuses.append(send(world, "DELETE", "/api/constellations/{triangulum}").status_code)
    statuses.append(send(world, "POST", "/api/users", raw=_padded(MAX_BODY + 1)).status_code)
    assert world.snapshot() == before
    assert all(400 <= status < 500 for status in statuses), statuses
