"""Study days, timers and goals: a user's time zone, day start and streak settings, a session's study
day and timer, and a user's goals.

Every user so far counted in UTC with days starting at midnight, so the study
day of every completed session is backfilled as the UTC date of its
``completed_at`` (sessions of no user have none, as in core). Every user's
week starts on Monday (0), a study day needs 1 minute and no rest day is
allowed, until they say otherwise. The index
``(user_id, study_day)`` serves the statistics, which group by study day.

Goals refer to their user and constellation without ``ON DELETE CASCADE``:
core deletes a user's goals with the user, and refuses to delete a
constellation that goals name. A goal is the user's own: the downgrade refuses
while any exists.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 09:00:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from luminary.sql.migrate import refuse_data_loss

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
STUDY_DAY_INDEX = "ix_sessions_user_id_study_day"

# The bounds as this revision set them (not imported: a migration is a fixed record).
TIME_ZONE_MAX = 64
DAY_START_HOUR_MAX = 23
WEEK_START_MAX = 6
DAILY_MINIMUM_MAX = 1440
REST_DAYS_MAX = 6
GOAL_MINUTES_MAX = 10080
GOAL_KINDS = "'daily_minutes', 'weekly_minutes', 'complete_constellation'"
MINUTE_GOAL_KINDS = "'daily_minutes', 'weekly_minutes'"

# What a user who never changed their settings has; the downgrade keeps anything else.
USER_DEFAULTS = (
    "time_zone = 'UTC' AND day_start_hour = 0 AND week_start = 0 AND daily_minimum = 1 AND rest_days = 0"
)

# What a study day is when every user counts in UTC from midnight: the UTC date of the completion.
BACKFILL = {
    "postgresql": "(completed_at AT TIME ZONE 'UTC')::date",
    # SQLite's date() reads the stored text (with or without its +00:00 offset) as a UTC instant.
    "sqlite": "date(completed_at)",
}


def upgrade() -> None:
    sequences = _sqlite_sequences()
    # Rebuilt tables keep AUTOINCREMENT on SQLite, so ids are never handed out again.
    with op.batch_alter_table("users", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.add_column(
            sa.Column("time_zone", sa.String(TIME_ZONE_MAX), nullable=False, server_default="UTC")
        )
        batch.add_column(sa.Column("day_start_hour", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("week_start", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("daily_minimum", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("rest_days", sa.Integer(), nullable=False, server_default="0"))
        batch.create_check_constraint(
            op.f("ck_users_time_zone_length"), f"length(time_zone) BETWEEN 1 AND {TIME_ZONE_MAX}"
        )
        batch.create_check_constraint(
            op.f("ck_users_day_start_hour_range"), f"day_start_hour BETWEEN 0 AND {DAY_START_HOUR_MAX}"
        )
        batch.create_check_constraint(
            op.f("ck_users_week_start_range"), f"week_start BETWEEN 0 AND {WEEK_START_MAX}"
        )
        batch.create_check_constraint(
            op.f("ck_users_daily_minimum_range"), f"daily_minimum BETWEEN 1 AND {DAILY_MINIMUM_MAX}"
        )
        batch.create_check_constraint(
            op.f("ck_users_rest_days_range"), f"rest_days BETWEEN 0 AND {REST_DAYS_MAX}"
        )
    with op.batch_alter_table("sessions", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.add_column(sa.Column("study_day", sa.Date(), nullable=True))
        batch.add_column(sa.Column("running_since", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("elapsed_seconds", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("auto_stopped", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.create_check_constraint(
            op.f("ck_sessions_elapsed_seconds_not_negative"), "elapsed_seconds >= 0"
        )
        batch.create_check_constraint(
            op.f("ck_sessions_running_timer_counted"), "running_since IS NULL OR elapsed_seconds IS NOT NULL"
        )
        batch.create_check_constraint(
            op.f("ck_sessions_study_day_completed_only"), "study_day IS NULL OR status = 'completed'"
        )
    _restore_sqlite_sequences(sequences)
    op.create_index(STUDY_DAY_INDEX, "sessions", ["user_id", "study_day"])

    dialect = op.get_context().dialect.name
    if dialect not in BACKFILL:
        raise NotImplementedError(f"revision 0004 cannot backfill study days on {dialect}")
    op.execute(
        f"UPDATE sessions SET study_day = {BACKFILL[dialect]} "
        "WHERE status = 'completed' AND completed_at IS NOT NULL AND user_id IS NOT NULL"
    )

    op.create_table(
        "goals",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("target_minutes", sa.Integer(), nullable=True),
        sa.Column("constellation_id", ID, nullable=True),
        sa.Column("due", sa.Date(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_goals"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_goals_user_id_users"),
        sa.ForeignKeyConstraint(
            ["constellation_id"], ["constellations.id"], name="fk_goals_constellation_id_constellations"
        ),
        sa.CheckConstraint(f"kind IN ({GOAL_KINDS})", name=op.f("ck_goals_kind_known")),
        sa.CheckConstraint(
            f"target_minutes BETWEEN 1 AND {GOAL_MINUTES_MAX}", name=op.f("ck_goals_target_minutes_range")
        ),
        sa.CheckConstraint(
            "(kind = 'complete_constellation' AND constellation_id IS NOT NULL "
            "AND due IS NOT NULL AND target_minutes IS NULL) "
            f"OR (kind IN ({MINUTE_GOAL_KINDS}) AND target_minutes IS NOT NULL AND due IS NULL)",
            name=op.f("ck_goals_kind_fields"),
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_goals_user_id_id", "goals", ["user_id", "id"])
    op.create_index("ix_goals_constellation_id", "goals", ["constellation_id"])


def downgrade() -> None:
    # Study days are derived (they go), but a running or paused timer, a user's own
    # settings (time zone, day start, week start, daily minimum, rest days) and a goal
    # are not: refuse while any exists, rather than lose them, unless forced.
    bind = op.get_bind()
    timers = bind.execute(
        sa.text(
            "SELECT count(*) FROM sessions WHERE running_since IS NOT NULL "
            "OR (status = 'in_progress' AND elapsed_seconds IS NOT NULL)"
        )
    ).scalar_one()
    settings = bind.execute(sa.text(f"SELECT count(*) FROM users WHERE NOT ({USER_DEFAULTS})")).scalar_one()
    goals = bind.execute(sa.text("SELECT count(*) FROM goals")).scalar_one()
    if timers or settings or goals:
        refuse_data_loss(
            f"cannot downgrade below revision 0004: {timers} sessions have running or paused timers "
            f"and {settings} users have a time zone, day start, week start, daily minimum or rest days "
            f"of their own, and {goals} goals exist; revision 0003 cannot hold them (stop the timers, "
            "set those users back to UTC, hour 0, Monday, 1 minute and no rest day, and delete the "
            "goals first to go back)"
        )

    op.drop_index("ix_goals_constellation_id", table_name="goals")
    op.drop_index("ix_goals_user_id_id", table_name="goals")
    op.drop_table("goals")

    sequences = _sqlite_sequences()
    op.drop_index(STUDY_DAY_INDEX, table_name="sessions")
    with op.batch_alter_table("sessions", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_constraint(op.f("ck_sessions_study_day_completed_only"), type_="check")
        batch.drop_constraint(op.f("ck_sessions_running_timer_counted"), type_="check")
        batch.drop_constraint(op.f("ck_sessions_elapsed_seconds_not_negative"), type_="check")
        batch.drop_column("auto_stopped")
        batch.drop_column("elapsed_seconds")
        batch.drop_column("running_since")
        batch.drop_column("study_day")
    with op.batch_alter_table("users", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_constraint(op.f("ck_users_rest_days_range"), type_="check")
        batch.drop_constraint(op.f("ck_users_daily_minimum_range"), type_="check")
        batch.drop_constraint(op.f("ck_users_week_start_range"), type_="check")
        batch.drop_constraint(op.f("ck_users_day_start_hour_range"), type_="check")
        batch.drop_constraint(op.f("ck_users_time_zone_length"), type_="check")
        batch.drop_column("rest_days")
        batch.drop_column("daily_minimum")
        batch.drop_column("week_start")
        batch.drop_column("day_start_hour")
        batch.drop_column("time_zone")
    _restore_sqlite_sequences(sequences)


def _sqlite_sequences() -> dict[str, int]:
    """SQLite's highest id ever handed out per table (a rebuilt table would start from its rows)."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return {}
    rows = bind.execute(sa.text("SELECT name, seq FROM sqlite_sequence WHERE name IN ('users', 'sessions')"))
    return {str(name): int(seq) for name, seq in rows}


def _restore_sqlite_sequences(sequences: dict[str, int]) -> None:
    bind = op.get_bind()
    for name, seq in sequences.items():
        bind.execute(
            sa.text("UPDATE sqlite_sequence SET seq = max(seq, :seq) WHERE name = :name"),
            {"name": name, "seq": seq},
        )
