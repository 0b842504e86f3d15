"""The HTTP benchmark: ``nox -s bench``. It prints figures and asserts nothing.

Usage (arguments after ``--`` reach the benchmark; ``--help`` tells them all)::

    nox -s bench                                  # SQLite only
    nox -s bench -- --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    nox -s bench -- --database postgresql --scenario '^GET /api/users/ ' --round-seconds 3
    nox -s bench -- --list                        # the scenarios, and nothing run
    nox -s bench -- --workers 2                   # luminary serve (and the ceiling) with 2 workers
    nox -s bench -- --compare-workers 2           # the reads at 1 and 2 workers, and their ratio
    nox -s bench -- --scenario 'peak RSS'         # memory of GET /api/users/ on 10,000 users
    nox -s bench -- --scenario 'metrics off|never reached'   # what metrics and rate limits cost

1. Seeds, by the same code for each database, four databases: 1x (50 users,
   the 3 default constellations and a big one for the write mix, an attempt
   each, 20 sessions per user half of them completed, 10 posts per user, and a
   student and an administrator who sign in with a token), 10x (10x the users,
   sessions and posts, the same two accounts), a year of study (one student
   with 10,000 completed sessions over 2025) and the 1x data again for the
   write mix alone (with 1,024 attempts at the big constellation, so that
   each attempt, whose v1 answer lists its sessions, gains a few sessions in a
   full run rather than hundreds: about 1 KB an answer on average), so that
   the lists read elsewhere do not grow during the run; and 10,000 users
   (with the 1x shape) for the peak memory, only when
   that scenario is chosen by ``--scenario``. SQLite always (unless
   ``--database`` leaves it out); PostgreSQL when ``--postgres-url`` or
   ``$LUMINARY_BENCH_POSTGRES_URL`` names a server: its databases are throwaway
   ones created there and dropped at the end, whatever happens. Only the
   databases the chosen scenarios need are seeded. Every server runs to the
   end, and each PostgreSQL worker keeps a connection per thread: when they
   may need more than the server's ``max_connections`` leaves free (every
   scenario at 1 and 2 workers, ``--compare-workers 2 --scenario .``, needs 108
   at 4 threads; ``--compare-workers 2`` alone, its reads, 36), a warning says
   so before the rounds, and again at the end.
2. Starts ``luminary serve`` (API v1 open, no ``LUMINARY_*`` setting of the
   environment, ``--workers`` as asked, 1 by default, each worker kept on a
   CPU of its own as ``--cpu-affinity`` says, ``on`` by default; SQLite's commits
   waiting for the disk unless ``--sqlite-synchronous normal``) on each, again with the
   extra arguments of each variant chosen (below), and a bare
   Falcon app under the same waitress settings, threads and workers: the
   ceiling. With ``--compare-workers N``, each database and the ceiling are
   served twice, with 1 worker and with N, and the read scenarios (unless
   ``--scenario`` chooses) run on both.
3. Drives each with 16 keep-alive connections on loopback, in rounds: every
   stretch of a scenario is bracketed by the ceiling (half a stretch before,
   half after) and follows a short warm-up, and a round runs every scenario of
   every database, so both databases meet the same machine. A variant runs
   right next to its baseline; they take turns being first, round by round.
4. Prints, per database and scenario: requests per second (median of the
   rounds), p50 and p99 (over every request), errors (status 400 or more, or no
   answer), the share of the ceiling (median of the rounds' ratios), the
   serving processes' CPU milliseconds per answer (``/proc/<pid>/stat``,
   median of the rounds) and the share of the ceiling by CPU (the ceiling's CPU
   per answer over the scenario's), bytes per
   answer (mean body size), the load generator's own CPU per answer
   (``client ms``) and the rest of the machine's (``others ms``: the database
   server's, and whatever else runs) and, for lists, items per answer (the entries of
   the answer's list, counted in one answer parsed before the rounds) and items
   served per second (items per answer × requests per second), and the same
   for objects (every JSON object in those entries, nested ones included: a v1
   user with their sessions and posts, a constellation with its attempts and
   posts), so that a list that grows 10x is judged per item. Then how each
   scenario fares at 10x data against 1x, what a bearer token costs
   (``GET /api/v2/me`` against ``GET /healthz``, no database) and what a year
   of stats costs against ``/me``; what each variant's feature costs, as the
   median of the rounds' ratios by requests per second and by CPU per answer
   (``metrics overhead, GET /api/users/{id}/ 1x: with/without = 0.97 by req/s,
   1.04 by CPU per answer``; ``rate-limit overhead, …: limited/unlimited = …``);
   the spread of the ceiling's stretches; for
   the peak-memory scenario, the serving processes' resident memory idle
   (VmRSS, before any request) and at its peak (VmHWM, after the rounds); with
   ``--compare-workers``, N workers / 1 worker per scenario and database
   (median of the rounds' ratios) beside what the machine allows (the most
   that ratio can be, from the 1-worker CPU per answer of the server, the load
   generator and the rest: N workers cannot use more than N cores, and every
   process shares the machine's); anything worth a look (a first answer other
   than 200, tracebacks or ERROR lines in a server's log); and last, one
   compact Markdown table, a line per scenario per database, to paste into a
   note.

The scenarios (1x unless said): API v1 ``GET /api/feed/`` (1x, 10x; every
post), ``GET /api/feed/?limit=100`` (1x, 10x), ``GET /api/users/`` (1x, 10x;
and on 10,000 users for the peak memory, only when chosen),
``GET /api/users/{id}/`` (1x, 10x),
``GET /api/users/{id}/total_minutes/``, ``GET /api/constellations/`` (1x,
10x), the write mix (log a session, complete it, add a star: three requests);
API v2 ``GET /api/v2/feed?limit=100`` (1x, 10x), ``GET /api/v2/users?limit=100``
(1x, 10x), ``GET /api/v2/users/{id}``, ``GET /api/v2/users/{id}/total_minutes``
(these three with the administrator's token), ``GET /api/v2/constellations``,
``GET /api/v2/me``, ``GET /api/v2/me/stats`` over 2025 by day (the year); and
``GET /healthz``. v2 pages hold 100 items at most: its lists are judged per item.

Variants: ``GET /api/users/{id}/`` and the write mix are served twice more,
on the same database, to measure what a feature costs against the usual
server: ``(metrics off)`` with ``--no-metrics``, and ``(rate limits never
reached)`` with ``--rate-limit read=1000000000/60 --rate-limit
write=1000000000/60`` (counted by address, as v1 is; on PostgreSQL in the
database, permits leased 1,024 at a time). Choosing a variant with
``--scenario`` brings its baseline along.

The default run (5 rounds of 1 s per scenario, with 1 s of the ceiling
around each) takes about 6 minutes per database on 2 cores, seeding included.
Figures from one run are compared with each other only: the machine is shared.

Why the ceiling swung (1,500 to 6,400 req/s, and ``/healthz`` at 109% of it):
the load generator is one Python process on the same 2 cores as the server,
and other work on the machine takes a core now and then; measured, a stretch
of the ceiling used about 27% of a core in the client and 73% in the server,
one core between them while another process held the other. Requests per
second follow whatever the machine leaves; a stretch of the ceiling taken
before the scenario's, as it was, met another machine than the scenario's.
Hence the brackets, the warm-up and 5 rounds; and since the CPU a process
spends per answer moves less with the load around it (once its threads stay
on one core: below), the share by CPU is the steadier figure (on PostgreSQL
it leaves out the database server's own CPU). ``/healthz`` does more than the
ceiling (middleware, an access-log line) and should only come near it by noise.

With one thread per worker it did not: in full runs the ceiling measured
1,484–1,705 req/s at 0.63–0.73 ms of CPU per answer, ``/healthz`` 3,181–3,762
at 0.29–0.34 ms. The cause was where the system ran the threads. A worker's
waitress loop and its thread take turns holding the interpreter lock; free to
run on both cores, each hand-over woke the other thread on the other core
(about 20 context switches per answer, counted in ``/proc/<pid>/task``), and
how often that happened swung from stretch to stretch, and from server to
server. Kept on one core, 2.5 per answer. Hence ``--cpu-affinity``, ``on`` by
default here for ``luminary serve`` and the ceiling alike: each worker on a CPU
of its own, as ``luminary serve`` keeps its default of one worker per CPU (its
``auto``). ``--cpu-affinity off`` measures the servers as the system places
them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

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
from luminary.http.cli import default_threads
from luminary.sql import SqlAlchemyUnitOfWork, make_engine, upgrade

HERE = Path(__file__).parent
CONNECTIONS = 16
#: The attempts at the big constellation in the write mix's database, 64 per connection's user:
#: each step adds a session to one of them, and its v1 answer lists the attempt's sessions, so
#: with one attempt per connection the answers grew through a run (1.7 KB to 10.6 KB on
#: average over a full run), measuring the run's length rather than the write.
WRITE_ATTEMPTS = 64 * CONNECTIONS


# ---------------------------------------------------------------- seeding


def seed(
    url: str,
    users: int,
    *,
    sessions_per_user: int = 20,
    posts_per_user: int = 10,
    big_attempts: int = CONNECTIONS,
) -> None:
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
        # Attempts at the big constellation: one per benchmark connection (and its user), or more.
        for c in range(big_attempts):
            uow.attempts.add(Attempt(user_id=_big_owner(c, users), constellation_id=big.id, created_at=at()))
        uow.commit()
    engine.dispose()


def _big_owner(c: int, users: int) -> int:
    """The user of the ``c``-th attempt at the big constellation: one of the first ``CONNECTIONS``."""
    return 1 + c % min(users, CONNECTIONS)


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


def seed_admin(url: str) -> str:
    """Give the seeded database an administrator and an admin token (``GET /api/v2/users`` needs one)."""
    engine = make_engine(url)
    clock = SystemClock()
    login = "bench-admin"
    create_account(
        SqlAlchemyUnitOfWork(engine),
        SignUp(display_name="Bench Administrator", login=login, password="correct horse battery staple"),
        actor=SYSTEM,
        clock=clock,
        admin=True,
    )
    issued = issue_token(
        SqlAlchemyUnitOfWork(engine), login, name="bench", scopes=["read", "admin"], actor=SYSTEM, clock=clock
    )
    engine.dispose()
    return issued.secret


#: The key of the database the write mix writes to: seeded as 1x, so that the reads' data stays put.
WRITE = -1
#: How each database is named (PostgreSQL's are ``luminary_bench_<random>_<name>``), and its data in tables.
#: The key of the database of :data:`PEAK_USERS` users, where the peak memory of a long list is measured.
PEAK = -2
PEAK_USERS = 10_000
SCALES = {1: "1x", 10: "10x", YEAR: "year", WRITE: "writes", PEAK: "10k"}
DATA = {1: "1x", 10: "10x", YEAR: "year", WRITE: "1x", PEAK: "10k users"}


@attrs.define
class Database:
    """One database engine under test: its seeded databases by scale, and their tokens by role."""

    name: str
    urls: dict[int, str] = attrs.Factory(dict)
    tokens: dict[int, dict[str, str]] = attrs.Factory(dict)


def seed_all(db: Database, urls: Mapping[int, str], users: int) -> None:
    """Seed the databases at ``urls`` (by scale) for ``db`` and keep their tokens; the same code for all."""
    for scale, url in urls.items():
        t0 = time.perf_counter()
        if scale == YEAR:
            upgrade(url)
            db.tokens[scale] = {"year": seed_year(url)}
            what = f"a year of study ({YEAR_SESSIONS:,} sessions)"
        elif scale == WRITE:
            seed(url, users, big_attempts=WRITE_ATTEMPTS)
            what = f"{users} users, {users * 10} posts, for the write mix"
        elif scale == PEAK:
            seed(url, PEAK_USERS)
            what = f"{PEAK_USERS:,} users, {PEAK_USERS * 10:,} posts, for the peak memory"
        else:
            seed(url, users * scale)
            db.tokens[scale] = {"student": seed_student(url), "admin": seed_admin(url)}
            what = f"{users * scale} users, {users * scale * 10} posts, a student and an administrator"
        db.urls[scale] = url
        print(
            f"seeded {db.name} {SCALES[scale]:>4}: {what} in {time.perf_counter() - t0:.1f}s",
            flush=True,
        )


@contextlib.contextmanager
def postgres_databases(server_url: str, scales: Iterable[int]) -> Iterator[dict[int, str]]:
    """Throwaway databases on the PostgreSQL server of ``server_url``, one per scale, dropped on the way out.

    ``server_url`` connects to any database of the server the user may create databases from.
    """
    import sqlalchemy as sa  # luminary-sql's own dependency

    base = sa.engine.make_url(server_url)
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    prefix = f"luminary_bench_{uuid.uuid4().hex[:10]}"
    created: list[str] = []
    try:
        urls = {}
        for scale in scales:
            name = f"{prefix}_{SCALES[scale]}"
            with admin.connect() as connection:
                connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
            created.append(name)
            urls[scale] = base.set(database=name).render_as_string(hide_password=False)
        yield urls
    finally:
        with admin.connect() as connection:
            for name in created:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        if created:
            print(f"dropped the PostgreSQL databases {prefix}_*", flush=True)


def connections_warning(
    server_url: str, threads: int, workers: Iterable[int], servers: Iterable[tuple[int, tuple[str, ...]]]
) -> str | None:
    """A warning when the PostgreSQL servers started at once may need more connections than the server has.

    Every server runs through the whole benchmark, and each worker keeps a
    connection per thread that ran a unit of work at once (and a limiter's
    pool of 2 with rate limits): with workers spreading the load evenly, each
    keeps them all. Past the server's ``max_connections`` (less the slots kept
    for superusers and those already open) requests are answered 503.
    """
    import sqlalchemy as sa

    need = sum(
        count * (threads + (2 if any(arg.startswith("--rate-limit") for arg in extra) else 0))
        for count in workers
        for _, extra in servers
    )
    admin = sa.create_engine(sa.engine.make_url(server_url), poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as connection:
            most = int(connection.execute(sa.text("SHOW max_connections")).scalar_one())
            kept = int(connection.execute(sa.text("SHOW superuser_reserved_connections")).scalar_one())
            open_now = int(connection.execute(sa.text("SELECT count(*) FROM pg_stat_activity")).scalar_one())
    finally:
        admin.dispose()
    free = most - kept - open_now
    if need <= free:
        return None
    return (
        f"PostgreSQL: the servers started at once may keep up to {need} connections, and the server "
        f"takes {free} more (max_connections {most}): expect 503s (too many clients) once they are all "
        f"in use; choose fewer scenarios (--scenario) or raise max_connections"
    )


# ---------------------------------------------------------------- servers


def clean_environment() -> dict[str, str]:
    """This environment without the settings that would reach ``luminary serve`` behind its flags."""
    return {
        k: v for k, v in os.environ.items() if not k.startswith(("LUMINARY_", "DATABASE_URL", "POSTGRES_"))
    }


#: The process that serves each port (the supervisor, when it runs workers).
PIDS: dict[int, int] = {}


@contextlib.contextmanager
def process(args: list[str], log: IO[str]) -> Iterator[int]:
    """Run a server writing its log to ``log``; yield its port once it says it serves."""
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=log,
        stdin=subprocess.DEVNULL,
        text=True,
        env=clean_environment(),
    )
    assert proc.stdout is not None
    port = None
    for line in proc.stdout:
        found = re.search(r"Serving Luminary on http://(?:\[[^\]]*\]|[^:/\s]+):(\d+)", line)
        if found:
            port = int(found.group(1))
            break
    if port is None:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"{args} did not start: see {log.name}")
    PIDS[port] = proc.pid
    try:
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def luminary(
    url: str,
    threads: int,
    workers: int,
    log: IO[str],
    extra: tuple[str, ...] = (),
    affinity: str = "on",
) -> contextlib.AbstractContextManager[int]:
    """``luminary serve`` on ``url``, with ``extra`` arguments after the benchmark's own."""
    script = Path(sys.executable).with_name("luminary")
    return process(
        [
            str(script),
            "serve",
            "--no-seed",
            "--v1",
            "open",
            "--port",
            "0",
            "--threads",
            str(threads),
            # Always said (the server's own default depends on the database), unless the server is
            # from before --workers existed and serves one process anyway.
            *(["--workers", str(workers)] if workers != 1 or knows(script, "--workers") else []),
            *affinity_args(affinity),
            "--database-url",
            url,
            *extra,
        ],
        log,
    )


