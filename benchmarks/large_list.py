"""Memory and time of serving one very large API v1 list answer.

Usage::

    python benchmarks/large_list.py --users 10000
    python benchmarks/large_list.py --users 1000 --repeat 3 --check
    python benchmarks/large_list.py --path '/api/users/?limit=500'

1. Builds a fresh SQLite database in a temporary directory: the schema by
   :func:`luminary.sql.upgrade`, then the data by SQLAlchemy Core bulk inserts in
   one transaction. The 3 default constellations; per user one attempt at
   Triangulum (their current one), ``--sessions`` completed 25-minute sessions
   of it (counted in their total minutes) and ``--posts`` progress posts.
2. Starts ``luminary serve --no-seed`` on it on a free port and waits for ``/healthz``.
3. Sends ``GET --path`` ``--repeat`` times, reading the body in 64 KiB chunks and
   keeping none of it, while a thread samples the server's VmRSS every 10 ms.
   The server's VmHWM is reset before each request where the kernel allows it.
4. Prints the data set, the database size and, per request: status, framing,
   bytes, time to the headers and to the first body byte, total time, the
   server's RSS before, its peak (sampled and VmHWM), and the growth.

With ``--check`` the body is also written to a temporary file and, after the
timing, loaded as JSON and its users counted. Memory is the resident set of the
server process as Linux reports it in ``/proc/<pid>/status``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import IO, Any

from sqlalchemy import insert, update

from luminary.sql import make_engine, upgrade
from luminary.sql.tables import attempts, constellations, posts, sessions, users

CHUNK = 64 * 1024
ROWS_PER_INSERT = 10_000
SAMPLE_SECONDS = 0.01
MINUTES = 25
CONSTELLATIONS = (("Triangulum", 3), ("Delphinus", 5), ("Big Dipper", 7))
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------- data


def batches(rows: Iterable[dict[str, Any]], size: int = ROWS_PER_INSERT) -> Iterator[list[dict[str, Any]]]:
    """Rows in lists of ``size``, for executemany."""
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def session_rows(n_users: int, per_user: int) -> Iterator[dict[str, Any]]:
    """Completed sessions, one after the other: created, started, completed, updated."""
    step = timedelta(minutes=MINUTES + 1)
    second = timedelta(seconds=1)
    k = 0
    for user_id in range(1, n_users + 1):
        for _ in range(per_user):
            created = EPOCH + k * step
            started = created + second
            completed = started + timedelta(minutes=MINUTES)
            k += 1
            yield {
                "user_id": user_id,
                "constellation_attempt_id": user_id,
                "title": "Triangulum",
                "status": "completed",
                "minutes": MINUTES,
                "started_at": started,
                "completed_at": completed,
                "created_at": created,
                "updated_at": completed + second,
            }


def post_rows(n_users: int, per_user: int) -> Iterator[dict[str, Any]]:
    """Progress posts at Triangulum, one second apart."""
    k = 0
    for user_id in range(1, n_users + 1):
        for _ in range(per_user):
            k += 1
            yield {
                "user_id": user_id,
                "constellation_id": 1,
                "post_type": "progress",
                "message": "Keep going",
                "study_duration": MINUTES,
                "created_at": EPOCH + timedelta(seconds=k),
            }


def build(url: str, n_users: int, per_user_sessions: int, per_user_posts: int) -> None:
    """Migrate an empty database and fill it in one transaction; ids are given, 1 up.

    User ``i`` owns attempt ``i``. Users go in first without a current attempt
    (the two tables refer to each other), then one UPDATE points each at theirs.
    """
    engine = make_engine(url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(
                insert(constellations),
                [
                    {"id": i, "name": name, "weight": weight, "created_at": EPOCH}
                    for i, (name, weight) in enumerate(CONSTELLATIONS, 1)
                ],
            )
            for batch in batches(
                {
                    "id": i,
                    "display_name": f"Student {i}",
                    "total_minutes": per_user_sessions * MINUTES,
                    "created_at": EPOCH + timedelta(seconds=i),
                }
                for i in range(1, n_users + 1)
            ):
                conn.execute(insert(users), batch)
            for batch in batches(
                {
                    "id": i,
                    "user_id": i,
                    "constellation_id": 1,
                    "stars_completed": 0,
                    "created_at": EPOCH + timedelta(seconds=i),
                }
                for i in range(1, n_users + 1)
            ):
                conn.execute(insert(attempts), batch)
            conn.execute(update(users).values(current_attempt_id=users.c.id))
            for batch in batches(session_rows(n_users, per_user_sessions)):
                conn.execute(insert(sessions), batch)
            for batch in batches(post_rows(n_users, per_user_posts)):
                conn.execute(insert(posts), batch)
    finally:
        engine.dispose()


# ---------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def get_status(port: int, path: str, timeout: float = 2.0) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@contextlib.contextmanager
def server(url: str, port: int, log: IO[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """``luminary serve`` on ``url``, up and answering ``/healthz``; SIGTERM on exit."""
    script = Path(sys.executable).with_name("luminary")
    args = [str(script), "serve", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--database-url", url, "--no-seed"]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"luminary serve exited with {proc.returncode}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if get_status(port, "/healthz") == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("luminary serve did not answer /healthz within 60 s")
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


# ---------------------------------------------------------------- memory


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    found = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value = line.split(":", 1)
                found[name] = int(value.split()[0])
    return found


def reset_hwm(pid: int) -> bool:
    """Reset the process's VmHWM to its current RSS (Linux 4.0+); False if not allowed."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


