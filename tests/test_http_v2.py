"""API v2 over HTTP: every operation, its envelopes, lists, writes and errors, on every backend.

The contract is the v2 part of the API document: ``{"data": …}`` envelopes,
cursor-paginated lists, ``POST`` 201 with ``Location``, ``PATCH`` of the fields
sent, ``DELETE`` 204, unknown fields refused, RFC 9457 problem details. The
world is the one of the v1 tests (:class:`http_v1_support.V1World`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import attrs
import pytest

from http_v1_support import FAST_PASSWORDS, TIMESTAMP, V1World, make_client, token_for
from http_v2_support import (
    MINUTES_SUMMARY,
    SESSION,
    STUDY,
    Json,
    answer,
    check_attempt,
    check_constellation,
    check_post,
    check_session,
    check_user,
    data,
    ids_of,
    page,
    parameters,
    pointers,
    problem_of,
    send,
)
from luminary import core
from luminary.http import v2
from luminary.http.requests import MAX_BODY


@pytest.fixture
def world(uow_factory, clock) -> V1World:
    return V1World.build(uow_factory, clock)


# ---------------------------------------------------------------- every operation

Check = Callable[[Any, V1World], None]


def _items(check: Callable[[Json], None], expected: Callable[[V1World], list[int]]) -> Check:
    def run(j: Any, w: V1World) -> None:
        assert set(j) == {"data", "next_cursor"}
        assert j["next_cursor"] is None
        for item in j["data"]:
            check(item)
        assert ids_of(j["data"]) == expected(w)

    return run


def _one(check: Callable[[Json], None], **expected: Any) -> Check:
    """Check ``{"data": object}``; expected values may be ``"{name}"``, an id of the world."""

    def run(j: Any, w: V1World) -> None:
        assert set(j) == {"data"}
        check(j["data"])
        for key, value in w.resolve(expected).items():
            assert j["data"][key] == value, (key, j["data"])

    return run


def _expect(j: Any, expected: Any) -> None:
    assert j == expected


def _minutes(j: Any, w: V1World) -> None:
    assert j == {"data": {"user_id": w.ada, "display_name": "Ada", "total_minutes": 0}}
    assert set(j["data"]) == MINUTES_SUMMARY


@attrs.frozen
class Case:
    operation_id: str
    method: str
    path: str
    status: int
    check: Check | None
    body: Any = None
    #: After a 204: a GET of this path (the case's own by default) answers this status.
    after: tuple[str | None, int] = (None, 404)
    #: Paths POSTed first, each answering 200.
    given: tuple[str, ...] = ()


#: Ada's weekly goal, made before the case (POST answers 201, not 200: see test_every_operation).
GOAL_POSTS = ("/me/goals",)
GOAL = GOAL_POSTS


def check_goal(j: Json) -> None:
    assert set(j) == {"id", "user_id", "kind", "target_minutes", "constellation_id", "due", "created_at"}


def _timer(j: Any, w: V1World) -> None:
    timer = j["data"]
    assert set(timer) == {
        "session_id",
        "title",
        "constellation_attempt_id",
        "running",
        "elapsed_seconds",
        "started_at",
        "running_since",
        "stops_at",
    }
    assert (timer["session_id"], timer["title"], timer["running"]) == (w.s3, "Delphinus", True)
    assert timer["elapsed_seconds"] == 0  # a few milliseconds of the world's clock
    assert datetime.fromisoformat(timer["stops_at"]) - datetime.fromisoformat(
        timer["running_since"]
    ) == timedelta(hours=12)


def _account(j: Any, w: V1World) -> None:
    assert j == {
        "data": {
            "id": w.ada,
            "display_name": "Ada",
            "login": "ada",
            "is_admin": True,
            "scopes": ["read", "study", "social", "account", "admin"],
            "total_minutes": 0,
            "current_attempt_id": w.a2,
            "created_at": j["data"]["created_at"],
        }
    }


def _tokens(j: Any, w: V1World) -> None:
    assert set(j) == {"data", "next_cursor"}
    (token,) = j["data"]
    assert set(token) == {"id", "name", "scopes", "created_at", "expires_at", "last_used_at"}
    assert token["name"] == "tests"
    assert token["last_used_at"] is not None  # this very request used it


def _new_token(j: Any, w: V1World) -> None:
    token = j["data"]
    assert set(token) == {"id", "name", "scopes", "created_at", "expires_at", "last_used_at", "secret"}
    assert token["secret"].startswith("lum_")
    assert token["scopes"] == ["read", "study"]
    assert token["last_used_at"] is None
    assert token["expires_at"] == "2026-01-01T10:30:00.000000+00:00" or token["expires_at"].startswith(
        "2025-12-31"
    )


EVERY_OPERATION = [
    # accounts
    Case(
        "signUp",
        "POST",
        "/accounts",
        201,
        _one(check_user, display_name="Hedy", total_minutes=0),
        {"display_name": "Hedy", "login": "Hedy", "password": "frequency hop"},
    ),
    Case("getMe", "GET", "/me", 200, _account),
    Case(
        "changePassword",
        "PUT",
        "/me/password",
        204,
        None,
        {"current_password": "password ada", "new_password": "analytical engine"},
        after=("/me", 200),
    ),
    Case("listTokens", "GET", "/tokens", 200, _tokens),
    Case(
        "createToken",
        "POST",
        "/tokens",
        201,
        _new_token,
        {
            "login": "ADA",
            "password": "password ada",
            "name": "phone",
            "scopes": ["read", "study"],
            "expires_in_days": 30,
        },
    ),
    Case("revokeToken", "DELETE", "/tokens/{t1}", 204, None, after=("/me", 401)),
    Case(
        "claimUser",
        "PUT",
        "/users/{grace}/login",
        201,
        lambda j, w: _expect(j, {"data": {"user_id": w.grace, "login": "grace"}}),
        {"login": "Grace", "password": "amazing grace"},
    ),
    # users
    Case("listUsers", "GET", "/users", 200, _items(check_user, lambda w: [w.ada, w.grace])),
    Case(
        "createUser",
        "POST",
        "/users",
        201,
        _one(check_user, display_name="Lin", total_minutes=0, current_attempt_id=None),
        {"display_name": "Lin"},
    ),
    Case("getUser", "GET", "/users/{ada}", 200, _one(check_user, id="{ada}", current_attempt_id="{a2}")),
    Case(
        "updateUser",
        "PATCH",
        "/users/{ada}",
        200,
        _one(check_user, id="{ada}", display_name="Ada Lovelace", current_attempt_id="{a2}"),
        {"display_name": "Ada Lovelace"},
    ),
    Case("deleteUser", "DELETE", "/users/{grace}", 204, None),
    Case("getUserTotalMinutes", "GET", "/users/{ada}/total_minutes", 200, _minutes),
    Case(
        "listUserCompletedConstellations",
        "GET",
        "/users/{grace}/completed_constellations",
        200,
        _items(check_constellation, lambda w: [w.triangulum]),
    ),
    Case(
        "getUserCurrentAttempt",
        "GET",
        "/users/{ada}/current_attempt",
        200,
        _one(check_attempt, id="{a2}", user_id="{ada}", constellation_id="{delphinus}"),
    ),
    Case(
        "listUserAttempts", "GET", "/users/{ada}/attempts", 200, _items(check_attempt, lambda w: [w.a1, w.a2])
    ),
    Case(
        "listUserSessions",
        "GET",
        "/users/{ada}/sessions",
        200,
        _items(check_session, lambda w: [w.s3, w.s2, w.s1]),
    ),
    Case("listUserPosts", "GET", "/users/{ada}/posts", 200, _items(check_post, lambda w: [w.p3, w.p1])),
    # constellations
    Case(
        "listConstellations",
        "GET",
        "/constellations",
        200,
        _items(check_constellation, lambda w: [w.triangulum, w.delphinus, w.big_dipper]),
    ),
    Case(
        "createConstellation",
        "POST",
        "/constellations",
        201,
        _one(check_constellation, name="Orion", weight=7),
        {"name": "Orion", "weight": 7},
    ),
    Case(
        "getConstellation",
        "GET",
        "/constellations/{triangulum}",
        200,
        _one(check_constellation, id="{triangulum}", name="Triangulum", weight=3),
    ),
    Case(
        "updateConstellation",
        "PATCH",
        "/constellations/{big_dipper}",
        200,
        _one(check_constellation, id="{big_dipper}", name="Ursa Major", weight=7),
        {"name": "Ursa Major"},
    ),
    Case("deleteConstellation", "DELETE", "/constellations/{big_dipper}", 204, None),
    Case(
        "listConstellationPosts",
        "GET",
        "/constellations/{triangulum}/posts",
        200,
        _items(check_post, lambda w: [w.p2, w.p1]),
    ),
    # attempts
    Case("listAttempts", "GET", "/attempts", 200, _items(check_attempt, lambda w: [w.a1, w.a2, w.a3])),
    Case(
        "startAttempt",
        "POST",
        "/attempts",
        201,
        _one(
            check_attempt,
            user_id="{ada}",
            constellation_id="{big_dipper}",
            stars_completed=0,
            completed_at=None,
        ),
        {"user_id": "{ada}", "constellation_id": "{big_dipper}"},
    ),
    Case("getAttempt", "GET", "/attempts/{a1}", 200, _one(check_attempt, id="{a1}", stars_completed=0)),
    Case("deleteAttempt", "DELETE", "/attempts/{a1}", 204, None),
    Case("addStar", "POST", "/attempts/{a1}/stars", 200, _one(check_attempt, id="{a1}", stars_completed=1)),
    Case(
        "completeAttempt",
        "POST",
        "/attempts/{a1}/complete",
        200,
        _one(check_attempt, id="{a1}", stars_completed=3),
    ),
    Case(
        "listAttemptSessions",
        "GET",
        "/attempts/{a1}/sessions",
        200,
        _items(check_session, lambda w: [w.s2, w.s1]),
    ),
    # sessions
    Case("listSessions", "GET", "/sessions", 200, _items(check_session, lambda w: [w.s4, w.s3, w.s2, w.s1])),
    Case(
        "createSession",
        "POST",
        "/sessions",
        201,
        _one(check_session, title="Learn Flask", status="planned", user_id="{ada}"),
        {"title": "Learn Flask", "status": "planned"},
    ),
    Case("getSession", "GET", "/sessions/{s4}", 200, _one(check_session, id="{s4}", title="Learn Falcon")),
    Case(
        "updateSession",
        "PATCH",
        "/sessions/{s4}",
        200,
        _one(check_session, id="{s4}", title="Learn Falcon", difficulty="hard"),
        {"difficulty": "hard"},
    ),
    Case("deleteSession", "DELETE", "/sessions/{s4}", 204, None),
    Case(
        "completeSession",
        "POST",
        "/sessions/{s1}/complete",
        200,
        _one(check_session, id="{s1}", status="completed", minutes=10),
    ),
    Case(
        "cancelSession",
        "POST",
        "/sessions/{s1}/cancel",
        200,
        _one(check_session, id="{s1}", status="cancelled", completed_at=None),
    ),
    # the timer, on s3: Ada's, planned (the world's clock moves a millisecond a reading)
    Case(
        "startTimer",
        "POST",
        "/sessions/{s3}/start",
        200,
        _one(check_session, id="{s3}", status="in_progress", elapsed_seconds=0, auto_stopped=False),
    ),
    Case("getTimer", "GET", "/me/timer", 200, _timer, given=("/sessions/{s3}/start",)),
    Case(
        "pauseTimer",
        "POST",
        "/sessions/{s3}/pause",
        200,
        _one(check_session, id="{s3}", status="in_progress", running_since=None),
        given=("/sessions/{s3}/start",),
    ),
    Case(
        "resumeTimer",
        "POST",
        "/sessions/{s3}/resume",
        200,
        _one(check_session, id="{s3}", status="in_progress", elapsed_seconds=0),
        given=("/sessions/{s3}/start", "/sessions/{s3}/pause"),
    ),
    Case(
        "stopTimer",
        "POST",
        "/sessions/{s3}/stop",
        200,
        _one(check_session, id="{s3}", status="completed", minutes=0, study_day="2025-12-01"),
        given=("/sessions/{s3}/start",),
    ),
    # statistics and streaks (s1 completed first: 10 minutes on 2025-12-01)
    Case(
        "getStats",
        "GET",
        "/me/stats?from=2025-11-24&to=2025-12-07&by=week",
        200,
        lambda j, w: _expect(
            j,
            {
                "data": {
                    "first": "2025-11-24",
                    "last": "2025-12-07",
                    "by": "week",
                    "minutes": 10,
                    "sessions": 1,
                    "buckets": [
                        {"start": "2025-11-24", "end": "2025-11-30", "minutes": 0, "sessions": 0},
                        {"start": "2025-12-01", "end": "2025-12-07", "minutes": 10, "sessions": 1},
                    ],
                }
            },
        ),
        given=("/sessions/{s1}/complete",),
    ),
    Case(
        "getStreaks",
        "GET",
        "/me/streaks",
        200,
        lambda j, w: _expect(
            j,
            {
                "data": {
                    "today": "2025-12-01",
                    "current": 1,
                    "longest": 1,
                    "studied_today": True,
                    "daily_minimum": 1,
                    "rest_days": 0,
                }
            },
        ),
        given=("/sessions/{s1}/complete",),
    ),
    # goals (a goal: Ada's weekly 300 minutes, set first where needed)
    Case(
        "createGoal",
        "POST",
        "/me/goals",
        201,
        _one(check_goal, kind="weekly_minutes", target_minutes=300, user_id="{ada}"),
        {"kind": "weekly_minutes", "target_minutes": 300},
    ),
    Case("listGoals", "GET", "/me/goals", 200, _items(check_goal, lambda w: [w.g1]), given=GOAL),
    Case("getGoal", "GET", "/me/goals/{g1}", 200, _one(check_goal, id="{g1}"), given=GOAL),
    Case("deleteGoal", "DELETE", "/me/goals/{g1}", 204, None, given=GOAL),
    Case(
        "getGoalProgress",
        "GET",
        "/me/progress",
        200,
        lambda j, w: _expect(
            j,
            {
                "data": [
                    {
                        "goal_id": w.g1,
                        "kind": "weekly_minutes",
                        "constellation_id": None,
                        "period_start": "2025-12-01",
                        "period_end": "2025-12-07",
                        "done": 10,
                        "target": 300,
                        "unit": "minutes",
                        "on_pace": True,
                        "per_day": 42,
                    }
                ],
                "next_cursor": None,
            },
        ),
        given=("/sessions/{s1}/complete", *GOAL_POSTS),
    ),
    # posts and the feed
    Case("listPosts", "GET", "/posts", 200, _items(check_post, lambda w: [w.p3, w.p2, w.p1])),
    Case(
        "createPost",
        "POST",
        "/posts",
        201,
        _one(check_post, user_id="{ada}", post_type="progress", message="Two stars!", study_duration=25),
        {
            "user_id": "{ada}",
            "constellation_id": "{triangulum}",
            "post_type": "progress",
            "message": "Two stars!",
            "study_duration": 25,
        },
    ),
    Case("getPost", "GET", "/posts/{p1}", 200, _one(check_post, id="{p1}", message="Two stars!")),
    Case("deletePost", "DELETE", "/posts/{p1}", 204, None),
    Case("getFeed", "GET", "/feed", 200, _items(check_post, lambda w: [w.p3, w.p2, w.p1])),
]


def test_the_table_covers_every_operation():
    assert len(EVERY_OPERATION) == len(v2.OPERATIONS)
    assert {c.operation_id for c in EVERY_OPERATION} == {op.operation_id for op in v2.OPERATIONS}
    for case in EVERY_OPERATION:
        op = next(op for op in v2.OPERATIONS if op.operation_id == case.operation_id)
        assert (op.method, op.status) == (case.method, case.status), case
        # The same path, ids of the world in place of the parameters.
        ours, theirs = (v2.PREFIX + case.path.split("?")[0]).split("/"), op.path.split("/")
        assert len(ours) == len(theirs), case
        for a, b in zip(ours, theirs, strict=True):
            assert a == b or (a.startswith("{") and b.startswith("{")), case


@pytest.mark.parametrize("case", EVERY_OPERATION, ids=lambda c: c.operation_id)
def test_every_operation(world, case):
    for given in case.given:
        if given == "/me/goals":
            body = {"kind": "weekly_minutes", "target_minutes": 300}
            made = send(world, "POST", v2.PREFIX + given, body)
            assert made.status_code == 201
            world.ids["g1"] = made.json["data"]["id"]
            continue
        assert send(world, "POST", v2.PREFIX + given).status_code == 200
    path = v2.PREFIX + case.path
    result = (
        send(world, case.method, path) if case.body is None else send(world, case.method, path, case.body)
    )
    assert result.status_code == case.status, (result.status, result.text)
    if case.status == 204:
        assert result.content == b""
        after, status = case.after
        later = send(world, "GET", v2.PREFIX + after if after else path)
        assert later.status_code == status, later.text
        return
    assert result.headers["content-type"] == "application/json"
    assert case.check is not None
    case.check(result.json, world)
    op = next(op for op in v2.OPERATIONS if op.operation_id == case.operation_id)
    if case.status == 201 and op.location is not None:
        location = result.headers["location"]
        assert location == op.location.format(id=result.json["data"]["id"])
        assert answer(world, "GET", location) == result.json


# ---------------------------------------------------------------- the Learning Sessions examples


def test_the_learning_sessions_create_example(world, clock):
    result = send(world, "POST", "/api/v2/sessions/", {"title": "Learn Flask", "status": "planned"})
    assert result.status_code == 201
    assert set(result.json) == {"data"}
    session = result.json["data"]
    assert set(session) == SESSION | STUDY
    created = session.pop("created_at")
    updated = session.pop("updated_at")
    new_id = session.pop("id")
    assert session == {
        "title": "Learn Flask",
        "status": "planned",
        "description": None,
        "difficulty": None,
        "started_at": None,
        "completed_at": None,
        "user_id": world.ada,  # a session is its creator's: the token's holder
        "constellation_attempt_id": None,
        "minutes": None,
        "study_day": None,
        "running_since": None,
        "elapsed_seconds": None,
        "auto_stopped": False,
    }
    assert type(new_id) is int
    # ISO-8601 in UTC with +00:00, full precision (the clock moves a millisecond per reading).
    for stamp in (created, updated):
        assert TIMESTAMP.fullmatch(stamp), stamp
        assert re.fullmatch(r"2025-12-01T10:30:00\.\d{3}000\+00:00", stamp), stamp
    assert datetime.fromisoformat(updated) >= datetime.fromisoformat(created)
    assert result.headers["location"] == f"/api/v2/sessions/{new_id}"


def test_the_learning_sessions_patch_example(world, clock):
    before = data(world, "POST", "/api/v2/sessions", {"title": "Learn Flask", "status": "planned"}, 201)
    clock.advance(timedelta(minutes=5))
    after = data(
        world, "PATCH", f"/api/v2/sessions/{before['id']}", {"status": "in_progress", "difficulty": "medium"}
    )
    changed = {k for k in SESSION if after[k] != before[k]}
    assert changed == {"status", "difficulty", "updated_at"}
    assert (after["status"], after["difficulty"]) == ("in_progress", "medium")
    moved = datetime.fromisoformat(after["updated_at"]) - datetime.fromisoformat(before["updated_at"])
    assert moved >= timedelta(minutes=5)
    assert after["created_at"] == before["created_at"]
    assert data(world, "GET", f"/api/v2/sessions/{before['id']}") == after


# ---------------------------------------------------------------- writes


PATCHES = [
    ("/api/v2/users/{ada}", {"display_name": "Ada L."}),
    ("/api/v2/constellations/{big_dipper}", {"weight": 8}),
    ("/api/v2/constellations/{big_dipper}", {"name": "Ursa Major"}),
    ("/api/v2/sessions/{s4}", {"title": "Learn Falcon 4"}),
    ("/api/v2/sessions/{s4}", {"description": "The framework", "difficulty": None}),
    ("/api/v2/sessions/{s1}", {"minutes": 45, "started_at": "2025-12-01T09:00:00Z"}),
]


@pytest.mark.parametrize(("path", "body"), PATCHES)
def test_patch_changes_only_the_fields_sent(world, clock, path, body):
    before = data(world, "GET", path)
    clock.advance(timedelta(seconds=30))
    after = data(world, "PATCH", path, body)
    assert set(after) == set(before)
    sent = dict(body)
    if "started_at" in sent:
        sent["started_at"] = "2025-12-01T09:00:00+00:00"
    for key in before:
        if key in sent:
            assert after[key] == sent[key], key
        elif key == "updated_at":
            assert datetime.fromisoformat(after[key]) >= datetime.fromisoformat(before[key]) + timedelta(
                seconds=30
            )
        else:
            assert after[key] == before[key], key
    assert data(world, "GET", path) == after


def test_an_empty_patch_changes_nothing_not_even_updated_at(world, clock):
    before = data(world, "GET", "/api/v2/sessions/{s4}")
    clock.advance(timedelta(hours=1))
    assert data(world, "PATCH", "/api/v2/sessions/{s4}", {}) == before
    assert data(world, "PATCH", "/api/v2/sessions/{s4}", {"title": "Learn Falcon"}) == before


def test_patch_to_null_clears_nullable_fields(world):
    data(world, "PATCH", "/api/v2/sessions/{s4}", {"description": "d", "difficulty": "easy", "minutes": 5})
    cleared = data(world, "PATCH", "/api/v2/sessions/{s4}", {"description": None, "difficulty": None})
    assert (cleared["description"], cleared["difficulty"], cleared["minutes"]) == (None, None, 5)


def test_delete_answers_204_without_a_body_and_the_object_is_gone(world):
    for path in [
        "/posts/{p1}",
        "/sessions/{s1}",
        "/attempts/{a2}",
        "/users/{grace}",
        "/constellations/{big_dipper}",
    ]:
        result = send(world, "DELETE", "/api/v2" + path)
        assert result.status_code == 204, (path, result.text)
        assert result.content == b""
        problem_of(send(world, "GET", "/api/v2" + path), 404)
        problem_of(send(world, "DELETE", "/api/v2" + path), 404)


def test_deleting_a_user_removes_their_attempts_sessions_and_posts(world):
    # Ada holds the world's token, which goes with her: another administrator looks afterwards.
    root = core.SignUp(display_name="Root", login="root", password="password root")
    core.create_account(
        world.uow_factory(), root, actor=core.SYSTEM, clock=world.clock, admin=True, passwords=FAST_PASSWORDS
    )
    other = token_for(world.uow_factory, world.clock, "root")
    assert send(world, "DELETE", "/api/v2/users/{ada}").status_code == 204
    problem_of(send(world, "GET", "/api/v2/me"), 401)
    world.client = make_client(world.uow_factory, world.clock, token=other)
    for path in [
        "/attempts/{a1}",
        "/attempts/{a2}",
        "/sessions/{s1}",
        "/sessions/{s3}",
        "/posts/{p1}",
        "/posts/{p3}",
    ]:
        problem_of(send(world, "GET", "/api/v2" + path), 404)
    assert ids_of(page(world, "/api/v2/feed")[0]) == [world.p2]
    assert ids_of(page(world, "/api/v2/sessions")[0]) == [world.s4]


def test_starting_an_attempt_makes_it_the_users_current_one(world):
    started = data(
        world, "POST", "/api/v2/attempts", {"user_id": "{ada}", "constellation_id": "{big_dipper}"}, 201
    )
    assert data(world, "GET", "/api/v2/users/{ada}")["current_attempt_id"] == started["id"]
    assert data(world, "GET", "/api/v2/users/{ada}/current_attempt") == started


def test_every_create_answers_201_with_the_location_of_the_new_object(world):
    bodies = {
        "/users": {"display_name": "Lin"},
        "/constellations": {"name": "Orion", "weight": 7},
        "/attempts": {"user_id": "{grace}", "constellation_id": "{delphinus}"},
        "/sessions": {"title": "Read", "user_id": "{grace}", "minutes": 15},
        "/posts": {"user_id": "{grace}", "constellation_id": "{delphinus}", "post_type": "completion"},
    }
    for path, body in bodies.items():
        result = send(world, "POST", "/api/v2" + path + "/", body)
        assert result.status_code == 201, (path, result.text)
        assert result.headers["location"] == f"/api/v2{path}/{result.json['data']['id']}"
        assert answer(world, "GET", result.headers["location"]) == result.json


# ---------------------------------------------------------------- minutes and actions


def _total(world: V1World, user: str = "{ada}") -> int:
    total: int = data(world, "GET", f"/api/v2/users/{user}/total_minutes")["total_minutes"]
    assert data(world, "GET", f"/api/v2/users/{user}")["total_minutes"] == total
    return total


def test_completing_a_session_by_patch_or_by_action_moves_the_users_minutes(world):
    assert _total(world) == 0
    done = data(world, "PATCH", "/api/v2/sessions/{s1}", {"status": "completed"})
    assert (done["status"], done["minutes"]) == ("completed", 10)
    assert TIMESTAMP.fullmatch(done["completed_at"])
    assert _total(world) == 10
    assert data(world, "POST", "/api/v2/sessions/{s2}/complete")["status"] == "completed"
    assert _total(world) == 30
    # Completing again counts nothing twice.
    assert data(world, "POST", "/api/v2/sessions/{s2}/complete")["status"] == "completed"
    assert data(world, "PATCH", "/api/v2/sessions/{s1}", {"status": "completed"})["minutes"] == 10
    assert _total(world) == 30
    # The minutes of a completed session move the total by the difference.
    data(world, "PATCH", "/api/v2/sessions/{s1}", {"minutes": 25})
    assert _total(world) == 45
    # Back to another status, cancelled, deleted: the minutes leave.
    reopened = data(world, "PATCH", "/api/v2/sessions/{s1}", {"status": "in_progress"})
    assert (reopened["status"], reopened["completed_at"]) == ("in_progress", None)
    assert _total(world) == 20
    assert data(world, "POST", "/api/v2/sessions/{s2}/cancel")["status"] == "cancelled"
    assert _total(world) == 0
    data(world, "POST", "/api/v2/sessions/{s3}/complete")
    assert _total(world) == 5
    assert send(world, "DELETE", "/api/v2/sessions/{s3}").status_code == 204
    assert _total(world) == 0
    assert _total(world, "{grace}") == 0


def test_a_session_created_completed_counts_at_once(world):
    created = data(
        world,
        "POST",
        "/api/v2/sessions",
        {"title": "Sprint", "user_id": "{grace}", "minutes": 40, "status": "completed"},
        201,
    )
    assert (created["status"], created["minutes"]) == ("completed", 40)
    assert created["completed_at"] is not None
    assert _total(world, "{grace}") == 40


def test_completing_a_session_that_starts_later_is_a_conflict(world):
    planned = data(
        world,
        "POST",
        "/api/v2/sessions",
        {"title": "Tomorrow", "started_at": "2099-01-01T09:00:00+00:00"},
        201,
    )
    path = f"/api/v2/sessions/{planned['id']}"
    with world.unchanged():
        problem_of(send(world, "POST", path + "/complete"), 409)
        problem_of(send(world, "PATCH", path, {"status": "completed"}), 409)
        problem_of(send(world, "PATCH", path, {"completed_at": "2098-01-01T00:00:00Z"}), 409)
        # Both times in one body, out of order: the body is wrong, and says where.
        problem = problem_of(
            send(
                world,
                "PATCH",
                path,
                {"started_at": "2025-12-02T00:00:00Z", "completed_at": "2025-12-01T00:00:00Z"},
            ),
            400,
        )
        assert set(pointers(problem)) == {"/completed_at"}


def test_stars_and_completion_of_attempts(world):
    first = data(world, "POST", "/api/v2/attempts/{a1}/stars")
    assert (first["stars_completed"], first["completed_at"]) == (1, None)
    assert data(world, "POST", "/api/v2/attempts/{a1}/stars")["stars_completed"] == 2
    last = data(world, "POST", "/api/v2/attempts/{a1}/stars")
    assert last["stars_completed"] == 3  # Triangulum's weight: complete
    assert TIMESTAMP.fullmatch(last["completed_at"])
    with world.unchanged():
        problem = problem_of(send(world, "POST", "/api/v2/attempts/{a1}/stars"), 409)
    assert problem["title"] == "Conflict"
    assert "complete" in problem["detail"]
    # Completion is idempotent, and releases the user's current attempt.
    assert data(world, "GET", "/api/v2/users/{ada}")["current_attempt_id"] == world.a2
    done = data(world, "POST", "/api/v2/attempts/{a2}/complete")
    assert (done["stars_completed"], done["completed_at"] is not None) == (5, True)
    assert data(world, "POST", "/api/v2/attempts/{a2}/complete") == done
    assert data(world, "GET", "/api/v2/users/{ada}")["current_attempt_id"] is None
    # No current attempt is nothing to show, not a missing resource: only a missing user is 404.
    assert answer(world, "GET", "/api/v2/users/{ada}/current_attempt") == {"data": None}
    problem = problem_of(send(world, "GET", "/api/v2/users/999/current_attempt"), 404)
    assert problem["detail"] == "User not found!"
    with world.unchanged():
        problem_of(send(world, "POST", "/api/v2/attempts/{a2}/stars"), 409)
    assert ids_of(page(world, "/api/v2/users/{ada}/completed_constellations")[0]) == [
        world.triangulum,
        world.delphinus,
    ]


# ---------------------------------------------------------------- lists


def test_lists_are_paged_by_cursor_50_by_default_at_most_100(world):
    uow, clock = world.uow_factory, world.clock
    for i in range(118):
        core.create_user(
            uow(), core.CreateUser(f"Student {i}"), clock=clock, actor=core.SYSTEM
        )  # 120 users in all
    first, cursor = page(world, "/api/v2/users")
    assert len(first) == 50
    assert cursor is not None
    second, cursor = page(world, f"/api/v2/users?cursor={cursor}")
    assert len(second) == 50
    third, cursor = page(world, f"/api/v2/users?cursor={cursor}")
    assert (len(third), cursor) == (20, None)
    everyone = ids_of(first + second + third)
    assert everyone == sorted(everyone)
    assert len(set(everyone)) == 120
    biggest, cursor = page(world, "/api/v2/users?limit=100")
    assert ids_of(biggest) == everyone[:100]
    assert cursor is not None
    assert ids_of(page(world, f"/api/v2/users?limit=100&cursor={cursor}")[0]) == everyone[100:]
    problem = problem_of(send(world, "GET", "/api/v2/users?limit=101"), 400)
    assert set(parameters(problem)) == {"limit"}


def test_paging_through_a_newest_first_list_sees_each_item_once(world):
    for i in range(8):
        core.create_session(
            world.uow_factory(),
            core.CreateSession(title=f"Session {i}"),
            clock=world.clock,
            actor=core.SYSTEM,
        )
    expected = ids_of(page(world, "/api/v2/sessions?limit=100")[0])
    assert len(expected) == 12
    seen: list[int] = []
    cursor: str | None = None
    while True:
        items, cursor = page(world, "/api/v2/sessions?limit=5" + (f"&cursor={cursor}" if cursor else ""))
        seen += ids_of(items)
        assert len(items) == 5 or cursor is None
        if cursor is None:
            break
    assert seen == expected


def test_sessions_are_listed_by_created_at_newest_first_not_by_id(world, clock):
    clock.advance(timedelta(days=1))
    later = core.create_session(
        world.uow_factory(), core.CreateSession(title="Later, smaller id"), clock=clock, actor=core.SYSTEM
    )
    clock.advance(timedelta(days=-2))
    earlier = core.create_session(
        world.uow_factory(), core.CreateSession(title="Earlier, larger id"), clock=clock, actor=core.SYSTEM
    )
    assert earlier.id > later.id
    sessions, _ = page(world, "/api/v2/sessions")
    assert ids_of(sessions)[0] == later.id
    stamps = [datetime.fromisoformat(s["created_at"]) for s in sessions]
    assert stamps == sorted(stamps, reverse=True)
    # The newest, then the world's sessions, then the oldest: a larger id is no reason to come first.
    assert ids_of(sessions) == [later.id, world.s4, world.s3, world.s2, world.s1, earlier.id]


def test_list_of_a_missing_parent_is_404(world):
    for path in [
        "/users/999/attempts",
        "/users/999/sessions",
        "/users/999/posts",
        "/users/999/completed_constellations",
        "/constellations/999/posts",
        "/attempts/999/sessions",
    ]:
        problem_of(send(world, "GET", "/api/v2" + path), 404)


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("limit=0", "between"),
        ("limit=abc", "integer"),
        ("limit=1.5", "integer"),
        ("limit=%2B5", "integer"),
        ("limit=1_0", "integer"),
        ("limit=", "integer"),
        ("limit=" + "9" * 5000, "range"),
        ("cursor=", "cursor"),
        ("cursor=W251bGwsIDFd", "cursor"),
        ("cursor=12_", "cursor"),
    ],
)
def test_malformed_page_parameters_name_the_parameter(world, query, detail):
    name = query.split("=")[0]
    problem = problem_of(send(world, "GET", f"/api/v2/sessions?{query}"), 400)
    assert set(parameters(problem)) == {name}
    assert detail in parameters(problem)[name]
    assert not pointers(problem)


# ---------------------------------------------------------------- refused input


BODY_OPERATIONS = [
    ("POST", "/api/v2/users", {"display_name": "Lin"}),
    ("PATCH", "/api/v2/users/{ada}", {"display_name": "Lin"}),
    ("POST", "/api/v2/constellations", {"name": "Orion", "weight": 7}),
    ("PATCH", "/api/v2/constellations/{big_dipper}", {"weight": 8}),
    ("POST", "/api/v2/attempts", {"user_id": "{ada}", "constellation_id": "{big_dipper}"}),
    ("POST", "/api/v2/sessions", {"title": "Learn Flask"}),
    ("PATCH", "/api/v2/sessions/{s1}", {"minutes": 3}),
    (
        "POST",
        "/api/v2/posts",
        {"user_id": "{ada}", "constellation_id": "{triangulum}", "post_type": "progress"},
    ),
]


@pytest.mark.parametrize(("method", "path", "body"), BODY_OPERATIONS)
def test_unknown_body_fields_are_refused_with_a_pointer_each(world, method, path, body):
    with world.unchanged():
        problem = problem_of(send(world, method, path, {**body, "titel": "x", "a/b~c": 1, "": 0}), 400)
    assert pointers(problem) == {
        "/titel": "is not a known field",
        "/a~1b~0c": "is not a known field",
        "/": "is not a known field",
    }
    # The same body without them is accepted.
    assert send(world, method, path, body).status_code in (200, 201)


@pytest.mark.parametrize(("method", "path", "body"), BODY_OPERATIONS)
def test_a_body_is_required_and_must_be_an_object(world, method, path, body):
    with world.unchanged():
        missing = problem_of(send(world, method, path), 400)
        assert pointers(missing) == {"": "is required: send a JSON object"}
        for raw in ["[]", "null", "42", '"x"', "true"]:
            assert pointers(problem_of(send(world, method, path, raw=raw), 400)) == {
                "": "must be a JSON object"
            }


MALFORMED = [
    ("POST", "/api/v2/users", {}, {"/display_name"}),
    ("POST", "/api/v2/users", {"display_name": "   "}, {"/display_name"}),
    ("POST", "/api/v2/users", {"display_name": "x" * 1001}, {"/display_name"}),
    ("POST", "/api/v2/constellations", {"name": "", "weight": True}, {"/name", "/weight"}),
    ("POST", "/api/v2/constellations", {"name": "Orion", "weight": 1001}, {"/weight"}),
    ("PATCH", "/api/v2/constellations/{big_dipper}", {"weight": 0}, {"/weight"}),
    ("PATCH", "/api/v2/users/{ada}", {"display_name": None}, {"/display_name"}),
    ("POST", "/api/v2/sessions", {}, {"/title"}),
    ("POST", "/api/v2/sessions", {"title": None, "constellation_attempt_id": "{a1}"}, {"/title"}),
    ("POST", "/api/v2/sessions", {"title": "t", "status": None}, {"/status"}),
    ("POST", "/api/v2/sessions", {"title": "t", "status": "done"}, {"/status"}),
    ("POST", "/api/v2/sessions", {"title": "t", "description": " "}, {"/description"}),
    ("POST", "/api/v2/sessions", {"title": "t", "difficulty": "x" * 51}, {"/difficulty"}),
    ("POST", "/api/v2/sessions", {"title": "t", "minutes": 1441}, {"/minutes"}),
    ("POST", "/api/v2/sessions", {"title": "t", "started_at": "2025-12-01"}, {"/started_at"}),
    ("POST", "/api/v2/sessions", {"title": "t", "completed_at": "yesterday"}, {"/completed_at"}),
    ("PATCH", "/api/v2/sessions/{s1}", {"title": None}, {"/title"}),
    ("PATCH", "/api/v2/sessions/{s1}", {"title": "", "minutes": -1}, {"/title", "/minutes"}),
    ("PATCH", "/api/v2/sessions/{s1}", {"started_at": "2025-12-01 10:00:00"}, {"/started_at"}),
    ("POST", "/api/v2/posts", {"user_id": "{ada}", "constellation_id": "{triangulum}"}, {"/post_type"}),
    (
        "POST",
        "/api/v2/posts",
        {"user_id": "{ada}", "constellation_id": "{triangulum}", "post_type": "brag", "study_duration": 1.5},
        {"/post_type", "/study_duration"},
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "fields"), MALFORMED)
def test_malformed_fields_are_400_with_a_pointer_each(world, method, path, body, fields):
    with world.unchanged():
        problem = problem_of(send(world, method, path, body), 400)
    assert set(pointers(problem)) == fields
    assert problem["title"] == "Bad Request"


# ---------------------------------------------------------------- problem details


def test_404_problems(world):
    for path in ["/users/999", "/constellations/999", "/attempts/999", "/sessions/999", "/posts/999"]:
        problem = problem_of(send(world, "GET", "/api/v2" + path), 404)
        assert problem["title"] == "Not Found"
        assert "not found" in problem["detail"]
    problem = problem_of(
        send(world, "POST", "/api/v2/attempts", {"user_id": 999, "constellation_id": 1}), 404
    )
    assert problem["detail"] == "User not found!"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v2",
        "/api/v2/",
        "/api/v2/nothing",
        "/api/v2/users/ada",
        "/api/v2/users/1/friends",
        "/api/v2/users/1.5",
    ],
)
def test_unknown_routes_under_api_v2_are_404_problems(world, path):
    for method in ("GET", "POST", "DELETE"):
        problem = problem_of(send(world, method, path), 404)
        assert problem["title"] == "Not Found"


WRONG_METHODS = [
    ("DELETE", "/api/v2/users", {"GET", "POST"}),
    ("PUT", "/api/v2/users/{ada}", {"GET", "PATCH", "DELETE"}),
    ("POST", "/api/v2/users/{ada}/total_minutes", {"GET"}),
    ("PATCH", "/api/v2/attempts/{a1}", {"GET", "DELETE"}),
    ("GET", "/api/v2/attempts/{a1}/stars", {"POST"}),
    ("PUT", "/api/v2/sessions/{s1}", {"GET", "PATCH", "DELETE"}),
    ("GET", "/api/v2/sessions/{s1}/complete", {"POST"}),
    ("POST", "/api/v2/feed", {"GET"}),
    ("POST", "/api/v2/openapi.json", {"GET"}),
]


@pytest.mark.parametrize(("method", "path", "allowed"), WRONG_METHODS)
def test_wrong_methods_are_405_problems_with_allow(world, method, path, allowed):
    with world.unchanged():
        result = send(world, method, path, {"display_name": "Eve"})
    problem = problem_of(result, 405)
    assert problem["title"] == "Method Not Allowed"
    # Every GET route answers HEAD too.
    head = {"HEAD"} if "GET" in allowed else set()
    assert {m.strip() for m in result.headers["allow"].split(",")} - {"OPTIONS"} == allowed | head


def test_conflicts_are_409_problems(world):
    with world.unchanged():
        for method, path, body in [
            ("POST", "/api/v2/attempts/{a3}/stars", None),
            ("DELETE", "/api/v2/constellations/{triangulum}", None),
            ("PATCH", "/api/v2/constellations/{triangulum}", {"weight": 4}),
        ]:
            result = send(world, method, path, body) if body else send(world, method, path)
            assert problem_of(result, 409)["title"] == "Conflict"


def test_bodies_over_64_kib_are_413_problems(world):
    with world.unchanged():
        problem = problem_of(send(world, "POST", "/api/v2/users", raw=" " * (MAX_BODY + 1)), 413)
    assert str(MAX_BODY) in problem["detail"]
    # 64 KiB exactly is still read.
    padded = '{"display_name": "Ada"}'.ljust(MAX_BODY)
    assert send(world, "POST", "/api/v2/users", raw=padded).status_code == 201


def test_bodies_that_are_not_json_are_415_or_400_problems(world):
    with world.unchanged():
        for content_type in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ]:
            problem = problem_of(
                send(world, "POST", "/api/v2/users", raw="display_name=Ada", content_type=content_type), 415
            )
            assert problem["title"] == "Unsupported Media Type"
        problem = problem_of(send(world, "POST", "/api/v2/users", raw="{bad"), 400)
        assert "JSON" in problem["title"] + problem["detail"]


def test_errors_outside_api_v2_stay_v1_shaped(world):
    result = send(world, "GET", "/api/users/999/")
    assert result.status_code == 404
    assert result.headers["content-type"] == "application/json"
    assert set(result.json) == {"error"}
    result = send(world, "GET", "/api/v2x/users")
    assert result.status_code == 404
    assert result.headers["content-type"] == "application/json"
