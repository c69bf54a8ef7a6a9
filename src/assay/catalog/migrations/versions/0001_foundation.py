"""Foundation: projects, executions with metadata and inputs, datums, datum aliases, events.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from assay.catalog.schema import append_only_statements
from assay.catalog.tables import BigID, JSONType, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("execution_counter", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "executions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("project_id", sa.String(36), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("counter", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("image", sa.String(512), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("parameters", JSONType, nullable=False),
        sa.Column("inputs", JSONType, nullable=False),
        sa.Column("environment", JSONType, nullable=False),
        sa.Column("problems", JSONType, nullable=False),
        sa.Column("execution_dir", sa.Text(), nullable=False),
        sa.Column("log_path", sa.Text(), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("project_id", "counter", name="uq_executions_project_counter"),
    )
    op.create_index("ix_executions_project_status", "executions", ["project_id", "status"])
    op.create_table(
        "execution_metadata",
        sa.Column("id", BigID, primary_key=True, autoincrement=True),
        sa.Column("execution_id", sa.String(36), sa.ForeignKey("executions.id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("logged_at", UTCDateTime(), nullable=False),
        sa.Column("data", JSONType, nullable=False),
    )
    op.create_index("ix_execution_metadata_execution_seq", "execution_metadata", ["execution_id", "seq"])
    op.create_table(
        "datums",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("project_id", sa.String(36), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("source_uri", sa.Text(), nullable=True),
        sa.Column("output_execution_id", sa.String(36), sa.ForeignKey("executions.id"), nullable=True),
        sa.Column("metadata", JSONType, nullable=False),
        sa.Column("tags", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_datums_project_sha256", "datums", ["project_id", "sha256"])
    op.create_index("ix_datums_output_execution", "datums", ["output_execution_id"])
    op.create_table(
        "execution_inputs",
        sa.Column("id", BigID, primary_key=True, autoincrement=True),
        sa.Column("execution_id", sa.String(36), sa.ForeignKey("executions.id"), nullable=False),
        sa.Column("input_name", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("datum_id", sa.String(36), sa.ForeignKey("datums.id"), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
    )
    op.create_index("ix_execution_inputs_execution", "execution_inputs", ["execution_id"])
    op.create_index("ix_execution_inputs_datum", "execution_inputs", ["datum_id"])
    op.create_table(
        "datum_aliases",
        sa.Column("id", BigID, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.String(36), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("datum_id", sa.String(36), sa.ForeignKey("datums.id"), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("project_id", "name", name="uq_datum_aliases_project_name"),
    )
    op.create_table(
        "events",
        sa.Column("id", BigID, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.String(36), sa.ForeignKey("projects.id"), nullable=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("payload", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_events_project_kind", "events", ["project_id", "kind"])
    for statement in append_only_statements(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_append_only ON events")
        op.execute("DROP FUNCTION IF EXISTS assay_events_append_only()")
    for table in (
        "events",
        "datum_aliases",
        "execution_inputs",
        "datums",
        "execution_metadata",
        "executions",
        "projects",
    ):
        op.drop_table(table)
