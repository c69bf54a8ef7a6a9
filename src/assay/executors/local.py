"""The local executor: up to N executions at once on this host, each through the runtime."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import MappingProxyType

from assay.engine.scheduler import LaunchContext, LaunchOutcome
from assay.engine.wiring import NodeLaunch, NodeResult
from assay.errors import AssayError
from assay.runtime import ExecutionRequest, Runtime, leftovers, run_execution
from assay.runtime.contract import PipelineContext
from assay.runtime.finish import ExecutionResult

NodeLineCallback = Callable[[str, str, str], None]  # (node, stream, line)


class LocalExecutor:
    def __init__(self, runtime: Runtime, slots: int, on_line: NodeLineCallback | None = None) -> None:
        self.runtime = runtime
        self.slots = max(1, slots)
        self.on_line = on_line
        self._stop = threading.Event()
        self._stop_reason: str | None = None  # why stop_all was called, when the caller said
        self._pool = ThreadPoolExecutor(max_workers=self.slots, thread_name_prefix="assay-slot")
        _ = runtime.project_id  # resolve once, before threads share the runtime

    def submit(self, launch: NodeLaunch, context: LaunchContext) -> Future[LaunchOutcome]:
        return self._pool.submit(self._run, launch, context)

    def _run(self, launch: NodeLaunch, context: LaunchContext) -> LaunchOutcome:
        if self._stop.is_set():
            return LaunchOutcome("stopped", None, message="stopped before it started", index=launch.index)
        on_line = self.on_line
        request = ExecutionRequest(
            step=launch.step,
            parameters=dict(launch.parameters),
            parameters_from_edges=launch.from_edges,
            inputs={name: list(uris) for name, uris in launch.inputs.items()},
            environment_variables=dict(launch.environment),
            pipeline=PipelineContext(
                context.run_id,
                context.run_counter,
                context.pipeline,
                context.node,
                context.attempt,
                launch.index,
            ),
            reuse=context.reuse,
            should_stop=self._should_stop,
            on_line=(lambda stream, line: on_line(context.node, stream, line)) if on_line else None,
        )
        try:
            result = run_execution(request, self.runtime)
        except AssayError as exc:
            return LaunchOutcome("error", None, message=exc.message, index=launch.index)
        except Exception as exc:  # noqa: BLE001 - one execution's failure must not stop the driver
            return LaunchOutcome("error", None, message=f"{type(exc).__name__}: {exc}", index=launch.index)
        message = result.message
        if result.status == "error":
            last = next((line for line in reversed(result.log_tail) if line.strip()), None)
            message = f"execution #{result.counter}: {result.message}" + (
                f" — {last.strip()}" if last else ""
            )
        return LaunchOutcome(
            result.status,
            result.execution_id,
            result.counter,
            message,
            result.reused,
            result.reuse_note,
            index=launch.index,
            result=node_result_of(result),
        )

    def stop_all(self, reason: str | None = None) -> None:
        """Stop every execution running or queued; ``reason`` is what they record."""
        if not self._stop.is_set():
            self._stop_reason = reason
        self._stop.set()

    def _should_stop(self) -> bool | str:
        return (self._stop_reason or True) if self._stop.is_set() else False

    def reap(self, execution_ids: list[str]) -> None:
        """Kill processes still running for these executions, then delete their folders."""
        for pid in leftovers.find(execution_ids):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(os.getpgid(pid), signal.SIGKILL)
        for execution_id in execution_ids:
            shutil.rmtree(self.runtime.project.executions_dir / execution_id, ignore_errors=True)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def node_result_of(result: ExecutionResult) -> NodeResult:
    """What an execution offers downstream, as the catalog would give it back (outputs by name)."""
    return NodeResult(
        parameters=MappingProxyType(dict(result.parameters)),
        metadata=MappingProxyType(dict(result.metadata)),
        outputs=tuple(sorted((o.name, o.datum_id) for o in result.outputs)),
        inputs=MappingProxyType(dict(result.input_files)),
        environment=MappingProxyType(dict(result.environment_variables)),
    )
