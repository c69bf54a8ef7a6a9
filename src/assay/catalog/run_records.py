"""Pipeline runs as the use cases read and change them (``operations/pipeline_runs.py``,
``operations/gates.py``): one function per use case, each in a session of its own, returning
frozen records, never rows::

    run = run_record(catalog, project_id, 3)                 # RunRecord; NotFound names the listing
    shown = run_detail(catalog, project_id, 3, required=1)   # the record, its gates, describe_run
    run = record_run(catalog, NewRun(project_id, "train", ("a", "b"), text, request, "ana", ()))
    stopping = request_stop(catalog, project_id, run.id, "ana", "stopped by ana")  # False: it ended

The driver of a run keeps records of its own (``driven_runs.py``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from assay.catalog import approvals, datasets, models, pipelines
from assay.catalog.tables import PipelineRun
from assay.catalog.views import describe_run
from assay.errors import InvalidRequest, NotFound

if TYPE_CHECKING:
    from assay.catalog.db import Catalog


@dataclass(frozen=True)
class RunRecord:
    """A pipeline run as it was when read: what the use cases decide on and hand to
    ``executors.runs.drive`` (which reads its id, counter, pipeline, request and valohai.yaml)."""

    id: str
    project_id: str
    counter: int
    pipeline: str
    status: str
    message: str | None
    created_by: str
    #: the request as recorded (secret values masked), ``source`` and ``reuse`` included
    request: Mapping[str, Any]
    #: the valohai.yaml the run started with
    spec_text: str
    #: who drives it (``engine/lease.py``): ``{}`` when nothing does
    driver: Mapping[str, Any]


@dataclass(frozen=True)
class RunDetail:
    """A run, each of its gates with the approvals so far, and ``describe_run`` of it: one read."""

    record: RunRecord
    gates: Mapping[str, approvals.GateView]
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class NewRun:
    """A run to record: its nodes in order, its valohai.yaml, its request as recorded."""

    project_id: str
    pipeline: str
    nodes: tuple[str, ...]
    spec_text: str
    request: Mapping[str, Any]
    actor: str
    warnings: tuple[str, ...] = ()


def run_record(catalog: Catalog, project_id: str, ref: str | int) -> RunRecord:
    """By counter (``3``, ``#3``), id, or ``latest``."""
    with catalog.read() as session:
        return _record(pipelines.get_run(session, project_id, ref))


def run_detail(catalog: Catalog, project_id: str, ref: str | int, *, required: int) -> RunDetail:
    """``required``: the approvals a gate needs (``approvals.required``), shown with each gate."""
    with catalog.read() as session:
        run = pipelines.get_run(session, project_id, ref)
        return RunDetail(
            record=_record(run),
            gates=MappingProxyType(approvals.gates_of_run(session, run.id, required)),
            detail=describe_run(session, run),
        )


def run_summaries(
    catalog: Catalog, project_id: str, *, limit: int, before: int | None
) -> list[dict[str, Any]]:
    """``describe_run(full=False)`` of the project's runs, newest first, numbered below ``before``."""
    with catalog.read() as session:
        return [
            describe_run(session, run, full=False)
            for run in pipelines.list_runs(session, project_id, limit=limit, before=before)
        ]


def unfinished_runs(catalog: Catalog, project_id: str) -> list[str]:
    """Ids of the project's runs not yet ended, oldest first."""
    with catalog.read() as session:
        return pipelines.unfinished_run_ids(session, project_id)


def reference_problems(
    catalog: Catalog, project_id: str, uris: Sequence[str]
) -> list[InvalidRequest | NotFound | None]:
    """For each ``model://`` or ``dataset://`` URI, why it resolves to nothing (None: it resolves)."""
    found: list[InvalidRequest | NotFound | None] = []
    with catalog.read() as session:
        for uri in uris:
            try:
                if uri.startswith("model://"):
                    models.resolve(session, project_id, uri)
                else:
                    datasets.resolve(session, project_id, uri)
            except (InvalidRequest, NotFound) as exc:
                found.append(exc)
            else:
                found.append(None)
    return found


def record_run(catalog: Catalog, new: NewRun) -> RunRecord:
    """A new run (status ``running``, every node pending), in one transaction."""
    with catalog.transaction() as session:
        run = pipelines.create_run(
            session,
            project_id=new.project_id,
            pipeline=new.pipeline,
            nodes=list(new.nodes),
            spec_text=new.spec_text,
            request=copy.deepcopy(dict(new.request)),
            actor=new.actor,
            warnings=list(new.warnings),
        )
        return _record(run)


def request_stop(catalog: Catalog, project_id: str, run_id: str, actor: str, message: str) -> bool:
    """Mark the run ``stopping`` unless it has ended meanwhile (a compare-and-set); whether it did."""
    with catalog.transaction() as session:
        return pipelines.set_run_status(
            session,
            pipelines.get_run(session, project_id, run_id),
            pipelines.STOPPING,
            actor,
            message,
            only_from=(pipelines.RUNNING, pipelines.WAITING, pipelines.STOPPING, pipelines.FAILING),
        )


def _record(run: PipelineRun) -> RunRecord:
    return RunRecord(
        id=run.id,
        project_id=run.project_id,
        counter=run.counter,
        pipeline=run.pipeline,
        status=run.status,
        message=run.message,
        created_by=run.created_by,
        request=MappingProxyType(copy.deepcopy(dict(run.request or {}))),
        spec_text=run.spec_text,
        driver=MappingProxyType(dict(run.driver or {})),
    )
