"""What every v2 operation shares: its description, the request it reads, the answer it writes.

A resource's responder is a plain method decorated with :func:`operation`::

    class Users(Resource):
        @operation("GET /api/v2/users/{user_id}", operation_id="getUser", summary="Get a user", data=USER)
        def on_get(self, ctx: Context) -> core.User:
            return core.get_user(ctx.uow(), ctx.params["user_id"], actor=ctx.actor)

The decorator records the :class:`Operation` (from which the route and the
OpenAPI entry are both made) and wraps the method into a Falcon responder:
it reads the body into the operation's command (:mod:`luminary.http.commands`,
v2's strict policy), runs the method, and writes ``{"data": …}`` with the
status, ``next_cursor`` and ``Location`` the operation declares.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, ClassVar

import attrs
import falcon
from cattrs.preconf.json import make_converter

from luminary import core
from luminary.core import Actor, Clock, Scope, Slice, UnitOfWork

from ..auth import Services
from ..commands import V2_BODIES
from ..requests import body_of, page_of, refuse_unknown_parameters
from .schemas import request_schema

PREFIX = "/api/v2"
DEFAULT_LIMIT = 50
MAX_LIMIT = 100

# The private converter: entities to JSON-ready dicts, timestamps as ISO-8601 with +00:00.
_converter = make_converter()
_converter.register_unstructure_hook(datetime, lambda d: d.isoformat())
_converter.register_unstructure_hook(date, lambda d: d.isoformat())
_converter.register_unstructure_hook(enum.Enum, lambda e: e.value)


def unstructure(value: Any) -> Any:
    """An entity (or a list of them) as the JSON-ready value v2 writes."""
    return _converter.unstructure(value)


@attrs.frozen
class Context:
    """What every operation gets: the request's parsed parts, who acts, and the injected collaborators."""

    services: Services
    req: falcon.Request
    params: Mapping[str, int]
    actor: Actor
    command: Any = None

    @property
    def uow(self) -> Callable[[], UnitOfWork]:
        return self.services.uow_factory

    @property
    def clock(self) -> Clock:
        return self.services.clock

    @property
    def passwords(self) -> core.PasswordHasher:
        return self.services.passwords

    def page(self) -> core.PageRequest:
        return page_of(self.req, default_limit=DEFAULT_LIMIT, max_limit=MAX_LIMIT)


@attrs.frozen(kw_only=True)
class Operation:
    """One v2 operation: the single definition its route and its OpenAPI entry come from.

    Attributes:
        method: HTTP method.
        path: The full path; ``{name}`` segments are integer ids.
        operation_id: Unique name, used as the OpenAPI ``operationId``.
        summary: One line for the documentation.
        tag: The group it belongs to in the documentation.
        scope: The token scope it needs, or ``None`` for the few operations
            anyone may call (signing up, signing in).
        data: Component schema of the answer's ``data`` (``None`` for 204).
        command: The core command class the body is read into, if it takes one;
            the body's JSON Schema (:attr:`body`) is derived from it.
        status: Status of a successful answer.
        many: The answer is a list: ``data`` is an array, with ``next_cursor``.
        nullable: ``data`` is ``null`` where there is nothing to show (a user's
            current attempt, when they have none); 404 stays for a missing parent.
        paginated: The list takes ``limit`` and ``cursor``.
        location: For 201 answers, the path of the created object, ``{id}`` filled in.
        example: A request body that the operation accepts, for the documentation.
        query: Its query parameters beyond paging, as OpenAPI parameter objects.
    """

    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    scope: Scope | None
    data: str | None = None
    command: type | None = None
    status: int = 200
    many: bool = False
    nullable: bool = False
    paginated: bool = False
    location: str | None = None
    example: dict[str, Any] | None = None
    query: tuple[dict[str, Any], ...] = ()

    @property
    def body(self) -> dict[str, Any] | None:
        """The JSON Schema of the request body, if the operation takes one."""
        return None if self.command is None else request_schema(self.command)

    @property
    def parameters(self) -> frozenset[str]:
        """The names of the query parameters it takes; any other is refused."""
        paging = ("limit", "cursor") if self.paginated else ()
        return frozenset((*paging, *(parameter["name"] for parameter in self.query)))


class Resource:
    """Base of every v2 resource: one path, its operations as ``on_<method>`` responders."""

    #: The resource's path, the same for each of its operations.
    path: ClassVar[str]

    def __init__(self, services: Services) -> None:
        self.services = services

    @classmethod
    def operations(cls) -> list[Operation]:
        """The operations of this resource, in the order its responders are defined."""
        found = [getattr(member, "operation", None) for member in vars(cls).values()]
        return [op for op in found if isinstance(op, Operation)]


Handler = Callable[[Any, Context], Any]
Responder = Callable[..., None]


def operation(
    route: str,
    *,
    operation_id: str,
    summary: str,
    tag: str,
    scope: Scope | None,
    data: str | None = None,
    command: type | None = None,
    status: int = 200,
    many: bool = False,
    nullable: bool = False,
    paginated: bool = False,
    location: str | None = None,
    example: dict[str, Any] | None = None,
    query: tuple[dict[str, Any], ...] = (),
) -> Callable[[Handler], Responder]:
    """Make ``handler(self, ctx)`` the Falcon responder of the operation ``route`` ("METHOD /path")."""
    method, _, path = route.partition(" ")
    op = Operation(
        method=method,
        path=path,
        operation_id=operation_id,
        summary=summary,
        tag=tag,
        scope=scope,
        data=data,
        command=command,
        status=status,
        many=many,
        nullable=nullable,
        paginated=paginated,
        location=location,
        example=example,
        query=query,
    )

    parameters = op.parameters

    def decorate(handler: Handler) -> Responder:
        if handler.__name__ != f"on_{method.lower()}":
            raise TypeError(f"{route} must be the responder on_{method.lower()}, not {handler.__name__}")

        def responder(self: Resource, req: falcon.Request, resp: falcon.Response, **params: int) -> None:
            services = self.services
            actor = core.ANONYMOUS if op.scope is None else services.auth.actor(req)
            if req.query_string:
                refuse_unknown_parameters(req, parameters)
            command: Any = None
            if op.command is not None:
                command = V2_BODIES.read(body_of(req, required=True), op.command)
            result = handler(self, Context(services, req, params, actor, command))
            _answer(op, resp, result)

        responder.__name__ = handler.__name__
        responder.__doc__ = f"``{route}``: {summary}."
        responder.__dict__["operation"] = op
        return responder

    return decorate


def _answer(op: Operation, resp: falcon.Response, result: Any) -> None:
    resp.status = op.status
    if op.status == 204:
        return
    if isinstance(result, Slice):
        resp.media = {"data": unstructure(list(result.items)), "next_cursor": result.next_cursor}
    elif op.many:
        resp.media = {"data": unstructure(list(result)), "next_cursor": None}
    else:
        resp.media = {"data": unstructure(result)}
    if op.location:
        resp.location = op.location.format(id=result.id)


def falcon_path(path: str) -> str:
    """``/api/v2/users/{user_id}`` as a Falcon route with id converters."""
    return path.replace("_id}", "_id:id}")