@functools.cache
def serve_help(script: Path) -> str:
    found = subprocess.run([str(script), "serve", "--help"], capture_output=True, text=True, check=False)
    return found.stdout


def knows(script: Path, option: str) -> bool:
    """Whether this ``luminary serve`` has ``option``."""
    return option in serve_help(script)


def affinity_args(affinity: str) -> list[str]:
    """``--cpu-affinity`` for luminary serve and the ceiling alike, unless the installed server is
    from before it existed (its workers, and the ceiling's, then go where the system puts them)."""
    script = Path(sys.executable).with_name("luminary")
    return ["--cpu-affinity", affinity] if knows(script, "--cpu-affinity") else []


def threads_for(chosen: int | None, db: Database) -> int:
    """The waitress threads per worker: as chosen, else what ``luminary serve`` takes on that database."""
    if chosen is not None:
        return chosen
    return default_threads(next(iter(db.urls.values())))


def ceiling(
    threads: int, workers: int, log: IO[str], affinity: str = "on"
) -> contextlib.AbstractContextManager[int]:
    command = [sys.executable, str(HERE / "ceiling.py"), "--port", "0", "--threads", str(threads)]
    return process([*command, "--workers", str(workers), *affinity_args(affinity)], log)


def serving_pids(port: int) -> list[int]:
    """The processes answering on ``port``: the server, or the workers of its supervisor."""
    parent = PIDS[port]
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                children.append(int(entry.name))
    return sorted(children) or [parent]


