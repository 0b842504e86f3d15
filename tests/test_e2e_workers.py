"""End to end: ``luminary serve --workers 2``, processes sharing one port under a supervisor."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("luminary.sql", reason="luminary-sql is not installed")
pytest.importorskip("luminary.http", reason="luminary-http is not installed")

from luminary.http.cli import (
    POSTGRES_THREADS,
    SQLITE_THREADS,
    default_threads,
    default_workers,
)
from luminary.http.server import can_listen_apart
from luminary.http.workers import CpuAffinity, Supervisor, cpu_plan, default_count
from served import Server, run_luminary, serve

pytestmark = pytest.mark.slow


def children(pid: int) -> set[int]:
    """The processes whose parent is ``pid``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid …; comm may hold spaces and parentheses.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.add(int(entry.name))
    return found


def answering_pids(server: Server) -> set[int]:
    """The workers whose lines the access log holds."""
    return {int(pid) for pid in re.findall(r"\[(\d+)\] luminary\.access", "".join(server.output))}


def get(port: int, path: str) -> int:
    """One GET on a connection of its own (each new connection goes to whichever worker takes it)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def post(port: int, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def cpus_of(pid: int) -> list[frozenset[int]]:
    """The CPUs each thread of process ``pid`` may run on."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):  # a thread that just ended
            found.append(frozenset(os.sched_getaffinity(int(task.name))))
    return found


def until(condition, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_both_workers_answer_and_one_killed_is_replaced(database_url):
    with serve(database_url, threads=2, workers=2) as server:
        assert "with 2 workers of 2 threads" in "".join(server.output)
        parent = server.process.pid
        workers = children(parent)
        assert len(workers) == 2

        with ThreadPoolExecutor(8) as pool:
            for _ in range(10):  # which worker takes a connection is the kernel's choice
                assert set(pool.map(lambda _: get(server.port, "/api/constellations/"), range(16))) == {200}
                if until(lambda: answering_pids(server) == workers, seconds=0.5):
                    break
        assert answering_pids(server) == workers

        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        assert until(lambda: len(children(parent) - {victim}) == 2), "no worker took its place"
        replacement = (children(parent) - workers).pop()
        assert until(lambda: f"worker {victim} was killed by SIGKILL" in "".join(server.output))
        line = next(line for line in server.output if f"worker {victim} was killed" in line)
        assert f"worker {replacement} replaces it" in line

        with ThreadPoolExecutor(8) as pool:
            created = list(
                pool.map(lambda i: post(server.port, "/api/users/", {"display_name": f"U{i}"}), range(24))
            )
        assert {status for status, _ in created} == {201}
        assert len({user["id"] for _, user in created}) == 24
        assert get(server.port, "/api/users/") == 200
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=20) == 0
    assert "Traceback" not in "".join(server.output)


