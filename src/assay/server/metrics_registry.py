"""The counters behind ``/metrics`` (``metrics.py``), in the Prometheus text format 0.0.4."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from typing import Any

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
GATE_BUCKETS = (60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 24 * 3600.0, 7 * 24 * 3600.0)


class Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value

    def lines(self, name: str, labels: dict[str, str]) -> Iterable[str]:
        running = 0
        for bound, count in zip((*self.buckets, float("inf")), self.counts, strict=True):
            running += count
            le = "+Inf" if bound == float("inf") else _number(bound)
            yield f"{name}_bucket{_labels({**labels, 'le': le})} {running}"
        yield f"{name}_sum{_labels(labels)} {_number(self.total)}"
        yield f"{name}_count{_labels(labels)} {running}"


class Metrics:
    """The server's own counters (requests); the catalog's figures are read at each scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], Histogram] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, str(status))
        with self._lock:
            histogram = self._requests.get(key)
            if histogram is None:
                histogram = self._requests[key] = Histogram(LATENCY_BUCKETS)
            histogram.observe(seconds)

    def render(self, catalog_gauges: Any, scheduler_status: Any | None) -> str:
        lines = [
            "# HELP assay_http_request_duration_seconds Time to answer a request, by route template.",
            "# TYPE assay_http_request_duration_seconds histogram",
        ]
        with self._lock:
            for (method, route, status), histogram in sorted(self._requests.items()):
                labels = {"method": method, "route": route, "status": status}
                lines.extend(histogram.lines("assay_http_request_duration_seconds", labels))
        lines += [
            "# HELP assay_executions_running Executions running now.",
            "# TYPE assay_executions_running gauge",
            f"assay_executions_running {catalog_gauges.executions_running}",
            "# HELP assay_pipeline_runs Pipeline runs, by status.",
            "# TYPE assay_pipeline_runs gauge",
            *(f"assay_pipeline_runs{_labels({'status': s})} {n}" for s, n in catalog_gauges.runs_by_status),
            "# HELP assay_gate_wait_seconds Time from a gate's request to its decision.",
            "# TYPE assay_gate_wait_seconds histogram",
        ]
        gate_waits = Histogram(GATE_BUCKETS)
        for seconds in catalog_gauges.gate_waits:
            gate_waits.observe(seconds)
        lines.extend(gate_waits.lines("assay_gate_wait_seconds", {}))
        waiting = catalog_gauges.gates_waiting
        lines += [
            "# HELP assay_gates_waiting Gates waiting for a decision now.",
            "# TYPE assay_gates_waiting gauge",
            f"assay_gates_waiting {len(waiting)}",
            "# HELP assay_gate_waiting_seconds_max How long the longest-waiting gate has waited.",
            "# TYPE assay_gate_waiting_seconds_max gauge",
            f"assay_gate_waiting_seconds_max {_number(max(waiting, default=0.0))}",
        ]
        if scheduler_status is not None:
            for field in ("slots", "running", "queued"):
                lines += [
                    f"# HELP assay_scheduler_{field} The background scheduler's {field}.",
                    f"# TYPE assay_scheduler_{field} gauge",
                    f"assay_scheduler_{field} {int(getattr(scheduler_status, field))}",
                ]
        return "\n".join(lines) + "\n"


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escaped(value)}"' for key, value in labels.items()) + "}"


def _escaped(value: str) -> str:
    """A label value as the text format spells it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value)) + ".0"
