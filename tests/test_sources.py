"""A run executes a commit of the project's git repository (a tag, a SHA, the default branch's
head) or an uploaded working tree, and every execution records which."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import select

from assay.catalog import Catalog, executions
from assay.catalog.pipelines import list_runs
from assay.catalog.projects import resolve_project, set_code_origin
from assay.catalog.tables import Execution
from assay.engine.wiring import RunRequest
from assay.errors import InvalidRequest, NotFound
from assay.operations import executions as executions_ops
from assay.operations import pipeline_runs
from assay.operations.actor import Actor
from assay.operations.sources import SourceRequest, tree_digest
from assay.operations.workspace import Workspace
from tests.conftest import ProjectFactory

SPEC = """\
- step:
    name: report
    image: python:3.11
    command: [python report.py]
- pipeline:
    name: one
    nodes: [{name: report, type: execution, step: report}]
    edges: []
"""
REPORT = 'import json; print(json.dumps({"version": open("version.txt").read().strip()}))\n'


def _git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    done = subprocess.run(
        ["git", "-C", str(repo), *identity, *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def repository(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A git repository with two commits: ``v1`` (tagged) and ``v2``, the head of ``main``."""
    repo = tmp_path / "code"
    repo.mkdir()
    _git(repo, "init", "--quiet", "--initial-branch=main")
    commits = {}
    for version in ("v1", "v2"):
        (repo / "valohai.yaml").write_text(SPEC)
        (repo / "report.py").write_text(REPORT)
        (repo / "version.txt").write_text(version)
        _git(repo, "add", "-A")
        _git(repo, "commit", "--quiet", "-m", version)
        commits[version] = _git(repo, "rev-parse", "HEAD")
        if version == "v1":
            _git(repo, "tag", "v1")
    (repo / "version.txt").write_text("uncommitted")  # never run: only commits are
    return repo, commits


def _workspace(catalog: Catalog, make_project: ProjectFactory, repository: Path | None) -> Workspace:
    project = make_project(SPEC, {"report.py": REPORT, "version.txt": "folder"})
    workspace = Workspace(catalog, project, resolve_project(catalog, project).id)
    if repository is not None:
        with catalog.transaction() as session:
            set_code_origin(session, workspace.project_id, str(repository), None)
    return workspace


def _ran(workspace: Workspace, source: SourceRequest) -> tuple[str, dict[str, object]]:
    view = pipeline_runs.start(workspace, Actor.local(), "one", RunRequest(), source=source)
    assert view.status == "completed", view.message
    with workspace.catalog.read() as session:
        found = list(session.scalars(select(Execution).where(Execution.pipeline_run_id == view.id)))
        assert len(found) == 1
        return executions.latest_metadata(session, found[0].id)["version"], dict(found[0].source)


def test_a_run_executes_a_tag_a_sha_or_the_default_branch(
    catalog: Catalog, make_project: ProjectFactory, repository: tuple[Path, dict[str, str]]
) -> None:
    repo, commits = repository
    workspace = _workspace(catalog, make_project, repo)
    assert _ran(workspace, SourceRequest(ref="v1")) == (
        "v1", {"repository": str(repo), "ref": "v1", "commit": commits["v1"], "adhoc": False}
    )  # fmt: skip
    assert _ran(workspace, SourceRequest(ref=commits["v2"])) == (
        "v2", {"repository": str(repo), "ref": commits["v2"], "commit": commits["v2"], "adhoc": False}
    )  # fmt: skip
    version, source = _ran(workspace, SourceRequest())
    assert (version, source["ref"], source["commit"]) == ("v2", "HEAD", commits["v2"])
    shown = executions_ops.show_execution(workspace, Actor.local(), "1").to_json()
    assert shown["source"] == {"repository": str(repo), "ref": "v1", "commit": commits["v1"], "adhoc": False}
    # a new commit on main is fetched before the ref is resolved
    (repo / "version.txt").write_text("v3")
    _git(repo, "commit", "--quiet", "-am", "v3")
    assert _ran(workspace, SourceRequest(ref="main"))[0] == "v3"
    checkouts = sorted(p.name for p in (workspace.project.state_dir / "sources" / "commits").iterdir())
    assert len(checkouts) == 3  # one per commit, reused
    with pytest.raises(NotFound, match="has no branch, tag or commit 'v9'"):
        pipeline_runs.start(workspace, Actor.local(), "one", RunRequest(), source=SourceRequest(ref="v9"))


