"""Schemathesis hooks of the fuzz run: the rules of API v2 that JSON Schema cannot state.

Two rules of the domain relate one field to another, so the OpenAPI document
cannot express them, and a body the schema admits may break them (and be refused
with 400, rightly). The hooks below keep the *positive* test cases (those the
schema admits, which must be accepted) within those rules, and leave every other
case alone:

* a session is not completed before it started: when a body gives both
  ``started_at`` and ``completed_at``, they are put in order;
* a session's attempt belongs to the session's user: a body naming an attempt
  leaves ``user_id`` to it (``null``);
* statistics cover at most 3660 days: a query whose ``from`` and ``to`` (today
  when absent) are further apart gets a ``to`` a week after its ``from``;
* a goal's fields depend on its kind: a goal of minutes keeps ``target_minutes``
  (30 if it had none) and no ``due``; a goal to complete a constellation keeps
  ``constellation_id`` (1 if it had none) and ``due`` (a date if it had none),
  and no ``target_minutes``.

Negative cases are never touched: whatever the schema refuses must still be refused.

The fuzzer acts as an administrator whose token every request carries (see
``seed_admin`` in ``run_fuzz.py``, which passes the account through the
environment). Two more hooks keep it signed in for the whole run:

* ``PUT /me/password`` needs the password in force, which no schema can give:
  positive cases are sent with it, and each change they make is followed (so
  the operation answers 204, not 400, and the token keeps working, as it must);
* the only cases dropped are the two that would end the run: deleting the
  administrator's own user and revoking its own token. Schemathesis reuses the
  ids it reads in responses (``GET /me``, ``/users``, ``/tokens`` show them), so
  without this it finds them within seconds. Every other id of those two
  operations is still fuzzed, and the stateful phase still deletes the users and
  revokes the tokens it creates.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from typing import Any

import schemathesis

SESSION_WRITES = {("POST", "/sessions"), ("PATCH", "/sessions/{session_id}")}
CHANGE_PASSWORD = ("PUT", "/me/password")


def _id_from_environment(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


#: The operations that would sign the fuzzer out, and the path parameter naming what they end.
OWN_ACCOUNT = {
    ("DELETE", "/users/{user_id}"): ("user_id", _id_from_environment("LUMINARY_FUZZ_USER_ID")),
    ("DELETE", "/tokens/{token_id}"): ("token_id", _id_from_environment("LUMINARY_FUZZ_TOKEN_ID")),
}


class _Password:
    """The administrator's password in force, as far as the fuzzer changed it."""

    current: str | None = os.environ.get("LUMINARY_FUZZ_PASSWORD") or None


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _operation(case: Any) -> tuple[str, str]:
    return case.method.upper(), case.operation.path.removeprefix("/api/v2")


def _is_session_write(case: Any) -> bool:
    return _operation(case) in SESSION_WRITES


def _names(value: object, wanted: int) -> bool:
    """Whether a path parameter, as sent, routes to ``wanted`` (as Falcon's int converter reads it)."""
    text = str(value)
    try:
        return text.strip() == text and int(text) == wanted
    except ValueError:
        return False


def _is_positive(case: Any) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


STATISTICS = ("GET", "/me/stats")
#: The longest range statistics are given for (core's ``study.MAX_RANGE_DAYS``).
MAX_RANGE_DAYS = 3660


def _within_range(query: dict[str, Any]) -> dict[str, Any]:
    try:
        first = date.fromisoformat(str(query["from"]))
        last = date.fromisoformat(str(query["to"])) if "to" in query else datetime.now(UTC).date()
    except (KeyError, ValueError):
        return query
    if (last - first).days < MAX_RANGE_DAYS:
        return query
    return {**query, "to": (first + timedelta(days=6)).isoformat()}


CREATE_GOAL = ("POST", "/me/goals")


def _goal_as_its_kind_needs(body: dict[str, Any]) -> dict[str, Any]:
    body = dict(body)
    if body.get("kind") == "complete_constellation":
        body["target_minutes"] = None
        body["constellation_id"] = body.get("constellation_id") or 1
        body["due"] = body.get("due") or "2030-01-01"
    else:
        body["target_minutes"] = body.get("target_minutes") or 30
        body["due"] = None
    return body


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    if _is_positive(case) and _operation(case) == STATISTICS and isinstance(case.query, dict):
        case.query = _within_range(case.query)
        return case
    if _is_positive(case) and _operation(case) == CREATE_GOAL and isinstance(case.body, dict):
        case.body = _goal_as_its_kind_needs(case.body)
        return case
    if not (_is_positive(case) and _is_session_write(case) and isinstance(case.body, dict)):
        return case
    body = dict(case.body)
    started, completed = _instant(body.get("started_at")), _instant(body.get("completed_at"))
    if started and completed and completed < started:
        body["started_at"], body["completed_at"] = body["completed_at"], body["started_at"]
    if body.get("constellation_attempt_id") is not None and body.get("user_id") is not None:
        body["user_id"] = None
    case.body = body
    return case


@schemathesis.hook
def filter_case(context: schemathesis.HookContext, case: schemathesis.Case) -> bool:
    parameter, own_id = OWN_ACCOUNT.get(_operation(case), (None, None))
    if parameter is None or own_id is None:
        return True
    return not _names((case.path_parameters or {}).get(parameter), own_id)


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: dict[str, Any]) -> None:
    # Right before the request, not when the case is generated: the password may have changed since.
    if _Password.current is None or _operation(case) != CHANGE_PASSWORD:
        return
    if _is_positive(case) and isinstance(case.body, dict):
        case.body = {**case.body, "current_password": _Password.current}


@schemathesis.hook
def after_call(context: schemathesis.HookContext, case: schemathesis.Case, response: Any) -> None:
    if _operation(case) != CHANGE_PASSWORD or response.status_code != 204 or not isinstance(case.body, dict):
        return
    new_password = case.body.get("new_password")
    if isinstance(new_password, str):
        _Password.current = new_password
