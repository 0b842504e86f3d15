"""Accounts: credentials, tokens and the counts of failed sign-ins.

A user's credentials and tokens go with the user (``ON DELETE CASCADE``): they
hold nothing that must be accounted for when a user is deleted.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 12:00:00

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from luminary.sql.migrate import refuse_data_loss

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)

# The bounds as this revision set them (not imported: a migration is a fixed record).
LOGIN_MIN = 3
LOGIN_MAX = 254
NAME_MAX = 100
DIGEST_LENGTH = 64
KEY_MAX = 300


def upgrade() -> None:
    # Names are final (op.f), as in 0001.
    op.create_table(
        "credentials",
        sa.Column("user_id", ID, primary_key=True, autoincrement=False),
        sa.Column("login", sa.String(LOGIN_MAX), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("user_id", name="pk_credentials"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_credentials_user_id_users", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("login", name="uq_credentials_login"),
        sa.CheckConstraint(
            f"length(login) BETWEEN {LOGIN_MIN} AND {LOGIN_MAX}", name=op.f("ck_credentials_login_length")
        ),
        sa.CheckConstraint("login = lower(login)", name=op.f("ck_credentials_login_lower_case")),
    )

    op.create_table(
        "tokens",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("name", sa.String(NAME_MAX), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(DIGEST_LENGTH), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("last_used_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tokens"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_tokens_user_id_users", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("digest", name="uq_tokens_digest"),
        sa.CheckConstraint(f"length(name) BETWEEN 1 AND {NAME_MAX}", name=op.f("ck_tokens_name_length")),
        sa.CheckConstraint(f"length(digest) = {DIGEST_LENGTH}", name=op.f("ck_tokens_digest_length")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_tokens_user_id_id", "tokens", ["user_id", "id"])

    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(KEY_MAX), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("window_start", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_login_failures"),
        sa.CheckConstraint(f"length(key) BETWEEN 1 AND {KEY_MAX}", name=op.f("ck_login_failures_key_length")),
        sa.CheckConstraint("count >= 1", name=op.f("ck_login_failures_count_positive")),
    )


def downgrade() -> None:
    # Revision 0002 has no accounts: going back would sign everyone out for good. Refuse
    # while any account data exists, unless forced. (Counts of failed sign-ins are short-lived and go.)
    bind = op.get_bind()
    credentials = bind.execute(sa.text("SELECT count(*) FROM credentials")).scalar_one()
    tokens = bind.execute(sa.text("SELECT count(*) FROM tokens")).scalar_one()
    if credentials or tokens:
        refuse_data_loss(
            f"cannot downgrade below revision 0003: {credentials} credentials and {tokens} tokens "
            "would be lost; revision 0002 cannot hold them (delete them first to go back)"
        )
    op.drop_table("login_failures")
    op.drop_table("tokens")
    op.drop_table("credentials")
