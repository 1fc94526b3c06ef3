"""An index for a study's trials sorted by value (the dashboard's and the API's "best first").

Without it a page of the best 100 trials of a 10,000-trial study sorts every row of the study,
whole rows (params, metrics) included. With it the page's ids come from the index.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 15:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_trials_study_value", "trials", ["study_id", "value", "number"])


def downgrade() -> None:
    op.drop_index("ix_trials_study_value", table_name="trials")
