"""The ``luminary`` command: serve the API and look after its database."""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import logging
import math
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import timedelta
from enum import Enum
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeVar

from luminary import core

from .auth import V1Mode
from .logs import LOG_FORMATS, JsonFormatter, TextFormatter
from .server import Limits
from .settings import setting
from .workers import CpuAffinity, can_confine, confine, cpu_plan

if TYPE_CHECKING:
    from luminary.sql import Migration

    from .cors import Cors
    from .settings import DatabaseChoice

_Choice = TypeVar("_Choice", bound=Enum)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
#: Threads per worker on PostgreSQL (waitress's own default): each statement waits for
#: the server, a commit for its disk, and a thread waiting leaves the interpreter to the
#: others. With each worker kept on one CPU (the default), four served the writes about a
#: fifth faster than one, and the reads with no more CPU; with the workers free to move and
#: the server on the same machine, the write mix twice as fast and most reads faster
#: (measured with nox -s bench; see the README).
POSTGRES_THREADS = 4
#: Threads per worker on SQLite. Its module lets go of the interpreter lock at every
#: row it steps through, so threads of one process hand the lock to each other on
#: long reads: two served the short reads 5 to 15% faster than one and the long
#: lists as fast, where four slowed the long lists (measured with nox -s bench; see
#: the README). Two also keep a worker answering while its other thread sends a long
#: answer. A database in memory has 1: each thread would see a database of its own.
SQLITE_THREADS = 2


def _database(url: str | None) -> tuple[str, Any]:
    """Resolve the URL, apply the migrations, and return the URL and an engine."""
    from luminary import sql

    from .settings import resolve_database_url

    resolved = resolve_database_url(url)
    sql.upgrade(resolved)
    return resolved, sql.make_engine(resolved)


def _uow_factory(engine: Any) -> Callable[[], core.UnitOfWork]:
    from luminary import sql

    def factory() -> core.UnitOfWork:
        return sql.SqlAlchemyUnitOfWork(engine)

    return factory


