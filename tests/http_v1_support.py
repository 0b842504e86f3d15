"""Helpers of the HTTP API v1 tests: a client over a populated store, and the v1 shapes.

The key sets below are copied from the v1 tables of the API document, so that a
test failing on one of them points at a difference from the published contract.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import attrs
import falcon.testing

from luminary import core
from luminary.core import ManualClock, UnitOfWork
from luminary.core.testing.support import snapshot
from luminary.http.app import create_app

Json = dict[str, Any]

# ---------------------------------------------------------------- shapes (API.md, v1)

USER_SIMPLE = {"id", "display_name"}
CONSTELLATION_SIMPLE = {"id", "name", "weight"}
ATTEMPT_SIMPLE = {"id", "user_id", "constellation_id", "stars_completed"}
SESSION_SIMPLE = {"id", "user_id", "constellation_attempt_id", "is_completed", "minutes"}
POST_SIMPLE = {"id", "post_type", "message", "study_duration", "created_at"}

USER = {
    "id",
    "display_name",
    "total_minutes",
    "current_attempt_id",
    "current_attempt",
    "constellation_attempts",
    "sessions",
    "posts",
}
CONSTELLATION = {"id", "name", "weight", "user_attempts", "posts"}
ATTEMPT = {"id", "user_id", "constellation_id", "stars_completed", "user", "constellation", "sessions"}
SESSION = {
    "id",
    "user_id",
    "constellation_attempt_id",
    "is_completed",
    "minutes",
    "user",
    "constellation_attempt",
    "title",
    "description",
    "status",
    "difficulty",
    "started_at",
    "completed_at",
    "created_at",
    "updated_at",
}
#: The Learning Sessions document's nine session fields.
DOCUMENT_SESSION = {
    "id",
    "title",
    "description",
    "status",
    "difficulty",
    "started_at",
    "completed_at",
    "created_at",
    "updated_at",
}
#: The session at ``/api/sessions``: API v2's object, the document's fields and three more.
LEARNING_SESSION = DOCUMENT_SESSION | {"user_id", "constellation_attempt_id", "minutes"}
POST = {
    "id",
    "user_id",
    "constellation_id",
    "post_type",
    "message",
    "study_duration",
    "created_at",
    "user",
    "constellation",
}
TOTAL_MINUTES = {"user_id", "display_name", "total_minutes"}
COMPLETED_CONSTELLATIONS = {"user_id", "display_name", "completed_constellations", "num_completed"}
ATTEMPT_COMPLETED = {"attempt", "user_updated", "message"}
SYNC_MINUTES = {"message", "users_updated"}

#: ISO-8601 in UTC, as the contract writes it: ``2025-12-01T10:30:00+00:00``.
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00")
POST_TYPES = {"completion", "progress"}
STATUSES = {"planned", "in_progress", "completed", "cancelled"}


def is_id(value: object) -> bool:
    return type(value) is int and value >= 1


def is_count(value: object) -> bool:
    return type(value) is int and value >= 0


def check_timestamp(value: object, *, nullable: bool = False) -> None:
    if value is None and nullable:
        return
    assert isinstance(value, str), value
    assert TIMESTAMP.fullmatch(value), value


def check_user_simple(j: Json) -> None:
    assert set(j) == USER_SIMPLE
    assert is_id(j["id"])
    assert isinstance(j["display_name"], str)


def check_constellation_simple(j: Json) -> None:
    assert set(j) == CONSTELLATION_SIMPLE
    assert is_id(j["id"])
    assert isinstance(j["name"], str)
    assert type(j["weight"]) is int
    assert j["weight"] >= 1


def check_attempt_simple(j: Json) -> None:
    assert set(j) == ATTEMPT_SIMPLE
    assert is_id(j["id"])
    assert is_id(j["user_id"])
    assert is_id(j["constellation_id"])
    assert is_count(j["stars_completed"])


def check_session_simple(j: Json) -> None:
    assert set(j) == SESSION_SIMPLE
    assert is_id(j["id"])
    assert j["user_id"] is None or is_id(j["user_id"])
    assert j["constellation_attempt_id"] is None or is_id(j["constellation_attempt_id"])
    assert type(j["is_completed"]) is bool
    assert is_count(j["minutes"])


def check_post_simple(j: Json) -> None:
    assert set(j) == POST_SIMPLE
    assert is_id(j["id"])
    assert j["post_type"] in POST_TYPES
    assert j["message"] is None or isinstance(j["message"], str)
    assert j["study_duration"] is None or is_count(j["study_duration"])
    check_timestamp(j["created_at"])


def check_user(j: Json) -> None:
    assert set(j) == USER
    check_user_simple({k: j[k] for k in USER_SIMPLE})
    assert is_count(j["total_minutes"])
    if j["current_attempt_id"] is None:
        assert j["current_attempt"] is None
    else:
        check_attempt_simple(j["current_attempt"])
        assert j["current_attempt"]["id"] == j["current_attempt_id"]
        assert j["current_attempt"]["user_id"] == j["id"]
    for attempt in j["constellation_attempts"]:
        check_attempt_simple(attempt)
        assert attempt["user_id"] == j["id"]
    for session in j["sessions"]:
        check_session_simple(session)
        assert session["user_id"] == j["id"]
    for post in j["posts"]:
        check_post_simple(post)


def check_constellation(j: Json) -> None:
    assert set(j) == CONSTELLATION
    check_constellation_simple({k: j[k] for k in CONSTELLATION_SIMPLE})
    for attempt in j["user_attempts"]:
        check_attempt_simple(attempt)
        assert attempt["constellation_id"] == j["id"]
    for post in j["posts"]:
        check_post_simple(post)


def check_attempt(j: Json) -> None:
    assert set(j) == ATTEMPT
    check_attempt_simple({k: j[k] for k in ATTEMPT_SIMPLE})
    check_user_simple(j["user"])
    assert j["user"]["id"] == j["user_id"]
    check_constellation_simple(j["constellation"])
    assert j["constellation"]["id"] == j["constellation_id"]
    assert 0 <= j["stars_completed"] <= j["constellation"]["weight"]
    for session in j["sessions"]:
        check_session_simple(session)
        assert session["constellation_attempt_id"] == j["id"]


def check_session(j: Json) -> None:
    assert set(j) == SESSION
    check_session_simple({k: j[k] for k in SESSION_SIMPLE})
    if j["user_id"] is None:
        assert j["user"] is None
    else:
        check_user_simple(j["user"])
        assert j["user"]["id"] == j["user_id"]
    if j["constellation_attempt_id"] is None:
        assert j["constellation_attempt"] is None
    else:
        check_attempt_simple(j["constellation_attempt"])
        assert j["constellation_attempt"]["id"] == j["constellation_attempt_id"]
    assert isinstance(j["title"], str)
    assert j["title"]
    assert j["description"] is None or isinstance(j["description"], str)
    assert j["difficulty"] is None or isinstance(j["difficulty"], str)
    assert j["status"] in STATUSES
    assert j["is_completed"] == (j["status"] == "completed")
    check_timestamp(j["started_at"], nullable=True)
    check_timestamp(j["completed_at"], nullable=not j["is_completed"])
    check_timestamp(j["created_at"])
    check_timestamp(j["updated_at"])
    assert datetime.fromisoformat(j["updated_at"]) >= datetime.fromisoformat(j["created_at"])


def check_learning_session(j: Json) -> None:
    assert set(j) == LEARNING_SESSION
    assert is_id(j["id"])
    assert isinstance(j["title"], str)
    assert j["title"]
    assert j["status"] in STATUSES
    for key in ("description", "difficulty"):
        assert j[key] is None or isinstance(j[key], str)
    for key in ("user_id", "constellation_attempt_id"):
        assert j[key] is None or is_id(j[key])
    assert j["minutes"] is None or is_count(j["minutes"])
    check_timestamp(j["started_at"], nullable=True)
    check_timestamp(j["completed_at"], nullable=j["status"] != "completed")
    check_timestamp(j["created_at"])
    check_timestamp(j["updated_at"])


def check_post(j: Json) -> None:
    assert set(j) == POST
    check_post_simple({k: j[k] for k in POST_SIMPLE})
    check_user_simple(j["user"])
    assert j["user"]["id"] == j["user_id"]
    check_constellation_simple(j["constellation"])
    assert j["constellation"]["id"] == j["constellation_id"]


def listed(j: Json, key: str, check: Callable[[Json], None]) -> list[int]:
    """Check a v1 list answer (``{key: [...]}``, nothing else) and return its ids in order."""
    assert set(j) == {key}
    assert isinstance(j[key], list)
    for item in j[key]:
        check(item)
    return [item["id"] for item in j[key]]


# ---------------------------------------------------------------- requests


def error_of(result: falcon.testing.Result, status: int) -> str:
    """Check that ``result`` is a v1 error with ``status`` and return its message."""
    assert result.status_code == status, (result.status, result.text)
    assert result.headers["content-type"].startswith("application/json")
    body = result.json
    assert isinstance(body, dict)
    assert set(body) == {"error"}, body
    assert isinstance(body["error"], str)
    assert body["error"]
    message: str = body["error"]
    return message


#: Cheap scrypt parameters for tests that sign up and sign in many times (the defaults take ~0.1 s).
FAST_PASSWORDS = core.PasswordHasher(n=2**10, r=8, p=1)


def make_client(
    uow_factory: Callable[[], UnitOfWork],
    clock: ManualClock,
    *,
    token: str | None = None,
    v1_mode: str = "open",
    **options: Any,
) -> falcon.testing.TestClient:
    """A client of the app; with ``token``, every request sends it unless told otherwise."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    app = create_app(uow_factory, clock=clock, v1_mode=v1_mode, passwords=FAST_PASSWORDS, **options)
    return falcon.testing.TestClient(app, headers=headers)


