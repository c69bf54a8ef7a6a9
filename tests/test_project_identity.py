"""A project is its id, not its folder's name: two folders called ``same`` on one shared catalog
are two projects; ``ASSAY_PROJECT`` joins one on purpose; a catalog made before project ids
(revision 0006, projects known by name) keeps working, its projects adopted by their folders."""

from __future__ import annotations

import json
import textwrap
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import func, insert, select, text
from typer.testing import CliRunner

from assay.catalog import HEAD_REVISION, Catalog
from assay.catalog.db import MIGRATIONS
from assay.catalog.executions import latest_metadata
from assay.catalog.projects import resolve_project
from assay.catalog.tables import ExecutionMetadata
from assay.catalog.tables import Project as ProjectRow
from assay.project import Project
from tests.conftest import invoke, invoke_json

SPEC = """\
- step:
    name: s
    image: python:3.11
    command: python who.py {parameters}
    parameters:
      - {name: who, type: string, default: nobody}
"""
WHO = """\
import json, sys
print(json.dumps({"who": sys.argv[1].removeprefix("--who=")}))
"""


def _folder(tmp_path: Path, *parts: str) -> Path:
    root = tmp_path.joinpath(*parts)
    root.mkdir(parents=True)
    (root / "valohai.yaml").write_text(textwrap.dedent(SPEC))
    (root / "who.py").write_text(WHO)
    return root


def _stored_id(root: Path) -> str:
    return (root / ".assay" / "project-id").read_text().strip()


def _run(cli: CliRunner, root: Path, who: str) -> None:
    code, output = invoke(cli, root, "run", "s", "-p", f"who={who}")
    assert code == 0, output


def _whos(cli: CliRunner, root: Path) -> list[str]:
    listed = invoke_json(cli, root, "executions", "list")
    return [
        invoke_json(cli, root, "executions", "show", str(e["counter"]))["metadata"]["who"] for e in listed
    ]


def _projects(database_url: str, name: str) -> list[str]:
    with Catalog.open(database_url) as catalog, catalog.read() as session:
        return list(session.scalars(select(ProjectRow.id).where(ProjectRow.name == name)))


def test_two_folders_with_the_same_name_are_two_projects_on_one_catalog(
    cli: CliRunner, tmp_path: Path, database_url: str
) -> None:
    first, second = _folder(tmp_path, "alice", "same"), _folder(tmp_path, "bob", "same")
    _run(cli, first, "alice")
    code, output = invoke(cli, second, "executions", "list")
    assert code == 0, output
    assert "ASSAY_PROJECT" in output  # told once that another project has this name, and how to join it
    assert _stored_id(first) in output
    _run(cli, second, "bob")
    _run(cli, second, "bob again")
    assert _whos(cli, first) == ["alice"]
    assert _whos(cli, second) == ["bob again", "bob"]  # numbered in its own project: #2, #1
    assert _stored_id(first) != _stored_id(second)
    assert sorted(_projects(database_url, "same")) == sorted([_stored_id(first), _stored_id(second)])
    code, output = invoke(cli, second, "executions", "list")
    assert "ASSAY_PROJECT" not in output  # said once only


