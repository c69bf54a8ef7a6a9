"""``/api/v1/projects/{project}/datasets``: datasets, versions, a new version from a streamed
upload (member), a file's bytes, flags (approver).

An upload is ``multipart/form-data``: the fields ``version`` (required), ``tag`` and
``alias`` (repeatable) and ``from`` first, then one ``files`` part per file, its filename the
file's path inside the version (``train/part-1.jsonl``). The parts are read from the request
as they arrive and each file is streamed into the store (``server/uploads.py``), so an upload
of any size holds a chunk or two in memory; a field after the first file is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, BinaryIO, cast

from anyio import from_thread, to_thread
from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from assay.errors import InvalidRequest
from assay.operations import datasets
from assay.operations.actor import Role
from assay.server.deps import CurrentActor, ProjectWorkspace
from assay.server.pagination import DEFAULT_LIMIT, Cursor, Limit
from assay.server.routes.answers import Document, Page, answer, page_after
from assay.server.routes.executions import streamed
from assay.server.uploads import MultipartReader, Part

router = APIRouter(prefix="/api/v1/projects/{project}/datasets", tags=["datasets"])

FIELDS = ("version", "tag", "alias", "from")


class DatasetPublic(Document):
    """A dataset with its versions and aliases (``assay datasets show NAME --json``)."""


class DatasetSummaryPublic(Document):
    """A dataset as ``assay datasets list --json`` lists it."""


class DatasetsPublic(Page):
    data: list[DatasetSummaryPublic]  # type: ignore[assignment]


class DatasetVersionPublic(Document):
    """A version and its files (``assay datasets show NAME/VERSION --json``)."""


class FlaggedPublic(Document):
    """The new ``flag``, the model versions it ``affected``, aliases ``demoted`` and ``left``."""


class FlagPublic(Document):
    """A flag: who set it and why, and whether and by whom it was lifted."""


class FlagCreate(BaseModel):
    reason: str = Field(min_length=1, max_length=10_000)
    demote: bool = Field(default=False, description="Move aliases off the versions built from it")


class UnflagCreate(BaseModel):
    reason: str = Field(min_length=1, max_length=10_000)


_UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "title": "DatasetVersionCreate",
                    "type": "object",
                    "required": ["version", "files"],
                    "properties": {
                        "version": {"type": "string", "description": "The new version's name: v3"},
                        "tag": {"type": "array", "items": {"type": "string"}},
                        "alias": {"type": "array", "items": {"type": "string"}},
                        "from": {"type": "string", "description": "Start from this version's files"},
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    },
                }
            }
        },
    }
}


@router.get("", summary="Datasets", response_model=DatasetsPublic)
def list_datasets(
    workspace: ProjectWorkspace, actor: CurrentActor, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> JSONResponse:
    found = [d.to_json() for d in datasets.list_datasets(workspace, actor)]
    return answer(page_after(found, lambda dataset: dataset["name"], cursor, limit))


@router.get("/{dataset}", summary="A dataset, its versions and aliases", response_model=DatasetPublic)
def show_dataset(workspace: ProjectWorkspace, actor: CurrentActor, dataset: str) -> JSONResponse:
    return answer(datasets.show(workspace, actor, _name(dataset)).to_json())


@router.post(
    "/{dataset}/versions",
    status_code=201,
    summary="A new version from a streamed multipart upload",
    response_model=DatasetVersionPublic,
    openapi_extra=_UPLOAD_SCHEMA,
)
async def create_version(
    workspace: ProjectWorkspace, actor: CurrentActor, dataset: str, request: Request
) -> JSONResponse:
    # NOTE: the operation checks the role too, but only once the fields are read: a caller who
    # may not create versions is refused before a byte of the upload is.
    actor.require(workspace.project_id, Role.MEMBER, "create a dataset version")
    body = request.stream()

    async def next_chunk() -> bytes:
        return await anext(body, b"")

    def pull() -> bytes:
        return from_thread.run(next_chunk)

    def create() -> dict[str, Any]:
        parts = MultipartReader.of(request.headers.get("content-type"), pull).parts()
        fields, first = _fields(parts)
        version = _one(fields, "version", required=True)
        created = datasets.create_version_from_upload(
            workspace, actor, _name(dataset), _files(first, parts), version=cast(str, version),
            tags=fields.get("tag", ()), from_version=_one(fields, "from"), aliases=fields.get("alias", ()),
        )  # fmt: skip
        return created.to_json()

    return answer(await to_thread.run_sync(create), 201)


def _fields(parts: Iterator[Part]) -> tuple[dict[str, list[str]], Part | None]:
    """The form fields before the first file, and that file's part (None: no file)."""
    fields: dict[str, list[str]] = {}
    for part in parts:
        if part.filename is not None:
            return fields, part
        if part.name not in FIELDS:
            raise InvalidRequest(
                f"an upload has no field {part.name!r}", hint=f"its fields: {', '.join(FIELDS)}"
            )
        fields.setdefault(part.name, []).append(part.text())
    return fields, None


