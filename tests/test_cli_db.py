"""The ``luminary`` commands that migrate, on databases they must not migrate, and what ``db upgrade`` says.

Every command that touches the database first runs the migrations. A database
at a revision this Luminary does not know (a newer one migrated it), or with
tables but no migration recorded (``metadata.create_all``, another
application), is refused: one line on standard error saying what is wrong and
what to do, exit status 2, no traceback. The real command runs in a process of
its own, as an operator runs it; the commands that differ only in what they do
afterwards run in this process (:func:`luminary.http.cli.main`), which is faster.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

pytest.importorskip("luminary.sql", reason="luminary-sql is not installed")
pytest.importorskip("luminary.http", reason="luminary-http is not installed")

from luminary import sql
from luminary.http import cli
from served import run_luminary
from sql_fixtures import sqlite_database

UNKNOWN = "ffff_unknown"


def execute(url: str, *statements: str) -> None:
    engine = sql.make_engine(url)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def revision(url: str) -> str | None:
    engine = sql.make_engine(url)
    try:
        return sql.current_revision(engine)
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    from sqlalchemy import inspect

    engine = sql.make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture
def newer_database(request: pytest.FixtureRequest) -> str:
    """A SQLite file a newer Luminary migrated, to a revision this one does not know."""
    url = f"sqlite:///{sqlite_database(request)}"
    execute(url, f"UPDATE alembic_version SET version_num = '{UNKNOWN}'")
    return url


@pytest.fixture
def foreign_database(tmp_path: Path) -> str:
    """A SQLite file with another application's table and no alembic_version."""
    url = f"sqlite:///{tmp_path / 'foreign.db'}"
    execute(
        url, "CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER)", "INSERT INTO orders VALUES (1, 5)"
    )
    return url


NEWER = (f"is at revision '{UNKNOWN}', which this Luminary", "a newer Luminary migrated it; use that version")
FOREIGN = ("has tables (orders) but no Luminary migration recorded", "use an empty database")


def assert_one_line_refusal(status: int, stderr: str, fragments: tuple[str, ...]) -> None:
    assert status == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("luminary: The database sqlite:///")
    for fragment in fragments:
        assert fragment in lines[0]


SERVE = ("serve", "--port", "0", "--no-seed")


@pytest.mark.parametrize("command", [("db", "upgrade"), SERVE], ids=["db upgrade", "serve"])
def test_a_database_a_newer_luminary_migrated_is_refused_in_one_line(command, newer_database, tmp_path):
    result = run_luminary(*command, "--database-url", newer_database, cwd=tmp_path)
    assert_one_line_refusal(result.returncode, result.stderr, NEWER)
    assert result.stdout == ""
    assert revision(newer_database) == UNKNOWN


@pytest.mark.parametrize("command", [("db", "upgrade"), SERVE], ids=["db upgrade", "serve"])
def test_tables_made_some_other_way_are_refused_in_one_line(command, foreign_database, tmp_path):
    result = run_luminary(*command, "--database-url", foreign_database, cwd=tmp_path)
    assert_one_line_refusal(result.returncode, result.stderr, FOREIGN)
    assert result.stdout == ""
    assert table_names(foreign_database) == {"orders"}  # neither adopted nor stamped


OTHER_COMMANDS = [
    ("seed",),
    ("sync-minutes",),
    ("admin", "create-user", "--login", "root", "--password-stdin"),
    ("admin", "claim-user", "1", "--login", "root", "--password-stdin"),
    ("admin", "create-token", "--login", "root", "--name", "cli", "--scope", "read"),
    ("tokens", "revoke", "1"),
    ("tokens", "list", "1"),
]


@pytest.mark.parametrize("command", OTHER_COMMANDS, ids=" ".join)
def test_every_command_that_migrates_refuses_in_one_line(
    command, newer_database, foreign_database, monkeypatch, capsys
):
    for url, fragments in ((newer_database, NEWER), (foreign_database, FOREIGN)):
        monkeypatch.setattr(sys, "stdin", io.StringIO("correct horse battery\n"))
        capsys.readouterr()
        status = cli.main([*command, "--database-url", url])
        out, err = capsys.readouterr()
        assert_one_line_refusal(status, err, fragments)
        assert out == ""


def test_db_upgrade_says_what_it_did(tmp_path):
    url = f"sqlite:///{tmp_path / 'luminary.db'}"
    head = sql.head_revision()

    first = run_luminary("db", "upgrade", "--database-url", url, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    # Never "up to date" right after migrating a new file.
    assert first.stdout == (
        f"Upgraded {url} (--database-url) from no revision (an empty database) to revision {head}.\n"
    )
    assert "Traceback" not in first.stderr

    again = run_luminary("db", "upgrade", "--database-url", url, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"{url} (--database-url) is at revision {head}, up to date.\n"


def test_db_upgrade_names_the_revisions_it_went_between(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'luminary.db'}"
    sql.upgrade(url, "0002")
    capsys.readouterr()
    assert cli.main(["db", "upgrade", "--database-url", url]) == 0
    assert capsys.readouterr().out == (
        f"Upgraded {url} (--database-url) from revision 0002 to revision {sql.head_revision()}.\n"
    )
    assert revision(url) == sql.head_revision()
