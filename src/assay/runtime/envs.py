"""An execution's own Python environment: a thin layer over its image's built environment.

The image's environment (``runtime/images.py``) is built once and then only read. Each
execution gets a *layer*: a virtual environment of a few files in its own folder whose
``site-packages`` comes first and adds the image's after it (a ``.pth`` file). Its ``python``
and ``pip`` come first on ``PATH``, so a step's ``pip install`` writes into its layer only:
what the image already holds is "already satisfied" (nothing to do), anything else lands in the
layer and is gone when the execution ends. Parallel executions of one image therefore never
write into the same folder, and a step that installs nothing waits for nobody.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from assay.runtime.images import Environment, Progress, ensure, wanted
from assay.spec.settings import ImageDeclaration

_MISSING = re.compile(r"ModuleNotFoundError: No module named '([^']+)'")


def environment_for(
    image: str, images: Mapping[str, ImageDeclaration], project_root: Path, on_progress: Progress | None
) -> tuple[Environment, list[str]]:
    """The built environment for ``image`` (built now if need be), and what to tell once per run."""
    declaration = images.get(image)
    environment = ensure(wanted(image, declaration, project_root), on_progress)
    notes = list(environment.notes)
    if declaration is None and environment.requested is None:
        notes.append(
            f"image {image!r} is not declared in assay.yaml (images:), so its executions get Python "
            f"{environment.python_version} with pip and nothing else; declare what the image provides "
            '(docs/runtime.md, "Image environments")'
        )
    return environment, notes


def make_layer(environment: Environment, layer: Path) -> None:
    """Create the execution's layer at ``layer`` (a folder that does not exist yet)."""
    major, minor = environment.python_version.split(".")[:2]
    site = layer / "lib" / f"python{major}.{minor}" / "site-packages"
    site.mkdir(parents=True)
    (layer / "bin").mkdir()
    for name in ("python", "python3", f"python{major}.{minor}"):
        os.symlink(environment.interpreter, layer / "bin" / name)
    (layer / "pyvenv.cfg").write_text(
        f"home = {os.path.dirname(environment.interpreter)}\n"
        "include-system-site-packages = false\n"
        f"version = {environment.python_version}\n"
    )
    (site / "_assay_image.pth").write_text(
        f"import site; site.addsitedir({str(environment.site_packages)!r})\n"
    )


def search_path(environment: Environment, layer: Path, host_path: str) -> str:
    """``PATH`` inside the execution: the layer, ``pip`` for the layer, the image, then the host."""
    return os.pathsep.join([str(layer / "bin"), str(environment.shims), str(environment.bin), host_path])


def installed_in_layer(environment: Environment, layer: Path) -> list[str]:
    """Distributions a step installed for itself (``name==version``), gone when it ends."""
    major, minor = environment.python_version.split(".")[:2]
    site = layer / "lib" / f"python{major}.{minor}" / "site-packages"
    try:
        names = sorted(entry.name for entry in os.scandir(site) if entry.name.endswith(".dist-info"))
    except OSError:
        return []
    return [name.removesuffix(".dist-info").replace("-", "==", 1) for name in names]


def missing_module_hint(image: str, log_lines: list[str] | tuple[str, ...]) -> str | None:
    """For a step that failed on an import: which image lacks the module, and how to add it."""
    for line in reversed(log_lines):
        found = _MISSING.search(line)
        if found:
            module = found.group(1).split(".")[0]
            return (
                f"module {module!r} is not in the environment of image {image!r}: add its package "
                f"to assay.yaml under `images: {{{image}: {{requirements: [...]}}}}` (or its "
                f"requirements-file), then `assay envs build {image}`; `assay envs show {image}` "
                "lists what it holds"
            )
    return None
