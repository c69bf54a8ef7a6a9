"""Projects are identified by their id, not their name; the latest value of each metadata key.

``projects.name`` stops being unique (two folders with the same name are two projects) and
gains ``claimed_at``: a project made before this revision is known only by its name, and the
first folder of that name without an id adopts it (docs/catalog.md, "Project identity").
``execution_metadata_latest`` holds one row per key of each execution, backfilled here from
``execution_metadata``.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from assay.catalog.tables import BigID, JSONType, UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UNCLAIMED = sa.text("claimed_at IS NULL")


def _projects_0006() -> sa.Table:
    """``projects`` as revisions 0001 and 0002 left it, minus the unique name."""
    return sa.Table(
        "projects",
        sa.MetaData(),
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("execution_counter", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("pipeline_counter", sa.Integer(), nullable=False, server_default="0"),
    )


def upgrade() -> None:
    bind = op.get_bind()
    claimed_at: sa.Column[datetime] = sa.Column("claimed_at", UTCDateTime(), nullable=True)
    if bind.dialect.name == "postgresql":
        for unique in sa.inspect(bind).get_unique_constraints("projects"):
            if unique["column_names"] == ["name"] and unique["name"]:
                op.drop_constraint(unique["name"], "projects", type_="unique")
        op.add_column("projects", claimed_at)
    else:
        # NOTE: SQLite cannot drop a constraint, so the table is rebuilt; Catalog.migrate
        # turns foreign-key enforcement off around the migrations (the old table is dropped
        # while executions still refer to it) and checks every foreign key before committing.
        with op.batch_alter_table("projects", copy_from=_projects_0006(), recreate="always") as batch:
            batch.add_column(claimed_at)
    op.create_index(
        "uq_projects_unclaimed_name", "projects", ["name"], unique=True,
        sqlite_where=UNCLAIMED, postgresql_where=UNCLAIMED,
    )  # fmt: skip
    op.create_table(
        "execution_metadata_latest",
        sa.Column("id", BigID, primary_key=True, autoincrement=True),
        sa.Column("execution_id", sa.String(36), sa.ForeignKey("executions.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", JSONType, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("logged_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_execution_metadata_latest_execution", "execution_metadata_latest", ["execution_id", "position"]
    )
    _backfill(bind)


def _backfill(bind: sa.Connection) -> None:
    """One execution at a time, so memory stays bounded by the largest execution's events."""
    events = sa.table(
        "execution_metadata",
        sa.column("id"), sa.column("execution_id"), sa.column("seq"),
        sa.column("logged_at", UTCDateTime()), sa.column("data", JSONType()),
    )  # fmt: skip
    latest = sa.table(
        "execution_metadata_latest",
        sa.column("execution_id"), sa.column("position"), sa.column("key"),
        sa.column("value", JSONType()), sa.column("seq"), sa.column("logged_at", UTCDateTime()),
    )  # fmt: skip
    owners = list(bind.execute(sa.select(events.c.execution_id).distinct()).scalars())
    for execution_id in owners:
        found = bind.execute(
            sa.select(events.c.seq, events.c.logged_at, events.c.data)
            .where(events.c.execution_id == execution_id)
            .order_by(events.c.seq, events.c.id)
        )
        rows = _latest_rows(execution_id, ((seq, at, data) for seq, at, data in found))
        if rows:
            bind.execute(latest.insert(), rows)


def _latest_rows(
    execution_id: str, events: Iterable[tuple[int, datetime, dict[str, Any]]]
) -> list[dict[str, Any]]:
    # NOTE: a copy of catalog.executions.latest_rows as it was at this revision, so that this
    # migration keeps meaning the same whatever that function becomes.
    rows: dict[str, dict[str, Any]] = {}
    for seq, logged_at, data in events:
        for key, value in (data or {}).items():
            row = rows.get(key)
            if row is None:
                rows[key] = {"execution_id": execution_id, "position": len(rows), "key": key,
                             "value": value, "seq": seq, "logged_at": logged_at}  # fmt: skip
            else:
                row.update(value=value, seq=seq, logged_at=logged_at)
    return list(rows.values())


def downgrade() -> None:
    op.drop_index("ix_execution_metadata_latest_execution", table_name="execution_metadata_latest")
    op.drop_table("execution_metadata_latest")
    op.drop_index("uq_projects_unclaimed_name", table_name="projects")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("claimed_at")
        batch.create_unique_constraint("projects_name_key", ["name"])
