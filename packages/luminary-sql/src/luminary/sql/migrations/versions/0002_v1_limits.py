"""Limits the iOS app needs: display names up to 1000 characters, study durations up to 2^31−1.

A post's ``study_duration`` sums an attempt's sessions, so a day's 1440 minutes
was too small; the app's sign-up field has no length limit, so 100 characters
refused names a student could type.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 09:00:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from luminary.sql.migrate import refuse_data_loss

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

# The bounds as this revision set them (not imported: a migration is a fixed record).
DISPLAY_NAME_MAX = 1000
STUDY_DURATION_MAX = 2**31 - 1
OLD_DISPLAY_NAME_MAX = 100
OLD_STUDY_DURATION_MAX = 1440


def _set_limits(display_name_max: int, study_duration_max: int, old_display_name_max: int) -> None:
    sequences = _sqlite_sequences()
    # Rebuilt tables keep AUTOINCREMENT on SQLite, so ids are never handed out again.
    with op.batch_alter_table("users", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_constraint(op.f("ck_users_display_name_length"), type_="check")
        batch.alter_column(
            "display_name",
            existing_type=sa.String(old_display_name_max),
            type_=sa.String(display_name_max),
            existing_nullable=False,
        )
        batch.create_check_constraint(
            op.f("ck_users_display_name_length"), f"length(display_name) BETWEEN 1 AND {display_name_max}"
        )
    with op.batch_alter_table("posts", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_constraint(op.f("ck_posts_study_duration_range"), type_="check")
        batch.create_check_constraint(
            op.f("ck_posts_study_duration_range"), f"study_duration BETWEEN 0 AND {study_duration_max}"
        )
    _restore_sqlite_sequences(sequences)


def _sqlite_sequences() -> dict[str, int]:
    """SQLite's highest id ever handed out per table (a rebuilt table would start from its rows)."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return {}
    rows = bind.execute(sa.text("SELECT name, seq FROM sqlite_sequence WHERE name IN ('users', 'posts')"))
    return {str(name): int(seq) for name, seq in rows}


def _restore_sqlite_sequences(sequences: dict[str, int]) -> None:
    bind = op.get_bind()
    for name, seq in sequences.items():
        bind.execute(
            sa.text("UPDATE sqlite_sequence SET seq = max(seq, :seq) WHERE name = :name"),
            {"name": name, "seq": seq},
        )


def upgrade() -> None:
    _set_limits(DISPLAY_NAME_MAX, STUDY_DURATION_MAX, OLD_DISPLAY_NAME_MAX)


def downgrade() -> None:
    # Narrowing the limits back would have to cut names or durations: refuse instead, unless forced.
    bind = op.get_bind()
    long_names = bind.execute(
        sa.text("SELECT count(*) FROM users WHERE length(display_name) > :n"), {"n": OLD_DISPLAY_NAME_MAX}
    ).scalar_one()
    long_durations = bind.execute(
        sa.text("SELECT count(*) FROM posts WHERE study_duration > :n"), {"n": OLD_STUDY_DURATION_MAX}
    ).scalar_one()
    if long_names or long_durations:
        refuse_data_loss(
            f"cannot downgrade below revision 0002: {long_names} users have display names over "
            f"{OLD_DISPLAY_NAME_MAX} characters and {long_durations} posts have study durations over "
            f"{OLD_STUDY_DURATION_MAX} minutes; revision 0001 cannot hold them "
            "(shorten them first to go back)"
        )
        # Forced: cut them to what revision 0001 holds.
        bind.execute(
            sa.text(
                "UPDATE users SET display_name = substr(display_name, 1, :n) WHERE length(display_name) > :n"
            ),
            {"n": OLD_DISPLAY_NAME_MAX},
        )
        bind.execute(
            sa.text("UPDATE posts SET study_duration = :n WHERE study_duration > :n"),
            {"n": OLD_STUDY_DURATION_MAX},
        )
    _set_limits(OLD_DISPLAY_NAME_MAX, OLD_STUDY_DURATION_MAX, DISPLAY_NAME_MAX)
