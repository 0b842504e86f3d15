"""v2 accounts: signing up, ``/api/v2/me``, passwords, and tokens."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import attrs

from luminary import core
from luminary.core import Scope

from ..auth import client_address
from ..requests import QueryInvalid, choice_param, date_param, id_param
from .operations import Context, Resource, operation
from .schemas import ID_SCHEMA


def _sorted_scopes(scopes: frozenset[Scope]) -> list[Scope]:
    return sorted(scopes, key=list(Scope).index)


@attrs.frozen
class AccountView:
    """Who a token acts for: their user, their login, and the token's scopes."""

    id: int
    display_name: str
    login: str | None
    is_admin: bool
    scopes: list[Scope]
    total_minutes: int
    current_attempt_id: int | None
    created_at: datetime

    @classmethod
    def of(cls, account: core.Account) -> AccountView:
        user = account.user
        return cls(
            id=user.id,
            display_name=user.display_name,
            login=account.login,
            is_admin=account.is_admin,
            scopes=_sorted_scopes(account.scopes),
            total_minutes=user.total_minutes,
            current_attempt_id=user.current_attempt_id,
            created_at=user.created_at,
        )


@attrs.frozen
class TokenView:
    """A token as its owner lists it: never its secret."""

    id: int
    name: str
    scopes: list[Scope]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, token: core.Token) -> TokenView:
        return cls(
            id=token.id,
            name=token.name,
            scopes=_sorted_scopes(token.scopes),
            created_at=token.created_at,
            expires_at=token.expires_at,
            last_used_at=token.last_used_at,
        )


@attrs.frozen
class NewTokenView(TokenView):
    """A token just created, with its secret: shown this once."""

    secret: str

    @classmethod
    def issued(cls, issued: core.IssuedToken) -> NewTokenView:
        return cls(**attrs.asdict(TokenView.of(issued.token), recurse=False), secret=issued.secret)


@attrs.frozen
class LoginView:
    """The login a user was given."""

    user_id: int
    login: str


class Accounts(Resource):
    path = "/api/v2/accounts"

    @operation(
        "POST /api/v2/accounts",
        operation_id="signUp",
        summary="Sign up: a new user with a login and a password (no token needed)",
        tag="accounts",
        scope=None,
        data="User",
        command=core.SignUp,
        status=201,
        location="/api/v2/users/{id}",
        example={"display_name": "Ada", "login": "ada", "password": "correct horse battery"},
    )
    def on_post(self, ctx: Context) -> core.User:
        return core.sign_up(ctx.uow(), ctx.command, clock=ctx.clock, passwords=ctx.passwords)


class Me(Resource):
    path = "/api/v2/me"

    @operation(
        "GET /api/v2/me",
        operation_id="getMe",
        summary="Who the token acts for, and its scopes",
        tag="accounts",
        scope=Scope.READ,
        data="Account",
    )
    def on_get(self, ctx: Context) -> AccountView:
        return AccountView.of(core.get_account(ctx.uow(), actor=ctx.actor))


@attrs.frozen
class TimerView:
    """A running or paused timer: its session, and how long it has run."""

    session_id: int
    title: str
    constellation_attempt_id: int | None
    running: bool
    elapsed_seconds: int
    started_at: datetime | None
    running_since: datetime | None
    stops_at: datetime | None

    @classmethod
    def of(cls, timer: core.Timer) -> TimerView:
        session = timer.session
        return cls(
            session_id=session.id,
            title=session.title,
            constellation_attempt_id=session.constellation_attempt_id,
            running=timer.running,
            elapsed_seconds=timer.elapsed_seconds,
            started_at=session.started_at,
            running_since=session.running_since,
            stops_at=timer.stops_at,
        )


class MyTimer(Resource):
    path = "/api/v2/me/timer"

    @operation(
        "GET /api/v2/me/timer",
        operation_id="getTimer",
        summary="My running or paused timer and its elapsed seconds; null when none",
        tag="timer",
        scope=Scope.READ,
        data="Timer",
        nullable=True,
    )
    def on_get(self, ctx: Context) -> TimerView | None:
        timer = core.get_timer(ctx.uow(), actor=ctx.actor, clock=ctx.clock, cap=ctx.services.timer_cap)
        return None if timer is None else TimerView.of(timer)


@attrs.frozen
class BucketView:
    """One day, week or month of statistics."""

    start: date
    end: date
    minutes: int
    sessions: int


@attrs.frozen
class StatisticsView:
    """Minutes and sessions per bucket of study days, in the student's time zone."""

    first: date
    last: date
    by: core.Period
    minutes: int
    sessions: int
    buckets: list[BucketView]

    @classmethod
    def of(cls, stats: core.Statistics) -> StatisticsView:
        buckets = [BucketView(b.start, b.end, b.minutes, b.sessions) for b in stats.buckets]
        return cls(
            first=stats.first,
            last=stats.last,
            by=stats.by,
            minutes=stats.minutes,
            sessions=stats.sessions,
            buckets=buckets,
        )


