"""Lineage: typed edges recorded with the facts they describe; flags on dataset versions and
the model versions they mark.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from assay.catalog.tables import BigID, JSONType, UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lineage_edges",
        sa.Column("id", BigID, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("src_kind", sa.String(length=16), nullable=False),
        sa.Column("src_id", sa.String(length=300), nullable=False),
        sa.Column("dst_kind", sa.String(length=16), nullable=False),
        sa.Column("dst_id", sa.String(length=300), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_lineage_edges_dst", "lineage_edges", ["dst_id", "kind"], unique=False)
    op.create_index("ix_lineage_edges_src", "lineage_edges", ["src_id", "kind"], unique=False)
    op.create_table(
        "dataset_flags",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("dataset_version_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("flagged_by", sa.String(length=255), nullable=False),
        sa.Column("flagged_at", UTCDateTime(), nullable=False),
        sa.Column("lifted_by", sa.String(length=255), nullable=True),
        sa.Column("lifted_at", UTCDateTime(), nullable=True),
        sa.Column("lift_reason", sa.Text(), nullable=True),
        sa.Column("affected", JSONType, nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_version_id"],
            ["dataset_versions.id"],
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_dataset_flags_version", "dataset_flags", ["dataset_version_id"], unique=False)
    op.create_table(
        "model_version_flags",
        sa.Column("id", BigID, autoincrement=True, nullable=False),
        sa.Column("flag_id", sa.String(length=36), nullable=False),
        sa.Column("version_id", sa.String(length=36), nullable=False),
        sa.Column("how", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["flag_id"],
            ["dataset_flags.id"],
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_model_version_flags_flag", "model_version_flags", ["flag_id"], unique=False)
    op.create_index("ix_model_version_flags_version", "model_version_flags", ["version_id"], unique=False)
    for statement in _BACKFILL:
        op.execute(statement)


# A catalog that existed before this migration gets the edges of the facts it already holds,
# read from those facts' own rows (never from logs), so lineage answers for old records too.
_BACKFILL = [
    "INSERT INTO lineage_edges (project_id, kind, src_kind, src_id, dst_kind, dst_id, label, created_at) "
    "SELECT e.project_id, 'used', 'datum', i.datum_id, 'execution', i.execution_id, i.input_name, "
    "e.created_at FROM execution_inputs i JOIN executions e ON e.id = i.execution_id",
    "INSERT INTO lineage_edges (project_id, kind, src_kind, src_id, dst_kind, dst_id, label, created_at) "
    "SELECT e.project_id, 'used', 'dataset_version', v.id, 'execution', e.id, i.input_name, "
    "e.created_at FROM execution_inputs i JOIN executions e ON e.id = i.execution_id "
    "JOIN datasets d ON d.project_id = e.project_id JOIN dataset_versions v ON v.dataset_id = d.id "
    "WHERE i.uri = 'dataset://' || d.name || '/' || v.name "
    "GROUP BY e.project_id, v.id, e.id, i.input_name, e.created_at",
    "INSERT INTO lineage_edges (project_id, kind, src_kind, src_id, dst_kind, dst_id, label, created_at) "
    "SELECT e.project_id, 'used', 'model_version', v.id, 'execution', e.id, i.input_name, "
    "e.created_at FROM execution_inputs i JOIN executions e ON e.id = i.execution_id "
    "JOIN models m ON m.project_id = e.project_id JOIN model_versions v ON v.model_id = m.id "
    "WHERE i.uri = 'model://' || m.name || '/' || v.name "
    "GROUP BY e.project_id, v.id, e.id, i.input_name, e.created_at",
    "INSERT INTO lineage_edges (project_id, kind, src_kind, src_id, dst_kind, dst_id, label, created_at) "
    "SELECT project_id, 'produced', 'execution', output_execution_id, 'datum', id, NULL, created_at "
    "FROM datums WHERE output_execution_id IS NOT NULL",
    "INSERT INTO lineage_edges (project_id, kind, src_kind, src_id, dst_kind, dst_id, label, created_at) "
    "SELECT d.project_id, 'contains', 'datum', f.datum_id, 'dataset_version', v.id, f.name, "
    "v.created_at FROM dataset_version_files f JOIN dataset_versions v ON v.id = f.version_id "
    "JOIN datasets d ON d.id = v.dataset_id",
    "INSERT INTO lineage_edges (project_id, kind, src_kind, src_id, dst_kind, dst_id, label, created_at) "
    "SELECT m.project_id, 'contains', 'datum', f.datum_id, 'model_version', v.id, f.name, "
    "v.created_at FROM model_version_files f JOIN model_versions v ON v.id = f.version_id "
    "JOIN models m ON m.id = v.model_id",
    "INSERT INTO lineage_edges (project_id, kind, src_kind, src_id, dst_kind, dst_id, label, created_at) "
    "SELECT m.project_id, 'built-from', 'execution', v.source_execution_id, 'model_version', v.id, "
    "NULL, v.created_at FROM model_versions v JOIN models m ON m.id = v.model_id "
    "WHERE v.source_execution_id IS NOT NULL",
    "INSERT INTO lineage_edges (project_id, kind, src_kind, src_id, dst_kind, dst_id, label, created_at) "
    "SELECT project_id, 'contains', 'pipeline_run', pipeline_run_id, 'execution', id, pipeline_node, "
    "created_at FROM executions WHERE pipeline_run_id IS NOT NULL",
    "INSERT INTO lineage_edges (project_id, kind, src_kind, src_id, dst_kind, dst_id, label, created_at) "
    "SELECT r.project_id, 'decided', 'gate', g.id, 'pipeline_node', r.id || ':' || g.node, g.status, "
    "g.decided_at FROM gates g JOIN pipeline_runs r ON r.id = g.run_id WHERE g.decided_at IS NOT NULL",
    "INSERT INTO lineage_edges (project_id, kind, src_kind, src_id, dst_kind, dst_id, label, created_at) "
    "SELECT m.project_id, 'replaced', 'model_version', a.previous_version_id, 'model_version', "
    "a.version_id, a.name, a.moved_at FROM alias_moves a JOIN models m ON m.id = a.owner_id "
    "WHERE a.kind = 'model' AND a.previous_version_id IS NOT NULL AND a.version_id IS NOT NULL",
]
