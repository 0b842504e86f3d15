"""Use cases of a student's goals, and how far along each one is.

Progress is derived, like statistics, from the completed sessions (and, to
complete a constellation, from the student's attempts at it), as of the
student's study day now. For each goal it says what is done, the target,
whether the student is on pace, and what a day would catch up::

    weekly 300 min, weeks from Monday; today Thursday, 120 done
    expected by now: 300 × 3/7 ≈ 128 → behind;  to catch up: ⌈(300 − 120) / 4⌉ = 45 a day
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import attrs

from .. import study
from ..access import Actor, Scope, require, see
from ..clock import Clock
from ..commands import CreateGoal
from ..entities import Goal, GoalKind, User
from ..errors import Conflict, NotFound
from ..ports import UnitOfWork
from ..study import Period
from ._loading import load_constellation, load_user, lookup_id
from .stats import today_of

__all__ = [
    "MAX_GOALS",
    "GoalProgress",
    "create_goal",
    "delete_goal",
    "get_goal",
    "goal_progress",
    "list_goals",
]

#: Goals a student may hold at once: progress costs a query per goal of one constellation.
MAX_GOALS = 20


@attrs.frozen
class GoalProgress:
    """How far along a goal is, as of the student's today.

    Attributes:
        goal: The goal.
        period_start: The first day that counts (today for a daily goal, the
            week's first day for a weekly one, the day it was set to complete a
            constellation).
        period_end: The last day that counts (the due day to complete a constellation).
        done: Minutes done in the period, or stars earned.
        target: Minutes aimed at, or the constellation's stars.
        unit: ``minutes`` or ``stars``.
        on_pace: Whether what is done keeps up with the days gone by.
        per_day: What each day left (today included) needs to reach the target; 0 when reached.
    """

    goal: Goal
    period_start: date
    period_end: date
    done: int
    target: int
    unit: str
    on_pace: bool
    per_day: int


def _own(uow: UnitOfWork, actor: Actor) -> User:
    if actor.user_id is None:
        raise NotFound("User", message="The system sets no goals")
    return load_user(uow, actor.user_id)


def create_goal(uow: UnitOfWork, command: CreateGoal, *, actor: Actor, clock: Clock) -> Goal:
    """Set a goal for the acting student.

    Raises:
        Forbidden: The token lacks ``study``.
        NotFound: ``constellation_id`` names nothing.
        Conflict: The student holds :data:`MAX_GOALS` goals already.
    """
    require(actor, Scope.STUDY)
    with uow:
        user = _own(uow, actor)
        if command.constellation_id is not None:
            load_constellation(uow, command.constellation_id)
        if len(uow.goals.list_by_user(user.id)) >= MAX_GOALS:
            raise Conflict(f"A student holds at most {MAX_GOALS} goals: delete one first")
        goal = uow.goals.add(
            Goal(
                user_id=user.id,
                kind=command.kind,
                target_minutes=command.target_minutes,
                constellation_id=command.constellation_id,
                due=command.due,
                created_at=clock.now(),
            )
        )
        uow.commit()
    return goal


def get_goal(uow: UnitOfWork, goal_id: object, *, actor: Actor) -> Goal:
    """Return one of the user's goals.

    Raises:
        Forbidden: The token lacks ``read``.
        NotFound: No such goal, or someone else's.
    """
    require(actor, Scope.READ)
    gid = lookup_id(goal_id, "goal_id")
    with uow.reading():
        goal = uow.goals.get(gid)
    if goal is None:
        raise NotFound("Goal", gid)
    see(actor, goal.user_id, "Goal", gid)
    return goal


def list_goals(uow: UnitOfWork, user_id: int, *, actor: Actor) -> list[Goal]:
    """Return the user's goals, by id.

    Raises:
        Forbidden: The token lacks ``read``.
        NotFound: No such user, or someone else.
    """
    require(actor, Scope.READ)
    with uow.reading():
        user = load_user(uow, user_id, actor=actor)
        return list(uow.goals.list_by_user(user.id))


def delete_goal(uow: UnitOfWork, goal_id: object, *, actor: Actor) -> Goal:
    """Remove a goal.

    Raises:
        Forbidden: The token lacks ``study``.
        NotFound: No such goal, or someone else's.
    """
    require(actor, Scope.STUDY)
    gid = lookup_id(goal_id, "goal_id")
    with uow:
        goal = uow.goals.get(gid)
        if goal is None:
            raise NotFound("Goal", gid)
        see(actor, goal.user_id, "Goal", gid)
        uow.goals.delete(goal.id)
        uow.commit()
    return goal


def goal_progress(uow: UnitOfWork, user_id: int, *, actor: Actor, clock: Clock) -> list[GoalProgress]:
    """Return how far along each of the user's goals is, as of their today.

    Raises:
        Forbidden: The token lacks ``read``.
        NotFound: No such user, or someone else.
    """
    require(actor, Scope.READ)
    now = clock.now()
    with uow.reading():
        user = load_user(uow, user_id, actor=actor)
        today = today_of(user, clock)
        goals = list(uow.goals.list_by_user(user.id))
        week_start, week_end = study.bucket_of(today, Period.WEEK, user.week_start)
        minutes: dict[int | None, dict[date, int]] = {}
        for cid in {g.constellation_id for g in goals if g.kind is not GoalKind.COMPLETE_CONSTELLATION}:
            days = uow.sessions.minutes_by_day(user.id, week_start, today, constellation_id=cid)
            minutes[cid] = {d.day: d.minutes for d in days}
        wanted = {g.constellation_id for g in goals if g.kind is GoalKind.COMPLETE_CONSTELLATION}
        stars: dict[int, int] = {}
        weights: dict[int, int] = {}
        if wanted:
            found = uow.constellations.get_many({c for c in wanted if c is not None})
            weights = {c.id: c.weight for c in found.values()}
            for attempt in uow.attempts.list_by_users([user.id]):
                if attempt.constellation_id in weights:
                    earned = (
                        weights[attempt.constellation_id] if attempt.is_completed else attempt.stars_completed
                    )
                    stars[attempt.constellation_id] = max(stars.get(attempt.constellation_id, 0), earned)
    day_gone = _fraction_of_day(now, user)
    progress = []
    for goal in goals:
        if goal.kind is GoalKind.DAILY_MINUTES:
            target = goal.target_minutes or 0
            done = minutes[goal.constellation_id].get(today, 0)
            progress.append(
                GoalProgress(
                    goal,
                    today,
                    today,
                    done,
                    target,
                    "minutes",
                    done >= target * day_gone,
                    max(0, target - done),
                )
            )
        elif goal.kind is GoalKind.WEEKLY_MINUTES:
            target = goal.target_minutes or 0
            done = sum(minutes[goal.constellation_id].values())
            gone = (today - week_start).days
            left = 7 - gone
            progress.append(
                GoalProgress(
                    goal,
                    week_start,
                    week_end,
                    done,
                    target,
                    "minutes",
                    done * 7 >= target * gone,
                    _per_day(target - done, left),
                )
            )
        else:
            cid = goal.constellation_id or 0
            target = weights.get(cid, 0)
            done = stars.get(cid, 0)
            due = goal.due or today
            start = min(study.study_day(goal.created_at, user.time_zone, user.day_start_hour), due)
            left = (due - today).days + 1
            total = (due - start).days + 1
            gone = min(max((today - start).days, 0), total)
            on_pace = done >= target or (left > 0 and done * total >= target * gone)
            per_day = 0 if done >= target else (target - done if left <= 0 else _per_day(target - done, left))
            progress.append(GoalProgress(goal, start, due, done, target, "stars", on_pace, per_day))
    return progress


def _per_day(missing: int, days_left: int) -> int:
    return 0 if missing <= 0 else math.ceil(missing / max(days_left, 1))


def _fraction_of_day(now: datetime, user: User) -> float:
    """How much of the user's study day has gone by at ``now`` (by the wall clock)."""
    local = now.astimezone(ZoneInfo(user.time_zone)).replace(tzinfo=None)
    day = (local - timedelta(hours=user.day_start_hour)).date()
    start = datetime.combine(day, time(user.day_start_hour))
    return min(max((local - start) / timedelta(days=1), 0.0), 1.0)
