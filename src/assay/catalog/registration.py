"""From an execution's outputs to the catalog (valohai-compat.md §4.7), in the transaction that
records the outputs.

* ``valohai.model-versions`` — ``"model://NAME/"`` (the next number), ``"model://NAME/VERSION"``
  or ``{"model_uri", "model_version_tags", "model_release_note"}``: every file of one execution
  naming the same URI joins one new version.
* ``valohai.dataset-versions`` — ``"dataset://NAME/VERSION"`` or ``{"uri", "from",
  "start_fresh", "exclude", "targeting_aliases", "valohai.tags"}``.
* ``valohai.tags`` tag the files (and the model versions they form); other keys stay on the
  file, and on the version as its properties.

A version's metrics are the numbers among: the latest metadata of the executions that
completed earlier in the same pipeline run, then the producing execution's, then the files'
own metadata (later wins). Only a completed execution creates versions. An entry that cannot
be honoured is reported as a problem of the execution and changes nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from assay.catalog import aliases, datasets, executions, flags, models, promotion
from assay.catalog.tables import Datum, Execution
from assay.catalog.uris import Ref, parse_ref
from assay.errors import AssayError

MODEL_KEYS = ("valohai.model-versions", "model-versions")
DATASET_KEYS = ("valohai.dataset-versions", "dataset-versions")
MODEL_OBJECT = '{"model_uri": …, "model_version_tags": […], "model_release_note": …}'
RESERVED = {*MODEL_KEYS, *DATASET_KEYS, "valohai.tags", "valohai.alias"}


@dataclass
class _ModelGroup:
    ref: Ref
    files: dict[str, str] = field(default_factory=dict)  # name → datum id
    tags: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class _DatasetGroup:
    ref: Ref
    files: dict[str, str] = field(default_factory=dict)
    base: str | None = None
    start_fresh: bool = False
    exclude: set[str] = field(default_factory=set)
    targeting: set[str] = field(default_factory=set)
    tags: set[str] = field(default_factory=set)


def register_outputs(
    session: Session,
    execution: Execution,
    outputs: list[Datum],
    latest: Mapping[str, Any],
    *,
    status: str,
    actor: str,
    problems: list[str],
    promote_alias: str | None,
) -> list[str]:
    """Create the versions the outputs' metadata asks for; returns their URIs."""
    model_groups: dict[str, _ModelGroup] = {}
    dataset_groups: dict[str, _DatasetGroup] = {}
    for datum in outputs:
        meta = datum.file_metadata
        _collect_models(datum, _first(meta, MODEL_KEYS), model_groups, problems)
        _collect_datasets(datum, _first(meta, DATASET_KEYS), dataset_groups, problems)
    if not model_groups and not dataset_groups:
        return []
    if status != executions.COMPLETED:
        problems.append(f"no model or dataset version was created: the execution ended {status}")
        return []
    if models.by_execution(session, execution.id) or datasets.by_execution(session, execution.id):
        return []  # the same execution's outputs recorded again: its versions exist already
    created: list[str] = []
    for dataset_group in dataset_groups.values():
        try:
            with session.begin_nested():  # a version that cannot be made leaves nothing behind
                created.append(_create_dataset_version(session, execution, dataset_group, actor))
        except AssayError as exc:
            problems.append(f"{dataset_group.ref}: {exc.message}; no dataset version was created")
    if model_groups:
        base_metrics = _run_metrics(session, execution, latest)
        for group in model_groups.values():
            try:
                with session.begin_nested():
                    created.append(
                        _create_model_version(session, execution, group, base_metrics, actor, promote_alias)
                    )
            except AssayError as exc:
                problems.append(f"{group.ref}: {exc.message}; no model version was created")
    return created


