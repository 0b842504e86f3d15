"""Checks on raw input.

Each function takes a value as a caller sent it (from JSON, a form, another
Python program), checks its type and bounds, and returns it typed, or raises
:class:`~luminary.core.errors.ValidationFailed` naming the field. Booleans are
not integers here, even though Python says ``True == 1``.

Command classes (:mod:`luminary.core.commands`) check every field of a request
this way and report all the failing ones at once.

This is the one module of limits: the bounds (``DISPLAY_NAME_MAX`` …) and the
rules built from them (:data:`DISPLAY_NAME`, :data:`WEIGHT` …), which the
command classes of :mod:`luminary.core.commands` carry on their fields, the API
publishes as JSON Schema, and the SQL tables repeat as CHECK constraints.
"""

from __future__ import annotations

import enum
import functools
import math
import re
import zoneinfo
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, Generic, TypeVar

import attrs

from .access import Scope
from .errors import ValidationFailed

__all__ = [
    "DESCRIPTION_MAX",
    "DIFFICULTY_MAX",
    "DISPLAY_NAME_MAX",
    "MESSAGE_MAX",
    "MINUTES_MAX",
    "NAME_MAX",
    "STUDY_DURATION_MAX",
    "TITLE_MAX",
    "WEIGHT_MAX",
    "DESCRIPTION",
    "DIFFICULTY",
    "DAILY_MINIMUM",
    "DAY",
    "DAY_START_HOUR",
    "DISPLAY_NAME",
    "GOAL_MINUTES",
    "GOAL_MINUTES_MAX",
    "ID",
    "LIFETIME_DAYS",
    "LIFETIME_DAYS_MAX",
    "LOGIN",
    "LOGIN_MAX",
    "MESSAGE",
    "MINUTES",
    "NAME",
    "PASSWORD",
    "REST_DAYS",
    "PASSWORD_MAX",
    "PASSWORD_MIN",
    "SCOPES",
    "STUDY_DURATION",
    "TIMESTAMP",
    "TIME_ZONE",
    "TIME_ZONE_MAX",
    "TITLE",
    "TOKEN_NAME",
    "WEEK_START",
    "WEIGHT",
    "Choice",
    "ChoiceSet",
    "Day",
    "Identifier",
    "Integer",
    "Login",
    "Text",
    "TimeZone",
    "Timestamp",
    "choice",
    "identifier",
    "integer",
    "optional",
    "text",
    "timestamp",
]

#: A constellation's name.
NAME_MAX = 100
#: A student's display name. The app's sign-up field has no length limit; this one
#: keeps every list that names students bounded.
DISPLAY_NAME_MAX = 1000
TITLE_MAX = 200
DIFFICULTY_MAX = 50
DESCRIPTION_MAX = 10_000
#: A post's message, typed in the app without a limit: as much as a request body carries.
MESSAGE_MAX = 60_000
WEIGHT_MAX = 1000
#: One session's minutes: at most a day.
MINUTES_MAX = 1440
#: A post's study duration sums an attempt's sessions: any 32-bit non-negative integer.
STUDY_DURATION_MAX = 2**31 - 1
#: Identifiers are 64-bit signed integers in every store.
ID_MAX = 2**63 - 1
#: A login name: an e-mail address fits.
LOGIN_MAX = 254
#: A password: long enough to resist guessing, short enough to hash quickly.
PASSWORD_MIN = 8
PASSWORD_MAX = 1024
#: An IANA time zone's name (the longest is 32 characters).
TIME_ZONE_MAX = 64
#: A goal's minutes: at most every minute of a week.
GOAL_MINUTES_MAX = 7 * MINUTES_MAX
#: A token's lifetime, in days: at most ten years.
LIFETIME_DAYS_MAX = 3650

E = TypeVar("E", bound=enum.Enum)
T = TypeVar("T")


def integer(value: object, field: str, *, minimum: int, maximum: int) -> int:
    """Return ``value`` if it is an int (not a bool) within ``minimum..maximum``.

    A float with an integral value (``3.0``) is taken as that integer.
    """
    if value is None:
        raise ValidationFailed.field(field, "is required")
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer() and not math.isinf(value):
            value = int(value)
        else:
            raise ValidationFailed.field(field, "must be an integer")
    if not minimum <= value <= maximum:
        raise ValidationFailed.field(field, f"must be between {minimum} and {maximum}")
    return value


def identifier(value: object, field: str) -> int:
    """Return ``value`` if it is a positive integer id."""
    return integer(value, field, minimum=1, maximum=ID_MAX)


