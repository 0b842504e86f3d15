"""Schemathesis hooks of the fuzz run: the rules of API v2 that JSON Schema cannot state.

Two rules of the domain relate one field to another, so the OpenAPI document
cannot express them, and a body the schema admits may break them (and be refused
with 400, rightly). The hooks below keep the *positive* test cases (those the
schema admits, which must be accepted) within those rules, and leave every other
case alone:

* a session is not completed before it started: when a body gives both
  ``started_at`` and ``completed_at``, they are put in order;
* a session's attempt belongs to the session's user: a body naming an attempt
  leaves ``user_id`` to it (``null``).

Negative cases are never touched: whatever the schema refuses must still be refused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import schemathesis

SESSION_WRITES = {("POST", "/sessions"), ("PATCH", "/sessions/{session_id}")}


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _is_session_write(case: Any) -> bool:
    path = case.operation.path.removeprefix("/api/v2")
    return (case.method.upper(), path) in SESSION_WRITES


def _is_positive(case: Any) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
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
