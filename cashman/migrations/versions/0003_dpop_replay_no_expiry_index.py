"""DPoP replay records without the expiry index: each write changes one b-tree, not two.

The clean-up walks the primary key instead (``cashman.dpop_replay_cleanup``), so nothing
reads ``ix_dpop_replay_expires_at`` any more, while every insert paid for keeping it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 00:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_dpop_replay_expires_at", table_name="dpop_replay")


def downgrade() -> None:
    op.create_index("ix_dpop_replay_expires_at", "dpop_replay", ["expires_at"])