def memory_kib(pid: int) -> tuple[int, int]:
    """The resident set of ``pid`` now and at its peak (VmRSS, VmHWM), in KiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


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
        if self.closed:  # the last answer said Connection: close: open another
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
            raw_name, _, raw_value = line.partition(b":")
            field = raw_name.strip().lower()
            if field == b"content-length":
                length = int(raw_value)
            elif field == b"transfer-encoding":
                chunked = raw_value.strip().lower() == b"chunked"
            elif field == b"connection":
                self.closed = raw_value.strip().lower() == b"close"
        if chunked:  # long v1 lists are streamed
            return status, await self._chunks()
        payload = await self.reader.readexactly(length) if length else b""
        return status, payload

    async def _chunks(self) -> bytes:
        parts: list[bytes] = []
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


#: What a step records of each request: status, seconds and body bytes; status 0 is no answer.
Result = tuple[int, float, int]
Step = Callable[[Connection, int], Awaitable[list[Result]]]
NO_ANSWER = 0


def get(path: str | Callable[[int], str], *, token: str | None = None) -> Step:
    """GET ``path``; with ``token``, as its holder (``Authorization: Bearer …``)."""
    headers = {"Authorization": f"Bearer {token}"} if token else None

    async def step(conn: Connection, n: int) -> list[Result]:
        target = path(n) if callable(path) else path
        t0 = time.perf_counter()
        status, body = await conn.request("GET", target, headers=headers)
        return [(status, time.perf_counter() - t0, len(body))]

    return step


def write_mix(attempts: list[tuple[int, int]]) -> Step:
    """As the app does: log a session on an attempt, complete it, add a star; three requests per step.

    ``attempts`` holds (user id, attempt id) pairs; step ``n`` takes the n-th of them (going round).
    """

    async def step(conn: Connection, n: int) -> list[Result]:
        results = []
        user_id, attempt_id = attempts[n % len(attempts)]
        t0 = time.perf_counter()
        status, body = await conn.request(
            "POST",
            "/api/sessions/",
            {"user_id": user_id, "constellation_attempt_id": attempt_id, "minutes": 5},
        )
        results.append((status, time.perf_counter() - t0, len(body)))
        if status == 201:
            sid = json.loads(body)["id"]
            t0 = time.perf_counter()
            status, body = await conn.request("PUT", f"/api/sessions/{sid}/complete")
            results.append((status, time.perf_counter() - t0, len(body)))
        t0 = time.perf_counter()
        status, body = await conn.request("PUT", f"/api/constellation_attempts/{attempt_id}/")
        results.append((status, time.perf_counter() - t0, len(body)))
        return results

    return step


@attrs.define
class Sample:
    """What one measured stretch of load produced."""

    seconds: float
    latencies: list[float]
    body_bytes: int
    #: Statuses of 400 or more (and NO_ANSWER) and how often each came.
    failures: Counter[int]
    #: CPU seconds the serving processes spent meanwhile (user and system).
    server_cpu: float = 0.0
    #: CPU seconds this load generator spent meanwhile.
    client_cpu: float = 0.0
    #: CPU seconds the whole machine spent meanwhile (every process: the database server's too).
    machine_cpu: float = 0.0

    @property
    def cpu_ms(self) -> float:
        """The serving processes' CPU milliseconds per answer."""
        return self._per_answer(self.server_cpu)

    @property
    def client_ms(self) -> float:
        """The load generator's CPU milliseconds per answer."""
        return self._per_answer(self.client_cpu)

    @property
    def others_ms(self) -> float:
        """The CPU milliseconds per answer of everything else on the machine (a database server)."""
        return self._per_answer(max(0.0, self.machine_cpu - self.server_cpu - self.client_cpu))

    def _per_answer(self, seconds: float) -> float:
        return 1000 * seconds / len(self.latencies) if self.latencies else 0.0

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def errors(self) -> int:
        return sum(self.failures.values())


