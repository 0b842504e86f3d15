"""CORS: configured origins get CORS answers on every route, preflights and errors included; none by default.

What a browser does is played by hand: it sends ``Origin`` on cross-origin
requests, and before one that is not "simple" (JSON, ``Authorization``, PATCH…)
a preflight, ``OPTIONS`` with ``Access-Control-Request-Method`` and
``-Headers``, which carries no token. In-memory store only: CORS lives in the
HTTP layer alone.
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("luminary.http", reason="luminary-http is not installed")

import falcon.testing

from http_v1_support import FAST_PASSWORDS
from luminary.core import ManualClock
from luminary.core.memory import InMemoryStore
from luminary.http import cli
from luminary.http.app import create_app
from luminary.http.cors import Cors
from luminary.http.requests import MAX_BODY

APP = "https://app.example.com"
DEV = "http://localhost:5173"
OTHER = "https://evil.example.net"
PASSWORD = "correct horse battery"


def client(*, v1_mode: str = "open", **options: Any) -> falcon.testing.TestClient:
    app = create_app(
        InMemoryStore().uow_factory(),
        clock=ManualClock(),
        v1_mode=v1_mode,
        passwords=FAST_PASSWORDS,
        **options,
    )
    return falcon.testing.TestClient(app)


def cors_headers(result: falcon.testing.Result) -> dict[str, str]:
    return {name: value for name, value in result.headers.items() if name.startswith("access-control-")}


def preflight(
    client: falcon.testing.TestClient, path: str, method: str, origin: str = APP
) -> falcon.testing.Result:
    return client.simulate_options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )


def assert_allowed(result: falcon.testing.Result, origin: str = APP) -> None:
    assert result.headers["access-control-allow-origin"] == origin
    assert (
        result.headers["access-control-expose-headers"]
        == "Location, Retry-After, WWW-Authenticate, X-Request-ID, RateLimit, RateLimit-Policy"
    )
    assert "access-control-allow-credentials" not in result.headers
    assert result.headers["vary"] == "Origin"


def sign_up(client: falcon.testing.TestClient, login: str = "grace", **headers: str) -> falcon.testing.Result:
    body = {"display_name": login.title(), "login": login, "password": PASSWORD}
    return client.simulate_post("/api/v2/accounts", json=body, headers=headers)


# ------------------------------------------------------------------ none by default


def test_no_cors_header_by_default_not_even_on_a_preflight():
    default, empty = client(), client(cors_origins=())
    for app in (default, empty):
        read = app.simulate_get("/api/constellations/", headers={"Origin": APP})
        assert read.status_code == 200
        assert cors_headers(read) == {}
        assert "vary" not in read.headers
        asked = preflight(app, "/api/v2/accounts", "POST")
        assert asked.status_code == 200
        assert cors_headers(asked) == {}
        assert asked.headers["allow"] == "POST"
    # Byte for byte what it was (the request id chosen, or else each answer would have its own).
    same = {"X-Request-ID": "same"}
    for path in ("/api/constellations/", "/api/v2/me", "/nowhere"):
        assert (
            default.simulate_get(path, headers=same).headers == empty.simulate_get(path, headers=same).headers
        )


# ------------------------------------------------------------------ allowed origins


def test_an_allowed_origin_reads_v1_and_v2_answers():
    app = client(cors_origins=[APP, DEV])
    for origin in (APP, DEV):
        read = app.simulate_get("/api/constellations/", headers={"Origin": origin})
        assert read.status_code == 200
        assert_allowed(read, origin)
        assert "access-control-allow-methods" not in read.headers  # only preflights name them
    assert_allowed(app.simulate_get("/api/v2/openapi.json", headers={"Origin": APP}))


def test_an_allowed_origin_creates_and_reads_where_with_its_token():
    app = client(cors_origins=[APP])
    created = sign_up(app, Origin=APP)
    assert created.status_code == 201, created.text
    assert_allowed(created)
    assert created.headers["location"]  # exposed: the script may read it
    v1 = app.simulate_post("/api/users/", json={"display_name": "Ada"}, headers={"Origin": APP})
    assert v1.status_code == 201
    assert_allowed(v1)
    signed_in = app.simulate_post(
        "/api/v2/tokens",
        json={"login": "grace", "password": PASSWORD, "name": "web", "scopes": ["read"]},
        headers={"Origin": APP},
    )
    assert signed_in.status_code == 201, signed_in.text
    me = app.simulate_get(
        "/api/v2/me", headers={"Origin": APP, "Authorization": f"Bearer {signed_in.json['data']['secret']}"}
    )
    assert me.status_code == 200
    assert_allowed(me)


def test_error_answers_carry_cors_headers_too():
    app = client(cors_origins=[APP])
    origin = {"Origin": APP}
    missing = app.simulate_get("/api/v2/nowhere", headers=origin)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert_allowed(missing)
    assert_allowed(app.simulate_get("/api/users/99", headers=origin))  # v1's own 404
    refused = app.simulate_get("/api/v2/me", headers=origin)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="luminary"'
    assert_allowed(refused)
    invalid = app.simulate_post("/api/v2/accounts", json={"login": ""}, headers=origin)
    assert invalid.status_code == 400
    assert_allowed(invalid)
    wrong_method = app.simulate_delete("/api/v2/me", headers=origin)
    assert wrong_method.status_code == 405
    assert_allowed(wrong_method)
    too_large = app.simulate_post(
        "/api/v2/accounts", body=b" " * (MAX_BODY + 1), headers={**origin, "Content-Type": "application/json"}
    )
    assert too_large.status_code == 413  # refused by BodyLimit, before any resource
    assert_allowed(too_large)


@pytest.mark.parametrize(
    ("origins", "origin", "allowed"),
    [
        ([APP], APP, APP),
        ([APP, DEV], DEV, DEV),
        (["*"], OTHER, "*"),
        ([APP], OTHER, None),
        ([APP], None, None),
    ],
    ids=["allowed", "second-allowed", "any", "not-allowed", "no-origin"],
)
def test_the_headers_for_waitress_own_answers_are_the_apps(origins, origin, allowed):
    # What the server adds to the answers waitress makes before the app runs: the same as the app's.
    app = client(cors_origins=origins)
    answer = app.simulate_get("/api/v2/nowhere", headers={} if origin is None else {"Origin": origin})
    assert answer.status_code == 404
    expected = {**cors_headers(answer), "vary": answer.headers["vary"]}
    assert {name.lower(): value for name, value in Cors(origins).headers(origin)} == expected
    assert expected.get("access-control-allow-origin") == allowed


def test_too_many_sign_ins_answer_429_with_a_readable_retry_after():
    app = client(cors_origins=[APP])
    assert sign_up(app).status_code == 201
    body = {"login": "grace", "password": "wrong password", "name": "web", "scopes": ["read"]}
    for _ in range(5):
        assert app.simulate_post("/api/v2/tokens", json=body).status_code == 401
    blocked = app.simulate_post("/api/v2/tokens", json=body, headers={"Origin": APP})
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert_allowed(blocked)


# ------------------------------------------------------------------ preflights


@pytest.mark.parametrize("v1_mode", ["open", "token"])
@pytest.mark.parametrize(
    ("path", "method", "methods"),
    [
        ("/api/users/", "POST", "GET, HEAD, POST"),
        ("/api/v1/users/1/", "GET", "DELETE, GET, HEAD"),
        ("/api/sessions/1", "PATCH", "DELETE, GET, HEAD, PATCH"),
        ("/api/v2/sessions", "POST", "GET, HEAD, POST"),
        ("/api/v2/sessions/1", "PATCH", "DELETE, GET, HEAD, PATCH"),
        ("/api/v2/me", "GET", "GET, HEAD"),
    ],
)
def test_a_preflight_is_answered_without_a_token(v1_mode, path, method, methods):
    result = preflight(client(v1_mode=v1_mode, cors_origins=[APP]), path, method)
    assert result.status_code == 200
    assert result.text == ""
    assert cors_headers(result) == {
        "access-control-allow-origin": APP,
        "access-control-allow-methods": methods,
        "access-control-allow-headers": "authorization,content-type",
        "access-control-max-age": "86400",
        "access-control-expose-headers": (
            "Location, Retry-After, WWW-Authenticate, X-Request-ID, RateLimit, RateLimit-Policy"
        ),
    }
    assert "allow" not in result.headers
    assert result.headers["vary"] == "Origin"


def test_a_preflight_to_a_path_that_does_not_exist_names_no_method():
    app = client(v1_mode="off", cors_origins=[APP])
    for path in ("/api/nowhere", "/api/users/"):  # v1 is not served
        result = preflight(app, path, "GET")
        assert result.status_code == 404
        assert "access-control-allow-methods" not in result.headers


# ------------------------------------------------------------------ other origins, any origin


def test_another_origin_gets_no_cors_header():
    app = client(cors_origins=[APP])
    for origin in (OTHER, "https://app.example.com:8443", "http://app.example.com", "null"):
        read = app.simulate_get("/api/constellations/", headers={"Origin": origin})
        assert read.status_code == 200
        assert cors_headers(read) == {}
        assert read.headers["vary"] == "Origin"
        asked = preflight(app, "/api/v2/accounts", "POST", origin=origin)
        assert cors_headers(asked) == {}
        assert app.simulate_get("/api/v2/me", headers={"Origin": origin}).status_code == 401
    same_origin = app.simulate_get("/api/constellations/")  # no Origin: not a cross-origin request
    assert cors_headers(same_origin) == {}


def test_star_allows_any_origin_without_credentials():
    app = client(cors_origins=["*"])
    for origin in (APP, OTHER, "null"):
        read = app.simulate_get("/api/constellations/", headers={"Origin": origin})
        assert_allowed(read, "*")
        asked = preflight(app, "/api/v2/accounts", "POST", origin=origin)
        assert asked.headers["access-control-allow-origin"] == "*"
        assert asked.headers["access-control-allow-methods"] == "POST"
        assert "access-control-allow-credentials" not in asked.headers


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    ("origin", "why"),
    [
        ("https://app.example.com/", "has a path (the origin is 'https://app.example.com')"),
        ("https://app.example.com/app", "has a path"),
        ("https://app.example.com?x=1", "has a path"),
        ("app.example.com", "is not scheme://host[:port]"),
        ("null", "is not scheme://host[:port]"),
        ("https://ada@app.example.com", "is not scheme://host[:port]"),
        ("https://app.example.com:99999", "is not scheme://host[:port]"),
        ("https://", "is not scheme://host[:port]"),
        ("HTTPS://App.example.com", "is sent by browsers as 'https://app.example.com'"),
        ("https://app.example.com:443", "is sent by browsers as 'https://app.example.com'"),
    ],
)
def test_an_invalid_origin_is_refused_at_start(origin, why):
    with pytest.raises(ValueError, match="CORS origins must be scheme://host") as refused:
        client(cors_origins=[APP, origin])
    assert f"{origin!r} {why}" in str(refused.value)


def test_every_invalid_origin_is_named_in_one_error():
    with pytest.raises(ValueError, match="CORS") as refused:
        client(cors_origins=["https://a.example/", APP, "b.example"])
    message = str(refused.value)
    assert "'https://a.example/' has a path" in message
    assert "'b.example' is not" in message
    assert repr(APP) not in message


def test_origins_as_browsers_send_them_are_accepted():
    origins = [DEV, "http://127.0.0.1:8080", "http://[::1]:3000", "capacitor://localhost", APP]
    app = client(cors_origins=origins)
    for origin in origins:
        assert_allowed(app.simulate_get("/healthz", headers={"Origin": origin}), origin)


@pytest.fixture
def environment(monkeypatch, tmp_path):
    """A working directory without .env and no LUMINARY_CORS_ORIGINS, for the command's parser."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LUMINARY_CORS_ORIGINS", raising=False)
    return monkeypatch


