"""Luminary's domain: study constellations, attempts, sessions, minutes and posts.

``luminary.core`` is pure Python (attrs only). It holds the entities, the rules,
the repository and unit-of-work protocols, the use cases, and in-memory
repositories that apps and tests can run on. Storage and HTTP live in the
``luminary-sql`` and ``luminary-http`` packages, which build on this one.

The names most programs need are importable from here; see the package README
for a tour.
"""

from .__about__ import __version__
from .clock import Clock, ManualClock, SystemClock
from .commands import (
    ABSENT,
    ConstellationPatch,
    CreateConstellation,
    CreatePost,
    CreateSession,
    CreateUser,
    SessionPatch,
    StartAttempt,
    UserPatch,
)
from .entities import Attempt, Constellation, Post, PostType, Session, SessionStatus, User
from .errors import Conflict, FieldError, LuminaryError, NotFound, ValidationFailed
from .memory import InMemoryStore, InMemoryUnitOfWork
from .pagination import MAX_LIMIT, Cursor, PageRequest, Slice
from .ports import (
    AttemptRepository,
    ConstellationRepository,
    PostRepository,
    SessionRepository,
    UnitOfWork,
    UserRepository,
)
from .transactions import one_transaction
from .usecases import *  # noqa: F403 - the use cases are the package's API
from .usecases import __all__ as _usecases

__all__ = [
    "ABSENT",
    "MAX_LIMIT",
    "Attempt",
    "AttemptRepository",
    "Clock",
    "Conflict",
    "Constellation",
    "ConstellationPatch",
    "ConstellationRepository",
    "CreateConstellation",
    "CreatePost",
    "CreateSession",
    "CreateUser",
    "Cursor",
    "FieldError",
    "InMemoryStore",
    "InMemoryUnitOfWork",
    "LuminaryError",
    "ManualClock",
    "NotFound",
    "PageRequest",
    "Post",
    "PostRepository",
    "PostType",
    "Session",
    "SessionPatch",
    "SessionRepository",
    "SessionStatus",
    "Slice",
    "StartAttempt",
    "SystemClock",
    "UnitOfWork",
    "User",
    "UserPatch",
    "UserRepository",
    "ValidationFailed",
    "__version__",
    "one_transaction",
    *_usecases,
]
