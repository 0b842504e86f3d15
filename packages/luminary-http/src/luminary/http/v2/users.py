"""v2 users: ``/api/v2/users`` and what hangs below one user."""

from __future__ import annotations

from luminary import core
from luminary.core import NotFound, Scope, Slice

from .operations import Context, Resource, operation


class Users(Resource):
    path = "/api/v2/users"

    @operation(
        "GET /api/v2/users",
        operation_id="listUsers",
        summary="List users by id",
        tag="users",
        scope=Scope.ADMIN,
        data="User",
        many=True,
        paginated=True,
    )
    def on_get(self, ctx: Context) -> Slice[core.User]:
        return core.list_users(ctx.uow(), ctx.page(), actor=ctx.actor)

    @operation(
        "POST /api/v2/users",
        operation_id="createUser",
        summary="Create a user",
        tag="users",
        scope=Scope.ADMIN,
        data="User",
        command=core.CreateUser,
        status=201,
        location="/api/v2/users/{id}",
        example={"display_name": "Ada"},
    )
    def on_post(self, ctx: Context) -> core.User:
        return core.create_user(ctx.uow(), ctx.command, clock=ctx.clock, actor=ctx.actor)


class User(Resource):
    path = "/api/v2/users/{user_id}"

    @operation(
        "GET /api/v2/users/{user_id}",
        operation_id="getUser",
        summary="Get a user",
        tag="users",
        scope=Scope.READ,
        data="User",
    )
    def on_get(self, ctx: Context) -> core.User:
        return core.get_user(ctx.uow(), ctx.params["user_id"], actor=ctx.actor)

    @operation(
        "PATCH /api/v2/users/{user_id}",
        operation_id="updateUser",
        summary="Rename a user",
        tag="users",
        scope=Scope.ACCOUNT,
        data="User",
        command=core.UserPatch,
        example={"display_name": "Ada Lovelace"},
    )
    def on_patch(self, ctx: Context) -> core.User:
        return core.update_user(
            ctx.uow(), ctx.params["user_id"], ctx.command, clock=ctx.clock, actor=ctx.actor
        )

    @operation(
        "DELETE /api/v2/users/{user_id}",
        operation_id="deleteUser",
        summary="Delete a user with their attempts, sessions and posts",
        tag="users",
        scope=Scope.ACCOUNT,
        status=204,
    )
    def on_delete(self, ctx: Context) -> None:
        core.delete_user(ctx.uow(), ctx.params["user_id"], actor=ctx.actor)


class UserTotalMinutes(Resource):
    path = "/api/v2/users/{user_id}/total_minutes"

    @operation(
        "GET /api/v2/users/{user_id}/total_minutes",
        operation_id="getUserTotalMinutes",
        summary="A user's total minutes",
        tag="users",
        scope=Scope.READ,
        data="MinutesSummary",
    )
    def on_get(self, ctx: Context) -> core.MinutesSummary:
        return core.total_minutes(ctx.uow(), ctx.params["user_id"], actor=ctx.actor)


class UserCompletedConstellations(Resource):
    path = "/api/v2/users/{user_id}/completed_constellations"

    @operation(
        "GET /api/v2/users/{user_id}/completed_constellations",
        operation_id="listUserCompletedConstellations",
        summary="Constellations the user has completed",
        tag="users",
        scope=Scope.READ,
        data="Constellation",
        many=True,
    )
    def on_get(self, ctx: Context) -> list[core.Constellation]:
        result = core.completed_constellations(ctx.uow(), ctx.params["user_id"], actor=ctx.actor)
        return [d.constellation for d in result.distinct]


class UserCurrentAttempt(Resource):
    path = "/api/v2/users/{user_id}/current_attempt"

    @operation(
        "GET /api/v2/users/{user_id}/current_attempt",
        operation_id="getUserCurrentAttempt",
        summary="The user's current attempt",
        tag="users",
        scope=Scope.READ,
        data="Attempt",
        nullable=True,
    )
    def on_get(self, ctx: Context) -> core.Attempt | None:
        try:
            return core.current_attempt(ctx.uow(), ctx.params["user_id"], actor=ctx.actor).attempt
        except NotFound as exc:
            if exc.entity == "User":
                raise
            return None  # the user is there, without a current attempt


class UserAttempts(Resource):
    path = "/api/v2/users/{user_id}/attempts"

    @operation(
        "GET /api/v2/users/{user_id}/attempts",
        operation_id="listUserAttempts",
        summary="A user's attempts, by id",
        tag="users",
        scope=Scope.READ,
        data="Attempt",
        many=True,
        paginated=True,
    )
    def on_get(self, ctx: Context) -> Slice[core.Attempt]:
        return core.list_attempts(ctx.uow(), ctx.page(), user_id=ctx.params["user_id"], actor=ctx.actor)


class UserSessions(Resource):
    path = "/api/v2/users/{user_id}/sessions"

    @operation(
        "GET /api/v2/users/{user_id}/sessions",
        operation_id="listUserSessions",
        summary="A user's sessions, newest first",
        tag="users",
        scope=Scope.READ,
        data="Session",
        many=True,
        paginated=True,
    )
    def on_get(self, ctx: Context) -> Slice[core.Session]:
        return core.list_sessions(ctx.uow(), ctx.page(), user_id=ctx.params["user_id"], actor=ctx.actor)


class UserPosts(Resource):
    path = "/api/v2/users/{user_id}/posts"

    @operation(
        "GET /api/v2/users/{user_id}/posts",
        operation_id="listUserPosts",
        summary="A user's posts, newest first",
        tag="users",
        scope=Scope.READ,
        data="Post",
        many=True,
        paginated=True,
    )
    def on_get(self, ctx: Context) -> Slice[core.Post]:
        return core.list_posts(ctx.uow(), ctx.page(), user_id=ctx.params["user_id"], actor=ctx.actor)


RESOURCES: list[type[Resource]] = [
    Users,
    User,
    UserTotalMinutes,
    UserCompletedConstellations,
    UserCurrentAttempt,
    UserAttempts,
    UserSessions,
    UserPosts,
]