async def drive(
    port: int, step: Step, seconds: float, timeout: float, connections: int = CONNECTIONS
) -> Sample:
    """Run ``step`` on every connection until ``seconds`` have passed, then let the last ones finish.

    A step that fails to get an answer (connection lost, garbled, or none within
    ``timeout``) counts as one request without an answer, and its connection is opened again.
    """
    opened = [await Connection.open(port) for _ in range(connections)]
    results: list[Result] = []
    deadline = time.perf_counter() + seconds

    async def loop(index: int, conn: Connection) -> None:
        n = 0
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                async with asyncio.timeout(timeout):  # no task of its own: cheaper than wait_for
                    results.extend(await step(conn, index * 7919 + n))
            except (OSError, EOFError, ValueError, IndexError, KeyError, asyncio.IncompleteReadError):
                # TimeoutError (asyncio.timeout) is an OSError.
                results.append((NO_ANSWER, time.perf_counter() - t0, 0))
                conn.closed = True  # the next request opens a new connection
                if time.perf_counter() - t0 < 0.01:
                    await asyncio.sleep(0.01)  # a server that is gone: do not spin
            n += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(i, c) for i, c in enumerate(opened)))
    elapsed = time.perf_counter() - started
    for c in opened:
        c.close()
    answered = [r for r in results if r[0] != NO_ANSWER]
    return Sample(
        elapsed,
        [latency for _, latency, _ in answered],
        sum(size for _, _, size in answered),
        Counter(status for status, _, _ in results if status >= 400 or status == NO_ANSWER),
    )


def measure(
    port: int, step: Step, seconds: float, timeout: float = 120.0, connections: int = CONNECTIONS
) -> Sample:
    pids = serving_pids(port) if port in PIDS else []
    cpu, client, machine = sum(cpu_seconds(pid) for pid in pids), time.process_time(), machine_seconds()
    sample = asyncio.run(drive(port, step, seconds, timeout, connections))
    sample.server_cpu = sum(cpu_seconds(pid) for pid in pids) - cpu
    sample.client_cpu = time.process_time() - client
    sample.machine_cpu = machine_seconds() - machine
    return sample


def bound(one_worker: list[Sample], workers: int) -> str:
    """How many times one worker's req/s ``workers`` workers can serve at most on this machine.

    From each 1-worker round: ``workers`` processes cannot answer faster than
    each spends CPU per answer, and the machine's CPUs cannot give more than
    every process together (server, load generator, database server) spends
    per answer. The rounds' median, or "-" where no CPU time was measured.
    """
    ratios = []
    for s in one_worker:
        whole = s.cpu_ms + s.client_ms + s.others_ms
        if s.cpu_ms and s.rps:
            ceiling = min(workers * 1000 / s.cpu_ms, (os.cpu_count() or 1) * 1000 / whole)
            ratios.append(ceiling / s.rps)
    return f"{statistics.median(ratios):.2f}" if ratios else "-"


def machine_seconds() -> float:
    """The CPU time every core of the machine has spent busy (not idle, not waiting for I/O)."""
    try:
        ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """The CPU time ``pid`` has used, user and system (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fetch_once(port: int, path: str, token: str | None) -> tuple[int, bytes]:
    """One GET on a connection of its own."""

    async def once() -> tuple[int, bytes]:
        conn = await Connection.open(port)
        try:
            headers = {"Authorization": f"Bearer {token}"} if token else None
            return await conn.request("GET", path, headers=headers)
        finally:
            conn.close()

    return asyncio.run(once())


def count_objects(value: object) -> int:
    """The JSON objects in ``value``, itself included, nested ones too."""
    if isinstance(value, dict):
        return 1 + sum(count_objects(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_objects(v) for v in value)
    return 0


def count_items(body: bytes) -> tuple[int, int] | None:
    """The entries of a list answer and the objects in them, or None if ``body`` holds no one list.

    A list answer is a JSON object with one array member: v1's ``{"users": [...]}``,
    v2's ``{"data": [...], "next_cursor": ...}``.
    """
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    arrays = [v for v in document.values() if isinstance(v, list)]
    if len(arrays) != 1:
        return None
    return len(arrays[0]), count_objects(arrays[0])


def percentile(ordered: list[float], share: float) -> float:
    return ordered[max(0, int(len(ordered) * share) - 1)] if ordered else 0.0


@attrs.frozen
class Figures:
    """A scenario's figures over its rounds."""

    rps: float  # median of the rounds
    p50: float  # ms, over every request of every round
    p99: float
    errors: int
    failures: Counter[int]
    bytes: float  # mean body size per answer
    cpu_ms: float  # the serving processes' CPU per answer, median of the rounds
    client_ms: float  # the load generator's, likewise
    others_ms: float  # the rest of the machine's (the database server's), likewise


def summary(samples: list[Sample]) -> Figures:
    """Throughput as the median of the rounds; latencies over every request of every round."""
    latencies = sorted(latency for s in samples for latency in s.latencies)
    answers = len(latencies)
    failures: Counter[int] = Counter()
    for s in samples:
        failures.update(s.failures)
    return Figures(
        rps=statistics.median(s.rps for s in samples),
        p50=statistics.median(latencies) * 1000 if latencies else 0.0,
        p99=percentile(latencies, 0.99) * 1000,
        errors=sum(failures.values()),
        failures=failures,
        bytes=sum(s.body_bytes for s in samples) / answers if answers else 0.0,
        cpu_ms=statistics.median(s.cpu_ms for s in samples),
        client_ms=statistics.median(s.client_ms for s in samples),
        others_ms=statistics.median(s.others_ms for s in samples),
    )


# ---------------------------------------------------------------- scenarios


@attrs.frozen
class Scenario:
    """A request (or the write mix) against the database of one scale, as the holder of one role's token."""

    name: str
    scale: int
    #: The path of a GET, or one for the n-th request; None for the write mix.
    path: str | Callable[[int], str] | None = None
    #: Whose token it sends: "student", "admin" or "year"; None for no token.
    role: str | None = None
    #: Whether the answer is a list, judged per item.
    listing: bool = False
    #: Whether the serving processes' memory is read: idle before the rounds, at its peak after them.
    memory: bool = False
    #: Arguments ``luminary serve`` gets for this scenario (a server of its own), after the usual ones.
    serve: tuple[str, ...] = ()
    #: For a variant (:data:`VARIANTS`): the label of the scenario it is compared with, served as usual.
    baseline: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name} {DATA[self.scale]}"

    @property
    def server(self) -> tuple[int, tuple[str, ...]]:
        """What tells its server from the others: the database's scale and the extra arguments."""
        return self.scale, self.serve

    @property
    def reads(self) -> bool:
        return self.path is not None

    def step(self, db: Database, attempts: list[tuple[int, int]]) -> Step:
        if self.path is None:
            return write_mix(attempts)
        return get(self.path, token=self.token(db))

    def token(self, db: Database) -> str | None:
        return db.tokens[self.scale][self.role] if self.role else None

    def first_path(self) -> str | None:
        return self.path(0) if callable(self.path) else self.path


