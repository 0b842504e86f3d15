"""``luminary db backup`` and ``luminary db check``: online copies and integrity checks of SQLite files.

The commands run in this process (:func:`luminary.http.cli.main`). A backup is
compared with its source by SQLite's own dump (schema and every row); the copy
made while a writer commits holds exactly the rows committed before it began.
On PostgreSQL both commands refuse in one line, naming the tool to use instead.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from functools import partial
from pathlib import Path

import pytest

pytest.importorskip("luminary.sql", reason="luminary-sql is not installed")
pytest.importorskip("luminary.http", reason="luminary-http is not installed")

from sqlalchemy.engine import make_url

from luminary import sql
from luminary.http import cli
from sql_fixtures import postgres_server_url, sqlite_database

CREATED_AT = "2025-12-01 10:30:00.000000"


def connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def add_users(connection: sqlite3.Connection, count: int, name: str = "student") -> None:
    connection.execute("BEGIN")
    connection.executemany(
        "INSERT INTO users (display_name, created_at) VALUES (?, ?)",
        [(f"{name} {i:05d} " + "·" * 40, CREATED_AT) for i in range(count)],
    )
    connection.execute("COMMIT")


def dump(path: Path) -> list[str]:
    """The schema and every row, as SQL."""
    connection = connect(path)
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


def user_ids(path: Path) -> list[int]:
    connection = connect(path)
    try:
        return [row[0] for row in connection.execute("SELECT id FROM users ORDER BY id")]
    finally:
        connection.close()


def leftovers(directory: Path) -> list[str]:
    """Temporary files of a backup left in ``directory``."""
    return sorted(p.name for p in directory.iterdir() if ".partial" in p.name)


@pytest.fixture
def database(request) -> Path:
    """A migrated SQLite file, in WAL mode as Luminary opens it, with a few hundred pages of rows."""
    path = sqlite_database(request)
    connection = connect(path)
    try:
        add_users(connection, 2000)
        connection.execute("BEGIN")
        connection.execute(
            f"INSERT INTO constellations (name, weight, created_at) VALUES ('Lyra', 5, '{CREATED_AT}')"
        )
        connection.execute(
            "INSERT INTO posts (user_id, constellation_id, post_type, message, created_at) "
            f"VALUES (1, 1, 'progress', 'First star!', '{CREATED_AT}')"
        )
        connection.execute("COMMIT")
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        connection.close()
    return path


def url(path: Path) -> str:
    return f"sqlite:///{path}"


def backup(database: Path, target: Path, *options: str) -> int:
    return cli.main(["db", "backup", str(target), "--database-url", url(database), *options])


def check(path: Path) -> int:
    return cli.main(["db", "check", "--database-url", url(path)])


def test_a_backup_holds_every_row_even_those_only_in_the_write_ahead_log(database, tmp_path, capsys):
    # A connection that stays open and never checkpoints: its commits are in the WAL only.
    writer = connect(database)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    add_users(writer, 50, name="late")
    assert database.with_name(database.name + "-wal").stat().st_size > 0
    target = tmp_path / "backups" / "luminary.db"
    target.parent.mkdir()
    try:
        assert backup(database, target) == 0
        expected = dump(database)
    finally:
        writer.close()

    out, err = capsys.readouterr()
    size = target.stat().st_size
    assert out == f"Copied {database} to {target}: {size:,} bytes ({size // 4096} pages of 4,096 bytes).\n"
    assert err == ""
    assert dump(target) == expected
    assert len(user_ids(target)) == 2050
    assert target.stat().st_mode & 0o777 == 0o600  # it holds password and token hashes
    assert leftovers(target.parent) == []


def test_the_database_is_chosen_as_by_the_other_commands(database, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LUMINARY_DATABASE_URL", url(database))
    assert cli.main(["db", "backup", "copy.db"]) == 0
    assert capsys.readouterr().out.startswith(f"Copied {database} to {tmp_path / 'copy.db'}: ")
    assert dump(tmp_path / "copy.db") == dump(database)


def test_a_backup_while_a_writer_commits_is_the_database_as_it_began(database, tmp_path, monkeypatch, capsys):
    engine = sql.make_engine(url(database))  # a writer as the server's: WAL, BEGIN IMMEDIATE
    committed = list(user_ids(database))
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            with engine.begin() as connection:
                new_id = connection.exec_driver_sql(
                    "INSERT INTO users (display_name, created_at) VALUES ('writer', ?) RETURNING id",
                    (CREATED_AT,),
                ).scalar_one()
            committed.append(new_id)

    steps: list[int] = []

    def progress(remaining: int, total: int) -> None:
        # After the first step, let the writer commit a few rows before going on.
        if not steps:
            during = len(committed)
            deadline = time.monotonic() + 10
            while len(committed) < during + 5 and time.monotonic() < deadline:
                time.sleep(0.002)
        steps.append(remaining)

    monkeypatch.setattr(
        sql, "backup_database", partial(sql.backup_database, pages_per_step=8, progress=progress)
    )
    writer = threading.Thread(target=write)
    writer.start()
    try:
        time.sleep(0.02)
        before = list(committed)
        status = backup(database, tmp_path / "copy.db")
    finally:
        stop.set()
        writer.join()
        engine.dispose()
    assert status == 0, capsys.readouterr().err

    # In steps, and never restarted (the pages remaining never went up): one snapshot throughout.
    assert len(steps) > 10
    assert steps[-1] == 0
    assert steps == sorted(steps, reverse=True)
    copied = user_ids(tmp_path / "copy.db")
    assert copied == list(range(1, len(copied) + 1))  # every row up to the snapshot, none missing
    assert set(before) <= set(copied)  # everything committed before the backup began
    assert len(committed) >= len(copied) + 5  # and not what was committed while it ran
    capsys.readouterr()
    assert check(tmp_path / "copy.db") == 0
    assert capsys.readouterr().out.startswith("ok: ")


def test_an_existing_file_is_not_replaced(database, tmp_path, capsys):
    target = tmp_path / "copy.db"
    target.write_bytes(b"last week's backup")
    assert backup(database, target) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"luminary: {target} already exists: nothing was copied; --force replaces it.\n"
    assert target.read_bytes() == b"last week's backup"
    assert leftovers(tmp_path) == []


def test_force_replaces_an_existing_file(database, tmp_path, capsys):
    target = tmp_path / "copy.db"
    target.write_bytes(b"last week's backup")
    assert backup(database, target, "--force") == 0
    assert capsys.readouterr().out.startswith(f"Copied {database} to {target}: ")
    assert dump(target) == dump(database)


def test_the_database_itself_is_never_the_destination(database, capsys):
    before = dump(database)
    assert backup(database, database, "--force") == 2
    assert (
        capsys.readouterr().err
        == f"luminary: {database} is the database itself: back it up to another file\n"
    )
    assert dump(database) == before


def test_a_missing_database_is_an_error_and_is_not_created(tmp_path, capsys):
    missing = tmp_path / "missing.db"
    assert backup(missing, tmp_path / "copy.db") == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"luminary: The database file {missing} does not exist: nothing to back up\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == []

    assert check(missing) == 2
    assert (
        capsys.readouterr().err == f"luminary: The database file {missing} does not exist: nothing to check\n"
    )
    assert not missing.exists()


def test_an_interrupted_backup_leaves_no_file_behind(database, tmp_path, monkeypatch, capsys):
    def interrupt(remaining: int, total: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(
        sql, "backup_database", partial(sql.backup_database, pages_per_step=8, progress=interrupt)
    )
    target = tmp_path / "copy.db"
    target.write_bytes(b"last week's backup")
    assert backup(database, target, "--force") == 130
    assert capsys.readouterr().err == f"luminary: interrupted; nothing was written to {target}.\n"
    assert target.read_bytes() == b"last week's backup"
    assert leftovers(tmp_path) == []


def test_check_says_ok_in_one_line(database, capsys):
    assert check(database) == 0
    out, err = capsys.readouterr()
    pages = database.stat().st_size // 4096
    assert (
        out == f"ok: {database}: integrity_check and foreign_key_check found no problem in {pages} pages.\n"
    )
    assert err == ""


def corrupt(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as file:
        file.seek(offset)
        file.write(data)


def test_check_lists_the_damage_of_a_corrupted_copy(database, tmp_path, capsys):
    copy = tmp_path / "copy.db"
    assert backup(database, copy) == 0
    pages = copy.stat().st_size // 4096
    for page in range(10, pages, 7):  # the cell pointers of a few pages of the users table
        corrupt(copy, page * 4096 + 8, b"\xa5" * 64)
    capsys.readouterr()

    assert check(copy) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == f"{copy}: integrity_check and foreign_key_check found problems:"
    assert any(line.startswith("  integrity_check: On tree page ") for line in lines[1:]), out
    assert all(line.startswith(("  integrity_check: ", "  foreign_key_check: ")) for line in lines[1:])
    assert err == ""


def test_check_lists_a_file_that_is_not_a_database(database, tmp_path, capsys):
    copy = tmp_path / "copy.db"
    assert backup(database, copy) == 0
    corrupt(copy, 0, b"not SQLite at all")
    capsys.readouterr()
    assert check(copy) == 1
    assert capsys.readouterr().out.splitlines()[1:] == [
        "  integrity_check: could not finish: file is not a database"
    ]


def test_check_lists_rows_whose_parent_is_missing(database, capsys):
    connection = connect(database)
    try:
        connection.execute("PRAGMA foreign_keys = OFF")  # as a tool that never turned them on
        connection.execute(
            "INSERT INTO posts (user_id, constellation_id, post_type, created_at) "
            f"VALUES (9999, 1, 'completion', '{CREATED_AT}')"
        )
    finally:
        connection.close()
    assert check(database) == 1
    assert capsys.readouterr().out.splitlines()[1:] == [
        "  foreign_key_check: posts row 2 refers to a users row that does not exist"
    ]


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("command", "tool"),
    [(("db", "backup", "{file}"), "pg_dump --format=custom"), (("db", "check"), "pg_amcheck")],
    ids=["backup", "check"],
)
def test_postgresql_is_told_what_to_use_instead(command, tool, tmp_path, capsys):
    server = make_url(postgres_server_url()).set(password="hunter2")
    target = tmp_path / "copy.dump"
    argv = [part.format(file=target) for part in command]
    status = cli.main([*argv, "--database-url", server.render_as_string(hide_password=False)])
    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    assert len(err.splitlines()) == 1, err
    assert err.startswith("luminary: PostgreSQL databases are ")
    assert tool in err
    assert f" {server.database}" in err
    assert "hunter2" not in err
    assert "Traceback" not in err
    assert not target.exists()
