"""The schema, as SQLAlchemy Core tables, and the mapping between rows and entities.

Core's entities are frozen attrs classes, so nothing is ORM-mapped: each entity
has a pair of plain functions, ``<entity>_values`` (entity → column values, for
INSERT and UPDATE) and ``<entity>_from_row`` (row → entity)::

    User ──user_values()──▶ {"display_name": …, …} ──INSERT/UPDATE──▶ users
    User ◀─user_from_row()── Row(id=…, display_name=…, …) ◀──SELECT── users

The tables mirror the entities column for column. Alembic owns the schema in a
database (see :mod:`luminary.sql.migrations`); :data:`metadata` is what the
migrations are checked against, so that the two never drift apart.

Design points:

* Ids are 64-bit and never reused, as in core's in-memory store: ``BIGSERIAL``
  on PostgreSQL, ``INTEGER PRIMARY KEY AUTOINCREMENT`` (a rowid alias, 64-bit
  too) on SQLite, where without ``AUTOINCREMENT`` the id of a deleted last row
  would be handed out again.
* Timestamps go through :class:`UtcDateTime`: ``timestamptz`` on PostgreSQL,
  naive UTC text with microseconds on SQLite, and aware UTC datetimes in Python.
* Children refer to their parents without ``ON DELETE CASCADE``: use cases delete
  children first and account for what they delete (a completed session's minutes),
  so a cascade would hide exactly the rows that must be accounted for. A child
  inserted by a concurrent transaction makes the parent's delete fail instead
  (an integrity error, reported as :class:`~luminary.core.errors.Conflict`).
  The exceptions: ``users.current_attempt_id``, a pointer rather than
  ownership (deleting the attempt clears it), and a user's ``credentials`` and
  ``tokens``, which hold nothing to account for: they go with the user, so a
  token created meanwhile cannot make the user's delete fail.
* A token's scopes are one text column, their values sorted and separated by
  spaces (``"read study"``); a token is read whole, never searched by scope.
* Every list order has an index: ``(parent_id, id)`` for lists by id,
  ``(parent_id, created_at, id)`` for newest-first lists. The leading column
  also serves the foreign-key checks on delete. ``(user_id, study_day)`` serves
  the statistics, which group a user's sessions by study day.
* A study day is a ``DATE`` (ISO-8601 text on SQLite), read back as a
  :class:`datetime.date`; only a completed session has one. So is a goal's due day.
* Goals refer to their user and constellation without a cascade either: core
  deletes a user's goals with the user, and refuses to delete a constellation
  that goals name.
* CHECK constraints repeat the domain's bounds, as a last line of defence; they
  take them from :mod:`luminary.core.validation`, so a bound is written once
  (a migration records the values of its day).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    false,
)

from luminary.core.access import Scope
from luminary.core.accounts import Credentials, LoginFailures, Token
from luminary.core.entities import (
    Attempt,
    Constellation,
    Goal,
    GoalKind,
    Post,
    PostType,
    Session,
    SessionStatus,
    User,
)
from luminary.core.validation import (
    DAILY_MINIMUM,
    DAY_START_HOUR,
    DIFFICULTY_MAX,
    DISPLAY_NAME_MAX,
    GOAL_MINUTES,
    LOGIN,
    MINUTES_MAX,
    NAME_MAX,
    REST_DAYS,
    STUDY_DURATION_MAX,
    TITLE_MAX,
    WEEK_START,
    WEIGHT_MAX,
)
from luminary.core.validation import TIME_ZONE_MAX as CORE_TIME_ZONE_MAX
from luminary.core.validation import Integer as IntegerRule

__all__ = [
    "LOGIN_FAILURE_KEY_MAX",
    "RATE_LIMIT_KEY_MAX",
    "TIME_ZONE_MAX",
    "Id",
    "UtcDateTime",
    "attempt_from_row",
    "attempt_values",
    "attempts",
    "constellation_from_row",
    "constellation_values",
    "constellations",
    "credentials",
    "credentials_from_row",
    "credentials_values",
    "goal_from_row",
    "goal_values",
    "goals",
    "login_failures",
    "login_failures_from_row",
    "login_failures_values",
    "metadata",
    "post_from_row",
    "post_values",
    "posts",
    "rate_limit_windows",
    "scopes_from_text",
    "scopes_text",
    "session_from_row",
    "session_values",
    "sessions",
    "token_from_row",
    "token_values",
    "tokens",
    "user_from_row",
    "user_values",
    "users",
]

#: Constraint names are derived, so that migrations can name what they alter
#: (SQLite's table rebuilds need names to find constraints again).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

#: 64-bit ids; on SQLite plain INTEGER, the only type that makes a rowid alias (and so autoincrements).
Id = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A point in time, always handed back as an aware datetime in UTC.

    PostgreSQL stores ``timestamptz``. SQLite has no time type: the value is
    stored as ISO-8601 text in UTC with microseconds and offset
    (``2025-12-01 10:30:00.000001+00:00``), whose text order is time order and
    which reads back as an aware datetime in one C call. (Text written without
    the offset, as early development databases have it, is read as UTC.)
    Naive datetimes are refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value if value.tzinfo is UTC else value.astimezone(UTC)

    # SQLite: bypass the generic DateTime string handling, which parses to a
    # naive value that then needs a second, costly step to become aware.
    # PostgreSQL: psycopg converts nothing more, so one plain function replaces
    # TypeDecorator's two calls per value (callgrind: 1.2% of the v1 user list's instructions).
    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            return _sqlite_bind
        return super().bind_processor(dialect)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            return _sqlite_result
        if dialect.name == "postgresql" and self._impl_reads_as_is(dialect, coltype):
            return _aware_result
        return super().result_processor(dialect, coltype)

    def _impl_reads_as_is(self, dialect: Dialect, coltype: object) -> bool:
        return self.impl_instance.dialect_impl(dialect).result_processor(dialect, coltype) is None


def _sqlite_bind(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r} cannot be stored; use an aware UTC datetime")
    return value.astimezone(UTC).isoformat(sep=" ", timespec="microseconds")


def _aware_result(value: datetime | None) -> datetime | None:
    # As process_result_value, in one call: psycopg gives UTC datetimes as they are
    # (the engine's sessions run in UTC), anything else is turned to UTC.
    if value is None or value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _sqlite_result(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


_tzinfo = attrgetter("tzinfo")


def _sqlite_results(values: tuple[str | None, ...]) -> Iterable[datetime | None]:
    """:func:`_sqlite_result` of a whole column: without a None or a naive value (what
    Luminary stores), parsed by C-level loops alone, at half the cost per value."""
    if None not in values:
        parsed = list(map(datetime.fromisoformat, cast("tuple[str, ...]", values)))
        if None not in map(_tzinfo, parsed):
            return parsed
    return map(_sqlite_result, values)


# How luminary.sql.driver processes a whole column of timestamps read from SQLite.
_sqlite_result.column = _sqlite_results  # type: ignore[attr-defined]


def _aware_results(values: tuple[datetime | None, ...]) -> Iterable[datetime | None]:
    """:func:`_aware_result` of a whole column: when every value is already in UTC (what
    psycopg gives in the engine's UTC sessions), the column as it is, checked by a C-level loop."""
    if None not in values and set(map(_tzinfo, values)) == _IN_UTC:
        return values
    return map(_aware_result, values)


_IN_UTC = {UTC}
# How luminary.sql.driver processes a whole column of timestamps read from PostgreSQL.
_aware_result.column = _aware_results  # type: ignore[attr-defined]


# Enum lookups by value: a dict is several times cheaper than calling the enum.
_STATUSES = {status.value: status for status in SessionStatus}
_POST_TYPES = {kind.value: kind for kind in PostType}
_SCOPES = {scope.value: scope for scope in Scope}
_GOAL_KINDS = {kind.value: kind for kind in GoalKind}


def _length_between(column: str, low: int, high: int) -> str:
    return f"length({column}) BETWEEN {low} AND {high}"


def _in_range(column: str, rule: IntegerRule) -> CheckConstraint:
    """``column BETWEEN`` the rule's bounds, named ``<column>_range``."""
    return CheckConstraint(f"{column} BETWEEN {rule.minimum} AND {rule.maximum}", name=f"{column}_range")


#: The longest IANA time zone name stored: core's limit.
TIME_ZONE_MAX = CORE_TIME_ZONE_MAX


users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("display_name", String(DISPLAY_NAME_MAX), nullable=False),
    Column("current_attempt_id", Id, nullable=True),
    Column("total_minutes", BigInteger, nullable=False, server_default="0"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("time_zone", String(TIME_ZONE_MAX), nullable=False, server_default="UTC"),
    Column("day_start_hour", Integer, nullable=False, server_default="0"),
    Column("week_start", Integer, nullable=False, server_default="0"),
    Column("daily_minimum", Integer, nullable=False, server_default="1"),
    Column("rest_days", Integer, nullable=False, server_default="0"),
    # users ⇄ constellation_attempts refer to each other; use_alter lets the
    # cycle be created (and dropped) in two steps on databases that can ALTER.
    ForeignKeyConstraint(
        ["current_attempt_id"],
        ["constellation_attempts.id"],
        ondelete="SET NULL",
        use_alter=True,
    ),
    CheckConstraint(_length_between("display_name", 1, DISPLAY_NAME_MAX), name="display_name_length"),
    CheckConstraint("total_minutes >= 0", name="total_minutes_not_negative"),
    CheckConstraint(_length_between("time_zone", 1, TIME_ZONE_MAX), name="time_zone_length"),
    _in_range("day_start_hour", DAY_START_HOUR),
    _in_range("week_start", WEEK_START),
    _in_range("daily_minimum", DAILY_MINIMUM),
    _in_range("rest_days", REST_DAYS),
    Index(None, "current_attempt_id"),
    sqlite_autoincrement=True,
)

constellations = Table(
    "constellations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(NAME_MAX), nullable=False),
    Column("weight", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint(_length_between("name", 1, NAME_MAX), name="name_length"),
    CheckConstraint(f"weight BETWEEN 1 AND {WEIGHT_MAX}", name="weight_range"),
    sqlite_autoincrement=True,
)

attempts = Table(
    "constellation_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("constellation_id", Id, ForeignKey("constellations.id"), nullable=False),
    Column("stars_completed", Integer, nullable=False, server_default="0"),
    Column("completed_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    # Stars never exceed the weight, so never the largest weight either.
    CheckConstraint(f"stars_completed BETWEEN 0 AND {WEIGHT_MAX}", name="stars_completed_range"),
    Index(None, "user_id", "id"),
    Index(None, "constellation_id", "id"),
    sqlite_autoincrement=True,
)

SESSION_STATUSES = tuple(s.value for s in SessionStatus)
POST_TYPES = tuple(t.value for t in PostType)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


sessions = Table(
    "sessions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=True),
    Column("constellation_attempt_id", Id, ForeignKey("constellation_attempts.id"), nullable=True),
    Column("title", String(TITLE_MAX), nullable=False),
    Column("description", Text, nullable=True),
    Column("status", String(20), nullable=False),
    Column("difficulty", String(DIFFICULTY_MAX), nullable=True),
    Column("minutes", Integer, nullable=True),
    Column("started_at", UtcDateTime, nullable=True),
    Column("completed_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("study_day", Date, nullable=True),
    Column("running_since", UtcDateTime, nullable=True),
    Column("elapsed_seconds", BigInteger, nullable=True),
    Column("auto_stopped", Boolean, nullable=False, server_default=false()),
    CheckConstraint(_length_between("title", 1, TITLE_MAX), name="title_length"),
    CheckConstraint(_one_of("status", SESSION_STATUSES), name="status_known"),
    CheckConstraint(f"minutes BETWEEN 0 AND {MINUTES_MAX}", name="minutes_range"),
    CheckConstraint("elapsed_seconds >= 0", name="elapsed_seconds_not_negative"),
    # A running timer has a count of seconds (0 on its first stretch).
    CheckConstraint("running_since IS NULL OR elapsed_seconds IS NOT NULL", name="running_timer_counted"),
    CheckConstraint(
        f"study_day IS NULL OR status = '{SessionStatus.COMPLETED.value}'", name="study_day_completed_only"
    ),
    Index(None, "user_id", "created_at", "id"),
    Index(None, "constellation_attempt_id", "created_at", "id"),
    Index(None, "created_at", "id"),
    Index(None, "user_id", "study_day"),
    sqlite_autoincrement=True,
)

posts = Table(
    "posts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("constellation_id", Id, ForeignKey("constellations.id"), nullable=False),
    Column("post_type", String(20), nullable=False),
    Column("message", Text, nullable=True),
    Column("study_duration", Integer, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint(_one_of("post_type", POST_TYPES), name="post_type_known"),
    CheckConstraint(f"study_duration BETWEEN 0 AND {STUDY_DURATION_MAX}", name="study_duration_range"),
    Index(None, "user_id", "created_at", "id"),
    Index(None, "constellation_id", "created_at", "id"),
    Index(None, "created_at", "id"),
    sqlite_autoincrement=True,
)

GOAL_KINDS = tuple(k.value for k in GoalKind)
#: The kinds of goal counted in minutes (every kind but completing a constellation).
MINUTE_GOAL_KINDS = tuple(k.value for k in GoalKind if k is not GoalKind.COMPLETE_CONSTELLATION)

goals = Table(
    "goals",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("target_minutes", Integer, nullable=True),
    Column("constellation_id", Id, ForeignKey("constellations.id"), nullable=True),
    Column("due", Date, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint(_one_of("kind", GOAL_KINDS), name="kind_known"),
    _in_range("target_minutes", GOAL_MINUTES),
    # Completing a constellation names it and a due day; a minute goal has minutes and no due day.
    CheckConstraint(
        f"(kind = '{GoalKind.COMPLETE_CONSTELLATION.value}' AND constellation_id IS NOT NULL "
        "AND due IS NOT NULL AND target_minutes IS NULL) "
        f"OR ({_one_of('kind', MINUTE_GOAL_KINDS)} AND target_minutes IS NOT NULL AND due IS NULL)",
        name="kind_fields",
    ),
    Index(None, "user_id", "id"),
    Index(None, "constellation_id"),
    sqlite_autoincrement=True,
)


#: The longest key of a count of failed sign-ins (``"login:"`` and a login, ``"address:"`` and an address).
LOGIN_FAILURE_KEY_MAX = 300

credentials = Table(
    "credentials",
    metadata,
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False),
    Column("login", String(LOGIN.maximum), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("is_admin", Boolean, nullable=False, server_default=false()),
    CheckConstraint(_length_between("login", LOGIN.minimum, LOGIN.maximum), name="login_length"),
    # Logins are compared in lower case, so only lower case is stored (and unique).
    CheckConstraint("login = lower(login)", name="login_lower_case"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(NAME_MAX), nullable=False),
    Column("scopes", Text, nullable=False),
    # SHA-256 in hex; its unique index is the look-up of every authenticated request.
    Column("digest", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("last_used_at", UtcDateTime, nullable=True),
    CheckConstraint(_length_between("name", 1, NAME_MAX), name="name_length"),
    CheckConstraint("length(digest) = 64", name="digest_length"),
    Index(None, "user_id", "id"),
    sqlite_autoincrement=True,
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("key", String(LOGIN_FAILURE_KEY_MAX), primary_key=True),
    Column("count", Integer, nullable=False),
    Column("window_start", UtcDateTime, nullable=False),
    CheckConstraint(_length_between("key", 1, LOGIN_FAILURE_KEY_MAX), name="key_length"),
    CheckConstraint("count >= 1", name="count_positive"),
)

#: The longest key of a rate-limit window (a route class, then a token's digest or a client address).
RATE_LIMIT_KEY_MAX = 300

# The requests of one client of one route class in one fixed window, named by the
# second (since the epoch) it ends at; shared by every server (see luminary.sql.rate_limits).
rate_limit_windows = Table(
    "rate_limit_windows",
    metadata,
    Column("key", String(RATE_LIMIT_KEY_MAX), primary_key=True),
    Column("window_end", BigInteger, primary_key=True, autoincrement=False),
    Column("hits", Integer, nullable=False),
    CheckConstraint(_length_between("key", 1, RATE_LIMIT_KEY_MAX), name="key_length"),
    CheckConstraint("hits >= 1", name="hits_positive"),
)


# Row ↔ entity. The ``*_values`` functions leave out ``id``: the database assigns it
# on INSERT, and an UPDATE finds the row by it.


def user_values(user: User) -> dict[str, Any]:
    """Column values of a user, without its id."""
    return {
        "display_name": user.display_name,
        "current_attempt_id": user.current_attempt_id,
        "total_minutes": user.total_minutes,
        "created_at": user.created_at,
        "time_zone": user.time_zone,
        "day_start_hour": user.day_start_hour,
        "week_start": user.week_start,
        "daily_minimum": user.daily_minimum,
        "rest_days": user.rest_days,
    }


def user_from_row(row: Mapping[Any, Any]) -> User:
    """The user stored in a row of :data:`users`."""
    return User(
        id=row["id"],
        display_name=row["display_name"],
        current_attempt_id=row["current_attempt_id"],
        total_minutes=row["total_minutes"],
        created_at=row["created_at"],
        time_zone=row["time_zone"],
        day_start_hour=row["day_start_hour"],
        week_start=row["week_start"],
        daily_minimum=row["daily_minimum"],
        rest_days=row["rest_days"],
    )


def constellation_values(constellation: Constellation) -> dict[str, Any]:
    """Column values of a constellation, without its id."""
    return {
        "name": constellation.name,
        "weight": constellation.weight,
        "created_at": constellation.created_at,
    }


def constellation_from_row(row: Mapping[Any, Any]) -> Constellation:
    """The constellation stored in a row of :data:`constellations`."""
    return Constellation(
        id=row["id"],
        name=row["name"],
        weight=row["weight"],
        created_at=row["created_at"],
    )


def attempt_values(attempt: Attempt) -> dict[str, Any]:
    """Column values of an attempt, without its id."""
    return {
        "user_id": attempt.user_id,
        "constellation_id": attempt.constellation_id,
        "stars_completed": attempt.stars_completed,
        "completed_at": attempt.completed_at,
        "created_at": attempt.created_at,
    }


def attempt_from_row(row: Mapping[Any, Any]) -> Attempt:
    """The attempt stored in a row of :data:`attempts`."""
    return Attempt(
        id=row["id"],
        user_id=row["user_id"],
        constellation_id=row["constellation_id"],
        stars_completed=row["stars_completed"],
        completed_at=row["completed_at"],
        created_at=row["created_at"],
    )


def session_values(session: Session) -> dict[str, Any]:
    """Column values of a session, without its id."""
    return {
        "user_id": session.user_id,
        "constellation_attempt_id": session.constellation_attempt_id,
        "title": session.title,
        "description": session.description,
        "status": SessionStatus(session.status).value,
        "difficulty": session.difficulty,
        "minutes": session.minutes,
        "started_at": session.started_at,
        "completed_at": session.completed_at,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
        "study_day": session.study_day,
        "running_since": session.running_since,
        "elapsed_seconds": session.elapsed_seconds,
        "auto_stopped": session.auto_stopped,
    }


def session_from_row(row: Mapping[Any, Any]) -> Session:
    """The session stored in a row of :data:`sessions`."""
    return Session(
        id=row["id"],
        user_id=row["user_id"],
        constellation_attempt_id=row["constellation_attempt_id"],
        title=row["title"],
        description=row["description"],
        status=_STATUSES[row["status"]],
        difficulty=row["difficulty"],
        minutes=row["minutes"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        study_day=row["study_day"],
        running_since=row["running_since"],
        elapsed_seconds=row["elapsed_seconds"],
        auto_stopped=bool(row["auto_stopped"]),
    )


def post_values(post: Post) -> dict[str, Any]:
    """Column values of a post, without its id."""
    return {
        "user_id": post.user_id,
        "constellation_id": post.constellation_id,
        "post_type": PostType(post.post_type).value,
        "message": post.message,
        "study_duration": post.study_duration,
        "created_at": post.created_at,
    }


def post_from_row(row: Mapping[Any, Any]) -> Post:
    """The post stored in a row of :data:`posts`."""
    return Post(
        id=row["id"],
        user_id=row["user_id"],
        constellation_id=row["constellation_id"],
        post_type=_POST_TYPES[row["post_type"]],
        message=row["message"],
        study_duration=row["study_duration"],
        created_at=row["created_at"],
    )


def goal_values(goal: Goal) -> dict[str, Any]:
    """Column values of a goal, without its id."""
    return {
        "user_id": goal.user_id,
        "kind": GoalKind(goal.kind).value,
        "target_minutes": goal.target_minutes,
        "constellation_id": goal.constellation_id,
        "due": goal.due,
        "created_at": goal.created_at,
    }


def goal_from_row(row: Mapping[Any, Any]) -> Goal:
    """The goal stored in a row of :data:`goals`."""
    return Goal(
        id=row["id"],
        user_id=row["user_id"],
        kind=_GOAL_KINDS[row["kind"]],
        target_minutes=row["target_minutes"],
        constellation_id=row["constellation_id"],
        due=row["due"],
        created_at=row["created_at"],
    )


def credentials_values(credentials: Credentials) -> dict[str, Any]:
    """Column values of a user's credentials, ``user_id`` included (it is their key)."""
    return {
        "user_id": credentials.user_id,
        "login": credentials.login,
        "password_hash": credentials.password_hash,
        "updated_at": credentials.updated_at,
        "is_admin": credentials.is_admin,
    }


def credentials_from_row(row: Mapping[Any, Any]) -> Credentials:
    """The credentials stored in a row of :data:`credentials`."""
    return Credentials(
        user_id=row["user_id"],
        login=row["login"],
        password_hash=row["password_hash"],
        updated_at=row["updated_at"],
        is_admin=bool(row["is_admin"]),
    )


def scopes_text(scopes: Iterable[Scope]) -> str:
    """Scopes as stored: their values, sorted, separated by spaces (``"read study"``)."""
    return " ".join(sorted(Scope(scope).value for scope in scopes))


def scopes_from_text(text: str) -> frozenset[Scope]:
    """The scopes stored as :func:`scopes_text` wrote them."""
    return frozenset(_SCOPES[value] for value in text.split())


def token_values(token: Token) -> dict[str, Any]:
    """Column values of a token, without its id."""
    return {
        "user_id": token.user_id,
        "name": token.name,
        "scopes": scopes_text(token.scopes),
        "digest": token.digest,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "last_used_at": token.last_used_at,
    }


def token_from_row(row: Mapping[Any, Any]) -> Token:
    """The token stored in a row of :data:`tokens`."""
    return Token(
        id=row["id"],
        user_id=row["user_id"],
        name=row["name"],
        scopes=scopes_from_text(row["scopes"]),
        digest=row["digest"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        last_used_at=row["last_used_at"],
    )


def login_failures_values(failures: LoginFailures) -> dict[str, Any]:
    """Column values of a count of failed sign-ins, ``key`` included."""
    return {"key": failures.key, "count": failures.count, "window_start": failures.window_start}


def login_failures_from_row(row: Mapping[Any, Any]) -> LoginFailures:
    """The count stored in a row of :data:`login_failures`."""
    return LoginFailures(key=row["key"], count=row["count"], window_start=row["window_start"])
