"""Durability under ``kill -9``: is every write the server acknowledged still there, whole, after a crash?

Usage::

    python benchmarks/crash_loop.py --database sqlite --cycles 30
    python benchmarks/crash_loop.py --database postgres --cycles 10 [--postgres-url URL]
    python benchmarks/crash_loop.py --database sqlite --cycles 5 --clients 4 --seconds 2 --seed 7

One database for the whole run: a SQLite file in a temporary directory, or a
PostgreSQL database created for the run on the server of ``--postgres-url``
(default: ``$LUMINARY_TEST_POSTGRES_URL``'s server, else
``postgresql://postgres@127.0.0.1:5432/postgres``) and dropped at the end. The
real ``luminary serve --no-seed`` serves it on a free loopback port (from the
installed ``luminary`` command beside this interpreter). Each cycle:

1. Setup (acknowledged writes like any other): a new attempt for the shared
   "hot" user on a constellation of 1000 stars (the user and the constellation
   are made once, in the first cycle).
2. ``--clients`` threads, each on its own keep-alive connection, write through
   API v1 for a random 20-100 % of ``--seconds``: they create users
   (``POST /api/users/``), start attempts (``POST
   /api/users/{id}/constellation_attempts/``: an attempt row and the user's
   current attempt), add stars (``PUT /api/constellation_attempts/{id}/``, on
   their own attempts and, concurrently, on the hot user's), log sessions
   (``POST /api/sessions/``), complete them (``PUT …/complete``: the session
   and its user's ``total_minutes``, concurrently on the hot user too) and
   cancel completed ones (``PUT …/cancel``: the minutes are taken back). Every
   2xx answer is an acknowledged write, recorded with the id and result the
   server sent.
3. The server is killed with SIGKILL while the clients are writing. A client
   whose request fails stops; that request is "in flight": it may or may not
   have happened, but must be whole if it did.
4. The server is started again on the same database, and the whole database
   is read back (``GET /api/users/``, ``GET /api/constellation_attempts/``,
   ``GET /api/sessions/``) and compared with every write acknowledged since
   the run began, earlier cycles' included:

   - **lost**: an acknowledged write whose effect is missing: a user, attempt
     or session that is not there, fewer stars than were acknowledged, a
     completion or cancellation undone;
   - **inconsistent** (counted once per record): a wrong name, owner or
     minutes; more stars than acknowledged plus in-flight; a user whose
     ``total_minutes`` is not the sum of the minutes of their completed
     sessions, or (without in-flight completions) not the sum of the
     acknowledged ones; a current attempt that is not the last one started;
     a record no request (acknowledged or in flight) accounts for; two
     acknowledged stars answered with the same count (a lost update).

   What was found becomes the reference for the next cycle, so a problem is
   counted once, in the cycle that shows it.

It prints a line per cycle and the totals (cycles, acknowledged writes, lost,
inconsistent, writes/s, in-flight writes found applied or absent, time), and
exits 1 if anything acknowledged was lost or anything is inconsistent. Error
answers or connection failures before the kill are printed as warnings: they
are not durability failures, but they are not expected either.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HOT_WEIGHT = 1000
OWN_WEIGHT = 1000
START_TIMEOUT = 60.0

# ---------------------------------------------------------------- the server


class Server:
    """A ``luminary serve`` process on a free loopback port; killed only with SIGKILL."""

    def __init__(self, database_url: str, workdir: Path, threads: int | None) -> None:
        script = Path(sys.executable).with_name("luminary")
        if not script.exists():
            raise SystemExit(f"no luminary command beside {sys.executable}: install the packages first")
        # The server reads its database from the command line only: no .env, no environment.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("LUMINARY_DATABASE", "DATABASE_URL", "POSTGRES_"))
        }
        command = [str(script), "serve", "--no-seed", "--port", "0", "--database-url", database_url]
        if threads is not None:
            command += ["--threads", str(threads)]
        started = time.monotonic()
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=workdir,
            env=env,
        )
        self.output: collections.deque[str] = collections.deque(maxlen=200)
        port = None
        assert self.process.stdout is not None
        timer = threading.Timer(START_TIMEOUT, self.process.kill)
        timer.start()
        try:
            while port is None:
                line = self.process.stdout.readline()
                if not line:
                    self.process.kill()
                    self.process.wait()
                    raise RuntimeError("luminary serve did not start:\n" + "".join(self.output))
                self.output.append(line)
                found = re.search(r"Serving Luminary on http://[^:]+:(\d+)", line)
                if found:
                    port = int(found.group(1))
        finally:
            timer.cancel()
        self.port = port
        self.start_seconds = time.monotonic() - started
        # Keep draining the output (the access log) so the server never blocks on it.
        self.drain = threading.Thread(target=self._drain, daemon=True)
        self.drain.start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def kill(self) -> None:
        """SIGKILL, never SIGTERM: no handler runs, nothing is flushed or rolled back by the server."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.drain.join(timeout=5)


