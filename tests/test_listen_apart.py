"""Listening sockets of each worker on one port (``listen_apart``), and the supervisor handing them out."""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from pathlib import Path

import pytest

pytest.importorskip("luminary.http", reason="luminary-http is not installed")

from luminary.http.server import ServeError, can_listen_apart, listen, listen_apart
from luminary.http.workers import Supervisor

pytestmark = pytest.mark.skipif(not can_listen_apart(), reason="the system does not spread connections")


@contextlib.contextmanager
def closing_all(sets: list[list[socket.socket]]):
    try:
        yield sets
    finally:
        for own in sets:
            for sock in own:
                sock.close()


def accepted(sock: socket.socket) -> list[socket.socket]:
    """Every connection waiting on a listening socket (they are all there once connect() returned)."""
    taken = []
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return taken
        taken.append(conn)


def test_the_sets_listen_on_one_port_each_socket_its_own():
    with closing_all(listen_apart("127.0.0.1", 0, 3)) as sets:
        assert [len(own) for own in sets] == [1, 1, 1]
        socks = [own[0] for own in sets]
        assert len({sock.getsockname() for sock in socks}) == 1
        assert len({sock.fileno() for sock in socks}) == 3
        for sock in socks:
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
            assert not sock.getblocking()


def test_a_burst_of_connections_from_one_client_is_spread_over_the_sets():
    """Sockets shared by processes go to whichever is awake first; these are chosen by the kernel from
    a hash of each connection's ports, so that 64 at once land on both (fewer than 8 of 64 on one side:
    a chance of 1 in 10^10)."""
    with closing_all(listen_apart("127.0.0.1", 0, 2)) as sets:
        address = sets[0][0].getsockname()
        clients = [socket.create_connection(address, timeout=5) for _ in range(64)]
        try:
            counts = []
            for (sock,) in sets:
                conns = accepted(sock)
                counts.append(len(conns))
                for conn in conns:
                    conn.close()
            assert sum(counts) == 64
            assert min(counts) >= 8, counts
        finally:
            for client in clients:
                client.close()


def test_a_port_another_server_holds_is_refused():
    taken = socket.socket()
    try:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServeError, match=f"cannot listen on 127.0.0.1:{port}: Address already in use"):
            listen_apart("127.0.0.1", port, 2)
    finally:
        taken.close()


def test_a_second_server_on_the_port_the_sets_hold_is_refused():
    """``SO_REUSEPORT`` would let a second server share the port unnoticed: a plain bind first refuses it."""
    with closing_all(listen_apart("127.0.0.1", 0, 2)) as sets:
        port = sets[0][0].getsockname()[1]
        with pytest.raises(ServeError, match="Address already in use"):
            listen_apart("127.0.0.1", port, 2)
        with pytest.raises(ServeError, match="Address already in use"):
            listen("127.0.0.1", port)


def test_each_worker_serves_its_place_and_closes_its_copies_of_the_others(tmp_path: Path):
    sets = listen_apart("127.0.0.1", 0, 2)
    numbers = [own[0].fileno() for own in sets]
    seen = tmp_path / "seen"

    def work() -> int:
        assert supervisor.place is not None
        own = supervisor.own_sockets()
        closed = [own_set[0].fileno() == -1 for own_set in sets]
        with seen.open("a") as out:
            out.write(f"{supervisor.place} {own[0].fileno()} {closed}\n")
        signal.sigwait({signal.SIGTERM})  # held by hold_signals until now
        return 0

    supervisor = Supervisor(work, 2, apart=sets, hold_signals=True, shutdown_grace=5)
    with pytest.raises(RuntimeError, match="for a worker"):
        supervisor.own_sockets()

    done = threading.Event()

    def stop_once_both_said() -> None:
        for _ in range(200):
            if done.is_set() or (seen.exists() and len(seen.read_text().splitlines()) == 2):
                break
            done.wait(0.05)
        if not done.is_set():  # never once the supervisor is back: no handler would be waiting then
            signal.pthread_kill(main, signal.SIGTERM)

    main = threading.get_ident()
    stopper = threading.Thread(target=stop_once_both_said)
    stopper.start()
    try:
        assert supervisor.run() == 0
    finally:
        done.set()
        stopper.join()
    lines = sorted(seen.read_text().splitlines())
    assert lines == [
        f"0 {numbers[0]} [False, True]",
        f"1 {numbers[1]} [True, False]",
    ]
    assert all(own[0].fileno() == -1 for own in sets)  # the parent closed its copies when it stopped


def test_a_count_of_sets_unlike_the_count_of_workers_is_refused():
    with (
        closing_all(listen_apart("127.0.0.1", 0, 2)) as sets,
        pytest.raises(ValueError, match="2 sets of sockets for 3 workers"),
    ):
        Supervisor(lambda: 0, 3, apart=sets)
