"""Assay: continuous retraining with deliberate promotion, on your own machines.

The public Python surface is what this module exports; everything else is internal.
"""

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
)

__version__ = "0.1.0"

__all__ = [
    "AssayError",
    "Conflict",
    "InvalidRequest",
    "NotFound",
    "PermissionDenied",
    "Problem",
    "SpecError",
    "StepFailed",
    "StorageError",
    "__version__",
]
