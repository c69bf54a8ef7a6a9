"""Read models of the registry: models, model versions (with their cards), datasets and dataset
versions as JSON-able dicts. Every object carries its full reference (``model://name/v3``).

The ``describe_*`` functions work in the caller's session; the functions that take the
``Catalog`` (``owner_views``, ``model_version_view``, ``alias_at``, …) are what the layers
outside ``catalog/`` call: each opens its own read, or its one transaction, and returns the
dicts only::

    card = model_version_view(catalog, project_id, "summarizer/production")
    moves = alias_history(catalog, project_id, "model", "summarizer", "production")
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeGuard

from sqlalchemy import select
from sqlalchemy.orm import Session

from assay.catalog import aliases, datasets, executions, flags, models, verdicts
from assay.catalog.registry_tables import (
    Dataset,
    DatasetVersion,
    Model,
    ModelVersion,
    ModelVersionFile,
)
from assay.catalog.tables import Datum, Execution, PipelineRun
from assay.catalog.uris import LATEST, Ref
from assay.errors import InvalidRequest, NotFound

if TYPE_CHECKING:
    from assay.catalog.db import Catalog


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def describe_model(session: Session, model: Model, *, full: bool = True) -> dict[str, Any]:
    """The model; ``full`` adds its versions (newest first), else only their number."""
    versions = models.versions_of(session, model.id)
    names = {v.id: v.name for v in versions}
    current = aliases.current(session, models.KIND, model.id)
    latest = next((v for v in versions if v.status == models.APPROVED), None)
    view: dict[str, Any] = {
        "name": model.name,
        "uri": f"model://{model.name}",
        "description": model.description,
        "created_by": model.created_by,
        "created_at": _time(model.created_at),
        "aliases": {a: f"model://{model.name}/{names.get(v, v)}" for a, v in current.items()},
        "latest_approved": f"model://{model.name}/{latest.name}" if latest else None,
        "latest": f"model://{model.name}/{versions[0].name}" if versions else None,
        "version_count": len(versions),
    }
    if full:
        view["versions"] = [
            describe_model_version(session, model, v, full=False, current=current) for v in versions
        ]
    return view


def describe_model_version(
    session: Session,
    model: Model,
    version: ModelVersion,
    *,
    full: bool = True,
    current: dict[str, str] | None = None,  # the model's aliases, when the caller has them
) -> dict[str, Any]:
    if current is None:
        current = aliases.current(session, models.KIND, model.id)
    view: dict[str, Any] = {
        "uri": models.uri(model, version),
        "id": version.id,
        "model": model.name,
        "version": version.name,
        "counter": version.counter,
        "status": version.status,
        "aliases": sorted(a for a, v in current.items() if v == version.id),
        "tags": version.tags,
        "metrics": version.metrics,
        "created_at": _time(version.created_at),
        "created_by": version.created_by,
    }
    if not full:
        return view
    source = None
    if version.source_execution_id:
        execution = session.get_one(Execution, version.source_execution_id)
        source = {"ref": f"exec-{execution.id}", "counter": execution.counter, "step": execution.step}
    run = session.get(PipelineRun, version.pipeline_run_id) if version.pipeline_run_id else None
    view.update(
        {
            "status_by": version.status_by,
            "status_at": _time(version.status_at),
            "status_comment": version.status_comment,
            "release_note": version.release_note,
            "description": version.description,
            "properties": version.properties,
            "files": [_file(session, f) for f in models.files_of(session, version.id)],
            "source_execution": source,
            "pipeline_run": {"counter": run.counter, "pipeline": run.pipeline} if run else None,
            "inputs": _inputs_of(session, version.source_execution_id),
            "came_from": _came_from(session, version),
            "flags": flags.flags_of_version(session, version.id),
            "card": [
                {"kind": e.kind, "author": e.author, "at": _time(e.created_at), **e.body}
                for e in models.card_of(session, version.id)
            ],
            "verdicts": [
                verdicts.as_json(v) for v in verdicts.of_version(session, version.id, version.pipeline_run_id)
            ],
        }
    )
    return view


def model_version_view(catalog: Catalog, project_id: str, ref: str | Ref) -> dict[str, Any]:
    """The card of the version ``ref`` names (``summarizer/v2``, ``…/production``, ``…/latest``)."""
    with catalog.read() as session:
        return describe_model_version(session, *models.resolve(session, project_id, ref))


def model_version_views(
    catalog: Catalog, project_id: str, name: str, *, status: str | None = None, tag: str | None = None
) -> list[dict[str, Any]]:
    """The versions of model ``name``, newest first; only those of ``status`` or with ``tag``."""
    with catalog.read() as session:
        model = models.get_model(session, project_id, name)
        return [
            describe_model_version(session, model, v, full=False)
            for v in models.versions_of(session, model.id, status=status, tag=tag)
        ]


def model_version_at(
    catalog: Catalog, project_id: str, name: str, alias: str, when: datetime
) -> dict[str, Any]:
    """The card of the version ``alias`` of model ``name`` held at ``when``, with ``as_of`` saying
    so; ``InvalidRequest`` if ``alias`` is a version or ``latest``, ``NotFound`` if it held none."""
    with catalog.read() as session:
        model = models.get_model(session, project_id, name)
        if alias == LATEST or any(v.name == alias for v in models.versions_of(session, model.id)):
            raise InvalidRequest(
                f"model://{name}/{alias} is {'computed' if alias == LATEST else 'a version'}, "
                "not an alias; --at asks which version an alias held",
                hint=f"`assay models alias history {name}` lists the aliases and their moves",
            )
        held = _held_at(session, models.KIND, model.id, model.name, alias, when)
        _, version = models.resolve(session, project_id, held["version"] or "")
        view = describe_model_version(session, model, version)
    return {**view, "as_of": {"alias": held["uri"], "at": held["at"]}}


def edit_model_version(
    catalog: Catalog, project_id: str, ref: str, write: Callable[[Session, Model, ModelVersion], object]
) -> dict[str, Any]:
    """Resolve ``ref``, call ``write(session, model, version)``, and describe the version after,
    all in one transaction (for the catalog's own use cases: ``cards``, ``governance``)."""
    with catalog.transaction() as session:
        model, version = models.resolve(session, project_id, ref)
        write(session, model, version)
        return describe_model_version(session, model, version)


def _file(session: Session, entry: ModelVersionFile) -> dict[str, Any]:
    datum = session.get_one(Datum, entry.datum_id)
    return {"name": entry.name, "datum": f"datum://{datum.id}", "sha256": datum.sha256, "size": datum.size}


def _inputs_of(session: Session, execution_id: str | None) -> dict[str, list[str]]:
    """The references the producing execution received, as resolved when it ran."""
    if execution_id is None:
        return {}
    found: dict[str, list[str]] = {}
    for row in executions.execution_inputs(session, execution_id):
        refs = found.setdefault(row.input_name, [])
        if row.uri not in refs:
            refs.append(row.uri)
    return found


def _came_from(session: Session, version: ModelVersion) -> list[dict[str, Any]]:
    """The executions behind a version — its pipeline run's, up to the producer — with the
    dataset and model versions each received (full lineage walks come with catalog/lineage)."""
    if version.source_execution_id is None:
        return []
    source = session.get_one(Execution, version.source_execution_id)
    chain = [source]
    if source.pipeline_run_id is not None:
        chain = [*executions.run_executions_before(session, source.pipeline_run_id, source.counter), source]
    shown = []
    for execution in chain:
        refs = {
            name: [uri for uri in uris if uri.startswith(("dataset://", "model://"))]
            for name, uris in _inputs_of(session, execution.id).items()
        }
        shown.append(
            {
                "execution": f"exec-{execution.id}",
                "counter": execution.counter,
                "step": execution.step,
                "node": execution.pipeline_node,
                "inputs": {name: uris for name, uris in refs.items() if uris},
            }
        )
    return shown


def describe_dataset(session: Session, dataset: Dataset, *, full: bool = True) -> dict[str, Any]:
    """The dataset; ``full`` adds its versions (newest first), else only their number."""
    versions = datasets.versions_of(session, dataset.id)
    names = {v.id: v.name for v in versions}
    current = aliases.current(session, datasets.KIND, dataset.id)
    view: dict[str, Any] = {
        "name": dataset.name,
        "uri": f"dataset://{dataset.name}",
        "description": dataset.description,
        "created_by": dataset.created_by,
        "created_at": _time(dataset.created_at),
        "aliases": {a: f"dataset://{dataset.name}/{names.get(v, v)}" for a, v in current.items()},
        "latest": f"dataset://{dataset.name}/{versions[0].name}" if versions else None,
        "version_count": len(versions),
    }
    if full:
        view["versions"] = [
            describe_dataset_version(session, dataset, v, full=False, current=current) for v in versions
        ]
    return view


def owner_views(catalog: Catalog, project_id: str, kind: str) -> list[dict[str, Any]]:
    """Every model (``kind`` ``"model"``) or dataset (``"dataset"``) of the project, by name,
    each without its versions."""
    with catalog.read() as session:
        if kind == models.KIND:
            return [describe_model(session, m, full=False) for m in models.list_models(session, project_id)]
        return [describe_dataset(session, d, full=False) for d in datasets.list_datasets(session, project_id)]


def owner_view(catalog: Catalog, project_id: str, kind: str, name: str) -> dict[str, Any]:
    """The model or dataset ``name`` with its versions, newest first."""
    with catalog.read() as session:
        return _describe_owner(session, _owner(session, project_id, kind, name), full=True)


def _owner(session: Session, project_id: str, kind: str, name: str) -> Model | Dataset:
    if kind == models.KIND:
        return models.get_model(session, project_id, name)
    return datasets.get_dataset(session, project_id, name)


def _describe_owner(session: Session, owner: Model | Dataset, *, full: bool) -> dict[str, Any]:
    if isinstance(owner, Model):
        return describe_model(session, owner, full=full)
    return describe_dataset(session, owner, full=full)


def describe_dataset_version(
    session: Session,
    dataset: Dataset,
    version: DatasetVersion,
    *,
    full: bool = True,
    current: dict[str, str] | None = None,  # the dataset's aliases, when the caller has them
) -> dict[str, Any]:
    files = datasets.files_of(session, version.id)
    if current is None:
        current = aliases.current(session, datasets.KIND, dataset.id)
    view: dict[str, Any] = {
        "uri": datasets.uri(dataset, version),
        "id": version.id,
        "dataset": dataset.name,
        "version": version.name,
        "aliases": sorted(a for a, v in current.items() if v == version.id),
        "files": len(files),
        "size": sum(d.size for _, d in files),
        "tags": version.tags,
        "created_at": _time(version.created_at),
        "created_by": version.created_by,
    }
    if not full:
        return view
    source = None
    if version.source_execution_id:
        execution = session.get_one(Execution, version.source_execution_id)
        source = {"ref": f"exec-{execution.id}", "counter": execution.counter, "step": execution.step}
    base = session.get(DatasetVersion, version.from_version_id) if version.from_version_id else None
    view.update(
        {
            "files": [
                {"name": f.name, "datum": f"datum://{d.id}", "sha256": d.sha256, "size": d.size}
                for f, d in files
            ],
            "properties": version.properties,
            "source_execution": source,
            "from": datasets.uri(dataset, base) if base else None,
        }
    )
    return view


def dataset_version_view(catalog: Catalog, project_id: str, ref: str | Ref) -> dict[str, Any]:
    """The version ``ref`` names (``news/v2``, ``news/candidate``, ``news/latest``) with its files."""
    with catalog.read() as session:
        return describe_dataset_version(session, *datasets.resolve(session, project_id, ref))


def produced_by(session: Session, execution_id: str) -> dict[str, list[str]]:
    """The model and dataset versions an execution created, as references."""
    model_uris = [
        f"model://{m.name}/{v.name}"
        for v, m in session.execute(
            select(ModelVersion, Model)
            .join(Model, Model.id == ModelVersion.model_id)
            .where(ModelVersion.source_execution_id == execution_id)
        )
    ]
    dataset_uris = [
        f"dataset://{d.name}/{v.name}"
        for v, d in session.execute(
            select(DatasetVersion, Dataset)
            .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
            .where(DatasetVersion.source_execution_id == execution_id)
        )
    ]
    return {"model_versions": model_uris, "dataset_versions": dataset_uris}


def compare_model_versions(
    session: Session, first: tuple[Model, ModelVersion], second: tuple[Model, ModelVersion]
) -> dict[str, Any]:
    """Two versions side by side: every metric either has, with ``delta`` = second − first."""
    (model_a, version_a), (model_b, version_b) = first, second
    keys = sorted({*version_a.metrics, *version_b.metrics})
    rows = []
    for key in keys:
        a, b = version_a.metrics.get(key), version_b.metrics.get(key)
        delta = round(float(b) - float(a), 10) if _number(a) and _number(b) else None
        rows.append({"metric": key, "first": a, "second": b, "delta": delta})
    return {
        "first": describe_model_version(session, model_a, version_a, full=False),
        "second": describe_model_version(session, model_b, version_b, full=False),
        "metrics": rows,
        "tags": {
            "both": sorted(set(version_a.tags) & set(version_b.tags)),
            "first_only": sorted(set(version_a.tags) - set(version_b.tags)),
            "second_only": sorted(set(version_b.tags) - set(version_a.tags)),
        },
    }


def comparison(catalog: Catalog, project_id: str, first: str, second: str) -> dict[str, Any]:
    """``compare_model_versions`` of the versions ``first`` and ``second`` name."""
    with catalog.read() as session:
        return compare_model_versions(
            session, models.resolve(session, project_id, first), models.resolve(session, project_id, second)
        )


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _version_names(session: Session, kind: str, owner_id: str) -> dict[str, str]:
    if kind == models.KIND:
        return {v.id: v.name for v in models.versions_of(session, owner_id)}
    return {v.id: v.name for v in datasets.versions_of(session, owner_id)}


def describe_alias_history(
    session: Session, kind: str, owner_id: str, owner_name: str, name: str | None = None
) -> list[dict[str, Any]]:
    """Every move of the aliases of one model or dataset (or of alias ``name``), oldest first."""
    names = _version_names(session, kind, owner_id)

    def ref(version_id: str | None) -> str | None:
        return None if version_id is None else f"{kind}://{owner_name}/{names.get(version_id, version_id)}"

    return [
        {
            "alias": move.name,
            "uri": f"{kind}://{owner_name}/{move.name}",
            "at": _time(move.moved_at),
            "by": move.moved_by,
            "from": ref(move.previous_version_id),
            "to": ref(move.version_id),
            "reason": move.reason,
        }
        for move in aliases.history(session, kind, owner_id, name)
    ]


def describe_alias_at(
    session: Session, kind: str, owner_id: str, owner_name: str, name: str, when: datetime
) -> dict[str, Any]:
    """Where alias ``name`` pointed at ``when``: ``version`` is None if nowhere."""
    found = aliases.target_at(session, kind, owner_id, name, when)
    names = _version_names(session, kind, owner_id) if found else {}
    return {
        "alias": name,
        "uri": f"{kind}://{owner_name}/{name}",
        "at": when.isoformat(),
        "version": f"{kind}://{owner_name}/{names.get(found, found)}" if found else None,
    }


def alias_targets(catalog: Catalog, project_id: str, kind: str, name: str) -> dict[str, str]:
    """Alias → the version it points at now, of the model or dataset ``name``."""
    with catalog.read() as session:
        owner = _owner(session, project_id, kind, name)
        return dict(_describe_owner(session, owner, full=False)["aliases"])


def alias_history(
    catalog: Catalog, project_id: str, kind: str, name: str, alias: str | None = None
) -> list[dict[str, Any]]:
    """``describe_alias_history`` of the model or dataset ``name``; ``NotFound`` for an ``alias``
    it never had."""
    with catalog.read() as session:
        owner = _owner(session, project_id, kind, name)
        moves = describe_alias_history(session, kind, owner.id, owner.name, alias)
    if alias is not None and not moves:
        raise never_set(kind, owner.name, alias)
    return moves


def alias_at(
    catalog: Catalog, project_id: str, kind: str, name: str, alias: str, when: datetime
) -> dict[str, Any]:
    """Where ``alias`` of the model or dataset ``name`` pointed at ``when``; ``NotFound`` saying
    why if nowhere."""
    with catalog.read() as session:
        owner = _owner(session, project_id, kind, name)
        return _held_at(session, kind, owner.id, owner.name, alias, when)


def _held_at(
    session: Session, kind: str, owner_id: str, owner_name: str, alias: str, when: datetime
) -> dict[str, Any]:
    view = describe_alias_at(session, kind, owner_id, owner_name, alias, when)
    if view["version"] is not None:
        return view
    moves = describe_alias_history(session, kind, owner_id, owner_name, alias)
    if not moves:
        raise never_set(kind, owner_name, alias)
    first = moves[0]["at"]
    why = f"it was first set at {first}" if datetime.fromisoformat(first) > when else "it was removed by then"
    raise NotFound(
        f"{view['uri']} pointed at no version at {view['at']}: {why}",
        hint=f"`assay {kind}s alias history {owner_name} {alias}` lists its moves",
    )


def never_set(kind: str, name: str, alias: str) -> NotFound:
    return NotFound(
        f"{kind}://{name} has never had an alias {alias!r}",
        hint=f"`assay {kind}s alias history {name}` lists the moves of its aliases",
    )
