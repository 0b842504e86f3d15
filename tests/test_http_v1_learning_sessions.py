"""``/api/sessions`` as the Learning Sessions document describes it, beside the iOS app's three calls.

The document's API lives at ``/api/sessions`` (and ``/api/v1/sessions``) with
``{"data": …}`` answers and ``{"error": …}`` errors; the app posts its study
sessions to the same path and completes or cancels them there, and keeps its
bare v1 answers. :func:`luminary.http.v1.is_study_session_body` tells the two
``POST`` bodies apart; both sides of that rule are tested here.
"""

from __future__ import annotations

from typing import Any

import pytest

from http_v1_support import (
    DOCUMENT_SESSION,
    LEARNING_SESSION,
    V1World,
    check_learning_session,
    check_session,
    error_of,
)
from luminary.http import v1
from luminary.http.media import dumps

PREFIXES = ["/api", "/api/v1"]


@pytest.fixture
def world(uow_factory, clock, v1_mode) -> V1World:
    return V1World.build(uow_factory, clock, v1_mode=v1_mode)


def send(world: V1World, method: str, path: str, body: Any = None) -> Any:
    return world.client.simulate_request(method, path.format(**world.ids), json=world.resolve(body))


def data_of(result: Any, status: int) -> Any:
    assert result.status_code == status, (result.status, result.text)
    assert result.headers["content-type"] == "application/json"
    assert set(result.json) == {"data"}, result.json
    return result.json["data"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_the_documents_examples_give_the_documented_answers(world, prefix):
    created = send(world, "POST", f"{prefix}/sessions/", {"title": "Learn Flask", "status": "planned"})
    session = data_of(created, 201)
    check_learning_session(session)
    assert set(session) >= DOCUMENT_SESSION
    assert {k: session[k] for k in ("title", "status", "description", "difficulty")} == {
        "title": "Learn Flask",
        "status": "planned",
        "description": None,
        "difficulty": None,
    }
    assert (session["started_at"], session["completed_at"]) == (None, None)
    assert session["created_at"].endswith("+00:00")
    assert session["updated_at"].endswith("+00:00")
    sid = session["id"]
    assert created.headers["location"] == f"{prefix}/sessions/{sid}"

    listed = data_of(send(world, "GET", f"{prefix}/sessions/"), 200)
    assert [s["id"] for s in listed] == [sid, world.s4, world.s3, world.s2, world.s1]  # newest first
    for item in listed:
        check_learning_session(item)

    patched = data_of(
        send(world, "PATCH", f"{prefix}/sessions/{sid}", {"status": "in_progress", "difficulty": "medium"}),
        200,
    )
    assert (patched["status"], patched["difficulty"]) == ("in_progress", "medium")
    assert patched["updated_at"] > session["updated_at"]
    same = {k for k in LEARNING_SESSION if k not in {"status", "difficulty", "updated_at"}}
    assert {k: patched[k] for k in same} == {k: session[k] for k in same}
    assert data_of(send(world, "GET", f"{prefix}/sessions/{sid}"), 200) == patched

    deleted = send(world, "DELETE", f"{prefix}/sessions/{sid}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    for method, body in [("GET", None), ("PATCH", {"title": "Again"}), ("DELETE", None)]:
        assert error_of(send(world, method, f"{prefix}/sessions/{sid}", body), 404) == "Session not found"


ERRORS = [
    ({"title": ""}, "title"),
    ({"status": "planned"}, "title"),
    ({}, "title"),
    ({"title": "Go", "status": "finished"}, "status"),
    ({"title": "Go", "difficulty": "d" * 51}, "difficulty"),
    ({"title": "Go", "started_at": "yesterday"}, "started_at"),
    ({"title": "t" * 201}, "title"),
]


@pytest.mark.parametrize(("body", "field"), ERRORS)
def test_a_bad_learning_session_is_400_naming_the_field_and_changes_nothing(world, body, field):
    with world.unchanged():
        message = error_of(send(world, "POST", "/api/sessions/", body), 400)
        assert field in message
        patch = {"title": ""} if field == "title" else {k: v for k, v in body.items() if k != "title"}
        assert field in error_of(send(world, "PATCH", "/api/sessions/{s4}", patch), 400)


def test_a_refused_patch_changes_nothing(world):
    for body, field in [
        ({"status": "done"}, "status"),
        ({"title": None}, "title"),
        ({"minutes": -1}, "minutes"),
    ]:
        with world.unchanged():
            assert field in error_of(send(world, "PATCH", "/api/sessions/{s4}", body), 400)


# ---------------------------------------------------------------- the rule that tells the bodies apart

STUDY_BODIES = [
    {"user_id": "{ada}", "constellation_attempt_id": "{a2}", "minutes": 25},  # what the app sends
    {"constellation_attempt_id": "{a2}", "minutes": 25},
    {"constellation_attempt_id": None, "user_id": "{ada}", "title": "Evening", "minutes": 25},
    {"constellation_attempt_id": "{a1}", "title": "With a title"},
]
LEARNING_BODIES = [
    {"title": "Learn Flask"},
    {"title": "Learn Flask", "status": "in_progress", "description": "Routing", "difficulty": "easy"},
    {"title": "Mine", "user_id": "{ada}", "minutes": 25},
]


@pytest.mark.parametrize("body", STUDY_BODIES)
def test_a_body_naming_an_attempt_is_the_apps_study_session_and_gets_the_bare_v1_session(world, body):
    assert v1.is_study_session_body(world.resolve(body))
    result = send(world, "POST", "/api/sessions/", body)
    assert result.status_code == 201
    check_session(result.json)
    assert "location" not in result.headers


@pytest.mark.parametrize("body", LEARNING_BODIES)
def test_any_other_body_is_a_learning_session_and_gets_data(world, body):
    assert not v1.is_study_session_body(world.resolve(body))
    session = data_of(send(world, "POST", "/api/sessions", body), 201)
    check_learning_session(session)
    assert {k: session[k] for k in body} == world.resolve(body)


def test_the_apps_three_calls_keep_their_answers_byte_for_byte(world):
    """POST a study session, complete it, cancel it: the bare v1 session, as before."""
    body = {"user_id": world.ada, "constellation_attempt_id": world.a2, "minutes": 25}
    created = send(world, "POST", "/api/sessions/", body)
    assert created.status_code == 201
    sid = created.json["id"]
    on_a2 = send(world, "GET", "/api/constellation_attempts/{a2}/sessions").json["sessions"]
    assert created.content == dumps(next(s for s in on_a2 if s["id"] == sid))
    for path in (f"/api/sessions/{sid}/complete", f"/api/sessions/{sid}/complete/"):
        completed = send(world, "PUT", path)
        assert completed.status_code == 200
        check_session(completed.json)
        assert completed.json["is_completed"] is True
    for path in (f"/api/v1/sessions/{sid}/cancel", f"/api/sessions/{sid}/cancel/"):
        cancelled = send(world, "PUT", path)
        assert cancelled.status_code == 200
        check_session(cancelled.json)
        assert (cancelled.json["status"], cancelled.json["is_completed"]) == ("cancelled", False)
    assert error_of(send(world, "PUT", "/api/sessions/999/complete"), 404) == "Session not found!"


def test_v2_sessions_are_the_learning_sessions_with_study_days_and_timers(world):
    result = send(world, "POST", "/api/v2/sessions/", {"title": "Learn Flask", "status": "planned"})
    assert result.status_code == 201
    timer = {"study_day", "running_since", "elapsed_seconds", "auto_stopped"}
    assert set(result.json["data"]) == LEARNING_SESSION | timer
    bad = send(world, "POST", "/api/v2/sessions/", {"title": "Go", "unknown": 1})
    assert (bad.status_code, bad.headers["content-type"]) == (400, "application/problem+json")
