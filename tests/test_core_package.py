"""The package as others see it: its imports, its README, its in-memory store under threads."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from luminary import core
from luminary.core import Cursor, InMemoryStore, ManualClock, PageRequest, ValidationFailed

ROOT = Path(__file__).resolve().parents[1]


def test_importing_core_loads_no_adapter_framework():
    code = (
        "import json, sys; import luminary.core, luminary.core.memory; "
        "print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    loaded = set(
        json.loads(
            subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
        )
    )
    assert "luminary" in loaded  # the probe did import the package
    assert not loaded & {"sqlalchemy", "alembic", "psycopg", "falcon", "waitress", "cattrs"}


def test_the_readme_example_runs():
    readme = ROOT / "packages" / "luminary-core" / "README.md"
    result = doctest.testfile(str(readme), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 10
    assert result.failed == 0


def test_luminary_is_a_namespace_package():
    import luminary

    assert getattr(luminary, "__file__", None) is None
    assert core.__version__


def test_cursor_round_trip():
    from datetime import UTC, datetime

    for cursor in (Cursor(None, 5), Cursor(datetime(2025, 1, 2, 3, 4, 5, 6789, tzinfo=UTC), 9)):
        assert Cursor.decode(cursor.encode()) == cursor
    with pytest.raises(ValidationFailed):
        Cursor.decode("!!!")
    assert PageRequest.of(limit=3, cursor=Cursor(None, 2).encode()).after == Cursor(None, 2)


def test_in_memory_store_is_safe_to_share_between_threads():
    store = InMemoryStore()
    clock = ManualClock()
    uow = store.unit_of_work()
    core.create_constellation(uow, core.CreateConstellation("Big", 1000), clock=clock, actor=core.SYSTEM)
    user = core.create_user(uow, core.CreateUser("Ada"), clock=clock, actor=core.SYSTEM)
    attempt = core.start_attempt(uow, core.StartAttempt(user.id, 1), clock=clock, actor=core.SYSTEM)
    errors: list[BaseException] = []

    def work() -> None:
        mine = store.unit_of_work()
        try:
            for _ in range(100):
                core.add_star(mine, attempt.id, clock=clock, actor=core.SYSTEM)
                s = core.create_session(
                    mine,
                    core.CreateSession(user_id=user.id, title="t", minutes=2),
                    clock=clock,
                    actor=core.SYSTEM,
                )
                core.complete_session(mine, s.id, clock=clock, actor=core.SYSTEM)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert core.get_attempt(uow, attempt.id, actor=core.SYSTEM).stars_completed == 800
    assert core.get_user(uow, user.id, actor=core.SYSTEM).total_minutes == 8 * 100 * 2
