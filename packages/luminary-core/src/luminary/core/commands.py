"""Commands: the writes Luminary accepts, one frozen class per request shape.

A command is built from what a caller sent and checks it on the way in: each
field carries its rule from :mod:`luminary.core.validation` (the one module of
limits), so a command that exists is well formed. The use cases take commands
and keep only the checks that need the store (not found, conflict, time
order)::

    raw input ──CreateSession(title=" Learn Falcon ", minutes=25)──▶ CreateSession(title="Learn Falcon", …)
                           │ a field breaks its rule
                           └──▶ ValidationFailed naming the field

Creating and changing are different commands. A *patch* tells a field that is
absent (left as it is) from a field set to ``None`` (cleared): absent fields
hold :data:`ABSENT`.

Adapters build commands from their own formats; the HTTP package structures
JSON bodies into them with cattrs, and publishes their JSON Schemas, both read
from the :class:`FieldSpec` of each field (:func:`spec_of`).
"""

from __future__ import annotations

import enum
import functools
import inspect
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, TypeVar

import attrs

from .entities import PostType, SessionStatus
from .errors import FieldError, ValidationFailed
from .validation import (
    DESCRIPTION,
    DIFFICULTY,
    DISPLAY_NAME,
    ID,
    MESSAGE,
    MINUTES,
    NAME,
    STUDY_DURATION,
    TIMESTAMP,
    TITLE,
    WEIGHT,
    Choice,
    Rule,
)

__all__ = [
    "ABSENT",
    "POST_TYPE",
    "STATUS",
    "Absent",
    "ConstellationPatch",
    "CreateConstellation",
    "CreatePost",
    "CreateSession",
    "CreateUser",
    "FieldSpec",
    "SessionPatch",
    "StartAttempt",
    "UserPatch",
    "changes",
    "spec_of",
]

STATUS = Choice(SessionStatus)
POST_TYPE = Choice(PostType)


class Absent(enum.Enum):
    """The type of :data:`ABSENT`."""

    ABSENT = "absent"

    def __repr__(self) -> str:
        return "ABSENT"


#: A patch's value for a field the caller did not send: the field keeps its value.
ABSENT: Final = Absent.ABSENT

_SPEC = "luminary.spec"


@attrs.frozen
class FieldSpec:
    """How a command field checks what it is given.

    Attributes:
        rule: The field's rule (its type and limits).
        nullable: ``None`` is a value of the field (no user, no minutes, a
            description cleared). Otherwise ``None`` either stands for "not
            given" (``none_is_absent``) or is refused ("is required").
        none_is_absent: ``None`` means the caller did not give the field: it
            takes its default (a session's ``title`` then comes from its attempt).
    """

    rule: Rule
    nullable: bool = False
    none_is_absent: bool = False

    def convert(self, value: object, field: str, default: object = attrs.NOTHING) -> Any:
        """Return ``value`` checked by the rule; raise :class:`ValidationFailed` naming ``field``."""
        if value is ABSENT:
            return value
        if value is None:
            if self.nullable:
                return None
            if self.none_is_absent and default is not attrs.NOTHING:
                return default
        return self.rule(value, field)


def _field(
    rule: Rule, *, nullable: bool = False, none_is_absent: bool = False, default: object = attrs.NOTHING
) -> Any:
    spec = FieldSpec(rule, nullable, none_is_absent)

    def convert(value: object, field: attrs.Attribute[Any]) -> Any:
        return spec.convert(value, field.name, field.default)

    return attrs.field(
        default=default, converter=attrs.Converter(convert, takes_field=True), metadata={_SPEC: spec}
    )


T = TypeVar("T")


def _command(cls: type[T]) -> type[T]:
    """Make a command report every failing field at once, not only the first one.

    attrs runs the fields' converters one after the other, stopping at the
    first error; the ``__init__`` wrapped here checks every field first, then
    the class's rules across fields (``_across(values)``) on the fields that
    passed.
    """
    target: Any = cls  # an attrs class, whose __init__ is replaced below
    init: Callable[..., None] = target.__init__
    signature = inspect.signature(init)
    fields = attrs.fields(target)

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        errors: list[FieldError] = []
        values: dict[str, Any] = {}
        for field in fields:
            try:
                values[field.name] = spec_of(field).convert(
                    bound.arguments[field.name], field.name, field.default
                )
            except ValidationFailed as exc:
                errors += exc.errors
        across: Callable[[dict[str, Any]], list[FieldError]] = getattr(cls, "_across", lambda _: [])
        failing = {e.field for e in errors}
        errors += [e for e in across(values) if e.field not in failing]
        if errors:
            raise ValidationFailed(errors)
        init(*bound.args, **bound.kwargs)

    target.__init__ = __init__
    return cls


def spec_of(field: attrs.Attribute[Any]) -> FieldSpec:
    """The :class:`FieldSpec` of a command's field."""
    spec = field.metadata[_SPEC]
    assert isinstance(spec, FieldSpec)
    return spec


def changes(patch: UserPatch | ConstellationPatch | SessionPatch) -> dict[str, Any]:
    """The fields a patch sets, by name (its absent fields left out)."""
    return {
        f.name: getattr(patch, f.name)
        for f in attrs.fields(type(patch))
        if getattr(patch, f.name) is not ABSENT
    }


