"""The OpenAPI 3.1 document of API v2, and the explorer (Swagger UI) that renders it.

The document must be valid OpenAPI, describe exactly the routes the app serves
(a route added without an operation fails here), give every operation its
request and response schemas, and be true: the answers of a walk through every
operation validate against the schemas it documents. Its request schemas must
refuse exactly what core's validation refuses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import attrs
import falcon
import falcon.inspect
import falcon.testing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from openapi_ui_bundles import swagger_ui

from http_v1_support import FAST_PASSWORDS, make_client, token_for
from luminary import core
from luminary.core import ValidationFailed
from luminary.core import validation as limits
from luminary.core.pagination import CURSOR_PATTERN, Cursor
from luminary.http import explorer, openapi, v2
from luminary.http.app import create_app
from luminary.http.ratelimits import Limit, RateLimiter, route_class_of

V2 = v2.PREFIX


@pytest.fixture
def client(uow_factory, clock) -> falcon.testing.TestClient:
    core.seed_constellations(uow_factory(), clock=clock, actor=core.SYSTEM)
    root = core.SignUp(display_name="Root", login="root", password="password root")
    core.create_account(
        uow_factory(), root, actor=core.SYSTEM, clock=clock, admin=True, passwords=FAST_PASSWORDS
    )
    return make_client(uow_factory, clock, token=token_for(uow_factory, clock, "root"))


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi.document()


def test_the_app_serves_the_document_and_it_is_valid_openapi_3_1(client, doc):
    result = client.simulate_get(f"{V2}/openapi.json")
    assert result.status_code == 200
    assert result.headers["content-type"] == "application/json"
    assert result.json == doc
    assert doc["openapi"] == "3.1.0"
    validate(result.json)


# ---------------------------------------------------------------- routes and paths


def v2_routes(app: falcon.App) -> set[tuple[str, str]]:
    """Every (method, path) the app answers under /api/v2 with a responder of its own, but the docs."""
    found = set()
    for route in falcon.inspect.inspect_app(app).routes:
        if not route.path.startswith(V2 + "/"):
            continue
        path = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", route.path)
        if path in openapi.META_PATHS:
            continue
        methods = {m.method for m in route.methods if not m.internal}
        # HEAD comes with every GET (the same answer without its body), undocumented as usual.
        assert ("GET" in methods) == ("HEAD" in methods), route.path
        found |= {(method, path) for method in methods - {"HEAD"}}
    return found


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, methods in doc["paths"].items() for method in methods}


def test_the_document_describes_exactly_the_routes_of_the_app(uow_factory, doc):
    app = create_app(uow_factory)
    assert v2_routes(app) == documented(doc)
    assert len(documented(doc)) == len(v2.OPERATIONS) == 55
    # The docs are the only other routes under /api/v2.
    others = {r.path for r in falcon.inspect.inspect_app(app).routes if r.path.startswith(V2)}
    assert others - {p for _, p in documented(doc)} - {
        re.sub(r"\{(\w+)\}", r"{\1:id}", p) for _, p in documented(doc)
    } == set(openapi.META_PATHS)


def test_a_route_added_without_an_operation_is_caught(uow_factory, doc):
    class Friends:
        def on_get(self, req: falcon.Request, resp: falcon.Response, user_id: int) -> None:
            resp.media = {}

    class Archive:
        def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
            resp.media = {}

    app = create_app(uow_factory)
    app.add_route(V2 + "/users/{user_id:id}/friends", Friends())
    app.add_route(V2 + "/feed/archive", Archive())
    assert v2_routes(app) - documented(doc) == {
        ("GET", V2 + "/users/{user_id}/friends"),
        ("PUT", V2 + "/feed/archive"),
    }


# ---------------------------------------------------------------- every operation is described


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            yield method.upper(), path, op


def test_every_operation_has_request_and_response_schemas(doc):
    schemas = doc["components"]["schemas"]
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids))
    for method, path, op in operations(doc):
        where = f"{method} {path}"
        assert op["summary"], where
        assert op["tags"], where
        # Parameters: every path segment, and limit and cursor for paged lists.
        names = re.findall(r"\{(\w+)\}", path)
        path_params = [p for p in op["parameters"] if p["in"] == "path"]
        assert [p["name"] for p in path_params] == names, where
        for p in path_params:
            assert p["required"] is True
            assert p["schema"] == {"type": "integer", "minimum": 1, "maximum": limits.ID_MAX}
        query = {p["name"]: p for p in op["parameters"] if p["in"] == "query"}
        own = {p["name"] for p in next(o for o in v2.OPERATIONS if o.operation_id == op["operationId"]).query}
        for name in own:
            assert query.pop(name)["required"] is False, where
        if query:
            assert set(query) == {"limit", "cursor"}, where
            assert query["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": v2.MAX_LIMIT}
            assert query["cursor"]["schema"] == {"type": "string", "pattern": CURSOR_PATTERN}
        # Responses: the success with its schema (none for 204), and problem details otherwise.
        statuses = set(op["responses"])
        assert "default" in statuses, where
        # Every operation but signing up and signing in needs a token, and names its scope.
        public = op["operationId"] in {"signUp", "createToken"}
        assert op["security"] == ([] if public else [{"bearerToken": [op["security"][0]["bearerToken"][0]]}])
        assert {"401", "403"} <= statuses or public, where
        assert "429" in statuses, where  # every operation can be rate limited
        (success,) = statuses - {"default", "401", "403", "429"}
        assert success in {"200", "201", "204"}, where
        if success == "204":
            assert "content" not in op["responses"]["204"], where
        else:
            schema = op["responses"][success]["content"]["application/json"]["schema"]
            assert schema["required"][0] == "data"
            target = schema["properties"]["data"]
            if "anyOf" in target:  # nothing to show is null
                assert target["anyOf"][1] == {"type": "null"}, where
                target = target["anyOf"][0]
            ref = target.get("items", target)["$ref"]
            assert ref.removeprefix("#/components/schemas/") in schemas, where
            if target.get("type") == "array":
                assert schema["required"] == ["data", "next_cursor"]
        if success == "201" and op["operationId"] not in {"createToken", "claimUser"}:  # nothing to GET
            assert "Location" in op["responses"]["201"]["headers"], where
        problem = op["responses"]["default"]["content"]["application/problem+json"]["schema"]
        assert problem == {"$ref": "#/components/schemas/Problem"}
        # Request bodies: exactly the creates and the patches, closed objects with an example.
        takes_body = method in {"PATCH", "PUT"} or (
            method == "POST"
            and not path.endswith(("stars", "complete", "cancel", "start", "pause", "resume", "stop"))
        )
        assert ("requestBody" in op) == takes_body, where
        if takes_body:
            body = op["requestBody"]
            assert body["required"] is True
            media = body["content"]["application/json"]
            assert media["schema"]["type"] == "object"
            assert media["schema"]["additionalProperties"] is False
            assert all("type" in p for p in media["schema"]["properties"].values())
            assert _validator(media["schema"], doc).is_valid(media["example"]), where


def test_every_component_describes_every_field_of_its_entity(doc):
    schemas = doc["components"]["schemas"]
    assert set(schemas) == {*openapi.COMPONENTS, "Problem"}
    for name, cls in openapi.COMPONENTS.items():
        fields = [f.name for f in attrs.fields(cls)]
        assert list(schemas[name]["properties"]) == fields
        assert schemas[name]["required"] == fields
        assert schemas[name]["additionalProperties"] is False


# ---------------------------------------------------------------- answers match the document


def _validator(schema: dict[str, Any], doc: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(
        {**schema, "components": doc["components"]}, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def test_the_format_checker_really_checks_date_times(doc):
    # Without its optional dependency, jsonschema would accept any string as a date-time.
    validator = _validator({"$ref": "#/components/schemas/Constellation"}, doc)
    good = {"id": 1, "name": "Orion", "weight": 7, "created_at": "2025-12-01T10:30:00+00:00"}
    assert validator.is_valid(good)
    assert not validator.is_valid({**good, "created_at": "yesterday"})


# The walk: every operation at least once, some of them answered with an error.
# ``{name}`` in a path is an id remembered from an earlier answer.
WALK: list[tuple[str, str, dict[str, Any] | None, int, str | None]] = [
    (
        "POST",
        "/accounts",
        {"display_name": "Hedy", "login": "hedy", "password": "frequency hop"},
        201,
        "hedy",
    ),
    ("POST", "/accounts", {"display_name": "Hedy", "login": "HEDY", "password": "frequency hop"}, 409, None),
    (
        "POST",
        "/tokens",
        {"login": "hedy", "password": "frequency hop", "name": "phone", "scopes": ["read"]},
        201,
        "phone",
    ),
    (
        "POST",
        "/tokens",
        {"login": "hedy", "password": "wrong password", "name": "x", "scopes": ["read"]},
        401,
        None,
    ),
    ("GET", "/me", None, 200, None),
    (
        "PUT",
        "/me/password",
        {"current_password": "password root", "new_password": "a new password"},
        204,
        None,
    ),
    ("GET", "/tokens", None, 200, None),
    ("DELETE", "/tokens/{phone}", None, 204, None),
    ("POST", "/users", {"display_name": "Ada"}, 201, "ada"),
    ("POST", "/users", {"display_name": "Grace"}, 201, "grace"),
    ("POST", "/users", {"display_name": ""}, 400, None),
    ("GET", "/users", None, 200, None),
    ("GET", "/users?limit=1", None, 200, None),
    ("GET", "/users/{ada}", None, 200, None),
    ("PATCH", "/users/{ada}", {"display_name": "Ada Lovelace"}, 200, None),
    ("PATCH", "/users/{ada}", {"nickname": "A"}, 400, None),
    ("POST", "/constellations", {"name": "Orion", "weight": 2}, 201, "orion"),
    ("GET", "/constellations", None, 200, None),
    ("GET", "/constellations/{orion}", None, 200, None),
    ("PATCH", "/constellations/{orion}", {"name": "Orion's Belt"}, 200, None),
    ("POST", "/attempts", {"user_id": "{ada}", "constellation_id": "{orion}"}, 201, "attempt"),
    ("POST", "/attempts", {"user_id": "{grace}", "constellation_id": "{orion}"}, 201, "graces"),
    ("GET", "/users/{ada}/current_attempt", None, 200, None),
    ("GET", "/attempts", None, 200, None),
    ("GET", "/attempts/{attempt}", None, 200, None),
    ("GET", "/users/{ada}/attempts", None, 200, None),
    ("POST", "/sessions", {"title": "Learn Flask", "status": "planned"}, 201, "flask"),
    (
        "POST",
        "/sessions",
        {"constellation_attempt_id": "{attempt}", "title": "Stars", "minutes": 25, "description": "Belt"},
        201,
        "study",
    ),
    ("GET", "/me/timer", None, 200, None),
    ("GET", "/me/stats", None, 200, None),
    ("GET", "/me/stats?from=2025-11-01&to=2025-12-31&by=month", None, 200, None),
    ("GET", "/me/stats?by=year", None, 400, None),
    ("GET", "/me/stats?from=2025-13-01", None, 400, None),
    ("GET", "/me/streaks", None, 200, None),
    ("POST", "/me/goals", {"kind": "weekly_minutes", "target_minutes": 300}, 201, "weekly"),
    ("POST", "/me/goals", {"kind": "complete_constellation", "target_minutes": 300}, 400, None),
    ("GET", "/me/goals", None, 200, None),
    ("GET", "/me/goals/{weekly}", None, 200, None),
    ("GET", "/me/progress", None, 200, None),
    ("DELETE", "/me/goals/{weekly}", None, 204, None),
    ("POST", "/sessions", {"title": "Timed"}, 201, "timed"),
    ("POST", "/sessions/{timed}/start", None, 200, None),
    ("GET", "/me/timer", None, 200, None),
    ("POST", "/sessions/{timed}/start", None, 409, None),
    ("POST", "/sessions/{timed}/pause", None, 200, None),
    ("POST", "/sessions/{timed}/resume", None, 200, None),
    ("POST", "/sessions/{timed}/stop", None, 200, None),
    ("POST", "/sessions/{timed}/pause", None, 409, None),
    ("PATCH", "/sessions/{flask}", {"status": "in_progress", "difficulty": "medium"}, 200, None),
    ("POST", "/sessions/{study}/complete", None, 200, None),
    ("GET", "/sessions", None, 200, None),
    ("GET", "/sessions?limit=1", None, 200, None),
    ("GET", "/sessions/{study}", None, 200, None),
    ("GET", "/users/{ada}/sessions", None, 200, None),
    ("GET", "/attempts/{attempt}/sessions", None, 200, None),
    ("GET", "/users/{ada}/total_minutes", None, 200, None),
    ("POST", "/sessions/{study}/cancel", None, 200, None),
    ("POST", "/attempts/{attempt}/stars", None, 200, None),
    ("POST", "/attempts/{attempt}/stars", None, 200, None),
    ("POST", "/attempts/{attempt}/stars", None, 409, None),
    ("POST", "/attempts/{graces}/complete", None, 200, None),
    ("GET", "/users/{ada}/completed_constellations", None, 200, None),
    ("GET", "/users/{ada}/current_attempt", None, 200, None),
    ("GET", "/users/{missing}/current_attempt", None, 404, None),
    (
        "POST",
        "/posts",
        {"user_id": "{ada}", "constellation_id": "{orion}", "post_type": "completion"},
        201,
        "post",
    ),
    (
        "POST",
        "/posts",
        {"user_id": "{grace}", "constellation_id": "{orion}", "post_type": "progress", "message": "Hi"},
        201,
        "hello",
    ),
    ("GET", "/posts", None, 200, None),
    ("GET", "/posts/{post}", None, 200, None),
    ("GET", "/feed?limit=1", None, 200, None),
    ("GET", "/users/{ada}/posts", None, 200, None),
    ("GET", "/constellations/{orion}/posts", None, 200, None),
    ("DELETE", "/constellations/{orion}", None, 409, None),
    ("DELETE", "/posts/{hello}", None, 204, None),
    ("DELETE", "/sessions/{flask}", None, 204, None),
    ("DELETE", "/attempts/{graces}", None, 204, None),
    ("DELETE", "/users/{ada}", None, 204, None),
    ("DELETE", "/constellations/{orion}", None, 204, None),
    ("GET", "/users/{ada}", None, 404, None),
    ("PUT", "/users/{grace}/login", {"login": "grace", "password": "amazing grace"}, 201, None),
    ("PUT", "/users/{grace}/login", {"login": "grace2", "password": "amazing grace"}, 409, None),
    ("PUT", "/users/{grace}", None, 405, None),
]


def _template(path: str) -> str:
    return re.sub(r"\{(\w+)\}", "{x}", path.split("?")[0])


def test_the_walk_visits_every_operation(doc):
    visited = {(m, _template(p)) for m, p, _, status, _ in WALK if status < 400}
    assert visited == {(m, _template(p.removeprefix(V2))) for m, p in documented(doc)}


def test_answers_of_a_walk_through_every_operation_match_the_document(client, doc):
    ids = {"missing": 999}
    templates = {(m, _template(p.removeprefix(V2))): (m, p) for m, p in documented(doc)}
    for method, path, body, status, name in WALK:
        concrete = path.format(**ids)
        sent = {k: ids[v[1:-1]] if str(v).startswith("{") else v for k, v in (body or {}).items()}
        result = client.simulate_request(method, V2 + concrete, json=sent if body is not None else None)
        assert result.status_code == status, (method, concrete, result.text)
        if (method, _template(path)) not in templates:
            # Not an operation (a wrong method): still problem details.
            assert result.headers["content-type"] == "application/problem+json"
            assert _validator({"$ref": "#/components/schemas/Problem"}, doc).is_valid(result.json)
            continue
        _, documented_path = templates[(method, _template(path))]
        op = doc["paths"][documented_path][method.lower()]
        if str(status) in op["responses"]:
            response = op["responses"][str(status)]
            if status == 204:
                assert result.content == b""
                continue
            content_type = "application/json"
        else:
            response = op["responses"]["default"]
            content_type = "application/problem+json"
        assert result.headers["content-type"] == content_type
        schema = response["content"][content_type]["schema"]
        errors = [e.message for e in _validator(schema, doc).iter_errors(result.json)]
        assert not errors, (method, concrete, errors, result.json)
        for header in response.get("headers", {}):
            assert result.headers[header.lower()], (method, concrete, header)
        if name:
            ids[name] = result.json["data"]["id"]


# ---------------------------------------------------------------- 429, documented


def check_answer(result: falcon.testing.Result, response: dict[str, Any], doc: dict[str, Any]) -> None:
    """``result`` is what ``response`` of the document describes: body, and headers required or sent."""
    ((content_type, media),) = response["content"].items()
    assert result.headers["content-type"] == content_type
    errors = [e.message for e in _validator(media["schema"], doc).iter_errors(result.json)]
    assert not errors, (errors, result.json)
    for name, ref in response["headers"].items():
        header = doc["components"]["headers"][ref["$ref"].rsplit("/", 1)[1]]
        value = result.headers.get(name.lower())
        if value is None:
            assert not header.get("required"), name
            continue
        # Header values are text; an integer header must be one (as a fuzzer coerces it).
        typed: Any = int(value) if header["schema"]["type"] == "integer" else value
        assert _validator(header["schema"], doc).is_valid(typed), (name, value)


def test_every_operation_describes_its_429_with_the_rate_limit_headers(doc):
    headers = doc["components"]["headers"]
    assert headers["Retry-After"]["required"] is True
    # Refusals of failed sign-ins have no RateLimit headers: these are optional.
    assert "required" not in headers["RateLimit"]
    assert "required" not in headers["RateLimit-Policy"]
    for method, path, op in operations(doc):
        answer = op["responses"]["429"]
        assert set(answer["headers"]) == {"Retry-After", "RateLimit", "RateLimit-Policy"}, path
        assert answer["content"] == {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
        assert f"`{route_class_of(method, path)}` operations" in answer["description"], (method, path)
    assert "failed sign-ins" in doc["paths"][f"{V2}/tokens"]["post"]["responses"]["429"]["description"]
    assert "failed sign-ins" not in doc["paths"][f"{V2}/me"]["get"]["responses"]["429"]["description"]


def test_a_rate_limited_answer_and_a_sign_in_refusal_match_their_429(uow_factory, clock, doc):
    limiter = RateLimiter({"read": Limit(1, 60), "write": Limit(1, 60)}, clock=lambda: 1_800_000_000.0)
    client = falcon.testing.TestClient(
        create_app(uow_factory, clock=clock, passwords=FAST_PASSWORDS, rate_limiter=limiter)
    )
    for method, path in [("GET", "/constellations"), ("POST", "/users")]:
        for _ in range(2):
            result = client.simulate_request(method, V2 + path, json={} if method == "POST" else None)
        assert result.status_code == 429, result.text
        assert result.headers["ratelimit"].endswith(";r=0;t=" + result.headers["retry-after"])
        check_answer(result, doc["paths"][V2 + path][method.lower()]["responses"]["429"], doc)
    # Too many failed sign-ins: 429 with Retry-After alone, as described too.
    core.create_account(
        uow_factory(),
        core.SignUp(display_name="Hedy", login="hedy", password="frequency hop"),
        actor=core.SYSTEM,
        clock=clock,
        passwords=FAST_PASSWORDS,
    )
    unlimited = falcon.testing.TestClient(create_app(uow_factory, clock=clock, passwords=FAST_PASSWORDS))
    wrong = {"login": "hedy", "password": "not her password", "name": "x", "scopes": ["read"]}
    statuses = [unlimited.simulate_post(f"{V2}/tokens", json=wrong).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    result = unlimited.simulate_post(f"{V2}/tokens", json=wrong)
    assert result.status_code == 429
    assert "ratelimit" not in result.headers
    check_answer(result, doc["paths"][f"{V2}/tokens"]["post"]["responses"]["429"], doc)


# ---------------------------------------------------------------- request schemas mirror core


def _property(schema: dict[str, Any], name: str, doc: dict[str, Any]) -> Draft202012Validator:
    return _validator(schema["properties"][name], doc)


def test_the_invisible_class_is_cores_and_holds_white_space_and_the_control_class_is_cores():
    invisible = re.compile(f"[{v2.INVISIBLE}]")
    control = re.compile(f"[{v2.CONTROL}]")
    core = {code for first, last in limits.INVISIBLE for code in range(first, last + 1)}
    for code in range(0x110000):
        c = chr(code)
        in_core = code in core
        assert bool(invisible.match(c)) == in_core, hex(code)
        # What str.strip() removes is invisible too, so stripping never leaves a blank name visible.
        assert not c.isspace() or in_core, hex(code)
        is_control = (code < 32 and c not in "\t\n\r") or code == 127
        assert bool(control.match(c)) == is_control, hex(code)


NAME_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(" \t\n\r\x0b\x0c\x1c\x85\xa0\u2003\u3000\ufeff\u200b\u202e\u3164\x00\x01\x7fa.é"),
        st.characters(codec="utf-8"),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(value=NAME_TEXT, short=st.booleans())
def test_name_schemas_refuse_exactly_what_core_refuses(doc, value, short):
    maximum = 5 if short else limits.NAME_MAX
    schema = v2.name_schema(maximum)
    try:
        limits.text(value, "name", maximum=maximum)
        accepted = True
    except ValidationFailed:
        accepted = False
    assert _validator(schema, doc).is_valid(value) == accepted, repr(value)


@settings(max_examples=200, deadline=None)
@given(value=NAME_TEXT)
def test_the_message_schema_refuses_exactly_what_core_refuses(doc, value):
    try:
        limits.text(value, "message", maximum=limits.MESSAGE_MAX, minimum=0, strip=False)
        accepted = True
    except ValidationFailed:
        accepted = False
    assert _property(v2.POST_CREATE, "message", doc).is_valid(value) == accepted, repr(value)


def test_the_schemas_of_every_text_field_follow_cores_limits(doc):
    fields = [
        (v2.USER_CREATE, "display_name", limits.DISPLAY_NAME_MAX),
        (v2.CONSTELLATION_CREATE, "name", limits.NAME_MAX),
        (v2.SESSION_CREATE, "title", limits.TITLE_MAX),
        (v2.SESSION_CREATE, "description", limits.DESCRIPTION_MAX),
        (v2.SESSION_CREATE, "difficulty", limits.DIFFICULTY_MAX),
    ]
    for schema, name, maximum in fields:
        validator = _property(schema, name, doc)
        for value in ["x" * maximum, " x ", "x\ty"]:
            assert validator.is_valid(value), (name, value)
            limits.text(value, name, maximum=maximum)
        for value in ["x" * (maximum + 1), "", " \n ", "x\x00"]:
            assert not validator.is_valid(value), (name, value)
            with pytest.raises(ValidationFailed):
                limits.text(value, name, maximum=maximum)


def test_the_schemas_of_every_integer_field_follow_cores_limits(doc):
    fields = [
        (v2.CONSTELLATION_CREATE, "weight", 1, limits.WEIGHT_MAX),
        (v2.SESSION_CREATE, "minutes", 0, limits.MINUTES_MAX),
        (v2.POST_CREATE, "study_duration", 0, limits.STUDY_DURATION_MAX),
        (v2.ATTEMPT_CREATE, "user_id", 1, limits.ID_MAX),
    ]
    for schema, name, low, high in fields:
        validator = _property(schema, name, doc)
        for value in [low, high, float(low)]:
            assert validator.is_valid(value)
            assert limits.integer(value, name, minimum=low, maximum=high) == low or value == high
        for value in [low - 1, high + 1, True, 1.5, "1"]:
            assert not validator.is_valid(value), (name, value)
            with pytest.raises(ValidationFailed):
                limits.integer(value, name, minimum=low, maximum=high)


@settings(max_examples=300, deadline=None)
@given(token=st.from_regex(CURSOR_PATTERN, fullmatch=True))
def test_every_string_the_cursor_pattern_admits_is_a_cursor(token):
    cursor = Cursor.decode(token)
    assert 0 <= cursor.id <= limits.ID_MAX


@settings(max_examples=200, deadline=None)
@given(
    when=st.none() | st.datetimes(timezones=st.just(UTC)),
    id_=st.integers(min_value=1, max_value=limits.ID_MAX),
)
def test_every_cursor_matches_the_pattern_and_comes_back(when, id_):
    cursor = Cursor(when, id_)
    token = cursor.encode()
    assert re.fullmatch(CURSOR_PATTERN.strip("^$"), token), token
    assert Cursor.decode(token) == cursor


@settings(max_examples=200, deadline=None)
@given(token=st.text(max_size=40))
def test_strings_outside_the_cursor_pattern_are_refused(token):
    if re.fullmatch(CURSOR_PATTERN.strip("^$"), token):
        Cursor.decode(token)
    else:
        with pytest.raises(ValidationFailed):
            Cursor.decode(token)


def test_the_latest_cursor_stands_for_the_last_instant():
    assert Cursor.decode("999999999999999999_9999999999999999999") == Cursor(
        datetime.max.replace(tzinfo=UTC), limits.ID_MAX
    )


# ---------------------------------------------------------------- the explorer


def test_the_explorer_is_swagger_ui_served_from_installed_packages_with_nothing_from_elsewhere(client):
    for path in (f"{V2}/docs", f"{V2}/docs/"):
        page = client.simulate_get(path)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["cache-control"] == "no-store"
        assert "script-src 'self'" in page.headers["content-security-policy"]
    html = page.text
    assert 'data-url="/api/v2/openapi.json"' in html
    # Every script, style and icon comes from this server: no CDN, no inline script.
    urls = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert urls
    assert not [u for u in urls if not u.startswith(explorer.STATIC_PREFIX)]
    assert not re.search(r"https?://", html)
    assert re.findall(r"<script>", html) == []
    files = explorer.bundle().files
    served = {url.rsplit("/", 1)[1]: url for url in urls}
    assert set(served) == set(files)
    for name, url in served.items():
        answer = client.simulate_get(url)
        assert answer.status_code == 200, url
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert answer.headers["x-content-type-options"] == "nosniff"
        expected = {"js": "text/javascript", "css": "text/css", "png": "image/png"}[name.rsplit(".", 1)[1]]
        assert answer.headers["content-type"].split(";")[0] == expected
        own = name.startswith("explorer.")
        source = resources.files("luminary.http") / "assets" if own else swagger_ui.static_path
        assert answer.content == (source / name).read_bytes(), name
    # Swagger UI 5 or later: the first to render OpenAPI 3.1.
    version = re.search(rb'PACKAGE_VERSION:"(\d+)\.', files["swagger-ui-bundle.js"])
    assert version is not None
    assert int(version.group(1)) >= 5
    # The document tells "Try it out" to call this very server, with the bearer token of "Authorize".
    doc = client.simulate_get(f"{V2}/openapi.json").json
    assert doc["servers"] == [{"url": "/"}]
    scheme = doc["components"]["securitySchemes"]["bearerToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")


def test_only_the_explorers_files_are_served_and_under_their_tag(client):
    tag = explorer.bundle().tag
    for path in (
        f"{explorer.STATIC_PREFIX}{tag}/app.py",
        f"{explorer.STATIC_PREFIX}{tag}/..%2Fapp.py",
        f"{explorer.STATIC_PREFIX}{tag}/index.html",
        f"{explorer.STATIC_PREFIX}{tag}/swagger-ui.js",
        f"{explorer.STATIC_PREFIX}0000000000000000/swagger-ui-bundle.js",
        f"{explorer.STATIC_PREFIX}swagger-ui-bundle.js",
        f"{V2}/docs/docs.js",
    ):
        result = client.simulate_get(path)
        assert result.status_code == 404, path
        assert result.headers["cache-control"] == "no-store"
    # HEAD answers as GET does, without the body.
    head = client.simulate_head(f"{explorer.STATIC_PREFIX}{tag}/swagger-ui.css")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(explorer.bundle().files["swagger-ui.css"]))
