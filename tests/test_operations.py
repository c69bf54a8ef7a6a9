"""The operations layer called directly, on a real catalog (SQLite; PostgreSQL when configured):
each operation checks the actor's role before it reads or changes anything, a refusal changes
nothing, and a dataset upload streams into the store without holding a file in memory."""

from __future__ import annotations

import hashlib
import io
import json
import resource
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from assay.catalog import Catalog, models
from assay.catalog import datasets as datasets_catalog
from assay.catalog import executions as executions_catalog
from assay.catalog.executions import create_execution
from assay.catalog.projects import resolve_project
from assay.catalog.tables import Event
from assay.errors import InvalidRequest, NotFound, PermissionDenied, StorageError
from assay.operations import aliases, cards, datasets, events, executions, lineage, projects
from assay.operations import models as model_ops
from assay.operations.actor import Actor, Auth, Role
from assay.operations.workspace import Workspace
from tests.conftest import ProjectFactory

SPEC = """\
- step:
    name: train
    image: python:3.11
    command: python train.py
"""
MB = 1 << 20


@pytest.fixture
def workspace(catalog: Catalog, make_project: ProjectFactory) -> Workspace:
    """A project with model summarizer (v1, v2: pending) and dataset news/v1 (member-made)."""
    folder = make_project(SPEC)
    project_id = resolve_project(catalog, folder).id
    found = Workspace(catalog=catalog, project=folder, project_id=project_id)
    with catalog.transaction() as session:
        model = models.ensure_model(session, project_id, "summarizer", "trainer")
        for name, score in (("v1", 0.40), ("v2", 0.43)):
            models.create_version(session, model=model, name=name, files=[], actor="trainer",
                                  metrics={"rougeL": score}, tags=["news"])  # fmt: skip
    datasets.create_version_from_upload(
        found, _actor(found, Role.MEMBER), "news", [("a/first.txt", io.BytesIO(b"first\n"))], version="v1"
    )
    return found


def _actor(workspace: Workspace, role: Role | None, name: str | None = None) -> Actor:
    roles = {workspace.project_id: role} if role is not None else {"another-project": Role.ADMIN}
    return Actor(name=name or (role.value if role else "stranger"), auth=Auth.TOKEN, roles=roles)


def _recorded(workspace: Workspace) -> tuple[int, list[tuple[str, str]], dict[str, str]]:
    """What a refused call must leave as it was: the events, the statuses, the aliases."""
    with workspace.catalog.read() as session:
        count = session.scalar(select(func.count()).select_from(Event)) or 0
        model = models.get_model(session, workspace.project_id, "summarizer")
        statuses = [(v.name, v.status) for v in models.versions_of(session, model.id)]
    moved = aliases.show_aliases(workspace, Actor.local(), "model", "summarizer")
    return count, statuses, moved


def test_a_viewer_reads_everything(workspace: Workspace) -> None:
    viewer = _actor(workspace, Role.VIEWER)
    assert [m.name for m in model_ops.list_models(workspace, viewer)] == ["summarizer"]
    assert [v.version for v in model_ops.list_versions(workspace, viewer, "summarizer")] == ["v2", "v1"]
    card = model_ops.show_version(workspace, viewer, "summarizer/v2")
    assert card.status == "pending"
    assert card.metrics == {"rougeL": 0.43}
    compared = model_ops.compare_versions(workspace, viewer, "summarizer/v1", "summarizer/v2")
    assert compared.metrics[0]["delta"] == pytest.approx(0.03)
    assert [(t.tag, t.versions) for t in model_ops.model_tags(workspace, viewer, "summarizer")] == [
        ("news", 2)
    ]
    shown = datasets.show(workspace, viewer, "news/v1")
    assert isinstance(shown, datasets.DatasetVersionDetail)
    assert shown.files[0]["name"] == "a/first.txt"
    assert lineage.affected(workspace, viewer, "dataset://news/v1").model_versions == ()
    project = projects.show_project(workspace, viewer)
    assert (project.id, project.counts["models"], project.counts["datasets"]) == (workspace.project_id, 1, 1)


