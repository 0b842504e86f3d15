"""The storage contract kit, run on Luminary's own stores: in-memory, SQLite and PostgreSQL.

The kit (``luminary.core.testing``) is the behavioural suite of core's ports;
this file runs it exactly as a third party would, through classes that inherit
its contracts. ``uow_factory`` comes from conftest.py, parametrized over the
three backends (PostgreSQL when ``LUMINARY_TEST_POSTGRES_URL`` names a server).
"""

from __future__ import annotations

import inspect

import pytest

from luminary.core import testing
from luminary.core.testing import ConcurrencyContract, StorageContract


class TestStorage(StorageContract):
    """Every rule and repository test, on each backend."""


class TestConcurrency(ConcurrencyContract):
    """All three stores claim that no update is lost between threads."""


def _tests_of(contract: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(contract, inspect.isfunction) if name.startswith("test_")}


PARTS = [getattr(testing, name) for name in testing.__all__ if name.endswith("Contract")]


def test_the_whole_contract_is_every_part_but_concurrency():
    """A part left out of StorageContract, or a test of one part hiding another's, would go unnoticed."""
    parts = [part for part in PARTS if part not in (StorageContract, ConcurrencyContract)]
    assert set(StorageContract.__mro__) >= set(parts)
    own = [_tests_of(part) for part in parts]
    assert sum(len(names) for names in own) == len(_tests_of(StorageContract))
    assert ConcurrencyContract not in StorageContract.__mro__


@pytest.mark.parametrize("part", PARTS, ids=lambda part: part.__name__)
def test_each_part_is_documented_and_not_collected_on_its_own(part):
    assert part.__doc__
    assert not part.__name__.startswith("Test")  # pytest collects only the classes that run a part
    assert _tests_of(part)
