"""The things Luminary keeps track of.

Every entity is an immutable attrs class: rules and use cases never change one in
place, they build a new value with :func:`attrs.evolve` and hand it to a repository.
An entity that has not been stored yet carries ``id == 0``; the repository that adds
it returns a copy with the id it assigned.

All timestamps are timezone-aware datetimes in UTC.

The relations, as ids::

    User 1 ──< Attempt >── 1 Constellation
      │           │
      │           └──< Session          (constellation_attempt_id, optional)
      ├──< Session                      (user_id, optional)
      └──< Post >── 1 Constellation
"""

from __future__ import annotations

import enum
from datetime import date, datetime

import attrs

__all__ = [
    "Attempt",
    "Constellation",
    "DayTotal",
    "Goal",
    "GoalKind",
    "Post",
    "PostType",
    "Session",
    "SessionStatus",
    "User",
]


class SessionStatus(enum.StrEnum):
    """Where a session stands.

    A study session logged from the app is usually created ``planned`` and
    completed later; a learning session moves through ``planned``,
    ``in_progress`` and ``completed``. ``cancelled`` is what cancelling a
    session leaves behind.
    """

    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class PostType(enum.StrEnum):
    """What a post in the feed announces."""

    COMPLETION = "completion"
    PROGRESS = "progress"


@attrs.frozen(kw_only=True)
class User:
    """A student.

    Attributes:
        id: Identifier assigned by the repository (0 until stored).
        display_name: The name shown to other students, 1–1000 characters.
        current_attempt_id: The attempt the student is working on, if any.
        total_minutes: Minutes of all the student's completed sessions. The
            use cases keep it equal to that sum after every commit.
        created_at: When the student signed up.
        time_zone: The IANA time zone their study days are counted in.
        day_start_hour: The local hour a study day starts at (0–23): at 4, a
            session completed at 02:00 counts for the day before.
        week_start: The day their weeks start on, 0 (Monday) to 6 (Sunday).
        daily_minimum: Minutes a study day needs to count for a streak (1–1440).
        rest_days: Days a week without study that do not break a streak (0–6).
    """

    id: int = 0
    display_name: str
    current_attempt_id: int | None = None
    total_minutes: int = 0
    created_at: datetime
    time_zone: str = "UTC"
    day_start_hour: int = 0
    week_start: int = 0
    daily_minimum: int = 1
    rest_days: int = 0


@attrs.frozen(kw_only=True)
class Constellation:
    """A study topic; its ``weight`` is the number of stars it takes to complete.

    Attributes:
        id: Identifier assigned by the repository (0 until stored).
        name: 1–100 characters.
        weight: Number of stars, 1–1000.
        created_at: When the constellation was created.
    """

    id: int = 0
    name: str
    weight: int
    created_at: datetime


@attrs.frozen(kw_only=True)
class Attempt:
    """A student's attempt at a constellation (the wire calls it a constellation attempt).

    Attributes:
        id: Identifier assigned by the repository (0 until stored).
        user_id: The student making the attempt.
        constellation_id: The constellation attempted.
        stars_completed: Stars earned so far, from 0 to the constellation's weight.
        completed_at: When the attempt reached its weight, or ``None``.
        created_at: When the attempt was started.
    """

    id: int = 0
    user_id: int
    constellation_id: int
    stars_completed: int = 0
    completed_at: datetime | None = None
    created_at: datetime

    @property
    def is_completed(self) -> bool:
        """Whether the attempt has been completed."""
        return self.completed_at is not None


@attrs.frozen(kw_only=True)
class Session:
    """A study session or a learning session: one entity serves both.

    A study session belongs to a user and usually to an attempt, and its
    ``minutes`` count towards the user's total once it is completed. A learning
    session may stand alone with just a title.

    Attributes:
        id: Identifier assigned by the repository (0 until stored).
        title: 1–200 characters.
        status: See :class:`SessionStatus`.
        user_id: The student whose minutes this session counts towards, if any.
        constellation_attempt_id: The attempt the session belongs to, if any.
        description: Free text, if any.
        difficulty: A short label (at most 50 characters), if any.
        minutes: Minutes studied (0–1440), if known.
        started_at: When the session started, if known.
        completed_at: When the session was completed, if it is.
        created_at: When the session was created.
        updated_at: When the session last changed.
        study_day: The study day a completed session counts for: the local date
            of ``completed_at`` in its user's time zone and day start in force
            when it was completed; ``None`` until it is completed.
        running_since: While its timer runs, when the running stretch began.
        elapsed_seconds: Seconds of the timer's finished running stretches;
            ``None`` for a session that was never timed.
        auto_stopped: Its timer ran past the cap and stopped itself there.
    """

    id: int = 0
    title: str
    status: SessionStatus = SessionStatus.PLANNED
    user_id: int | None = None
    constellation_attempt_id: int | None = None
    description: str | None = None
    difficulty: str | None = None
    minutes: int | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    study_day: date | None = None
    running_since: datetime | None = None
    elapsed_seconds: int | None = None
    auto_stopped: bool = False

    @property
    def is_completed(self) -> bool:
        """Whether the session's status is ``completed``."""
        return self.status is SessionStatus.COMPLETED

    @property
    def is_timed(self) -> bool:
        """Whether its timer was ever started."""
        return self.elapsed_seconds is not None

    @property
    def is_running(self) -> bool:
        """Whether its timer runs now."""
        return self.running_since is not None


@attrs.frozen(kw_only=True)
class Post:
    """A post in the social feed about a student's progress on a constellation.

    Attributes:
        id: Identifier assigned by the repository (0 until stored).
        user_id: The author.
        constellation_id: The constellation the post is about.
        post_type: See :class:`PostType`.
        message: Free text, if any.
        study_duration: Minutes studied on the attempt (0–2^31−1), if given.
        created_at: When the post was made.
    """

    id: int = 0
    user_id: int
    constellation_id: int
    post_type: PostType
    message: str | None = None
    study_duration: int | None = None
    created_at: datetime


@attrs.frozen
class DayTotal:
    """What a student completed on one study day.

    Attributes:
        day: The study day.
        minutes: Minutes of the sessions completed that day.
        sessions: How many sessions were completed that day.
    """

    day: date
    minutes: int
    sessions: int


class GoalKind(enum.StrEnum):
    """What a goal asks for."""

    #: Minutes every study day (overall, or on one constellation).
    DAILY_MINUTES = "daily_minutes"
    #: Minutes every week (overall, or on one constellation).
    WEEKLY_MINUTES = "weekly_minutes"
    #: Every star of a constellation by a date.
    COMPLETE_CONSTELLATION = "complete_constellation"


@attrs.frozen(kw_only=True)
class Goal:
    """A goal a student set themselves.

    Attributes:
        id: Identifier assigned by the repository (0 until stored).
        user_id: Whose it is.
        kind: See :class:`GoalKind`.
        target_minutes: For minute goals, the minutes a day or a week.
        constellation_id: The constellation it is about: required to complete
            one, optional for minute goals (which then count its sessions only).
        due: For completing a constellation, the last study day to do it by.
        created_at: When it was set.
    """

    id: int = 0
    user_id: int
    kind: GoalKind
    target_minutes: int | None = None
    constellation_id: int | None = None
    due: date | None = None
    created_at: datetime
