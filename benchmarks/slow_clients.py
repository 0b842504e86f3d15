"""How a normal client fares while many slow or idle connections hold ``luminary serve``.

Usage::

    python benchmarks/slow_clients.py                      # both scenarios, 1,100 and 1,000 connections
    python benchmarks/slow_clients.py --scenario slow --connections 1100 --addresses 1
    python benchmarks/slow_clients.py --scenario idle --connections 1000 --addresses 100
    python benchmarks/slow_clients.py --scenario slow --reconnect --server-arg=--request-timeout=10

It prints figures and asserts nothing. For each scenario it starts ``luminary
serve --no-seed`` on a fresh SQLite database in a temporary directory, then:

- **slow**: N connections each send the start of a request (``GET /healthz``)
  and then one more header line every 5 s, never finishing it (a "slowloris").
  With ``--reconnect`` a connection the server ends is opened again at once.
- **idle**: N connections each make one ``GET /healthz``, read the answer, and
  then keep the connection open and silent (idle keep-alive).

Meanwhile a normal client opens a new connection every ``--probe-every``
seconds and asks ``GET /healthz``; each probe waits up to ``--probe-timeout``
seconds. The figures: the probes' latencies before the load, during it (the
median, the worst, how many took over a second, how many failed), and how
long the server let the load's connections live.

The N connections come from ``--addresses`` loopback addresses (127.0.1.x,
round robin: Linux routes all of 127.0.0.0/8 to the loopback interface), the
normal client from 127.0.0.2: one address stands for one attacker, many for
many clients (or a distributed attack). Each connection needs a file
descriptor here and one in the server: 1,100 connections fit the machine's
limit of open files when it allows a few thousand (``ulimit -n``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import attrs

# The tests' way of starting `luminary serve` (a free port, its output drained).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from served import serve

PROBE_ADDRESS = "127.0.0.2"
HEAD = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n"


@attrs.define
class Probe:
    started: float  # seconds since the load began (negative: before it)
    latency: float | None  # None: failed or timed out
    outcome: str


async def probe(port: int, started: float, timeout: float) -> Probe:
    t0 = time.monotonic()
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(PROBE_ADDRESS, 0))
            writer.write(HEAD + b"Connection: close\r\n\r\n")
            answer = await reader.read()
        status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else "no answer"
        latency = time.monotonic() - t0
        return Probe(started, latency if status == "200" else None, status)
    except TimeoutError:
        return Probe(started, None, "timeout")
    except OSError as exc:
        return Probe(started, None, type(exc).__name__)
    finally:
        if writer is not None:
            writer.close()


@attrs.define
class Load:
    """The scenario's connections: how many are open, and how long each lived."""

    opened: int = 0
    open_now: int = 0
    lifetimes: list[float] = attrs.Factory(list)  # of connections the server ended
    refused: int = 0  # ended by the server before it read anything of ours
    stop: asyncio.Event = attrs.Factory(asyncio.Event)


async def slow_connection(port: int, source: str, load: Load, reconnect: bool) -> None:
    while not load.stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        except OSError:
            load.refused += 1
            await asyncio.sleep(1)
            continue
        t0 = time.monotonic()
        load.opened += 1
        load.open_now += 1
        ended = asyncio.ensure_future(reader.read())
        try:
            writer.write(HEAD)
            n = 0
            while not load.stop.is_set() and not ended.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(ended), 5)
                if not ended.done():
                    n += 1
                    writer.write(b"X-Slow-%d: 1\r\n" % n)
        except OSError:
            pass
        finally:
            load.open_now -= 1
            if ended.done() and not load.stop.is_set():
                load.lifetimes.append(time.monotonic() - t0)
            ended.cancel()
            writer.close()
        if not reconnect:
            return


async def idle_connection(port: int, source: str, load: Load) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    except OSError:
        load.refused += 1
        return
    t0 = time.monotonic()
    load.opened += 1
    load.open_now += 1
    try:
        writer.write(HEAD + b"\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?i)content-length: *(\d+)", head)
        await reader.readexactly(int(length.group(1)) if length else 0)
        stop = asyncio.ensure_future(load.stop.wait())
        ended = asyncio.ensure_future(reader.read())
        await asyncio.wait([stop, ended], return_when=asyncio.FIRST_COMPLETED)
        if ended.done() and not load.stop.is_set():
            load.lifetimes.append(time.monotonic() - t0)
        stop.cancel()
        ended.cancel()
    except (OSError, asyncio.IncompleteReadError):
        load.refused += 1
    finally:
        load.open_now -= 1
        writer.close()


