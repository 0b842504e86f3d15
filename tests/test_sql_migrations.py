"""The migrations: they run both ways, match the tables exactly, and work from the command line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, inspect

from luminary.sql import (
    DatabaseError,
    DataLossRefused,
    Migration,
    current_revision,
    downgrade,
    head_revision,
    make_engine,
    metadata,
    upgrade,
)
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
    head = head_revision()
    assert upgrade(url) == Migration(None, head)
    assert set(TABLES) <= table_names(url)
    assert drift(url) == []
    engine = make_engine(url)
    try:
        assert current_revision(engine) == head_revision() is not None
    finally:
        engine.dispose()

    # Empty, the database goes back to base without being forced.
    assert downgrade(url, "base") == Migration(head, None)
    assert table_names(url) <= {"alembic_version", "sqlite_sequence"}

    upgrade(url)
    assert drift(url) == []
    already = upgrade(url)  # already at head: nothing to do
    assert already == Migration(head, head)
    assert not already.changed


def test_alembic_runs_from_the_repository_root(tmp_path):
    # What the README promises: DATABASE_URL=sqlite:///learning_env.db alembic upgrade head
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUMINARY_", "POSTGRES_"))}
    env["DATABASE_URL"] = "sqlite:///learning_env.db"
    command = [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), "upgrade", "head"]
    subprocess.run(command, cwd=tmp_path, env=env, check=True, capture_output=True)
    url = f"sqlite:///{tmp_path / 'learning_env.db'}"
    assert set(TABLES) <= table_names(url)
    assert drift(url) == []


def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            result = connection.exec_driver_sql(sql)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def test_0002_widens_the_v1_limits_keeping_every_row_and_id(empty_database_url):
    """Names up to 1000 characters and study durations up to 2^31−1; no row lost, no id reused."""
    url = empty_database_url
    upgrade(url, "0001")
    now = "'2025-12-01 10:30:00'"
    _rows(
        url,
        "INSERT INTO constellations (name, weight, created_at) VALUES ('Triangulum', 3, " + now + ")",
    )
    for name in ("Ada", "Grace", "Temp"):
        _rows(url, f"INSERT INTO users (display_name, total_minutes, created_at) VALUES ('{name}', 0, {now})")
    _rows(url, "DELETE FROM users WHERE display_name = 'Temp'")  # id 3 was handed out, then freed
    _rows(
        url,
        "INSERT INTO posts (user_id, constellation_id, post_type, message, study_duration, created_at) "
        f"VALUES (1, 1, 'completion', 'Done', 1440, {now})",
    )
    with pytest.raises(Exception, match="study_duration"):
        _rows(
            url,
            "INSERT INTO posts (user_id, constellation_id, post_type, study_duration, created_at) "
            f"VALUES (1, 1, 'completion', 1441, {now})",
        )

    upgrade(url)
    assert drift(url) == []
    assert _rows(url, "SELECT id, display_name FROM users ORDER BY id") == [(1, "Ada"), (2, "Grace")]
    assert _rows(url, "SELECT id, study_duration, message FROM posts") == [(1, 1440, "Done")]
    long_name = "N" * 1000
    _rows(
        url, f"INSERT INTO users (display_name, total_minutes, created_at) VALUES ('{long_name}', 0, {now})"
    )
    assert _rows(url, "SELECT id FROM users WHERE length(display_name) = 1000") == [(4,)]  # not 3 again
    _rows(
        url,
        "INSERT INTO posts (user_id, constellation_id, post_type, study_duration, created_at) "
        f"VALUES (2, 1, 'completion', {2**31 - 1}, {now})",
    )
    for too_much in (
        f"INSERT INTO users (display_name, total_minutes, created_at) VALUES ('{'N' * 1001}', 0, {now})",
        "INSERT INTO posts (user_id, constellation_id, post_type, study_duration, created_at) "
        f"VALUES (2, 1, 'completion', -1, {now})",
    ):
        with pytest.raises(Exception, match=r"display_name|study_duration"):
            _rows(url, too_much)

    # Going back would have to cut what 0002 allows: refused, and nothing changes.
    before = _rows(url, "SELECT id, display_name FROM users ORDER BY id")
    with pytest.raises(DataLossRefused, match="1 users have display names over 100 characters and 1 posts"):
        downgrade(url, "0001")
    assert _rows(url, "SELECT id, display_name FROM users ORDER BY id") == before
    engine = make_engine(url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()

    _rows(url, "DELETE FROM posts WHERE study_duration > 1440")
    _rows(url, "UPDATE users SET display_name = 'Nina' WHERE id = 4")
    downgrade(url, "0001")
    assert _rows(url, "SELECT id, display_name FROM users ORDER BY id") == [
        (1, "Ada"),
        (2, "Grace"),
        (4, "Nina"),
    ]
    upgrade(url)
    assert drift(url) == []


def test_0003_downgrade_refuses_to_lose_credentials_or_tokens(empty_database_url):
    """Going below 0003 would sign everyone out for good: refused while a token or credentials exist."""
    url = empty_database_url
    upgrade(url)
    now = "'2026-11-26 09:00:00+00:00'"
    _rows(url, f"INSERT INTO users (display_name, total_minutes, created_at) VALUES ('Ada', 0, {now})")
    _rows(
        url,
        "INSERT INTO tokens (user_id, name, scopes, digest, created_at) "
        f"VALUES (1, 'iPhone', 'read study', '{'a' * 64}', {now})",
    )
    _rows(url, f"INSERT INTO login_failures (key, count, window_start) VALUES ('login:ada', 2, {now})")

    with pytest.raises(DataLossRefused, match="0 credentials and 1 tokens would be lost"):
        downgrade(url, "0002")
    assert {"credentials", "tokens", "login_failures"} <= table_names(url)
    assert _rows(url, "SELECT name, scopes FROM tokens") == [("iPhone", "read study")]
    engine = make_engine(url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()

    # With no account left (counts of failed sign-ins may go), the tables are dropped.
    _rows(url, "DELETE FROM tokens")
    downgrade(url, "0002")
    assert not {"credentials", "tokens", "login_failures"} & table_names(url)
    assert _rows(url, "SELECT id, display_name FROM users") == [(1, "Ada")]
    engine = make_engine(url)
    try:
        assert current_revision(engine) == "0002"
    finally:
        engine.dispose()
    upgrade(url)
    assert drift(url) == []


def test_0004_backfills_study_days_and_refuses_to_lose_timers_or_time_zones(empty_database_url):
    """Completed sessions get the UTC date of their completion; the downgrade keeps timers and zones."""
    url = empty_database_url
    upgrade(url, "0003")
    now = "'2025-03-30 09:00:00+00:00'"
    _rows(url, f"INSERT INTO users (display_name, total_minutes, created_at) VALUES ('Ada', 25, {now})")
    session = (
        "INSERT INTO sessions (user_id, title, status, minutes, completed_at, created_at, updated_at) VALUES "
    )
    _rows(url, session + f"(1, 'Late', 'completed', 25, '2025-03-30 23:30:00+00:00', {now}, {now})")
    _rows(url, session + f"(1, 'Plan', 'planned', NULL, NULL, {now}, {now})")
    # The same instant written with another offset; and a completed session of nobody (no zone, no day).
    _rows(url, session + f"(1, 'Paris', 'completed', 0, '2025-03-31 01:30:00+02:00', {now}, {now})")
    _rows(url, session + f"(NULL, 'Alone', 'completed', 5, '2025-03-30 12:00:00+00:00', {now}, {now})")
    _rows(url, session + f"(1, 'Temp', 'planned', NULL, NULL, {now}, {now})")
    _rows(url, "DELETE FROM sessions WHERE title = 'Temp'")  # id 5 was handed out, then freed

    upgrade(url, "0004")

    def study_days() -> list[tuple[object, ...]]:
        rows = _rows(url, "SELECT id, study_day FROM sessions ORDER BY id")
        return [(id_, None if day is None else str(day)) for id_, day in rows]

    assert study_days() == [(1, "2025-03-30"), (2, None), (3, "2025-03-30"), (4, None)]
    assert _rows(url, "SELECT time_zone, day_start_hour FROM users") == [("UTC", 0)]
    assert _rows(
        url,
        "SELECT count(*) FROM sessions WHERE running_since IS NULL AND elapsed_seconds IS NULL "
        "AND NOT auto_stopped",
    ) == [(4,)]
    _rows(url, session + f"(1, 'New', 'planned', NULL, NULL, {now}, {now})")
    assert _rows(url, "SELECT id FROM sessions WHERE title = 'New'") == [(6,)]  # not 5 again
    _rows(url, "DELETE FROM sessions WHERE title = 'New'")
    upgrade(url)
    assert drift(url) == []
    downgrade(url, "0004")

    def revision() -> str | None:
        engine = make_engine(url)
        try:
            return current_revision(engine)
        finally:
            engine.dispose()

    # A running timer, then a paused one, then a user's own zone: each refused, nothing changes.
    _rows(
        url,
        "UPDATE sessions SET status = 'in_progress', running_since = " + now + ", elapsed_seconds = 0 "
        "WHERE id = 2",
    )
    with pytest.raises(DataLossRefused, match="1 sessions have running or paused timers and 0 users"):
        downgrade(url, "0003")
    assert revision() == "0004"
    _rows(url, "UPDATE sessions SET running_since = NULL, elapsed_seconds = 30 WHERE id = 2")
    _rows(url, "UPDATE users SET time_zone = 'Europe/Paris'")
    with pytest.raises(DataLossRefused, match="1 sessions have running or paused timers and 1 users"):
        downgrade(url, "0003")
    _rows(url, "UPDATE sessions SET status = 'planned', elapsed_seconds = NULL WHERE id = 2")
    with pytest.raises(DataLossRefused, match="0 sessions have running or paused timers and 1 users"):
        downgrade(url, "0003")
    assert revision() == "0004"
    assert study_days() == [(1, "2025-03-30"), (2, None), (3, "2025-03-30"), (4, None)]

    # Without them, the downgrade drops the columns (study days are derived) and keeps every row.
    _rows(url, "UPDATE users SET time_zone = 'UTC'")
    downgrade(url, "0003")
    assert revision() == "0003"
    engine = make_engine(url)
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("sessions")}
        columns |= {c["name"] for c in inspect(engine).get_columns("users")}
    finally:
        engine.dispose()
    assert (
        not {"study_day", "running_since", "elapsed_seconds", "auto_stopped", "time_zone", "day_start_hour"}
        & columns
    )
    assert _rows(url, "SELECT id, title FROM sessions ORDER BY id") == [
        (1, "Late"),
        (2, "Plan"),
        (3, "Paris"),
        (4, "Alone"),
    ]
    _rows(url, session + f"(1, 'Newer', 'planned', NULL, NULL, {now}, {now})")
    assert _rows(url, "SELECT id FROM sessions WHERE title = 'Newer'") == [(7,)]  # neither 5 nor 6 again
    upgrade(url)
    assert study_days() == [(1, "2025-03-30"), (2, None), (3, "2025-03-30"), (4, None), (7, None)]
    assert drift(url) == []


def test_0004_gives_users_default_streak_settings_and_keeps_their_own_on_downgrade(empty_database_url):
    """Weeks from Monday, 1 minute a day, no rest day; the bounds hold; a downgrade keeps changed settings."""
    url = empty_database_url
    upgrade(url, "0003")
    now = "'2025-03-30 09:00:00+00:00'"
    for name in ("Ada", "Bob"):
        _rows(url, f"INSERT INTO users (display_name, total_minutes, created_at) VALUES ('{name}', 0, {now})")

    upgrade(url, "0004")
    settings = "SELECT id, week_start, daily_minimum, rest_days FROM users ORDER BY id"
    assert _rows(url, settings) == [(1, 0, 1, 0), (2, 0, 1, 0)]
    _rows(url, "UPDATE users SET week_start = 6, daily_minimum = 1440, rest_days = 6 WHERE id = 2")
    for out_of_range in (
        "week_start = 7",
        "week_start = -1",
        "daily_minimum = 0",
        "daily_minimum = 1441",
        "rest_days = 7",
        "rest_days = -1",
    ):
        column = out_of_range.split()[0]
        with pytest.raises(Exception, match=column):
            _rows(url, f"UPDATE users SET {out_of_range} WHERE id = 1")
    assert _rows(url, settings) == [(1, 0, 1, 0), (2, 6, 1440, 6)]

    def revision() -> str | None:
        engine = make_engine(url)
        try:
            return current_revision(engine)
        finally:
            engine.dispose()

    # Any setting of their own, alone, keeps the users from going back; nothing changes.
    _rows(url, "UPDATE users SET week_start = 0, daily_minimum = 1, rest_days = 0 WHERE id = 2")
    for own in ("week_start = 3", "daily_minimum = 30", "rest_days = 2"):
        _rows(url, f"UPDATE users SET {own}")
        with pytest.raises(DataLossRefused, match="0 sessions have running or paused timers and 2 users"):
            downgrade(url, "0003")
        assert revision() == "0004"
        _rows(url, "UPDATE users SET week_start = 0, daily_minimum = 1, rest_days = 0")
    assert _rows(url, settings) == [(1, 0, 1, 0), (2, 0, 1, 0)]

    downgrade(url, "0003")
    assert revision() == "0003"
    engine = make_engine(url)
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("users")}
    finally:
        engine.dispose()
    assert not {"week_start", "daily_minimum", "rest_days"} & columns
    assert _rows(url, "SELECT id, display_name FROM users ORDER BY id") == [(1, "Ada"), (2, "Bob")]
    upgrade(url)
    assert _rows(url, settings) == [(1, 0, 1, 0), (2, 0, 1, 0)]
    assert drift(url) == []


def test_0004_creates_goals_and_refuses_to_lose_them_on_downgrade(empty_database_url):
    """A goal is the user's own: revision 0003 has no goals, so the downgrade refuses while one exists."""
    url = empty_database_url
    upgrade(url, "0004")
    assert "goals" in table_names(url)
    now = "'2025-03-30 09:00:00+00:00'"
    _rows(url, f"INSERT INTO users (display_name, total_minutes, created_at) VALUES ('Ada', 0, {now})")
    _rows(url, f"INSERT INTO constellations (name, weight, created_at) VALUES ('Lyra', 5, {now})")
    _rows(
        url,
        "INSERT INTO goals (user_id, kind, target_minutes, constellation_id, due, created_at) VALUES "
        f"(1, 'daily_minutes', 30, NULL, NULL, {now}), "
        f"(1, 'complete_constellation', NULL, 1, '2025-04-30', {now})",
    )

    def revision() -> str | None:
        engine = make_engine(url)
        try:
            return current_revision(engine)
        finally:
            engine.dispose()

    # The message starts as before (no timers, no settings of their own), then counts the goals.
    with pytest.raises(
        DataLossRefused, match=r"0 sessions have running or paused timers and 0 users .* and 2 goals exist"
    ):
        downgrade(url, "0003")
    assert revision() == "0004"
    assert _rows(url, "SELECT id, kind FROM goals ORDER BY id") == [
        (1, "daily_minutes"),
        (2, "complete_constellation"),
    ]
    _rows(url, "DELETE FROM goals WHERE id = 1")
    with pytest.raises(DataLossRefused, match="and 1 goals exist"):
        downgrade(url, "0003")

    # Without goals, the table goes and everything else stays.
    _rows(url, "DELETE FROM goals")
    downgrade(url, "0003")
    assert revision() == "0003"
    assert "goals" not in table_names(url)
    assert _rows(url, "SELECT id, display_name FROM users") == [(1, "Ada")]
    upgrade(url)
    assert drift(url) == []


