"""The migrations: they run both ways, match the tables exactly, and work from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, inspect

from luminary.sql import current_revision, downgrade, head_revision, make_engine, metadata, upgrade
from sql_fixtures import SQL_BACKENDS, TABLES, TemporaryPostgresDatabase, postgres_server_url

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=SQL_BACKENDS)
def empty_database_url(request, tmp_path):
    """The URL of an empty database, never migrated."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
    else:
        with TemporaryPostgresDatabase(postgres_server_url(), migrate=False) as database:
            database.engine.dispose()
            yield database.url


def drift(url: str) -> list[object]:
    """What differs between the tables and the database, CHECK constraints included."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            differences: list[object] = list(
                compare_metadata(MigrationContext.configure(connection), metadata)
            )
            # Alembic does not compare CHECK constraints; their names must match at least.
            inspector = inspect(connection)
            for table in metadata.sorted_tables:
                reflected = {c["name"] for c in inspector.get_check_constraints(table.name)}
                declared = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
                if reflected != declared:
                    differences.append(("check constraints", table.name, reflected ^ declared))
            return differences
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_without_drift(empty_database_url):
    url = empty_database_url
    upgrade(url)
    assert set(TABLES) <= table_names(url)
    assert drift(url) == []
    engine = make_engine(url)
    try:
        assert current_revision(engine) == head_revision() is not None
    finally:
        engine.dispose()

    downgrade(url, "base")
    assert table_names(url) <= {"alembic_version", "sqlite_sequence"}

    upgrade(url)
    assert drift(url) == []
    upgrade(url)  # already at head: nothing to do


def test_alembic_runs_from_the_repository_root(tmp_path):
    # What the README promises: DATABASE_URL=sqlite:///learning_env.db alembic upgrade head
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUMINARY_", "POSTGRES_"))}
    env["DATABASE_URL"] = "sqlite:///learning_env.db"
    command = [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), "upgrade", "head"]
    subprocess.run(command, cwd=tmp_path, env=env, check=True, capture_output=True)
    url = f"sqlite:///{tmp_path / 'learning_env.db'}"
    assert set(TABLES) <= table_names(url)
    assert drift(url) == []
