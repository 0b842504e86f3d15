"""Hostile input: a fixed table of malformed, oversized and pathological requests.

Each is sent to API v2, and to v1 where it applies. Each must be answered with
its 4xx, in the error shape of its API, never a 5xx, and change nothing in the
store (snapshots before and after).
"""

from __future__ import annotations

import json

import attrs
import pytest

from http_v1_support import V1World, error_of
from http_v2_support import problem_of, send
from luminary.http.requests import MAX_BODY

BIG = 10**30


@pytest.fixture
def world(uow_factory, clock) -> V1World:
    # Hostile input is read the same whether v1 needs a token or not: one mode, the stricter.
    return V1World.build(uow_factory, clock, v1_mode="token")


# The writes the table aims at: (v2 method and path, v1 method and path).
TARGETS = {
    "user": (("POST", "/api/v2/users"), ("POST", "/api/users/")),
    "constellation": (("POST", "/api/v2/constellations"), ("POST", "/api/constellations/")),
    "reweigh": (
        ("PATCH", "/api/v2/constellations/{big_dipper}"),
        ("PUT", "/api/constellations/{big_dipper}/"),
    ),
    "attempt": (("POST", "/api/v2/attempts"), ("POST", "/api/users/{ada}/constellation_attempts/")),
    "session": (("POST", "/api/v2/sessions"), ("POST", "/api/sessions/")),
    "edit": (("PATCH", "/api/v2/sessions/{s1}"), ("PATCH", "/api/sessions/{s1}/")),
    "post": (("POST", "/api/v2/posts"), ("POST", "/api/posts/")),
}


@attrs.frozen
class Body:
    """A raw body sent to a target, and the status each API answers (``None``: not sent to v1)."""

    label: str
    target: str
    raw: str | bytes
    v2: int
    v1: int | None
    content_type: str = "application/json"


def _json(value: object) -> str:
    return json.dumps(value)


NESTED_ARRAY = "[" * 10_000 + "]" * 10_000
NESTED_OBJECT = '{"a":' * 10_000 + "1" + "}" * 10_000
TOO_BIG = json.dumps({"display_name": "Ada", "pad": "x" * MAX_BODY})

