"""Tables of lineage: typed edges recorded with the facts they describe, and flags on data.

Migration ``0004_lineage`` creates them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import CreateIndex

from assay.catalog.tables import Base, BigID, new_id, utcnow

ACTIVE = "lifted_at IS NULL"


@compiles(CreateIndex, "postgresql")
def _partial_index_on_postgresql(create: CreateIndex, compiler: Any, **kw: Any) -> str:
    """A partial index's WHERE on PostgreSQL, from the index's ``info``.

    NOTE: ``postgresql_where=`` on the ``Index`` itself would do the same, but naming a
    dialect's option makes SQLAlchemy import that dialect and its drivers on every start,
    also on SQLite (~25 ms of every command).
    """
    statement: str = compiler.visit_create_index(create, **kw)
    where = create.element.info.get("postgresql_where")
    return f"{statement} WHERE {where}" if where else statement


class LineageEdge(Base):
    """``src`` → ``dst``, pointing downstream (from what was used to what came of it).

    Kinds: ``used`` (datum | dataset version | model version → execution, ``label`` = the
    input's name), ``produced`` (execution → datum), ``contains`` (datum → dataset version |
    model version; pipeline run → execution), ``built-from`` (execution → model version),
    ``replaced`` (model version → the version that took its alias, ``label`` = the alias),
    ``decided`` (gate → pipeline node ``<run id>:<node>``).
    """

    __tablename__ = "lineage_edges"
    __table_args__ = (
        Index("ix_lineage_edges_src", "src_id", "kind"),
        Index("ix_lineage_edges_dst", "dst_id", "kind"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    kind: Mapped[str] = mapped_column(String(16))
    src_kind: Mapped[str] = mapped_column(String(16))
    src_id: Mapped[str] = mapped_column(String(300))
    dst_kind: Mapped[str] = mapped_column(String(16))
    dst_id: Mapped[str] = mapped_column(String(300))
    label: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DatasetFlag(Base):
    """A dataset version marked flawed: who, when, why; and who lifted it, when, why."""

    __tablename__ = "dataset_flags"
    __table_args__ = (
        Index("ix_dataset_flags_version", "dataset_version_id"),
        # at most one active flag per dataset version, even with two flaggers at once
        Index(
            "uq_dataset_flags_active",
            "dataset_version_id",
            unique=True,
            sqlite_where=text(ACTIVE),
            info={"postgresql_where": ACTIVE},  # see _partial_index_on_postgresql
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    dataset_version_id: Mapped[str] = mapped_column(ForeignKey("dataset_versions.id"))
    reason: Mapped[str] = mapped_column(Text)
    flagged_by: Mapped[str] = mapped_column(String(255))
    flagged_at: Mapped[datetime] = mapped_column(default=utcnow)
    lifted_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    lifted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    lift_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    affected: Mapped[list[Any]] = mapped_column(default=list)  # model version ids at flag time


class ModelVersionFlag(Base):
    """A model version marked by a dataset flag: it was built, directly or not, from that data."""

    __tablename__ = "model_version_flags"
    __table_args__ = (
        Index("ix_model_version_flags_version", "version_id"),
        Index("ix_model_version_flags_flag", "flag_id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    flag_id: Mapped[str] = mapped_column(ForeignKey("dataset_flags.id"))
    version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"))
    how: Mapped[list[Any]] = mapped_column(default=list)  # the input names it entered through
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
