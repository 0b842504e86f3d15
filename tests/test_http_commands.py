"""Request bodies into commands: what each API's reader accepts, against what v2 publishes.

v2's request schemas are derived from core's command classes; the property
below shows that v2's reader accepts exactly the bodies the published schema
accepts, for every operation that takes a body. v1's reader is core's own
leniency: unknown members ignored, ``null`` read as core reads it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from luminary import core
from luminary.core import ValidationFailed, commands
from luminary.core import validation as limits
from luminary.http import v2
from luminary.http.commands import V1_BODIES, V2_BODIES

BODY_OPERATIONS = [op for op in v2.OPERATIONS if op.command is not None]


def accepts(reader: Any, body: dict[str, Any], cls: type) -> bool:
    try:
        reader.read(body, cls)
    except ValidationFailed:
        return False
    return True


def _timestamps() -> st.SearchStrategy[str]:
    # Years 2 to 9998: an offset cannot push the instant out of Python's datetime range.
    moments = st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31))
    offsets = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-9, minutes=-30))])
    aware = st.builds(lambda m, tz: m.replace(tzinfo=tz), moments, offsets)
    return st.one_of(
        aware.map(lambda d: d.isoformat()),  # RFC 3339
        aware.map(lambda d: d.isoformat().replace("+00:00", "Z")),
        moments.map(lambda d: d.isoformat()),  # no offset: ISO-8601, not RFC 3339
        aware.map(lambda d: d.isoformat(sep=" ")),  # a space for the T
        aware.map(lambda d: d.date().isoformat()),
    )


def _values(rule: limits.Rule) -> st.SearchStrategy[Any]:
    """Values near what ``rule`` accepts, and a little of everything else."""
    floats = st.floats(allow_nan=False, allow_infinity=False)
    anything = st.one_of(st.none(), st.booleans(), floats, st.text())
    if isinstance(rule, limits.Text):
        edges = st.sampled_from(["", " ", "\t x \n", "x\x00y", "x" * rule.maximum, "x" * (rule.maximum + 1)])
        return st.one_of(anything, edges, st.text(max_size=20))
    if isinstance(rule, limits.Integer | limits.Identifier):
        # Ids out of 1..2**63-1 are the one difference, tested on their own below.
        low, high = (rule.minimum, rule.maximum)
        near = st.integers(low - 2, low + 2) | st.integers(high - 2, high + 2)
        if isinstance(rule, limits.Identifier):
            near = near.filter(lambda n: low <= n <= high)
        return st.one_of(anything, near, near.map(float), st.integers(low, high))
    if isinstance(rule, limits.Choice):
        return st.one_of(anything, st.sampled_from([m.value for m in rule.enum_type]))
    return st.one_of(anything, _timestamps())


def _bodies(cls: type) -> st.SearchStrategy[dict[str, Any]]:
    fields = {f.name: _values(commands.spec_of(f).rule) for f in attrs.fields(cls)}
    known = st.fixed_dictionaries({}, optional=fields)
    unknown = st.dictionaries(st.sampled_from(["titel", "id", "is_completed", ""]), st.integers(), max_size=1)
    return st.builds(lambda a, b: {**a, **b}, known, unknown)


@pytest.mark.parametrize("op", BODY_OPERATIONS, ids=lambda op: op.operation_id)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_v2_reads_exactly_the_bodies_its_schema_accepts(op, data):
    assert op.command is not None
    body = data.draw(_bodies(op.command))
    validator = Draft202012Validator(op.body, format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert accepts(V2_BODIES, body, op.command) == validator.is_valid(body), body


def test_an_id_out_of_range_is_read_and_finds_nothing():
    """The one difference: the schema publishes the ids that can exist; others are read, then not found."""
    schema = v2.ATTEMPT_CREATE
    for user_id in (0, -1, 2**63, 10**30):
        body = {"user_id": user_id, "constellation_id": 1}
        assert not Draft202012Validator(schema).is_valid(body)
        assert V2_BODIES.read(body, core.StartAttempt) == core.StartAttempt(0, 1)  # id 0: nobody


def test_the_schemas_are_derived_from_the_commands():
    assert v2.SESSION_CREATE["required"] == ["title"]  # v2 requires a title; core takes an attempt instead
    assert "required" not in v2.SESSION_PATCH
    assert v2.SESSION_PATCH["properties"]["description"]["type"] == ["string", "null"]
    assert v2.SESSION_PATCH["properties"]["title"]["type"] == "string"
    assert v2.POST_CREATE["properties"]["study_duration"]["maximum"] == limits.STUDY_DURATION_MAX
    assert v2.USER_CREATE["properties"]["display_name"]["maxLength"] == limits.DISPLAY_NAME_MAX
    assert {op.operation_id: op.command for op in BODY_OPERATIONS} == {
        "createUser": core.CreateUser,
        "updateUser": core.UserPatch,
        "createConstellation": core.CreateConstellation,
        "updateConstellation": core.ConstellationPatch,
        "startAttempt": core.StartAttempt,
        "createSession": core.CreateSession,
        "updateSession": core.SessionPatch,
        "createPost": core.CreatePost,
        "signUp": core.SignUp,
        "changePassword": core.ChangePassword,
        "createToken": core.CreateToken,
        "claimUser": core.ClaimAccount,
        "createGoal": core.CreateGoal,
    }


V1_AND_V2 = [
    # body, v1 reads, v2 reads (None: refused, with the failing fields)
    ({"display_name": "Ada", "nickname": "A"}, core.CreateUser, core.CreateUser("Ada"), {"nickname"}),
    ({"title": None, "constellation_attempt_id": 1}, core.CreateSession, "ok", {"title"}),
    ({"title": "t", "status": None}, core.CreateSession, "ok", {"status"}),
    ({"title": "t", "started_at": "2025-12-01 10:00:00"}, core.CreateSession, "ok", {"started_at"}),
    ({"constellation_attempt_id": 1}, core.CreateSession, "ok", {"title"}),
]


@pytest.mark.parametrize(("body", "cls", "v1", "v2_failing"), V1_AND_V2)
def test_one_reader_per_api_decides_its_leniency(body, cls, v1, v2_failing):
    command = V1_BODIES.read(body, cls)
    if v1 != "ok":
        assert command == v1
    with pytest.raises(ValidationFailed) as caught:
        V2_BODIES.read(body, cls)
    assert {e.field for e in caught.value.errors} == v2_failing


def test_every_failing_member_is_named_unknown_ones_first():
    body = {"title": "", "minutes": 5000, "zz": 1, "aa": 2}
    with pytest.raises(ValidationFailed) as caught:
        V2_BODIES.read(body, core.CreateSession)
    assert [(e.field, e.message) for e in caught.value.errors] == [
        ("aa", "is not a known field"),
        ("zz", "is not a known field"),
        ("title", "must not be empty"),
        ("minutes", "must be between 0 and 1440"),
    ]
    with pytest.raises(ValidationFailed) as caught:
        V1_BODIES.read(body, core.CreateSession)
    assert [e.field for e in caught.value.errors] == ["title", "minutes"]


def test_a_patch_tells_absent_from_null():
    patch = V1_BODIES.read({"description": None}, core.SessionPatch)
    assert core.commands.changes(patch) == {"description": None}
    assert V2_BODIES.read({}, core.SessionPatch) == core.SessionPatch()
    assert core.commands.changes(core.SessionPatch()) == {}
