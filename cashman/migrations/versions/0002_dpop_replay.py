"""DPoP replay records: one row per accepted proof, unique on (jkt, jti), with an expiry.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-01 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dpop_replay",
        sa.Column("jkt", sa.String(43), nullable=False),
        sa.Column("jti_sha256", sa.String(43), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("jkt", "jti_sha256"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_dpop_replay_expires_at", "dpop_replay", ["expires_at"])


def downgrade() -> None:
    op.drop_table("dpop_replay")
