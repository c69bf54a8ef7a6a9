"""What ``import assay`` offers is exactly ``assay.__all__`` (as httpx tests its own)."""

from __future__ import annotations

import subprocess
import sys

import assay


def test_all_is_what_the_package_exports() -> None:
    public = {name for name in dir(assay) if not name.startswith("_")} - {
        "annotations",
        "TYPE_CHECKING",
        "Any",
    }
    submodules = {"errors", "client", "project", "spec", "catalog", "cli", "operations", "runtime", "engine",
                  "executors", "artifacts", "server"}  # fmt: skip
    assert sorted(public - submodules) == sorted(set(assay.__all__) - {"Client", "__version__"})
    for name in assay.__all__:
        assert getattr(assay, name) is not None, name


def test_the_client_is_exported_and_imported_only_when_used() -> None:
    from assay.client import Client

    assert assay.Client is Client
    probe = "import sys, assay; print('httpx' in sys.modules); assay.Client; print('httpx' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert shown.split() == ["False", "True"]
