"""The registry: models and versions, datasets and versions, aliases with their moves, model
cards and regression verdicts.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from assay.catalog.tables import BigID, JSONType, UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alias_moves",
        sa.Column("id", BigID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("version_id", sa.String(length=36), nullable=True),
        sa.Column("previous_version_id", sa.String(length=36), nullable=True),
        sa.Column("moved_by", sa.String(length=255), nullable=False),
        sa.Column("moved_at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_alias_moves_owner_name_time",
        "alias_moves",
        ["kind", "owner_id", "name", "moved_at"],
        unique=False,
    )
    op.create_table(
        "aliases",
        sa.Column("id", BigID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("version_id", sa.String(length=36), nullable=False),
        sa.Column("updated_by", sa.String(length=255), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "owner_id", "name", name="uq_aliases_kind_owner_name"),
    )
    op.create_index("ix_aliases_version", "aliases", ["kind", "version_id"], unique=False)
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("version_counter", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "name", name="uq_datasets_project_name"),
    )
    op.create_table(
        "models",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("version_counter", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "name", name="uq_models_project_name"),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("dataset_id", sa.String(length=36), nullable=False),
        sa.Column("counter", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("tags", JSONType, nullable=False),
        sa.Column(
            "properties",
            JSONType,
            nullable=False,
        ),
        sa.Column("source_execution_id", sa.String(length=36), nullable=True),
        sa.Column("from_version_id", sa.String(length=36), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
        ),
        sa.ForeignKeyConstraint(
            ["from_version_id"],
            ["dataset_versions.id"],
        ),
        sa.ForeignKeyConstraint(
            ["source_execution_id"],
            ["executions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dataset_id", "counter", name="uq_dataset_versions_dataset_counter"),
        sa.UniqueConstraint("dataset_id", "name", name="uq_dataset_versions_dataset_name"),
    )
    op.create_index(
        "ix_dataset_versions_source_execution", "dataset_versions", ["source_execution_id"], unique=False
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("model_id", sa.String(length=36), nullable=False),
        sa.Column("counter", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_by", sa.String(length=255), nullable=True),
        sa.Column("status_at", UTCDateTime(), nullable=True),
        sa.Column("status_comment", sa.Text(), nullable=True),
        sa.Column("release_note", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "metrics",
            JSONType,
            nullable=False,
        ),
        sa.Column(
            "properties",
            JSONType,
            nullable=False,
        ),
        sa.Column("tags", JSONType, nullable=False),
        sa.Column("source_execution_id", sa.String(length=36), nullable=True),
        sa.Column("pipeline_run_id", sa.String(length=36), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
        ),
        sa.ForeignKeyConstraint(
            ["pipeline_run_id"],
            ["pipeline_runs.id"],
        ),
        sa.ForeignKeyConstraint(
            ["source_execution_id"],
            ["executions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("model_id", "counter", name="uq_model_versions_model_counter"),
        sa.UniqueConstraint("model_id", "name", name="uq_model_versions_model_name"),
    )
    op.create_index("ix_model_versions_pipeline_run", "model_versions", ["pipeline_run_id"], unique=False)
    op.create_index(
        "ix_model_versions_source_execution", "model_versions", ["source_execution_id"], unique=False
    )
    op.create_table(
        "dataset_version_files",
        sa.Column("id", BigID, autoincrement=True, nullable=False),
        sa.Column("version_id", sa.String(length=36), nullable=False),
        sa.Column("datum_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["datum_id"],
            ["datums.id"],
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["dataset_versions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("version_id", "name", name="uq_dataset_version_files_version_name"),
    )
    op.create_index("ix_dataset_version_files_datum", "dataset_version_files", ["datum_id"], unique=False)
    op.create_table(
        "model_card_entries",
        sa.Column("id", BigID, autoincrement=True, nullable=False),
        sa.Column("version_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("author", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("body", JSONType, nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_model_card_entries_version", "model_card_entries", ["version_id"], unique=False)
    op.create_table(
        "model_version_files",
        sa.Column("id", BigID, autoincrement=True, nullable=False),
        sa.Column("version_id", sa.String(length=36), nullable=False),
        sa.Column("datum_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["datum_id"],
            ["datums.id"],
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("version_id", "name", name="uq_model_version_files_version_name"),
    )
    op.create_index("ix_model_version_files_datum", "model_version_files", ["datum_id"], unique=False)
    op.create_table(
        "model_version_tags",
        sa.Column("version_id", sa.String(length=36), nullable=False),
        sa.Column("tag", sa.String(length=255), nullable=False),
        sa.Column("model_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
        ),
        sa.PrimaryKeyConstraint("version_id", "tag"),
    )
    op.create_index(
        "ix_model_version_tags_model_tag",
        "model_version_tags",
        ["model_id", "tag", "version_id"],
        unique=False,
    )
    op.create_index("ix_model_version_tags_tag", "model_version_tags", ["tag"], unique=False)
    op.create_table(
        "verdicts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("pipeline_run_id", sa.String(length=36), nullable=True),
        sa.Column("node", sa.String(length=255), nullable=True),
        sa.Column("execution_id", sa.String(length=36), nullable=True),
        sa.Column("model_version_id", sa.String(length=36), nullable=True),
        sa.Column("baseline_version_id", sa.String(length=36), nullable=True),
        sa.Column("baseline", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("rows", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["baseline_version_id"],
            ["model_versions.id"],
        ),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
        ),
        sa.ForeignKeyConstraint(
            ["pipeline_run_id"],
            ["pipeline_runs.id"],
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_verdicts_execution", "verdicts", ["execution_id"], unique=False)
    op.create_index("ix_verdicts_model_version", "verdicts", ["model_version_id"], unique=False)
    op.create_index("ix_verdicts_pipeline_run", "verdicts", ["pipeline_run_id"], unique=False)