@attrs.frozen
class Variant:
    """A scenario served with other ``luminary serve`` arguments, to measure what a feature costs.

    Its rounds interleave with its baseline's (the same scenario served as usual),
    and the report gives their ratio, ``top`` / ``bottom``.
    """

    #: What the scenario's name says of it: ``GET /api/users/{id}/ (metrics off)``.
    suffix: str
    serve: tuple[str, ...]
    #: What the ratio measures, and how it reads: ``metrics overhead``, ``with/without``.
    measures: str
    reads: str
    #: Whether the baseline is the ratio's top (metrics: on by default, so with/without = baseline/variant).
    baseline_on_top: bool


#: A limit no run reaches: what counting costs, never a refusal (on PostgreSQL, permits leased 1,024 at once).
NEVER_REACHED = "1000000000/60"
VARIANTS = (
    Variant("metrics off", ("--no-metrics",), "metrics overhead", "with/without", baseline_on_top=True),
    Variant(
        "rate limits never reached",
        ("--rate-limit", f"read={NEVER_REACHED}", "--rate-limit", f"write={NEVER_REACHED}"),
        "rate-limit overhead",
        "limited/unlimited",
        baseline_on_top=False,
    ),
)
#: The scenarios whose variants are measured: a read and the write mix (by address, as API v1 counts).
WITH_VARIANTS = ("GET /api/users/{id}/ 1x", "write mix (session, complete, star) 1x")


def with_variants(scenarios: list[Scenario]) -> list[Scenario]:
    """``scenarios``, each of :data:`WITH_VARIANTS` followed by its variants (:data:`VARIANTS`)."""
    planned: list[Scenario] = []
    for s in scenarios:
        planned.append(s)
        if s.label in WITH_VARIANTS:
            planned += [
                attrs.evolve(s, name=f"{s.name} ({v.suffix})", serve=v.serve, baseline=s.label)
                for v in VARIANTS
            ]
    return planned


def variant_of_serve(serve: tuple[str, ...]) -> Variant:
    """The variant served with these arguments."""
    return next(v for v in VARIANTS if v.serve == serve)


def groups(scenarios: list[Scenario]) -> list[list[Scenario]]:
    """The scenarios in the order of a round, a baseline and its variants in one group."""
    found: list[list[Scenario]] = []
    by_label: dict[str, list[Scenario]] = {}
    for s in scenarios:
        if s.baseline is not None and s.baseline in by_label:
            by_label[s.baseline].append(s)
        else:
            by_label[s.label] = [s]
            found.append(by_label[s.label])
    return found


def plan(users: int) -> list[Scenario]:
    """Every scenario, in the order of a round."""

    def user(n: int) -> int:
        return 1 + n % users  # the seeded users are 1 to ``users`` at every scale

    v2_user = "GET /api/v2/users/{id}"
    return with_variants(
        [
            Scenario("GET /api/feed/", 1, "/api/feed/", listing=True),
            Scenario("GET /api/feed/", 10, "/api/feed/", listing=True),
            Scenario("GET /api/feed/?limit=100", 1, "/api/feed/?limit=100", listing=True),
            Scenario("GET /api/feed/?limit=100", 10, "/api/feed/?limit=100", listing=True),
            Scenario("GET /api/users/", 1, "/api/users/", listing=True),
            Scenario("GET /api/users/", 10, "/api/users/", listing=True),
            Scenario("GET /api/users/ (peak RSS)", PEAK, "/api/users/", listing=True, memory=True),
            Scenario("GET /api/users/{id}/", 1, lambda n: f"/api/users/{user(n)}/"),
            Scenario("GET /api/users/{id}/", 10, lambda n: f"/api/users/{user(n)}/"),
            Scenario(
                "GET /api/users/{id}/total_minutes/", 1, lambda n: f"/api/users/{user(n)}/total_minutes/"
            ),
            Scenario("GET /api/constellations/", 1, "/api/constellations/", listing=True),
            Scenario("GET /api/constellations/", 10, "/api/constellations/", listing=True),
            Scenario("write mix (session, complete, star)", WRITE),
            Scenario("GET /api/v2/feed?limit=100", 1, "/api/v2/feed?limit=100", "student", listing=True),
            Scenario("GET /api/v2/feed?limit=100", 10, "/api/v2/feed?limit=100", "student", listing=True),
            Scenario(
                "GET /api/v2/users?limit=100 (admin)", 1, "/api/v2/users?limit=100", "admin", listing=True
            ),
            Scenario(
                "GET /api/v2/users?limit=100 (admin)", 10, "/api/v2/users?limit=100", "admin", listing=True
            ),
            # Another student's data is not a student's to read (404): the administrator reads it.
            Scenario(f"{v2_user} (admin)", 1, lambda n: f"/api/v2/users/{user(n)}", "admin"),
            Scenario(
                f"{v2_user}/total_minutes (admin)",
                1,
                lambda n: f"/api/v2/users/{user(n)}/total_minutes",
                "admin",
            ),
            Scenario("GET /api/v2/constellations", 1, "/api/v2/constellations", "student", listing=True),
            Scenario("GET /healthz (no token)", 1, "/healthz"),
            Scenario("GET /api/v2/me (bearer token)", 1, "/api/v2/me", "student"),
            Scenario(
                "GET /api/v2/me/stats, 2025 by day",
                YEAR,
                "/api/v2/me/stats?from=2025-01-01&to=2025-12-31&by=day",
                "year",
            ),
        ]
    )


@attrs.frozen
class Probe:
    """One answer of a scenario, fetched before the rounds: its status, size and, for lists, its items."""

    status: int
    size: int
    items: int | None = None
    objects: int | None = None


def probe(port: int, scenario: Scenario, db: Database) -> Probe | None:
    path = scenario.first_path()
    if path is None:
        return None
    status, body = fetch_once(port, path, scenario.token(db))
    counted = count_items(body) if scenario.listing else None
    if counted is None:
        return Probe(status, len(body))
    return Probe(status, len(body), *counted)


# ---------------------------------------------------------------- report


ENGINES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
CEILING = "ceiling: bare Falcon, constant JSON"


@attrs.frozen
class Row:
    """A line of the report: a scenario's figures on one database."""

    database: str
    scenario: str
    data: str
    figures: Figures
    share: float  # of the ceiling, median of the rounds' ratios
    probe: Probe | None = None
    #: The ceiling's CPU per answer / this scenario's, median of the rounds' ratios.
    cpu_share: float = 1.0

    @property
    def items(self) -> int | None:
        return self.probe.items if self.probe else None

    @property
    def objects(self) -> int | None:
        return self.probe.objects if self.probe else None


