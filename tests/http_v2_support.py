"""Helpers of the HTTP API v2 tests: the v2 shapes, answers and problem details.

The world is :class:`http_v1_support.V1World` (a populated store and a client over
it): v1 and v2 are two views of one domain. The key sets below are copied from
the v2 part of the API document and the data model of the design.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import falcon.testing

from http_v1_support import V1World, check_timestamp, is_count, is_id

Json = dict[str, Any]

# ---------------------------------------------------------------- shapes (API.md, v2)

USER = {
    "id",
    "display_name",
    "current_attempt_id",
    "total_minutes",
    "created_at",
    "time_zone",
    "day_start_hour",
    "week_start",
    "daily_minimum",
    "rest_days",
}
CONSTELLATION = {"id", "name", "weight", "created_at"}
ATTEMPT = {"id", "user_id", "constellation_id", "stars_completed", "completed_at", "created_at"}
#: The keys of the Learning Sessions example, exactly.
SESSION = {
    "id",
    "title",
    "status",
    "description",
    "difficulty",
    "started_at",
    "completed_at",
    "created_at",
    "updated_at",
    "user_id",
    "constellation_attempt_id",
    "minutes",
}
#: v2's session: the Learning Sessions example's keys, and the study day and timer.
STUDY = {"study_day", "running_since", "elapsed_seconds", "auto_stopped"}
POST = {"id", "user_id", "constellation_id", "post_type", "message", "study_duration", "created_at"}
MINUTES_SUMMARY = {"user_id", "display_name", "total_minutes"}
PROBLEM_KEYS = {"type", "title", "status", "detail", "errors", "request_id"}
PROBLEM = "application/problem+json"
STATUSES = {"planned", "in_progress", "completed", "cancelled"}


def check_user(j: Json) -> None:
    assert set(j) == USER, j
    assert is_id(j["id"])
    assert isinstance(j["display_name"], str)
    assert j["current_attempt_id"] is None or is_id(j["current_attempt_id"])
    assert is_count(j["total_minutes"])
    check_timestamp(j["created_at"])


def check_constellation(j: Json) -> None:
    assert set(j) == CONSTELLATION, j
    assert is_id(j["id"])
    assert isinstance(j["name"], str)
    assert type(j["weight"]) is int
    assert j["weight"] >= 1
    check_timestamp(j["created_at"])


def check_attempt(j: Json) -> None:
    assert set(j) == ATTEMPT, j
    assert is_id(j["id"])
    assert is_id(j["user_id"])
    assert is_id(j["constellation_id"])
    assert is_count(j["stars_completed"])
    check_timestamp(j["completed_at"], nullable=True)
    check_timestamp(j["created_at"])


def check_session(j: Json) -> None:
    assert set(j) == SESSION | STUDY, j
    assert is_id(j["id"])
    assert isinstance(j["title"], str)
    assert j["title"]
    assert j["status"] in STATUSES
    assert j["description"] is None or isinstance(j["description"], str)
    assert j["difficulty"] is None or isinstance(j["difficulty"], str)
    assert j["user_id"] is None or is_id(j["user_id"])
    assert j["constellation_attempt_id"] is None or is_id(j["constellation_attempt_id"])
    assert j["minutes"] is None or is_count(j["minutes"])
    check_timestamp(j["started_at"], nullable=True)
    check_timestamp(j["completed_at"], nullable=j["status"] != "completed")
    check_timestamp(j["created_at"])
    check_timestamp(j["updated_at"])
    assert datetime.fromisoformat(j["updated_at"]) >= datetime.fromisoformat(j["created_at"])


def check_post(j: Json) -> None:
    assert set(j) == POST, j
    assert is_id(j["id"])
    assert is_id(j["user_id"])
    assert is_id(j["constellation_id"])
    assert j["post_type"] in {"completion", "progress"}
    assert j["message"] is None or isinstance(j["message"], str)
    assert j["study_duration"] is None or is_count(j["study_duration"])
    check_timestamp(j["created_at"])


# ---------------------------------------------------------------- requests

_NO_BODY = object()


def send(
    world: V1World,
    method: str,
    path: str,
    body: Any = _NO_BODY,
    *,
    raw: str | bytes | None = None,
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> falcon.testing.Result:
    """Send a request to ``world``'s app; ``{name}`` in paths and bodies stands for ids of the world.

    ``body`` is sent as JSON; ``raw`` as is, with ``content_type`` (JSON by default).
    """
    kwargs: dict[str, Any] = {"headers": dict(headers or {})}
    if raw is not None:
        kwargs["body"] = raw
        kwargs["headers"].setdefault("Content-Type", content_type or "application/json")
    elif body is not _NO_BODY:
        kwargs["json"] = world.resolve(body)
    return world.client.simulate_request(method, path.format(**world.ids), **kwargs)


def answer(world: V1World, method: str, path: str, body: Any = _NO_BODY, status: int = 200) -> Any:
    """Send a request, check its status and JSON content type, and return the JSON answer."""
    result = send(world, method, path, body)
    assert result.status_code == status, (method, path, result.status, result.text)
    assert result.headers["content-type"] == "application/json", result.headers
    return result.json


def data(world: V1World, method: str, path: str, body: Any = _NO_BODY, status: int = 200) -> Any:
    """The ``data`` of a one-object answer: ``{"data": {...}}`` and nothing else."""
    j = answer(world, method, path, body, status)
    assert set(j) == {"data"}, j
    assert isinstance(j["data"], dict)
    return j["data"]


def page(world: V1World, path: str) -> tuple[list[Json], str | None]:
    """The items and next cursor of a list answer: ``{"data": [...], "next_cursor": ...}``."""
    j = answer(world, "GET", path)
    assert set(j) == {"data", "next_cursor"}, j
    assert isinstance(j["data"], list)
    assert j["next_cursor"] is None or (isinstance(j["next_cursor"], str) and j["next_cursor"])
    return j["data"], j["next_cursor"]


def ids_of(items: list[Json]) -> list[int]:
    return [item["id"] for item in items]


def problem_of(result: falcon.testing.Result, status: int) -> Json:
    """Check that ``result`` is an RFC 9457 problem with ``status`` and return it."""
    assert result.status_code == status, (result.status, result.text)
    assert result.headers["content-type"] == PROBLEM, result.headers
    problem = result.json
    assert isinstance(problem, dict)
    assert {"type", "title", "status", "detail"} <= set(problem) <= PROBLEM_KEYS, problem
    assert problem["type"] == "about:blank"
    assert problem["status"] == status
    assert problem["request_id"] == result.headers["x-request-id"], problem
    assert isinstance(problem["title"], str)
    assert problem["title"]
    assert isinstance(problem["detail"], str)
    assert problem["detail"]
    if "errors" in problem:
        assert isinstance(problem["errors"], list)
        assert problem["errors"]
        for error in problem["errors"]:
            assert set(error) in ({"pointer", "detail"}, {"parameter", "detail"}), error
            assert all(isinstance(v, str) for v in error.values())
            assert error["detail"]
            if "pointer" in error:
                assert error["pointer"] == "" or error["pointer"].startswith("/"), error
    return problem


def pointers(problem: Json) -> dict[str, str]:
    """The failing body members of a problem: ``{pointer: detail}``."""
    return {e["pointer"]: e["detail"] for e in problem.get("errors", []) if "pointer" in e}


def parameters(problem: Json) -> dict[str, str]:
    """The failing query parameters of a problem: ``{name: detail}``."""
    return {e["parameter"]: e["detail"] for e in problem.get("errors", []) if "parameter" in e}
