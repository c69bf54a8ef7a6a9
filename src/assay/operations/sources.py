"""The code a run executes: a commit of the project's git repository, an uploaded working tree
(``--adhoc``), or — for a project without a repository, and on the CLI — the project's folder.

Under the project's ``.assay/sources/``::

    repository.git/       a bare clone of ``projects.repository``, fetched before each resolve
    commits/<sha>/        one detached ``git worktree`` per commit, made once and reused
    adhoc/<tree digest>/  one unpacked upload per tree

NOTE: ``git worktree`` rather than ``git archive``: a worktree carries its own ``.git``, so the
runtime's code snapshot asks git about *that* commit (its file list and SHA, recorded on each
execution), and never the enclosing project's repository, which ignores ``.assay/``; a
``git archive`` tree would have no git of its own. The bare clone is shared by every commit,
so a new commit costs one fetch and one checkout.

Only the code comes from there; the catalog, the store, and the project's ``assay.yaml`` (its
approval rules, which a commit under review must not be able to loosen) stay the workspace's.
"""

from __future__ import annotations

import fcntl
import hashlib
import re
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any

from assay.catalog import projects
from assay.errors import AssayError, InvalidRequest, NotFound
from assay.operations.workspace import Workspace
from assay.project import Project

#: the largest uploaded tree, unpacked
ADHOC_LIMIT_BYTES = 512 * 1024 * 1024
ADHOC_LIMIT_FILES = 100_000
_SHA = re.compile(r"^[0-9a-f]{40}$")
GIT_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class SourceRequest:
    """What a server run executes: ``ref`` of the repository (a branch, tag or SHA; None: the
    project's default ref, else the default branch's head), or ``adhoc``, an uploaded tarball."""

    ref: str | None = None
    adhoc: Path | None = None


@dataclass(frozen=True)
class Code:
    """The folder a run's code is in, as a ``Project`` for the runtime, and its record."""

    project: Project
    #: ``{"repository", "ref", "commit", "adhoc": False}`` or ``{"adhoc": True, "tree": digest}``;
    #: empty for the project's own folder
    source: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def root(self) -> Path:
        return self.project.root


def prepare(workspace: Workspace, request: SourceRequest | None) -> Code:
    """Resolve and check out the code a new run asks for (``None``: the project's folder)."""
    if request is None:
        return Code(workspace.project)
    if request.adhoc is not None:
        return _unpack(workspace, request.adhoc)
    origin = projects.code_origin(workspace.catalog, workspace.project_id)
    if not origin.repository:
        if request.ref:
            raise InvalidRequest(
                f"the project has no git repository, so there is no {request.ref!r} to run",
                hint="register the project's repository, or start the run without a ref",
            )
        return Code(workspace.project)
    ref = request.ref or origin.default_ref or "HEAD"
    commit = resolve(workspace, origin.repository, ref)
    return Code(
        _project(workspace, checkout(workspace, origin.repository, commit)),
        MappingProxyType({"repository": origin.repository, "ref": ref, "commit": commit, "adhoc": False}),
    )


def code_of(workspace: Workspace, source: Mapping[str, Any]) -> Code:
    """The code of a recorded run (its ``request["source"]``), checked out again if it went."""
    if not source:
        return Code(workspace.project)
    if source.get("adhoc"):
        folder = _sources(workspace) / "adhoc" / str(source.get("tree"))
        if not (folder / "valohai.yaml").is_file():
            raise NotFound(
                f"the uploaded tree {source.get('tree')} of this run is no longer on this host",
                hint="start the run again with --adhoc",
            )
        return Code(_project(workspace, folder), MappingProxyType(dict(source)))
    folder = checkout(workspace, str(source["repository"]), str(source["commit"]))
    return Code(_project(workspace, folder), MappingProxyType(dict(source)))