#: Characters that show nothing, as ranges of code points (first, last): white space and
#: control characters, the invisible format characters (soft hyphen, zero-width spaces and
#: joiners, direction marks, embeddings, overrides and isolates, the byte order mark), the
#: combining grapheme joiner, the Hangul fillers and the blank Braille pattern. A name made
#: only of these is blank. Spelled out rather than drawn from ``unicodedata``, so that the
#: API's JSON Schemas can say exactly the same (``luminary.http.v2.schemas``).
INVISIBLE: tuple[tuple[int, int], ...] = (
    (0x0000, 0x0020),
    (0x007F, 0x00A0),
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x1680, 0x1680),
    (0x180E, 0x180E),
    (0x2000, 0x200F),
    (0x2028, 0x202F),
    (0x205F, 0x2064),
    (0x2066, 0x206F),
    (0x2800, 0x2800),
    (0x3000, 0x3000),
    (0x3164, 0x3164),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF9, 0xFFFB),
)
_INVISIBLE = frozenset(chr(code) for first, last in INVISIBLE for code in range(first, last + 1))


def text(value: object, field: str, *, maximum: int, minimum: int = 1, strip: bool = True) -> str:
    """Return ``value`` if it is a string of ``minimum..maximum`` characters.

    The length limit applies to the string as sent; then surrounding white
    space is removed when ``strip`` is true, so a name made only of spaces
    counts as empty. Strings that cannot be encoded as UTF-8 (lone surrogates)
    and control characters other than tab, carriage return and newline are
    refused, wherever they are in the string as sent (some of them count as
    white space, but are not stripped away silently). Stripped text must show
    something: a name made only of invisible or format characters
    (``"\u200b"``, ``"\u202e"``) is blank.
    """
    if value is None:
        raise ValidationFailed.field(field, "is required")
    if not isinstance(value, str):
        raise ValidationFailed.field(field, "must be a string")
    if len(value) > maximum:
        raise ValidationFailed.field(field, f"must have at most {maximum} characters")
    if any((ord(c) < 32 and c not in "\t\n\r") or ord(c) == 127 for c in value):
        raise ValidationFailed.field(field, "must not contain control characters")
    if strip:
        value = value.strip()
        if value and all(c in _INVISIBLE for c in value):
            # Zero-width spaces, bidi overrides, fillers: nothing to see, so nothing there.
            raise ValidationFailed.field(field, "must not be blank: it has no visible character")
    if len(value) < minimum:
        too_short = "must not be empty" if minimum == 1 else f"must have at least {minimum} characters"
        raise ValidationFailed.field(field, too_short)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationFailed.field(field, "must be valid Unicode text") from None
    return value


def choice(value: object, field: str, enum_type: type[E]) -> E:
    """Return the member of ``enum_type`` whose value is ``value``."""
    if value is None:
        raise ValidationFailed.field(field, "is required")
    if isinstance(value, enum_type):
        return value
    for member in enum_type:
        if isinstance(value, str) and member.value == value:
            return member
    allowed = ", ".join(str(m.value) for m in enum_type)
    raise ValidationFailed.field(field, f"must be one of: {allowed}")


def optional(value: object, check: Callable[[object, str], T], field: str) -> T | None:
    """Return ``None`` for ``None``, else ``check(value, field)``."""
    return None if value is None else check(value, field)


def timestamp(value: object, field: str) -> datetime:
    """Return ``value`` as an aware UTC datetime.

    Accepts a :class:`~datetime.datetime` or an ISO-8601 string; a value without
    a UTC offset is taken to be in UTC.
    """
    if value is None:
        raise ValidationFailed.field(field, "is required")
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValidationFailed.field(field, "must be an ISO-8601 date and time") from None
    if not isinstance(value, datetime):
        raise ValidationFailed.field(field, "must be an ISO-8601 date and time")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValidationFailed.field(field, "is out of range") from None


# ---------------------------------------------------------------- rules


@attrs.frozen
class Text:
    """A text field's rule: see :func:`text`.

    Attributes:
        maximum: Most characters, as sent.
        minimum: Fewest characters, after stripping (0 allows the empty string).
        strip: Remove surrounding white space (so blank text counts as empty).
    """

    maximum: int
    minimum: int = 1
    strip: bool = True

    def __call__(self, value: object, field: str) -> str:
        """Return ``value`` checked; raise :class:`ValidationFailed` naming ``field``."""
        return text(value, field, maximum=self.maximum, minimum=self.minimum, strip=self.strip)


@attrs.frozen
class Integer:
    """An integer field's rule, ``minimum..maximum``: see :func:`integer`."""

    minimum: int
    maximum: int

    def __call__(self, value: object, field: str) -> int:
        """Return ``value`` checked; raise :class:`ValidationFailed` naming ``field``."""
        return integer(value, field, minimum=self.minimum, maximum=self.maximum)


@attrs.frozen
class Identifier:
    """The id of something to look up.

    A malformed id (not an integer) is refused; a well-formed one beyond any
    stored id (0, negative, more than 64 bits) becomes 0, which no store
    holds, so that looking it up finds nothing (a 404, not a 400).
    """

    minimum: int = 1
    maximum: int = 2**63 - 1

    def __call__(self, value: object, field: str) -> int:
        """Return ``value`` as an id to look up; raise :class:`ValidationFailed` naming ``field``."""
        try:
            return identifier(value, field)
        except ValidationFailed:
            if isinstance(value, int) and not isinstance(value, bool):
                return 0
            raise


