"""The ``luminary`` command: serve the API and look after its database."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from luminary import core

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
    from .app import create_app
    from .server import serve

    _, engine = _database(args.database_url)
    uow_factory = _uow_factory(engine)
    clock = core.SystemClock()
    if not args.no_seed:
        seeded = core.seed_constellations(uow_factory(), clock=clock)
        if seeded:
            print(f"Seeded {len(seeded)} constellations.", flush=True)
    app = create_app(uow_factory, clock=clock)
    try:
        serve(app, host=args.host, port=args.port, threads=args.threads)
    finally:
        engine.dispose()
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    _, engine = _database(args.database_url)
    engine.dispose()
    print("Database is up to date.")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    _, engine = _database(args.database_url)
    try:
        seeded = core.seed_constellations(_uow_factory(engine)(), clock=core.SystemClock())
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
        report = core.sync_minutes(_uow_factory(engine)())
    finally:
        engine.dispose()
    for user_id, (stored, recomputed) in sorted(report.corrections.items()):
        print(f"user {user_id}: {stored} -> {recomputed} minutes")
    print(f"{report.users_updated} users updated.")
    return 0


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
        type=int,
        default=DEFAULT_PORT,
        help=f"port to listen on, 0 for any free one (default: {DEFAULT_PORT})",
    )
    serve.add_argument(
        "--threads", type=int, default=DEFAULT_THREADS, help=f"worker threads (default: {DEFAULT_THREADS})"
    )
    serve.add_argument("--no-seed", action="store_true", help="do not seed the default constellations")
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
    except KeyboardInterrupt:
        return 0
    return result


if __name__ == "__main__":
    sys.exit(main())
