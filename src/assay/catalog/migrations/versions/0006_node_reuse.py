"""Warnings on pipeline runs, and which execution each node of a run reused (at most one node each).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from assay.catalog.tables import BigID, JSONType, UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pipeline_runs") as batch:
        batch.add_column(sa.Column("warnings", JSONType, nullable=False, server_default="[]"))
    op.create_table(
        "pipeline_reuses",
        sa.Column("id", BigID, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(36), sa.ForeignKey("pipeline_runs.id"), nullable=False),
        sa.Column("node", sa.String(255), nullable=False),
        sa.Column("pipeline_index", sa.Integer(), nullable=False),
        sa.Column("execution_id", sa.String(36), sa.ForeignKey("executions.id"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("run_id", "execution_id", name="uq_pipeline_reuses_run_execution"),
    )
    op.create_index("ix_pipeline_reuses_execution", "pipeline_reuses", ["execution_id"])


def downgrade() -> None:
    op.drop_index("ix_pipeline_reuses_execution", table_name="pipeline_reuses")
    op.drop_table("pipeline_reuses")
    with op.batch_alter_table("pipeline_runs") as batch:
        batch.drop_column("warnings")
