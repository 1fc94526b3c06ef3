"""Dask scale-out: the executor a study runs on, the worker that ran each trial.

studies.executor: {"type": "dask", "address": ...} | {"type": "local"} | NULL (server default).
trials.worker: the Dask worker address (tcp://host:port) or local://hostname that ran the trial.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.add_column(sa.Column("executor", sa.JSON(), nullable=True))
    with op.batch_alter_table("trials") as batch:
        batch.add_column(sa.Column("worker", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.drop_column("worker")
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("executor")
