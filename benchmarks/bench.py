"""The HTTP benchmark: ``nox -s bench``. It prints figures and asserts nothing.

1. Seeds two SQLite databases: a realistic one (50 users, the 3 default
   constellations, an attempt each, 20 sessions per user half of them completed,
   10 posts per user, and a student who signs in with a token) and one with 10x
   the users, sessions and posts.
2. Starts ``luminary serve`` on each, and a bare Falcon app under the same
   waitress settings: the ceiling.
3. Drives each with 16 keep-alive connections on loopback, in rounds: every
   stretch of a scenario follows a stretch of the ceiling, and the scenario's
   share of the ceiling is the median over its rounds. It prints requests per
   second, p50, p99 and errors per endpoint, that share, how the feed and a
   user's page fare at 10x data against 1x, and what a bearer token costs:
   ``GET /api/v2/me`` (authenticated, one account read) against ``GET /healthz``
   (no token, no database).

Figures from one run are compared with each other only: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs

from luminary.core import (
    SYSTEM,
    Attempt,
    Constellation,
    Post,
    PostType,
    Session,
    SessionStatus,
    SignUp,
    SystemClock,
    User,
    create_account,
    issue_token,
)
from luminary.core.study import study_day
from luminary.http.cli import DEFAULT_THREADS
from luminary.sql import SqlAlchemyUnitOfWork, make_engine, upgrade

HERE = Path(__file__).parent
CONNECTIONS = 16


# ---------------------------------------------------------------- seeding


def seed(url: str, users: int, *, sessions_per_user: int = 20, posts_per_user: int = 10) -> None:
    """Fill an empty database in one transaction, keeping every invariant of the domain."""
    upgrade(url)
    engine = make_engine(url)
    start = datetime(2025, 11, 1, tzinfo=UTC)
    tick = iter(range(10**9))

    def at() -> datetime:
        return start + timedelta(seconds=next(tick))

    uow = SqlAlchemyUnitOfWork(engine)
    with uow:
        stars = [
            uow.constellations.add(Constellation(name=n, weight=w, created_at=at()))
            for n, w in (("Triangulum", 3), ("Delphinus", 5), ("Big Dipper", 7))
        ]
        # A big constellation for the write mix: stars never run out during a run.
        big = uow.constellations.add(Constellation(name="Marathon", weight=1000, created_at=at()))
        for i in range(users):
            user = uow.users.add(User(display_name=f"Student {i}", created_at=at()))
            attempt = uow.attempts.add(
                Attempt(user_id=user.id, constellation_id=stars[i % 3].id, stars_completed=1, created_at=at())
            )
            total = 0
            for j in range(sessions_per_user):
                minutes = 15 + j % 30
                done = j % 2 == 0
                when = at()
                uow.sessions.add(
                    Session(
                        title=stars[i % 3].name,
                        user_id=user.id,
                        constellation_attempt_id=attempt.id,
                        minutes=minutes,
                        status=SessionStatus.COMPLETED if done else SessionStatus.PLANNED,
                        completed_at=when if done else None,
                        created_at=when,
                        updated_at=when,
                    )
                )
                total += minutes if done else 0
            for k in range(posts_per_user):
                uow.posts.add(
                    Post(
                        user_id=user.id,
                        constellation_id=stars[k % 3].id,
                        post_type=PostType.PROGRESS,
                        message=f"Progress {k}",
                        study_duration=20,
                        created_at=at(),
                    )
                )
            uow.users.update(
                User(
                    id=user.id,
                    display_name=user.display_name,
                    current_attempt_id=attempt.id,
                    total_minutes=total,
                    created_at=user.created_at,
                )
            )
        # One attempt per benchmark connection at the big constellation.
        for c in range(CONNECTIONS):
            uow.attempts.add(Attempt(user_id=1 + c % users, constellation_id=big.id, created_at=at()))
        uow.commit()
    engine.dispose()


YEAR_SESSIONS = 10_000
#: The key of the year-of-study database among the scales (1x, 10x).
YEAR = 0


def seed_year(url: str) -> str:
    """A student with a year of study: 10,000 completed sessions over 2025, each with its study day.

    Returns the secret of their token. The sessions go straight to the repositories
    (as :func:`seed` does), stamped as completion would stamp them.
    """
    engine = make_engine(url)
    clock = SystemClock()
    login = "bench-year"
    create_account(
        SqlAlchemyUnitOfWork(engine),
        SignUp(display_name="A Year of Study", login=login, password="correct horse battery staple"),
        actor=SYSTEM,
        clock=clock,
    )
    uow = SqlAlchemyUnitOfWork(engine)
    with uow:
        credentials = uow.credentials.get_by_login(login)
        assert credentials is not None
        user = uow.users.get(credentials.user_id, for_update=True)
        assert user is not None
        start = datetime(2025, 1, 1, 8, tzinfo=UTC)
        total = 0
        for i in range(YEAR_SESSIONS):
            when = start + timedelta(minutes=i * 52)  # about 27 a day, all year
            minutes = 10 + i % 40
            uow.sessions.add(
                Session(
                    title="Revision",
                    user_id=user.id,
                    minutes=minutes,
                    status=SessionStatus.COMPLETED,
                    completed_at=when,
                    study_day=study_day(when, user.time_zone, user.day_start_hour),
                    created_at=when,
                    updated_at=when,
                )
            )
            total += minutes
        uow.users.update(attrs.evolve(user, total_minutes=total))
        uow.commit()
    issued = issue_token(
        SqlAlchemyUnitOfWork(engine), login, name="bench", scopes=["read"], actor=SYSTEM, clock=clock
    )
    engine.dispose()
    return issued.secret


def seed_student(url: str) -> str:
    """Give the seeded database a student who can sign in, and a token; return its secret.

    Made through the use cases, as ``luminary admin create-user --student`` and
    ``create-token`` would: the default (slow, on purpose) password hashing runs once.
    """
    engine = make_engine(url)
    clock = SystemClock()
    login = "bench-student"
    create_account(
        SqlAlchemyUnitOfWork(engine),
        SignUp(display_name="Bench Student", login=login, password="correct horse battery staple"),
        actor=SYSTEM,
        clock=clock,
    )
    issued = issue_token(
        SqlAlchemyUnitOfWork(engine),
        login,
        name="bench",
        scopes=["read", "study", "social"],
        actor=SYSTEM,
        clock=clock,
    )
    engine.dispose()
    return issued.secret


# ---------------------------------------------------------------- servers


@contextlib.contextmanager
def process(args: list[str]) -> Iterator[int]:
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    port = None
    for line in proc.stdout:
        found = re.search(r"Serving Luminary on http://[^:]+:(\d+)", line)
        if found:
            port = int(found.group(1))
            break
    if port is None:
        proc.kill()
        raise RuntimeError(f"{args} did not start")
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def luminary(url: str, threads: int) -> contextlib.AbstractContextManager[int]:
    script = Path(sys.executable).with_name("luminary")
    return process(
        [str(script), "serve", "--no-seed", "--port", "0", "--threads", str(threads), "--database-url", url]
    )


def ceiling(threads: int) -> contextlib.AbstractContextManager[int]:
    return process([sys.executable, str(HERE / "ceiling.py"), "--port", "0", "--threads", str(threads)])


# ---------------------------------------------------------------- load


class Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough of the protocol."""

    def __init__(self, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.port = port
        self.reader = reader
        self.writer = writer
        self.closed = False

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(port, reader, writer)

    async def request(
        self, method: str, path: str, body: object = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        if self.closed:  # waitress ends the connection after a chunked answer: open another
            self.writer.close()
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            self.closed = False
        data = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(data)}\r\n"
        if data:
            head += "Content-Type: application/json\r\n"
        for name, value in (headers or {}).items():
            head += f"{name}: {value}\r\n"
        self.writer.write(head.encode() + b"\r\n" + data)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        chunked = False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = value.strip().lower() == b"chunked"
            elif name == b"connection":
                self.closed = value.strip().lower() == b"close"
        if chunked:  # long v1 lists are streamed
            return status, await self._chunks()
        payload = await self.reader.readexactly(length) if length else b""
        return status, payload

    async def _chunks(self) -> bytes:
        parts = []
        while True:
            size = int((await self.reader.readline()).split(b";")[0], 16)
            if size == 0:
                while await self.reader.readline() not in (b"\r\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    def close(self) -> None:
        self.writer.close()


Step = Callable[[Connection, int], Awaitable[list[tuple[int, float]]]]


def get(path: str | Callable[[int], str], *, token: str | None = None) -> Step:
    """GET ``path``; with ``token``, as its holder (``Authorization: Bearer …``)."""
    headers = {"Authorization": f"Bearer {token}"} if token else None

    async def step(conn: Connection, n: int) -> list[tuple[int, float]]:
        target = path(n) if callable(path) else path
        t0 = time.perf_counter()
        status, _ = await conn.request("GET", target, headers=headers)
        return [(status, time.perf_counter() - t0)]

    return step


def write_mix(attempts: list[tuple[int, int]]) -> Step:
    """As the app does: log a session on an attempt, complete it, add a star; three requests per step.

    ``attempts`` holds (user id, attempt id) pairs.
    """

    async def step(conn: Connection, n: int) -> list[tuple[int, float]]:
        results = []
        user_id, attempt_id = attempts[n % len(attempts)]
        t0 = time.perf_counter()
        status, body = await conn.request(
            "POST",
            "/api/sessions/",
            {"user_id": user_id, "constellation_attempt_id": attempt_id, "minutes": 5},
        )
        results.append((status, time.perf_counter() - t0))
        if status == 201:
            sid = json.loads(body)["id"]
            t0 = time.perf_counter()
            status, _ = await conn.request("PUT", f"/api/sessions/{sid}/complete")
            results.append((status, time.perf_counter() - t0))
        t0 = time.perf_counter()
        status, _ = await conn.request("PUT", f"/api/constellation_attempts/{attempt_id}/")
        results.append((status, time.perf_counter() - t0))
        return results

    return step


@attrs.define
class Sample:
    """What one measured stretch of load produced."""

    seconds: float
    latencies: list[float]
    errors: int

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds


async def drive(port: int, step: Step, seconds: float) -> Sample:
    connections = [await Connection.open(port) for _ in range(CONNECTIONS)]
    samples: list[tuple[int, float]] = []
    deadline = time.perf_counter() + seconds

    async def loop(index: int, conn: Connection) -> None:
        n = 0
        while time.perf_counter() < deadline:
            samples.extend(await step(conn, index * 7919 + n))
            n += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(i, c) for i, c in enumerate(connections)))
    elapsed = time.perf_counter() - started
    for c in connections:
        c.close()
    return Sample(
        elapsed, [latency for _, latency in samples], sum(1 for status, _ in samples if status >= 400)
    )