BODIES = [
    # ids far beyond any stored id, in bodies
    Body("huge user_id", "attempt", _json({"user_id": BIG, "constellation_id": 1}), 404, None),
    Body("huge constellation_id", "attempt", _json({"user_id": 1, "constellation_id": BIG}), 404, None),
    Body("huge v1 constellation_id", "attempt", _json({"constellation_id": BIG}), 400, 404),
    Body("huge attempt id", "session", _json({"title": "t", "constellation_attempt_id": BIG}), 404, 404),
    Body(
        "huge post user",
        "post",
        _json({"user_id": BIG, "constellation_id": 1, "post_type": "progress"}),
        404,
        404,
    ),
    Body("negative id", "attempt", '{"user_id": -1, "constellation_id": 1}', 404, None),
    Body("id of 2**63", "session", _json({"title": "t", "user_id": 2**63}), 404, 404),
    Body("an id of 5000 digits", "session", '{"title": "t", "user_id": 1' + "0" * 5000 + "}", 400, 400),
    # nesting
    Body("array nested 10,000 deep", "user", NESTED_ARRAY, 400, 400),
    Body("object nested 10,000 deep", "user", NESTED_OBJECT, 400, 400),
    Body("a field nested 10,000 deep", "session", '{"title": ' + NESTED_ARRAY + "}", 400, 400),
    # lone surrogates, as raw JSON escapes
    Body("lone surrogate in a name", "user", r'{"display_name": "\ud800"}', 400, 400),
    Body("lone low surrogate in a title", "session", r'{"title": "ok \udfff ok"}', 400, 400),
    Body(
        "lone surrogate in a message",
        "post",
        r'{"user_id": 1, "constellation_id": 1, "post_type": "progress", "message": "\ud83d"}',
        400,
        400,
    ),
    Body("lone surrogate as a key", "user", r'{"display_name": "Ada", "\ud800": 1}', 400, None),
    Body("lone surrogate in an edit", "edit", r'{"description": "\udc00"}', 400, 400),
    # booleans, huge and non-finite numbers
    Body("true for a weight", "constellation", '{"name": "x", "weight": true}', 400, 400),
    Body("false for minutes", "session", '{"title": "t", "minutes": false}', 400, 400),
    Body("true for an id", "attempt", '{"user_id": true, "constellation_id": 1}', 400, None),
    Body("1e400 for a weight", "constellation", '{"name": "x", "weight": 1e400}', 400, 400),
    Body("-1e400 for minutes", "edit", '{"minutes": -1e400}', 400, 400),
    Body(
        "1e400 for an id",
        "post",
        '{"user_id": 1e400, "constellation_id": 1, "post_type": "progress"}',
        400,
        400,
    ),
    Body("1e300 for a weight", "reweigh", '{"weight": 1e300}', 400, 400),
    Body("NaN", "constellation", '{"name": "x", "weight": NaN}', 400, 400),
    Body("Infinity", "edit", '{"minutes": Infinity}', 400, 400),
    Body("-Infinity", "reweigh", '{"weight": -Infinity}', 400, 400),
    Body(
        "a weight of 5000 digits", "constellation", '{"name": "x", "weight": 1' + "0" * 5000 + "}", 400, 400
    ),
    # control characters
    Body("NUL in a name", "user", _json({"display_name": "Ada\x00"}), 400, 400),
    Body("escape sequence in a title", "session", _json({"title": "\x1b[31mred"}), 400, 400),
    Body("control character at the edge", "user", _json({"display_name": "\x1fAda\x0b"}), 400, 400),
    Body("DEL in a difficulty", "edit", _json({"difficulty": "hard\x7f"}), 400, 400),
    Body("control characters in a key", "user", _json({"display_name": "Ada", "x\x00\x1b": 1}), 400, None),
    # size
    Body("64 KiB + 1", "user", TOO_BIG[: MAX_BODY + 1], 413, 413),
    Body("64 KiB + 1 of spaces", "edit", " " * (MAX_BODY + 1), 413, 413),
    Body("a name of 60,000 characters", "user", _json({"display_name": "x" * 60_000}), 400, 400),
    # not JSON, not an object
    Body("text/plain", "user", "display_name=Ada", 415, 415, "text/plain"),
    Body("a form", "session", "title=Learn", 415, 415, "application/x-www-form-urlencoded"),
    Body("multipart", "post", "--x\r\n\r\n--x--", 415, 415, "multipart/form-data; boundary=x"),
    Body("XML", "constellation", "<name>x</name>", 415, 415, "application/xml"),
    Body(
        "JSON-like vendor type", "user", '{"display_name": "Ada"}', 415, 415, "application/vnd.luminary+json"
    ),
    Body("empty body", "user", "", 400, 400),
    Body("empty body to edit", "edit", "", 400, None),
    Body("a JSON array", "user", '[{"display_name": "Ada"}]', 400, 400),
    Body("a JSON string", "session", '"Learn Flask"', 400, 400),
    Body("null", "edit", "null", 400, 400),
    Body("invalid UTF-8", "user", b'{"display_name": "\xff\xfe"}', 400, 400),
    Body("truncated JSON", "post", '{"user_id": 1, ', 400, 400),
    Body("single quotes", "user", "{'display_name': 'Ada'}", 400, 400),
    Body("a member given twice", "user", '{"display_name": "Ada", "display_name": "Eve"}', 400, 400),
    Body("a member twice, deeper", "edit", '{"title": "t", "minutes": 5, "minutes": 500}', 400, 400),
    Body("no Content-Type", "user", '{"display_name": "Ada"}', 415, 415, ""),
    # names that show nothing
    Body("a zero-width space for a name", "user", _json({"display_name": "\u200b"}), 400, 400),
    Body("a bidi override for a title", "session", _json({"title": "\u202e"}), 400, 400),
    Body("zero-width joiners and spaces", "edit", _json({"title": " \u200d\u200c\ufeff "}), 400, 400),
    Body("a Hangul filler for a name", "constellation", _json({"name": "\u3164", "weight": 3}), 400, 400),
]


def _sent(world: V1World, method: str, path: str, body: Body):
    if not body.content_type:
        return world.client.simulate_request(method, path.format(**world.ids), body=body.raw)
    return send(world, method, path, raw=body.raw, content_type=body.content_type)


@pytest.mark.parametrize("body", BODIES, ids=lambda b: b.label)
def test_hostile_bodies_on_v2_are_4xx_problems_and_change_nothing(world, body):
    method, path = TARGETS[body.target][0]
    with world.unchanged():
        result = _sent(world, method, path, body)
    problem_of(result, body.v2)


@pytest.mark.parametrize("body", [b for b in BODIES if b.v1 is not None], ids=lambda b: b.label)
def test_hostile_bodies_on_v1_are_4xx_errors_and_change_nothing(world, body):
    method, path = TARGETS[body.target][1]
    assert body.v1 is not None
    with world.unchanged():
        result = _sent(world, method, path, body)
    error_of(result, body.v1)


