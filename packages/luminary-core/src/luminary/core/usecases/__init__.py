"""Use cases: one function per operation of the two APIs.

Each use case takes a :class:`~luminary.core.ports.UnitOfWork`, opens it, loads
what it needs, applies the rules of :mod:`luminary.core.rules`, saves, and
commits. Writes also take a :class:`~luminary.core.clock.Clock`. Every use case
but signing up and signing in takes the :class:`~luminary.core.access.Actor` it
acts for, and asks :mod:`luminary.core.access` what that actor may do before it
reads or changes anything; the ``luminary`` command and embedding apps act as
:data:`~luminary.core.access.SYSTEM`. Input arrives
raw (as a caller sent it) and is validated here; a failure raises a
:class:`~luminary.core.errors.LuminaryError` and changes nothing.

Reads come in two forms: flat entities (``get_user``, ``list_sessions`` …) and
*details* that bundle an entity with its relations (``get_user_detail`` …),
loaded with a fixed number of queries whatever the amount of data.

One module per area (:mod:`.accounts`, :mod:`.users`, :mod:`.constellations`,
:mod:`.attempts`, :mod:`.sessions`, :mod:`.timer`, :mod:`.stats`, :mod:`.goals`,
:mod:`.posts`);
the details are the read side of API v1, in :mod:`.views`, and the same reads
as documents through the ``Views`` read model, in :mod:`.documents`. Everything is
importable from here and from ``luminary.core``.

Use cases that only read enter the unit of work with ``uow.reading()``, so
that storage may let them run side by side with writers.

Locks are taken in one order — session, attempt, user — so that concurrent
writers never deadlock, and a counter is only changed on a row read with
``for_update=True``.
"""

from __future__ import annotations

from .accounts import (
    Account,
    IssuedToken,
    authenticate,
    change_password,
    claim_account,
    create_account,
    create_token,
    get_account,
    issue_token,
    list_tokens,
    revoke_token,
    sign_up,
)
from .attempts import (
    add_star,
    complete_attempt,
    delete_attempt,
    get_attempt,
    list_attempts,
    start_attempt,
)
from .constellations import (
    CONSTELLATION_FIELDS,
    DEFAULT_CONSTELLATIONS,
    create_constellation,
    delete_constellation,
    get_constellation,
    list_constellations,
    seed_constellations,
    update_constellation,
)
from .documents import (
    attempt_document,
    constellation_attempt_documents,
    constellation_contents,
    constellation_post_documents,
    current_attempt_document,
    list_attempt_documents,
    list_constellation_contents,
    list_post_documents,
    list_session_documents,
    list_user_documents,
    post_document,
    session_document,
    user_document,
)
from .goals import MAX_GOALS, GoalProgress, create_goal, delete_goal, get_goal, goal_progress, list_goals
from .posts import (
    create_post,
    delete_post,
    feed,
    get_post,
    list_posts,
)
from .sessions import (
    SESSION_FIELDS,
    cancel_session,
    complete_session,
    create_session,
    delete_session,
    get_session,
    list_sessions,
    update_session,
)
from .stats import Bucket, Statistics, Streaks, statistics, streaks, today_of
from .timer import (
    Timer,
    get_timer,
    pause_timer,
    resume_timer,
    start_timer,
    stop_timer,
)
from .users import (
    USER_FIELDS,
    MinutesSummary,
    SyncReport,
    create_user,
    delete_user,
    get_user,
    list_users,
    sync_minutes,
    total_minutes,
    update_user,
)
from .views import (
    AttemptDetail,
    CompletedConstellations,
    Completions,
    ConstellationDetail,
    PostDetail,
    SessionDetail,
    UserDetail,
    completed_constellations,
    completions,
    current_attempt,
    feed_details,
    get_attempt_detail,
    get_constellation_detail,
    get_post_detail,
    get_session_detail,
    get_user_detail,
    list_attempt_details,
    list_constellation_details,
    list_post_details,
    list_session_details,
    list_user_details,
)

__all__ = [
    "Account",
    "AttemptDetail",
    "Bucket",
    "CONSTELLATION_FIELDS",
    "CompletedConstellations",
    "Completions",
    "ConstellationDetail",
    "DEFAULT_CONSTELLATIONS",
    "GoalProgress",
    "IssuedToken",
    "MAX_GOALS",
    "MinutesSummary",
    "PostDetail",
    "SESSION_FIELDS",
    "SessionDetail",
    "Statistics",
    "Streaks",
    "SyncReport",
    "Timer",
    "USER_FIELDS",
    "UserDetail",
    "add_star",
    "attempt_document",
    "authenticate",
    "cancel_session",
    "change_password",
    "claim_account",
    "complete_attempt",
    "complete_session",
    "completed_constellations",
    "completions",
    "constellation_attempt_documents",
    "constellation_contents",
    "constellation_post_documents",
    "create_account",
    "create_constellation",
    "create_goal",
    "create_post",
    "create_session",
    "create_token",
    "create_user",
    "current_attempt",
    "current_attempt_document",
    "delete_attempt",
    "delete_constellation",
    "delete_goal",
    "delete_post",
    "delete_session",
    "delete_user",
    "feed",
    "feed_details",
    "get_account",
    "get_attempt",
    "get_attempt_detail",
    "get_constellation",
    "get_constellation_detail",
    "get_goal",
    "get_post",
    "get_post_detail",
    "get_session",
    "get_session_detail",
    "get_timer",
    "get_user",
    "get_user_detail",
    "goal_progress",
    "issue_token",
    "list_attempt_details",
    "list_attempt_documents",
    "list_attempts",
    "list_constellation_contents",
    "list_constellation_details",
    "list_constellations",
    "list_goals",
    "list_post_details",
    "list_post_documents",
    "list_posts",
    "list_session_details",
    "list_session_documents",
    "list_sessions",
    "list_tokens",
    "list_user_details",
    "list_user_documents",
    "list_users",
    "pause_timer",
    "post_document",
    "resume_timer",
    "revoke_token",
    "seed_constellations",
    "session_document",
    "sign_up",
    "start_attempt",
    "start_timer",
    "statistics",
    "stop_timer",
    "streaks",
    "sync_minutes",
    "today_of",
    "total_minutes",
    "update_constellation",
    "update_session",
    "update_user",
    "user_document",
]
