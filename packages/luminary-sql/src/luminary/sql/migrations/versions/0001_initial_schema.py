"""The initial schema: users, constellations, attempts, sessions, posts.

Its downgrade drops every table: it refuses while any of them has rows, naming
them and their row counts, unless forced (see :func:`luminary.sql.migrate.refuse_data_loss`).

Revision ID: 0001
Revises:
Create Date: 2025-12-01 10:30:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from luminary.sql.migrate import refuse_data_loss

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
CURRENT_ATTEMPT_FK = "fk_users_current_attempt_id_constellation_attempts"
# Every table of this revision: what its downgrade would take rows from.
TABLES = ("users", "constellations", "constellation_attempts", "sessions", "posts")


def upgrade() -> None:
    # Names are final (op.f): the target metadata's naming convention would
    # otherwise prefix the CHECK constraint names a second time.
    # users and constellation_attempts refer to each other. Where ALTER works
    # (PostgreSQL) the users → attempts key is added once both tables exist;
    # SQLite accepts the forward reference inline (and cannot ALTER one in).
    alter_later = op.get_context().dialect.supports_alter
    current_attempt_fk = sa.ForeignKeyConstraint(
        ["current_attempt_id"],
        ["constellation_attempts.id"],
        name=CURRENT_ATTEMPT_FK,
        ondelete="SET NULL",
    )
    op.create_table(
        "users",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("current_attempt_id", ID, nullable=True),
        sa.Column("total_minutes", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.CheckConstraint(
            "length(display_name) BETWEEN 1 AND 100", name=op.f("ck_users_display_name_length")
        ),
        sa.CheckConstraint("total_minutes >= 0", name=op.f("ck_users_total_minutes_not_negative")),
        *([] if alter_later else [current_attempt_fk]),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_users_current_attempt_id", "users", ["current_attempt_id"])

    op.create_table(
        "constellations",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_constellations"),
        sa.CheckConstraint("length(name) BETWEEN 1 AND 100", name=op.f("ck_constellations_name_length")),
        sa.CheckConstraint("weight BETWEEN 1 AND 1000", name=op.f("ck_constellations_weight_range")),
        sqlite_autoincrement=True,
    )

    op.create_table(
        "constellation_attempts",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("constellation_id", ID, nullable=False),
        sa.Column("stars_completed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("completed_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_constellation_attempts"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_constellation_attempts_user_id_users"),
        sa.ForeignKeyConstraint(
            ["constellation_id"],
            ["constellations.id"],
            name="fk_constellation_attempts_constellation_id_constellations",
        ),
        sa.CheckConstraint(
            "stars_completed BETWEEN 0 AND 1000", name=op.f("ck_constellation_attempts_stars_completed_range")
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_constellation_attempts_user_id_id", "constellation_attempts", ["user_id", "id"])
    op.create_index(
        "ix_constellation_attempts_constellation_id_id", "constellation_attempts", ["constellation_id", "id"]
    )
    if alter_later:
        op.create_foreign_key(
            CURRENT_ATTEMPT_FK,
            "users",
            "constellation_attempts",
            ["current_attempt_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.create_table(
        "sessions",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("constellation_attempt_id", ID, nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("difficulty", sa.String(50), nullable=True),
        sa.Column("minutes", sa.Integer(), nullable=True),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("completed_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_sessions_user_id_users"),
        sa.ForeignKeyConstraint(
            ["constellation_attempt_id"],
            ["constellation_attempts.id"],
            name="fk_sessions_constellation_attempt_id_constellation_attempts",
        ),
        sa.CheckConstraint("length(title) BETWEEN 1 AND 200", name=op.f("ck_sessions_title_length")),
        sa.CheckConstraint(
            "status IN ('planned', 'in_progress', 'completed', 'cancelled')",
            name=op.f("ck_sessions_status_known"),
        ),
        sa.CheckConstraint("minutes BETWEEN 0 AND 1440", name=op.f("ck_sessions_minutes_range")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_sessions_user_id_created_at_id", "sessions", ["user_id", "created_at", "id"])
    op.create_index(
        "ix_sessions_constellation_attempt_id_created_at_id",
        "sessions",
        ["constellation_attempt_id", "created_at", "id"],
    )
    op.create_index("ix_sessions_created_at_id", "sessions", ["created_at", "id"])

    op.create_table(
        "posts",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("constellation_id", ID, nullable=False),
        sa.Column("post_type", sa.String(20), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("study_duration", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_posts"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_posts_user_id_users"),
        sa.ForeignKeyConstraint(
            ["constellation_id"], ["constellations.id"], name="fk_posts_constellation_id_constellations"
        ),
        sa.CheckConstraint("post_type IN ('completion', 'progress')", name=op.f("ck_posts_post_type_known")),
        sa.CheckConstraint("study_duration BETWEEN 0 AND 1440", name=op.f("ck_posts_study_duration_range")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_posts_user_id_created_at_id", "posts", ["user_id", "created_at", "id"])
    op.create_index(
        "ix_posts_constellation_id_created_at_id", "posts", ["constellation_id", "created_at", "id"]
    )
    op.create_index("ix_posts_created_at_id", "posts", ["created_at", "id"])


def downgrade() -> None:
    # Below this revision there are no tables: every row would go with them.
    bind = op.get_bind()
    rows = {table: bind.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() for table in TABLES}
    counted = [
        f"{count} {'row' if count == 1 else 'rows'} of {table}" for table, count in rows.items() if count
    ]
    if counted:
        lost = ", ".join(counted[:-1]) + " and " + counted[-1] if len(counted) > 1 else counted[0]
        refuse_data_loss(
            f"cannot downgrade below revision 0001: it would drop every table, and with them {lost} "
            "(delete them first to go back)"
        )
    op.drop_table("posts")
    op.drop_table("sessions")
    if op.get_context().dialect.supports_alter:
        op.drop_constraint(CURRENT_ATTEMPT_FK, "users", type_="foreignkey")
    op.drop_table("constellation_attempts")
    op.drop_table("constellations")
    op.drop_table("users")