@attrs.frozen
class StreaksView:
    """A student's streaks of study days, as of their today."""

    today: date
    current: int
    longest: int
    studied_today: bool
    daily_minimum: int
    rest_days: int


DAY_PARAMETER = {"type": "string", "format": "date"}


class MyStats(Resource):
    path = "/api/v2/me/stats"

    @operation(
        "GET /api/v2/me/stats",
        operation_id="getStats",
        summary="My minutes and sessions per day, week or month of study days",
        tag="study",
        scope=Scope.READ,
        data="Statistics",
        query=(
            {
                "name": "from",
                "schema": DAY_PARAMETER,
                "description": "First study day (default: 6 days before to).",
            },
            {
                "name": "to",
                "schema": DAY_PARAMETER,
                "description": "Last study day (default: today, in my zone).",
            },
            {
                "name": "by",
                "schema": {"type": "string", "enum": [p.value for p in core.Period]},
                "description": "How days are grouped (default: day); weeks start on my week_start.",
            },
            {
                "name": "constellation_id",
                "schema": ID_SCHEMA,
                "description": "Only sessions of attempts at it.",
            },
        ),
    )
    def on_get(self, ctx: Context) -> StatisticsView:
        req = ctx.req
        errors: list[core.FieldError] = []
        values: dict[str, Any] = {}
        for name, read in (
            ("from", lambda: date_param(req, "from")),
            ("to", lambda: date_param(req, "to")),
            ("by", lambda: choice_param(req, "by", core.Period, core.Period.DAY)),
            ("constellation_id", lambda: id_param(req, "constellation_id")),
        ):
            try:
                values[name] = read()
            except core.ValidationFailed as exc:
                errors += exc.errors
        if errors:
            raise QueryInvalid(errors)
        try:
            stats = core.statistics(
                ctx.uow(),
                ctx.actor.user_id or 0,
                actor=ctx.actor,
                clock=ctx.clock,
                first=values["from"],
                last=values["to"],
                by=values["by"],
                constellation_id=values["constellation_id"],
            )
        except core.ValidationFailed as exc:  # the range: about the query's parameters
            raise QueryInvalid(exc.errors) from None
        return StatisticsView.of(stats)


class MyStreaks(Resource):
    path = "/api/v2/me/streaks"

    @operation(
        "GET /api/v2/me/streaks",
        operation_id="getStreaks",
        summary="My current and longest streaks of study days",
        tag="study",
        scope=Scope.READ,
        data="Streaks",
    )
    def on_get(self, ctx: Context) -> StreaksView:
        found = core.streaks(ctx.uow(), ctx.actor.user_id or 0, actor=ctx.actor, clock=ctx.clock)
        return StreaksView(**attrs.asdict(found))


@attrs.frozen
class GoalProgressView:
    """How far along a goal is, as of the student's today."""

    goal_id: int
    kind: core.GoalKind
    constellation_id: int | None
    period_start: date
    period_end: date
    done: int
    target: int
    unit: str
    on_pace: bool
    per_day: int

    @classmethod
    def of(cls, p: core.GoalProgress) -> GoalProgressView:
        goal = p.goal
        return cls(
            goal.id,
            goal.kind,
            goal.constellation_id,
            p.period_start,
            p.period_end,
            p.done,
            p.target,
            p.unit,
            p.on_pace,
            p.per_day,
        )


class MyGoals(Resource):
    path = "/api/v2/me/goals"

    @operation(
        "GET /api/v2/me/goals",
        operation_id="listGoals",
        summary="My goals, by id",
        tag="study",
        scope=Scope.READ,
        data="Goal",
        many=True,
    )
    def on_get(self, ctx: Context) -> list[core.Goal]:
        return core.list_goals(ctx.uow(), ctx.actor.user_id or 0, actor=ctx.actor)

    @operation(
        "POST /api/v2/me/goals",
        operation_id="createGoal",
        summary="Set a goal: minutes a day or a week, or every star of a constellation by a day",
        tag="study",
        scope=Scope.STUDY,
        data="Goal",
        command=core.CreateGoal,
        status=201,
        location="/api/v2/me/goals/{id}",
        example={"kind": "weekly_minutes", "target_minutes": 300},
    )
    def on_post(self, ctx: Context) -> core.Goal:
        return core.create_goal(ctx.uow(), ctx.command, actor=ctx.actor, clock=ctx.clock)


