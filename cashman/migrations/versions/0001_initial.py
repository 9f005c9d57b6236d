"""Initial schema: transactions and idempotency records.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cashman.models import BigId, Money, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transactions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(7), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "(kind = 'INCOME' AND amount > 0) OR (kind = 'EXPENSE' AND amount < 0)",
            name="ck_transactions_kind_sign",
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_transactions_owner_created",
        "transactions",
        ["owner", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    op.create_index(
        "ix_transactions_owner_kind_created",
        "transactions",
        ["owner", "kind", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    op.create_table(
        "idempotency_records",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("owner", "key", name="uq_idempotency_owner_key"),
    )
    op.create_index("ix_idempotency_created", "idempotency_records", ["created_at"])


def downgrade() -> None:
    op.drop_table("idempotency_records")
    op.drop_table("transactions")
