"""Who may do what through API v2: a matrix generated from the operation table.

For every v2 operation (``v2.OPERATIONS``, not a list written here), on every
backend, the same five requests:

1. no token → 401;
2. an expired token → 401;
3. a revoked token → 401;
4. a token with every scope but the one the operation declares → 403;
5. student B's token (every scope but ``admin``) on student A's objects → the
   refusal the documented rule gives (:func:`refusal`), or, where the rule lets
   B through (public reads, B's own account), an answer holding nothing of A's.

After each, the store is exactly as before: users, catalogue, attempts,
sessions, posts, credentials and tokens (but for the minute a token was last
used at). The two operations anyone may call (signing up, signing in) are
checked for what they are: they need no token.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import attrs
import falcon.testing
import pytest

from http_v1_support import FAST_PASSWORDS, give_login, make_client
from luminary import core
from luminary.core import Actor, Scope
from luminary.core.testing.support import snapshot
from luminary.http import v2

PRIVATE_PARAMETERS = {"user_id", "attempt_id", "session_id", "token_id", "goal_id"}
#: Body members that name an owner: another student's is refused as if it did not exist.
OWNER_MEMBERS = {"user_id", "constellation_attempt_id"}


def refusal(op: v2.Operation) -> int | None:
    """What student B gets for ``op`` aimed at student A's objects, by the rule of ``luminary.core.access``.

    ``None``: the rule lets B through (a public read, or B's own account).
    """
    params = set(re.findall(r"\{(\w+)\}", op.path))
    if op.method == "GET" and op.data == "Post":
        return None  # posts are the public feed, whoever they hang under
    if op.scope is Scope.ADMIN:
        return 403  # the catalogue, other users: administrators only
    if params & PRIVATE_PARAMETERS:
        return 404  # another student's account, attempts, sessions, tokens: as if absent
    if op.example and OWNER_MEMBERS & set(op.example):
        return 404  # something new for another student: as if they did not exist
    if "post_id" in params and op.method != "GET":
        return 403  # another student's post: public, but not B's to change
    return None


@attrs.define
class Matrix:
    """Students A and B, each with an attempt, sessions and a post, and the tokens of the five cases."""

    uow_factory: Any
    clock: core.ManualClock
    client: falcon.testing.TestClient
    ids: dict[str, int]
    tokens: dict[str, str]

    @classmethod
    def build(cls, uow_factory: Any, clock: core.ManualClock, op: v2.Operation) -> Matrix:
        uow, system = uow_factory, core.SYSTEM
        orion = core.create_constellation(
            uow(), core.CreateConstellation("Orion", 3), actor=system, clock=clock
        )
        spare = core.create_constellation(
            uow(), core.CreateConstellation("Lyra", 2), actor=system, clock=clock
        )
        ids = {"constellation_id": orion.id, "spare": spare.id}
        for who in ("a", "b"):
            user = core.create_user(uow(), core.CreateUser(who.upper()), actor=system, clock=clock)
            give_login(uow, user.id, f"student-{who}")
            attempt = core.start_attempt(
                uow(), core.StartAttempt(user.id, orion.id), actor=system, clock=clock
            )
            session = core.create_session(
                uow(),
                core.CreateSession(constellation_attempt_id=attempt.id, minutes=5),
                actor=system,
                clock=clock,
            )
            core.complete_session(uow(), session.id, actor=system, clock=clock)
            post = core.create_post(
                uow(),
                core.CreatePost(user_id=user.id, constellation_id=orion.id, post_type="progress"),
                actor=system,
                clock=clock,
            )
            goal = core.create_goal(
                uow(),
                core.CreateGoal(kind="daily_minutes", target_minutes=30),
                actor=Actor.student(user.id),
                clock=clock,
            )
            ids.update(
                {
                    f"{who}_goal": goal.id,
                    f"{who}_user": user.id,
                    f"{who}_attempt": attempt.id,
                    f"{who}_session": session.id,
                    f"{who}_post": post.id,
                }
            )

        def issue(who: str, scopes: list[str], days: int | None = None) -> core.IssuedToken:
            return core.issue_token(
                uow(),
                f"student-{who}",
                name="m",
                scopes=scopes,
                expires_in_days=days,
                actor=system,
                clock=clock,
            )

        student = [s.value for s in core.Scope if s is not Scope.ADMIN]
        a_token = issue("a", student)
        ids["a_token"] = a_token.token.id
        lacking = [s for s in student if op.scope is None or s != op.scope.value]
        revoked = issue("b", student)
        core.revoke_token(uow(), revoked.token.id, actor=system)
        expired = issue("b", student, days=1)
        tokens = {
            "b": issue("b", student).secret,
            "lacking": issue("b", lacking).secret,
            "revoked": revoked.secret,
            "expired": expired.secret,
        }
        clock.advance(timedelta(days=2))
        return cls(uow_factory, clock, make_client(uow_factory, clock), ids, tokens)

    def path(self, op: v2.Operation) -> str:
        """The operation's path, aimed at A's objects (the catalogue's for a constellation)."""
        names = {
            "user_id": "a_user",
            "attempt_id": "a_attempt",
            "session_id": "a_session",
            "post_id": "a_post",
        }
        names |= {"token_id": "a_token", "constellation_id": "constellation_id", "goal_id": "a_goal"}
        return re.sub(r"\{(\w+)\}", lambda m: str(self.ids[names[m.group(1)]]), op.path)

    def body(self, op: v2.Operation) -> Any:
        """The operation's example body, naming A where it names an owner."""
        if op.command is None:
            return None
        body = dict(op.example or {})
        if "current_password" in body:
            body["current_password"] = "password student-b"  # B changes their own: the only account B reaches
        owners = {"user_id": self.ids["a_user"], "constellation_attempt_id": self.ids["a_attempt"]}
        for member, value in owners.items():
            if member in body:
                body[member] = value
        if "constellation_id" in body:
            body["constellation_id"] = (
                self.ids["spare"] if op.method == "POST" else self.ids["constellation_id"]
            )
        return body

    def send(self, op: v2.Operation, token: str | None) -> falcon.testing.Result:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return self.client.simulate_request(op.method, self.path(op), json=self.body(op), headers=headers)

    def state(self) -> dict[str, Any]:
        """Everything stored, tokens without the minute they were last used."""
        state: dict[str, Any] = snapshot(self.uow_factory())
        with self.uow_factory() as uow:
            users = [u.id for u in state["users"]]
            state["credentials"] = [uow.credentials.get(u) for u in users]
            tokens = [t for u in users for t in uow.tokens.list_by_user(u)]
            state["tokens"] = [attrs.evolve(t, last_used_at=None) for t in tokens]
        return state


def _problem(result: falcon.testing.Result, status: int) -> dict[str, Any]:
    assert result.status_code == status, (result.status, result.text)
    assert result.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = result.json
    assert body["status"] == status
    return body


def _mentions_a(answer: Any, ids: dict[str, int]) -> bool:
    """Whether an answer holds A's private objects (their attempts or sessions, or A's account)."""
    items = answer["data"] if isinstance(answer["data"], list) else [answer["data"]]
    for item in items:
        if not isinstance(item, dict):
            continue
        private = "stars_completed" in item or "status" in item  # an attempt or a session
        if private and item.get("user_id") == ids["a_user"]:
            return True
        if "login" in item and item.get("id") == ids["a_user"]:
            return True
        if "kind" in item and item.get("user_id") == ids["a_user"]:  # a goal
            return True
    return False


GUARDED = [op for op in v2.OPERATIONS if op.scope is not None]


def test_the_matrix_covers_every_operation():
    public = {op.operation_id for op in v2.OPERATIONS if op.scope is None}
    assert public == {"signUp", "createToken"}
    assert len(GUARDED) + len(public) == len(v2.OPERATIONS)


@pytest.mark.parametrize("op", GUARDED, ids=lambda op: op.operation_id)
def test_who_may_call_each_operation(uow_factory, clock, op):
    m = Matrix.build(uow_factory, clock, op)
    before = m.state()

    none = _problem(m.send(op, None), 401)
    assert "token" in none["detail"]
    assert m.send(op, None).headers["www-authenticate"] == 'Bearer realm="luminary"'
    assert m.state() == before

    for case in ("expired", "revoked"):
        result = m.send(op, m.tokens[case])
        _problem(result, 401)
        assert result.headers["www-authenticate"] == 'Bearer realm="luminary", error="invalid_token"'
        assert m.state() == before, case

    lacking = _problem(m.send(op, m.tokens["lacking"]), 403)
    assert repr(op.scope.value) in lacking["detail"] if op.scope else True
    assert m.state() == before

    expected = refusal(op)
    result = m.send(op, m.tokens["b"])
    if expected is not None:
        _problem(result, expected)
        assert m.state() == before
    else:
        assert result.status_code < 300, (result.status, result.text)
        if result.status_code != 204:
            assert not _mentions_a(result.json, m.ids), result.json
        if op.method == "GET":
            assert m.state() == before


def test_signing_up_and_in_need_no_token(uow_factory, clock):
    client = make_client(uow_factory, clock)
    signed_up = client.simulate_post(
        "/api/v2/accounts", json={"display_name": "Hedy", "login": "hedy", "password": "frequency hop"}
    )
    assert signed_up.status_code == 201, signed_up.text
    created = client.simulate_post(
        "/api/v2/tokens", json={"login": "hedy", "password": "frequency hop", "name": "x", "scopes": ["read"]}
    )
    assert created.status_code == 201, created.text
    me = client.simulate_get(
        "/api/v2/me", headers={"Authorization": f"Bearer {created.json['data']['secret']}"}
    )
    assert me.json["data"]["login"] == "hedy"
    assert me.json["data"]["scopes"] == ["read"]
    assert FAST_PASSWORDS.n < core.PasswordHasher().n  # the app under test hashes cheaply, on purpose
