"""An execution's own Python environment: a thin layer over its image's built environment.

The image's environment (``runtime/images.py``) is built once and then only read. Each
execution gets a *layer*: a virtual environment of a few files in its own folder whose
``site-packages`` comes first and adds the image's after it (a ``.pth`` file). Its ``python``
and ``pip`` come first on ``PATH``, so a step's ``pip install`` writes into its layer only:
what the image already holds is "already satisfied" (nothing to do), anything else lands in the
layer and is gone when the execution ends. Parallel executions of one image therefore never
write into the same folder, and a step that installs nothing waits for nobody. Layers are
pooled (``LayerPool``): one that no step wrote into serves the next execution.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Mapping
from pathlib import Path

from assay.runtime.images import Environment, Progress, ensure, wanted
from assay.runtime.process import alive
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


_PTH = "_assay_image.pth"


def _pythons(environment: Environment) -> tuple[str, ...]:
    major, minor = environment.python_version.split(".")[:2]
    return ("python", "python3", f"python{major}.{minor}")


def _site(environment: Environment, layer: Path) -> Path:
    major, minor = environment.python_version.split(".")[:2]
    return layer / "lib" / f"python{major}.{minor}" / "site-packages"


def make_layer(environment: Environment, layer: Path) -> None:
    """Create a layer over ``environment`` at ``layer`` (a folder that does not exist yet)."""
    site = _site(environment, layer)
    for folder in (layer, layer / "bin", layer / "lib", site.parent, site):
        folder.mkdir()
    for name in _pythons(environment):
        os.symlink(environment.interpreter, layer / "bin" / name)
    (layer / "pyvenv.cfg").write_text(
        f"home = {os.path.dirname(environment.interpreter)}\n"
        "include-system-site-packages = false\n"
        f"version = {environment.python_version}\n"
    )
    (site / _PTH).write_text(f"import site; site.addsitedir({str(environment.site_packages)!r})\n")


def is_pristine(environment: Environment, layer: Path) -> bool:
    """Whether a layer holds exactly what ``make_layer`` put there (no execution wrote to it)."""
    try:
        top = {e.name for e in os.scandir(layer)}
        binaries = {e.name for e in os.scandir(layer / "bin")}
        site = {e.name for e in os.scandir(_site(environment, layer))}
    except OSError:
        return False
    return top == {"bin", "lib", "pyvenv.cfg"} and binaries == set(_pythons(environment)) and site == {_PTH}


class LayerPool:
    """Layers an execution may use while no other does: one per concurrent execution, reused.

    A layer is handed to one execution at a time; given back untouched (the step installed
    nothing), it serves the next execution of the same image, else it is deleted. So steps
    that install nothing pay for no layer after the first, and parallel executions still never
    share one. Layers live in ``.assay/layers/<pid>-<n>-<key>/`` until ``close`` (or until a
    later process finds their own process gone).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._free: dict[str, list[Path]] = {}
        self._lock = threading.Lock()
        self._made = 0
        self._swept = False

    def take(self, environment: Environment) -> Path:
        with self._lock:
            free = self._free.get(environment.key)
            if free:
                return free.pop()
            if not self._swept:
                self._swept = True
                _sweep_layers(self.folder)
            self._made += 1
            layer = self.folder / f"{os.getpid()}-{self._made}-{environment.key}"
        shutil.rmtree(layer, ignore_errors=True)
        layer.parent.mkdir(parents=True, exist_ok=True)
        make_layer(environment, layer)
        return layer

    def give_back(self, environment: Environment, layer: Path) -> None:
        if is_pristine(environment, layer):
            with self._lock:
                self._free.setdefault(environment.key, []).append(layer)
        else:
            shutil.rmtree(layer, ignore_errors=True)

    def close(self) -> None:
        with self._lock:
            layers = [layer for free in self._free.values() for layer in free]
            self._free.clear()
        for layer in layers:
            shutil.rmtree(layer, ignore_errors=True)


def _sweep_layers(folder: Path) -> None:
    """Remove layers whose process is gone (it ended without closing its pool)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        pid = entry.name.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not alive(int(pid)):
            shutil.rmtree(entry.path, ignore_errors=True)


def search_path(environment: Environment, layer: Path, host_path: str) -> str:
    """``PATH`` inside the execution: the layer, ``pip`` for the layer, the image, then the host."""
    return os.pathsep.join([str(layer / "bin"), str(environment.shims), str(environment.bin), host_path])


def installed_in_layer(environment: Environment, layer: Path) -> list[str]:
    """Distributions a step installed for itself (``name==version``), gone when it ends."""
    site = _site(environment, layer)
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
