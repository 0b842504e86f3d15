"""The JSON Schemas of v2's request bodies, published in the OpenAPI document.

The schemas mirror core's :mod:`luminary.core.validation`, so that they refuse
exactly what the domain refuses.
"""

from __future__ import annotations

from typing import Any

from luminary import core
from luminary.core import validation as limits

# The schemas mirror core's validation.text(), so that they refuse exactly what the
# domain refuses. Character classes are spelled out: JSON Schema's ``\s`` is
# ECMA-262's, which is not the set of characters ``str.strip()`` removes.
#: Control characters, which text() refuses (tab, line feed and carriage return are allowed).
CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
#: White space as Python's ``str.isspace()`` has it: what text() strips before its emptiness check.
SPACE = r"\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: At least one character that is neither white space nor a control character.
NOT_BLANK = f"^[^{CONTROL}]*[^{SPACE}{CONTROL}][^{CONTROL}]*$"
#: Any text without control characters, the empty string included.
ANY_TEXT = f"^[^{CONTROL}]*$"


def name_schema(maximum: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": maximum, "pattern": NOT_BLANK}


def _text(maximum: int) -> dict[str, Any]:
    return {"type": ["string", "null"], "maxLength": maximum, "pattern": ANY_TEXT}


def nullable_name_schema(maximum: int) -> dict[str, Any]:
    return {**name_schema(maximum), "type": ["string", "null"]}


def _integer(minimum: int, maximum: int, *, nullable: bool = False) -> dict[str, Any]:
    return {"type": ["integer", "null"] if nullable else "integer", "minimum": minimum, "maximum": maximum}


ID_SCHEMA = _integer(1, limits.ID_MAX)
_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}
_STATUS = {"type": "string", "enum": [s.value for s in core.SessionStatus]}


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


USER_CREATE = _object({"display_name": name_schema(limits.DISPLAY_NAME_MAX)}, ("display_name",))
USER_PATCH = _object({"display_name": name_schema(limits.DISPLAY_NAME_MAX)})
CONSTELLATION_CREATE = _object(
    {"name": name_schema(limits.NAME_MAX), "weight": _integer(1, limits.WEIGHT_MAX)}, ("name", "weight")
)
CONSTELLATION_PATCH = _object(
    {"name": name_schema(limits.NAME_MAX), "weight": _integer(1, limits.WEIGHT_MAX)}
)
ATTEMPT_CREATE = _object(
    {"user_id": ID_SCHEMA, "constellation_id": ID_SCHEMA}, ("user_id", "constellation_id")
)
_SESSION_FIELDS: dict[str, Any] = {
    "title": name_schema(limits.TITLE_MAX),
    # Descriptions are stripped and must not be blank, like titles (validation.text's defaults).
    "description": nullable_name_schema(limits.DESCRIPTION_MAX),
    "status": _STATUS,
    "difficulty": nullable_name_schema(limits.DIFFICULTY_MAX),
    "minutes": _integer(0, limits.MINUTES_MAX, nullable=True),
    "started_at": _TIMESTAMP,
    "completed_at": _TIMESTAMP,
}
SESSION_CREATE = _object(
    {
        **_SESSION_FIELDS,
        "user_id": {**ID_SCHEMA, "type": ["integer", "null"]},
        "constellation_attempt_id": {**ID_SCHEMA, "type": ["integer", "null"]},
    },
    ("title",),
)
SESSION_PATCH = _object(_SESSION_FIELDS)
POST_CREATE = _object(
    {
        "user_id": ID_SCHEMA,
        "constellation_id": ID_SCHEMA,
        "post_type": {"type": "string", "enum": [t.value for t in core.PostType]},
        "message": _text(limits.MESSAGE_MAX),
        "study_duration": _integer(0, limits.STUDY_DURATION_MAX, nullable=True),
    },
    ("user_id", "constellation_id", "post_type"),
)