def resolve(workspace: Workspace, repository: str, ref: str) -> str:
    """The commit SHA ``ref`` names in ``repository`` now (after a fetch)."""
    with _locked(workspace):
        bare = _clone(workspace, repository)
        found = _git(bare, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
        if found.returncode != 0 and not ref.startswith("refs/"):
            found = _git(bare, "rev-parse", "--verify", "--quiet", f"refs/tags/{ref}^{{commit}}", check=False)
    if found.returncode != 0:
        raise NotFound(
            f"{repository} has no branch, tag or commit {ref!r}",
            hint="name a branch, a tag or a full commit SHA that the repository has",
        )
    return found.stdout.strip()


def checkout(workspace: Workspace, repository: str, commit: str) -> Path:
    """A folder holding ``commit`` (made once per commit; kept for the runs that use it)."""
    if not _SHA.match(commit):
        raise InvalidRequest(f"{commit!r} is not a commit SHA")
    folder = _sources(workspace) / "commits" / commit
    if (folder / ".git").exists():
        return folder
    with _locked(workspace):
        if (folder / ".git").exists():
            return folder
        bare = _clone(workspace, repository)
        _git(bare, "worktree", "prune")
        if folder.exists():
            shutil.rmtree(folder)  # a checkout a crash left half made
        folder.parent.mkdir(parents=True, exist_ok=True)
        _git(bare, "worktree", "add", "--detach", "--force", str(folder), commit)
    return folder


def _clone(workspace: Workspace, repository: str) -> Path:
    """The project's bare clone, fetched now (caller holds the lock)."""
    bare = _sources(workspace) / "repository.git"
    if not (bare / "HEAD").is_file():
        shutil.rmtree(bare, ignore_errors=True)
        bare.parent.mkdir(parents=True, exist_ok=True)
        _run(["git", "clone", "--bare", "--quiet", "--", repository, str(bare)])
    else:
        _git(bare, "fetch", "--quiet", "--prune", "--tags", "--", repository, "+refs/heads/*:refs/heads/*")
    return bare


def _unpack(workspace: Workspace, tarball: Path) -> Code:
    """Unpack an uploaded working tree, refusing what could write outside it."""
    staging = _sources(workspace) / "adhoc" / f".unpacking-{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    try:
        try:
            archive = tarfile.open(tarball)  # noqa: SIM115 - closed below
        except (tarfile.TarError, OSError) as exc:
            raise InvalidRequest(f"the uploaded tree is not a tar archive: {exc}") from None
        with archive:
            members = _checked_members(archive)
            archive.extractall(staging, members=members, filter="data")
        if not (staging / "valohai.yaml").is_file():
            raise InvalidRequest(
                "the uploaded tree has no valohai.yaml at its top",
                hint="upload the project's folder, with valohai.yaml at its root",
            )
        digest = tree_digest(staging)
        folder = staging.parent / digest
        if folder.exists():
            shutil.rmtree(staging)
        else:
            # git of its own, so the runtime's snapshot lists the tree's files (honouring its
            # .gitignore) and never asks the enclosing project's repository
            _run(["git", "init", "--quiet", str(staging)])
            staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Code(_project(workspace, folder), MappingProxyType({"adhoc": True, "tree": digest}))


def _checked_members(archive: tarfile.TarFile) -> list[tarfile.TarInfo]:
    kept: list[tarfile.TarInfo] = []
    total = 0
    for member in archive:
        path = PurePosixPath(member.name)
        if member.name.startswith("/") or path.is_absolute() or ".." in path.parts:
            raise InvalidRequest(
                f"the uploaded tree holds {member.name!r}, outside the tree",
                hint="upload relative paths only (tar -C DIR .)",
            )
        if member.islnk() or member.issym():
            target = PurePosixPath(member.linkname)
            base = path.parent if member.issym() else PurePosixPath()
            if target.is_absolute() or _escapes(base / target):
                raise InvalidRequest(
                    f"the uploaded tree's link {member.name!r} points outside it ({member.linkname!r})"
                )
        elif not (member.isfile() or member.isdir()):
            raise InvalidRequest(f"the uploaded tree holds {member.name!r}, which is not a file or folder")
        if path.parts[:1] in ((".git",), (".assay",)):
            continue  # another repository's state, or Assay's own: not code
        total += member.size
        if total > ADHOC_LIMIT_BYTES or len(kept) >= ADHOC_LIMIT_FILES:
            raise InvalidRequest(
                f"the uploaded tree is larger than {ADHOC_LIMIT_BYTES // 2**20} MiB or "
                f"{ADHOC_LIMIT_FILES} files",
                hint="leave data out of the tree: use inputs and datasets",
            )
        kept.append(member)
    return kept


def _escapes(path: PurePosixPath) -> bool:
    depth = 0
    for part in path.parts:
        depth += -1 if part == ".." else 0 if part in (".", "") else 1
        if depth < 0:
            return True
    return False


def tree_digest(root: Path) -> str:
    """sha256 over the tree's files (path, executable bit, content), independent of the archive
    (its order, its times); ``.git/`` and ``.assay/`` are not the tree's code and do not count."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if not p.is_dir()):
        relative = path.relative_to(root).as_posix()
        if relative.split("/", 1)[0] in (".git", ".assay"):
            continue
        content = path.readlink().as_posix().encode() if path.is_symlink() else path.read_bytes()
        mode = "l" if path.is_symlink() else "x" if path.stat().st_mode & 0o111 else "f"
        digest.update(f"{relative}\0{mode}\0{hashlib.sha256(content).hexdigest()}\n".encode())
    return digest.hexdigest()


def _project(workspace: Workspace, folder: Path) -> Project:
    return Project(root=folder, name=workspace.project.name, joins=workspace.project_id)


def _sources(workspace: Workspace) -> Path:
    return workspace.project.ensure_state_dir() / "sources"


@contextmanager
def _locked(workspace: Workspace) -> Iterator[None]:
    """One git operation at a time on the project's clone (across processes)."""
    lock_path = _sources(workspace) / "lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _git(bare: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run(["git", "--git-dir", str(bare), *args], check=check)


def _run(argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AssayError(
            f"git failed: {exc}", hint="is git installed, and the repository reachable?"
        ) from None
    if check and done.returncode != 0:
        raise AssayError(
            f"`{' '.join(argv[:4])} …` failed: {done.stderr.strip()[-500:]}",
            hint="check the project's repository URL and that this host can reach it",
        )
    return done