def request(port: int, method: str, path: str, body: Any = None, timeout: float = 120) -> tuple[int, Any]:
    """One request on a new connection (lists may be chunked, and then the server closes it)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        return exchange(connection, method, path, body)
    finally:
        connection.close()


def exchange(connection: http.client.HTTPConnection, method: str, path: str, body: Any) -> tuple[int, Any]:
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    connection.request(method, path, body=data, headers=headers)
    response = connection.getresponse()
    raw = response.read()
    return response.status, json.loads(raw) if raw else None


def expect(port: int, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    got, answer = request(port, method, path, body)
    if got != status:
        raise RuntimeError(f"{method} {path}: expected {status}, got {got}: {answer}")
    return answer


# ---------------------------------------------------------------- the databases


@contextlib.contextmanager
def sqlite_database() -> Iterator[tuple[str, Path]]:
    with tempfile.TemporaryDirectory(prefix="luminary-crash-") as directory:
        path = Path(directory) / "crash.db"
        yield f"sqlite:///{path}", Path(directory)


@contextlib.contextmanager
def postgres_database(server_url: str) -> Iterator[tuple[str, Path]]:
    """A new database on the server of ``server_url``, dropped afterwards whatever happens."""
    import psycopg

    parts = urllib.parse.urlsplit(server_url)
    admin_url = urllib.parse.urlunsplit(("postgresql", parts.netloc, "/postgres", parts.query, ""))
    name = f"luminary_crash_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = urllib.parse.urlunsplit(("postgresql+psycopg", parts.netloc, "/" + name, parts.query, ""))
        with tempfile.TemporaryDirectory(prefix="luminary-crash-") as directory:
            yield url, Path(directory)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------- what was acknowledged


@dataclasses.dataclass
class UserRec:
    name: str
    current_attempt_id: int | None = None


@dataclasses.dataclass
class AttemptRec:
    user_id: int
    constellation_id: int
    stars: int = 0


@dataclasses.dataclass
class SessionRec:
    user_id: int
    attempt_id: int
    minutes: int
    status: str = "planned"


@dataclasses.dataclass
class Pending:
    """A write sent without an acknowledgement: it may or may not have happened."""

    kind: str  # user, attempt, star, session, complete, cancel
    name: str | None = None
    user_id: int | None = None
    attempt_id: int | None = None
    session_id: int | None = None
    constellation_id: int | None = None
    minutes: int | None = None


class Ledger:
    """Every acknowledged write's expected effect, shared by the clients."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users: dict[int, UserRec] = {}
        self.attempts: dict[int, AttemptRec] = {}
        self.sessions: dict[int, SessionRec] = {}
        self.acked: collections.Counter[str] = collections.Counter()
        # Problems seen in the answers themselves (e.g. two stars answered with the same count).
        self.answer_problems: list[str] = []
        self.hot_star_answers: dict[int, list[int]] = collections.defaultdict(list)
        # Inconsistent records already counted, as (kind, id).
        self.reported: set[tuple[str, int]] = set()
        self.shown: set[tuple[tuple[str, int], str]] = set()


@dataclasses.dataclass
class Shared:
    port: int
    ledger: Ledger
    constellation_id: int
    hot_user: int
    hot_attempt: int
    killed: threading.Event
    inflight_lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    inflight: int = 0
    early_errors: list[str] = dataclasses.field(default_factory=list)


class Unacknowledged(Exception):
    pass


