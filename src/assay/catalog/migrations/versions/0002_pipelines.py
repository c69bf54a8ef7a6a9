"""Pipelines: runs, nodes, approval gates; executions know their run, node, attempt and reuse key.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from assay.catalog.tables import BigID, JSONType, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("pipeline_counter", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("project_id", sa.String(36), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("counter", sa.Integer(), nullable=False),
        sa.Column("pipeline", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("spec_text", sa.Text(), nullable=False),
        sa.Column("request", JSONType, nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("driver", JSONType, nullable=False),
        sa.UniqueConstraint("project_id", "counter", name="uq_pipeline_runs_project_counter"),
    )
    op.create_index("ix_pipeline_runs_project_status", "pipeline_runs", ["project_id", "status"])
    op.create_table(
        "pipeline_nodes",
        sa.Column("id", BigID, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(36), sa.ForeignKey("pipeline_runs.id"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("reused", sa.Boolean(), nullable=False),
        sa.Column("executions", JSONType, nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("run_id", "name", name="uq_pipeline_nodes_run_name"),
    )
    op.create_table(
        "gates",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("run_id", sa.String(36), sa.ForeignKey("pipeline_runs.id"), nullable=False),
        sa.Column("node", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(255), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("evidence", JSONType, nullable=False),
        sa.UniqueConstraint("run_id", "node", name="uq_gates_run_node"),
    )
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("pipeline_run_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("pipeline_node", sa.String(255), nullable=True))
        batch.add_column(sa.Column("attempt", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("pipeline_index", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("reuse_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("reuse_facts", JSONType, nullable=False, server_default="{}"))
        batch.create_foreign_key(
            "fk_executions_pipeline_run_id", "pipeline_runs", ["pipeline_run_id"], ["id"]
        )
        batch.create_index("ix_executions_pipeline_node", ["pipeline_run_id", "pipeline_node"])
        batch.create_index("ix_executions_reuse_key", ["project_id", "reuse_key"])


def downgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.drop_index("ix_executions_reuse_key")
        batch.drop_index("ix_executions_pipeline_node")
        batch.drop_constraint("fk_executions_pipeline_run_id", type_="foreignkey")
        for column in (
            "reuse_facts",
            "reuse_key",
            "pipeline_index",
            "attempt",
            "pipeline_node",
            "pipeline_run_id",
        ):
            batch.drop_column(column)
    op.drop_table("gates")
    op.drop_table("pipeline_nodes")
    op.drop_table("pipeline_runs")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("pipeline_counter")
