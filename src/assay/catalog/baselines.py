"""The baseline: the model version that holds the project's baseline alias (``production``
unless ``assay.yaml`` says otherwise) — what a candidate is compared with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from assay.catalog.db import Catalog
from assay.catalog.registry_tables import Alias, Model, ModelVersion
from assay.errors import InvalidRequest


@dataclass(frozen=True)
class Baseline:
    alias: str
    uri: str | None = None  # model://name/vN; None: no version holds the alias yet
    version_id: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"alias": self.alias, "model_version": self.uri, "metrics": self.metrics}


def read_baseline(catalog: Catalog, project_id: str, alias: str, model_name: str | None) -> Baseline:
    """``find_baseline`` in a read of its own."""
    with catalog.read() as session:
        return find_baseline(session, project_id, alias, model_name)


def find_baseline(session: Session, project_id: str, alias: str, model_name: str | None) -> Baseline:
    query = (
        select(Model, ModelVersion)
        .join(Alias, (Alias.owner_id == Model.id) & (Alias.kind == "model"))
        .join(ModelVersion, ModelVersion.id == Alias.version_id)
        .where(Model.project_id == project_id, Alias.name == alias)
    )
    if model_name is not None:
        query = query.where(Model.name == model_name)
    rows = list(session.execute(query))
    if not rows and model_name is not None:
        known = session.scalar(
            select(Model.id).where(Model.project_id == project_id, Model.name == model_name)
        )
        if known is None:
            raise InvalidRequest(
                f"assay.yaml names {model_name!r} as the baseline model, and there is no such model",
                hint="fix models.baseline-model in assay.yaml (`assay models list` shows the models)",
            )
    if not rows:
        return Baseline(alias)
    if len(rows) > 1:
        names = ", ".join(sorted(m.name for m, _ in rows))
        raise InvalidRequest(
            f"several models have a {alias!r} version ({names}); which is the baseline?",
            hint="name it in assay.yaml: models: {baseline-model: NAME}",
        )
    model, version = rows[0]
    return Baseline(alias, f"model://{model.name}/{version.name}", version.id, dict(version.metrics))
