"""Luminary's domain: study constellations, attempts, sessions, minutes and posts.

``luminary.core`` is pure Python (attrs only). It holds the entities, the rules,
the repository and unit-of-work protocols, the use cases, and in-memory
repositories that apps and tests can run on. Storage and HTTP live in the
``luminary-sql`` and ``luminary-http`` packages, which build on this one.

The names most programs need are importable from here; see the package README
for a tour.
"""

from .__about__ import __version__
from .access import ALL_SCOPES, ANONYMOUS, SYSTEM, Actor, Scope
from .accounts import Credentials, PasswordHasher, Token
from .clock import Clock, ManualClock, SystemClock
from .commands import (
    ABSENT,
    ChangePassword,
    ClaimAccount,
    ConstellationPatch,
    CreateConstellation,
    CreateGoal,
    CreatePost,
    CreateSession,
    CreateToken,
    CreateUser,
    SessionPatch,
    SignUp,
    StartAttempt,
    UserPatch,
)
from .entities import (
    Attempt,
    Constellation,
    DayTotal,
    Goal,
    GoalKind,
    Post,
    PostType,
    Session,
    SessionStatus,
    User,
)
from .errors import (
    Conflict,
    FieldError,
    Forbidden,
    LuminaryError,
    NotFound,
    TooManyAttempts,
    Unauthenticated,
    Unavailable,
    ValidationFailed,
)
from .memory import InMemoryStore, InMemoryUnitOfWork
from .pagination import MAX_LIMIT, Cursor, PageRequest, Slice
from .ports import (
    AttemptRepository,
    ConstellationRepository,
    CredentialRepository,
    GoalRepository,
    LoginFailureRepository,
    PostRepository,
    SessionRepository,
    TokenRepository,
    UnitOfWork,
    UserRepository,
    Views,
)
from .study import DEFAULT_TIMER_CAP, Period
from .transactions import one_transaction
from .usecases import *  # noqa: F403 - the use cases are the package's API
from .usecases import __all__ as _usecases

__all__ = [
    "ABSENT",
    "ALL_SCOPES",
    "ANONYMOUS",
    "DEFAULT_TIMER_CAP",
    "MAX_LIMIT",
    "SYSTEM",
    "Actor",
    "Attempt",
    "AttemptRepository",
    "ChangePassword",
    "ClaimAccount",
    "Clock",
    "Conflict",
    "Constellation",
    "ConstellationPatch",
    "ConstellationRepository",
    "CreateConstellation",
    "CreatePost",
    "CreateSession",
    "CreateToken",
    "CreateUser",
    "CredentialRepository",
    "Credentials",
    "Cursor",
    "DayTotal",
    "FieldError",
    "GoalRepository",
    "CreateGoal",
    "GoalKind",
    "Goal",
    "Forbidden",
    "InMemoryStore",
    "InMemoryUnitOfWork",
    "LoginFailureRepository",
    "LuminaryError",
    "ManualClock",
    "NotFound",
    "PageRequest",
    "PasswordHasher",
    "Period",
    "Post",
    "PostRepository",
    "PostType",
    "Scope",
    "Session",
    "SessionPatch",
    "SessionRepository",
    "SessionStatus",
    "SignUp",
    "Slice",
    "StartAttempt",
    "SystemClock",
    "Token",
    "TokenRepository",
    "TooManyAttempts",
    "Unavailable",
    "Unauthenticated",
    "UnitOfWork",
    "User",
    "UserPatch",
    "UserRepository",
    "ValidationFailed",
    "Views",
    "__version__",
    "one_transaction",
    *_usecases,
]