class Writer(threading.Thread):
    """One client: a keep-alive connection writing until its first unacknowledged request."""

    def __init__(self, shared: Shared, number: int, tag: str, rng: random.Random) -> None:
        super().__init__(name=f"writer-{number}", daemon=True)
        self.shared = shared
        self.tag = tag
        self.rng = rng
        self.sequence = 0
        self.connection = http.client.HTTPConnection("127.0.0.1", shared.port, timeout=60)
        self.pending: Pending | None = None
        self.users: list[int] = []
        self.current: dict[int, int] = {}  # own user -> own current attempt
        self.planned: list[int] = []  # own sessions, own users' and the hot user's
        self.completed: list[int] = []
        self.writes = 0

    # -- one request

    def call(self, method: str, path: str, body: Any, pending: Pending, ok: int) -> Any:
        self.pending = pending
        with self.shared.inflight_lock:
            self.shared.inflight += 1
        try:
            status, answer = exchange(self.connection, method, path, body)
        except (OSError, http.client.HTTPException, ValueError) as error:
            if not self.shared.killed.is_set():
                self.shared.early_errors.append(f"{method} {path}: {type(error).__name__}: {error}")
            raise Unacknowledged from error
        finally:
            with self.shared.inflight_lock:
                self.shared.inflight -= 1
        if status != ok:
            if not self.shared.killed.is_set():
                self.shared.early_errors.append(f"{method} {path}: {status} {answer}")
            raise Unacknowledged
        self.pending = None
        self.writes += 1
        return answer

    # -- the writes

    def create_user(self) -> None:
        self.sequence += 1
        name = f"{self.tag}-{self.sequence}"
        answer = self.call("POST", "/api/users/", {"display_name": name}, Pending("user", name=name), 201)
        ledger = self.shared.ledger
        with ledger.lock:
            ledger.users[answer["id"]] = UserRec(name)
            ledger.acked["user"] += 1
            if answer["display_name"] != name:
                ledger.answer_problems.append(f"user {answer['id']} created as {name!r} answered {answer}")
        self.users.append(answer["id"])

    def start_attempt(self, user_id: int) -> None:
        cid = self.shared.constellation_id
        answer = self.call(
            "POST",
            f"/api/users/{user_id}/constellation_attempts/",
            {"constellation_id": cid},
            Pending("attempt", user_id=user_id, constellation_id=cid),
            201,
        )
        ledger = self.shared.ledger
        with ledger.lock:
            ledger.attempts[answer["id"]] = AttemptRec(user_id, cid, answer["stars_completed"])
            ledger.users[user_id].current_attempt_id = answer["id"]
            ledger.acked["attempt"] += 1
        self.current[user_id] = answer["id"]

    def add_star(self, attempt_id: int, hot: bool) -> None:
        answer = self.call(
            "PUT",
            f"/api/constellation_attempts/{attempt_id}/",
            None,
            Pending("star", attempt_id=attempt_id),
            200,
        )
        ledger = self.shared.ledger
        with ledger.lock:
            record = ledger.attempts[attempt_id]
            record.stars += 1
            ledger.acked["star"] += 1
            if hot:
                ledger.hot_star_answers[attempt_id].append(answer["stars_completed"])
            elif answer["stars_completed"] != record.stars:
                ledger.answer_problems.append(
                    f"attempt {attempt_id}: star {record.stars} acknowledged as {answer['stars_completed']}"
                )

    def log_session(self, user_id: int, attempt_id: int) -> None:
        minutes = self.rng.randint(1, 120)
        body = {"user_id": user_id, "constellation_attempt_id": attempt_id, "minutes": minutes}
        pending = Pending("session", user_id=user_id, attempt_id=attempt_id, minutes=minutes)
        answer = self.call("POST", "/api/sessions/", body, pending, 201)
        ledger = self.shared.ledger
        with ledger.lock:
            ledger.sessions[answer["id"]] = SessionRec(user_id, attempt_id, minutes)
            ledger.acked["session"] += 1
            if answer["minutes"] != minutes or answer["is_completed"]:
                ledger.answer_problems.append(f"session {answer['id']} of {minutes} min answered {answer}")
        self.planned.append(answer["id"])

    def complete(self, session_id: int) -> None:
        pending = Pending("complete", session_id=session_id)
        answer = self.call("PUT", f"/api/sessions/{session_id}/complete", None, pending, 200)
        ledger = self.shared.ledger
        with ledger.lock:
            ledger.sessions[session_id].status = "completed"
            ledger.acked["complete"] += 1
            if not answer["is_completed"]:
                ledger.answer_problems.append(f"session {session_id} completed answered {answer}")
        self.planned.remove(session_id)
        self.completed.append(session_id)

    def cancel(self, session_id: int) -> None:
        pending = Pending("cancel", session_id=session_id)
        answer = self.call("PUT", f"/api/sessions/{session_id}/cancel", None, pending, 200)
        ledger = self.shared.ledger
        with ledger.lock:
            ledger.sessions[session_id].status = "cancelled"
            ledger.acked["cancel"] += 1
            if answer["is_completed"] or answer.get("status", "cancelled") != "cancelled":
                ledger.answer_problems.append(f"session {session_id} cancelled answered {answer}")
        self.completed.remove(session_id)

    def step(self) -> None:
        rng = self.rng
        if not self.users or rng.random() < 0.08:
            self.create_user()
            return
        user = rng.choice(self.users)
        if user not in self.current or rng.random() < 0.04:
            self.start_attempt(user)
            return
        roll = rng.random()
        if roll < 0.15:
            self.add_star(self.current[user], hot=False)
        elif roll < 0.27:
            self.add_star(self.shared.hot_attempt, hot=True)
        elif roll < 0.42:
            self.log_session(user, self.current[user])
        elif roll < 0.50:
            self.log_session(self.shared.hot_user, self.shared.hot_attempt)
        elif roll < 0.88 and self.planned:
            self.complete(rng.choice(self.planned))
        elif self.completed:
            self.cancel(rng.choice(self.completed))
        else:
            self.log_session(user, self.current[user])

    def run(self) -> None:
        try:
            while True:
                self.step()
        except Unacknowledged:
            pass
        finally:
            self.connection.close()