def _revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


NOW = "'2026-11-26 09:00:00+00:00'"
BASE_TABLES = {"alembic_version", "sqlite_sequence"}


def test_0001_downgrade_refuses_to_drop_tables_with_rows(empty_database_url):
    """`downgrade base` would drop every table: refused, naming them and their rows, unless forced."""
    url = empty_database_url
    upgrade(url)
    for name in ("Ada", "Bob"):
        _rows(url, f"INSERT INTO users (display_name, total_minutes, created_at) VALUES ('{name}', 0, {NOW})")
    _rows(url, f"INSERT INTO constellations (name, weight, created_at) VALUES ('Lyra', 5, {NOW})")

    with pytest.raises(DataLossRefused, match="drop every table, and with them 2 rows of users and 1 row of"):
        downgrade(url, "base")
    assert _revision(url) == head_revision()
    assert set(TABLES) <= table_names(url)
    assert _rows(url, "SELECT display_name FROM users ORDER BY id") == [("Ada",), ("Bob",)]

    # Down to 0001 loses nothing; below it, the refusal is 0001's own and says how to force it.
    downgrade(url, "0001")
    with pytest.raises(DataLossRefused) as refused:
        downgrade(url, "base")
    message = str(refused.value)
    assert isinstance(refused.value, DatabaseError)
    assert message.startswith("cannot downgrade below revision 0001: ")
    assert "1 row of constellations" in message
    assert "alembic -x force-data-loss=true downgrade base" in message
    assert "\n" not in message
    assert _revision(url) == "0001"
    assert _rows(url, "SELECT count(*) FROM constellations") == [(1,)]

    assert downgrade(url, "base", force_data_loss=True) == Migration("0001", None)
    assert table_names(url) <= BASE_TABLES
    upgrade(url)
    assert _rows(url, "SELECT count(*) FROM users") == [(0,)]


