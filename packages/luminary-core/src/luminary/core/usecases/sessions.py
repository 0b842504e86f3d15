"""Use cases on study and learning sessions, and the minute accounting they drive."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import attrs

from .. import rules, study
from ..access import Actor, Scope, require
from ..clock import Clock
from ..commands import CreateSession, SessionPatch, changes
from ..entities import Session, SessionStatus, User
from ..errors import Conflict, ValidationFailed
from ..pagination import PageRequest, Slice
from ..ports import UnitOfWork
from ._loading import (
    load_attempt,
    load_constellation,
    load_session,
    load_user,
    move_minutes,
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
SESSION_FIELDS = frozenset(f.name for f in attrs.fields(SessionPatch))


#: The fields of :class:`CreateSession` that :func:`create_session` decides on.
_DECIDED_HERE = frozenset({"user_id", "constellation_attempt_id", "title", "status"})


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


def create_session(uow: UnitOfWork, command: CreateSession, *, actor: Actor, clock: Clock) -> Session:
    """Create a study or learning session.

    With an attempt and no title, the title is the constellation's name. A
    session of an attempt belongs to the attempt's user; one with neither an
    attempt nor a user belongs to the student creating it (to nobody when the
    system creates it). One created ``completed`` adds its minutes to the
    user's total at once.

    Raises:
        ValidationFailed: The attempt belongs to another user than ``user_id``,
            or ``completed_at`` is before ``started_at``.
        NotFound: ``user_id`` or ``constellation_attempt_id`` names nothing,
            or someone else's.
        Conflict: A session created completed would be completed before its ``started_at``.
    """
    require(actor, Scope.STUDY)
    with uow:
        user_id, attempt_id, title = command.user_id, command.constellation_attempt_id, command.title
        if attempt_id is not None:
            attempt = load_attempt(uow, attempt_id, field="constellation_attempt_id", actor=actor)
            if user_id is not None and user_id != attempt.user_id:
                raise ValidationFailed.field("constellation_attempt_id", "belongs to another user")
            user_id = attempt.user_id
            if title is None:
                title = load_constellation(uow, attempt.constellation_id).name
            # Its user exists (deleting a user deletes their attempts) and the actor may see them.
        else:
            if user_id is None:
                user_id = actor.user_id  # a student's session is theirs; the system's may be nobody's
            if user_id is not None:
                load_user(uow, user_id, actor=actor)
        assert title is not None  # CreateSession needs a title or an attempt
        now = clock.now()
        # Every other field of the command is the session's as given.
        given = {k: v for k, v in attrs.asdict(command, recurse=False).items() if k not in _DECIDED_HERE}
        session = Session(
            **given,
            user_id=user_id,
            constellation_attempt_id=attempt_id,
            title=title,
            created_at=now,
            updated_at=now,
        )
        if command.status is SessionStatus.COMPLETED:
            session = rules.complete_session(session, now)
        else:
            session = attrs.evolve(session, status=command.status)
        _check_times(session, {"started_at": command.started_at, "completed_at": command.completed_at})
        session, locked = _stamped(uow, None, session)
        session = uow.sessions.add(session)
        move_minutes(uow, session.user_id, rules.counted_minutes(session), locked=locked)
        uow.commit()
    return session


def get_session(uow: UnitOfWork, session_id: int, *, actor: Actor) -> Session:
    """Return the session.

    Raises:
        NotFound: No such session.
    """
    require(actor, Scope.READ)
    with uow.reading():
        return load_session(uow, session_id, actor=actor)


def list_sessions(
    uow: UnitOfWork,
    page: PageRequest,
    *,
    actor: Actor,
    user_id: int | None = None,
    attempt_id: int | None = None,
) -> Slice[Session]:
    """Return a page of sessions, newest first; only a user's or an attempt's when given.

    Raises:
        NotFound: ``user_id`` or ``attempt_id`` names nothing.
    """
    require(actor, Scope.READ)
    with uow.reading():
        return session_page(uow, actor, page, user_id, attempt_id)


def update_session(
    uow: UnitOfWork, session_id: int, patch: SessionPatch, *, actor: Actor, clock: Clock
) -> Session:
    """Change some fields of a session; the absent ones keep their value.

    ``updated_at`` moves. Setting ``status`` to ``completed`` completes the
    session as :func:`complete_session` does; moving a completed session to
    another status clears ``completed_at`` (unless given) and takes its minutes
    back. Changing the minutes of a completed session moves the user's total by
    the difference (rule 4).

    Raises:
        NotFound: No such session.
        ValidationFailed: ``completed_at`` is before ``started_at``, both given.
        Conflict: The session would be completed before it started, one of the
            two times being stored or the moment of completion.
    """
    require(actor, Scope.STUDY)
    given = changes(patch)
    with uow:
        before = load_session(uow, session_id, actor=actor, for_update=True)
        now = clock.now()
        status = given.pop("status", before.status)
        after = attrs.evolve(before, **given)
        if status is SessionStatus.COMPLETED:
            after = rules.complete_session(after, now)
        else:
            if before.is_completed and "completed_at" not in given:
                after = attrs.evolve(after, completed_at=None)
            after = attrs.evolve(after, status=status)
        _check_times(after, given)
        return _save(uow, before, after, now)


def complete_session(uow: UnitOfWork, session_id: int, *, actor: Actor, clock: Clock) -> Session:
    """Complete a session; its minutes join the user's total (rule 4).

    Completing a completed session changes nothing, so two concurrent
    completions count the minutes once.

    Raises:
        NotFound: No such session.
        Conflict: The session starts later than now.
    """
    require(actor, Scope.STUDY)
    with uow:
        before = load_session(uow, session_id, actor=actor, for_update=True)
        now = clock.now()
        after = rules.complete_session(before, now)
        _check_times(after, {})
        return _save(uow, before, after, now)


def cancel_session(uow: UnitOfWork, session_id: int, *, actor: Actor, clock: Clock) -> Session:
    """Cancel a session; minutes it had added to the user's total are taken back.

    Raises:
        NotFound: No such session.
    """
    require(actor, Scope.STUDY)
    with uow:
        before = load_session(uow, session_id, actor=actor, for_update=True)
        after = rules.cancel_session(before, clock.now())
        _check_times(after, {})
        return _save(uow, before, after, clock.now())


def _save(uow: UnitOfWork, before: Session, after: Session, now: datetime) -> Session:
    """Store a changed session (:func:`store_change`) and commit."""
    saved = store_change(uow, before, after, now)
    if saved is not before:
        uow.commit()
    return saved


def store_change(uow: UnitOfWork, before: Session, after: Session, now: datetime) -> Session:
    """Store a changed session and move its user's minutes by the difference; the caller commits.

    A session completed now (or whose completion time changed) is stamped with
    its study day, in its user's time zone and day start as they are now; one
    patched out of ``in_progress`` stops its timer. Returns ``before`` itself
    when nothing changes.
    """
    if after.is_running and after.status is not SessionStatus.IN_PROGRESS:
        after = study.close_stretch(after, now)  # a status patched away from in_progress stops the timer
    after, locked = _stamped(uow, before, after)
    if after == before:
        return before
    after = attrs.evolve(after, updated_at=now)
    uow.sessions.update(after)
    move_minutes(uow, after.user_id, rules.minutes_delta(before, after), locked=locked)
    return after


def stamp_study_day(uow: UnitOfWork, before: Session | None, after: Session) -> Session:
    """``after`` with the study day of its completion, kept from ``before`` when the completion stayed."""
    return _stamped(uow, before, after)[0]


def _stamped(uow: UnitOfWork, before: Session | None, after: Session) -> tuple[Session, User | None]:
    """:func:`stamp_study_day`, and the user it read and locked to do so, if it did."""
    if (
        before is not None
        and before.is_completed
        and after.is_completed
        and before.completed_at == after.completed_at
        and before.user_id == after.user_id
    ):
        return attrs.evolve(after, study_day=before.study_day), None
    if not after.is_completed or after.user_id is None:
        return study.with_study_day(after, None), None
    # The user's row is locked, as move_minutes will: the zone in force is the one the day is stamped with.
    user = uow.users.get(after.user_id, for_update=True)
    return study.with_study_day(after, user), user


def delete_session(uow: UnitOfWork, session_id: int, *, actor: Actor) -> Session:
    """Remove a session; its minutes leave the user's total if it was completed.

    Raises:
        NotFound: No such session.
    """
    require(actor, Scope.STUDY)
    with uow:
        session = load_session(uow, session_id, actor=actor, for_update=True)
        uow.sessions.delete(session.id)
        move_minutes(uow, session.user_id, rules.minutes_delta(session, None))
        uow.commit()
    return session
