"""Image environments: what a step's ``image`` means on a machine without a container engine.

An image name stands for a Python environment that the project *declares* in ``assay.yaml``::

    images:
      python:3.11:
        requirements-file: requirements.txt     # and/or requirements: [numpy==2.1.3, ./x.whl]
        python: "3.11"                          # or a path; default: the image name's version

An environment is built once from its declaration — a virtual environment of the requested
interpreter (``python:3.9`` → ``python3.9`` where the host has it), with ``pip install`` of what
is declared — and kept in a cache shared by every project on the machine (``ASSAY_ENVS``, by
default ``~/.cache/assay/envs``), keyed by a digest of the declaration and the contents of the
files it names. A changed declaration is a new key, so it is built anew; the same declaration
in two projects is one environment, built once. An undeclared image gets an environment with
its Python and pip only. Nothing of Assay's own environment is visible in any of them.

Executions never write into a built environment: each gets a layer of its own
(``runtime/envs.py``), so parallel ``pip install``s cannot corrupt it (docs/runtime.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assay.errors import InvalidRequest
from assay.spec.settings import ImageDeclaration

#: bumped when the layout of a built environment changes, so old ones are not used
FORMAT = 1
MANIFEST = "assay-environment.json"  # written last: its presence means "built"
SHIMS = "assay-bin"  # `pip` that installs into whichever environment `python` is
_PYTHON_IMAGE = re.compile(r"^(?:(?:docker\.io/)?library/)?python:(\d+(?:\.\d+)?)")

Progress = Callable[[str], None]


def cache_root() -> Path:
    """Where built environments live: ``$ASSAY_ENVS``, else the user's cache folder."""
    configured = os.environ.get("ASSAY_ENVS")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "assay" / "envs"


@dataclass(frozen=True)
class Wanted:
    """An image's declaration, made concrete: what to build, and the key it is kept under."""

    image: str
    declared: bool
    python: str | None  # a version ("3.9") or an interpreter's path; None: Assay's own
    requirements: tuple[str, ...]
    requirements_file: Path | None
    project_root: Path
    key: str

    @property
    def path(self) -> Path:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", self.image).strip("-")[:48] or "image"
        return cache_root() / f"{slug}-{self.key}"


@dataclass(frozen=True)
class Environment:
    """A built environment, as its manifest describes it."""

    image: str
    key: str
    path: Path
    python_version: str  # of the interpreter it runs, e.g. "3.11.7"
    interpreter: str  # that interpreter's real path
    requested: str | None  # what the declaration or the image name asked for
    notes: tuple[str, ...] = ()  # what a run should be told once (a Python mismatch…)
    manifest: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def site_packages(self) -> Path:
        major, minor = self.python_version.split(".")[:2]
        return self.path / "lib" / f"python{major}.{minor}" / "site-packages"

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    @property
    def shims(self) -> Path:
        return self.path / SHIMS


def wanted(image: str, declaration: ImageDeclaration | None, project_root: Path) -> Wanted:
    """What ``image`` should hold, per the project's declaration (or none), with its key.

    The key covers the requested Python, the requirements, and the bytes of every file they
    name (the requirements file, files it includes with ``-r``/``-c``, local wheels and sdists),
    so editing any of them means a new environment.
    """
    python = declaration.python if declaration and declaration.python else python_of_image(image)
    requirements = declaration.requirements if declaration else ()
    file = (
        project_root / declaration.requirements_file
        if declaration and declaration.requirements_file
        else None
    )
    if file is not None and not file.is_file():
        raise InvalidRequest(
            f"assay.yaml: images.{image}.requirements-file {declaration.requirements_file!r} "  # type: ignore[union-attr]
            f"does not exist in {project_root}",
            hint="name a pip requirements file inside the project folder",
        )
    facts = {
        "format": FORMAT,
        "python": python,
        "requirements": list(requirements),
        "files": _file_digests(requirements, file, project_root),
    }
    key = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]
    return Wanted(image, declaration is not None, python, requirements, file, project_root, key)