def cmd_serve(args: argparse.Namespace) -> int:
    """Bind first (a bad address fails before the database is touched), migrate, seed, explain, serve."""
    from .server import ServeError, can_listen_apart, listen, listen_apart
    from .settings import choose_database

    choice = choose_database(args.database_url)
    url = choice.url
    defaulted = frozenset(name for name in ("workers", "threads") if getattr(args, name) is None)
    workers = args.workers if args.workers is not None else default_workers(url)
    if workers > 1 and _in_memory(url):
        print("luminary: a SQLite database in memory is served by 1 worker only", file=sys.stderr)
        return 2
    if args.threads is not None and args.threads > 1 and _in_memory(url):
        print("luminary: a SQLite database in memory is served by 1 thread only", file=sys.stderr)
        return 2
    if args.cpu_affinity is CpuAffinity.ON and not can_confine():
        print(
            "luminary: --cpu-affinity on: this system cannot keep a process on chosen CPUs", file=sys.stderr
        )
        return 2
    cpus = cpu_plan(args.cpu_affinity, workers)
    if args.threads is None:
        args.threads = default_threads(url)
    try:
        if workers > 1 and can_listen_apart():
            places = listen_apart(args.host, args.port, workers)  # connections spread evenly
        else:
            places = [listen(args.host, args.port)] * workers
    except ServeError as exc:
        print(f"luminary: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        start = partial(_startup, args, choice, workers=workers, defaulted=defaulted)
        if workers == 1:
            return _serve_in_this_process(args, url, places[0], start, cpus)
        return _serve_in_workers(args, url, workers, places, start, cpus)
    finally:
        for sock in {sock for own in places for sock in own}:
            sock.close()


def default_workers(url: str) -> int:
    """One worker per CPU, but for a SQLite database in memory, which only its own process sees."""
    from .workers import default_count

    return 1 if _in_memory(url) else default_count()


def _in_memory(url: str) -> bool:
    from sqlalchemy.engine import make_url

    from luminary.sql.config import normalize_url
    from luminary.sql.engine import sqlite_path

    found = make_url(normalize_url(url))
    return found.get_backend_name() == "sqlite" and sqlite_path(found) is None


def default_threads(url: str) -> int:
    """Threads per worker: :data:`SQLITE_THREADS` on SQLite (1 for a database in memory, which each
    thread would open anew), :data:`POSTGRES_THREADS` on PostgreSQL."""
    from sqlalchemy.engine import make_url

    from luminary.sql.config import normalize_url

    if make_url(normalize_url(url)).get_backend_name() != "postgresql":
        return 1 if _in_memory(url) else SQLITE_THREADS
    return POSTGRES_THREADS


def _seed(args: argparse.Namespace, engine: Any, clock: core.Clock) -> int | None:
    """The default constellations, into an empty database: how many were added, ``None`` if seeding is off."""
    if args.no_seed:
        return None
    return len(core.seed_constellations(_uow_factory(engine)(), actor=core.SYSTEM, clock=clock))


def _seeder(args: argparse.Namespace, engine: Any, clock: core.Clock) -> Callable[[], None]:
    def seed() -> None:
        if seeded := _seed(args, engine, clock):
            print(f"Seeded {seeded} constellations.", flush=True)

    return seed


def _startup(
    args: argparse.Namespace,
    choice: DatabaseChoice,
    migration: Migration,
    seeded: int | None,
    v1_mode: V1Mode,
    *,
    workers: int,
    defaulted: frozenset[str],
) -> None:
    """Print the banner (see :mod:`.banner`), all but the line of the port and the way to stop."""
    from .banner import Startup

    startup = Startup(
        choice=choice,
        migration=migration,
        seeded=seeded,
        v1_mode=v1_mode,
        workers=workers,
        threads=args.threads,
        defaulted=defaulted,
        metrics=args.metrics,
        rate_limits=args.rate_limits,
        cors_origins=args.cors_origins,
    )
    print("\n".join(startup.lines()), flush=True)


def _announce_v1(args: argparse.Namespace) -> V1Mode:
    """The v1 mode, with a warning when it is open beyond loopback (the banner says the mode)."""
    v1_mode = V1Mode(args.v1)
    if v1_mode is V1Mode.OPEN and not _is_loopback(args.host):
        from . import banner

        print(
            "WARNING: API v1 is served open on a non-loopback address: anyone who can reach "
            f"{banner.address(args.host, args.port)} can read, change and delete every student's data "
            "through /api. "
            "Serve with --v1 token (or --v1 off) unless the published iOS app needs it open.",
            file=sys.stderr,
            flush=True,
        )
    return v1_mode


def _app(
    args: argparse.Namespace, engine: Any, clock: core.Clock, v1_mode: V1Mode, metrics_dir: str | None = None
) -> Any:
    """The app over ``engine``; a database dropped and created again gets what a restart would give it.

    Its metrics are its own, or, with ``metrics_dir``, shared with the other workers (see :mod:`.metrics`).
    """
    from luminary import sql

    from .app import create_app
    from .metrics import Metrics
    from .ratelimits import limiter_for

    metrics: Metrics | Literal[False] = False
    if args.metrics:
        metrics = Metrics(multiprocess_dir=metrics_dir)
        metrics.watch_pool(engine)
    sql.migrate_when_missing(engine, then=_seeder(args, engine, clock))
    return create_app(
        _uow_factory(engine),
        clock=clock,
        v1_mode=v1_mode,
        timer_cap=timedelta(hours=args.timer_cap_hours),
        readiness=partial(sql.check_ready, engine),
        cors_origins=args.cors_origins,
        metrics=metrics,
        rate_limiter=limiter_for(args.rate_limits, engine),
    )


def _cors(args: argparse.Namespace) -> Cors | None:
    """The app's CORS policy, for the answers waitress makes before the app runs; None without origins."""
    from .cors import Cors

    return Cors(args.cors_origins) if args.cors_origins else None


def _limits(args: argparse.Namespace) -> Limits:
    return Limits(
        request_timeout=args.request_timeout,
        max_connections_per_address=args.max_connections_per_address,
        connection_limit=args.connection_limit,
        shutdown_grace=args.shutdown_grace,
    )


#: Prints the banner, given what the migrations did, the constellations seeded and the v1 mode.
_Announce = Callable[["Migration", "int | None", V1Mode], None]


def _serve_in_this_process(
    args: argparse.Namespace,
    url: str,
    sockets: list[socket.socket],
    announce: _Announce,
    cpus: tuple[int, ...],
) -> int:
    from .metrics import keep_in_process

    keep_in_process()  # one process: its metrics in its own registry, no files
    allowed = os.sched_getaffinity(0) if cpus else set()
    kept = bool(cpus) and confine(cpus[0])  # before the server starts its threads, which stay there too
    try:
        return _serve_here(args, url, sockets, announce, kept)
    finally:
        if kept:
            os.sched_setaffinity(0, allowed)


def _serve_here(
    args: argparse.Namespace, url: str, sockets: list[socket.socket], announce: _Announce, kept: bool
) -> int:
    from luminary import sql

    from . import banner
    from .server import ServeError, Service

    migration = sql.upgrade(url)
    engine = sql.make_engine(url)
    try:
        clock = core.SystemClock()
        seeded = _seed(args, engine, clock)
        v1_mode = _announce_v1(args)
        app = _app(args, engine, clock, v1_mode)
        port = sockets[0].getsockname()[1]
        limits = _limits(args)
        try:
            service = Service(
                app,
                host=args.host,
                port=port,
                threads=args.threads,
                limits=limits,
                sockets=sockets,
                cors=_cors(args),
            )
        except ServeError as exc:
            print(f"luminary: {exc}", file=sys.stderr, flush=True)
            return 1
        announce(migration, seeded, v1_mode)
        with service.signals_handled():
            print(banner.serving(args.host, service.port, 1, args.threads, kept), flush=True)
            print(banner.stopping(1, limits.shutdown_grace, os.getpid()), flush=True)
            service.run()
    finally:
        engine.dispose()
    return 0


def _serve_in_workers(
    args: argparse.Namespace,
    url: str,
    count: int,
    places: list[list[socket.socket]],
    announce: _Announce,
    cpus: tuple[int, ...],
) -> int:
    """Migrate and seed here, then serve in ``count`` forked workers (see :mod:`.workers`): the one
    in place i on ``places[i]``, sockets of its own or the same for every place."""
    from luminary import sql

    from . import banner
    from .server import Service
    from .workers import Supervisor

    if args.log_format == "text":
        # Whose line it is, among the workers (a JSON line has its pid).
        tagged = TextFormatter("%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")
        for handler in logging.getLogger().handlers:
            handler.setFormatter(tagged)
    migration = sql.upgrade(url)
    engine = sql.make_engine(url)
    try:
        seeded = _seed(args, engine, core.SystemClock())
    finally:
        engine.dispose()  # no engine and no connection may cross the fork
    del engine
    v1_mode = _announce_v1(args)
    limits = _limits(args)
    port = places[0][0].getsockname()[1]
    shared = all(own is places[0] for own in places)
    from .metrics import MULTIPROCESS_VARIABLE, share_between_processes, worker_ended

    # The workers' metrics files, in a directory of this run's own (a stale file would add old counts).
    metrics_dir = tempfile.mkdtemp(prefix="luminary-metrics-") if args.metrics else None

    def work() -> int:
        engine = sql.make_engine(url)
        try:
            app = _app(args, engine, core.SystemClock(), v1_mode, metrics_dir)
            service = Service(
                app,
                host=args.host,
                port=port,
                threads=args.threads,
                limits=limits,
                sockets=supervisor.own_sockets(),
                cors=_cors(args),
            )
            with service.signals_handled():
                service.run()
        finally:
            engine.dispose()
        return 0

    def started() -> None:
        print(banner.serving(args.host, port, count, args.threads, bool(cpus)), flush=True)
        print(banner.stopping(count, limits.shutdown_grace, os.getpid()), flush=True)

    try:
        if metrics_dir is not None:
            share_between_processes(metrics_dir)
        announce(migration, seeded, v1_mode)
        supervisor = Supervisor(
            work,
            count,
            sockets=places[0] if shared else (),
            apart=() if shared else places,
            shutdown_grace=limits.shutdown_grace,
            ended=None if metrics_dir is None else partial(worker_ended, directory=metrics_dir),
            hold_signals=True,
            cpus=cpus,
        )
        return supervisor.run(started)
    finally:
        if metrics_dir is not None:
            os.environ.pop(MULTIPROCESS_VARIABLE, None)
            shutil.rmtree(metrics_dir, ignore_errors=True)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from luminary import sql

    from .banner import upgraded
    from .settings import choose_database

    choice = choose_database(args.database_url)
    print(upgraded(choice, sql.upgrade(choice.url)))
    return 0


def cmd_db_backup(args: argparse.Namespace) -> int:
    from luminary import sql

    from .settings import resolve_database_url

    url = resolve_database_url(args.database_url)
    try:
        backup = sql.backup_database(url, args.file, force=args.force)
    except sql.DestinationExists as exc:
        print(f"luminary: {exc}; --force replaces it.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"luminary: interrupted; nothing was written to {args.file}.", file=sys.stderr)
        return 130
    print(
        f"Copied {backup.source} to {backup.destination}: {backup.size:,} bytes "
        f"({backup.pages} pages of {backup.page_size:,} bytes)."
    )
    return 0


def cmd_db_check(args: argparse.Namespace) -> int:
    from luminary import sql

    from .settings import resolve_database_url

    report = sql.check_database(resolve_database_url(args.database_url))
    checks = " and ".join(report.checks)
    if report.ok:
        print(f"ok: {report.path}: {checks} found no problem in {report.pages} pages.")
        return 0
    print(f"{report.path}: {checks} found problems:")
    for problem in report.problems:
        print(f"  {problem}")
    return 1


def cmd_seed(args: argparse.Namespace) -> int:
    _, engine = _database(args.database_url)
    try:
        seeded = core.seed_constellations(_uow_factory(engine)(), actor=core.SYSTEM, clock=core.SystemClock())
    finally:
        engine.dispose()
    if seeded:
        print("Seeded: " + ", ".join(f"{c.name} ({c.weight})" for c in seeded))
    else:
        print("The database already has constellations; nothing seeded.")
    return 0


def cmd_sync_minutes(args: argparse.Namespace) -> int:
    _, engine = _database(args.database_url)
    try:
        report = core.sync_minutes(_uow_factory(engine)(), actor=core.SYSTEM)
    finally:
        engine.dispose()
    for user_id, (stored, recomputed) in sorted(report.corrections.items()):
        print(f"user {user_id}: {stored} -> {recomputed} minutes")
    print(f"{report.users_updated} users updated.")
    return 0


def _one_of(kind: type[_Choice], what: str, option: str, variable: str) -> Callable[[str], _Choice]:
    """The argparse type of an option whose values are ``kind``'s: ``'x' is not a WHAT (…): choose …``."""

    def convert(value: str) -> _Choice:
        # argparse converts a string default too, so a bad variable is refused before anything runs.
        try:
            return kind(value)
        except ValueError:
            choices = ", ".join(m.value for m in kind)
            raise argparse.ArgumentTypeError(
                f"{value!r} is not {what} (from {option} or {variable}): choose {choices}"
            ) from None

    return convert


_v1_mode = _one_of(V1Mode, "a v1 mode", "--v1", "LUMINARY_V1_MODE")
_cpu_affinity = _one_of(CpuAffinity, "a CPU affinity", "--cpu-affinity", "LUMINARY_CPU_AFFINITY")


def _log_format(value: str) -> str:
    # argparse converts a string default too, so a bad LUMINARY_LOG_FORMAT is refused before anything runs.
    if value not in LOG_FORMATS:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a log format (from --log-format or LUMINARY_LOG_FORMAT): choose "
            + ", ".join(LOG_FORMATS)
        )
    return value


def _timer_cap_hours(value: str) -> float:
    # A session credits at most a day (1440 minutes): so does its timer.
    try:
        hours = float(value)
    except ValueError:
        hours = -1.0
    if not 0 < hours <= 24:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a number of hours above 0 and at most 24 (from --timer-cap-hours or "
            "LUMINARY_TIMER_CAP_HOURS)"
        )
    return hours


def _whole_number(
    option: str, low: int, high: int | None = None, variable: str | None = None
) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` (to ``high``), named after its option in errors."""

    def convert(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or number < low or (high is not None and number > high):
            bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
            source = f" (from {option} or {variable})" if variable else ""
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number {bounds}{source}")
        return number

    return convert


def _port(value: str) -> int:
    """An argparse type: a TCP port, or 0 for any free one (which tests and benchmarks use)."""
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a port: a whole number from 1 to 65535, or 0 for any free port "
            "(from --port or LUMINARY_PORT)"
        )
    return port


def _yes_or_no(variable: str) -> Callable[[str], bool]:
    """An argparse type for a switch's variable: 1, true, yes, on or 0, false, no, off, in any case."""

    def convert(value: str) -> bool:
        word = value.strip().lower()
        if word in ("1", "true", "yes", "on"):
            return True
        if word in ("0", "false", "no", "off"):
            return False
        raise argparse.ArgumentTypeError(
            f"{value!r} is not true or false (from {variable}): use 1, true, yes or on, "
            "or 0, false, no or off"
        )

    return convert


class _Switch(argparse.Action):
    """``--no-X`` and ``--X`` in one: either wins over the variable that gives the default.

    The default is the variable's text, which argparse converts with ``type`` when
    neither option is given, so a bad value is refused as a bad option would be.
    """

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, option_string == self.option_strings[0])


class _Parser(argparse.ArgumentParser):
    """Refuses a bad value in one line, ``luminary serve: error: argument --port: …``, exit status 2.

    Other mistakes (no command, an unknown option) get argparse's usage too.
    """

    def error(self, message: str) -> NoReturn:
        if message.startswith("argument "):
            self.exit(2, f"{self.prog}: error: {message}\n")
        super().error(message)


class _Version(argparse.Action):
    """``luminary --version``: the three packages' versions."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        from .banner import versions

        print(versions())
        parser.exit()


def _seconds(option: str, variable: str, *, zero: bool) -> Callable[[str], float]:
    """An argparse type: a finite number of seconds, above 0 (or at least 0 with ``zero``)."""

    def convert(value: str) -> float:
        try:
            seconds = float(value)
        except ValueError:
            seconds = math.nan
        if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not zero):
            bounds = "of at least 0" if zero else "above 0"
            raise argparse.ArgumentTypeError(
                f"{value!r} is not a number of seconds {bounds} (from {option} or {variable})"
            )
        return seconds

    return convert


def _cors_origins(value: str) -> tuple[str, ...]:
    """An argparse type: origins separated by commas or spaces, each checked."""
    from .cors import check_origins, split_origins

    try:
        return check_origins(split_origins(value))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (from --cors-origin or LUMINARY_CORS_ORIGINS)") from None


class _Repeated(argparse.Action):
    """A repeatable option whose variable gives its default: the first option replaces the
    variable's values, the next add to them (:meth:`merged` says how)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        # Before the first option the value is the default, the variable's text (converted if no option came).
        given = getattr(namespace, self.dest)
        previous: tuple[Any, ...] = () if isinstance(given, str) else given
        setattr(namespace, self.dest, self.merged(previous, tuple(values or ())))

    @staticmethod
    def merged(previous: tuple[Any, ...], values: tuple[Any, ...]) -> tuple[Any, ...]:
        raise NotImplementedError


class _CorsOrigins(_Repeated):
    """--cors-origin: each origin once, in the order given."""

    @staticmethod
    def merged(previous: tuple[Any, ...], values: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(dict.fromkeys((*previous, *values)))


def _rate_limits(value: str) -> tuple[tuple[str, Any], ...]:
    """An argparse type: CLASS=N/SECONDS, several separated by commas (see :mod:`.ratelimits`)."""
    from .ratelimits import parse_limits

    try:
        return parse_limits(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (from --rate-limit or LUMINARY_RATE_LIMITS)") from None


class _RateLimits(_Repeated):
    """--rate-limit: a class given twice keeps its last limit."""

    @staticmethod
    def merged(previous: tuple[Any, ...], values: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(dict((*previous, *values)).items())


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _read_password(args: argparse.Namespace) -> str:
    """The new password: one line of standard input with --password-stdin, else typed twice at a prompt."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            raise core.ValidationFailed.field("password", "the two passwords differ")
    else:
        raise core.ValidationFailed.field("password", "give it on standard input with --password-stdin")
    return password


def _with_store(args: argparse.Namespace, work: Callable[[Callable[[], core.UnitOfWork]], int]) -> int:
    _, engine = _database(args.database_url)
    try:
        return work(_uow_factory(engine))
    finally:
        engine.dispose()


def cmd_admin_create_user(args: argparse.Namespace) -> int:
    command = core.SignUp(
        display_name=args.display_name or args.login, login=args.login, password=_read_password(args)
    )

    def work(uow: Callable[[], core.UnitOfWork]) -> int:
        user = core.create_account(
            uow(), command, actor=core.SYSTEM, clock=core.SystemClock(), admin=not args.student
        )
        role = "student" if args.student else "administrator"
        print(f"Created {role} {command.login!r} (user {user.id}).")
        return 0

    return _with_store(args, work)


def cmd_admin_claim_user(args: argparse.Namespace) -> int:
    command = core.ClaimAccount(login=args.login, password=_read_password(args))

    def work(uow: Callable[[], core.UnitOfWork]) -> int:
        core.claim_account(uow(), args.user_id, command, actor=core.SYSTEM, clock=core.SystemClock())
        print(f"User {args.user_id} now signs in as {command.login!r}.")
        return 0

    return _with_store(args, work)


def cmd_admin_create_token(args: argparse.Namespace) -> int:
    def work(uow: Callable[[], core.UnitOfWork]) -> int:
        issued = core.issue_token(
            uow(),
            args.login,
            name=args.name,
            scopes=args.scope,
            expires_in_days=args.expires_in_days,
            actor=core.SYSTEM,
            clock=core.SystemClock(),
        )
        scopes = " ".join(sorted(s.value for s in issued.token.scopes))
        print(f"Token {issued.token.id} ({issued.token.name}; {scopes}), shown this once:", file=sys.stderr)
        print(issued.secret)
        return 0

    return _with_store(args, work)


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    def work(uow: Callable[[], core.UnitOfWork]) -> int:
        token = core.revoke_token(uow(), args.token_id, actor=core.SYSTEM)
        print(f"Revoked token {token.id} ({token.name}) of user {token.user_id}.")
        return 0

    return _with_store(args, work)


def cmd_tokens_list(args: argparse.Namespace) -> int:
    def work(uow: Callable[[], core.UnitOfWork]) -> int:
        for token in core.list_tokens(uow(), args.user_id, actor=core.SYSTEM):
            scopes = ",".join(sorted(s.value for s in token.scopes))
            expires = token.expires_at.isoformat() if token.expires_at else "never"
            used = token.last_used_at.isoformat() if token.last_used_at else "never"
            print(f"{token.id}\t{token.name}\t{scopes}\texpires {expires}\tlast used {used}")
        return 0

    return _with_store(args, work)


def _add_password_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input (else it is asked for twice)",
    )


def _add_database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="database to use (default: $LUMINARY_DATABASE_URL, $DATABASE_URL, $POSTGRES_*, "
        "then sqlite:///luminary.db)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="luminary", description="Luminary, the study-tracking backend.")
    parser.add_argument("--version", action=_Version, help="print the versions of the three packages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # Every option of serve has a variable (README, "Serve options"); the option wins over it.
    serve = commands.add_parser(
        "serve",
        help="apply migrations, seed, and serve the API with waitress",
        description="Apply the migrations, seed, and serve the API. Every option has a LUMINARY_* "
        "variable (from the environment or .env); the option wins over it.",
    )
    serve.add_argument(
        "--host",
        default=setting("LUMINARY_HOST") or DEFAULT_HOST,
        help=f"interface to listen on (default: $LUMINARY_HOST, else {DEFAULT_HOST})",
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=setting("LUMINARY_PORT") or str(DEFAULT_PORT),
        help="port to listen on, 1 to 65535, or 0 for any free one "
        f"(default: $LUMINARY_PORT, else {DEFAULT_PORT})",
    )
    serve.add_argument(
        "--threads",
        type=_whole_number("--threads", 1, variable="LUMINARY_THREADS"),
        default=setting("LUMINARY_THREADS"),
        metavar="N",
        help="threads per worker (default: $LUMINARY_THREADS, else "
        f"{SQLITE_THREADS} on SQLite (1 in memory), {POSTGRES_THREADS} on PostgreSQL)",
    )
    serve.add_argument(
        "--workers",
        type=_whole_number("--workers", 1, variable="LUMINARY_WORKERS"),
        default=setting("LUMINARY_WORKERS"),
        metavar="N",
        help="processes serving the port, each with its own threads, supervised: one that dies is "
        "replaced (default: $LUMINARY_WORKERS, else one per CPU)",
    )
    serve.add_argument(
        "--cpu-affinity",
        type=_cpu_affinity,
        choices=list(CpuAffinity),
        # The values as typed (the choices are members, which argparse would show as CpuAffinity.ON).
        metavar="{" + ",".join(mode.value for mode in CpuAffinity) + "}",
        default=setting("LUMINARY_CPU_AFFINITY") or CpuAffinity.AUTO.value,
        help="keep each worker on one CPU: 'auto' when there is one worker per CPU (the default "
        "count), 'on' always (worker i on the i-th CPU, going round), 'off' never "
        "(default: $LUMINARY_CPU_AFFINITY, else auto)",
    )
    serve.add_argument(
        "--no-seed",
        "--seed",
        dest="no_seed",
        action=_Switch,
        type=_yes_or_no("LUMINARY_NO_SEED"),
        default=setting("LUMINARY_NO_SEED") or False,
        help="do not add the default constellations to an empty database, or (--seed) do "
        "(default: $LUMINARY_NO_SEED, 1/true/yes/on or 0/false/no/off, else seed)",
    )
    serve.add_argument(
        "--v1",
        type=_v1_mode,
        choices=list(V1Mode),
        default=setting("LUMINARY_V1_MODE") or V1Mode.OPEN.value,
        help="API v1: 'open' needs no token (the published iOS app), 'token' needs one as v2 does, "
        "'off' is not served (default: $LUMINARY_V1_MODE, else open)",
    )
    serve.add_argument(
        "--timer-cap-hours",
        type=_timer_cap_hours,
        default=setting("LUMINARY_TIMER_CAP_HOURS") or "12",
        metavar="HOURS",
        help="a session timer left running stops itself after this long, at most 24 "
        "(default: $LUMINARY_TIMER_CAP_HOURS, else 12)",
    )
    limits = Limits()
    serve.add_argument(
        "--request-timeout",
        type=_seconds("--request-timeout", "LUMINARY_REQUEST_TIMEOUT", zero=False),
        default=setting("LUMINARY_REQUEST_TIMEOUT") or str(limits.request_timeout),
        metavar="SECONDS",
        help="a client must send a whole request (head and body) within this long of its first byte, "
        f"else 408 (default: $LUMINARY_REQUEST_TIMEOUT, else {limits.request_timeout:g})",
    )
    serve.add_argument(
        "--max-connections-per-address",
        type=_whole_number(
            "--max-connections-per-address", 0, variable="LUMINARY_MAX_CONNECTIONS_PER_ADDRESS"
        ),
        default=setting("LUMINARY_MAX_CONNECTIONS_PER_ADDRESS") or str(limits.max_connections_per_address),
        metavar="N",
        help="connections one client address may hold; more are closed at once; 0 for no limit (behind "
        "a reverse proxy every connection comes from it) (default: $LUMINARY_MAX_CONNECTIONS_PER_ADDRESS, "
        f"else {limits.max_connections_per_address})",
    )
    serve.add_argument(
        "--connection-limit",
        type=_whole_number("--connection-limit", 1, variable="LUMINARY_CONNECTION_LIMIT"),
        default=setting("LUMINARY_CONNECTION_LIMIT") or str(limits.connection_limit),
        metavar="N",
        help="connections held at once; near it, idle keep-alive connections are closed, oldest first "
        f"(default: $LUMINARY_CONNECTION_LIMIT, else {limits.connection_limit})",
    )
    serve.add_argument(
        "--shutdown-grace",
        type=_seconds("--shutdown-grace", "LUMINARY_SHUTDOWN_GRACE", zero=True),
        default=setting("LUMINARY_SHUTDOWN_GRACE") or str(limits.shutdown_grace),
        metavar="SECONDS",
        help="on SIGTERM or SIGINT, requests in flight get this long to finish before the server exits "
        f"(default: $LUMINARY_SHUTDOWN_GRACE, else {limits.shutdown_grace:g})",
    )
    serve.add_argument(
        "--cors-origin",
        dest="cors_origins",
        type=_cors_origins,
        action=_CorsOrigins,
        default=setting("LUMINARY_CORS_ORIGINS") or "",
        metavar="ORIGIN",
        help="let pages of this origin (scheme://host[:port], or * for any) call the API from a browser; "
        "repeat for several (default: $LUMINARY_CORS_ORIGINS, separated by commas or spaces, else none)",
    )
    serve.add_argument(
        "--rate-limit",
        dest="rate_limits",
        type=_rate_limits,
        action=_RateLimits,
        default=setting("LUMINARY_RATE_LIMITS") or "",
        metavar="CLASS=N/SECONDS",
        help="at most N requests every SECONDS per client (its token, else its address) to a class of "
        "routes: signin, write or read; repeat for several, e.g. --rate-limit signin=10/60 "
        "(default: $LUMINARY_RATE_LIMITS, separated by commas, else no limit)",
    )
    serve.add_argument(
        "--metrics",
        "--no-metrics",
        dest="metrics",
        action=_Switch,
        type=_yes_or_no("LUMINARY_METRICS"),
        default=setting("LUMINARY_METRICS") or True,
        help="serve Prometheus metrics at /metrics, or (--no-metrics) do not: /metrics is then 404 and "
        "nothing is measured (default: $LUMINARY_METRICS, 1/true/yes/on or 0/false/no/off, else on)",
    )
    serve.add_argument(
        "--log-format",
        type=_log_format,
        choices=LOG_FORMATS,
        default=setting("LUMINARY_LOG_FORMAT") or "text",
        help="log lines on standard error: 'text', or 'json', one object a line for log pipelines "
        "(default: $LUMINARY_LOG_FORMAT, else text)",
    )
    _add_database_option(serve)
    serve.set_defaults(run=cmd_serve)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    upgrade = db_commands.add_parser("upgrade", help="apply every pending migration")
    _add_database_option(upgrade)
    upgrade.set_defaults(run=cmd_db_upgrade)
    backup = db_commands.add_parser(
        "backup", help="copy a SQLite database to FILE while it is in use (PostgreSQL: use pg_dump)"
    )
    backup.add_argument("file", metavar="FILE", help="the copy to write; its directory must exist")
    backup.add_argument("--force", action="store_true", help="replace FILE if it exists")
    _add_database_option(backup)
    backup.set_defaults(run=cmd_db_backup)
    check = db_commands.add_parser(
        "check",
        help="check a SQLite database's integrity and foreign keys; exit 1 listing any problem",
    )
    _add_database_option(check)
    check.set_defaults(run=cmd_db_check)

    seed = commands.add_parser("seed", help="add the default constellations to an empty database")
    _add_database_option(seed)
    seed.set_defaults(run=cmd_seed)

    sync = commands.add_parser("sync-minutes", help="recompute every user's total minutes")
    _add_database_option(sync)
    sync.set_defaults(run=cmd_sync_minutes)

    admin = commands.add_parser("admin", help="accounts and tokens, as the operator")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True, metavar="COMMAND")
    create_user = admin_commands.add_parser(
        "create-user", help="create an administrator (or a student) account"
    )
    create_user.add_argument("--login", required=True, help="the login name")
    create_user.add_argument("--display-name", help="the name shown to others (default: the login)")
    create_user.add_argument("--student", action="store_true", help="a student account, not an administrator")
    _add_password_option(create_user)
    _add_database_option(create_user)
    create_user.set_defaults(run=cmd_admin_create_user)

    claim = admin_commands.add_parser("claim-user", help="give an existing user (made through v1) a login")
    claim.add_argument("user_id", type=int, help="the user's id")
    claim.add_argument("--login", required=True, help="the login name")
    _add_password_option(claim)
    _add_database_option(claim)
    claim.set_defaults(run=cmd_admin_claim_user)

    create_token = admin_commands.add_parser(
        "create-token", help="create a token for an account, without its password; prints the secret"
    )
    create_token.add_argument("--login", required=True, help="the account's login")
    create_token.add_argument("--name", required=True, help="what the token is for")
    create_token.add_argument(
        "--scope",
        action="append",
        required=True,
        choices=[s.value for s in core.Scope],
        help="a scope; repeat for several (admin only for administrators)",
    )
    create_token.add_argument(
        "--expires-in-days", type=int, help="days until it stops working (default: never)"
    )
    _add_database_option(create_token)
    create_token.set_defaults(run=cmd_admin_create_token)

    tokens = commands.add_parser("tokens", help="list and revoke tokens")
    tokens_commands = tokens.add_subparsers(dest="tokens_command", required=True, metavar="COMMAND")
    revoke = tokens_commands.add_parser("revoke", help="revoke a token: refused from the next request on")
    revoke.add_argument("token_id", type=int, help="the token's id")
    _add_database_option(revoke)
    revoke.set_defaults(run=cmd_tokens_revoke)
    listing = tokens_commands.add_parser("list", help="a user's tokens (never their secrets)")
    listing.add_argument("user_id", type=int, help="the user's id")
    _add_database_option(listing)
    listing.set_defaults(run=cmd_tokens_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    json_lines = getattr(args, "log_format", "text") == "json"
    text_lines = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    for handler in logging.getLogger().handlers:
        handler.setFormatter(JsonFormatter() if json_lines else TextFormatter(text_lines))
    # Migrations are routine at every start; only their problems are worth a line.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from luminary.sql import DatabaseError

    try:
        result: int = args.run(args)
    except DatabaseError as exc:
        print(f"luminary: {exc}", file=sys.stderr)
        return 2
    except core.LuminaryError as exc:
        print(f"luminary: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return result


if __name__ == "__main__":
    sys.exit(main())
