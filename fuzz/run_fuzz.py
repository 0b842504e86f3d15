"""Fuzz API v2 with Schemathesis: ``nox -s fuzz``. Exits non-zero on any failure.

1. Builds the app with ``create_app`` on a fresh store (in-memory by default, or
   the database of ``--database-url``, migrated first), seeded with the default
   constellations and a little of everything, so that small ids exist.
2. Serves it with waitress, under the settings of ``luminary serve``, on a free
   loopback port, in this process.
3. Runs ``st run`` against ``/api/v2/openapi.json`` with every check and every
   phase (examples, coverage, fuzzing, stateful), ``--max-examples`` test cases
   per operation and phase, a fixed seed by default.
4. Prints operations, test cases, failures and time, from Schemathesis's JSON
   report.

Arguments: ``nox -s fuzz -- --max-examples 100 --seed 7``. The default keeps a
run well under three minutes on a two-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import waitress.server

from luminary import core
from luminary.core.memory import InMemoryStore
from luminary.http.app import create_app
from luminary.http.server import SETTINGS

OPENAPI_PATH = "/api/v2/openapi.json"
#: The rules JSON Schema cannot state, taught to Schemathesis (see that file).
HOOKS = Path(__file__).resolve().with_name("hooks.py")


def store(database_url: str | None) -> Callable[[], core.UnitOfWork]:
    """A fresh unit-of-work factory: in memory, or over a migrated SQL database."""
    if database_url is None:
        return InMemoryStore().uow_factory()
    from luminary import sql

    sql.upgrade(database_url)
    engine = sql.make_engine(database_url)
    return lambda: sql.SqlAlchemyUnitOfWork(engine)


def seed(uow: Callable[[], core.UnitOfWork], clock: core.Clock) -> None:
    """The default constellations, two users, attempts, sessions and posts: ids 1 to 3 exist."""
    triangulum, delphinus, _ = (c.id for c in core.seed_constellations(uow(), clock=clock, actor=core.SYSTEM))
    ada = core.create_user(uow(), core.CreateUser("Ada"), clock=clock, actor=core.SYSTEM).id
    grace = core.create_user(uow(), core.CreateUser("Grace"), clock=clock, actor=core.SYSTEM).id
    a1 = core.start_attempt(uow(), core.StartAttempt(ada, triangulum), clock=clock, actor=core.SYSTEM).id
    core.start_attempt(uow(), core.StartAttempt(grace, delphinus), clock=clock, actor=core.SYSTEM)
    core.create_session(
        uow(), core.CreateSession(constellation_attempt_id=a1, minutes=25), clock=clock, actor=core.SYSTEM
    )
    core.create_session(
        uow(), core.CreateSession(title="Learn Falcon", status="in_progress"), clock=clock, actor=core.SYSTEM
    )
    done = core.create_session(
        uow(), core.CreateSession(constellation_attempt_id=a1, minutes=10), clock=clock, actor=core.SYSTEM
    )
    core.complete_session(uow(), done.id, clock=clock, actor=core.SYSTEM)
    core.create_post(
        uow(),
        core.CreatePost(user_id=ada, constellation_id=triangulum, post_type="progress"),
        clock=clock,
        actor=core.SYSTEM,
    )
    core.create_post(
        uow(),
        core.CreatePost(user_id=grace, constellation_id=delphinus, post_type="completion"),
        clock=clock,
        actor=core.SYSTEM,
    )


@contextmanager
def served(app: Any) -> Iterator[int]:
    """Serve ``app`` on a free loopback port in a background thread; yield the port."""
    server = waitress.server.create_server(app, host="127.0.0.1", port=0, threads=4, **SETTINGS)
    thread = threading.Thread(target=server.run, name="fuzz-server", daemon=True)
    thread.start()
    try:
        yield server.effective_port  # type: ignore[union-attr]
    finally:
        server.close()
        thread.join(timeout=10)


def schemathesis_command() -> list[str]:
    """The ``st`` console script of this interpreter's environment, or the one on PATH."""
    local = Path(sys.executable).with_name("st")
    if local.exists():
        return [str(local)]
    found = shutil.which("st")
    if found is None:
        raise SystemExit("schemathesis is not installed (pip install schemathesis)")
    return [found]


def run(port: int, args: argparse.Namespace, report: Path) -> int:
    """Run ``st run`` in the report's folder (Schemathesis keeps a cache where it runs)."""
    command = [
        *schemathesis_command(),
        "run",
        f"http://127.0.0.1:{port}{OPENAPI_PATH}",
        "--checks",
        "all",
        "--max-examples",
        str(args.max_examples),
        "--seed",
        str(args.seed),
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--request-timeout",
        "10",
        "--max-failures",
        "20",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--no-color",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS)}
    print("$ st " + " ".join(command[1:]), flush=True)
    try:
        done = subprocess.run(
            command, check=False, stdin=subprocess.DEVNULL, env=env, cwd=report.parent, timeout=args.timeout
        )
    except subprocess.TimeoutExpired:
        print(f"Schemathesis did not finish within {args.timeout} s", file=sys.stderr)
        return 124
    return done.returncode


def summarize(report: dict[str, Any], seconds: float) -> int:
    """Print the figures of the run; return how many failures and errors it found."""
    operations = report.get("operations") or {}
    cases = report["test_cases"]
    failures = sum(group["count"] for group in report["failures"])
    errors = sum(group["count"] for group in report["errors"])
    print()
    print("Fuzzing API v2")
    print(f"  operations  {operations.get('tested', 0)} tested of {operations.get('total', 0)}")
    print(f"  test cases  {cases['generated']} generated, {cases['with_failures']} with failures")
    print(f"  failures    {failures} ({cases['unique_failures']} unique), errors {errors}")
    print(f"  time        {seconds:.1f} s (Schemathesis: {report['running_time']:.1f} s)")
    for group in report["failures"]:
        print(f"    {group['title']}: {group['count']} in {', '.join(group['operations'])}")
    for group in report["errors"]:
        print(f"    error: {group['title']}: {group['count']}")
    return failures + errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=100, help="test cases per operation and phase")
    parser.add_argument("--seed", type=int, default=20251201, help="Schemathesis's random seed")
    parser.add_argument("--timeout", type=int, default=600, help="seconds before the run is stopped, failed")
    parser.add_argument("--database-url", help="fuzz over this (empty) SQL database instead of memory")
    args = parser.parse_args(argv)

    uow = store(args.database_url)
    clock = core.SystemClock()
    seed(uow, clock)
    app = create_app(uow, clock=clock)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, served(app) as port:
        report_path = Path(tmp) / "report.json"
        exit_code = run(port, args, report_path)
        if not report_path.exists():
            print(f"Schemathesis wrote no report (exit code {exit_code})", file=sys.stderr)
            return exit_code or 1
        report = json.loads(report_path.read_text(encoding="utf-8"))
    found = summarize(report, time.monotonic() - started)
    if found or exit_code:
        print(f"FAILED: {found} failures or errors, exit code {exit_code}")
        return 1
    print(f"OK at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    return 0


if __name__ == "__main__":
    sys.exit(main())
