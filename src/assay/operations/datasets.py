"""Datasets and their versions: list, show, create (from files on this host, or from an upload
streamed into the store), download a file, flag and unflag. Reads need viewer, creating a
version member, flagging and unflagging approver (a flag marks models and can move aliases)::

    created = create_version(workspace, actor, "news", "v3", [Path("news/")], aliases=("candidate",))
    created = create_version_from_upload(workspace, actor, "news", request.files(), version="v4")
    with open_file(workspace, actor, "news/v3", "2026-03.jsonl") as download: ...
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from assay.errors import InvalidRequest, NotFound
from assay.operations.actor import Actor, Role
from assay.operations.downloads import Download, open_verified
from assay.operations.views import JSON, View, meta
from assay.operations.workspace import Workspace

KIND = "dataset"


@dataclass(frozen=True)
class DatasetVersionSummary(View):
    uri: str
    id: str
    dataset: str
    version: str
    aliases: tuple[str, ...]
    files: int  # how many
    size: int
    tags: JSON
    created_at: str | None
    created_by: str


@dataclass(frozen=True)
class DatasetVersionDetail(View):
    uri: str
    id: str
    dataset: str
    version: str
    aliases: tuple[str, ...]
    files: JSON  # [{"name", "datum", "sha256", "size"}]
    size: int
    tags: JSON
    created_at: str | None
    created_by: str
    properties: JSON
    source_execution: JSON
    from_: str | None = field(metadata=meta(key="from"))


@dataclass(frozen=True)
class DatasetSummary(View):
    name: str
    uri: str
    description: str | None
    created_by: str
    created_at: str | None
    aliases: JSON
    latest: str | None
    version_count: int


@dataclass(frozen=True)
class DatasetDetail(DatasetSummary):
    versions: tuple[DatasetVersionSummary, ...] = field(metadata=meta(view=DatasetVersionSummary))


@dataclass(frozen=True)
class Flag(View):
    id: str
    dataset: str | None
    reason: str
    flagged_by: str
    flagged_at: str
    active: bool
    lifted_by: str | None
    lifted_at: str | None
    lift_reason: str | None


@dataclass(frozen=True)
class Flagged(View):
    """A new flag, the model versions it marked, and the aliases ``demote`` moved or left."""

    flag: Flag = field(metadata=meta(view=Flag))
    affected: tuple[str, ...]
    demoted: JSON  # [{"model", "alias", "from", "to"}]
    left: JSON  # [{"model", "alias", "from", "note"}]


def list_datasets(workspace: Workspace, actor: Actor) -> tuple[DatasetSummary, ...]:
    actor.require(workspace.project_id, Role.VIEWER, "list datasets")
    from assay.catalog.registry_views import owner_views

    return DatasetSummary.many(owner_views(workspace.catalog, workspace.project_id, KIND))


def show(workspace: Workspace, actor: Actor, ref: str) -> DatasetDetail | DatasetVersionDetail:
    """A dataset (``news``: its versions and aliases) or a version (``news/v2``: its files)."""
    actor.require(workspace.project_id, Role.VIEWER, "show a dataset")
    from assay.catalog.registry_views import dataset_version_view, owner_view
    from assay.catalog.uris import parse_ref

    parsed = parse_ref(ref, KIND)
    if parsed.version:
        return DatasetVersionDetail.from_json(
            dataset_version_view(workspace.catalog, workspace.project_id, parsed)
        )
    return DatasetDetail.from_json(owner_view(workspace.catalog, workspace.project_id, KIND, parsed.name))


def show_version(workspace: Workspace, actor: Actor, ref: str) -> DatasetVersionDetail:
    actor.require(workspace.project_id, Role.VIEWER, "show a dataset version")
    from assay.catalog.registry_views import dataset_version_view

    return DatasetVersionDetail.from_json(dataset_version_view(workspace.catalog, workspace.project_id, ref))


def create_version(
    workspace: Workspace,
    actor: Actor,
    name: str,
    version: str,
    paths: Sequence[Path],
    *,
    tags: Sequence[str] = (),
    from_version: str | None = None,
    aliases: Sequence[str] = (),
) -> DatasetVersionDetail:
    """A new version from files and folders on this host (a folder: every file under it)."""
    actor.require(workspace.project_id, Role.MEMBER, "create a dataset version")
    from assay.runtime.datasets import NewDatasetVersion, create_dataset_version

    request = NewDatasetVersion(dataset=name, version=version, paths=tuple(paths), tags=tuple(tags),
                                from_version=from_version, aliases=tuple(aliases))  # fmt: skip
    uri = create_dataset_version(request, catalog=workspace.catalog, store=workspace.store,
                                 project_id=workspace.project_id, actor=actor.name)  # fmt: skip
    return show_version(workspace, actor, uri)


def create_version_from_upload(
    workspace: Workspace,
    actor: Actor,
    name: str,
    files: Iterable[tuple[str, BinaryIO]],
    *,
    version: str,
    tags: Sequence[str] = (),
    from_version: str | None = None,
    aliases: Sequence[str] = (),
) -> DatasetVersionDetail:
    """A new version from uploaded files: (relative path, binary stream) pairs, read as they come.

    Each stream is hashed while it is copied into the artifact store, one chunk at a time, so
    no file is ever held in memory. Names are checked before their bytes are read (a relative
    POSIX path: no ``..``, no leading ``/``, no empty part); a bad name, a repeated one or a
    stream that fails ends the upload with nothing recorded. (Blobs already stored by then stay
    in the store under their digest, referenced by nothing, as a failed execution's do.)
    """
    actor.require(workspace.project_id, Role.MEMBER, "create a dataset version")
    from assay.catalog import dataset_uploads
    from assay.catalog.uris import check_alias_name, check_version_name

    # NOTE: the checks `datasets create` makes, shared rather than copied; they are private to
    # runtime/datasets.py, which another change owns now (to be made public there).
    from assay.runtime.datasets import _base_ref, _dataset_name

    dataset_name = _dataset_name(name)
    check_version_name(KIND, version)
    for alias in aliases:
        check_alias_name(KIND, alias)
    base_ref = _base_ref(dataset_name, from_version)
    dataset_uploads.check_target(
        workspace.catalog, workspace.project_id, dataset_name, version, base=base_ref
    )
    stored: dict[str, tuple[str, int]] = {}
    for relative, stream in files:
        file_name = check_upload_name(relative)
        if file_name in stored:
            raise InvalidRequest(f"{file_name}: uploaded twice, so nothing was recorded",
                                 hint="each file of a version has one name")  # fmt: skip
        try:
            blob = workspace.store.put_stream(stream)
        except OSError as exc:
            raise InvalidRequest(
                f"{file_name}: the upload could not be read ({exc}); nothing was recorded"
            ) from exc
        stored[file_name] = (blob.sha256, blob.size)
    if not stored:
        raise InvalidRequest("no file was uploaded", hint="a dataset version holds one file or more")
    uri = dataset_uploads.record(
        workspace.catalog, workspace.project_id, dataset_name, version, stored, actor.name, tags=tags,
        base=base_ref, alias_names=aliases,
    )  # fmt: skip
    return show_version(workspace, actor, uri)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_upload_name(relative: str) -> str:
    """An uploaded file's name as recorded: a relative POSIX path that stays inside the version."""
    problem = None
    if not isinstance(relative, str) or not relative.strip():
        problem = "the name is empty"
    elif _CONTROL.search(relative):
        problem = "the name holds a control character"
    elif relative.startswith("/") or re.match(r"^[A-Za-z]:", relative):
        problem = "the name is an absolute path"
    elif "\\" in relative:
        problem = "the name holds a backslash; parts of a path are separated by /"
    elif any(part in ("", ".", "..") for part in relative.split("/")):
        problem = "a part of the path is empty, '.' or '..'"
    if problem is not None:
        raise InvalidRequest(
            f"uploaded file {relative!r}: {problem}; nothing was recorded",
            hint="name each file by a relative path inside the version, e.g. train/part-1.jsonl",
        )
    return relative


def open_file(workspace: Workspace, actor: Actor, ref: str, file_name: str) -> Download:
    """One file of a dataset version, opened after its bytes were checked against its digest."""
    actor.require(workspace.project_id, Role.VIEWER, "download a dataset file")
    version = show_version(workspace, actor, ref)
    found = next((f for f in version.files if f["name"] == file_name), None)
    if found is None:
        listed = ", ".join(f["name"] for f in version.files[:10])
        raise NotFound(f"{version.uri} has no file {file_name!r}",
                       hint=f"its files: {listed} (`assay datasets show {version.uri}`)")  # fmt: skip
    return open_verified(workspace.store, name=found["name"], datum=found["datum"], sha256=found["sha256"],
                         size=found["size"])  # fmt: skip


def flag(workspace: Workspace, actor: Actor, ref: str, *, reason: str, demote: bool = False) -> Flagged:
    """Flag a dataset version as flawed: every model version built from it is marked; with
    ``demote``, the aliases those versions hold move to the newest unaffected approved one."""
    actor.require(workspace.project_id, Role.APPROVER, "flag a dataset version")
    from assay.catalog.flags import flag_dataset_version

    return Flagged.from_json(
        flag_dataset_version(
            workspace.catalog,
            workspace.project_id,
            _full(ref),
            reason=reason,
            actor=actor.name,
            demote=demote,
        )
    )


def unflag(workspace: Workspace, actor: Actor, ref: str, *, reason: str) -> Flag:
    """Lift a dataset version's flag (recorded; the flag's history stays)."""
    actor.require(workspace.project_id, Role.APPROVER, "lift a dataset version's flag")
    from assay.catalog.flags import unflag_dataset_version

    return Flag.from_json(
        unflag_dataset_version(
            workspace.catalog, workspace.project_id, _full(ref), reason=reason, actor=actor.name
        )
    )


def _full(ref: str) -> str:
    return ref if ref.startswith("dataset://") else f"dataset://{ref}"