def measure(port: int, step: Step, seconds: float) -> Sample:
    return asyncio.run(drive(port, step, seconds))


def summary(samples: list[Sample]) -> dict[str, float]:
    """Throughput as the median of the rounds; latencies over every request of every round."""
    latencies = sorted(latency for s in samples for latency in s.latencies)
    return {
        "rps": statistics.median(s.rps for s in samples),
        "p50": statistics.median(latencies) * 1000 if latencies else 0.0,
        "p99": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000 if latencies else 0.0,
        "errors": sum(s.errors for s in samples),
    }


# ---------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="measured seconds per scenario (default 5)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_THREADS,
        help=f"waitress threads (default {DEFAULT_THREADS}, as luminary serve)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds per scenario (default 3)")
    parser.add_argument("--users", type=int, default=50, help="users of the 1x database (default 50)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        urls = {}
        for scale in (1, 10):
            url = f"sqlite:///{Path(tmp) / f'bench{scale}x.db'}"
            t0 = time.perf_counter()
            seed(url, args.users * scale)
            print(
                f"seeded {scale:>2}x: {args.users * scale} users, {args.users * scale * 10} posts "
                f"in {time.perf_counter() - t0:.1f}s",
                flush=True,
            )
            urls[scale] = url
        student_token = seed_student(urls[1])
        # The year of study has a database of its own, so that the v1 lists above keep their 1x data.
        urls[YEAR] = f"sqlite:///{Path(tmp) / 'bench-year.db'}"
        upgrade(urls[YEAR])
        year_token = seed_year(urls[YEAR])

        users = list(range(1, args.users + 1))
        # The attempts at the big constellation, one per connection, as seed() made them.
        big_attempts = [(1 + c % args.users, args.users + 1 + c) for c in range(CONNECTIONS)]
        scenarios: list[tuple[str, int, Step]] = [
            ("GET /api/feed/", 1, get("/api/feed/")),
            ("GET /api/users/", 1, get("/api/users/")),
            ("GET /api/users/{id}/", 1, get(lambda n: f"/api/users/{users[n % len(users)]}/")),
            (
                "GET /api/users/{id}/total_minutes/",
                1,
                get(lambda n: f"/api/users/{users[n % len(users)]}/total_minutes/"),
            ),
            ("GET /api/constellations/", 1, get("/api/constellations/")),
            ("GET /healthz (no token)", 1, get("/healthz")),
            ("GET /api/v2/me (bearer token)", 1, get("/api/v2/me", token=student_token)),
            (
                "GET /api/v2/me/stats, 2025 by day",
                YEAR,
                get("/api/v2/me/stats?from=2025-01-01&to=2025-12-31&by=day", token=year_token),
            ),
            ("write mix (session, complete, star)", 1, write_mix(big_attempts)),
            ("GET /api/feed/ at 10x", 10, get("/api/feed/")),
            ("GET /api/users/{id}/ at 10x", 10, get(lambda n: f"/api/users/{users[n % len(users)]}/")),
        ]
        # The machine is shared: each stretch of a scenario is paired with a
        # stretch of the ceiling just before it, and a scenario's share of the
        # ceiling is the median of its rounds' ratios.
        stretch = args.seconds / args.rounds
        samples: dict[str, list[Sample]] = {name: [] for name, _, _ in scenarios}
        ceilings: dict[str, list[Sample]] = {name: [] for name, _, _ in scenarios}
        with contextlib.ExitStack() as servers:
            top_port = servers.enter_context(ceiling(args.threads))
            ports = {scale: servers.enter_context(luminary(urls[scale], args.threads)) for scale in urls}
            measure(top_port, get("/"), 1.0)  # warm-up, not counted
            for _, scale, step in scenarios:
                measure(ports[scale], step, 1.0)
            for _ in range(args.rounds):
                for name, scale, step in scenarios:
                    ceilings[name].append(measure(top_port, get("/"), stretch))
                    samples[name].append(measure(ports[scale], step, stretch))

    all_ceilings = [c for cs in ceilings.values() for c in cs]
    rows = [("ceiling: bare Falcon, constant JSON", summary(all_ceilings), 1.0)]
    for name, _, _ in scenarios:
        ratio = statistics.median(s.rps / c.rps for s, c in zip(samples[name], ceilings[name], strict=True))
        rows.append((name, summary(samples[name]), ratio))
    width = max(len(name) for name, _, _ in rows)
    print()
    header = f"{'req/s':>8}  {'p50 ms':>7}  {'p99 ms':>7}  {'errors':>6}  {'% ceiling':>9}"
    print(f"{'scenario':<{width}}  {header}")
    for name, r, ratio in rows:
        figures = f"{r['rps']:>8.0f}  {r['p50']:>7.1f}  {r['p99']:>7.1f}  {r['errors']:>6.0f}"
        print(f"{name:<{width}}  {figures}  {100 * ratio:>8.1f}%")
    print()
    for base in ("GET /api/feed/", "GET /api/users/{id}/"):
        # Rounds of 1x and 10x ran minutes apart at most; compare their ratios to the ceiling.
        by_round = [
            (s10.rps / c10.rps) / (s1.rps / c1.rps)
            for s1, c1, s10, c10 in zip(
                samples[base],
                ceilings[base],
                samples[f"{base} at 10x"],
                ceilings[f"{base} at 10x"],
                strict=True,
            )
        ]
        print(f"{base}: 10x data / 1x data = {statistics.median(by_round):.2f}")
    # The same way: each round's req/s against the ceiling measured just before it.
    me, health = "GET /api/v2/me (bearer token)", "GET /healthz (no token)"
    by_round = [
        (s_me.rps / c_me.rps) / (s_h.rps / c_h.rps)
        for s_me, c_me, s_h, c_h in zip(
            samples[me], ceilings[me], samples[health], ceilings[health], strict=True
        )
    ]
    print(f"GET /api/v2/me (bearer token) / GET /healthz req/s = {statistics.median(by_round):.2f}")
    year = "GET /api/v2/me/stats, 2025 by day"
    by_round = [
        (s_y.rps / c_y.rps) / (s_me.rps / c_me.rps)
        for s_y, c_y, s_me, c_me in zip(samples[year], ceilings[year], samples[me], ceilings[me], strict=True)
    ]
    print(
        f"{year} ({YEAR_SESSIONS:,} sessions, 365 buckets) / GET /api/v2/me req/s = "
        f"{statistics.median(by_round):.2f}"
    )
    setup = f"{CONNECTIONS} keep-alive connections, {args.threads} waitress threads, {args.rounds} rounds"
    print(
        f"\n{setup}, {args.seconds:.0f}s per scenario, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