def test_a_forced_downgrade_destroys_what_each_revision_refused_for(empty_database_url, caplog):
    """Forced, 0004 drops goals and settings, 0003 tokens, 0002 cuts what 0001 cannot hold, 0001 drops all."""
    url = empty_database_url
    upgrade(url)
    _rows(
        url,
        "INSERT INTO users (display_name, total_minutes, created_at, time_zone) "
        f"VALUES ('{'N' * 150}', 0, {NOW}, 'Europe/Paris')",
    )
    _rows(url, f"INSERT INTO constellations (name, weight, created_at) VALUES ('Lyra', 5, {NOW})")
    _rows(
        url,
        "INSERT INTO posts (user_id, constellation_id, post_type, study_duration, created_at) "
        f"VALUES (1, 1, 'completion', 5000, {NOW})",
    )
    _rows(
        url,
        "INSERT INTO tokens (user_id, name, scopes, digest, created_at) "
        f"VALUES (1, 'iPhone', 'read', '{'a' * 64}', {NOW})",
    )
    _rows(
        url,
        "INSERT INTO goals (user_id, kind, target_minutes, created_at) "
        f"VALUES (1, 'daily_minutes', 30, {NOW})",
    )
    with pytest.raises(DataLossRefused, match=r"below revision 0004: .* and 1 goals exist"):
        downgrade(url, "base")
    assert _revision(url) == head_revision()

    assert downgrade(url, "0001", force_data_loss=True) == Migration(head_revision(), "0001")
    assert not {"goals", "tokens", "credentials"} & table_names(url)
    assert _rows(url, "SELECT display_name FROM users") == [("N" * 100,)]
    assert _rows(url, "SELECT study_duration FROM posts") == [(1440,)]
    forced = [r.getMessage() for r in caplog.records if "destroys what it refused for" in r.getMessage()]
    assert [re.findall(r"below revision (\d+)", m) for m in forced] == [["0004"], ["0003"], ["0002"]]

    downgrade(url, "base", force_data_loss=True)
    assert table_names(url) <= BASE_TABLES
    upgrade(url)
    assert drift(url) == []


