"""The operator's account commands: ``luminary admin …`` and ``luminary tokens …``.

Each test runs :func:`luminary.http.cli.main` in this process on a migrated
SQLite file, then checks what it did through the app itself
(``create_app`` over the same database), as a client would see it.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("luminary.sql", reason="luminary-sql is not installed")
pytest.importorskip("luminary.http", reason="luminary-http is not installed")

import falcon.testing

from luminary import core, sql
from luminary.http import cli
from luminary.http.app import create_app
from sql_fixtures import sqlite_database

PASSWORD = "correct horse battery"
SECRET = re.compile(r"lum_[0-9A-Za-z]{38}")


class Store:
    """One SQLite database, the CLI run against it, and the app serving it."""

    def __init__(self, path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
        self.url = f"sqlite:///{path}"
        self.engine = sql.make_engine(self.url)
        self.client = falcon.testing.TestClient(create_app(self.uow))
        self._monkeypatch = monkeypatch
        self._capsys = capsys

    def uow(self) -> core.UnitOfWork:
        return sql.SqlAlchemyUnitOfWork(self.engine)

    def run(self, *args: str, stdin: str = "") -> tuple[int, str, str]:
        """``luminary ARGS --database-url URL`` with ``stdin``: exit status, stdout, stderr."""
        self._monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        self._capsys.readouterr()
        status = cli.main([*args, "--database-url", self.url])
        out, err = self._capsys.readouterr()
        return status, out, err

    def create_user(self, login: str, *extra: str) -> int:
        status, out, err = self.run(
            "admin", "create-user", "--login", login, *extra, "--password-stdin", stdin=PASSWORD + "\n"
        )
        assert status == 0, err
        found = re.search(r"\(user (\d+)\)", out)
        assert found, out
        return int(found.group(1))

    def create_token(self, login: str, *scopes: str) -> str:
        args = [a for s in scopes for a in ("--scope", s)]
        status, out, err = self.run("admin", "create-token", "--login", login, "--name", "cli", *args)
        assert status == 0, err
        assert SECRET.fullmatch(out.strip()), out
        assert "shown this once" in err
        assert out.strip() not in err
        return out.strip()

    def user_count(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.exec_driver_sql("SELECT count(*) FROM users").scalar_one())

    def get(self, path: str, secret: str) -> falcon.testing.Result:
        return self.client.simulate_get(path, headers={"Authorization": f"Bearer {secret}"})


@pytest.fixture
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, capsys) -> Iterator[Store]:
    for name in ("LUMINARY_DATABASE_URL", "DATABASE_URL", "LUMINARY_V1_MODE"):
        monkeypatch.delenv(name, raising=False)
    made = Store(sqlite_database(request), monkeypatch, capsys)
    try:
        yield made
    finally:
        made.engine.dispose()


def token_ids(store: Store, user_id: int) -> dict[str, Any]:
    """``luminary tokens list USER_ID``: the token ids listed, with their lines."""
    status, out, err = store.run("tokens", "list", str(user_id))
    assert status == 0, err
    return {line.split("\t")[0]: line for line in out.splitlines()}


def test_an_operator_makes_the_first_administrator_and_a_token(store):
    user_id = store.create_user("root", "--display-name", "The Operator")
    secret = store.create_token("root", "admin", "read")

    me = store.get("/api/v2/me", secret)
    assert me.status_code == 200, me.text
    assert me.json["data"]["id"] == user_id
    assert me.json["data"]["login"] == "root"
    assert me.json["data"]["display_name"] == "The Operator"
    assert me.json["data"]["is_admin"] is True
    assert set(me.json["data"]["scopes"]) == {"admin", "read"}

    users = store.get("/api/v2/users", secret)
    assert users.status_code == 200, users.text
    assert [u["id"] for u in users.json["data"]] == [user_id]
    # The password given on standard input is the account's: it signs in.
    signed_in = store.client.simulate_post(
        "/api/v2/tokens", json={"login": "root", "password": PASSWORD, "name": "laptop", "scopes": ["read"]}
    )
    assert signed_in.status_code == 201, signed_in.text


def test_without_a_password_nothing_is_created(store):
    status, out, err = store.run("admin", "create-user", "--login", "root", stdin="")
    assert status == 1
    assert err.startswith("luminary: ")
    assert "--password-stdin" in err
    assert out == ""
    with store.uow().reading() as uow:
        assert uow.credentials.get_by_login("root") is None
    assert store.user_count() == 0


def test_the_real_command_refuses_to_guess_a_password_when_stdin_is_no_terminal(store):
    from served import luminary_command

    for args in (
        ["admin", "create-user", "--login", "root"],
        ["admin", "claim-user", "1", "--login", "root"],
    ):
        result = subprocess.run(
            [*luminary_command(), *args, "--database-url", store.url],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1, result
        assert result.stderr.startswith("luminary: ")
        assert "--password-stdin" in result.stderr
    assert store.user_count() == 0


def test_an_empty_password_line_is_refused(store):
    status, _, err = store.run("admin", "create-user", "--login", "root", "--password-stdin", stdin="\n")
    assert status == 1
    assert err.startswith("luminary: ")
    assert store.user_count() == 0


def test_a_revoked_token_is_refused_on_the_next_request(store):
    user_id = store.create_user("root")
    kept = store.create_token("root", "read")
    secret = store.create_token("root", "admin")
    assert store.get("/api/v2/me", secret).status_code == 200

    listed = token_ids(store, user_id)
    assert len(listed) == 2
    mine = store.get("/api/v2/tokens", secret).json["data"]
    assert sorted(listed) == sorted(str(t["id"]) for t in mine)
    token_id = max(int(i) for i in listed)
    assert "\tadmin\t" in listed[str(token_id)]
    assert not any(SECRET.search(line) for line in listed.values()), "the list never shows a secret"

    status, out, err = store.run("tokens", "revoke", str(token_id))
    assert status == 0, err
    assert str(token_id) in out

    refused = store.get("/api/v2/me", secret)
    assert refused.status_code == 401
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert store.get("/api/v2/me", kept).status_code == 200
    assert list(token_ids(store, user_id)) == [str(min(int(i) for i in listed))]

    status, _, err = store.run("tokens", "revoke", str(token_id))
    assert status == 1
    assert err.startswith("luminary: ")


def test_claiming_a_v1_user_lets_them_sign_in(store):
    ada = core.create_user(store.uow(), core.CreateUser("Ada"), actor=core.SYSTEM, clock=core.SystemClock())
    status, out, err = store.run(
        "admin", "claim-user", str(ada.id), "--login", "Ada", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert status == 0, err
    assert "'ada'" in out

    signed_in = store.client.simulate_post(
        "/api/v2/tokens",
        json={"login": "ada", "password": PASSWORD, "name": "iPhone", "scopes": ["read", "study"]},
    )
    assert signed_in.status_code == 201, signed_in.text
    me = store.get("/api/v2/me", signed_in.json["data"]["secret"])
    assert me.status_code == 200
    assert (me.json["data"]["id"], me.json["data"]["login"], me.json["data"]["is_admin"]) == (
        ada.id,
        "ada",
        False,
    )

    status, out, err = store.run(
        "admin", "claim-user", str(ada.id), "--login", "ada2", "--password-stdin", stdin="another password\n"
    )
    assert status == 1
    assert err.startswith("luminary: ")
    assert out == ""
    # The first login and password still hold.
    again = store.client.simulate_post(
        "/api/v2/tokens", json={"login": "ada", "password": PASSWORD, "name": "iPad", "scopes": ["read"]}
    )
    assert again.status_code == 201


def test_claiming_an_unknown_user_or_a_taken_login_fails(store):
    store.create_user("root")
    bob = core.create_user(store.uow(), core.CreateUser("Bob"), actor=core.SYSTEM, clock=core.SystemClock())
    for user_id, login in ((bob.id + 100, "bob"), (bob.id, "ROOT")):
        status, _, err = store.run(
            "admin", "claim-user", str(user_id), "--login", login, "--password-stdin", stdin=PASSWORD + "\n"
        )
        assert status == 1, (user_id, login)
        assert err.startswith("luminary: ")
    with store.uow().reading() as uow:
        assert uow.credentials.get(bob.id) is None


def test_a_student_cannot_be_given_the_admin_scope(store):
    store.create_user("ada", "--student")
    status, out, err = store.run(
        "admin", "create-token", "--login", "ada", "--name", "x", "--scope", "admin", "--scope", "read"
    )
    assert status == 1
    assert err.startswith("luminary: ")
    assert not SECRET.search(out + err)
    # A student's token with the student's scopes is fine, and says so.
    secret = store.create_token("ada", "read")
    me = store.get("/api/v2/me", secret).json["data"]
    assert (me["login"], me["is_admin"]) == ("ada", False)
    assert store.get("/api/v2/users", secret).status_code == 403


def test_create_token_for_an_unknown_login_fails(store):
    status, out, err = store.run(
        "admin", "create-token", "--login", "nobody", "--name", "x", "--scope", "read"
    )
    assert status == 1
    assert err.startswith("luminary: ")
    assert out == ""


def test_create_user_refuses_a_taken_login(store):
    store.create_user("root")
    status, _, err = store.run(
        "admin", "create-user", "--login", "Root", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert status == 1
    assert err.startswith("luminary: ")


def test_expiring_tokens_show_their_expiry(store):
    user_id = store.create_user("root")
    status, out, err = store.run(
        "admin", "create-token", "--login", "root", "--name", "x", "--scope", "read", "--expires-in-days", "1"
    )
    assert status == 0, err
    assert SECRET.fullmatch(out.strip())
    (line,) = token_ids(store, user_id).values()
    assert "expires never" not in line
    assert store.get("/api/v2/me", out.strip()).status_code == 200
    for days in ("0", "3651"):
        status, out, err = store.run(
            "admin",
            "create-token",
            "--login",
            "root",
            "--name",
            "x",
            "--scope",
            "read",
            "--expires-in-days",
            days,
        )
        assert (status, out) == (1, ""), days
        assert "expires_in_days" in err


def test_serve_v1_mode_defaults_to_open(monkeypatch):
    monkeypatch.delenv("LUMINARY_V1_MODE", raising=False)
    assert cli.build_parser().parse_args(["serve"]).v1 == "open"
    assert cli.build_parser().parse_args(["serve", "--v1", "off"]).v1 == "off"


def test_serve_v1_mode_default_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("LUMINARY_V1_MODE", "token")
    parser = cli.build_parser()
    assert parser.parse_args(["serve"]).v1 == "token"
    assert parser.parse_args(["serve", "--v1", "open"]).v1 == "open"


def test_serve_refuses_an_unknown_v1_mode(monkeypatch, capsys):
    monkeypatch.delenv("LUMINARY_V1_MODE", raising=False)
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(["serve", "--v1", "closed"])
    assert exited.value.code == 2
    assert "--v1" in capsys.readouterr().err


def test_serve_refuses_an_unknown_v1_mode_from_the_environment(tmp_path):
    import os

    from served import luminary_command

    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("LUMINARY_", "DATABASE_URL", "POSTGRES_"))
    }
    result = subprocess.run(
        [*luminary_command(), "serve", "--port", "0", "--database-url", f"sqlite:///{tmp_path / 'x.db'}"],
        env={**env, "LUMINARY_V1_MODE": "closed"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "LUMINARY_V1_MODE" in result.stderr
    assert not (tmp_path / "x.db").exists()  # refused before anything ran
