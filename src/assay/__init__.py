"""Assay: continuous retraining with deliberate promotion, on your own machines.

The public Python surface is what this module exports; everything else is internal.
``Client`` (the REST API of an Assay server) is imported on first use: the CLI, which starts
with this module, does not pay for httpx unless it talks to a server.
"""

import typing as _typing

from assay.errors import (
    AssayError,
    Conflict,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    Problem,
    SpecError,
    StepFailed,
    StorageError,
    Unauthenticated,
)

if _typing.TYPE_CHECKING:
    from assay.client import Client

__version__ = "0.1.0"

__all__ = [
    "AssayError",
    "Client",
    "Conflict",
    "InvalidRequest",
    "NotFound",
    "PermissionDenied",
    "Problem",
    "SpecError",
    "StepFailed",
    "StorageError",
    "Unauthenticated",
    "__version__",
]


def __getattr__(name: str) -> object:
    if name == "Client":
        from assay.client import Client

        return Client
    raise AttributeError(f"module 'assay' has no attribute {name!r}")
