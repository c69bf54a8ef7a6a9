"""Tables of the registry: models and their versions, datasets and theirs, aliases with every
move, model cards and regression verdicts. Created by migration ``0003_registry``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from assay.catalog.tables import Base, BigID, new_id, utcnow


class Model(Base):
    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_models_project_name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    version_counter: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelVersion(Base):
    """A named, immutable set of files with metrics, tags and a status (pending/approved/rejected)."""

    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "counter", name="uq_model_versions_model_counter"),
        UniqueConstraint("model_id", "name", name="uq_model_versions_model_name"),
        Index("ix_model_versions_source_execution", "source_execution_id"),
        Index("ix_model_versions_pipeline_run", "pipeline_run_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id"))
    counter: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    status_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status_at: Mapped[datetime | None] = mapped_column(nullable=True)
    status_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    release_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    source_execution_id: Mapped[str | None] = mapped_column(ForeignKey("executions.id"), nullable=True)
    pipeline_run_id: Mapped[str | None] = mapped_column(ForeignKey("pipeline_runs.id"), nullable=True)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelVersionTag(Base):
    """One tag of a model version, as a row, so that searching by tag is an index lookup."""

    __tablename__ = "model_version_tags"
    __table_args__ = (
        Index("ix_model_version_tags_model_tag", "model_id", "tag", "version_id"),
        Index("ix_model_version_tags_tag", "tag"),
    )

    version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(255), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id"))


class ModelVersionFile(Base):
    __tablename__ = "model_version_files"
    __table_args__ = (
        UniqueConstraint("version_id", "name", name="uq_model_version_files_version_name"),
        Index("ix_model_version_files_datum", "datum_id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"))
    datum_id: Mapped[str] = mapped_column(ForeignKey("datums.id"))
    name: Mapped[str] = mapped_column(Text)


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_datasets_project_name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    version_counter: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DatasetVersion(Base):
    """A named, immutable set of datums."""

    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "counter", name="uq_dataset_versions_dataset_counter"),
        UniqueConstraint("dataset_id", "name", name="uq_dataset_versions_dataset_name"),
        Index("ix_dataset_versions_source_execution", "source_execution_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"))
    counter: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    tags: Mapped[list[Any]] = mapped_column(default=list)
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source_execution_id: Mapped[str | None] = mapped_column(ForeignKey("executions.id"), nullable=True)
    from_version_id: Mapped[str | None] = mapped_column(ForeignKey("dataset_versions.id"), nullable=True)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DatasetVersionFile(Base):
    __tablename__ = "dataset_version_files"
    __table_args__ = (
        UniqueConstraint("version_id", "name", name="uq_dataset_version_files_version_name"),
        Index("ix_dataset_version_files_datum", "datum_id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("dataset_versions.id"))
    datum_id: Mapped[str] = mapped_column(ForeignKey("datums.id"))
    name: Mapped[str] = mapped_column(Text)


class Alias(Base):
    """A movable name on a model version or dataset version (``kind`` says which)."""

    __tablename__ = "aliases"
    __table_args__ = (
        UniqueConstraint("kind", "owner_id", "name", name="uq_aliases_kind_owner_name"),
        Index("ix_aliases_version", "kind", "version_id"),
    )

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # model | dataset
    owner_id: Mapped[str] = mapped_column(String(36))  # the model's or dataset's id
    name: Mapped[str] = mapped_column(String(255))
    version_id: Mapped[str] = mapped_column(String(36))
    updated_by: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AliasMove(Base):
    """Every move of an alias, kept forever: ``version_id`` is None when the alias was removed."""

    __tablename__ = "alias_moves"
    __table_args__ = (Index("ix_alias_moves_owner_name_time", "kind", "owner_id", "name", "moved_at"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[str] = mapped_column(String(36))
    name: Mapped[str] = mapped_column(String(255))
    version_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    previous_version_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    moved_by: Mapped[str] = mapped_column(String(255))
    moved_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class CardEntry(Base):
    """One entry of a model version's card: a comment, a score, a gate decision, a status change."""

    __tablename__ = "model_card_entries"
    __table_args__ = (Index("ix_model_card_entries_version", "version_id"),)

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("model_versions.id"))
    kind: Mapped[str] = mapped_column(String(16))  # comment | score | decision | status
    author: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    body: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Verdict(Base):
    """One evaluation of a condition against the baseline: the side-by-side table and its outcome."""

    __tablename__ = "verdicts"
    __table_args__ = (
        Index("ix_verdicts_pipeline_run", "pipeline_run_id"),
        Index("ix_verdicts_execution", "execution_id"),
        Index("ix_verdicts_model_version", "model_version_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    pipeline_run_id: Mapped[str | None] = mapped_column(ForeignKey("pipeline_runs.id"), nullable=True)
    node: Mapped[str | None] = mapped_column(String(255), nullable=True)
    execution_id: Mapped[str | None] = mapped_column(ForeignKey("executions.id"), nullable=True)
    model_version_id: Mapped[str | None] = mapped_column(ForeignKey("model_versions.id"), nullable=True)
    baseline_version_id: Mapped[str | None] = mapped_column(ForeignKey("model_versions.id"), nullable=True)
    baseline: Mapped[str | None] = mapped_column(Text, nullable=True)  # model://name/vN (alias)
    outcome: Mapped[str] = mapped_column(String(16))  # pass | fail | no-baseline
    rows: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