def describe(probes: list[Probe]) -> str:
    done = sorted(p.latency for p in probes if p.latency is not None)
    failed = [p.outcome for p in probes if p.latency is None]
    if not probes:
        return "no probes"
    text = f"{len(probes)} probes"
    if done:
        text += (
            f", median {statistics.median(done) * 1000:.0f} ms, worst {done[-1] * 1000:.0f} ms, "
            f"{sum(1 for d in done if d > 1)} over 1 s"
        )
    if failed:
        text += f", {len(failed)} failed ({', '.join(sorted(set(failed)))})"
    return text


async def run_scenario(args: argparse.Namespace, scenario: str, port: int) -> None:
    sources = [f"127.0.1.{1 + i % 250}" for i in range(args.addresses)]
    probes: list[asyncio.Task[Probe]] = []
    t_load = time.monotonic() + args.warmup

    async def probing(until: float) -> None:
        while time.monotonic() < until:
            probes.append(asyncio.create_task(probe(port, time.monotonic() - t_load, args.probe_timeout)))
            await asyncio.sleep(args.probe_every)

    end = t_load + args.duration
    prober = asyncio.create_task(probing(end))
    await asyncio.sleep(max(0.0, t_load - time.monotonic()))

    load = Load()
    if scenario == "slow":
        workers = [
            slow_connection(port, sources[i % len(sources)], load, args.reconnect)
            for i in range(args.connections)
        ]
    else:
        workers = [idle_connection(port, sources[i % len(sources)], load) for i in range(args.connections)]
    tasks = [asyncio.create_task(w) for w in workers]
    marks = []
    while time.monotonic() < end:
        await asyncio.sleep(min(5.0, max(0.0, end - time.monotonic())))
        marks.append(f"{time.monotonic() - t_load:.0f}s: {load.open_now}")
    load.stop.set()
    await prober
    await asyncio.gather(*tasks, return_exceptions=True)
    results = [await p for p in probes]

    print(f"\n== {scenario}: {args.connections} connections from {args.addresses} address(es)", flush=True)
    print("  before the load:  " + describe([p for p in results if p.started < 0]))
    during = [p for p in results if p.started >= 0]
    print("  during the load:  " + describe(during))
    slow = [p for p in during if p.latency is None or p.latency > 1]
    if slow:
        worst = max(slow, key=lambda p: p.latency or float("inf"))
        print(f"  slowest probe started at {worst.started:.0f}s: {worst.outcome}, {worst.latency or 0:.1f} s")
    print(f"  load connections opened: {load.opened}; failed to open, or (idle) no answer: {load.refused}")
    print("  load connections open (client's view): " + ", ".join(marks))
    if load.lifetimes:
        lifetimes = sorted(load.lifetimes)
        print(
            f"  ended by the server: {len(lifetimes)}, after median {statistics.median(lifetimes):.1f} s "
            f"(shortest {lifetimes[0]:.1f} s, longest {lifetimes[-1]:.1f} s)"
        )
    else:
        print("  ended by the server: none")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", choices=["slow", "idle", "both"], default="both")
    parser.add_argument("--connections", type=int, help="load connections (default 1100 slow, 1000 idle)")
    parser.add_argument("--addresses", type=int, default=1, help="source addresses of the load (default 1)")
    parser.add_argument("--duration", type=float, default=45.0, help="seconds the load lasts (default 45)")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds probed before the load (default 3)"
    )
    parser.add_argument("--probe-every", type=float, default=1.0, help="seconds between probes (default 1)")
    parser.add_argument("--probe-timeout", type=float, default=60.0, help="a probe's patience (default 60)")
    parser.add_argument("--reconnect", action="store_true", help="slow connections reopen when ended")
    parser.add_argument("--threads", type=int, default=4, help="the server's threads (default 4)")
    parser.add_argument(
        "--server-arg", action="append", default=[], help="an extra luminary serve argument (repeatable)"
    )
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    scenarios = ["slow", "idle"] if args.scenario == "both" else [args.scenario]
    for scenario in scenarios:
        connections = args.connections or (1100 if scenario == "slow" else 1000)
        with (
            tempfile.TemporaryDirectory() as tmp,
            serve(
                f"sqlite:///{Path(tmp) / 'luminary.db'}", "--no-seed", *args.server_arg, threads=args.threads
            ) as server,
        ):
            asyncio.run(
                run_scenario(
                    argparse.Namespace(**{**vars(args), "connections": connections}), scenario, server.port
                )
            )


if __name__ == "__main__":
    main()
