"""Several processes serving one port: ``luminary serve --workers N``.

One Python process runs the app on one core at a time (the interpreter lock);
workers are processes, each with its own waitress threads, app and database
engine. The parent binds the listening sockets, migrates and seeds, then forks
the workers, which inherit the sockets: the kernel hands each new connection to
one of them. On Linux each worker's place has sockets of its own on the one port
(``SO_REUSEPORT``, :func:`luminary.http.server.listen_apart`), and the kernel
spreads connections over the places evenly; sockets shared by every worker would
go to whichever is awake first. The parent serves nothing; it supervises::

    parent: bind ── migrate, seed ── fork ─┬─ worker 1: engine, app, serve ──────────── exit 0
                                           ├─ worker 2: engine, app, serve ── killed
                                           │     └─ worker 3 in its place: serve ────── exit 0
                                 SIGTERM ──┴─ forwarded to every worker; the parent exits 0 after them

- A worker that dies is replaced, with one log line saying how it died. One
  that dies within :data:`QUICK_SECONDS` of starting is replaced after a pause
  that doubles each time; after :data:`MOST_QUICK_DEATHS` such deaths in a row
  the parent stops the others and exits with status 1.
- SIGTERM or SIGINT to the parent closes its copies of the sockets and is sent
  on to every worker, which stops gracefully (``--shutdown-grace``); a second
  one is sent on too and ends the grace period. Workers still running well
  after the grace period are killed.
- Workers form a process group of their own, so that a terminal's Ctrl-C
  reaches them once, through the parent; a worker whose parent is gone stops
  gracefully on its own.
- Each worker may be kept on one CPU (:class:`CpuAffinity`, ``--cpu-affinity``):
  worker i on the i-th CPU the parent may run on, and a worker that replaces
  another on that one's CPU. Its threads, started after, stay there too.

Nothing crosses a fork but the sockets: no engine, connection or thread (the
parent has none when it forks).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import NoReturn

log = logging.getLogger("luminary.workers")

#: A worker that dies sooner than this after it started died "at once": it may die again just as fast.
QUICK_SECONDS = 5.0
#: Deaths at once in a row after which the parent gives up.
MOST_QUICK_DEATHS = 5
#: The pause before replacing a worker that died at once; it doubles with each such death in a row.
FIRST_PAUSE_SECONDS = 0.1
#: How much longer than the grace period stopping workers get before they are killed.
KILL_AFTER_GRACE_SECONDS = 10.0

_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGCHLD}
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def default_count() -> int:
    """One worker per CPU this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class CpuAffinity(enum.Enum):
    """Whether each worker is kept on one CPU (``luminary serve --cpu-affinity``).

    A worker runs its waitress threads, which take turns holding the interpreter
    lock. When they may run on two CPUs, every hand-over of the lock wakes the
    other thread on the other CPU: measured on 2 cores with 1 worker of 1 thread,
    about 20 context switches per answer instead of 2.5, and 5 times fewer
    answers a second. Kept on one CPU, a thread that lets go of the lock for a
    moment (a system call) takes it back before the other one could run.
    """

    #: Each worker on a CPU of its own when there is one worker per CPU this process may run on
    #: (the default count): the CPUs are then the server's to share out. Otherwise as ``OFF``.
    AUTO = "auto"
    #: Worker i on the i-th CPU this process may run on, going round when there are more workers.
    ON = "on"
    #: The system places the workers' threads where it likes.
    OFF = "off"


def can_confine() -> bool:
    """Whether this system can keep a process on chosen CPUs (Linux can; macOS cannot)."""
    return hasattr(os, "sched_setaffinity") and hasattr(os, "sched_getaffinity")


def cpu_plan(mode: CpuAffinity, workers: int) -> tuple[int, ...]:
    """The CPUs the workers are kept on, worker i on the i-th (going round); empty for none."""
    if mode is CpuAffinity.OFF or not can_confine():
        return ()
    cpus = tuple(sorted(os.sched_getaffinity(0)))
    if mode is CpuAffinity.AUTO and workers != len(cpus):
        return ()
    return cpus


def confine(cpu: int) -> bool:
    """Keep the calling thread, and the threads it starts from now on, on ``cpu``.

    False, with a warning, when the system refuses (a CPU taken away since it was
    chosen): the caller then runs where the system likes, rather than not at all.
    """
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError as exc:
        log.warning("process %d cannot be kept on CPU %d (%s): it runs on any", os.getpid(), cpu, exc)
        return False
    return True


