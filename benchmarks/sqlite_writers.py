"""SQLite writers of several processes: how long a write waits, with and without the writers' lock file.

Usage::

    python benchmarks/sqlite_writers.py                     # 64 writers over 2 workers, 5 s each way
    python benchmarks/sqlite_writers.py --connections 64 --workers 2 --seconds 5

Serves a fresh SQLite database with ``luminary serve --workers N`` and drives
it with keep-alive connections that each create users (``POST /api/users/``,
one write transaction per request), then prints requests per second, p50, p99
and the slowest write. It runs twice: as Luminary is (writers of every process
queue on ``<database>-writer.lock``), and with the lock file left out, as
before it, where a writer of one process waits for another's on SQLite's busy
timeout (sleeps growing to 100 ms). Prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench import PIDS, Connection, Result, Step, get, measure, percentile, process

# The server without the lock file: WriterLock.acquire finds no lock, as when the file cannot be opened.
WITHOUT_LOCK_FILE = (
    "import sys; from luminary.sql.writelock import WriterLock; "
    "WriterLock.acquire = lambda self, timeout: None; "
    "from luminary.http.cli import main; sys.exit(main(sys.argv[1:]))"
)
WITH_LOCK_FILE = "import sys; from luminary.http.cli import main; sys.exit(main(sys.argv[1:]))"


def post_user() -> Step:
    async def step(conn: Connection, n: int) -> list[Result]:
        t0 = time.perf_counter()
        status, body = await conn.request("POST", "/api/users/", {"display_name": f"Writer {n}"})
        return [(status, time.perf_counter() - t0, len(body))]

    return step


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=64, help="concurrent writers (default 64)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (default 4)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of load each way (default 5)")
    parser.add_argument("--rounds", type=int, default=2, help="runs each way, alternating (default 2)")
    args = parser.parse_args()
    print(
        f"{args.connections} writers over {args.workers} workers of {args.threads} threads, "
        f"{args.rounds} x {args.seconds:g} s each way"
    )
    results: dict[str, list[float]] = {"with the lock file": [], "without it (before)": []}
    counts: dict[str, tuple[int, float, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name, code in (
                ("without it (before)", WITHOUT_LOCK_FILE),
                ("with the lock file", WITH_LOCK_FILE),
            ):
                url = f"sqlite:///{Path(tmp) / f'writers-{r}-{len(name)}.db'}"
                command = [sys.executable, "-c", code, "serve", "--port", "0", "--no-seed"]
                command += [
                    "--workers",
                    str(args.workers),
                    "--threads",
                    str(args.threads),
                    "--database-url",
                    url,
                ]
                with open(Path(tmp) / "server.log", "a") as log, process(command, log) as port:
                    measure(port, get("/healthz"), 0.3)
                    sample = measure(port, post_user(), args.seconds, 120.0, args.connections)
                    PIDS.pop(port, None)
                results[name].extend(sample.latencies)
                answered, seconds, errors = counts.get(name, (0, 0.0, 0))
                counts[name] = (
                    answered + len(sample.latencies),
                    seconds + sample.seconds,
                    errors + sample.errors,
                )
    for name, latencies in results.items():
        ordered = sorted(latencies)
        answered, seconds, errors = counts[name]
        print(
            f"{name:>20}: {answered / seconds:,.0f} writes/s, p50 {1000 * percentile(ordered, 0.5):.1f} ms, "
            f"p99 {1000 * percentile(ordered, 0.99):.1f} ms, slowest {1000 * ordered[-1]:.0f} ms, "
            f"errors {errors}"
        )


if __name__ == "__main__":
    main()
