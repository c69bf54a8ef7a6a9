"""HOW one execution runs: lay out the /valohai tree, write config files, build the command,
run it, stream logs, parse metadata, collect outputs. One entry point, used by every executor."""

from assay.runtime.execute import ExecutionRequest, run_execution
from assay.runtime.finish import ExecutionResult
from assay.runtime.runtime import Runtime
from assay.runtime.sandbox import Sandbox, choose_sandbox

__all__ = ["ExecutionRequest", "ExecutionResult", "Runtime", "Sandbox", "choose_sandbox", "run_execution"]
