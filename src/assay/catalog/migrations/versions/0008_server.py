"""The server: users, their roles per project, API tokens, the approvals a gate collects; where a
project's code comes from, which commit an execution ran, how a gate's decider authenticated.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from assay.catalog.tables import BigID, JSONType, UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("repository", sa.Text(), nullable=True))
        batch.add_column(sa.Column("default_ref", sa.String(255), nullable=True))
    with op.batch_alter_table("executions") as batch:
        batch.add_column(sa.Column("source", JSONType, nullable=False, server_default="{}"))
    with op.batch_alter_table("gates") as batch:
        batch.add_column(sa.Column("auth_method", sa.String(32), nullable=True))
    op.create_table(
        "users",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("key", sa.String(255), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("disabled_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "memberships",
        sa.Column("id", BigID, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("user_id", "project_id", name="uq_memberships_user_project"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_api_tokens_user", "api_tokens", ["user_id"])
    op.create_table(
        "gate_approvals",
        sa.Column("id", BigID, primary_key=True, autoincrement=True),
        sa.Column("gate_id", sa.String(36), sa.ForeignKey("gates.id"), nullable=False),
        sa.Column("principal", sa.String(255), nullable=False),
        sa.Column("shown_as", sa.String(255), nullable=False),
        sa.Column("auth_method", sa.String(32), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("evidence", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("gate_id", "principal", name="uq_gate_approvals_gate_principal"),
    )


def downgrade() -> None:
    op.drop_table("gate_approvals")
    op.drop_index("ix_api_tokens_user", "api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("memberships")
    op.drop_table("users")
    with op.batch_alter_table("gates") as batch:
        batch.drop_column("auth_method")
    with op.batch_alter_table("executions") as batch:
        batch.drop_column("source")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("default_ref")
        batch.drop_column("repository")
