"""The OpenAPI document of API v1, the iOS app's contract described as it is, and its explorer.

The document must be valid OpenAPI, name exactly the routes v1 serves (under
``/api``, ``/api/v1`` and the two lists outside ``/api``), and be true: the
answers of a walk through every operation validate against its schemas, in
both modes v1 is served in. ``off`` serves neither the document nor its explorer.
"""

from __future__ import annotations

import re
from typing import Any

import falcon
import falcon.inspect
import falcon.testing
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from http_v1_support import FAST_PASSWORDS, make_client, token_for
from luminary import core
from luminary.core.memory import InMemoryStore
from luminary.http import openapi, openapi_v1, v1
from luminary.http.app import create_app
from luminary.http.ratelimits import Limit, RateLimiter

V1_CLASSES = {cls.__name__ for _, cls in v1.ROUTES}


@pytest.fixture
def client(uow_factory, clock, v1_mode) -> falcon.testing.TestClient:
    if v1_mode == "open":
        return make_client(uow_factory, clock)
    root = core.SignUp(display_name="Root", login="root", password="password root")
    core.create_account(
        uow_factory(), root, actor=core.SYSTEM, clock=clock, admin=True, passwords=FAST_PASSWORDS
    )
    return make_client(uow_factory, clock, token=token_for(uow_factory, clock, "root"), v1_mode="token")


@pytest.mark.parametrize("mode", ["open", "token"])
def test_the_app_serves_the_document_of_its_mode_and_it_is_valid_openapi_3_1(mode):
    client = falcon.testing.TestClient(create_app(InMemoryStore().uow_factory(), v1_mode=mode))
    result = client.simulate_get(openapi.V1_DOCUMENT_PATH)
    assert result.status_code == 200
    assert result.headers["content-type"] == "application/json"
    assert result.json == openapi_v1.document(mode)
    assert result.json["openapi"] == "3.1.0"
    validate(result.json)
    securities = [op["security"] for _, _, op in operations(result.json)]
    if mode == "open":
        assert all(s == [] for s in securities)
        assert "securitySchemes" not in result.json["components"]
    else:
        assert all(s == [{"bearerToken": []}] for s in securities)
        assert result.json["components"]["securitySchemes"]["bearerToken"]["scheme"] == "bearer"
        assert all({"401", "403"} <= set(op["responses"]) for _, _, op in operations(result.json))


def test_when_v1_is_off_neither_its_document_nor_its_explorer_is_served():
    client = falcon.testing.TestClient(create_app(InMemoryStore().uow_factory(), v1_mode="off"))
    for path in (openapi.V1_DOCUMENT_PATH, openapi.V1_DOCS_PATH):
        assert client.simulate_get(path).status_code == 404
    assert client.simulate_get(openapi.DOCS_PATH).status_code == 200
    with pytest.raises(ValueError, match="off"):
        openapi_v1.document("off")


# ---------------------------------------------------------------- routes and paths


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method != "servers"
    ]


def v1_routes(app: falcon.App) -> set[tuple[str, str]]:
    """Every (method, full path) a v1 resource answers, HEAD aside (it comes with every GET)."""
    found = set()
    for route in falcon.inspect.inspect_app(app).routes:
        path = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", route.path)
        outside = path.startswith("/api/docs/") or path in {
            openapi.V1_DOCUMENT_PATH,
            openapi.V1_DOCS_PATH,
        }
        if path.startswith("/api/v2/"):
            continue  # v2 has resources of the same names
        if route.class_name not in V1_CLASSES:
            # Nothing else lives under /api but v2, the documents and the explorers.
            assert outside or not path.startswith("/api/"), route.path
            continue
        methods = {m.method for m in route.methods if not m.internal}
        assert ("GET" in methods) == ("HEAD" in methods), route.path
        found |= {(method, path) for method in methods - {"HEAD"}}
    return found


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    """Every (method, full path) the document names, on every server of its path."""
    found = set()
    for path, item in doc["paths"].items():
        for server in item.get("servers", doc["servers"]):
            base = server["url"].rstrip("/")
            found |= {(method.upper(), base + path) for method in item if method != "servers"}
    return found


@pytest.mark.parametrize("mode", ["open", "token"])
def test_the_document_names_exactly_the_v1_routes_of_the_app(mode):
    app = create_app(InMemoryStore().uow_factory(), v1_mode=mode)
    doc = openapi_v1.document(mode)
    assert v1_routes(app) == documented(doc)
    # 36 operations, each under /api and /api/v1, and the two lists outside /api.
    assert len(operations(doc)) == 36
    assert len(documented(doc)) == 36 * 2 + 2
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids))