@attrs.frozen
class Choice(Generic[E]):
    """A field whose value is one of an enum's: see :func:`choice`."""

    enum_type: type[E]

    def __call__(self, value: object, field: str) -> E:
        """Return the member; raise :class:`ValidationFailed` naming ``field``."""
        return choice(value, field, self.enum_type)


@attrs.frozen
class Login:
    """A login name: 3–254 characters, letters and digits first, then also ``. _ @ + -``.

    Logins are compared without regard to case: the rule returns the login in lower case.
    """

    minimum: int = 3
    maximum: int = LOGIN_MAX
    #: The characters allowed, as a regular expression (also published as JSON Schema).
    pattern: str = "^[A-Za-z0-9][A-Za-z0-9._@+-]*$"

    def __call__(self, value: object, field: str) -> str:
        """Return ``value`` in lower case; raise :class:`ValidationFailed` naming ``field``."""
        login = text(value, field, maximum=self.maximum, minimum=self.minimum, strip=False)
        if not re.fullmatch(self.pattern, login):
            raise ValidationFailed.field(
                field, "must start with a letter or digit and hold only letters, digits and . _ @ + -"
            )
        return login.lower()


@attrs.frozen
class ChoiceSet(Generic[E]):
    """A non-empty list of distinct values of an enum, taken as a set."""

    enum_type: type[E]

    def __call__(self, value: object, field: str) -> frozenset[E]:
        """Return the members named; raise :class:`ValidationFailed` naming ``field``."""
        if value is None:
            raise ValidationFailed.field(field, "is required")
        if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
            raise ValidationFailed.field(field, "must be a list")
        if not value:
            raise ValidationFailed.field(field, "must not be empty")
        members = [choice(item, field, self.enum_type) for item in value]
        if len(set(members)) != len(members):
            raise ValidationFailed.field(field, "must not repeat a value")
        return frozenset(members)


@functools.cache
def time_zones() -> tuple[str, ...]:
    """Every IANA time zone name this machine knows (with ``tzdata``, the same everywhere), sorted."""
    return tuple(sorted(zoneinfo.available_timezones()))


@attrs.frozen
class TimeZone:
    """An IANA time zone name, such as ``Europe/Paris`` or ``UTC``."""

    def __call__(self, value: object, field: str) -> str:
        """Return ``value`` if it names a zone; raise :class:`ValidationFailed` naming ``field``."""
        name = text(value, field, maximum=TIME_ZONE_MAX)
        if name not in time_zones():
            raise ValidationFailed.field(field, "must be an IANA time zone, like Europe/Paris or UTC")
        return name


@attrs.frozen
class Day:
    """A date, ``YYYY-MM-DD``."""

    def __call__(self, value: object, field: str) -> date:
        """Return ``value`` as a date; raise :class:`ValidationFailed` naming ``field``."""
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise ValidationFailed.field(field, "must be a date, like 2025-12-01")


@attrs.frozen
class Timestamp:
    """A date and time field: see :func:`timestamp`."""

    def __call__(self, value: object, field: str) -> datetime:
        """Return ``value`` as an aware UTC datetime; raise :class:`ValidationFailed` naming ``field``."""
        return timestamp(value, field)


#: What a rule may be: a callable ``rule(value, field)`` that returns the value checked.
Rule = Text | Integer | Identifier | Choice[Any] | ChoiceSet[Any] | Login | TimeZone | Day | Timestamp

DISPLAY_NAME = Text(DISPLAY_NAME_MAX)
NAME = Text(NAME_MAX)
TITLE = Text(TITLE_MAX)
DESCRIPTION = Text(DESCRIPTION_MAX)
DIFFICULTY = Text(DIFFICULTY_MAX)
MESSAGE = Text(MESSAGE_MAX, minimum=0, strip=False)
WEIGHT = Integer(1, WEIGHT_MAX)
MINUTES = Integer(0, MINUTES_MAX)
STUDY_DURATION = Integer(0, STUDY_DURATION_MAX)
ID = Identifier(1, ID_MAX)
TIMESTAMP = Timestamp()
LOGIN = Login()
PASSWORD = Text(PASSWORD_MAX, minimum=PASSWORD_MIN, strip=False)
TOKEN_NAME = Text(NAME_MAX)
LIFETIME_DAYS = Integer(1, LIFETIME_DAYS_MAX)
SCOPES = ChoiceSet(Scope)
DAY = Day()
GOAL_MINUTES = Integer(1, GOAL_MINUTES_MAX)
TIME_ZONE = TimeZone()
#: The local hour a study day starts at.
DAY_START_HOUR = Integer(0, 23)
#: The day a student's weeks start on: 0 is Monday, 6 Sunday.
WEEK_START = Integer(0, 6)
#: The minutes a study day needs to count for a streak.
DAILY_MINIMUM = Integer(1, MINUTES_MAX)
#: Days a week without study that do not break a streak.
REST_DAYS = Integer(0, 6)
