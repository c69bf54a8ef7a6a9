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