def test_a_v1_route_added_without_an_operation_is_caught():
    app = create_app(InMemoryStore().uow_factory())

    class Friends(v1.Users):
        pass

    V1_CLASSES.add("Friends")
    try:
        app.add_route("/api/v1/users/{user_id:id}/friends", Friends.__new__(Friends))
        assert v1_routes(app) - documented(openapi_v1.document()) == {
            ("GET", "/api/v1/users/{user_id}/friends"),
            ("POST", "/api/v1/users/{user_id}/friends"),
        }
    finally:
        V1_CLASSES.discard("Friends")


def test_every_operation_is_described():
    doc = openapi_v1.document()
    for method, path, op in operations(doc):
        where = f"{method} {path}"
        assert op["summary"], where
        assert op["tags"], where
        names = re.findall(r"\{(\w+)\}", path)
        assert [p["name"] for p in op["parameters"] if p["in"] == "path"] == names, where
        (success,) = set(op["responses"]) - {"default", "429"}
        assert success in {"200", "201", "204"}, where
        assert ("content" in op["responses"][success]) == (success != "204"), where
        assert op["responses"]["default"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
        takes_body = method in {"PATCH"} or (method, path) in {
            ("PUT", "/users/{user_id}/login"),
            ("PUT", "/constellations/{constellation_id}"),
        }
        takes_body = takes_body or (method == "POST" and path != "/users/sync-minutes")
        assert ("requestBody" in op) == takes_body, where
        if takes_body:
            media = op["requestBody"]["content"]["application/json"]
            # Unknown members are ignored in v1: the body schemas stay open.
            assert "additionalProperties" not in media["schema"], where
            assert _validator(media["schema"], doc).is_valid(media["example"]), where


# ---------------------------------------------------------------- answers match the document


def _validator(schema: dict[str, Any], doc: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(
        {**schema, "components": doc["components"]}, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


# Every operation at least once, some of them answered with an error; ``{name}`` is an id
# remembered from an earlier answer.
WALK: list[tuple[str, str, dict[str, Any] | None, int, str | None]] = [
    ("POST", "/users", {"display_name": "Ada"}, 201, "ada"),
    ("POST", "/users", {"display_name": ""}, 400, None),
    ("GET", "/users", None, 200, None),
    ("GET", "/users?limit=1&offset=0", None, 200, None),
    ("GET", "/users/{ada}", None, 200, None),
    ("PUT", "/users/{ada}/login", {"login": "ada", "password": "correct horse battery"}, 201, None),
    ("POST", "/constellations", {"name": "Orion", "weight": 2}, 201, "orion"),
    ("GET", "/constellations", None, 200, None),
    ("GET", "/constellations/{orion}", None, 200, None),
    ("PUT", "/constellations/{orion}", {"name": "Orion's Belt"}, 200, None),
    ("POST", "/users/{ada}/constellation_attempts", {"constellation_id": "{orion}"}, 201, "attempt"),
    ("GET", "/users/{ada}/current-attempt", None, 200, None),
    ("GET", "/users/{ada}/constellation_attempts", None, 200, None),
    ("GET", "/constellation_attempts", None, 200, None),
    ("GET", "/constellation_attempts/{attempt}", None, 200, None),
    (
        "POST",
        "/sessions",
        {"user_id": "{ada}", "constellation_attempt_id": "{attempt}", "minutes": 25},
        201,
        "study",
    ),
    ("POST", "/sessions", {"title": "Learn Flask"}, 201, "flask"),
    ("GET", "/sessions", None, 200, None),
    ("GET", "/sessions/{flask}", None, 200, None),
    ("PATCH", "/sessions/{flask}", {"status": "in_progress", "difficulty": "medium"}, 200, None),
    ("PUT", "/sessions/{study}/complete", None, 200, None),
    ("GET", "/constellation_attempts/{attempt}/sessions", None, 200, None),
    ("GET", "/users/{ada}/total_minutes", None, 200, None),
    ("POST", "/users/sync-minutes", None, 200, None),
    ("PUT", "/sessions/{study}/cancel", None, 200, None),
    ("PUT", "/constellation_attempts/{attempt}", None, 200, None),
    ("PUT", "/constellation_attempts/{attempt}/complete", None, 200, None),
    ("PUT", "/constellation_attempts/{attempt}", None, 409, None),
    ("GET", "/users/{ada}/current-attempt", None, 404, None),
    ("GET", "/users/{ada}/completed_constellations", None, 200, None),
    (
        "POST",
        "/posts",
        {"user_id": "{ada}", "constellation_id": "{orion}", "post_type": "completion", "study_duration": 25},
        201,
        "post",
    ),
    ("GET", "/posts", None, 200, None),
    ("GET", "/posts/{post}", None, 200, None),
    ("GET", "/users/{ada}/posts", None, 200, None),
    ("GET", "/constellations/{orion}/posts", None, 200, None),
    ("GET", "/feed", None, 200, None),
    ("GET", "/users/{missing}", None, 404, None),
    ("DELETE", "/constellations/{orion}", None, 409, None),
    ("DELETE", "/posts/{post}", None, 200, None),
    ("DELETE", "/sessions/{flask}", None, 204, None),
    ("DELETE", "/constellation_attempts/{attempt}", None, 200, None),
    ("DELETE", "/users/{ada}", None, 200, None),
    ("DELETE", "/constellations/{orion}", None, 200, None),
]


def _template(path: str) -> str:
    return re.sub(r"\{(\w+)\}", "{x}", path.split("?")[0])


def test_every_operation_describes_its_429_as_v1_answers_it():
    doc = openapi_v1.document()
    assert doc["components"]["headers"] == openapi.TOO_MANY_HEADERS
    for method, path, op in operations(doc):
        answer = op["responses"]["429"]
        assert answer["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        assert set(answer["headers"]) == {"Retry-After", "RateLimit", "RateLimit-Policy"}, path
        route_class = "read" if method == "GET" else "write"  # v1 has no sign-in class
        assert f"`{route_class}` operations" in answer["description"], (method, path)


@pytest.mark.parametrize("mode", ["open", "token"])
def test_a_rate_limited_v1_answer_matches_its_429(mode):
    limiter = RateLimiter({"read": Limit(1, 60)}, clock=lambda: 1_800_000_000.0)
    client = falcon.testing.TestClient(
        create_app(InMemoryStore().uow_factory(), v1_mode=mode, rate_limiter=limiter)
    )
    doc = openapi_v1.document(mode)
    for _ in range(2):
        result = client.simulate_get("/api/users/")
    assert result.status_code == 429
    response = doc["paths"]["/users"]["get"]["responses"]["429"]
    assert result.headers["content-type"] == "application/json"
    errors = [
        e.message
        for e in _validator(response["content"]["application/json"]["schema"], doc).iter_errors(result.json)
    ]
    assert not errors, result.json
    for name, ref in response["headers"].items():
        header = doc["components"]["headers"][ref["$ref"].rsplit("/", 1)[1]]
        assert name.lower() in result.headers, name  # the rate limits send all three
        value = result.headers[name.lower()]
        typed: Any = int(value) if header["schema"]["type"] == "integer" else value
        assert _validator(header["schema"], doc).is_valid(typed), (name, value)


def test_the_walk_visits_every_operation():
    visited = {(m, _template(p)) for m, p, _, status, _ in WALK if status < 400}
    assert visited == {(m, _template(p)) for m, p, _ in operations(openapi_v1.document())}


def test_answers_of_a_walk_through_every_operation_match_the_document(client, v1_mode):
    doc = openapi_v1.document(v1_mode)
    ids: dict[str, Any] = {"missing": 999999}
    templates = {(m, _template(p)): op for m, p, op in operations(doc)}
    for method, path, body, status, name in WALK:
        concrete = re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)
        sent = {k: ids[v[1:-1]] if str(v).startswith("{") else v for k, v in (body or {}).items()}
        # The app calls v1 with a trailing slash; the document's paths answer both ways.
        result = client.simulate_request(method, "/api" + concrete, json=sent if body is not None else None)
        assert result.status_code == status, (method, concrete, result.text)
        op = templates[(method, re.sub(r"/[0-9]+(?=/|$|\?)", "/{x}", concrete.split("?")[0]))]
        response = op["responses"].get(str(status), op["responses"]["default"])
        if status == 204:
            assert result.content == b""
            continue
        assert result.headers["content-type"] == "application/json"
        schema = response["content"]["application/json"]["schema"]
        errors = [e.message for e in _validator(schema, doc).iter_errors(result.json)]
        assert not errors, (method, concrete, errors, result.json)
        if name:
            answer = result.json.get("data", result.json)
            ids[name] = answer.get("id", answer.get("user_id"))


# ---------------------------------------------------------------- the explorer


def test_the_v1_explorer_renders_the_v1_document():
    client = falcon.testing.TestClient(create_app(InMemoryStore().uow_factory()))
    page = client.simulate_get(openapi.V1_DOCS_PATH + "/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert f'data-url="{openapi.V1_DOCUMENT_PATH}"' in page.text
    assert "Luminary API v1" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