class Sampler(threading.Thread):
    """Samples a process's VmRSS until stopped, keeping the maximum."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.samples = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            with contextlib.suppress(OSError, KeyError):
                self.peak = max(self.peak, memory_kib(self.pid)["VmRSS"])
                self.samples += 1
            self.done.wait(SAMPLE_SECONDS)

    def stop(self) -> int:
        self.done.set()
        self.join()
        return self.peak


# ---------------------------------------------------------------- request


def fetch(port: int, path: str, pid: int, sink: IO[bytes] | None) -> dict[str, Any]:
    """One GET, its body counted (and written to ``sink`` if given), with the server's memory."""
    hwm_reset = reset_hwm(pid)
    before = memory_kib(pid)["VmRSS"]
    sampler = Sampler(pid)
    sampler.start()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        t0 = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        headers = time.perf_counter() - t0
        first = None
        received = 0
        while chunk := response.read(CHUNK):
            if first is None:
                first = time.perf_counter() - t0
            received += len(chunk)
            if sink is not None:
                sink.write(chunk)
        total = time.perf_counter() - t0
    finally:
        conn.close()
        sampled = sampler.stop()
    hwm = memory_kib(pid)["VmHWM"]
    peak = max(sampled, hwm) if hwm_reset else sampled
    return {
        "status": response.status,
        "length": response.getheader("Content-Length"),
        "encoding": response.getheader("Transfer-Encoding"),
        "bytes": received,
        "headers": headers,
        "first": first,
        "total": total,
        "before": before,
        "sampled": sampled,
        "samples": sampler.samples,
        "hwm": hwm,
        "hwm_reset": hwm_reset,
        "delta": peak - before,
    }


def check(body: Path, n_users: int, per_user_sessions: int, per_user_posts: int) -> str:
    """Whether the saved answer is JSON holding every user with all their sessions and posts."""
    try:
        with body.open("rb") as f:
            answer = json.load(f)
    except ValueError as exc:
        return f"not JSON: {exc}"
    if not isinstance(answer, dict) or not isinstance(answer.get("users"), list):
        return f"JSON, but no users list (top level: {type(answer).__name__})"
    listed = answer["users"]
    short = sum(
        1
        for u in listed
        if len(u.get("sessions", ())) != per_user_sessions or len(u.get("posts", ())) != per_user_posts
    )
    verdict = "ok" if len(listed) == n_users and not short else "MISMATCH"
    return f"{verdict}: {len(listed)} of {n_users} users, {short} with other than the expected children"


# ---------------------------------------------------------------- report


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=10_000, help="users (default 10000)")
    parser.add_argument("--sessions", type=int, default=20, help="completed sessions per user (default 20)")
    parser.add_argument("--posts", type=int, default=10, help="posts per user (default 10)")
    parser.add_argument("--path", default="/api/users/", help="what to GET (default /api/users/)")
    parser.add_argument("--repeat", type=int, default=1, help="requests in a row (default 1)")
    parser.add_argument(
        "--check", action="store_true", help="save each answer and validate it as JSON after the timing"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="luminary-large-list-") as tmp:
        db = Path(tmp) / "large.db"
        url = f"sqlite:///{db}"
        t0 = time.perf_counter()
        build(url, args.users, args.sessions, args.posts)
        built = time.perf_counter() - t0
        db_bytes = sum(p.stat().st_size for p in Path(tmp).glob("large.db*"))
        print(
            f"data set: {len(CONSTELLATIONS)} constellations, {args.users} users, {args.users} attempts, "
            f"{args.users * args.sessions} sessions, {args.users * args.posts} posts "
            f"(built in {built:.1f}s)"
        )
        print(f"database: {db_bytes / 2**20:.1f} MiB")

        rows = []
        verdicts = []
        with open(Path(tmp) / "server.log", "wb") as log:
            try:
                port = free_port()
                with server(url, port, log) as proc:
                    print(f"GET {args.path}, server pid {proc.pid}", flush=True)
                    for n in range(1, args.repeat + 1):
                        body = Path(tmp) / f"answer{n}.json"
                        with contextlib.ExitStack() as stack:
                            sink = stack.enter_context(body.open("wb")) if args.check else None
                            rows.append(fetch(port, args.path, proc.pid, sink))
                        if args.check:
                            verdicts.append(check(body, args.users, args.sessions, args.posts))
                            body.unlink()
            except RuntimeError:
                log.flush()
                sys.stderr.write((Path(tmp) / "server.log").read_text(errors="replace")[-4000:])
                raise

    header = (
        f"{'#':>2}  {'status':>6}  {'Content-Length':>14}  {'Transfer-Enc':>12}  {'bytes':>12}  "
        f"{'headers s':>9}  {'1st byte s':>10}  {'total s':>8}  {'RSS before':>10}  "
        f"{'peak sampled':>12}  {'VmHWM':>7}  {'delta':>7}"
    )
    print()
    print(header)
    for n, r in enumerate(rows, 1):
        print(
            f"{n:>2}  {r['status']:>6}  {r['length'] or '-':>14}  {r['encoding'] or '-':>12}  "
            f"{r['bytes']:>12,}  {seconds(r['headers']):>9}  {seconds(r['first']):>10}  "
            f"{seconds(r['total']):>8}  {mib(r['before']):>10}  {mib(r['sampled']):>12}  "
            f"{mib(r['hwm']) + ('' if r['hwm_reset'] else '*'):>7}  {mib(r['delta']):>7}"
        )
    print("RSS figures in MiB; delta = peak during the request - RSS before it.")
    if rows and not all(r["hwm_reset"] for r in rows):
        print("* VmHWM could not be reset: it is the peak since the server started; delta uses sampled.")
    for n, verdict in enumerate(verdicts, 1):
        print(f"check {n}: {verdict}")


if __name__ == "__main__":
    main()
