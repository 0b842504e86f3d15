"""Use cases on study and learning sessions, and the minute accounting they drive."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import cast

import attrs

from .. import rules
from ..clock import Clock
from ..entities import Session, SessionStatus
from ..errors import Conflict, ValidationFailed
from ..pagination import PageRequest, Slice
from ..ports import UnitOfWork
from ..validation import (
    DESCRIPTION_MAX,
    DIFFICULTY_MAX,
    MINUTES_MAX,
    TITLE_MAX,
    Fields,
    choice,
    integer,
    text,
    timestamp,
)
from ._loading import (
    load_attempt,
    load_constellation,
    load_session,
    load_user,
    lookup_id,
    move_minutes,
    refuse_unknown,
    session_page,
)

__all__ = [
    "SESSION_FIELDS",
    "cancel_session",
    "complete_session",
    "create_session",
    "delete_session",
    "get_session",
    "list_sessions",
    "update_session",
]


#: The session fields a caller may set on creation or change with :func:`update_session`.
SESSION_FIELDS = frozenset(
    {"title", "description", "status", "difficulty", "minutes", "started_at", "completed_at"}
)


def _session_fields(values: Mapping[str, object]) -> dict[str, object]:
    """Validate the learning-session fields present in ``values``."""
    fields = Fields()
    checked: dict[str, object] = {}
    checks: dict[str, Callable[[object], object]] = {
        "title": lambda v: text(v, "title", maximum=TITLE_MAX),
        "description": lambda v: None if v is None else text(v, "description", maximum=DESCRIPTION_MAX),
        "status": lambda v: choice(v, "status", SessionStatus),
        "difficulty": lambda v: None if v is None else text(v, "difficulty", maximum=DIFFICULTY_MAX),
        "minutes": lambda v: None if v is None else integer(v, "minutes", minimum=0, maximum=MINUTES_MAX),
        "started_at": lambda v: None if v is None else timestamp(v, "started_at"),
        "completed_at": lambda v: None if v is None else timestamp(v, "completed_at"),
    }
    for name, check in checks.items():
        if name in values:
            with fields:
                checked[name] = check(values[name])
    fields.check()
    return checked


def _check_times(session: Session, given: Mapping[str, object]) -> None:
    """A session is not completed before it started.

    When the request gave both times, its input is malformed; when one of them is
    stored or is the moment of completion, the request contradicts the session's
    state (or the clock).
    """
    if session.started_at and session.completed_at and session.completed_at < session.started_at:
        if given.get("started_at") is not None and given.get("completed_at") is not None:
            raise ValidationFailed.field("completed_at", "must not be before started_at")
        raise Conflict("A session cannot be completed before it started!")


def create_session(
    uow: UnitOfWork,
    *,
    clock: Clock,
    user_id: int | None = None,
    constellation_attempt_id: int | None = None,
    title: str | None = None,
    description: str | None = None,
    status: SessionStatus | str | None = None,
    difficulty: str | None = None,
    minutes: int | None = None,
    started_at: datetime | str | None = None,
    completed_at: datetime | str | None = None,
) -> Session:
    """Create a study or learning session.

    A session needs a title or an attempt; with an attempt and no title, the
    title is the constellation's name. A session of an attempt belongs to the
    attempt's user. It is ``planned`` unless ``status`` says otherwise; one
    created ``completed`` adds its minutes to the user's total at once.

    Raises:
        ValidationFailed: A field is malformed, neither title nor attempt is given,
            the attempt belongs to another user than ``user_id``, or ``completed_at``
            is before ``started_at``.
        NotFound: ``user_id`` or ``constellation_attempt_id`` names nothing.
        Conflict: A session created completed would be completed before its ``started_at``.
    """
    raw: dict[str, object] = {
        "description": description,
        "difficulty": difficulty,
        "minutes": minutes,
        "started_at": started_at,
        "completed_at": completed_at,
    }
    if title is not None:
        raw["title"] = title
    if status is not None:
        raw["status"] = status
    fields = Fields()
    with fields:
        values = _session_fields(raw)
    with fields:
        uid = None if user_id is None else lookup_id(user_id, "user_id")
    with fields:
        aid = (
            None
            if constellation_attempt_id is None
            else lookup_id(constellation_attempt_id, "constellation_attempt_id")
        )
    if title is None and constellation_attempt_id is None:
        fields.add("title", "is required when there is no constellation_attempt_id")
    fields.check()
    with uow:
        if aid is not None:
            attempt = load_attempt(uow, aid, field="constellation_attempt_id")
            if uid is not None and uid != attempt.user_id:
                raise ValidationFailed.field("constellation_attempt_id", "belongs to another user")
            uid = attempt.user_id
            if "title" not in values:
                values["title"] = load_constellation(uow, attempt.constellation_id).name
        if uid is not None:
            load_user(uow, uid)
        now = clock.now()
        session = Session(
            user_id=uid,
            constellation_attempt_id=aid,
            created_at=now,
            updated_at=now,
            **values,  # type: ignore[arg-type]
        )
        if session.is_completed:
            session = rules.complete_session(attrs.evolve(session, status=SessionStatus.PLANNED), now)
        _check_times(session, values)
        session = uow.sessions.add(session)
        move_minutes(uow, session.user_id, rules.counted_minutes(session))
        uow.commit()
    return session


def get_session(uow: UnitOfWork, session_id: int) -> Session:
    """Return the session.

    Raises:
        NotFound: No such session.
    """
    with uow.reading():
        return load_session(uow, session_id)


def list_sessions(
    uow: UnitOfWork,
    page: PageRequest,
    *,
    user_id: int | None = None,
    attempt_id: int | None = None,
) -> Slice[Session]:
    """Return a page of sessions, newest first; only a user's or an attempt's when given.

    Raises:
        NotFound: ``user_id`` or ``attempt_id`` names nothing.
    """
    with uow.reading():
        return session_page(uow, page, user_id, attempt_id)


def update_session(
    uow: UnitOfWork, session_id: int, changes: Mapping[str, object], *, clock: Clock
) -> Session:
    """Change some fields of a session; the others keep their value.

    ``changes`` may hold any of :data:`SESSION_FIELDS`. ``updated_at`` moves.
    Setting ``status`` to ``completed`` completes the session as
    :func:`complete_session` does; moving a completed session to another status
    clears ``completed_at`` (unless given) and takes its minutes back. Changing
    the minutes of a completed session moves the user's total by the
    difference (rule 4).

    Raises:
        NotFound: No such session.
        ValidationFailed: A field is malformed or unknown, ``title`` is null, or
            ``completed_at`` is before ``started_at``, both given.
        Conflict: The session would be completed before it started, one of the
            two times being stored or the moment of completion.
    """
    refuse_unknown(changes, SESSION_FIELDS)
    values = _session_fields(changes)
    with uow:
        before = load_session(uow, session_id, for_update=True)
        now = clock.now()
        status = cast(SessionStatus, values.pop("status", before.status))
        after = attrs.evolve(before, **values)  # type: ignore[arg-type]
        if status is SessionStatus.COMPLETED:
            after = rules.complete_session(after, now)
        else:
            if before.is_completed and "completed_at" not in values:
                after = attrs.evolve(after, completed_at=None)
            after = attrs.evolve(after, status=status)
        _check_times(after, values)
        if after == before:
            return before
        after = attrs.evolve(after, updated_at=now)
        uow.sessions.update(after)
        move_minutes(uow, after.user_id, rules.minutes_delta(before, after))
        uow.commit()
    return after


def complete_session(uow: UnitOfWork, session_id: int, *, clock: Clock) -> Session:
    """Complete a session; its minutes join the user's total (rule 4).

    Completing a completed session changes nothing, so two concurrent
    completions count the minutes once.

    Raises:
        NotFound: No such session.
        Conflict: The session starts later than now.
    """
    return update_session(uow, session_id, {"status": SessionStatus.COMPLETED}, clock=clock)


def cancel_session(uow: UnitOfWork, session_id: int, *, clock: Clock) -> Session:
    """Cancel a session; minutes it had added to the user's total are taken back.

    Raises:
        NotFound: No such session.
    """
    return update_session(uow, session_id, {"status": SessionStatus.CANCELLED}, clock=clock)


def delete_session(uow: UnitOfWork, session_id: int) -> Session:
    """Remove a session; its minutes leave the user's total if it was completed.

    Raises:
        NotFound: No such session.
    """
    with uow:
        session = load_session(uow, session_id, for_update=True)
        uow.sessions.delete(session.id)
        move_minutes(uow, session.user_id, rules.minutes_delta(session, None))
        uow.commit()
    return session