def per_second(count: int | None, rps: float) -> str:
    return "" if count is None else f"{count * rps:,.0f}"


def failures_text(failures: Counter[int]) -> str:
    return ", ".join(
        f"{'no answer' if status == NO_ANSWER else status}×{n}" for status, n in sorted(failures.items())
    )


def print_table(headers: list[str], lines: list[list[str]], *, markdown: bool = False) -> None:
    """Columns aligned, the first ones to the left and the figures to the right; in Markdown if asked."""
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(headers)]
    left = 3 if markdown else 2  # database, scenario, data in Markdown; scenario, data otherwise

    def cells(values: list[str]) -> list[str]:
        return [
            v.ljust(w) if i < left else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]

    if markdown:
        print("| " + " | ".join(cells(headers)) + " |")
        print("|" + "|".join("-" * (w + 1) + ("-" if i < left else ":") for i, w in enumerate(widths)) + "|")
        for line in lines:
            print("| " + " | ".join(cells(line)) + " |")
    else:
        print("  ".join(cells(headers)).rstrip())
        for line in lines:
            print("  ".join(cells(line)).rstrip())


def ratio_by_round(
    samples: dict[tuple[str, str], list[Sample]],
    ceilings: dict[tuple[str, str], list[Sample]],
    db: str,
    top: str,
    bottom: str,
) -> float:
    """Median over rounds of (top's share of its ceiling) / (bottom's), scenarios of one database."""
    return statistics.median(
        (s_t.rps / c_t.rps) / (s_b.rps / c_b.rps)
        for s_t, c_t, s_b, c_b in zip(
            samples[db, top], ceilings[db, top], samples[db, bottom], ceilings[db, bottom], strict=True
        )
    )


def scan_log(path: Path) -> str | None:
    """What a server's log says that went wrong: tracebacks and error lines, with the first one."""
    text = path.read_text(errors="replace")
    tracebacks = text.count("Traceback (most recent call last)")
    errors = [line for line in text.splitlines() if re.search(r"\b(ERROR|CRITICAL)\b", line)]
    if not tracebacks and not errors:
        return None
    first = ""
    if tracebacks:
        block = text[text.index("Traceback (most recent call last)") :].splitlines()[:30]
        first = "\n    " + "\n    ".join(block)
    elif errors:
        first = "\n    " + errors[0]
    return f"{tracebacks} tracebacks, {len(errors)} ERROR/CRITICAL lines; the first:{first}"


def joined(before: Sample, after: Sample) -> Sample:
    """Two stretches as one."""
    return Sample(
        before.seconds + after.seconds,
        before.latencies + after.latencies,
        before.body_bytes + after.body_bytes,
        before.failures + after.failures,
        before.server_cpu + after.server_cpu,
    )


