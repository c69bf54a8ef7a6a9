"""Per-image Python environments: what a step's ``image`` means without a container engine.

``image: python:3.10`` selects the virtual environment ``.assay/envs/python-3.10-<hash>/``,
created on first use and kept. It sees the packages of the environment running Assay (a
``.pth`` file adds those site folders after its own), it is first on ``PATH`` inside the
execution, and ``pip`` in it installs into it: a step starting with
``pip install -r requirements.txt`` installs there once, and the second time it is a no-op.
The image name is recorded as declared, so a container engine can run the real image later
without changing any record.
"""

from __future__ import annotations

import fcntl
import hashlib
import re
import shlex
import shutil
import site
import sys
import venv
from pathlib import Path

READY = ".assay-ready"


def environment_dir(envs_dir: Path, image: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", image).strip("-")[:60] or "image"
    digest = hashlib.sha256(image.encode()).hexdigest()[:8]
    return envs_dir / f"{slug}-{digest}"


def ensure_environment(envs_dir: Path, image: str) -> Path:
    """The environment for ``image``, created once even when executions race for it."""
    path = environment_dir(envs_dir, image)
    if (path / READY).exists():
        return path
    envs_dir.mkdir(parents=True, exist_ok=True)
    with open(envs_dir / f"{path.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (path / READY).exists():
            _create(path, image)
    return path


def _create(path: Path, image: str) -> None:
    if path.exists():  # a half-made environment from an interrupted first use
        shutil.rmtree(path)
    builder = venv.EnvBuilder(system_site_packages=False, with_pip=False, symlinks=True, clear=False)
    builder.create(path)
    site_packages = _site_packages(path)
    lines = [f"import site; site.addsitedir({folder!r})" for folder in _host_site_folders()]
    (site_packages / "_assay_host_packages.pth").write_text("\n".join(lines) + "\n")
    for name in ("pip", "pip3"):
        shim = path / "bin" / name
        shim.write_text(f'#!/bin/sh\nexec {shlex.quote(str(path / "bin" / "python"))} -m pip "$@"\n')
        shim.chmod(0o755)
    (path / READY).write_text(f"image: {image}\n")


def _site_packages(env: Path) -> Path:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return env / "lib" / version / "site-packages"


def _host_site_folders() -> list[str]:
    """Site folders of the interpreter running Assay, its own first, then the base system's."""
    folders: list[str] = []
    candidates = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    candidates += site.getsitepackages()
    for folder in candidates:
        if folder not in folders and Path(folder).is_dir():
            folders.append(folder)
    return folders


def bin_dir(env: Path) -> Path:
    return env / "bin"