def give_login(
    uow_factory: Callable[[], UnitOfWork], user_id: int, login: str, *, admin: bool = False
) -> None:
    """Give a user credentials (password ``"password " + login``) without the v1 sign-up's side effects."""
    with uow_factory() as uow:
        uow.credentials.add(
            core.Credentials(
                user_id=user_id,
                login=login,
                password_hash=FAST_PASSWORDS.hash("password " + login),
                updated_at=datetime(2025, 12, 1, tzinfo=UTC),
                is_admin=admin,
            )
        )
        uow.commit()


def token_for(
    uow_factory: Callable[[], UnitOfWork], clock: ManualClock, login: str, scopes: Any = None
) -> str:
    """A new token of the account ``login``, with ``scopes`` (every one the account may hold by default)."""
    if scopes is None:
        with uow_factory() as uow:
            found = uow.credentials.get_by_login(login)
            assert found is not None
            admin = found.is_admin
        scopes = [s.value for s in core.Scope if admin or s is not core.Scope.ADMIN]
    issued = core.issue_token(
        uow_factory(), login, name="tests", scopes=scopes, actor=core.SYSTEM, clock=clock
    )
    return issued.secret


@attrs.define
class V1World:
    """The default constellations and a little of everything, made through the use cases.

    * Ada attempts Triangulum (``a1``, two sessions) and then Delphinus (``a2``, her
      current attempt, one session); Grace has completed Triangulum (``a3``).
    * ``s4`` is a learning session with a title and nothing else.
    * Posts, oldest first: ``p1`` Ada on Triangulum, ``p2`` Grace on Triangulum,
      ``p3`` Ada on Delphinus. Big Dipper is not used by anything.
    """

    uow_factory: Callable[[], UnitOfWork]
    clock: ManualClock
    client: falcon.testing.TestClient
    ids: dict[str, int]
    #: Ada's token: she is an administrator, so the v2 (and v1 ``token`` mode) tests may reach everything.
    token: str = ""
    v1_mode: str = "open"

    @property
    def headers(self) -> dict[str, str]:
        """What the client sends with every request: the token."""
        return {"Authorization": f"Bearer {self.token}"}

    def use_another_administrator(self) -> None:
        """Send requests with the token of a new administrator, Root (before Ada, the holder, goes)."""
        root = core.SignUp(display_name="Root", login="root", password="password root")
        core.create_account(
            self.uow_factory(),
            root,
            actor=core.SYSTEM,
            clock=self.clock,
            admin=True,
            passwords=FAST_PASSWORDS,
        )
        self.token = token_for(self.uow_factory, self.clock, "root")
        self.client = make_client(self.uow_factory, self.clock, token=self.token, v1_mode=self.v1_mode)

    def __getattr__(self, name: str) -> int:
        # Only called for names that are not attributes: the ids, by name (``world.ada``).
        try:
            return object.__getattribute__(self, "ids")[name]
        except (KeyError, AttributeError):
            raise AttributeError(name) from None

    @classmethod
    def build(
        cls, uow_factory: Callable[[], UnitOfWork], clock: ManualClock, *, v1_mode: str = "open"
    ) -> V1World:
        uow = uow_factory
        triangulum, delphinus, big_dipper = (
            c.id for c in core.seed_constellations(uow(), clock=clock, actor=core.SYSTEM)
        )
        ada = core.create_user(uow(), core.CreateUser("Ada"), clock=clock, actor=core.SYSTEM).id
        grace = core.create_user(uow(), core.CreateUser("Grace"), clock=clock, actor=core.SYSTEM).id
        a1 = core.start_attempt(uow(), core.StartAttempt(ada, triangulum), clock=clock, actor=core.SYSTEM).id
        a2 = core.start_attempt(uow(), core.StartAttempt(ada, delphinus), clock=clock, actor=core.SYSTEM).id
        a3 = core.start_attempt(
            uow(), core.StartAttempt(grace, triangulum), clock=clock, actor=core.SYSTEM
        ).id
        core.complete_attempt(uow(), a3, clock=clock, actor=core.SYSTEM)

        def session(**fields: Any) -> int:
            return core.create_session(uow(), core.CreateSession(**fields), clock=clock, actor=core.SYSTEM).id

        s1 = session(constellation_attempt_id=a1, minutes=10)
        s2 = session(constellation_attempt_id=a1, minutes=20)
        s3 = session(constellation_attempt_id=a2, minutes=5)
        s4 = session(title="Learn Falcon")

        def post(user_id: int, constellation_id: int, **fields: Any) -> int:
            return core.create_post(
                uow(),
                core.CreatePost(user_id=user_id, constellation_id=constellation_id, **fields),
                clock=clock,
                actor=core.SYSTEM,
            ).id

        p1 = post(ada, triangulum, post_type="progress", message="Two stars!", study_duration=10)
        p2 = post(grace, triangulum, post_type="completion")
        p3 = post(ada, delphinus, post_type="progress", message="Started Delphinus")
        ids = {
            "triangulum": triangulum,
            "delphinus": delphinus,
            "big_dipper": big_dipper,
            "ada": ada,
            "grace": grace,
            "a1": a1,
            "a2": a2,
            "a3": a3,
            "s1": s1,
            "s2": s2,
            "s3": s3,
            "s4": s4,
            "p1": p1,
            "p2": p2,
            "p3": p3,
        }
        give_login(uow_factory, ada, "ada", admin=True)
        token = token_for(uow_factory, clock, "ada")
        with uow_factory() as uow:
            (ids["t1"],) = [t.id for t in uow.tokens.list_by_user(ada)]
        client = make_client(uow_factory, clock, token=token, v1_mode=v1_mode)
        return cls(uow_factory, clock, client, ids, token, v1_mode)

    def resolve(self, body: Any) -> Any:
        """``body`` with each string value ``"{name}"`` replaced by the id called ``name``."""
        if not isinstance(body, dict):
            return body
        return {
            k: self.ids[v[1:-1]] if isinstance(v, str) and v.startswith("{") and v[1:-1] in self.ids else v
            for k, v in body.items()
        }

    def snapshot(self) -> dict[str, list[Any]]:
        return snapshot(self.uow_factory())

    @contextmanager
    def unchanged(self) -> Iterator[None]:
        """Assert that the store holds exactly the same entities after the block."""
        before = self.snapshot()
        yield
        assert self.snapshot() == before