# ---------------------------------------------------------------- the check


@dataclasses.dataclass
class Check:
    lost: list[str] = dataclasses.field(default_factory=list)
    inconsistent: dict[tuple[str, int], list[str]] = dataclasses.field(default_factory=dict)
    # Problems not shown in an earlier cycle.
    shown: dict[tuple[str, int], list[str]] = dataclasses.field(default_factory=dict)
    records: int = 0
    applied: int = 0  # in-flight writes found whole
    absent: int = 0  # in-flight writes not found

    def bad(self, kind: str, ident: int, why: str) -> None:
        self.inconsistent.setdefault((kind, ident), []).append(why)


def snapshot(port: int) -> tuple[dict[int, Any], dict[int, Any], dict[int, Any]]:
    users = expect(port, "GET", "/api/users/")["users"]
    attempts = expect(port, "GET", "/api/constellation_attempts/")["constellation_attempts"]
    sessions = expect(port, "GET", "/api/sessions/")["data"]
    return (
        {u["id"]: u for u in users},
        {a["id"]: a for a in attempts},
        {s["id"]: s for s in sessions},
    )


def verify(port: int, ledger: Ledger, pendings: list[Pending]) -> Check:
    """Compare the restarted server's database with the ledger; then make what was found the ledger."""
    check = Check()
    users, attempts, sessions = snapshot(port)
    check.records = len(users) + len(attempts) + len(sessions)

    pending_names = {p.name: p for p in pendings if p.kind == "user"}
    pending_attempts: dict[int, list[int]] = collections.defaultdict(list)
    pending_stars: collections.Counter[int] = collections.Counter()
    pending_sessions: dict[tuple[int, int], list[int]] = collections.defaultdict(list)
    pending_status: dict[int, str] = {}
    touched_totals: set[int] = set()  # users whose total an in-flight write may have moved
    for p in pendings:
        if p.kind == "attempt":
            assert p.user_id is not None
            assert p.constellation_id is not None
            pending_attempts[p.user_id].append(p.constellation_id)
        elif p.kind == "star":
            assert p.attempt_id is not None
            pending_stars[p.attempt_id] += 1
        elif p.kind == "session":
            assert p.user_id is not None
            assert p.attempt_id is not None
            assert p.minutes is not None
            pending_sessions[(p.user_id, p.attempt_id)].append(p.minutes)
        elif p.kind in ("complete", "cancel"):
            assert p.session_id is not None
            pending_status[p.session_id] = "completed" if p.kind == "complete" else "cancelled"
            touched_totals.add(ledger.sessions[p.session_id].user_id)

    # Acknowledged users: there, with their names.
    for uid, user in ledger.users.items():
        found = users.get(uid)
        if found is None:
            check.lost.append(f"user {uid} {user.name!r}: acknowledged, not found")
        elif found["display_name"] != user.name:
            check.bad("user", uid, f"display_name {found['display_name']!r}, acknowledged {user.name!r}")

    # Acknowledged attempts: there, theirs, with every acknowledged star.
    for aid, attempt in ledger.attempts.items():
        found = attempts.get(aid)
        if found is None:
            check.lost.append(f"attempt {aid} of user {attempt.user_id}: acknowledged, not found")
            continue
        if (found["user_id"], found["constellation_id"]) != (attempt.user_id, attempt.constellation_id):
            check.bad("attempt", aid, f"user/constellation {found['user_id']}/{found['constellation_id']}")
        stars, low, high = found["stars_completed"], attempt.stars, attempt.stars + pending_stars[aid]
        if stars < low:
            check.lost.extend(
                f"attempt {aid}: {low} stars acknowledged, {stars} found" for _ in range(low - stars)
            )
        elif stars > high:
            check.bad("attempt", aid, f"{stars} stars, acknowledged {low} and {high - low} in flight")
        else:
            check.applied += stars - low
            check.absent += high - stars
    for aid, answers in ledger.hot_star_answers.items():
        repeated = [n for n, count in collections.Counter(answers).items() if count > 1]
        if repeated:
            check.bad("attempt", aid, f"star counts answered twice (lost updates): {sorted(repeated)[:10]}")

    # Acknowledged sessions: there, theirs, in their acknowledged state.
    undone = {("completed", "planned"), ("cancelled", "completed"), ("cancelled", "planned")}
    for sid, session in ledger.sessions.items():
        found = sessions.get(sid)
        if found is None:
            check.lost.append(f"session {sid} of user {session.user_id}: acknowledged, not found")
            continue
        got = (found["user_id"], found["constellation_attempt_id"], found["minutes"])
        if got != (session.user_id, session.attempt_id, session.minutes):
            check.bad("session", sid, f"user/attempt/minutes {got}, acknowledged {session}")
        allowed = {session.status}
        if sid in pending_status:
            allowed.add(pending_status[sid])
            check.applied += found["status"] == pending_status[sid]
            check.absent += found["status"] == session.status
        if found["status"] not in allowed:
            if (session.status, found["status"]) in undone:
                check.lost.append(f"session {sid}: {session.status} acknowledged, {found['status']} found")
            else:
                check.bad("session", sid, f"status {found['status']}, acknowledged {session.status}")

    # Records no acknowledged write made: each must be an in-flight write, whole.
    new_attempts: dict[int, int] = {}
    for uid, found in users.items():
        if uid in ledger.users:
            continue
        if pending_names.pop(found["display_name"], None) is None:
            check.bad("user", uid, f"{found['display_name']!r}: no request made it")
        else:
            check.applied += 1
            if found["current_attempt_id"] is not None or found["total_minutes"] != 0:
                check.bad("user", uid, f"in-flight new user is not new: {found}")
    check.absent += len(pending_names)
    for aid, found in attempts.items():
        if aid in ledger.attempts:
            continue
        choices = pending_attempts.get(found["user_id"], [])
        if found["constellation_id"] in choices:
            choices.remove(found["constellation_id"])
            check.applied += 1
            new_attempts[found["user_id"]] = aid
            if found["stars_completed"] != 0:
                check.bad("attempt", aid, f"in-flight new attempt has {found['stars_completed']} stars")
        else:
            check.bad("attempt", aid, f"of user {found['user_id']}: no request made it")
    check.absent += sum(len(c) for c in pending_attempts.values())
    for sid, found in sessions.items():
        if sid in ledger.sessions:
            continue
        choices = pending_sessions.get((found["user_id"], found["constellation_attempt_id"]), [])
        if found["minutes"] in choices:
            choices.remove(found["minutes"])
            check.applied += 1
            if found["status"] != "planned":
                check.bad("session", sid, f"in-flight new session is {found['status']}")
        else:
            check.bad("session", sid, f"{found}: no request made it")
    check.absent += sum(len(c) for c in pending_sessions.values())

    # Nothing half-applied: each total is the sum of its completed sessions (every user in the
    # database); without in-flight completions, the sum of the acknowledged ones; the current
    # attempt is the last one started (an in-flight start is whole: attempt and current together).
    completed: collections.Counter[int] = collections.Counter()
    for found in sessions.values():
        if found["status"] == "completed" and found["user_id"] is not None:
            completed[found["user_id"]] += found["minutes"] or 0
    acknowledged: collections.Counter[int] = collections.Counter()
    for session in ledger.sessions.values():
        if session.status == "completed":
            acknowledged[session.user_id] += session.minutes
    for uid, found in users.items():
        if found["total_minutes"] != completed[uid]:
            check.bad(
                "user", uid, f"total_minutes {found['total_minutes']}, completed sessions {completed[uid]}"
            )
        if uid in ledger.users and uid not in touched_totals and found["total_minutes"] != acknowledged[uid]:
            check.bad(
                "user", uid, f"total_minutes {found['total_minutes']}, acknowledged {acknowledged[uid]}"
            )
        if uid in ledger.users:
            expected = new_attempts.get(uid, ledger.users[uid].current_attempt_id)
            if found["current_attempt_id"] != expected:
                check.bad("user", uid, f"current attempt {found['current_attempt_id']}, expected {expected}")

    # What was found is the reference from now on: each problem is counted once.
    ledger.users = {uid: UserRec(u["display_name"], u["current_attempt_id"]) for uid, u in users.items()}
    ledger.attempts = {
        aid: AttemptRec(a["user_id"], a["constellation_id"], a["stars_completed"])
        for aid, a in attempts.items()
    }
    ledger.sessions = {
        sid: SessionRec(s["user_id"], s["constellation_attempt_id"], s["minutes"], s["status"])
        for sid, s in sessions.items()
    }
    for number, problem in enumerate(ledger.answer_problems, start=len(ledger.reported)):
        check.bad("answer", number, problem)
    ledger.answer_problems.clear()
    ledger.hot_star_answers.clear()
    # A record found inconsistent stays so: it is counted in the first cycle that shows it, and
    # each of its problems is shown once.
    for key, whys in check.inconsistent.items():
        fresh = [why for why in whys if (key, why) not in ledger.shown]
        if fresh:
            check.shown[key] = fresh
            ledger.shown.update((key, why) for why in fresh)
    check.inconsistent = {key: whys for key, whys in check.inconsistent.items() if key not in ledger.reported}
    ledger.reported.update(check.inconsistent)
    return check


