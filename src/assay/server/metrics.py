"""Prometheus text at ``/metrics``: request latencies, executions running, pipeline runs by
status, how long gates wait, and the scheduler's slots. For a signed-in caller who holds a
role on any project (the figures are over every project, and name none).

Series (text format 0.0.4, written here; no client library)::

    assay_http_request_duration_seconds{method,route,status}   histogram (route: its template)
    assay_executions_running                                    gauge
    assay_pipeline_runs{status}                                 gauge
    assay_gate_wait_seconds                                     histogram, decided gates
    assay_gates_waiting                                         gauge
    assay_gate_waiting_seconds_max                              gauge, the longest pending wait
    assay_scheduler_slots / _running / _queued                  gauges, when the scheduler runs
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from assay.catalog.gauges import read_gauges
from assay.errors import PermissionDenied
from assay.server.deps import Context, CurrentActor

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

router = APIRouter(tags=["server"])


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
def metrics(request: Request, actor: CurrentActor, context: Context) -> PlainTextResponse:
    if not (actor.everything or actor.roles):
        raise PermissionDenied(f"{actor.name} holds no role on any project", hint="an admin grants roles")
    gauges = read_gauges(context.catalog)
    scheduler = getattr(request.app.state, "scheduler", None)
    status = scheduler.status() if scheduler is not None else None
    return PlainTextResponse(context.metrics.render(gauges, status), media_type=CONTENT_TYPE)