def ceiling_rates(
    ceilings: dict[tuple[str, str], list[Sample]], name: str, scenarios: list[Scenario]
) -> list[float]:
    return [c.rps for s in scenarios for c in ceilings[name, s.label]]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--round-seconds",
        type=float,
        default=None,
        help="seconds of each stretch of a scenario, and of the ceiling around it, half before and half "
        "after (default 1.5)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="or: measured seconds per scenario in all, split over the rounds",
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds per scenario (default 5)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="waitress threads per worker (default: luminary serve's for each database, "
        f"{default_threads('sqlite:///x.db')} on SQLite, {default_threads('postgresql://db/y')} on "
        "PostgreSQL; the ceiling is served with each count used)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes of luminary serve, and of the ceiling (default 1)",
    )
    parser.add_argument(
        "--cpu-affinity",
        choices=["auto", "on", "off"],
        default="on",
        help="luminary serve's --cpu-affinity, and the ceiling's (default on: every worker on a CPU of "
        "its own, as the default of one worker per CPU has them, 1 worker included)",
    )
    parser.add_argument(
        "--sqlite-synchronous",
        choices=["full", "normal"],
        default="full",
        help="how luminary serve's SQLite commits wait for the disk, as ?synchronous= on its URL says "
        "(default full, luminary's own: each commit waits for its flush; normal: none does)",
    )
    parser.add_argument(
        "--compare-workers",
        type=int,
        metavar="N",
        help="serve each database (and the ceiling) with 1 worker and with N, measure both in every "
        "round, and print N workers / 1 worker per scenario; the read scenarios unless --scenario says",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=CONNECTIONS,
        help=f"keep-alive connections of the load (default {CONNECTIONS})",
    )
    parser.add_argument("--users", type=int, default=50, help="users of the 1x database (default 50)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("LUMINARY_BENCH_POSTGRES_URL"),
        metavar="URL",
        help="a PostgreSQL server to create throwaway databases on, as a SQLAlchemy URL that may "
        "CREATE DATABASE, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres "
        "(default: $LUMINARY_BENCH_POSTGRES_URL; without it, SQLite only)",
    )
    parser.add_argument(
        "--database",
        action="append",
        choices=sorted(ENGINES),
        help="measure this database only; repeat for both (default: SQLite, and PostgreSQL with a URL)",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        metavar="REGEX",
        help="measure the scenarios whose name and data (e.g. 'GET /api/users/ 10x') match, "
        "case-insensitive; repeat for more (default: all; --list names them)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds a request may take before it counts as no answer",
    )
    parser.add_argument("--list", action="store_true", help="print the scenarios and stop")
    args = parser.parse_args()

    scenarios = plan(args.users)
    if args.scenario:
        patterns = [re.compile(p, re.IGNORECASE) for p in args.scenario]
        chosen = [s for s in scenarios if any(p.search(s.label) for p in patterns)]
        # A variant is measured against its baseline: a variant chosen brings its baseline.
        wanted = {s.label for s in chosen} | {s.baseline for s in chosen if s.baseline is not None}
        scenarios = [s for s in scenarios if s.label in wanted]
    else:
        # 10,000 users take minutes to seed: only when asked for. Comparing workers, no variants.
        scenarios = [
            s
            for s in scenarios
            if not s.memory
            and (s.reads or not args.compare_workers)
            and not (args.compare_workers and s.baseline)
        ]
    if args.list:
        for s in scenarios:
            print(s.label)
        return
    if not scenarios:
        parser.error("no scenario matches --scenario (--list names them)")
    if args.rounds < 1:
        parser.error("--rounds must be 1 or more")
    if args.workers < 1 or (args.compare_workers is not None and args.compare_workers < 2):
        parser.error("--workers must be 1 or more, --compare-workers 2 or more")
    variants = [1, args.compare_workers] if args.compare_workers else [args.workers]
    engines = args.database or (["sqlite", "postgresql"] if args.postgres_url else ["sqlite"])
    if "postgresql" in engines and not args.postgres_url:
        parser.error("--database postgresql needs --postgres-url or $LUMINARY_BENCH_POSTGRES_URL")
    if args.round_seconds is not None:
        stretch = args.round_seconds
    elif args.seconds is not None:
        stretch = args.seconds / args.rounds
    else:
        stretch = 1.0
    # SIGTERM unwinds as Ctrl-C does: servers stopped, PostgreSQL databases dropped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    began = time.perf_counter()
    load_before = os.getloadavg()
    scales = sorted({s.scale for s in scenarios}, key=list(SCALES).index)

    def named(engine_name: str, workers: int) -> str:
        return (
            f"{engine_name}, {workers} worker{'s' if workers > 1 else ''}"
            if args.compare_workers
            else engine_name
        )

    names = [named(ENGINES[e], w) for e in engines for w in variants]
    probes: dict[tuple[str, str], Probe | None] = {}
    samples: dict[tuple[str, str], list[Sample]] = {(d, s.label): [] for d in names for s in scenarios}
    ceilings: dict[tuple[str, str], list[Sample]] = {(d, s.label): [] for d in names for s in scenarios}
    troubles: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        logs: dict[str, Path] = {}
        with contextlib.ExitStack() as stack:
            databases = []
            for engine in engines:
                db = Database(ENGINES[engine])
                if engine == "sqlite":
                    # Said only when not luminary's default, for a luminary serve from before the setting.
                    sync = args.sqlite_synchronous
                    said = "" if sync == "full" else f"?synchronous={sync}"
                    urls = {s: f"sqlite:///{Path(tmp) / f'bench-{SCALES[s]}.db'}{said}" for s in scales}
                else:
                    urls = stack.enter_context(postgres_databases(args.postgres_url, scales))
                seed_all(db, urls, args.users)
                databases.append(db)
            seeded = time.perf_counter()

            def log(name: str) -> IO[str]:
                logs[name] = Path(tmp) / f"{name}.log"
                return stack.enter_context(logs[name].open("w"))

            threads = {db.name: threads_for(args.threads, db) for db in databases}
            tops = {
                (t, w): stack.enter_context(ceiling(t, w, log(f"ceiling {w}w {t}t"), args.cpu_affinity))
                for t in sorted(set(threads.values()))
                for w in variants
            }
            targets = [(named(db.name, w), db, w) for db in databases for w in variants]
            # A server per database and scale, and per variant (its own serve arguments) on that scale.
            servers = list(dict.fromkeys(s.server for s in scenarios))

            def log_name(name: str, server: tuple[int, tuple[str, ...]]) -> str:
                scale, extra = server
                return f"{name} {SCALES[scale]}" + (f" {variant_of_serve(extra).suffix}" if extra else "")

            for db in databases:
                if db.name == ENGINES["postgresql"]:
                    warning = connections_warning(args.postgres_url, threads[db.name], variants, servers)
                    if warning:
                        print(warning, flush=True)
                        troubles.append(warning)
            ports = {
                (name, server): stack.enter_context(
                    luminary(
                        db.urls[server[0]],
                        threads[db.name],
                        w,
                        log(log_name(name, server)),
                        server[1],
                        args.cpu_affinity,
                    )
                )
                for name, db, w in targets
                for server in servers
            }
            top_of = {name: tops[threads[db.name], w] for name, db, w in targets}
            # The write mix's attempts at the big constellation, as seed() made them.
            attempts = [(_big_owner(c, args.users), args.users + 1 + c) for c in range(WRITE_ATTEMPTS)]
            steps = {(name, s.label): s.step(db, attempts) for name, db, _ in targets for s in scenarios}
            idle: dict[tuple[str, str], list[tuple[int, int]]] = {}
            for name, db, _ in targets:
                for s in scenarios:
                    port = ports[name, s.server]
                    if s.memory:
                        idle[name, s.label] = [memory_kib(pid) for pid in serving_pids(port)]
                    found = probes[name, s.label] = probe(port, s, db)
                    if found is not None and found.status != 200:
                        troubles.append(f"{name} {s.label}: the probe answered {found.status}")
            for top in tops.values():
                measure(top, get("/"), 1.0, connections=args.connections)  # warm-up, not counted
            for name, _, _ in targets:
                for s in scenarios:
                    warm = min(0.5, stretch)
                    measure(ports[name, s.server], steps[name, s.label], warm, args.timeout, args.connections)
            # The machine is shared, and the load generator shares its cores: the
            # ceiling swings between stretches as much as the scenarios do. Each
            # stretch of a scenario is therefore bracketed by the ceiling, half a
            # stretch just before and half just after (so a drift of the machine
            # during the pair cancels out), after a short warm-up of the server it
            # switches to; a scenario's share of the ceiling is the median of its
            # rounds' ratios. A scenario runs on each database in turn, so that they
            # meet the same machine. A variant runs right after its baseline (or
            # before: they take turns being first, round by round), so that their
            # ratio compares stretches next to each other.
            order = groups(scenarios)
            for r in range(args.rounds):
                t0 = time.perf_counter()
                for group in order:
                    turn = r % len(group)
                    for s in group[turn:] + group[:turn]:
                        for name, _, _ in targets:
                            key = (name, s.label)
                            port, step, top = ports[name, s.server], steps[key], top_of[name]
                            before = measure(top, get("/"), stretch / 2, connections=args.connections)
                            measure(port, step, min(0.1, stretch / 5), args.timeout, args.connections)
                            samples[key].append(measure(port, step, stretch, args.timeout, args.connections))
                            after = measure(top, get("/"), stretch / 2, connections=args.connections)
                            ceilings[key].append(joined(before, after))
                print(f"round {r + 1}/{args.rounds} in {time.perf_counter() - t0:.0f}s", flush=True)
            peaks = {
                key: [memory_kib(pid) for pid in serving_pids(ports[key[0], s.server])]
                for key in idle
                for s in scenarios
                if s.label == key[1]
            }
        for name, path in logs.items():
            found_trouble = scan_log(path)
            if found_trouble:
                troubles.append(f"server log of {name}: {found_trouble}")
    elapsed = time.perf_counter() - began
    load_after = os.getloadavg()

    rows: list[Row] = []
    for d in names:
        all_ceilings = [c for s in scenarios for c in ceilings[d, s.label]]
        rows.append(Row(d, CEILING, "", summary(all_ceilings), 1.0))
        for s in scenarios:
            key = (d, s.label)
            share = statistics.median(
                c_s.rps / c.rps for c_s, c in zip(samples[key], ceilings[key], strict=True)
            )
            cpu_share = statistics.median(
                c.cpu_ms / c_s.cpu_ms if c_s.cpu_ms else 0.0
                for c_s, c in zip(samples[key], ceilings[key], strict=True)
            )
            rows.append(Row(d, s.name, DATA[s.scale], summary(samples[key]), share, probes[key], cpu_share))

    ceiling_spread = {d: sorted(c.rps for s in scenarios for c in ceilings[d, s.label]) for d in names}
    headers = ["scenario", "data", "req/s", "p50 ms", "p99 ms", "errors", "% ceiling", "CPU ms", "% by CPU"]
    headers += ["client ms", "others ms", "B/answer", "items", "items/s", "objects", "objects/s"]
    for d in names:
        print(f"\n{d}\n")
        lines = []
        for row in rows:
            if row.database != d:
                continue
            f = row.figures
            lines.append(
                [
                    row.scenario,
                    row.data,
                    f"{f.rps:,.0f}",
                    f"{f.p50:.1f}",
                    f"{f.p99:.1f}",
                    f"{f.errors}",
                    f"{100 * row.share:.1f}%",
                    f"{f.cpu_ms:.2f}",
                    f"{100 * row.cpu_share:.1f}%",
                    f"{f.client_ms:.2f}",
                    f"{f.others_ms:.2f}",
                    f"{f.bytes:,.0f}",
                    "" if row.items is None else f"{row.items:,}",
                    per_second(row.items, f.rps),
                    "" if row.objects is None else f"{row.objects:,}",
                    per_second(row.objects, f.rps),
                ]
            )
        print_table(headers, lines)
        spread = ceiling_spread[d]
        print(
            f"\nthe ceiling over {len(spread)} stretches: {spread[0]:,.0f} to {spread[-1]:,.0f} req/s, "
            f"quartiles {percentile(spread, 0.25):,.0f} and {percentile(spread, 0.75):,.0f}"
        )
        for key, before in idle.items():
            if key[0] != d:
                continue
            after = peaks[key]
            mib = 1024
            print(
                f"{key[1]}: {len(after)} serving process(es), resident memory (VmRSS) idle "
                f"{sum(rss for rss, _ in before) / mib:,.0f} MiB, peak (VmHWM) "
                f"{sum(hwm for _, hwm in after) / mib:,.0f} MiB in all; per process idle "
                + ", ".join(f"{rss / mib:,.0f}" for rss, _ in before)
                + " MiB, peak "
                + ", ".join(f"{hwm / mib:,.0f}" for _, hwm in after)
                + " MiB"
            )
        print()
        by_label = {s.label: s for s in scenarios}
        for s in scenarios:
            big = f"{s.name} {DATA[10]}"
            if s.scale != 1 or big not in by_label:
                continue
            ratio = ratio_by_round(samples, ceilings, d, big, s.label)
            line = f"{s.name}: 10x data / 1x data = {ratio:.2f} (share of the ceiling)"
            small, large = probes[d, s.label], probes[d, big]
            if small and large and small.items and large.items and small.objects and large.objects:
                line += (
                    f"; items/s {ratio * large.items / small.items:.2f} "
                    f"({small.items:,} → {large.items:,} items)"
                    f"; objects/s {ratio * large.objects / small.objects:.2f}"
                )
            print(line)
        me, health = "GET /api/v2/me (bearer token) 1x", "GET /healthz (no token) 1x"
        year = "GET /api/v2/me/stats, 2025 by day year"
        if me in by_label and health in by_label:
            token_cost = ratio_by_round(samples, ceilings, d, me, health)
            print(f"GET /api/v2/me (bearer token) / GET /healthz req/s = {token_cost:.2f}")
        if me in by_label and year in by_label:
            print(
                f"GET /api/v2/me/stats, 2025 by day ({YEAR_SESSIONS:,} sessions, 365 buckets) "
                f"/ GET /api/v2/me req/s = {ratio_by_round(samples, ceilings, d, year, me):.2f}"
            )
        for s in scenarios:
            if s.baseline is None or s.baseline not in by_label:
                continue
            variant = variant_of_serve(s.serve)
            base, other = samples[d, s.baseline], samples[d, s.label]
            top, bottom = (base, other) if variant.baseline_on_top else (other, base)
            pairs = list(zip(top, bottom, strict=True))
            by_rps = statistics.median(t.rps / b.rps for t, b in pairs)
            cpu = [t.cpu_ms / b.cpu_ms for t, b in pairs if b.cpu_ms]
            by_cpu = f"{statistics.median(cpu):.2f}" if cpu else "-"
            print(
                f"{variant.measures}, {s.baseline}: {variant.reads} = {by_rps:.2f} by req/s, "
                f"{by_cpu} by CPU per answer (medians of the rounds' ratios)"
            )
        for row in rows:
            if row.database == d and row.figures.errors:
                print(f"errors of {row.scenario} {row.data}: {failures_text(row.figures.failures)}")

    if args.compare_workers:
        n = args.compare_workers
        print(
            f"\n{n} workers / 1 worker, req/s (median of the rounds' ratios; each round meets one machine)\n"
        )
        lines = []
        for engine in engines:
            one, many = named(ENGINES[engine], 1), named(ENGINES[engine], n)
            c1, cn = ceiling_rates(ceilings, one, scenarios), ceiling_rates(ceilings, many, scenarios)
            lines.append(
                [ENGINES[engine], CEILING, "", f"{statistics.median(cn) / statistics.median(c1):.2f}", ""]
            )
            for s in scenarios:
                ratio = statistics.median(
                    a.rps / b.rps for a, b in zip(samples[many, s.label], samples[one, s.label], strict=True)
                )
                lines.append(
                    [ENGINES[engine], s.name, DATA[s.scale], f"{ratio:.2f}", bound(samples[one, s.label], n)]
                )
        headers = ["database", "scenario", "data", f"{n}w / 1w", "the machine allows"]
        print_table(headers, lines, markdown=True)
        print(
            f"\n(what the machine allows: {n} workers' req/s over 1 worker's, at most, from the 1-worker CPU "
            f"per answer: the {n} workers each need theirs, and the {os.cpu_count()} CPUs must also carry "
            "the load generator's and the database server's; median of the rounds)"
        )
    workers = f"{args.compare_workers} and 1" if args.compare_workers else str(args.workers)
    setup = (
        f"{args.connections} keep-alive connections, {workers} worker(s) of "
        + ", ".join(f"{n} waitress thread(s) on {name}" for name, n in threads.items())
        + ", "
        f"{args.rounds} round(s) of {stretch:g}s per scenario (with {stretch:g}s of the ceiling around it), "
        f"Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, load average {load_before[0]:.2f} before and {load_after[0]:.2f} after; "
        f"{elapsed / 60:.1f} min in all, {(seeded - began) / 60:.1f} of them seeding"
    )
    print(f"\n{setup}")
    if troubles:
        print("\nWorth a look:")
        for trouble in troubles:
            print(f"- {trouble}")
    print("\nSummary (share of the ceiling and items per second: the medians of the rounds)\n")
    compact = ["database", "scenario", "data", "req/s", "p50 ms", "p99 ms", "errors", "% ceiling"]
    compact += ["CPU ms", "% by CPU", "B/answer", "items", "items/s", "objects/s"]
    lines = [
        [
            row.database,
            row.scenario,
            row.data,
            f"{row.figures.rps:.0f}",
            f"{row.figures.p50:.1f}",
            f"{row.figures.p99:.1f}",
            f"{row.figures.errors}",
            f"{100 * row.share:.1f}",
            f"{row.figures.cpu_ms:.3f}",
            f"{100 * row.cpu_share:.1f}",
            f"{row.figures.bytes:.0f}",
            "" if row.items is None else f"{row.items}",
            per_second(row.items, row.figures.rps).replace(",", ""),
            per_second(row.objects, row.figures.rps).replace(",", ""),
        ]
        for row in rows
    ]
    print_table(compact, lines, markdown=True)


if __name__ == "__main__":
    main()
