"""Rate limits: the requests counted in each client's current window, shared by every server.

A row counts the requests of one client of one route class (``key``) in one
fixed window, named by the instant it ends (``window_end``, seconds since the
epoch). Rows are short-lived: a server deletes the ended ones now and then, and
the downgrade drops them (they hold nothing a student would miss).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 10:00:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

# The bound as this revision set it (not imported: a migration is a fixed record).
KEY_MAX = 300


def upgrade() -> None:
    op.create_table(
        "rate_limit_windows",
        sa.Column("key", sa.String(KEY_MAX), nullable=False),
        sa.Column("window_end", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_end", name="pk_rate_limit_windows"),
        sa.CheckConstraint(
            f"length(key) BETWEEN 1 AND {KEY_MAX}", name=op.f("ck_rate_limit_windows_key_length")
        ),
        sa.CheckConstraint("hits >= 1", name=op.f("ck_rate_limit_windows_hits_positive")),
    )


def downgrade() -> None:
    op.drop_table("rate_limit_windows")
