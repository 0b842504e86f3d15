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
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Final, TypeVar

import attrs

from .access import Scope
from .entities import GoalKind, PostType, SessionStatus
from .errors import FieldError, ValidationFailed
from .validation import (
    DAILY_MINIMUM,
    DAY,
    DAY_START_HOUR,
    DESCRIPTION,
    DIFFICULTY,
    DISPLAY_NAME,
    GOAL_MINUTES,
    ID,
    LIFETIME_DAYS,
    LOGIN,
    MESSAGE,
    MINUTES,
    NAME,
    PASSWORD,
    REST_DAYS,
    SCOPES,
    STUDY_DURATION,
    TIME_ZONE,
    TIMESTAMP,
    TITLE,
    TOKEN_NAME,
    WEEK_START,
    WEIGHT,
    Choice,
    Rule,
)

__all__ = [
    "ABSENT",
    "ChangePassword",
    "ClaimAccount",
    "CreateGoal",
    "CreateToken",
    "SignUp",
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
    "field_errors",
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
    return attrs.field(default=default, metadata={_SPEC: FieldSpec(rule, nullable, none_is_absent)})


T = TypeVar("T")


def _command(cls: type[T]) -> type[T]:
    """Check every field of a command as it is built, and report all the failing ones at once.

    The ``__init__`` wrapped here converts each field with its rule
    (:class:`FieldSpec`), then applies the class's rules across fields
    (``_across(values)``) to the fields that passed, and only then lets attrs
    build the instance from the checked values.
    """
    target: Any = cls  # an attrs class, whose __init__ is replaced below
    init: Callable[..., None] = target.__init__
    fields = attrs.fields(target)
    names = [f.name for f in fields]
    known = frozenset(names)
    specs = [(f.name, spec_of(f), f.default) for f in fields]
    positional = not any(f.kw_only for f in fields)
    across: Callable[[dict[str, Any]], list[FieldError]] | None = getattr(cls, "_across", None)
    name = cls.__name__

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if args:
            if not positional or len(args) > len(names):
                raise TypeError(f"{name}() takes {len(names) if positional else 0} positional arguments")
            for field_name, value in zip(names, args, strict=False):
                if field_name in kwargs:
                    raise TypeError(f"{name}() got multiple values for argument {field_name!r}")
                kwargs[field_name] = value
        unknown = kwargs.keys() - known
        if unknown:
            raise TypeError(f"{name}() got an unexpected keyword argument {min(unknown)!r}")
        for field_name, _, default in specs:
            if field_name not in kwargs:
                if default is attrs.NOTHING:
                    raise TypeError(f"{name}() missing required argument {field_name!r}")
                kwargs[field_name] = default
        values, errors = _convert(specs, kwargs)
        if across is not None:
            failing = {e.field for e in errors}
            errors += [e for e in across(values) if e.field not in failing]
        if errors:
            raise ValidationFailed(errors)
        init(self, **values)

    target.__init__ = __init__
    return cls


def _convert(
    specs: list[tuple[str, FieldSpec, object]], given: dict[str, Any]
) -> tuple[dict[str, Any], list[FieldError]]:
    """Each given field checked by its rule: the values that passed, and the errors of the others."""
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    for field_name, spec, default in specs:
        if field_name in given:
            try:
                values[field_name] = spec.convert(given[field_name], field_name, default)
            except ValidationFailed as exc:
                errors += exc.errors
    return values, errors


def field_errors(cls: type, given: dict[str, Any]) -> list[FieldError]:
    """What the command class ``cls`` says of the fields in ``given``, each by its own rule.

    Fields ``given`` does not hold, and names that are not fields, are passed
    over: an adapter uses this to name every failing field of a request that
    it refuses for other reasons too (an unknown member, a missing one).
    """
    specs = [(f.name, spec_of(f), f.default) for f in attrs.fields(cls)]
    return _convert(specs, given)[1]


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
        time_zone: The IANA zone study days are counted in from now on.
        day_start_hour: The local hour study days start at from now on (0–23).
        week_start: The day weeks start on in statistics, 0 (Monday) to 6 (Sunday).
        daily_minimum: Minutes a study day needs to count for a streak (1–1440).
        rest_days: Days a week without study that do not break a streak (0–6).
    """

    display_name: str | Absent = _field(DISPLAY_NAME, default=ABSENT)
    time_zone: str | Absent = _field(TIME_ZONE, default=ABSENT)
    day_start_hour: int | Absent = _field(DAY_START_HOUR, default=ABSENT)
    week_start: int | Absent = _field(WEEK_START, default=ABSENT)
    daily_minimum: int | Absent = _field(DAILY_MINIMUM, default=ABSENT)
    rest_days: int | Absent = _field(REST_DAYS, default=ABSENT)


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


# ---------------------------------------------------------------- accounts


@_command
@attrs.frozen(kw_only=True)
class SignUp:
    """Create a user who can sign in.

    Attributes:
        display_name: 1–1000 characters, surrounding white space removed.
        login: 3–254 characters (see :class:`~luminary.core.validation.Login`), kept in lower case.
        password: 8–1024 characters, kept exactly as typed.
    """

    display_name: str = _field(DISPLAY_NAME)
    login: str = _field(LOGIN)
    password: str = attrs.field(repr=False, metadata={_SPEC: FieldSpec(PASSWORD)})


@_command
@attrs.frozen(kw_only=True)
class ClaimAccount:
    """Give an existing user (one made through API v1, say) a login and a password.

    Attributes:
        login: 3–254 characters, kept in lower case.
        password: 8–1024 characters.
    """

    login: str = _field(LOGIN)
    password: str = attrs.field(repr=False, metadata={_SPEC: FieldSpec(PASSWORD)})


@_command
@attrs.frozen(kw_only=True)
class ChangePassword:
    """Replace a user's password; the current one must be given.

    Attributes:
        current_password: The password in force.
        new_password: 8–1024 characters.
    """

    current_password: str = attrs.field(repr=False, metadata={_SPEC: FieldSpec(PASSWORD)})
    new_password: str = attrs.field(repr=False, metadata={_SPEC: FieldSpec(PASSWORD)})


@_command
@attrs.frozen(kw_only=True)
class CreateToken:
    """Create a token by signing in.

    Attributes:
        login: The account's login (any case).
        password: Its password.
        name: What the token is for, 1–100 characters.
        scopes: What it may do: a non-empty list of ``read``, ``study``, ``social``,
            ``account``, ``admin`` (``admin`` only for administrators).
        expires_in_days: Days until it stops working, 1–3650; ``None`` for never.
    """

    login: str = _field(LOGIN)
    password: str = attrs.field(repr=False, metadata={_SPEC: FieldSpec(PASSWORD)})
    name: str = _field(TOKEN_NAME)
    scopes: frozenset[Scope] = _field(SCOPES)
    expires_in_days: int | None = _field(LIFETIME_DAYS, nullable=True, default=None)


# ---------------------------------------------------------------- goals

GOAL_KIND = Choice(GoalKind)


@_command
@attrs.frozen(kw_only=True)
class CreateGoal:
    """Set a goal.

    Attributes:
        kind: ``daily_minutes``, ``weekly_minutes`` or ``complete_constellation``.
        target_minutes: For minute goals (required there, refused otherwise): 1–10080.
        constellation_id: Required to complete a constellation; for minute goals,
            counts only the sessions of attempts at it.
        due: Required to complete a constellation (refused otherwise): the last day.
    """

    kind: GoalKind = _field(GOAL_KIND)
    target_minutes: int | None = _field(GOAL_MINUTES, nullable=True, default=None)
    constellation_id: int | None = _field(ID, nullable=True, default=None)
    due: date | None = _field(DAY, nullable=True, default=None)

    @staticmethod
    def _across(values: dict[str, Any]) -> list[FieldError]:
        if "kind" not in values:
            return []
        errors = []
        minutes = values["kind"] is not GoalKind.COMPLETE_CONSTELLATION
        if minutes and values.get("target_minutes") is None and "target_minutes" in values:
            errors.append(FieldError("target_minutes", "is required for a goal of minutes"))
        if not minutes:
            if values.get("target_minutes") is not None:
                errors.append(FieldError("target_minutes", "is only for goals of minutes"))
            if values.get("constellation_id") is None and "constellation_id" in values:
                errors.append(FieldError("constellation_id", "is required to complete a constellation"))
            if values.get("due") is None and "due" in values:
                errors.append(FieldError("due", "is required to complete a constellation"))
        elif values.get("due") is not None:
            errors.append(FieldError("due", "is only for completing a constellation"))
        return errors
