"""The catalog's tables (SQLAlchemy 2 declarative). Schema changes go through Alembic only.

The first migration (``migrations/versions/0001_foundation.py``) creates exactly these tables;
a test compares the two so they cannot drift apart.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are stored in UTC and always come back timezone-aware (SQLite drops zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the catalog; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JSONType(TypeDecorator[Any]):
    """JSON: ``JSONB`` on PostgreSQL, SQLite's JSON elsewhere.

    NOTE: the PostgreSQL type is looked up only on a PostgreSQL connection, so the embedded
    SQLite catalog never imports SQLAlchemy's PostgreSQL dialect and its drivers (~60 ms of
    every command's start-up).
    """

    impl = JSON()
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigID = BigInteger().with_variant(Integer(), "sqlite")


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
        datetime: UTCDateTime,
    }


class Project(Base):
    """A project, identified by its id (kept in the folder's ``.assay/project-id``), not by its
    name: two folders with the same name are two projects (docs/catalog.md, "Project identity")."""

    __tablename__ = "projects"
    __table_args__ = (
        # at most one project of a name that no folder has claimed yet (the one a folder adopts)
        Index(
            "uq_projects_unclaimed_name",
            "name",
            unique=True,
            sqlite_where=text("claimed_at IS NULL"),
            postgresql_where=text("claimed_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    execution_counter: Mapped[int] = mapped_column(Integer, default=0)
    pipeline_counter: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: when a folder took this id into its ``.assay/project-id``; None for a project known only
    #: by its name (made before migration 0007, or by ``ensure_project``), which a folder adopts
    claimed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    #: where a server fetches the project's code: a local path or any URL git can clone
    repository: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: the branch, tag or SHA a run executes when none is asked for (None: the default branch)
    default_ref: Mapped[str | None] = mapped_column(String(255), nullable=True)


class Execution(Base):
    __tablename__ = "executions"
    __table_args__ = (
        UniqueConstraint("project_id", "counter", name="uq_executions_project_counter"),
        Index("ix_executions_project_status", "project_id", "status"),
        Index("ix_executions_pipeline_node", "pipeline_run_id", "pipeline_node"),
        Index("ix_executions_reuse_key", "project_id", "reuse_key"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    counter: Mapped[int] = mapped_column(Integer)
    step: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32))
    image: Mapped[str] = mapped_column(String(512))
    command: Mapped[str] = mapped_column(Text, default="")
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    environment: Mapped[dict[str, Any]] = mapped_column(default=dict)
    problems: Mapped[list[Any]] = mapped_column(default=list)
    execution_dir: Mapped[str] = mapped_column(Text, default="")
    log_path: Mapped[str] = mapped_column(Text, default="")
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    pipeline_run_id: Mapped[str | None] = mapped_column(ForeignKey("pipeline_runs.id"), nullable=True)
    pipeline_node: Mapped[str | None] = mapped_column(String(255), nullable=True)
    attempt: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: the child's position in a task node's fan-out (0 for an execution node)
    pipeline_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: digest of everything that determines the result; equal keys may reuse each other
    reuse_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reuse_facts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: the code it ran: ``{"repository", "ref", "commit", "adhoc"}`` (empty for a run of a folder
    #: as it is, whose commit and dirty flag are in ``environment``)
    source: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")


class ExecutionMetadata(Base):
    """One metadata event: the keys of one JSON line printed by the step, with its time."""

    __tablename__ = "execution_metadata"
    __table_args__ = (Index("ix_execution_metadata_execution_seq", "execution_id", "seq"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id"))
    seq: Mapped[int] = mapped_column(Integer)
    logged_at: Mapped[datetime] = mapped_column()
    data: Mapped[dict[str, Any]] = mapped_column()


class ExecutionMetadataLatest(Base):
    """The last value logged for each metadata key of an execution, written with its events.

    ``executions show`` and conditions read these (one row a key) instead of every event.
    NOTE: the key is not indexed (nor part of a key): a step controls it, and a very long one
    would not fit in a PostgreSQL index entry; the writer makes keys unique per execution.
    """

    __tablename__ = "execution_metadata_latest"
    __table_args__ = (Index("ix_execution_metadata_latest_execution", "execution_id", "position"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id"))
    position: Mapped[int] = mapped_column(Integer)  # order of the key's first appearance
    key: Mapped[str] = mapped_column(Text)
    value: Mapped[Any] = mapped_column(JSONType, nullable=False)  # JSON null for a None
    seq: Mapped[int] = mapped_column(Integer)  # the event that logged this value
    logged_at: Mapped[datetime] = mapped_column()


class ExecutionInput(Base):
    """One file an execution used, through which input — the first lineage edge."""

    __tablename__ = "execution_inputs"
    __table_args__ = (
        Index("ix_execution_inputs_execution", "execution_id"),
        Index("ix_execution_inputs_datum", "datum_id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id"))
    input_name: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    datum_id: Mapped[str] = mapped_column(ForeignKey("datums.id"))
    uri: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)


class Datum(Base):
    """One file, addressed by content; knows the execution that produced it, if any."""

    __tablename__ = "datums"
    __table_args__ = (
        Index("ix_datums_project_sha256", "project_id", "sha256"),
        Index("ix_datums_output_execution", "output_execution_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(Text)
    source_uri: Mapped[str | None] = mapped_column(Text, nullable=True)
    output_execution_id: Mapped[str | None] = mapped_column(ForeignKey("executions.id"), nullable=True)
    file_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DatumAlias(Base):
    """A movable name for a datum (``datum://<alias>``). Every move is also an event."""

    __tablename__ = "datum_aliases"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_datum_aliases_project_name"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    name: Mapped[str] = mapped_column(String(255))
    datum_id: Mapped[str] = mapped_column(ForeignKey("datums.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    """Append-only record of something that happened (database triggers refuse UPDATE/DELETE)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_project_kind", "project_id", "kind"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255))
    actor: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PipelineRun(Base):
    """One run of a pipeline; its definition is frozen at start so a resume runs the same graph."""

    __tablename__ = "pipeline_runs"
    __table_args__ = (
        UniqueConstraint("project_id", "counter", name="uq_pipeline_runs_project_counter"),
        Index("ix_pipeline_runs_project_status", "project_id", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    counter: Mapped[int] = mapped_column(Integer)
    pipeline: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32))
    spec_text: Mapped[str] = mapped_column(Text)
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)
    driver: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: what the run should have been told but did not stop for (lint warnings, undecidable conditions)
    warnings: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")


class PipelineReuse(Base):
    """A node of a run that stands for an earlier execution instead of running (one node each)."""

    __tablename__ = "pipeline_reuses"
    __table_args__ = (
        UniqueConstraint("run_id", "execution_id", name="uq_pipeline_reuses_run_execution"),
        Index("ix_pipeline_reuses_execution", "execution_id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("pipeline_runs.id"))
    node: Mapped[str] = mapped_column(String(255))
    pipeline_index: Mapped[int] = mapped_column(Integer)  # the child of a task node
    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PipelineNode(Base):
    __tablename__ = "pipeline_nodes"
    __table_args__ = (UniqueConstraint("run_id", "name", name="uq_pipeline_nodes_run_name"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("pipeline_runs.id"))
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    reused: Mapped[bool] = mapped_column(default=False)
    #: the executions whose results this node stands for (one; several for a task node)
    executions: Mapped[list[Any]] = mapped_column(default=list)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Gate(Base):
    """An approval request on a pipeline node, decided once (compare-and-set on ``status``)."""

    __tablename__ = "gates"
    __table_args__ = (UniqueConstraint("run_id", "node", name="uq_gates_run_node"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    run_id: Mapped[str] = mapped_column(ForeignKey("pipeline_runs.id"))
    node: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: how the decider authenticated: ``local`` (the CLI on this host), ``token``, ``session``
    auth_method: Mapped[str | None] = mapped_column(String(32), nullable=True)


# The registry's tables share this metadata (imported last: they build on the classes above).
from assay.catalog import account_tables as _account_tables  # noqa: E402,F401
from assay.catalog import lineage_tables as _lineage_tables  # noqa: E402,F401
from assay.catalog import registry_tables as _registry_tables  # noqa: E402,F401