def test_alembic_downgrade_refuses_to_lose_data_unless_forced(tmp_path):
    """From the command line: one FAILED line naming the loss, a non-zero status; -x forces it."""
    url = f"sqlite:///{tmp_path / 'learning_env.db'}"
    upgrade(url)
    _rows(url, f"INSERT INTO users (display_name, total_minutes, created_at) VALUES ('Ada', 0, {NOW})")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUMINARY_", "POSTGRES_"))}
    env["DATABASE_URL"] = url
    alembic = [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini")]

    refused = subprocess.run(
        [*alembic, "downgrade", "base"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode != 0
    assert "Traceback" not in refused.stdout + refused.stderr
    failed = [line for line in refused.stdout.splitlines() if line.startswith("FAILED:")]
    assert failed == [
        "FAILED: cannot downgrade below revision 0001: it would drop every table, and with them 1 row of "
        "users (delete them first to go back). Nothing was changed; to destroy it anyway, force the "
        "downgrade: alembic -x force-data-loss=true downgrade base "
        "(in Python: downgrade(url, 'base', force_data_loss=True))"
    ]
    assert _rows(url, "SELECT display_name FROM users") == [("Ada",)]
    assert _revision(url) == head_revision()

    forced = subprocess.run(
        [*alembic, "-x", "force-data-loss=true", "downgrade", "base"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert forced.returncode == 0, forced.stderr
    assert "destroys what it refused for: cannot downgrade below revision 0001" in forced.stderr
    assert table_names(url) <= BASE_TABLES


def test_migrations_refuse_a_database_at_a_revision_they_do_not_know(empty_database_url):
    """A newer Luminary migrated it: refused, one line, nothing run."""
    url = empty_database_url
    upgrade(url)
    _rows(url, "UPDATE alembic_version SET version_num = 'ffff_unknown'")
    pattern = (
        r"^The database .* is at revision 'ffff_unknown', which this Luminary \(luminary-sql .*\) does not"
    )
    for migrate in (lambda: upgrade(url), lambda: downgrade(url, "base", force_data_loss=True)):
        with pytest.raises(DatabaseError, match=pattern):
            migrate()
    assert _revision(url) == "ffff_unknown"
    assert set(TABLES) <= table_names(url)


def test_migrations_refuse_tables_they_did_not_make(empty_database_url):
    """Tables without alembic_version (metadata.create_all, another application) are neither adopted nor
    stamped."""
    url = empty_database_url
    engine = make_engine(url)
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()
    with pytest.raises(
        DatabaseError,
        match=r"has tables \(constellation_attempts, .* and \d more\) but no Luminary migration",
    ):
        upgrade(url)
    assert "alembic_version" not in table_names(url)
