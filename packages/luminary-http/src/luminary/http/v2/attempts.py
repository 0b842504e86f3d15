"""v2 attempts: ``/api/v2/attempts``, stars and completion."""

from __future__ import annotations

from luminary import core
from luminary.core import Scope, Slice

from .operations import Context, Resource, operation


class Attempts(Resource):
    path = "/api/v2/attempts"

    @operation(
        "GET /api/v2/attempts",
        operation_id="listAttempts",
        summary="List attempts by id",
        tag="attempts",
        scope=Scope.READ,
        data="Attempt",
        many=True,
        paginated=True,
    )
    def on_get(self, ctx: Context) -> Slice[core.Attempt]:
        return core.list_attempts(ctx.uow(), ctx.page(), actor=ctx.actor)

    @operation(
        "POST /api/v2/attempts",
        operation_id="startAttempt",
        summary="Start an attempt; it becomes the user's current one",
        tag="attempts",
        scope=Scope.STUDY,
        data="Attempt",
        command=core.StartAttempt,
        status=201,
        location="/api/v2/attempts/{id}",
        example={"user_id": 1, "constellation_id": 1},
    )
    def on_post(self, ctx: Context) -> core.Attempt:
        return core.start_attempt(ctx.uow(), ctx.command, clock=ctx.clock, actor=ctx.actor)


class Attempt(Resource):
    path = "/api/v2/attempts/{attempt_id}"

    @operation(
        "GET /api/v2/attempts/{attempt_id}",
        operation_id="getAttempt",
        summary="Get an attempt",
        tag="attempts",
        scope=Scope.READ,
        data="Attempt",
    )
    def on_get(self, ctx: Context) -> core.Attempt:
        return core.get_attempt(ctx.uow(), ctx.params["attempt_id"], actor=ctx.actor)

    @operation(
        "DELETE /api/v2/attempts/{attempt_id}",
        operation_id="deleteAttempt",
        summary="Delete an attempt with its sessions",
        tag="attempts",
        scope=Scope.STUDY,
        status=204,
    )
    def on_delete(self, ctx: Context) -> None:
        core.delete_attempt(ctx.uow(), ctx.params["attempt_id"], actor=ctx.actor)


class AttemptStars(Resource):
    path = "/api/v2/attempts/{attempt_id}/stars"

    @operation(
        "POST /api/v2/attempts/{attempt_id}/stars",
        operation_id="addStar",
        summary="Add a star; 409 once the attempt is complete",
        tag="attempts",
        scope=Scope.STUDY,
        data="Attempt",
    )
    def on_post(self, ctx: Context) -> core.Attempt:
        return core.add_star(ctx.uow(), ctx.params["attempt_id"], clock=ctx.clock, actor=ctx.actor)


class AttemptComplete(Resource):
    path = "/api/v2/attempts/{attempt_id}/complete"

    @operation(
        "POST /api/v2/attempts/{attempt_id}/complete",
        operation_id="completeAttempt",
        summary="Complete an attempt (idempotent)",
        tag="attempts",
        scope=Scope.STUDY,
        data="Attempt",
    )
    def on_post(self, ctx: Context) -> core.Attempt:
        return core.complete_attempt(ctx.uow(), ctx.params["attempt_id"], clock=ctx.clock, actor=ctx.actor)


class AttemptSessions(Resource):
    path = "/api/v2/attempts/{attempt_id}/sessions"

    @operation(
        "GET /api/v2/attempts/{attempt_id}/sessions",
        operation_id="listAttemptSessions",
        summary="An attempt's sessions, newest first",
        tag="attempts",
        scope=Scope.READ,
        data="Session",
        many=True,
        paginated=True,
    )
    def on_get(self, ctx: Context) -> Slice[core.Session]:
        return core.list_sessions(ctx.uow(), ctx.page(), attempt_id=ctx.params["attempt_id"], actor=ctx.actor)


RESOURCES: list[type[Resource]] = [Attempts, Attempt, AttemptStars, AttemptComplete, AttemptSessions]
