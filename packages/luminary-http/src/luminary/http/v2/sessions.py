"""v2 sessions: ``/api/v2/sessions``, the Learning Sessions API and the study timer's sessions."""

from __future__ import annotations

from collections.abc import Callable

from luminary import core
from luminary.core import Scope, Slice

from .operations import Context, Resource, operation


class Sessions(Resource):
    path = "/api/v2/sessions"

    @operation(
        "GET /api/v2/sessions",
        operation_id="listSessions",
        summary="List sessions, newest first",
        tag="sessions",
        scope=Scope.READ,
        data="Session",
        many=True,
        paginated=True,
    )
    def on_get(self, ctx: Context) -> Slice[core.Session]:
        return core.list_sessions(ctx.uow(), ctx.page(), actor=ctx.actor)

    @operation(
        "POST /api/v2/sessions",
        operation_id="createSession",
        summary="Create a learning or study session",
        tag="sessions",
        scope=Scope.STUDY,
        data="Session",
        command=core.CreateSession,
        status=201,
        location="/api/v2/sessions/{id}",
        example={"title": "Learn Flask", "status": "planned"},
    )
    def on_post(self, ctx: Context) -> core.Session:
        return core.create_session(ctx.uow(), ctx.command, clock=ctx.clock, actor=ctx.actor)


class Session(Resource):
    path = "/api/v2/sessions/{session_id}"

    @operation(
        "GET /api/v2/sessions/{session_id}",
        operation_id="getSession",
        summary="Get a session",
        tag="sessions",
        scope=Scope.READ,
        data="Session",
    )
    def on_get(self, ctx: Context) -> core.Session:
        return core.get_session(ctx.uow(), ctx.params["session_id"], actor=ctx.actor)

    @operation(
        "PATCH /api/v2/sessions/{session_id}",
        operation_id="updateSession",
        summary="Change some fields of a session",
        tag="sessions",
        scope=Scope.STUDY,
        data="Session",
        command=core.SessionPatch,
        example={"status": "in_progress", "difficulty": "medium"},
    )
    def on_patch(self, ctx: Context) -> core.Session:
        return core.update_session(
            ctx.uow(), ctx.params["session_id"], ctx.command, clock=ctx.clock, actor=ctx.actor
        )

    @operation(
        "DELETE /api/v2/sessions/{session_id}",
        operation_id="deleteSession",
        summary="Delete a session",
        tag="sessions",
        scope=Scope.STUDY,
        status=204,
    )
    def on_delete(self, ctx: Context) -> None:
        core.delete_session(ctx.uow(), ctx.params["session_id"], actor=ctx.actor)


class SessionComplete(Resource):
    path = "/api/v2/sessions/{session_id}/complete"

    @operation(
        "POST /api/v2/sessions/{session_id}/complete",
        operation_id="completeSession",
        summary="Complete a session; its minutes count",
        tag="sessions",
        scope=Scope.STUDY,
        data="Session",
    )
    def on_post(self, ctx: Context) -> core.Session:
        return core.complete_session(ctx.uow(), ctx.params["session_id"], clock=ctx.clock, actor=ctx.actor)


class SessionCancel(Resource):
    path = "/api/v2/sessions/{session_id}/cancel"

    @operation(
        "POST /api/v2/sessions/{session_id}/cancel",
        operation_id="cancelSession",
        summary="Cancel a session; its minutes are taken back",
        tag="sessions",
        scope=Scope.STUDY,
        data="Session",
    )
    def on_post(self, ctx: Context) -> core.Session:
        return core.cancel_session(ctx.uow(), ctx.params["session_id"], clock=ctx.clock, actor=ctx.actor)


TimerAction = Callable[..., core.Session]


def _timer_resource(route: str, operation_id: str, summary: str, action: TimerAction) -> type[Resource]:
    """The resource of one action on a session's timer (they differ only in the rule they apply)."""
    _, _, path = route.partition(" ")

    class TimerResource(Resource):
        @operation(
            route, operation_id=operation_id, summary=summary, tag="timer", scope=Scope.STUDY, data="Session"
        )
        def on_post(self, ctx: Context) -> core.Session:
            cap = ctx.services.timer_cap
            return action(ctx.uow(), ctx.params["session_id"], actor=ctx.actor, clock=ctx.clock, cap=cap)

    TimerResource.path = path
    TimerResource.__name__ = TimerResource.__qualname__ = operation_id[0].upper() + operation_id[1:]
    return TimerResource


SessionStart = _timer_resource(
    "POST /api/v2/sessions/{session_id}/start",
    "startTimer",
    "Start the session's timer (409 naming the other one if a timer of yours runs or is paused)",
    core.start_timer,
)
SessionPause = _timer_resource(
    "POST /api/v2/sessions/{session_id}/pause",
    "pauseTimer",
    "Pause the session's running timer",
    core.pause_timer,
)
SessionResume = _timer_resource(
    "POST /api/v2/sessions/{session_id}/resume",
    "resumeTimer",
    "Resume the session's paused timer",
    core.resume_timer,
)
SessionStop = _timer_resource(
    "POST /api/v2/sessions/{session_id}/stop",
    "stopTimer",
    "Stop the session's timer: it is completed and credited its running time",
    core.stop_timer,
)


RESOURCES: list[type[Resource]] = [
    Sessions,
    Session,
    SessionComplete,
    SessionCancel,
    SessionStart,
    SessionPause,
    SessionResume,
    SessionStop,
]
