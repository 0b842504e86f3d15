"""The JSON Schemas of v2's request bodies, derived from core's command classes.

Each command field carries its rule (:mod:`luminary.core.validation`); the
schema of a body is read from those rules and from v2's reading policy
(:data:`luminary.http.commands.V2`), so that a limit is written once and the
published schema refuses what v2 refuses.
"""

from __future__ import annotations

from typing import Any

import attrs

from luminary.core import commands
from luminary.core import validation as limits

from ..commands import V2

# The schemas mirror core's validation.text(), so that they refuse exactly what the
# domain refuses. Character classes are spelled out: JSON Schema's ``\s`` is
# ECMA-262's, which is not the set of characters ``str.strip()`` removes.
#: Control characters, which text() refuses (tab, line feed and carriage return are allowed).
CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
#: Characters that show nothing (core's ``INVISIBLE``, which includes SPACE and CONTROL).
INVISIBLE = "".join(
    f"\\u{first:04x}" if first == last else f"\\u{first:04x}-\\u{last:04x}"
    for first, last in limits.INVISIBLE
)
#: At least one visible character, and no control character.
NOT_BLANK = f"^[^{CONTROL}]*[^{INVISIBLE}][^{CONTROL}]*$"
#: Any text without control characters, the empty string included.
ANY_TEXT = f"^[^{CONTROL}]*$"


def name_schema(maximum: int) -> dict[str, Any]:
    """A text that is stripped and must not be blank (:class:`~luminary.core.validation.Text`'s default)."""
    return {"type": "string", "minLength": 1, "maxLength": maximum, "pattern": NOT_BLANK}


def text_schema(maximum: int) -> dict[str, Any]:
    """A text kept as sent, the empty string included."""
    return {"type": "string", "maxLength": maximum, "pattern": ANY_TEXT}


def rule_schema(rule: limits.Rule) -> dict[str, Any]:
    """The JSON Schema of a value that ``rule`` accepts."""
    if isinstance(rule, limits.Text):
        if rule.minimum == 1 and rule.strip:
            return name_schema(rule.maximum)
        if rule.minimum == 0 and not rule.strip:
            return text_schema(rule.maximum)
        if not rule.strip:
            return {**text_schema(rule.maximum), "minLength": rule.minimum}
    elif isinstance(rule, limits.Login):
        return {
            "type": "string",
            "minLength": rule.minimum,
            "maxLength": rule.maximum,
            "pattern": rule.pattern,
        }
    elif isinstance(rule, limits.Day):
        return {"type": "string", "format": "date"}
    elif isinstance(rule, limits.TimeZone):
        return {"type": "string", "enum": list(limits.time_zones())}
    elif isinstance(rule, limits.ChoiceSet):
        return {
            "type": "array",
            "items": {"type": "string", "enum": [member.value for member in rule.enum_type]},
            "minItems": 1,
            "uniqueItems": True,
        }
    elif isinstance(rule, limits.Integer | limits.Identifier):
        return {"type": "integer", "minimum": rule.minimum, "maximum": rule.maximum}
    elif isinstance(rule, limits.Choice):
        return {"type": "string", "enum": [member.value for member in rule.enum_type]}
    elif isinstance(rule, limits.Timestamp):
        return {"type": "string", "format": "date-time"}
    raise TypeError(f"no JSON Schema for {rule!r}")


#: What the rules across a command's fields ask, in JSON Schema: a goal's fields depend on its kind.
ACROSS: dict[type, dict[str, Any]] = {
    commands.CreateGoal: {
        "oneOf": [
            {
                "properties": {
                    "kind": {"enum": ["daily_minutes", "weekly_minutes"]},
                    "target_minutes": {"type": "integer"},
                    "due": {"type": "null"},
                },
                "required": ["target_minutes"],
            },
            {
                "properties": {
                    "kind": {"const": "complete_constellation"},
                    "target_minutes": {"type": "null"},
                    "constellation_id": {"type": "integer"},
                    "due": {"type": "string"},
                },
                "required": ["constellation_id", "due"],
            },
        ]
    },
}


def request_schema(cls: type) -> dict[str, Any]:
    """The JSON Schema of a v2 body that structures into the command class ``cls``."""
    properties: dict[str, Any] = {}
    for field in attrs.fields(cls):
        spec = commands.spec_of(field)
        schema = rule_schema(spec.rule)
        properties[field.name] = {**schema, "type": [schema["type"], "null"]} if spec.nullable else schema
    required = [field.name for field in attrs.fields(cls) if V2.requires(cls, field)]
    schema = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        **ACROSS.get(cls, {}),
    }
    return {**schema, "required": required} if required else schema


ID_SCHEMA = rule_schema(limits.ID)
USER_CREATE = request_schema(commands.CreateUser)
USER_PATCH = request_schema(commands.UserPatch)
CONSTELLATION_CREATE = request_schema(commands.CreateConstellation)
CONSTELLATION_PATCH = request_schema(commands.ConstellationPatch)
ATTEMPT_CREATE = request_schema(commands.StartAttempt)
SESSION_CREATE = request_schema(commands.CreateSession)
SESSION_PATCH = request_schema(commands.SessionPatch)
POST_CREATE = request_schema(commands.CreatePost)
SIGN_UP = request_schema(commands.SignUp)
CLAIM_ACCOUNT = request_schema(commands.ClaimAccount)
CHANGE_PASSWORD = request_schema(commands.ChangePassword)
TOKEN_CREATE = request_schema(commands.CreateToken)
GOAL_CREATE = request_schema(commands.CreateGoal)
