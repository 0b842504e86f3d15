"""What rate limits cost: the same reads served limited and unlimited, in one run.

Usage::

    python benchmarks/rate_limits.py                        # SQLite only
    python benchmarks/rate_limits.py --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    python benchmarks/rate_limits.py --database postgresql --rounds 7 --seconds 2

Seeds one database per engine (as ``bench.py`` seeds 1x: 50 users, a student
with a token), then serves it three times with ``luminary serve --no-seed --v1
open``, one worker each: unlimited; with ``--rate-limit read=1000000000/60``, a
limit no run reaches, so that what is measured is the cost of counting, never a
refusal; and the same without leasing (one permit at a time: on PostgreSQL a
round trip per request). Each round runs each scenario on the three servers in
turn (the order rotated every round, so that a drift of the machine cancels
out), after a short warm-up, with 16 keep-alive connections from one address:
``GET /api/constellations/`` (v1, counted by address) and ``GET /api/v2/me``
(counted by the student's token, then checked by the route). With leasing, a
process asks PostgreSQL for up to 1,024 permits at once (see
``luminary.http.ratelimits``): the figures to read are limited / unlimited, and
no leases / unlimited for what leasing saves.

Prints, per engine and scenario: requests per second (median of the rounds),
p50 and p99 (over every request), errors, CPU milliseconds per answer of the
serving process, and limited (and no leases) / unlimited (median of the
rounds' ratios, by requests per second and by CPU per answer); for PostgreSQL,
the rows the counts left in ``rate_limit_windows`` and the permits they hold. It asserts
nothing: the machine is shared, and figures of one run are compared with each
other only.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import (
    PIDS,
    Sample,
    Step,
    get,
    measure,
    percentile,
    postgres_databases,
    process,
    seed,
    seed_student,
)

from luminary.http.cli import default_threads

#: A limit no run reaches: the cost of counting, never a refusal.
HUGE = "read=1000000000/60"
CONNECTIONS = 16


#: The server, leasing one permit at a time: every counted request asks the counter (on PostgreSQL, a
#: round trip), as without leasing.
WITHOUT_LEASES = (
    "import sys; import luminary.http.ratelimits as limits; limits.MAX_LEASE = 1; "
    "from luminary.http.cli import main; sys.exit(main(sys.argv[1:]))"
)


def serve(
    url: str, threads: int, log: Path, *extra: str, leases: bool = True
) -> contextlib.AbstractContextManager[int]:
    script = [str(Path(sys.executable).with_name("luminary"))]
    if not leases:
        script = [sys.executable, "-c", WITHOUT_LEASES]
    command = [*script, "serve", "--no-seed", "--v1", "open", "--port", "0", "--workers", "1"]
    command += ["--threads", str(threads), "--database-url", url, *extra]
    return process(command, log.open("a"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds of each stretch (default 1)")
    parser.add_argument("--connections", type=int, default=CONNECTIONS, help="keep-alive connections")
    parser.add_argument("--threads", type=int, default=None, help="threads (default: luminary serve's)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("LUMINARY_BENCH_POSTGRES_URL"),
        metavar="URL",
        help="a PostgreSQL server to create a throwaway database on (default: $LUMINARY_BENCH_POSTGRES_URL)",
    )
    parser.add_argument("--database", action="append", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    engines = args.database or (["sqlite", "postgresql"] if args.postgres_url else ["sqlite"])
    if "postgresql" in engines and not args.postgres_url:
        parser.error("--database postgresql needs --postgres-url or $LUMINARY_BENCH_POSTGRES_URL")

    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        for engine in engines:
            if engine == "sqlite":
                url = f"sqlite:///{Path(tmp) / 'rate-limits.db'}"
            else:
                url = stack.enter_context(postgres_databases(args.postgres_url, [1]))[1]
            seed(url, 50)
            token = seed_student(url)
            threads = args.threads or default_threads(url)
            servers = {
                "unlimited": stack.enter_context(serve(url, threads, Path(tmp) / "unlimited.log")),
                "limited": stack.enter_context(
                    serve(url, threads, Path(tmp) / "limited.log", "--rate-limit", HUGE)
                ),
                "no leases": stack.enter_context(
                    serve(url, threads, Path(tmp) / "no-leases.log", "--rate-limit", HUGE, leases=False)
                ),
            }
            scenarios: dict[str, Step] = {
                "GET /api/constellations/ (by address)": get("/api/constellations/"),
                "GET /api/v2/me (by token)": get("/api/v2/me", token=token),
            }
            samples: dict[tuple[str, str], list[Sample]] = {(s, n): [] for s in scenarios for n in servers}
            for port in servers.values():
                for step in scenarios.values():
                    measure(port, step, 0.5, connections=args.connections)  # warm-up
            for r in range(args.rounds):
                order = list(servers)[r % len(servers) :] + list(servers)[: r % len(servers)]
                for s, step in scenarios.items():
                    for name in order:
                        port = servers[name]
                        measure(port, step, min(0.1, args.seconds / 5), connections=args.connections)
                        samples[s, name].append(
                            measure(port, step, args.seconds, connections=args.connections)
                        )
                print(f"{engine}: round {r + 1}/{args.rounds}", flush=True)
            lines.append(f"\n{engine}, {threads} thread(s), {args.connections} connections\n")
            for s in scenarios:
                for name in servers:
                    runs = samples[s, name]
                    ordered = sorted(x for run in runs for x in run.latencies)
                    lines.append(
                        f"  {s:<40} {name:<9} {statistics.median(r.rps for r in runs):8,.0f} req/s  "
                        f"p50 {1000 * percentile(ordered, 0.5):5.1f} ms  "
                        f"p99 {1000 * percentile(ordered, 0.99):5.1f} ms  "
                        f"errors {sum(r.errors for r in runs)}  "
                        f"CPU {statistics.median(r.cpu_ms for r in runs):.3f} ms/answer"
                    )
                for name in ("limited", "no leases"):
                    pairs = list(zip(samples[s, name], samples[s, "unlimited"], strict=True))
                    by_rps = statistics.median(a.rps / b.rps for a, b in pairs)
                    by_cpu = statistics.median(a.cpu_ms / b.cpu_ms for a, b in pairs if b.cpu_ms)
                    lines.append(
                        f"  {s:<40} {name} / unlimited: {by_rps:.3f} by req/s, {by_cpu:.3f} by CPU per answer"
                    )
            if engine == "postgresql":
                import sqlalchemy as sa

                counts = sa.create_engine(url)
                with counts.connect() as connection:
                    rows, hits = connection.execute(
                        sa.text("SELECT count(*), coalesce(sum(hits), 0) FROM rate_limit_windows")
                    ).one()
                counts.dispose()
                lines.append(f"  rate_limit_windows: {rows} row(s) holding {hits:,} permits")
            for port in servers.values():
                PIDS.pop(port, None)
    print("\n".join(lines))
    print(
        f"\n{args.rounds} round(s) of {args.seconds:g}s per scenario and server, Python "
        f"{sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
        f"measured at {time.strftime('%Y-%m-%d %H:%M:%S')}"
    )


if __name__ == "__main__":
    main()
