"""WHERE executions run: ``local`` (threads driving subprocesses on this host); Ray to come."""

from assay.executors.local import LocalExecutor

__all__ = ["LocalExecutor"]
