"""Fuzz API v2 with Schemathesis: ``nox -s fuzz``. Exits non-zero on any failure.

1. Builds the app with ``create_app`` on a fresh store (in-memory by default, or
   the database of ``--database-url``, migrated first), seeded with the default
   constellations and a little of everything, so that small ids exist, and an
   administrator whose user and token ids are far from them (see ``seed_admin``).
   Passwords are hashed with cheap scrypt parameters, so that fuzzing sign-up
   and sign-in stays fast.
2. Serves it with waitress, under the settings of ``luminary serve``, on a free
   loopback port, in this process.
3. Runs ``st run`` against ``/api/v2/openapi.json`` with every check and every
   phase (examples, coverage, fuzzing, stateful), ``--max-examples`` test cases
   per operation and phase, a fixed seed by default, every request carrying the
   administrator's token (``Authorization: Bearer …``, every scope).
4. Checks that the token still works (the fuzzer was never locked out), and
   prints operations, test cases, failures and time, from Schemathesis's JSON
   report.

Arguments: ``nox -s fuzz -- --max-examples 100 --seed 7``. The default, 50, runs
in about a minute on a two-core machine (5,065 test cases in 62 s, where 100
made 7,479 in 132 s: the coverage phase's cases do not depend on it); CI runs
the default, and a deeper search is one argument away.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from luminary import core
from luminary.core.memory import InMemoryStore
from luminary.http.app import create_app
from luminary.http.server import Limits, Service

OPENAPI_PATH = "/api/v2/openapi.json"
ME_PATH = "/api/v2/me"
#: Cheap scrypt parameters (those of the tests): the defaults take ~0.1 s a hash, and the
#: fuzzer signs up and signs in hundreds of times.
FAST_PASSWORDS = core.PasswordHasher(n=2**10, r=8, p=1)
ADMIN_LOGIN = "fuzz-admin"
#: How many ids the administrator's user and token skip: see ``seed_admin``.
SKIPPED_IDS = 2**12
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
    """The default constellations, two users, attempts, sessions, posts and tokens: ids 1 to 3 exist.

    Ada has a login and two tokens (ids 1 and 2), for the token operations to meet real
    ones, and a running timer (session 1); Grace has no login, as a user made through
    API v1, for ``PUT /users/{id}/login``.
    """
    triangulum, delphinus, _ = (c.id for c in core.seed_constellations(uow(), clock=clock, actor=core.SYSTEM))
    ada = core.create_user(uow(), core.CreateUser("Ada"), clock=clock, actor=core.SYSTEM).id
    grace = core.create_user(uow(), core.CreateUser("Grace"), clock=clock, actor=core.SYSTEM).id
    core.claim_account(
        uow(),
        ada,
        core.ClaimAccount(login="ada", password=secrets.token_urlsafe(16)),
        actor=core.SYSTEM,
        clock=clock,
        passwords=FAST_PASSWORDS,
    )
    for device in ("iPhone", "iPad"):
        core.issue_token(
            uow(), "ada", name=device, scopes=["read", "study", "social"], actor=core.SYSTEM, clock=clock
        )
    a1 = core.start_attempt(uow(), core.StartAttempt(ada, triangulum), clock=clock, actor=core.SYSTEM).id
    core.start_attempt(uow(), core.StartAttempt(grace, delphinus), clock=clock, actor=core.SYSTEM)
    timed = core.create_session(
        uow(), core.CreateSession(constellation_attempt_id=a1, minutes=25), clock=clock, actor=core.SYSTEM
    )
    # Ada's timer runs, so that pausing, resuming and stopping meet a real one.
    core.start_timer(uow(), timed.id, clock=clock, actor=core.SYSTEM)
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


@dataclass(frozen=True)
class Admin:
    """The account the fuzzer acts as: its ids, its password, and its token's secret."""

    user_id: int
    token_id: int
    password: str = field(repr=False)
    secret: str = field(repr=False)