def test_assay_project_joins_a_project_on_purpose(
    cli: CliRunner, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = _folder(tmp_path, "alice", "same"), _folder(tmp_path, "bob", "same")
    _run(cli, first, "alice")
    _run(cli, second, "bob")
    own = _stored_id(second)

    monkeypatch.setenv("ASSAY_PROJECT", _stored_id(first))  # by id
    assert _whos(cli, second) == ["alice"]
    _run(cli, second, "bob, in alice's project")
    assert _stored_id(second) == own  # joining is per command: the folder keeps its own id
    monkeypatch.setenv("ASSAY_PROJECT", _stored_id(first).upper())
    assert len(_whos(cli, second)) == 2

    monkeypatch.setenv("ASSAY_PROJECT", "same")  # by a name two projects have: refused, with their ids
    code, output = invoke(cli, second, "executions", "list")
    assert code == 4, output
    assert _stored_id(first) in output
    assert own in output

    monkeypatch.setenv("ASSAY_PROJECT", "00000000-0000-4000-8000-000000000000")
    code, output = invoke(cli, second, "executions", "list")
    assert code == 3, output
    assert "no project has this id" in output

    monkeypatch.setenv("ASSAY_PROJECT", "team")  # a new name: read nothing, record nothing...
    assert invoke_json(cli, first, "executions", "list") == []
    assert _projects(database_url, "team") == []
    _run(cli, first, "alice for the team")  # ... until the first write makes it
    assert _whos(cli, second) == ["alice for the team"]
    assert len(_projects(database_url, "team")) == 1

    monkeypatch.delenv("ASSAY_PROJECT")
    assert _whos(cli, first) == ["bob, in alice's project", "alice"]
    assert _whos(cli, second) == ["bob"]


def _catalog_at_0006(database_url: str) -> tuple[str, str]:
    """A catalog as revision 0006 left it: project "legacy" (by name) with two executions."""
    catalog = Catalog(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with catalog.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")
    project_id = "6f1c0a52-5d38-4c5e-9a57-0c1f3d0c0001"
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with catalog.transaction() as session:
        session.execute(
            text(
                "INSERT INTO projects (id, name, execution_counter, pipeline_counter, created_at) "
                "VALUES (:id, 'legacy', 0, 0, :at)"
            ),
            {"id": project_id, "at": start.replace(tzinfo=None) if catalog.dialect == "sqlite" else start},
        )
        # NOTE: rows as revision 0006 had them, written in SQL: today's create_execution writes
        # the columns of today's schema.
        ids = [str(uuid.uuid4()) for _ in range(2)]
        for counter, execution_id in enumerate(ids, start=1):
            session.execute(
                text(
                    "INSERT INTO executions (id, project_id, counter, step, status, image, command, "
                    "parameters, inputs, environment, problems, execution_dir, log_path, created_at, "
                    "reuse_facts) VALUES (:id, :project, :counter, 's', 'started', 'python:3.11', 'echo', "
                    "'{}', '{}', '{}', '[]', '', '', :at, '{}')"
                ),
                {"id": execution_id, "project": project_id, "counter": counter,
                 "at": start.replace(tzinfo=None) if catalog.dialect == "sqlite" else start},
            )  # fmt: skip
        session.execute(text("UPDATE projects SET execution_counter = 2"))
        events = [{"loss": 3.0, "epoch": 1}, {"loss": 2.0}, {"epoch": 2, "who": "legacy"}, {"loss": 1.0}]
        session.execute(
            insert(ExecutionMetadata),
            [
                {
                    "execution_id": ids[1],
                    "seq": seq,
                    "logged_at": start + timedelta(seconds=seq),
                    "data": data,
                }
                for seq, data in enumerate(events)
            ],
        )
        session.execute(text("UPDATE executions SET status = 'completed'"))
    assert catalog.revision() == "0006"
    catalog.close()
    return project_id, ids[1]


def test_a_catalog_made_before_project_ids_keeps_working(
    cli: CliRunner, tmp_path: Path, database_url: str
) -> None:
    legacy_id, second_execution = _catalog_at_0006(database_url)
    with Catalog.open(database_url) as catalog:  # migrated past 0007: the latest values backfilled
        assert catalog.revision() == HEAD_REVISION
        with catalog.read() as session:
            assert latest_metadata(session, second_execution) == {"loss": 1.0, "epoch": 2, "who": "legacy"}
            assert session.scalar(select(func.count()).select_from(ProjectRow)) == 1
    adopter, latecomer = _folder(tmp_path, "old", "legacy"), _folder(tmp_path, "new", "legacy")

    shown = invoke_json(cli, adopter, "executions", "show", "2")  # a read adopts the project...
    assert shown["metadata"] == {"loss": 1.0, "epoch": 2, "who": "legacy"}
    assert _stored_id(adopter) == legacy_id  # ... and the folder keeps its id from now on
    _run(cli, adopter, "after the upgrade")
    assert [e["counter"] for e in invoke_json(cli, adopter, "executions", "list")] == [3, 2, 1]

    code, output = invoke(cli, latecomer, "executions", "list")  # a second folder of that name:
    assert code == 0, output
    assert legacy_id in output  # a new project, and told how to join the adopted one
    _run(cli, latecomer, "elsewhere")
    assert _whos(cli, latecomer) == ["elsewhere"]
    assert _stored_id(latecomer) != legacy_id
    assert len(_projects(database_url, "legacy")) == 2


def test_commands_started_at_once_in_a_new_folder_agree_on_one_project(
    tmp_path: Path, database_url: str
) -> None:
    root = _folder(tmp_path, "fresh")
    folder = Project(root=root, name="fresh")
    found: list[str] = []
    with Catalog.open(database_url) as catalog:
        with catalog.transaction() as session:  # an unclaimed project of that name, to adopt
            session.execute(
                insert(ProjectRow).values(
                    id="6f1c0a52-5d38-4c5e-9a57-0c1f3d0c0002", name="fresh", execution_counter=0,
                    pipeline_counter=0, created_at=datetime.now(UTC),
                )
            )  # fmt: skip
        threads = [
            threading.Thread(target=lambda: found.append(resolve_project(catalog, folder).id))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with catalog.read() as session:
            rows = list(session.execute(select(ProjectRow.id, ProjectRow.claimed_at)))
    assert set(found) == {"6f1c0a52-5d38-4c5e-9a57-0c1f3d0c0002"}
    assert len(rows) == 1
    assert rows[0].claimed_at is not None
    assert json.dumps(_stored_id(root)) == json.dumps(found[0])