def test_a_commits_own_assay_yaml_is_not_used_and_the_run_says_so(
    catalog: Catalog, make_project: ProjectFactory, repository: tuple[Path, dict[str, str]]
) -> None:
    repo, _ = repository
    workspace = _workspace(catalog, make_project, repo)
    view = pipeline_runs.start(workspace, Actor.local(), "one", RunRequest(), source=SourceRequest(ref="v1"))
    assert not any("assay.yaml" in str(w) for w in view.detail.get("warnings", []))
    (repo / "assay.yaml").write_text("require-different-approver: false\n")
    _git(repo, "add", "assay.yaml")
    _git(repo, "commit", "--quiet", "-m", "loosen")
    view = pipeline_runs.start(
        workspace, Actor.local(), "one", RunRequest(), source=SourceRequest(ref="main")
    )
    assert any(
        "assay.yaml of the code this run executes is not used" in str(w) for w in view.detail["warnings"]
    )


def test_without_a_repository_the_folder_runs_as_today(
    catalog: Catalog, make_project: ProjectFactory
) -> None:
    workspace = _workspace(catalog, make_project, None)
    assert _ran(workspace, SourceRequest()) == ("folder", {})
    with pytest.raises(InvalidRequest, match="has no git repository"):
        pipeline_runs.start(workspace, Actor.local(), "one", RunRequest(), source=SourceRequest(ref="v1"))


def _tarball(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return path


def test_an_adhoc_tree_runs_and_is_recorded_with_its_digest(
    catalog: Catalog, make_project: ProjectFactory, repository: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    workspace = _workspace(catalog, make_project, repository[0])
    tree = {"valohai.yaml": SPEC.encode(), "report.py": REPORT.encode(), "version.txt": b"adhoc",
            ".git/config": b"[core]\n"}  # fmt: skip
    version, source = _ran(workspace, SourceRequest(adhoc=_tarball(tmp_path / "tree.tgz", tree)))
    unpacked = workspace.project.state_dir / "sources" / "adhoc" / str(source["tree"])
    assert version == "adhoc"
    assert source == {"adhoc": True, "tree": tree_digest(unpacked)}
    assert (
        not (unpacked / ".git" / "config").read_text().startswith("[core]\n\n")
    )  # its own, not the upload's


@pytest.mark.parametrize(
    ("members", "links", "refused"),
    [
        ({"valohai.yaml": b"x", "../escaped.txt": b"x"}, None, "outside the tree"),
        ({"valohai.yaml": b"x", "/tmp/absolute.txt": b"x"}, None, "outside the tree"),
        ({"valohai.yaml": b"x"}, {"data": "../../.."}, "points outside it"),
        ({"valohai.yaml": b"x"}, {"data": "/etc"}, "points outside it"),
    ],
)
def test_an_adhoc_tree_that_would_write_outside_itself_is_refused(
    catalog: Catalog, make_project: ProjectFactory, tmp_path: Path, members: dict[str, bytes],
    links: dict[str, str] | None, refused: str,
) -> None:  # fmt: skip
    workspace = _workspace(catalog, make_project, None)
    tarball = _tarball(tmp_path / "evil.tgz", members, links)
    with pytest.raises(InvalidRequest, match=refused):
        pipeline_runs.start(
            workspace, Actor.local(), "one", RunRequest(), source=SourceRequest(adhoc=tarball)
        )
    assert not (tmp_path / "escaped.txt").exists()
    with catalog.read() as session:
        assert list_runs(session, workspace.project_id) == []
    assert list((workspace.project.state_dir / "sources" / "adhoc").iterdir()) == []