def listening_inodes(port: int) -> set[int]:
    """The sockets listening on ``port`` of 127.0.0.1, by inode (``/proc/net/tcp``)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == f"0100007F:{port:04X}" and fields[3] == "0A":  # 0A: listening
            found.add(int(fields[9]))
    return found


def socket_inodes(pid: int) -> set[int]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                found.add(int(target[8:-1]))
    return found


@pytest.mark.skipif(not can_listen_apart(), reason="the system does not spread connections")
def test_each_worker_listens_on_a_socket_of_its_own_and_the_parent_holds_them_all(tmp_path):
    url = f"sqlite:///{tmp_path / 'apart.db'}"
    with serve(url, threads=1, workers=2) as server:
        parent = server.process.pid
        workers = children(parent)
        assert len(workers) == 2
        listening = listening_inodes(server.port)
        assert len(listening) == 2  # two sockets on the one port: the kernel spreads connections over them
        own = {pid: socket_inodes(pid) & listening for pid in workers}
        assert sorted(len(inodes) for inodes in own.values()) == [1, 1]
        assert set.union(*own.values()) == listening
        assert socket_inodes(parent) & listening == listening
        assert get(server.port, "/api/constellations/") == 200


@pytest.mark.skipif(not can_listen_apart(), reason="the system does not spread connections")
def test_connections_sent_to_the_place_of_a_dead_worker_wait_for_its_replacement(tmp_path):
    """Each place's sockets stay open in the parent: none of a burst of connections is refused while a
    place has no worker (the parent is stopped here, so that its worker cannot be replaced before)."""
    url = f"sqlite:///{tmp_path / 'waiting.db'}"
    with serve(url, threads=1, workers=2) as server:
        parent = server.process.pid
        workers = children(parent)
        victim = min(workers)
        os.kill(parent, signal.SIGSTOP)
        try:
            os.kill(victim, signal.SIGKILL)
            assert until(lambda: Path(f"/proc/{victim}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z")
            with ThreadPoolExecutor(16) as pool:
                sent = [pool.submit(get, server.port, "/api/constellations/") for _ in range(32)]
                time.sleep(0.5)
                os.kill(parent, signal.SIGCONT)
                assert [future.result(timeout=30) for future in sent] == [200] * 32
        finally:
            os.kill(parent, signal.SIGCONT)
        assert until(lambda: len(children(parent) - workers) == 1), "no worker took its place"
        (replacement,) = children(parent) - workers
        # 32 connections, each sent to one of the two places by a hash: some waited for the replacement.
        assert until(lambda: replacement in answering_pids(server))


def test_sigterm_answers_every_request_in_flight_then_every_process_exits(database_url):
    results: dict[int, Any] = {}
    sent = [threading.Event() for _ in range(6)]

    def sign_up(port: int, i: int) -> None:
        # Signing up hashes a password (scrypt, a quarter of a second): slow enough to be in flight.
        body = json.dumps(
            {"display_name": f"S{i}", "login": f"student{i}", "password": "correct horse battery"}
        )
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("POST", "/api/v2/accounts", body, {"Content-Type": "application/json"})
            sent[i].set()
            response = connection.getresponse()
            results[i] = (response.status, json.loads(response.read()))
        except Exception as exc:  # recorded, and reported by the assertion below
            results[i] = exc
        finally:
            sent[i].set()
            connection.close()

    with serve(database_url, "--shutdown-grace", "20", threads=2, workers=2) as server:
        workers = children(server.process.pid)
        assert len(workers) == 2
        clients = [threading.Thread(target=sign_up, args=(server.port, i)) for i in range(len(sent))]
        for client in clients:
            client.start()
        for event in sent:
            assert event.wait(10)
        time.sleep(0.05)
        server.process.send_signal(signal.SIGTERM)
        for client in clients:
            client.join(timeout=20)
        assert server.process.wait(timeout=20) == 0
        assert until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), seconds=5)

    for i in range(len(sent)):
        assert not isinstance(results[i], Exception), results[i]
        status, body = results[i]
        assert (status, body["data"]["display_name"]) == (201, f"S{i}")
    log = "".join(server.output)
    assert "received SIGTERM: stopping 2 worker(s)" in log
    assert log.count('"POST /api/v2/accounts" 201') == len(sent)
    assert "every worker stopped" in log


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (
            ["--workers", "0"],
            {},
            "'0' is not a whole number of at least 1 (from --workers or LUMINARY_WORKERS)",
        ),
        (["--workers", "-2"], {}, "'-2' is not a whole number of at least 1"),
        ([], {"LUMINARY_WORKERS": "many"}, "'many' is not a whole number of at least 1"),
        (
            ["--threads", "0"],
            {},
            "'0' is not a whole number of at least 1 (from --threads or LUMINARY_THREADS)",
        ),
        ([], {"LUMINARY_THREADS": "0"}, "'0' is not a whole number of at least 1"),
    ],
)
def test_a_count_of_workers_or_threads_below_one_is_refused(tmp_path, args, env, said):
    ran = run_luminary(
        "serve", "--database-url", f"sqlite:///{tmp_path / 'x.db'}", *args, cwd=tmp_path, env=env
    )
    assert ran.returncode == 2
    assert said in ran.stderr
    option = "--threads" if "LUMINARY_THREADS" in env or "--threads" in args else "--workers"
    assert ran.stderr.strip().splitlines()[-1].startswith(f"luminary serve: error: argument {option}")
    assert not (tmp_path / "x.db").exists()


def test_by_default_one_worker_per_cpu_with_threads_by_database():
    assert default_workers("sqlite:///luminary.db") == default_count()
    assert default_workers("postgresql+psycopg://u@db/luminary") == default_count()
    assert default_workers("postgres://u@db/luminary") == default_count()
    assert default_count() == len(os.sched_getaffinity(0))
    # A database in memory lives in its process: one worker.
    assert default_workers("sqlite://") == 1
    assert default_workers("sqlite:///:memory:") == 1
    assert default_workers("sqlite:///file:x?mode=memory&uri=true") == 1
    assert default_threads("sqlite:///luminary.db") == SQLITE_THREADS == 2
    # Each thread would open a database in memory of its own: one thread.
    assert default_threads("sqlite://") == 1
    assert default_threads("sqlite:///file:x?mode=memory&uri=true") == 1
    # PostgreSQL, across a network or on this machine: threads keep a worker busy while statements
    # travel and commits wait for the disk.
    for url in (
        "postgresql+psycopg://u@db/luminary",
        "postgres://u@10.0.0.5:5432/luminary",
        "postgresql+psycopg://u@127.0.0.1:5432/luminary",
        "postgresql:///luminary",
        "postgresql://u@/luminary?host=/var/run/postgresql",
    ):
        assert default_threads(url) == POSTGRES_THREADS == 4, url


def test_the_default_threads_follow_the_database_whatever_the_cpu_affinity(database_url):
    """4 threads on PostgreSQL (the machine's own too), 2 on SQLite, the workers kept on CPUs or not."""
    threads = SQLITE_THREADS if database_url.startswith("sqlite") else POSTGRES_THREADS
    for affinity in ("on", "off"):
        with serve(database_url, "--cpu-affinity", affinity, workers=1, threads=None) as server:
            said = "".join(server.output)
        assert (
            f"with {threads} thread{'s' if threads > 1 else ''}{', on one CPU' if affinity == 'on' else ''}\n"
            in said
        )


def test_a_database_in_memory_is_not_served_by_several_workers(tmp_path):
    ran = run_luminary("serve", "--port", "0", "--workers", "2", "--database-url", "sqlite://", cwd=tmp_path)
    assert ran.returncode == 2
    assert ran.stderr.strip().splitlines() == [
        "luminary: a SQLite database in memory is served by 1 worker only"
    ]


def test_a_database_in_memory_is_not_served_by_several_threads(tmp_path):
    ran = run_luminary("serve", "--port", "0", "--threads", "2", "--database-url", "sqlite://", cwd=tmp_path)
    assert ran.returncode == 2
    assert ran.stderr.strip().splitlines() == [
        "luminary: a SQLite database in memory is served by 1 thread only"
    ]


def test_the_supervisor_gives_up_on_workers_that_die_as_they_start(capfd):
    supervisor = Supervisor(lambda: 3, 2, quick_seconds=5, most_quick_deaths=4, first_pause=0.01)
    began = time.monotonic()
    assert supervisor.run() == 1
    assert time.monotonic() - began < 5
    assert supervisor.workers == {}
    err = capfd.readouterr().err
    assert err.strip().splitlines()[-1] == (
        "luminary: workers keep dying as they start (4 in a row within 5 s of starting): giving up"
    )


@pytest.mark.parametrize("held", [True, False])
def test_a_worker_still_starting_gets_the_signal_once_it_can_stop_gracefully(tmp_path, held):
    """``luminary serve`` holds SIGTERM in a starting worker (``hold_signals``): one sent while it
    builds its app reaches it once its server handles it, rather than ending it at once."""
    said = tmp_path / "said"

    def work() -> int:
        time.sleep(0.5)  # starting: the signal arrives meanwhile
        received: list[int] = []
        signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        said.write_text("stopped gracefully" if received else "no signal")
        return 0

    supervisor = Supervisor(work, 1, shutdown_grace=5, hold_signals=held)
    main = threading.get_ident()
    # To the supervisor's thread, which blocks it while it supervises (and forwards it).
    timer = threading.Timer(0.1, signal.pthread_kill, (main, signal.SIGTERM))
    timer.start()
    try:
        assert supervisor.run() == 0
    finally:
        timer.cancel()
    if held:
        assert said.read_text() == "stopped gracefully"
    else:
        assert not said.exists()  # ended by the signal before it could say anything


ALLOWED = sorted(os.sched_getaffinity(0))


def test_the_cpus_workers_are_kept_on_follow_the_mode_and_the_count():
    assert cpu_plan(CpuAffinity.ON, 1) == cpu_plan(CpuAffinity.ON, 7) == tuple(ALLOWED)
    assert cpu_plan(CpuAffinity.OFF, len(ALLOWED)) == ()
    # auto: only when there is one worker per CPU (the default count), the CPUs being the server's.
    assert cpu_plan(CpuAffinity.AUTO, default_count()) == tuple(ALLOWED)
    assert cpu_plan(CpuAffinity.AUTO, len(ALLOWED) + 1) == ()
    if len(ALLOWED) > 1:
        assert cpu_plan(CpuAffinity.AUTO, 1) == ()


def test_each_worker_is_kept_on_one_cpu_and_a_replacement_on_the_one_it_replaces(tmp_path):
    url = f"sqlite:///{tmp_path / 'cpus.db'}"
    with serve(url, "--cpu-affinity", "on", threads=2, workers=2) as server:
        assert "with 2 workers of 2 threads, each on one CPU" in "".join(server.output)
        parent = server.process.pid
        workers = children(parent)
        assert len(workers) == 2
        # Their waitress threads are started once the app is built: two threads and the loop, at least.
        assert until(lambda: all(len(cpus_of(pid)) >= 3 for pid in workers))
        assert get(server.port, "/api/constellations/") == 200
        kept = {}
        for pid in workers:
            each = set(cpus_of(pid))
            assert len(each) == 1, each  # every thread of a worker on the same CPU
            (cpus,) = each
            assert len(cpus) == 1, cpus  # and that is one CPU
            kept[pid] = next(iter(cpus))
        # Worker i on the i-th CPU this process may use, going round.
        assert sorted(kept.values()) == sorted([ALLOWED[0], ALLOWED[1 % len(ALLOWED)]])
        assert set(cpus_of(parent)) == {frozenset(ALLOWED)}  # the supervisor is not kept anywhere

        victim = max(workers, key=lambda pid: (kept[pid], pid))
        os.kill(victim, signal.SIGKILL)
        assert until(lambda: len(children(parent) - {victim}) == 2), "no worker took its place"
        (replacement,) = children(parent) - workers
        assert until(lambda: len(cpus_of(replacement)) >= 3)
        assert set(cpus_of(replacement)) == {frozenset({kept[victim]})}
        assert get(server.port, "/api/constellations/") == 200
    assert server.process.returncode == 0


def test_workers_left_where_the_system_likes_with_cpu_affinity_off(tmp_path):
    url = f"sqlite:///{tmp_path / 'free.db'}"
    with serve(url, "--cpu-affinity", "off", threads=2, workers=2) as server:
        workers = children(server.process.pid)
        assert until(lambda: all(len(cpus_of(pid)) >= 3 for pid in workers))
        for pid in workers:
            assert set(cpus_of(pid)) == {frozenset(ALLOWED)}
        assert "each on one CPU" not in "".join(server.output)


def test_one_process_kept_on_the_first_cpu_with_cpu_affinity_on(tmp_path):
    url = f"sqlite:///{tmp_path / 'one.db'}"
    with serve(url, "--cpu-affinity", "on", threads=2, workers=1) as server:
        assert "with 2 threads, on one CPU" in "".join(server.output)
        assert get(server.port, "/api/constellations/") == 200
        assert set(cpus_of(server.process.pid)) == {frozenset({ALLOWED[0]})}


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--cpu-affinity", "sometimes"], {}), ([], {"LUMINARY_CPU_AFFINITY": "sometimes"})],
)
def test_an_unknown_cpu_affinity_is_refused(tmp_path, args, env):
    ran = run_luminary(
        "serve", "--database-url", f"sqlite:///{tmp_path / 'x.db'}", *args, cwd=tmp_path, env=env
    )
    assert ran.returncode == 2
    assert (
        "'sometimes' is not a CPU affinity (from --cpu-affinity or LUMINARY_CPU_AFFINITY): "
        "choose auto, on, off" in ran.stderr
    )
    assert not (tmp_path / "x.db").exists()


def test_a_worker_the_system_will_not_keep_on_its_cpu_runs_anyway(tmp_path):
    said = tmp_path / "said"
    gone = max(ALLOWED) + 4096  # no such CPU: the system refuses it, as it would a CPU taken away

    def work() -> int:
        said.write_text(",".join(map(str, sorted(os.sched_getaffinity(0)))))
        return 0

    # The work ends at once, which counts as dying at once: with 1 such death allowed, it gives up.
    Supervisor(work, 1, most_quick_deaths=1, cpus=(gone,)).run()
    assert said.read_text() == ",".join(map(str, ALLOWED))