class MyGoal(Resource):
    path = "/api/v2/me/goals/{goal_id}"

    @operation(
        "GET /api/v2/me/goals/{goal_id}",
        operation_id="getGoal",
        summary="One of my goals",
        tag="study",
        scope=Scope.READ,
        data="Goal",
    )
    def on_get(self, ctx: Context) -> core.Goal:
        return core.get_goal(ctx.uow(), ctx.params["goal_id"], actor=ctx.actor)

    @operation(
        "DELETE /api/v2/me/goals/{goal_id}",
        operation_id="deleteGoal",
        summary="Delete one of my goals",
        tag="study",
        scope=Scope.STUDY,
        status=204,
    )
    def on_delete(self, ctx: Context) -> None:
        core.delete_goal(ctx.uow(), ctx.params["goal_id"], actor=ctx.actor)


class MyProgress(Resource):
    path = "/api/v2/me/progress"

    @operation(
        "GET /api/v2/me/progress",
        operation_id="getGoalProgress",
        summary="For each of my goals: done, target, on pace or behind, and what a day would catch up",
        tag="study",
        scope=Scope.READ,
        data="GoalProgress",
        many=True,
    )
    def on_get(self, ctx: Context) -> list[GoalProgressView]:
        found = core.goal_progress(ctx.uow(), ctx.actor.user_id or 0, actor=ctx.actor, clock=ctx.clock)
        return [GoalProgressView.of(p) for p in found]


class MyPassword(Resource):
    path = "/api/v2/me/password"

    @operation(
        "PUT /api/v2/me/password",
        operation_id="changePassword",
        summary="Change my password (tokens keep working; revoke them to end them)",
        tag="accounts",
        scope=Scope.ACCOUNT,
        command=core.ChangePassword,
        status=204,
        example={"current_password": "correct horse battery", "new_password": "a longer passphrase"},
    )
    def on_put(self, ctx: Context) -> None:
        core.change_password(
            ctx.uow(), ctx.command, actor=ctx.actor, clock=ctx.clock, passwords=ctx.passwords
        )


class Tokens(Resource):
    path = "/api/v2/tokens"

    @operation(
        "GET /api/v2/tokens",
        operation_id="listTokens",
        summary="My tokens: name, scopes, created, expires, last used (never the secret)",
        tag="accounts",
        scope=Scope.READ,
        data="Token",
        many=True,
    )
    def on_get(self, ctx: Context) -> list[TokenView]:
        user_id = ctx.actor.user_id or 0
        return [TokenView.of(t) for t in core.list_tokens(ctx.uow(), user_id, actor=ctx.actor)]

    @operation(
        "POST /api/v2/tokens",
        operation_id="createToken",
        summary="Sign in: a new token for a login and password, its secret shown once (no token needed)",
        tag="accounts",
        scope=None,
        data="NewToken",
        command=core.CreateToken,
        status=201,
        example={
            "login": "ada",
            "password": "correct horse battery",
            "name": "iPhone",
            "scopes": ["read", "study", "social"],
            "expires_in_days": 90,
        },
    )
    def on_post(self, ctx: Context) -> NewTokenView:
        issued = core.create_token(
            ctx.uow(), ctx.command, clock=ctx.clock, address=client_address(ctx.req), passwords=ctx.passwords
        )
        return NewTokenView.issued(issued)


class Token(Resource):
    path = "/api/v2/tokens/{token_id}"

    @operation(
        "DELETE /api/v2/tokens/{token_id}",
        operation_id="revokeToken",
        summary="Revoke a token: the next request presenting it is refused, in every process",
        tag="accounts",
        scope=Scope.ACCOUNT,
        status=204,
    )
    def on_delete(self, ctx: Context) -> None:
        core.revoke_token(ctx.uow(), ctx.params["token_id"], actor=ctx.actor)


class UserLogin(Resource):
    path = "/api/v2/users/{user_id}/login"

    @operation(
        "PUT /api/v2/users/{user_id}/login",
        operation_id="claimUser",
        summary="Give a user without one (made through v1) a login and a password",
        tag="accounts",
        scope=Scope.ADMIN,
        data="Login",
        command=core.ClaimAccount,
        status=201,
        example={"login": "ada", "password": "correct horse battery"},
    )
    def on_put(self, ctx: Context) -> LoginView:
        credentials = core.claim_account(
            ctx.uow(),
            ctx.params["user_id"],
            ctx.command,
            actor=ctx.actor,
            clock=ctx.clock,
            passwords=ctx.passwords,
        )
        return LoginView(credentials.user_id, credentials.login)


RESOURCES: list[type[Resource]] = [
    Accounts,
    Me,
    MyTimer,
    MyStats,
    MyStreaks,
    MyGoals,
    MyGoal,
    MyProgress,
    MyPassword,
    Tokens,
    Token,
    UserLogin,
]

#: The answers of this module, for the OpenAPI document.
COMPONENTS: dict[str, type] = {
    "Account": AccountView,
    "Token": TokenView,
    "NewToken": NewTokenView,
    "Login": LoginView,
    "Timer": TimerView,
    "Statistics": StatisticsView,
    "Streaks": StreaksView,
    "Goal": core.Goal,
    "GoalProgress": GoalProgressView,
}
