"""Fixtures shared by the whole suite.

``uow_factory`` is the heart of it: a function making units of work over one
fresh, empty store, parametrized over every implementation of core's ports.
Tests written against it run on in-memory, SQLite and PostgreSQL alike; the
storage contract kit (``luminary.core.testing``, run by test_storage_contract.py)
is made of such tests.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from luminary.core import ManualClock, UnitOfWork
from luminary.core.memory import InMemoryStore
from luminary.core.testing.support import new_clock

UowFactory = Callable[[], UnitOfWork]

BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def postgres_url() -> str | None:
    """The PostgreSQL server tests may use; its absence fails the run in CI."""
    url = os.environ.get("LUMINARY_TEST_POSTGRES_URL")
    if not url and os.environ.get("CI", "").lower() == "true":
        pytest.fail("LUMINARY_TEST_POSTGRES_URL must be set when CI=true", pytrace=False)
    return url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The name of the storage implementation under test."""
    name: str = request.param
    return name


@pytest.fixture
def uow_factory(backend: str, request: pytest.FixtureRequest) -> Iterator[UowFactory]:
    """Make units of work over one empty store of the backend under test."""
    if backend == "memory":
        yield InMemoryStore().uow_factory()
        return
    sql_fixtures = pytest.importorskip("sql_fixtures", reason="luminary-sql is not installed")
    yield from sql_fixtures.sql_uow_factory(backend, request)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The v1 suites run in both modes in memory, and open only on SQLite and PostgreSQL.

    The two modes differ in the HTTP layer and core, never in storage: a SQL backend's
    token-mode run would repeat its open-mode run (PostgreSQL's at a fifth of the suite's
    time, SQLite's at 345 tests and 25 s). Token lookups in SQL stay covered by the
    authorization matrix (every backend) and the end-to-end tests of accounts.
    """
    kept, dropped = [], []
    for item in items:
        params = getattr(item, "callspec", None)
        sql = params is not None and params.params.get("backend") in ("sqlite", "postgres")
        (dropped if sql and params.params.get("v1_mode") == "token" else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(params=["open", "token"])
def v1_mode(request: pytest.FixtureRequest) -> str:
    """How API v1 is served: ``open`` (the published app's way) or ``token``, where the
    world's client sends its administrator's token (so the same v1 suite runs both ways)."""
    mode: str = request.param
    return mode


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves one millisecond at each reading, so timestamps differ."""
    return new_clock()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database for a real ``luminary serve``: a SQLite file, or a throwaway
    PostgreSQL database when ``LUMINARY_TEST_POSTGRES_URL`` names a server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'served.db'}"
        return
    url = postgres_url()
    if not url:
        pytest.skip("LUMINARY_TEST_POSTGRES_URL is not set")
    from served import postgres_database

    with postgres_database(url) as database:
        yield database