def test_views_give_the_json_the_catalog_describes_byte_for_byte(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Same keys, same order, same values: what the CLI printed before the operations existed."""
    from assay.catalog import lineage_graph, lineage_views, registry_views, views

    approver = _actor(workspace, Role.APPROVER)
    aliases.set_alias(workspace, approver, "model", "summarizer/v1", "production")
    flagged = datasets.flag(workspace, approver, "news/v1", reason="duplicates")
    with workspace.catalog.transaction() as session:
        execution = create_execution(
            session, project_id=workspace.project_id, step="train", image="python:3.11", command="true",
            parameters={"lr": 0.1}, inputs={}, execution_dir=str(tmp_path), actor="tester",
            log_path=str(tmp_path / "log"),
        )  # fmt: skip
    viewer = _actor(workspace, Role.VIEWER)
    pid = workspace.project_id
    with workspace.catalog.read() as session:
        model, v1 = models.resolve(session, pid, "summarizer/v1")
        _, v2 = models.resolve(session, pid, "summarizer/v2")
        dataset = datasets_catalog.get_dataset(session, pid, "news")
        news_v1 = datasets_catalog.resolve(session, pid, "news/v1")[1]
        row = executions_catalog.get_execution(session, pid, execution.counter)
        expected = [
            registry_views.describe_model_version(session, model, v1),
            registry_views.describe_model(session, model),
            [registry_views.describe_model(session, model, full=False)],
            [registry_views.describe_model_version(session, model, v2, full=False),
             registry_views.describe_model_version(session, model, v1, full=False)],
            registry_views.compare_model_versions(session, (model, v1), (model, v2)),
            registry_views.describe_alias_history(session, "model", model.id, model.name, None),
            registry_views.describe_dataset(session, dataset),
            registry_views.describe_dataset_version(session, dataset, news_v1),
            lineage_views.affected(session, pid, "dataset://news/v1"),
            lineage_views.show(session, pid, "model://summarizer/v1"),
            lineage_graph.graph(session, pid, "dataset://news/v1", "down", None),
            views.describe_execution(session, row),
            [views.describe_execution(session, row, full=False)],
        ]  # fmt: skip
    got = [
        model_ops.show_version(workspace, viewer, "summarizer/v1").to_json(),
        model_ops.show(workspace, viewer, "summarizer").to_json(),
        [m.to_json() for m in model_ops.list_models(workspace, viewer)],
        [v.to_json() for v in model_ops.list_versions(workspace, viewer, "summarizer")],
        model_ops.compare_versions(workspace, viewer, "summarizer/v1", "summarizer/v2").to_json(),
        aliases.alias_history(workspace, viewer, "model", "summarizer").to_json(),
        datasets.show(workspace, viewer, "news").to_json(),
        datasets.show(workspace, viewer, "news/v1").to_json(),
        lineage.affected(workspace, viewer, "dataset://news/v1").to_json(),
        lineage.show(workspace, viewer, "model://summarizer/v1").to_json(),
        lineage.graph(workspace, viewer, "dataset://news/v1").to_json(),
        executions.show_execution(workspace, viewer, f"#{execution.counter}").to_json(),
        [e.to_json() for e in executions.list_executions(workspace, viewer).executions],
    ]
    for shown, described in zip(got, expected, strict=True):
        assert json.dumps(shown, indent=2, default=str) == json.dumps(described, indent=2, default=str)
    assert flagged.to_json()["flag"]["reason"] == "duplicates"


@pytest.mark.parametrize(
    "attempt",
    [
        lambda w, a: model_ops.approve_version(w, a, "summarizer/v2", comment="fine"),
        lambda w, a: model_ops.reject_version(w, a, "summarizer/v2"),
        lambda w, a: aliases.set_alias(w, a, "model", "summarizer/v2", "production"),
        lambda w, a: cards.comment(w, a, "summarizer/v2", "looks good"),
        lambda w, a: cards.score(w, a, "summarizer/v2", rubric="tone", value=4),
        lambda w, a: datasets.flag(w, a, "news/v1", reason="duplicates"),
        lambda w, a: datasets.create_version_from_upload(
            w, a, "news", [("b.txt", io.BytesIO(b"b"))], version="v2"
        ),
        lambda w, a: executions.stop_execution(w, a, "latest", wait=0),
    ],
    ids=["approve", "reject", "alias-production", "comment", "score", "flag", "upload", "stop"],
)
def test_a_viewer_may_change_nothing(workspace: Workspace, attempt: object) -> None:
    before = _recorded(workspace)
    with pytest.raises(PermissionDenied, match=r"viewer may not .*needs the (member|approver) role"):
        attempt(workspace, _actor(workspace, Role.VIEWER))  # type: ignore[operator]
    assert _recorded(workspace) == before


def test_a_member_comments_and_moves_candidate_but_not_production(workspace: Workspace) -> None:
    member = _actor(workspace, Role.MEMBER)
    card = cards.comment(workspace, member, "summarizer/v2", "reads well")
    assert card.card[-1] == {**card.card[-1], "kind": "comment", "author": "member", "text": "reads well"}
    assert aliases.set_alias(workspace, member, "model", "summarizer/v2", "candidate").changed
    before = _recorded(workspace)
    for attempt in (
        lambda: model_ops.approve_version(workspace, member, "summarizer/v2"),
        lambda: aliases.set_alias(workspace, member, "model", "summarizer/v2", "production"),
        lambda: datasets.flag(workspace, member, "news/v1", reason="duplicates"),
    ):
        with pytest.raises(PermissionDenied, match="needs the approver role, and member is a member"):
            attempt()
    assert _recorded(workspace) == before


def test_an_approver_decides(workspace: Workspace) -> None:
    approver = _actor(workspace, Role.APPROVER, "ana")
    decided = model_ops.approve_version(workspace, approver, "summarizer/v2", comment="better")
    assert (decided.card.status, decided.card.status_by) == ("approved", "ana")
    change = aliases.set_alias(workspace, approver, "model", "summarizer/v2", "production", reason="ship")
    assert (change.move.to, change.move.by, change.changed) == ("model://summarizer/v2", "ana", True)
    flagged = datasets.flag(workspace, approver, "news/v1", reason="duplicates")
    assert flagged.flag.flagged_by == "ana"
    assert flagged.flag.active
    assert not datasets.unflag(workspace, approver, "news/v1", reason="fixed upstream").active
    held = aliases.alias_history(
        workspace, _actor(workspace, Role.VIEWER), "model", "summarizer", "production"
    )
    assert [m.to_json()["to"] for m in held.moves] == ["model://summarizer/v2"]


def test_no_role_on_the_project_reads_nothing(workspace: Workspace) -> None:
    stranger = _actor(workspace, None)
    for attempt in (
        lambda: model_ops.list_models(workspace, stranger),
        lambda: model_ops.show_version(workspace, stranger, "summarizer/v1"),
        lambda: datasets.list_datasets(workspace, stranger),
        lambda: executions.list_executions(workspace, stranger),
        lambda: lineage.show(workspace, stranger, "dataset://news/v1"),
        lambda: events.list_events(workspace, stranger),
        lambda: projects.show_project(workspace, stranger),
    ):
        with pytest.raises(PermissionDenied, match=r"stranger may not .* on this project"):
            attempt()


def test_events_page_by_cursor_and_filter(workspace: Workspace) -> None:
    viewer = _actor(workspace, Role.VIEWER)
    everything = events.list_events(workspace, viewer, limit=1000)
    assert everything.next_cursor is None
    assert len(everything.events) >= 4
    seen, cursor = [], None
    while True:
        page = events.list_events(workspace, viewer, after=cursor, limit=2)
        seen += [e.id for e in page.events]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [e.id for e in everything.events]
    created = events.list_events(workspace, viewer, kind="model.version.created")
    assert [e.subject for e in created.events] == ["model://summarizer/v1", "model://summarizer/v2"]
    with pytest.raises(InvalidRequest, match="1 to 1000"):
        events.list_events(workspace, viewer, limit=0)


def test_a_log_is_read_by_range_and_an_output_only_while_intact(workspace: Workspace, tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_bytes(b"line one\nline two\n")
    with workspace.catalog.transaction() as session:
        execution = create_execution(
            session, project_id=workspace.project_id, step="train", image="python:3.11", command="true",
            parameters={}, inputs={}, execution_dir=str(tmp_path), actor="tester", log_path=str(log),
        )  # fmt: skip
    viewer = _actor(workspace, Role.VIEWER)
    chunk = executions.read_log(workspace, viewer, f"#{execution.counter}", offset=5, limit=3)
    assert (chunk.data, chunk.next_offset, chunk.size, chunk.finished) == (b"one", 8, 18, False)
    assert executions.read_log(workspace, viewer, "latest", offset=8).data == b"\nline two\n"
    page = executions.list_executions(workspace, viewer, status="started")
    assert [e.counter for e in page.executions] == [execution.counter]
    with pytest.raises(NotFound, match=r"no output 'model\.bin'"):
        executions.open_output(workspace, viewer, "latest", "model.bin")
    with datasets.open_file(workspace, viewer, "news/v1", "a/first.txt") as download:
        assert b"".join(download.chunks()) == b"first\n"
    blob = workspace.store.backend.local_path(download.sha256)
    assert blob is not None
    blob.chmod(0o644)
    blob.write_bytes(b"tampered")
    with pytest.raises(StorageError, match="is corrupt"):
        datasets.open_file(workspace, viewer, "news/v1", "a/first.txt")


class Generated(io.RawIOBase):
    """``size`` bytes made as they are read: a test upload larger than memory should hold."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.block = hashlib.sha256(b"seed").digest() * (MB // 32)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        assert 0 < size <= 8 * MB, f"an upload must be read in chunks, not read({size})"
        taken = min(size, self.left, len(self.block))
        self.left -= taken
        return self.block[:taken]


def _digest(size: int) -> str:
    digest, stream = hashlib.sha256(), Generated(size)
    while chunk := stream.read(MB):
        digest.update(chunk)
    return digest.hexdigest()


def test_a_large_upload_streams_into_the_store(workspace: Workspace) -> None:
    size = 65 * MB + 17
    member = _actor(workspace, Role.MEMBER)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    try:
        made = datasets.create_version_from_upload(
            workspace, member, "news", iter([("big/part-1.bin", Generated(size))]), version="v2",
            from_version="v1", aliases=("candidate",),
        )  # fmt: skip
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * MB, f"the upload held {peak / MB:.1f} MB at its peak"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - peak_before < 32 * MB
    files = {f["name"]: f for f in made.files}
    assert set(files) == {"a/first.txt", "big/part-1.bin"}
    assert made.aliases == ("candidate",)
    assert (files["big/part-1.bin"]["size"], files["big/part-1.bin"]["sha256"]) == (size, _digest(size))


@pytest.mark.parametrize(
    "name", ["../x", "a/../../x", "/etc/passwd", "", "  ", "a//b", "./a", "a\\b", "a\x00b"]
)
def test_an_upload_with_a_bad_name_records_nothing(workspace: Workspace, name: str) -> None:
    before = events.list_events(workspace, Actor.local(), limit=1000).events
    files: Iterator[tuple[str, io.BytesIO]] = iter(
        [("fine.txt", io.BytesIO(b"ok")), (name, io.BytesIO(b"x"))]
    )
    with pytest.raises(InvalidRequest, match="nothing was recorded"):
        datasets.create_version_from_upload(
            workspace, _actor(workspace, Role.MEMBER), "news", files, version="v2"
        )
    assert events.list_events(workspace, Actor.local(), limit=1000).events == before
    shown = datasets.show(workspace, Actor.local(), "news")
    assert isinstance(shown, datasets.DatasetDetail)
    assert shown.version_count == 1


def test_an_upload_of_a_taken_version_or_twice_a_name_is_refused(workspace: Workspace) -> None:
    member = _actor(workspace, Role.MEMBER)
    with pytest.raises(Exception, match="exists already"):
        datasets.create_version_from_upload(
            workspace, member, "news", [("b", io.BytesIO(b"b"))], version="v1"
        )
    twice = [("b", io.BytesIO(b"1")), ("b", io.BytesIO(b"2"))]
    with pytest.raises(InvalidRequest, match="uploaded twice"):
        datasets.create_version_from_upload(workspace, member, "news", twice, version="v2")
    with pytest.raises(InvalidRequest, match="no file was uploaded"):
        datasets.create_version_from_upload(workspace, member, "news", [], version="v2")