# ---------------------------------------------------------------- users


@_command
@attrs.frozen
class CreateUser:
    """Sign a student up.

    Attributes:
        display_name: 1–1000 characters, surrounding white space removed.
    """

    display_name: str = _field(DISPLAY_NAME)


@_command
@attrs.frozen
class UserPatch:
    """Change a user; absent fields keep their value.

    Attributes:
        display_name: The new name (1–1000 characters).
    """

    display_name: str | Absent = _field(DISPLAY_NAME, default=ABSENT)


# ---------------------------------------------------------------- constellations


@_command
@attrs.frozen
class CreateConstellation:
    """Add a constellation to the catalogue.

    Attributes:
        name: 1–100 characters.
        weight: Its number of stars, 1–1000.
    """

    name: str = _field(NAME)
    weight: int = _field(WEIGHT)


@_command
@attrs.frozen
class ConstellationPatch:
    """Rename or reweigh a constellation; absent fields keep their value.

    Attributes:
        name: 1–100 characters.
        weight: 1–1000 stars; it cannot change while attempts refer to the constellation.
    """

    name: str | Absent = _field(NAME, default=ABSENT)
    weight: int | Absent = _field(WEIGHT, default=ABSENT)


# ---------------------------------------------------------------- attempts


@_command
@attrs.frozen
class StartAttempt:
    """Start an attempt at a constellation.

    Attributes:
        user_id: Who starts it.
        constellation_id: What they attempt.
    """

    user_id: int = _field(ID)
    constellation_id: int = _field(ID)


# ---------------------------------------------------------------- sessions


@_command
@attrs.frozen(kw_only=True)
class CreateSession:
    """Create a study session (of an attempt) or a learning session (a title alone).

    Attributes:
        user_id: The student it counts for; with an attempt, the attempt's user.
        constellation_attempt_id: The attempt it belongs to.
        title: 1–200 characters; without one, the attempt's constellation's name.
        description: Free text, up to 10,000 characters.
        status: ``planned`` unless given; ``completed`` counts its minutes at once.
        difficulty: Up to 50 characters.
        minutes: 0–1440.
        started_at: When it started.
        completed_at: When it was completed.

    Raises:
        ValidationFailed: A field breaks its rule, or there is neither a title
            nor an attempt.
    """

    user_id: int | None = _field(ID, nullable=True, default=None)
    constellation_attempt_id: int | None = _field(ID, nullable=True, default=None)
    title: str | None = _field(TITLE, none_is_absent=True, default=None)
    description: str | None = _field(DESCRIPTION, nullable=True, default=None)
    status: SessionStatus = _field(STATUS, none_is_absent=True, default=SessionStatus.PLANNED)
    difficulty: str | None = _field(DIFFICULTY, nullable=True, default=None)
    minutes: int | None = _field(MINUTES, nullable=True, default=None)
    started_at: datetime | None = _field(TIMESTAMP, nullable=True, default=None)
    completed_at: datetime | None = _field(TIMESTAMP, nullable=True, default=None)

    @staticmethod
    def _across(values: dict[str, Any]) -> list[FieldError]:
        # Only when both fields passed their own rules: a malformed one is reported already.
        if values.keys() >= {"title", "constellation_attempt_id"} and (
            values["title"] is None and values["constellation_attempt_id"] is None
        ):
            return [FieldError("title", "is required when there is no constellation_attempt_id")]
        return []


@_command
@attrs.frozen(kw_only=True)
class SessionPatch:
    """Change some fields of a session; absent fields keep their value, ``None`` clears one.

    Attributes:
        title: 1–200 characters (it cannot be cleared).
        description: Free text, or ``None``.
        status: A new status (it cannot be cleared); ``completed`` completes the session.
        difficulty: Up to 50 characters, or ``None``.
        minutes: 0–1440, or ``None``.
        started_at: When it started, or ``None``.
        completed_at: When it was completed, or ``None``.
    """

    title: str | Absent = _field(TITLE, default=ABSENT)
    description: str | Absent | None = _field(DESCRIPTION, nullable=True, default=ABSENT)
    status: SessionStatus | Absent = _field(STATUS, default=ABSENT)
    difficulty: str | Absent | None = _field(DIFFICULTY, nullable=True, default=ABSENT)
    minutes: int | Absent | None = _field(MINUTES, nullable=True, default=ABSENT)
    started_at: datetime | Absent | None = _field(TIMESTAMP, nullable=True, default=ABSENT)
    completed_at: datetime | Absent | None = _field(TIMESTAMP, nullable=True, default=ABSENT)


# ---------------------------------------------------------------- posts


@_command
@attrs.frozen(kw_only=True)
class CreatePost:
    """Share progress on a constellation in the feed.

    Attributes:
        user_id: The author.
        constellation_id: What the post is about.
        post_type: ``completion`` or ``progress``.
        message: Up to 60,000 characters, kept as typed; or ``None``.
        study_duration: Minutes studied on the attempt, 0–2^31−1; or ``None``.
    """

    user_id: int = _field(ID)
    constellation_id: int = _field(ID)
    post_type: PostType = _field(POST_TYPE)
    message: str | None = _field(MESSAGE, nullable=True, default=None)
    study_duration: int | None = _field(STUDY_DURATION, nullable=True, default=None)