def seed_admin(uow: Callable[[], core.UnitOfWork], clock: core.Clock) -> Admin:
    """An administrator and a token with every scope, both with ids past ``SKIPPED_IDS``.

    Every request of the fuzzer carries this token, and three operations could end its
    run: ``DELETE /api/v2/users/{user_id}`` (an administrator may delete anyone, themselves
    too), ``DELETE /api/v2/tokens/{token_id}``, and ``PUT /api/v2/me/password`` (which
    leaves tokens working). None of them is excluded from the run; instead:

    * Data keeps the administrator away from the ids the fuzzer draws at random:
      Hypothesis draws integers mostly in -256..256 and seldom past a few thousand, and
      the coverage phase tries the bounds (1, 2, and near 2**63); the seed data holds the
      small ids, the administrator's user and token come after ``SKIPPED_IDS`` ids.
    * Data alone is not enough: Schemathesis reuses the ids it reads in responses
      (``GET /api/v2/me``, ``GET /api/v2/users``, ``GET /api/v2/tokens`` all show the
      administrator's), and revoked the token within seconds in a trial run. So
      ``hooks.py``, told the two ids through the environment, drops the two test cases
      that would delete this very user or revoke this very token, and nothing else;
      ``main`` checks afterwards that the token still works.
    * ``hooks.py`` is told the password too, and puts it in the ``current_password``
      of positive ``PUT /api/v2/me/password`` cases (the rule "the password in force",
      which JSON Schema cannot state), following each change the fuzzer makes.

    The ids are skipped portably, through the repositories: filler rows are committed,
    the administrator is created after them, and the fillers are deleted again. Every
    store hands out ids that are never reused (the in-memory counters, PostgreSQL's
    sequences, SQLite's ``AUTOINCREMENT``), so the fuzzer's rows come after.
    """
    now = clock.now()
    with uow() as work:
        filler_users = [
            work.users.add(core.User(display_name="filler", created_at=now)).id for _ in range(SKIPPED_IDS)
        ]
        work.commit()
    password = secrets.token_urlsafe(24)
    admin = core.create_account(
        uow(),
        core.SignUp(display_name="Fuzz Admin", login=ADMIN_LOGIN, password=password),
        actor=core.SYSTEM,
        clock=clock,
        admin=True,
        passwords=FAST_PASSWORDS,
    )
    with uow() as work:
        filler_tokens = [
            work.tokens.add(
                core.Token(
                    user_id=admin.id, name="filler", scopes=frozenset(), digest=f"{i:064x}", created_at=now
                )
            ).id
            for i in range(SKIPPED_IDS)
        ]
        work.commit()
    issued = core.issue_token(
        uow(), ADMIN_LOGIN, name="fuzz", scopes=[s.value for s in core.Scope], actor=core.SYSTEM, clock=clock
    )
    with uow() as work:
        for token_id in filler_tokens:
            work.tokens.delete(token_id)
        for user_id in filler_users:
            work.users.delete(user_id)
        work.commit()
    if min(admin.id, issued.token.id) <= SKIPPED_IDS:
        raise RuntimeError(f"the store reused ids: user {admin.id}, token {issued.token.id}")
    print(f"Fuzzing as administrator {admin.id} with token {issued.token.id} (every scope)", flush=True)
    return Admin(admin.id, issued.token.id, password, issued.secret)


def still_signed_in(port: int, secret: str) -> bool:
    """Whether ``GET /api/v2/me`` still accepts the token: the fuzzer was not locked out."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{ME_PATH}", headers={"Authorization": f"Bearer {secret}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = json.load(answer)
    except urllib.error.HTTPError as exc:
        print(f"GET {ME_PATH} with the fuzzer's token answers {exc.code}: it was locked out", file=sys.stderr)
        return False
    return bool(body["data"]["login"] == ADMIN_LOGIN)


@contextmanager
def served(app: Any) -> Iterator[int]:
    """Serve ``app`` on a free loopback port in a background thread; yield the port."""
    service = Service(app, host="127.0.0.1", port=0, threads=4, limits=Limits())
    thread = threading.Thread(target=service.run, name="fuzz-server", daemon=True)
    thread.start()
    try:
        yield service.port
    finally:
        service.request_stop(signal.SIGTERM)  # the loop notices within a beat, and stops gracefully
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


def run(port: int, args: argparse.Namespace, report: Path, admin: Admin) -> int:
    """Run ``st run`` in the report's folder (Schemathesis keeps a cache where it runs)."""
    command = [
        *schemathesis_command(),
        "run",
        f"http://127.0.0.1:{port}{OPENAPI_PATH}",
        "--header",
        f"Authorization: Bearer {admin.secret}",
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
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": str(HOOKS),
        # What hooks.py needs to keep the fuzzer signed in (see seed_admin).
        "LUMINARY_FUZZ_USER_ID": str(admin.user_id),
        "LUMINARY_FUZZ_TOKEN_ID": str(admin.token_id),
        "LUMINARY_FUZZ_PASSWORD": admin.password,
    }
    shown = [c.replace(admin.secret, "<admin token>") for c in command[1:]]
    print("$ st " + " ".join(f"'{c}'" if " " in c else c for c in shown), flush=True)
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
    parser.add_argument("--max-examples", type=int, default=50, help="test cases per operation and phase")
    parser.add_argument("--seed", type=int, default=20251201, help="Schemathesis's random seed")
    parser.add_argument("--timeout", type=int, default=600, help="seconds before the run is stopped, failed")
    parser.add_argument("--database-url", help="fuzz over this (empty) SQL database instead of memory")
    args = parser.parse_args(argv)

    uow = store(args.database_url)
    clock = core.SystemClock()
    seed(uow, clock)
    admin = seed_admin(uow, clock)
    app = create_app(uow, clock=clock, passwords=FAST_PASSWORDS)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, served(app) as port:
        report_path = Path(tmp) / "report.json"
        exit_code = run(port, args, report_path, admin)
        signed_in = still_signed_in(port, admin.secret)
        if not report_path.exists():
            print(f"Schemathesis wrote no report (exit code {exit_code})", file=sys.stderr)
            return exit_code or 1
        report = json.loads(report_path.read_text(encoding="utf-8"))
    found = summarize(report, time.monotonic() - started)
    if found or exit_code or not signed_in:
        locked_out = "" if signed_in else ", the fuzzer's token was revoked on the way"
        print(f"FAILED: {found} failures or errors, exit code {exit_code}{locked_out}")
        return 1
    print(f"OK at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    return 0


if __name__ == "__main__":
    sys.exit(main())
