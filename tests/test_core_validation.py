"""Bad input gets a domain error naming the field, and changes nothing."""

from __future__ import annotations

import pytest

from luminary import core
from luminary.core import ValidationFailed


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"limit": True}, "limit"),
        ({"limit": "10"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"cursor": "not a cursor"}, "cursor"),
        ({"cursor": 5}, "cursor"),
        ({"cursor": "W10"}, "cursor"),
    ],
)
def test_page_requests_are_bounded(raw, field):
    with pytest.raises(ValidationFailed) as caught:
        core.PageRequest.of(**raw)
    assert caught.value.errors[0].field == field


def test_page_request_respects_a_lower_cap():
    assert core.PageRequest.of(limit=100, max_limit=100).limit == 100
    with pytest.raises(ValidationFailed):
        core.PageRequest.of(limit=101, max_limit=100)
