"""JSON in and out: the standard library reads requests, orjson writes answers."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

import falcon.media
import orjson


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two values for one member: which one counts would be anybody's guess (the
    # standard library keeps the last, other parsers the first), so neither does.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        counts = Counter(key for key, _ in pairs)
        twice = sorted(key for key, count in counts.items() if count > 1)
        raise ValueError("duplicate member " + ", ".join(json.dumps(key) for key in twice))
    return obj


def _loads(text: str) -> Any:
    # Falcon turns ValueError into 400; deep nesting, NaN/Infinity and duplicate members must be 400s too.
    try:
        return json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _isoformat(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj)
    except TypeError:
        # Text orjson refuses (a lone surrogate echoed back in an error, say):
        # the standard library escapes it instead.
        return json.dumps(obj, separators=(",", ":"), default=_isoformat).encode()


def json_handler() -> falcon.media.JSONHandler:
    # orjson writes the answers: encoding was the largest single cost of a feed page.
    # Requests are read by the standard library, whose errors are kinder to clients.
    return falcon.media.JSONHandler(dumps=dumps, loads=_loads)
