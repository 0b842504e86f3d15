"""The ``luminary`` command: serve the API and look after its database."""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import logging
import math
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import Any

from luminary import core

from .auth import V1Mode
from .server import Limits
from .settings import setting

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
# waitress's own default; more threads only contend for the interpreter lock
# on CPU-bound requests (measured with nox -s bench), fewer leave I/O waits idle.
DEFAULT_THREADS = 4


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
    from .settings import resolve_database_url

    url = resolve_database_url(args.database_url)
    workers = args.workers if args.workers is not None else default_workers(url)
    if workers == 1:
        return _serve_in_this_process(args)
    return _serve_in_workers(args, url, workers)


def default_workers(url: str) -> int:
    """PostgreSQL: one worker per CPU. SQLite: one, since its writers take turns whatever the processes."""
    from sqlalchemy.engine import make_url

    from luminary.sql.config import normalize_url

    from .workers import default_count

    return default_count() if make_url(normalize_url(url)).get_backend_name() == "postgresql" else 1


def _seeder(args: argparse.Namespace, engine: Any, clock: core.Clock) -> Callable[[], None]:
    def seed() -> None:
        if not args.no_seed:
            seeded = core.seed_constellations(_uow_factory(engine)(), actor=core.SYSTEM, clock=clock)
            if seeded:
                print(f"Seeded {len(seeded)} constellations.", flush=True)

    return seed


def _announce_v1(args: argparse.Namespace) -> V1Mode:
    v1_mode = V1Mode(args.v1)
    if v1_mode is V1Mode.OPEN and not _is_loopback(args.host):
        print(
            "WARNING: API v1 is served open on a non-loopback address: anyone who can reach "
            f"{args.host}:{args.port} can read, change and delete every student's data through /api. "
            "Serve with --v1 token (or --v1 off) unless the published iOS app needs it open.",
            file=sys.stderr,
            flush=True,
        )
    meaning = {
        V1Mode.OPEN: "no token needed",
        V1Mode.TOKEN: "a bearer token needed",
        V1Mode.OFF: "not served",
    }
    print(f"API v1 is {v1_mode.value}: {meaning[v1_mode]}; API v2 needs a bearer token.", flush=True)
    return v1_mode


def _app(args: argparse.Namespace, engine: Any, clock: core.Clock, v1_mode: V1Mode) -> Any:
    """The app over ``engine``; a database dropped and created again gets what a restart would give it."""
    from luminary import sql

    from .app import create_app

    sql.migrate_when_missing(engine, then=_seeder(args, engine, clock))
    return create_app(
        _uow_factory(engine),
        clock=clock,
        v1_mode=v1_mode,
        timer_cap=timedelta(hours=args.timer_cap_hours),
        readiness=partial(sql.check_ready, engine),
    )


def _limits(args: argparse.Namespace) -> Limits:
    return Limits(
        request_timeout=args.request_timeout,
        max_connections_per_address=args.max_connections_per_address,
        connection_limit=args.connection_limit,
        shutdown_grace=args.shutdown_grace,
    )


def _serve_in_this_process(args: argparse.Namespace) -> int:
    from .server import ServeError, serve

    _, engine = _database(args.database_url)
    clock = core.SystemClock()
    _seeder(args, engine, clock)()
    app = _app(args, engine, clock, _announce_v1(args))
    try:
        serve(app, host=args.host, port=args.port, threads=args.threads, limits=_limits(args))
    except ServeError as exc:
        print(f"luminary: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        engine.dispose()
    return 0


def _serve_in_workers(args: argparse.Namespace, url: str, count: int) -> int:
    """Migrate and seed here, bind here, then serve in ``count`` forked workers (see :mod:`.workers`)."""
    from luminary import sql

    from .server import ServeError, Service, listen
    from .workers import Supervisor

    # Whose line it is, among the workers.
    tagged = logging.Formatter("%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setFormatter(tagged)
    _, engine = _database(url)
    try:
        _seeder(args, engine, core.SystemClock())()
    finally:
        engine.dispose()  # no engine and no connection may cross the fork
    del engine
    v1_mode = _announce_v1(args)
    limits = _limits(args)
    try:
        sockets = listen(args.host, args.port)
    except ServeError as exc:
        print(f"luminary: {exc}", file=sys.stderr, flush=True)
        return 1
    port = sockets[0].getsockname()[1]

    def work() -> int:
        engine = sql.make_engine(url)
        try:
            app = _app(args, engine, core.SystemClock(), v1_mode)
            service = Service(
                app, host=args.host, port=port, threads=args.threads, limits=limits, sockets=sockets
            )
            with service.signals_handled():
                service.run()
        finally:
            engine.dispose()
        return 0

    def started() -> None:
        print(
            f"Serving Luminary on http://{args.host}:{port} with {count} workers of {args.threads} threads",
            flush=True,
        )

    supervisor = Supervisor(work, count, sockets=sockets, shutdown_grace=limits.shutdown_grace)
    return supervisor.run(started)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from luminary import sql

    from .settings import resolve_database_url

    migration = sql.upgrade(resolve_database_url(args.database_url))
    if not migration.changed:
        print(f"The database is already at the latest revision, {migration.to_revision}.")
    elif migration.from_revision is None:
        print(f"Upgraded an empty database to revision {migration.to_revision}.")
    else:
        print(f"Upgraded the database from revision {migration.from_revision} to {migration.to_revision}.")
    return 0


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


def _v1_mode(value: str) -> V1Mode:
    # argparse converts a string default too, so a bad LUMINARY_V1_MODE is refused here before anything runs.
    try:
        return V1Mode(value)
    except ValueError:
        choices = ", ".join(m.value for m in V1Mode)
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a v1 mode (from --v1 or LUMINARY_V1_MODE): choose {choices}"
        ) from None


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
    parser = argparse.ArgumentParser(prog="luminary", description="Luminary, the study-tracking backend.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="apply migrations, seed, and serve the API with waitress")
    serve.add_argument(
        "--host", default=DEFAULT_HOST, help=f"interface to listen on (default: {DEFAULT_HOST})"
    )
    serve.add_argument(
        "--port",
        type=_whole_number("--port", 0, 65535),
        default=DEFAULT_PORT,
        help=f"port to listen on, 0 for any free one (default: {DEFAULT_PORT})",
    )
    serve.add_argument(
        "--threads",
        type=_whole_number("--threads", 1),
        default=DEFAULT_THREADS,
        help=f"worker threads (default: {DEFAULT_THREADS})",
    )
    serve.add_argument(
        "--workers",
        type=_whole_number("--workers", 1, variable="LUMINARY_WORKERS"),
        default=setting("LUMINARY_WORKERS"),
        metavar="N",
        help="processes serving the port, each with its own threads, supervised: one that dies is "
        "replaced (default: $LUMINARY_WORKERS, else one per CPU on PostgreSQL and 1 on SQLite)",
    )
    serve.add_argument("--no-seed", action="store_true", help="do not seed the default constellations")
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
    _add_database_option(serve)
    serve.set_defaults(run=cmd_serve)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    upgrade = db_commands.add_parser("upgrade", help="apply every pending migration")
    _add_database_option(upgrade)
    upgrade.set_defaults(run=cmd_db_upgrade)

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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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