def _first(meta: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in meta:
            return meta[key]
    return None


def _entries(value: Any) -> list[Any]:
    return [] if value is None else value if isinstance(value, list) else [value]


def _collect_models(datum: Datum, value: Any, groups: dict[str, _ModelGroup], problems: list[str]) -> None:
    for entry in _entries(value):
        where = f"output {datum.name}: valohai.model-versions"
        text, tags, note = entry, [], None
        if isinstance(entry, dict):
            text, tags, note = (
                entry.get("model_uri"),
                entry.get("model_version_tags", []),
                entry.get("model_release_note"),
            )
        if not isinstance(text, str) or not _strings(tags) or not isinstance(note, str | None):
            problems.append(f"{where}: {entry!r} is not a model URI or {MODEL_OBJECT}; ignored")
            continue
        try:
            ref = parse_ref(text, "model", scheme_required=True)
        except AssayError as exc:
            problems.append(f"{where}: {exc.message} ({exc.hint}); ignored")
            continue
        group = groups.setdefault(str(ref), _ModelGroup(ref))
        group.files[datum.name] = datum.id
        group.tags.update(tags, datum.tags)
        if note and note not in group.notes:
            group.notes.append(note)
        group.properties.update({k: v for k, v in datum.file_metadata.items() if k not in RESERVED})


def _collect_datasets(
    datum: Datum, value: Any, groups: dict[str, _DatasetGroup], problems: list[str]
) -> None:
    for entry in _entries(value):
        where = f"output {datum.name}: valohai.dataset-versions"
        options = entry if isinstance(entry, dict) else {"uri": entry}
        text = options.get("uri")
        try:
            if not isinstance(text, str):
                raise _bad(f"{entry!r} names no dataset URI")
            ref = parse_ref(text, "dataset", scheme_required=True)
            base = options.get("from")
            base_ref = None if base is None else parse_ref(str(base), "dataset", scheme_required=True)
            if base_ref is not None and base_ref.name != ref.name:
                raise _bad(f"'from' {base!r} is a version of another dataset")
            if not isinstance(options.get("start_fresh", False), bool):
                raise _bad("start_fresh must be true or false")
            lists = [options.get(k, []) for k in ("exclude", "targeting_aliases", "valohai.tags")]
            if not all(_strings(v) for v in lists):
                raise _bad("exclude, targeting_aliases and valohai.tags must be lists of strings")
        except AssayError as exc:
            problems.append(f"{where}: {exc.message}; ignored")
            continue
        group = groups.setdefault(str(ref), _DatasetGroup(ref))
        group.files[datum.name] = datum.id
        group.base = group.base or (str(base_ref) if base_ref else None)
        group.start_fresh = group.start_fresh or options.get("start_fresh") is True
        group.exclude.update(lists[0])
        group.targeting.update(lists[1])
        group.tags.update(lists[2])


def _bad(message: str) -> AssayError:
    return AssayError(message)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _create_dataset_version(session: Session, execution: Execution, group: _DatasetGroup, actor: str) -> str:
    project_id = execution.project_id
    dataset = datasets.ensure_dataset(session, project_id, group.ref.name, actor)
    files: dict[str, str] = {}
    base = None
    if group.base is not None:
        _, base = datasets.resolve(session, project_id, group.base)
        if not group.start_fresh:
            files = {f.name: f.datum_id for f, _ in datasets.files_of(session, base.id)}
    for name in group.exclude:
        files.pop(name, None)
    files.update(group.files)
    version = datasets.create_version(
        session, dataset=dataset, name=group.ref.version or None, files=files.items(), actor=actor,
        tags=group.tags, source_execution_id=execution.id, from_version=base,
    )  # fmt: skip
    for alias in sorted(group.targeting):
        aliases.move_alias(
            session, project_id=project_id, kind="dataset", owner_id=dataset.id, owner_name=dataset.name,
            name=alias, version_id=version.id, actor=actor, version_name=version.name,
            reason=f"targeting_aliases of execution #{execution.counter}",
        )  # fmt: skip
    return datasets.uri(dataset, version)


def _run_metrics(session: Session, execution: Execution, latest: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if execution.pipeline_run_id is not None:
        earlier = executions.run_executions_before(session, execution.pipeline_run_id, execution.counter)
        for other in earlier:
            values.update(executions.latest_metadata(session, other.id))
    values.update(latest)
    return values


def _create_model_version(
    session: Session,
    execution: Execution,
    group: _ModelGroup,
    base_metrics: Mapping[str, Any],
    actor: str,
    promote_alias: str | None,
) -> str:
    model = models.ensure_model(session, execution.project_id, group.ref.name, actor)
    metrics = {k: v for k, v in {**base_metrics, **group.properties}.items() if _number(v)}
    version = models.create_version(
        session, model=model, name=group.ref.version or None, files=group.files.items(), actor=actor,
        metrics=metrics, properties=group.properties, tags=group.tags,
        release_note="\n".join(group.notes) or None, source_execution_id=execution.id,
        pipeline_run_id=execution.pipeline_run_id,
    )  # fmt: skip
    flags.mark_new_version(session, execution.project_id, version, actor)
    if execution.pipeline_run_id is not None:
        promotion.version_created_in_run(session, model, version, promote_alias=promote_alias)
    return models.uri(model, version)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