# ---------------------------------------------------------------- the loop


@dataclasses.dataclass
class Totals:
    cycles: int = 0
    acked: int = 0
    client_writes: int = 0
    write_seconds: float = 0.0
    lost: int = 0
    inconsistent: int = 0
    inflight_at_kill: int = 0
    applied: int = 0
    absent: int = 0
    early_errors: int = 0


def setup(port: int, ledger: Ledger, tag: str, state: dict[str, int]) -> int:
    """The constellation and the hot user (once), and a new hot attempt: acknowledged writes."""
    writes = 0
    if "constellation" not in state:
        body = {"name": f"Crash loop {tag}", "weight": HOT_WEIGHT}
        state["constellation"] = expect(port, "POST", "/api/constellations/", body, 201)["id"]
        name = f"{tag}-hot"
        state["hot_user"] = expect(port, "POST", "/api/users/", {"display_name": name}, 201)["id"]
        ledger.users[state["hot_user"]] = UserRec(name)
        writes += 2
    path = f"/api/users/{state['hot_user']}/constellation_attempts/"
    attempt = expect(port, "POST", path, {"constellation_id": state["constellation"]}, 201)
    ledger.attempts[attempt["id"]] = AttemptRec(state["hot_user"], state["constellation"], 0)
    ledger.users[state["hot_user"]].current_attempt_id = attempt["id"]
    state["hot_attempt"] = attempt["id"]
    return writes + 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), required=True)
    parser.add_argument("--cycles", type=int, required=True)
    parser.add_argument("--clients", type=int, default=8, help="concurrent writers (default: 8)")
    parser.add_argument(
        "--seconds", type=float, default=3.0, help="longest write stretch of a cycle (default: 3)"
    )
    parser.add_argument("--threads", type=int, help="the server's worker threads (default: luminary's)")
    parser.add_argument("--seed", type=int, help="random seed (default: random; printed)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("LUMINARY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL server to create the run's database on (its database part is ignored)",
    )
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    rng = random.Random(seed)
    tag = f"crash-{uuid.uuid4().hex[:6]}"
    print(
        f"crash loop on {args.database}: {args.cycles} cycles, {args.clients} clients, "
        f"writes for 20-100 % of {args.seconds:g} s, then SIGKILL; seed {seed}",
        flush=True,
    )
    database = sqlite_database() if args.database == "sqlite" else postgres_database(args.postgres_url)
    began = time.monotonic()
    totals = Totals()
    ledger = Ledger()
    state: dict[str, int] = {}
    with database as (url, workdir):
        server = Server(url, workdir, args.threads)
        try:
            for cycle in range(1, args.cycles + 1):
                setup_writes = setup(server.port, ledger, tag, state)
                killed = threading.Event()
                shared = Shared(
                    server.port,
                    ledger,
                    state["constellation"],
                    state["hot_user"],
                    state["hot_attempt"],
                    killed,
                )
                writers = [
                    Writer(shared, n, f"{tag}-{cycle}-{n}", random.Random(rng.getrandbits(64)))
                    for n in range(args.clients)
                ]
                stretch = args.seconds * rng.uniform(0.2, 1.0)
                started = time.monotonic()
                for writer in writers:
                    writer.start()
                time.sleep(stretch)
                with shared.inflight_lock:
                    inflight = shared.inflight
                    killed.set()
                server.kill()
                elapsed = time.monotonic() - started
                for writer in writers:
                    writer.join(timeout=60)
                    if writer.is_alive():
                        raise RuntimeError(f"{writer.name} did not stop after the kill")
                server = Server(url, workdir, args.threads)
                pendings = [w.pending for w in writers if w.pending is not None]
                check = verify(server.port, ledger, pendings)
                writes = sum(w.writes for w in writers)
                totals.cycles += 1
                totals.acked += writes + setup_writes
                totals.client_writes += writes
                totals.write_seconds += elapsed
                totals.lost += len(check.lost)
                totals.inconsistent += len(check.inconsistent)
                totals.inflight_at_kill += inflight
                totals.applied += check.applied
                totals.absent += check.absent
                totals.early_errors += len(shared.early_errors)
                print(
                    f"cycle {cycle:3}/{args.cycles}: {writes + setup_writes:6} acknowledged writes "
                    f"({writes / elapsed:5.0f}/s over {elapsed:4.1f} s), {inflight} in flight at SIGKILL "
                    f"({check.applied} found applied, {check.absent} absent), "
                    f"restart {server.start_seconds:.1f} s, "
                    f"{check.records} records checked: lost {len(check.lost)}, "
                    f"inconsistent {len(check.inconsistent)}",
                    flush=True,
                )
                for line in check.lost[:20]:
                    print(f"    LOST {line}", flush=True)
                for (kind, ident), whys in list(check.shown.items())[:20]:
                    again = "" if (kind, ident) in check.inconsistent else " (counted before)"
                    print(f"    INCONSISTENT {kind} {ident}{again}: {'; '.join(whys)}", flush=True)
                for line in shared.early_errors[:5]:
                    print(f"    warning: before the kill: {line}", flush=True)
        except BaseException:
            print("the server's last output:\n" + "".join(list(server.output)[-40:]), file=sys.stderr)
            raise
        finally:
            server.kill()
    seconds = time.monotonic() - began
    print(
        f"total on {args.database}: {totals.cycles} cycles, {totals.acked} acknowledged writes "
        f"({', '.join(f'{n} {k}' for k, n in sorted(ledger.acked.items()))}; plus setup), "
        f"lost {totals.lost}, inconsistent {totals.inconsistent}, "
        f"{totals.client_writes / max(totals.write_seconds, 1e-9):.0f} writes/s; "
        f"{totals.inflight_at_kill} requests in flight at the kills "
        f"({totals.applied} in-flight writes found applied and whole, {totals.absent} absent); "
        f"{totals.early_errors} errors before a kill; {seconds:.0f} s",
        flush=True,
    )
    return 1 if totals.lost or totals.inconsistent else 0


if __name__ == "__main__":
    sys.exit(main())