def served_app(tmp_path, *argv: str) -> falcon.testing.TestClient:
    """The app ``luminary serve`` would serve with ``argv`` (over a database it never opens here)."""
    from luminary import sql
    from luminary.http.auth import V1Mode

    args = cli.build_parser().parse_args(["serve", *argv])
    engine = sql.make_engine(f"sqlite:///{tmp_path / 'cors.db'}")
    try:
        return falcon.testing.TestClient(cli._app(args, engine, ManualClock(), V1Mode.OPEN))
    finally:
        engine.dispose()


def test_serve_option_and_variable_reach_the_app(environment, tmp_path):
    assert cli.build_parser().parse_args(["serve"]).cors_origins == ()
    assert cors_headers(served_app(tmp_path).simulate_get("/healthz", headers={"Origin": APP})) == {}

    given = served_app(tmp_path, "--cors-origin", APP, "--cors-origin", DEV)
    for origin in (APP, DEV):
        assert_allowed(given.simulate_get("/healthz", headers={"Origin": origin}), origin)

    environment.setenv("LUMINARY_CORS_ORIGINS", f" {DEV}, {APP}\thttp://127.0.0.1:8080 ")
    assert cli.build_parser().parse_args(["serve"]).cors_origins == (DEV, APP, "http://127.0.0.1:8080")
    from_variable = served_app(tmp_path)
    assert_allowed(from_variable.simulate_get("/healthz", headers={"Origin": APP}))
    # The option wins over the variable, as every serve option does.
    assert cli.build_parser().parse_args(["serve", "--cors-origin", "*"]).cors_origins == ("*",)
    assert (
        cors_headers(
            served_app(tmp_path, "--cors-origin", OTHER).simulate_get("/healthz", headers={"Origin": APP})
        )
        == {}
    )


def test_variable_is_read_from_dotenv(environment, tmp_path):
    (tmp_path / ".env").write_text(f"LUMINARY_CORS_ORIGINS={APP},{DEV}\n", encoding="utf-8")
    assert cli.build_parser().parse_args(["serve"]).cors_origins == (APP, DEV)


@pytest.mark.parametrize("source", ["option", "variable"])
def test_serve_refuses_an_invalid_origin_before_anything_runs(environment, capsys, source):
    argv = ["serve"]
    if source == "option":
        argv += ["--cors-origin", APP, "--cors-origin", "https://app.example.com/"]
    else:
        environment.setenv("LUMINARY_CORS_ORIGINS", f"{APP} https://app.example.com/")
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(argv)
    assert exited.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("luminary serve: error: argument --cors-origin: CORS origins must be")
    assert "'https://app.example.com/' has a path" in error
    assert error.endswith("(from --cors-origin or LUMINARY_CORS_ORIGINS)")
