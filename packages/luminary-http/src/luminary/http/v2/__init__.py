"""API v2: the current API for new clients, at ``/api/v2``.

A module per resource (:mod:`.accounts`, :mod:`.users`, :mod:`.constellations`, :mod:`.attempts`,
:mod:`.sessions`, :mod:`.posts`); in each, a Falcon resource per path whose
responders are decorated with :func:`~.operations.operation`, the one
definition of an operation. Search ``"PATCH /api/v2/sessions/{session_id}"``
to find it. The routes and the OpenAPI document (:mod:`luminary.http.openapi`)
are both generated from these, so they cannot drift apart.

Conventions: ``{"data": …}`` envelopes; lists newest first (or by id) with
``limit`` and ``cursor`` and a ``next_cursor``; ``POST`` creates (201 and
``Location``), ``PATCH`` changes only the fields sent, ``DELETE`` answers 204;
unknown body fields are refused; errors are RFC 9457 problem details. Every
operation needs ``Authorization: Bearer <token>`` with the scope it declares,
except signing up (``POST /api/v2/accounts``) and signing in (``POST
/api/v2/tokens``): 401 without a valid token, 403 without the scope.
"""

from __future__ import annotations

import falcon

from ..auth import Services
from . import accounts, attempts, constellations, posts, sessions, users
from .operations import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    PREFIX,
    Context,
    Operation,
    Resource,
    falcon_path,
    operation,
    unstructure,
)
from .schemas import (
    ANY_TEXT,
    ATTEMPT_CREATE,
    CONSTELLATION_CREATE,
    CONSTELLATION_PATCH,
    CONTROL,
    ID_SCHEMA,
    INVISIBLE,
    NOT_BLANK,
    POST_CREATE,
    SESSION_CREATE,
    SESSION_PATCH,
    USER_CREATE,
    USER_PATCH,
    name_schema,
)

__all__ = [
    "ANY_TEXT",
    "ATTEMPT_CREATE",
    "CONSTELLATION_CREATE",
    "CONSTELLATION_PATCH",
    "CONTROL",
    "INVISIBLE",
    "DEFAULT_LIMIT",
    "ID_SCHEMA",
    "MAX_LIMIT",
    "NOT_BLANK",
    "OPERATIONS",
    "POST_CREATE",
    "PREFIX",
    "RESOURCES",
    "SESSION_CREATE",
    "SESSION_PATCH",
    "USER_CREATE",
    "USER_PATCH",
    "Context",
    "Operation",
    "Resource",
    "add_routes",
    "name_schema",
    "operation",
    "unstructure",
]

#: Every v2 resource, in the order of the documentation.
RESOURCES: list[type[Resource]] = [
    *accounts.RESOURCES,
    *users.RESOURCES,
    *constellations.RESOURCES,
    *attempts.RESOURCES,
    *sessions.RESOURCES,
    *posts.RESOURCES,
]

#: Every v2 operation, from the resources' responders.
OPERATIONS: tuple[Operation, ...] = tuple(op for resource in RESOURCES for op in resource.operations())

for _resource in RESOURCES:
    for _op in _resource.operations():
        if _op.path != _resource.path:
            raise TypeError(f"{_op.method} {_op.path} is declared on {_resource.__name__} ({_resource.path})")


def add_routes(app: falcon.App[falcon.Request, falcon.Response], services: Services) -> None:
    """Mount every v2 resource on its path."""
    for resource in RESOURCES:
        app.add_route(falcon_path(resource.path), resource(services))