# Requests whose hostility is in the path or the query: (label, method, v2 path, v1 path, status);
# the writes among them send a valid body.
PATHS = [
    ("huge user id", "GET", f"/api/v2/users/{BIG}", f"/api/users/{BIG}/", 404),
    ("huge user id, delete", "DELETE", f"/api/v2/users/{BIG}", f"/api/users/{BIG}/", 404),
    ("huge session id, edit", "PATCH", f"/api/v2/sessions/{BIG}", f"/api/sessions/{BIG}/", 404),
    ("huge attempt id, star", "POST", f"/api/v2/attempts/{BIG}/stars", None, 404),
    ("huge attempt id, v1 star", "PUT", None, f"/api/constellation_attempts/{BIG}/", 404),
    ("huge session id, complete", "POST", f"/api/v2/sessions/{BIG}/complete", None, 404),
    ("huge session id, v1 complete", "PUT", None, f"/api/sessions/{BIG}/complete", 404),
    ("huge id in a list", "GET", f"/api/v2/users/{BIG}/sessions", f"/api/users/{BIG}/posts/", 404),
    ("id of 2**63", "GET", f"/api/v2/posts/{2**63}", f"/api/posts/{2**63}/", 404),
    ("an id of 5000 digits", "GET", "/api/v2/users/1" + "0" * 5000, "/api/users/1" + "0" * 5000, 404),
    ("negative id", "GET", "/api/v2/constellations/-1", "/api/constellations/-1/", 404),
    ("NUL in the path", "GET", "/api/v2/users/1%00", "/api/users/1%00/", 404),
    # ids spelt another way than the one way ids are written (int() takes them all)
    ("id with a plus sign", "GET", "/api/v2/users/+{ada}", "/api/users/+{ada}/", 404),
    ("id with leading zeros", "DELETE", "/api/v2/users/0000{ada}", "/api/users/0000{ada}/", 404),
    ("fullwidth digits", "DELETE", "/api/v2/users/%EF%BC%91", "/api/users/%EF%BC%91/", 404),
    ("Arabic-Indic digit", "GET", "/api/v2/posts/%D9%A1", "/api/posts/%D9%A1/", 404),
    ("id with an underscore", "DELETE", "/api/v2/sessions/{s1}_0", "/api/sessions/{s1}_0/", 404),
    ("id with spaces", "GET", "/api/v2/users/%20{ada}", "/api/users/%20{ada}/", 404),
    ("huge limit", "GET", f"/api/v2/users?limit={BIG}", f"/api/users/?limit={BIG}", 400),
    (
        "limit of 5000 digits",
        "GET",
        "/api/v2/feed?limit=" + "9" * 5000,
        "/api/feed/?limit=" + "9" * 5000,
        400,
    ),
    ("negative limit", "GET", "/api/v2/sessions?limit=-1", "/api/sessions/?limit=-1", 400),
    ("limit with a NUL", "GET", "/api/v2/posts?limit=1%00", "/api/posts/?limit=1%00", 400),
    ("huge offset", "GET", None, f"/api/constellations/?offset={BIG}", 400),
    ("garbage cursor", "GET", "/api/v2/users?cursor=%FF%FE", None, 400),
    ("cursor with a huge id", "GET", f"/api/v2/users?cursor={BIG}", None, 400),
    ("cursor of 10,000 characters", "GET", "/api/v2/sessions?cursor=" + "1" * 10_000, None, 400),
    ("a misspelt parameter", "GET", "/api/v2/users?limt=5", None, 400),
    ("a parameter where none is taken", "DELETE", "/api/v2/sessions/{s1}?force=true", None, 400),
    ("paging where there is none", "GET", "/api/v2/me/stats?limit=5", None, 400),
    ("a blank parameter", "GET", "/api/v2/feed?x", None, 400),
]


def _request(world: V1World, method: str, path: str):
    return send(world, method, path, {"title": "x"}) if method == "PATCH" else send(world, method, path)


@pytest.mark.parametrize(
    ("label", "method", "v2_path", "v1_path", "status"), PATHS, ids=lambda v: str(v)[:40]
)
def test_hostile_paths_and_queries_are_4xx_and_change_nothing(world, label, method, v2_path, v1_path, status):
    with world.unchanged():
        if v2_path is not None:
            problem_of(_request(world, method, v2_path), status)
        if v1_path is not None:
            error_of(_request(world, method, v1_path), status)


def test_the_whole_table_in_one_go_changes_nothing_and_never_fails_the_server(world):
    before = world.snapshot()
    statuses = []
    for body in BODIES:
        for api, (method, path) in enumerate(TARGETS[body.target]):
            if api == 1 and body.v1 is None:
                continue
            statuses.append(_sent(world, method, path, body).status_code)
    for _, method, v2_path, v1_path, _ in PATHS:
        for path in (v2_path, v1_path):
            if path is not None:
                statuses.append(_request(world, method, path).status_code)
    assert world.snapshot() == before
    assert all(400 <= status < 500 for status in statuses), statuses
    # The server is still well: a plain request works.
    assert send(world, "GET", "/api/v2/users").status_code == 200