def how_it_ended(status: int) -> str:
    """A wait status in words: ``was killed by SIGKILL``, ``exited with status 1``."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"was killed by {name}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


class Supervisor:
    """Runs ``work`` in ``count`` forked processes, replacing those that die, until SIGTERM or SIGINT.

    Args:
        work: What a worker runs, in the child; its result is the worker's exit status.
        count: How many workers run at once.
        sockets: The listening sockets every worker inherits and serves; the parent closes its
            copies when stopping.
        apart: Listening sockets of each place instead (:func:`luminary.http.server.listen_apart`:
            one port, the kernel spreading connections over the places): the worker in place i
            serves ``apart[i]`` (:meth:`own_sockets`) and closes its copies of the others. The
            parent keeps every set open until it stops, so the connections sent to a place whose
            worker died wait for the one that replaces it.
        shutdown_grace: The workers' grace period when stopping (they are killed well after it).
        ended: Called in the parent with the pid of each worker that ended, once reaped
            (the metrics drop its gauges); what it raises is logged and ignored.
        hold_signals: Start each worker with SIGTERM and SIGINT blocked, for ``work`` to
            unblock once it handles them (:meth:`luminary.http.server.Service.signals_handled`
            does): one sent while the worker is starting is then acted on, not fatal.
        cpus: Keep worker i on ``cpus[i % len(cpus)]`` only (see :func:`cpu_plan`); a worker
            that replaces another takes its place, CPU included. Empty: no CPU is chosen.
    """

    def __init__(
        self,
        work: Callable[[], int],
        count: int,
        *,
        sockets: Sequence[socket.socket] = (),
        apart: Sequence[Sequence[socket.socket]] = (),
        shutdown_grace: float = 30.0,
        quick_seconds: float = QUICK_SECONDS,
        most_quick_deaths: int = MOST_QUICK_DEATHS,
        first_pause: float = FIRST_PAUSE_SECONDS,
        ended: Callable[[int], None] | None = None,
        hold_signals: bool = False,
        cpus: Sequence[int] = (),
    ) -> None:
        self.work = work
        self.cpus = tuple(cpus)
        self.hold_signals = hold_signals
        self.ended = ended
        self.count = count
        self.sockets = list(sockets)
        self.apart = [list(own) for own in apart]
        if self.apart and len(self.apart) != count:
            raise ValueError(f"{len(self.apart)} sets of sockets for {count} workers")
        #: In a worker: its place, 0 to count - 1; None in the parent.
        self.place: int | None = None
        self.shutdown_grace = shutdown_grace
        self.quick_seconds = quick_seconds
        self.most_quick_deaths = most_quick_deaths
        self.first_pause = first_pause
        #: Running workers: pid → when it started (monotonic).
        self.workers: dict[int, float] = {}
        #: Running workers: pid → its place, 0 to count - 1 (which CPU it is kept on).
        self.places: dict[int, int] = {}
        #: Replacements to start: (when, what the log line says of the worker replaced, its place).
        self.pending: list[tuple[float, str, int]] = []
        self.quick_deaths = 0
        self.stopping = False
        self.kill_at = float("inf")
        self._mask: set[int | signal.Signals] = set()

    def run(self, started: Callable[[], None] | None = None) -> int:
        """Start the workers, call ``started``, and supervise; the exit status for the parent."""
        self._mask = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            for place in range(self.count):
                self._start(place)
            if started is not None:
                started()
            return self._supervise()
        finally:
            self._close_sockets()
            signal.pthread_sigmask(signal.SIG_SETMASK, self._mask)

    def own_sockets(self) -> list[socket.socket]:
        """In a worker, the listening sockets it serves: its place's set, or the shared ones."""
        if self.place is None:
            raise RuntimeError("own_sockets() is for a worker: this is the parent")
        return self.apart[self.place] if self.apart else self.sockets

    def _close_sockets(self) -> None:
        for sock in [*self.sockets, *(sock for own in self.apart for sock in own)]:
            sock.close()

    # ------------------------------------------------------------ the parent

    def _supervise(self) -> int:
        gave_up = False
        while self.workers or (self.pending and not self.stopping):
            now = time.monotonic()
            wake = min([when for when, _, _ in self.pending] + [now + 1.0, self.kill_at])
            info = signal.sigtimedwait(_SIGNALS, max(0.0, wake - now))
            if info is not None and info.si_signo != signal.SIGCHLD:
                self._stop(signal.Signals(info.si_signo))
            now = time.monotonic()
            for pid, status in self._reap():
                gave_up = self._died(pid, status, now) or gave_up
                self._ended(pid)
            if gave_up and not self.stopping:
                self._stop(signal.SIGTERM, quietly=True)
            if self.stopping:
                if now >= self.kill_at and self.workers:
                    log.warning(
                        "%d worker(s) still running %g s after the grace period: killing them",
                        len(self.workers),
                        KILL_AFTER_GRACE_SECONDS,
                    )
                    self._send(signal.SIGKILL)
                    self.kill_at = float("inf")
                continue
            due = [p for p in self.pending if p[0] <= now]
            self.pending = [p for p in self.pending if p[0] > now]
            for _, what, place in due:
                pid = self._start(place)
                log.warning("%s; worker %d replaces it", what, pid)
        if gave_up:
            print(
                f"luminary: workers keep dying as they start ({self.most_quick_deaths} in a row within "
                f"{self.quick_seconds:g} s of starting): giving up",
                file=sys.stderr,
                flush=True,
            )
            return 1
        log.info("every worker stopped")
        return 0

    def _reap(self) -> list[tuple[int, int]]:
        ended = []
        for pid in list(self.workers):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if done:
                ended.append((pid, status))
        return ended

    def _ended(self, pid: int) -> None:
        if self.ended is not None:
            try:
                self.ended(pid)
            except Exception as exc:
                log.warning("after worker %d ended: %s", pid, exc)

    def _died(self, pid: int, status: int, now: float) -> bool:
        """Note a worker's end and plan its replacement; True when it is time to give up."""
        lived = now - self.workers.pop(pid)
        place = self.places.pop(pid)
        if self.stopping:
            if status:
                log.warning("worker %d %s while stopping", pid, how_it_ended(status))
            return False
        what = f"worker {pid} {how_it_ended(status)} after {lived:.1f} s"
        if lived >= self.quick_seconds:
            self.quick_deaths = 0
            self.pending.append((now, what, place))
            return False
        self.quick_deaths += 1
        if self.quick_deaths >= self.most_quick_deaths:
            log.error("%s, the %d. death at once in a row", what, self.quick_deaths)
            return True
        pause = self.first_pause * 2 ** (self.quick_deaths - 1)
        self.pending.append((now + pause, f"{what} (at once: replaced after a pause of {pause:g} s)", place))
        return False

    def _stop(self, signum: signal.Signals, *, quietly: bool = False) -> None:
        if not self.stopping:
            self.stopping = True
            self.pending.clear()
            self.kill_at = time.monotonic() + self.shutdown_grace + KILL_AFTER_GRACE_SECONDS
            self._close_sockets()  # new connections are refused once the workers close theirs too
            if not quietly:
                log.info("received %s: stopping %d worker(s)", signum.name, len(self.workers))
        self._send(signum)

    def _send(self, signum: signal.Signals) -> None:
        for pid in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def _start(self, place: int) -> int:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            self._child(place)
        self.workers[pid] = time.monotonic()
        self.places[pid] = place
        return pid

    # ------------------------------------------------------------ a worker

    def _child(self, place: int) -> NoReturn:
        status = 1
        try:
            parent = os.getppid()
            os.setpgid(0, 0)
            self.place = place
            for other, own in enumerate(self.apart):
                if other != place:
                    for sock in own:
                        sock.close()  # else a place would stay open until every worker ended
            if self.cpus:
                confine(self.cpus[place % len(self.cpus)])  # before the worker starts any thread
            mask = set(self._mask)
            if self.hold_signals:
                # Held until the work can stop gracefully (it unblocks them then): a SIGTERM
                # while the worker starts would otherwise end it at once, and reset the
                # connections waiting for it.
                mask |= _STOP_SIGNALS
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            _stop_when_orphaned(parent)
            status = self.work()
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            logging.shutdown()
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(status)


def _stop_when_orphaned(parent: int) -> None:
    """Stop this worker gracefully (SIGTERM to itself) once its parent is gone."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()