def _one(fields: dict[str, list[str]], name: str, *, required: bool = False) -> str | None:
    given = fields.get(name, [])
    if len(given) > 1:
        raise InvalidRequest(f"the field {name!r} is given {len(given)} times; it takes one value")
    if required and not given:
        raise InvalidRequest(
            f"an upload needs the field {name!r} before its files", hint="e.g. version=v3, then the files"
        )
    return given[0] if given else None


def _files(first: Part | None, parts: Iterator[Part]) -> Iterator[tuple[str, BinaryIO]]:
    part = first
    while part is not None:
        if part.filename is None:
            raise InvalidRequest(
                f"the field {part.name!r} comes after a file; nothing was recorded",
                hint="send the fields (version, tag, alias, from) before the files",
            )
        if part.name != "files":
            raise InvalidRequest(f"a file comes as a `files` part, not {part.name!r}; nothing was recorded")
        yield part.filename, cast(BinaryIO, part.stream)
        part = next(parts, None)


@router.get(
    "/{dataset}/versions/{version}", summary="A version and its files", response_model=DatasetVersionPublic
)
def show_version(
    workspace: ProjectWorkspace, actor: CurrentActor, dataset: str, version: str
) -> JSONResponse:
    return answer(datasets.show_version(workspace, actor, _ref(dataset, version)).to_json())


@router.get(
    "/{dataset}/versions/{version}/files/{path:path}",
    summary="One file's bytes, streamed, checked against its digest first",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_file(
    workspace: ProjectWorkspace, actor: CurrentActor, dataset: str, version: str, path: str
) -> Response:
    return streamed(datasets.open_file(workspace, actor, _ref(dataset, version), path))


@router.post(
    "/{dataset}/versions/{version}/flag", status_code=201, summary="Flag it as flawed",
    response_model=FlaggedPublic,
)  # fmt: skip
def flag_version(
    workspace: ProjectWorkspace, actor: CurrentActor, dataset: str, version: str,
    body: Annotated[FlagCreate, Body()],
) -> JSONResponse:  # fmt: skip
    flagged = datasets.flag(workspace, actor, _ref(dataset, version), reason=body.reason, demote=body.demote)
    return answer(flagged.to_json(), 201)


@router.post("/{dataset}/versions/{version}/unflag", summary="Lift its flag", response_model=FlagPublic)
def unflag_version(
    workspace: ProjectWorkspace, actor: CurrentActor, dataset: str, version: str,
    body: Annotated[UnflagCreate, Body()],
) -> JSONResponse:  # fmt: skip
    return answer(datasets.unflag(workspace, actor, _ref(dataset, version), reason=body.reason).to_json())


def _name(dataset: str) -> str:
    name = dataset.removeprefix("dataset://")
    if "/" in name:
        raise InvalidRequest(f"{dataset!r} is not a dataset's name", hint="e.g. domain-news")
    return name


def _ref(dataset: str, version: str) -> str:
    if "/" in version or not version.strip():
        raise InvalidRequest(f"{version!r} is not a dataset version", hint="e.g. v2, latest or an alias")
    return f"dataset://{_name(dataset)}/{version}"
