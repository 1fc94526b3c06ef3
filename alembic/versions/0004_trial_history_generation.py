"""Rewinds of a trial's history, so that live streams notice every Panda rollback.

trials.history_generation: bumped by each rewind that deleted epochs (rollback, retry).
trials.history_rewinds: the latest rewinds as [generation, epoch kept through] pairs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.add_column(
            sa.Column("history_generation", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("history_rewinds", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.drop_column("history_rewinds")
        batch.drop_column("history_generation")