def python_of_image(image: str) -> str | None:
    """``python:3.9-slim`` → ``"3.9"``; other images name no Python."""
    found = _PYTHON_IMAGE.match(image.strip())
    return found.group(1) if found else None


def _file_digests(requirements: tuple[str, ...], file: Path | None, root: Path) -> dict[str, str]:
    digests: dict[str, str] = {}
    for requirement in requirements:
        _digest_local(requirement, root, digests)
    if file is not None:
        _digest_requirements_file(file, digests, depth=0)
    return digests


def _digest_requirements_file(file: Path, digests: dict[str, str], depth: int) -> None:
    digests[str(file)] = _sha256(file)
    if depth > 5:
        return
    for raw in file.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.split(" #", 1)[0].strip()
        included = re.match(r"^(?:-r|--requirement|-c|--constraint)[ =]\s*(\S+)", line)
        if included:
            nested = (file.parent / included.group(1)).resolve()
            if nested.is_file() and str(nested) not in digests:
                _digest_requirements_file(nested, digests, depth + 1)
        elif line and not line.startswith("-"):
            _digest_local(line, file.parent, digests)


def _digest_local(requirement: str, base: Path, digests: dict[str, str]) -> None:
    """A requirement that is a local file (a wheel, an sdist) counts by its bytes."""
    text = requirement.strip()
    if not (text.startswith((".", "/", "~")) or text.endswith((".whl", ".tar.gz", ".zip"))):
        return
    path = (base / Path(text).expanduser()).resolve()
    if path.is_file():
        digests[text] = _sha256(path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load(want: Wanted) -> Environment | None:
    """The built environment for ``want``, or None when it has not been built."""
    try:
        manifest = json.loads((want.path / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("format") != FORMAT or not Path(manifest.get("interpreter", "")).exists():
        return None  # an older layout, or its interpreter is gone: build it again
    return _environment(want.path, manifest)


def ensure(want: Wanted, on_progress: Progress | None = None) -> Environment:
    """The environment for ``want``, built first if need be; one builder at a time, the rest wait."""
    found = load(want)
    if found is not None:
        return found
    with _locked(want.path):
        found = load(want)
        if found is not None:
            return found
        return build(want, on_progress)


def build(want: Wanted, on_progress: Progress | None = None) -> Environment:
    """Build the environment from scratch (the caller holds its lock)."""
    say = on_progress or (lambda message: None)
    interpreter, version, notes = _interpreter(want)
    shutil.rmtree(want.path, ignore_errors=True)  # a half-made one from an interrupted build
    what = f"Python {version}" + (f", {len(want.requirements)} requirement(s)" if want.requirements else "")
    if want.requirements_file is not None:
        what += f", {want.requirements_file.name}"
    say(f"building the environment of image {want.image!r} ({what}) in {want.path}")
    started = time.monotonic()
    try:
        _run([interpreter, "-m", "venv", str(want.path)], want, "creating the virtual environment")
        packages = [*want.requirements]
        if want.requirements_file is not None:
            packages += ["-r", str(want.requirements_file)]
        if packages:
            pip = [str(want.path / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
            _run([*pip, *packages], want, "pip install")
        shims = want.path / SHIMS
        shims.mkdir()
        for name in ("pip", "pip3"):
            (shims / name).write_text('#!/bin/sh\nexec python -m pip "$@"\n')
            (shims / name).chmod(0o755)
    except BaseException:
        shutil.rmtree(want.path, ignore_errors=True)
        raise
    manifest = {
        "format": FORMAT,
        "image": want.image,
        "key": want.key,
        "requested": want.python,
        "python_version": version,
        "interpreter": interpreter,
        "requirements": list(want.requirements),
        "requirements_file": str(want.requirements_file) if want.requirements_file else None,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "built_for": str(want.project_root),
        "notes": notes,
    }
    partial = want.path / f"{MANIFEST}.part"
    partial.write_text(json.dumps(manifest, indent=2) + "\n")
    partial.replace(want.path / MANIFEST)
    say(f"built the environment of image {want.image!r} in {time.monotonic() - started:.0f} s")
    return _environment(want.path, manifest)


def remove(want: Wanted) -> bool:
    """Delete the built environment of ``want``; False when there was none."""
    with _locked(want.path):
        if not want.path.exists():
            return False
        shutil.rmtree(want.path)
        return True


def _environment(path: Path, manifest: Mapping[str, Any]) -> Environment:
    return Environment(
        image=manifest["image"],
        key=manifest["key"],
        path=path,
        python_version=manifest["python_version"],
        interpreter=manifest["interpreter"],
        requested=manifest.get("requested"),
        notes=tuple(manifest.get("notes", ())),
        manifest=manifest,
    )


def _run(argv: list[str], want: Wanted, what: str) -> None:
    try:
        done = subprocess.run(
            argv, cwd=want.project_root, capture_output=True, text=True, check=False, timeout=3600
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InvalidRequest(f"cannot build the environment of image {want.image!r}: {what}: {exc}") from exc
    if done.returncode != 0:
        lines = [line for line in (done.stdout + done.stderr).splitlines() if "is ignored" not in line]
        tail = "\n".join(f"    {line}" for line in lines[-12:])
        raise InvalidRequest(
            f"cannot build the environment of image {want.image!r}: {what} failed "
            f"(exit {done.returncode})\n{tail}",
            hint=f"fix images.{want.image} in assay.yaml (or the files it names); nothing was run",
        )


# -- interpreters ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Interpreter:
    path: str  # the real executable (a venv's base interpreter, not the venv's link)
    version: str


def own_interpreter() -> Interpreter:
    """The interpreter running Assay, seen from outside Assay's own virtual environment."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return Interpreter(os.path.realpath(base), platform.python_version())


def find_interpreter(request: str | None) -> Interpreter | None:
    """An interpreter for ``request``: a path, or a version such as ``3.9`` found on this host.

    Looked for as ``pythonX.Y`` on ``PATH``, in pyenv's versions, in /usr/bin and
    /usr/local/bin, each asked for its version (a pyenv shim of a version that is not
    active answers nothing and is passed over).
    """
    own = own_interpreter()
    if request is None:
        return own
    if "/" in request:
        return _probe(str(Path(request).expanduser()), None)
    if own.version == request or own.version.startswith(request + "."):
        return own
    for candidate in _candidates(request):
        found = _probe(candidate, request)
        if found is not None:
            return found
    return None


def _candidates(version: str) -> Iterator[str]:
    name = f"python{version}"
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if folder:
            yield os.path.join(folder, name)
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    if pyenv.is_dir():
        for installed in sorted(pyenv.iterdir(), reverse=True):
            if installed.name == version or installed.name.startswith(version + "."):
                yield str(installed / "bin" / name)
    for folder in ("/usr/local/bin", "/usr/bin"):
        yield os.path.join(folder, name)


def _probe(path: str, version: str | None) -> Interpreter | None:
    if not os.access(path, os.X_OK):
        return None
    code = (
        "import platform, sys; print(platform.python_version()); "
        "print(getattr(sys, '_base_executable', '') or sys.executable)"
    )
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        done = subprocess.run([path, "-c", code], capture_output=True, text=True, timeout=20, check=False)
        lines = done.stdout.split()
        if done.returncode == 0 and len(lines) == 2:
            found, executable = lines
            if version is None or found == version or found.startswith(version + "."):
                return Interpreter(os.path.realpath(executable), found)
    return None


def _interpreter(want: Wanted) -> tuple[str, str, list[str]]:
    """The interpreter to build with, and what to tell about it."""
    found = find_interpreter(want.python)
    if found is not None:
        return found.path, found.version, []
    if want.python is not None and "/" in want.python:
        raise InvalidRequest(
            f"assay.yaml: images.{want.image}.python is {want.python!r}, which is not a Python interpreter",
            hint='give the path of a python executable, or a version such as "3.11"',
        )
    own = own_interpreter()
    note = (
        f"image {want.image!r} asks for Python {want.python}, which this host does not have, so its "
        f"executions run Python {own.version}; install python{want.python} (or set "
        f"images.{want.image}.python in assay.yaml) and run `assay envs build --rebuild`"
    )
    return own.path, own.version, [note]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f"{path.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
