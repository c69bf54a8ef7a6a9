"""Shared fixtures: real temp projects, real databases (SQLite always, PostgreSQL when asked)."""

from __future__ import annotations

import base64
import hashlib
import os
import textwrap
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from assay.artifacts import ArtifactStore
from assay.catalog import Catalog, normalize_url
from assay.project import Project
from assay.runtime import Runtime, Sandbox, choose_sandbox

PG_URL = os.environ.get("ASSAY_TEST_DATABASE_URL")

# NOTE: the CLI's consoles read COLUMNS when they are made, which is when assay.cli.context is
# first imported — at collection in one run, in a test in another. Wide from the start, so that
# no test depends on which came first (the `cli` fixture sets it too).
os.environ["COLUMNS"] = "200"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never see the developer's own Assay settings, nor a server they logged in to."""
    for name in (
        "ASSAY_DATABASE_URL",
        "ASSAY_STORE",
        "ASSAY_SANDBOX",
        "ASSAY_PROJECT",
        "ASSAY_URL",
        "ASSAY_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ASSAY_USER", "tester")
    monkeypatch.setenv("ASSAY_CONFIG", str(tmp_path_factory.getbasetemp() / "config" / "server.json"))


def _postgres_database() -> Iterator[str]:
    import psycopg

    assert PG_URL is not None
    name = f"assay_test_{uuid.uuid4().hex[:12]}"
    admin = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = normalize_url(PG_URL).rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind: SQLite always, PostgreSQL when configured."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    if not PG_URL:
        pytest.skip("ASSAY_TEST_DATABASE_URL is not set")
    yield from _postgres_database()


@pytest.fixture
def catalog(database_url: str) -> Iterator[Catalog]:
    opened = Catalog.open(database_url)
    yield opened
    opened.close()


ProjectFactory = Callable[..., Project]


@pytest.fixture
def make_project(tmp_path: Path) -> ProjectFactory:
    """Write a project folder: ``make_project(yaml, {"train.py": "..."})``."""
    counter = iter(range(1000))

    def make(spec: str, files: dict[str, str | bytes] | None = None, name: str | None = None) -> Project:
        root = tmp_path / (name or f"project{next(counter)}")
        root.mkdir(parents=True)
        (root / "valohai.yaml").write_text(textwrap.dedent(spec))
        for relative, content in (files or {}).items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(textwrap.dedent(content))
        return Project(root=root, name=root.name)

    return make


@pytest.fixture
def sandbox() -> Sandbox:
    """The best sandbox this machine has (bubblewrap on CI)."""
    return choose_sandbox("auto")


@pytest.fixture
def runtime_for(catalog: Catalog, sandbox: Sandbox) -> Callable[..., Runtime]:
    def make(project: Project, *, sandbox_mode: str | None = None, lines: list[str] | None = None) -> Runtime:
        from assay.spec.settings import load_settings

        warnings: list[str] = []
        runtime = Runtime(
            project=project,
            catalog=catalog,
            store=ArtifactStore.local(project.store_root),
            sandbox=choose_sandbox(sandbox_mode) if sandbox_mode else sandbox,
            actor="tester",
            on_line=(lambda _stream, line: lines.append(line)) if lines is not None else None,
            on_warning=warnings.append,
            settings=load_settings(project.root),
        )
        runtime.warnings = warnings  # type: ignore[attr-defined]
        return runtime

    return make


def write_wheel(folder: Path, name: str = "tinypkg", version: str = "0.1", body: str | None = None) -> Path:
    """A real, installable wheel of one module, written by hand (no network, no build backend)."""
    module = body if body is not None else f"VERSION = {version!r}\n"
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": module,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: assay-tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The real CLI, on the test's database, wide enough that lines are not cut."""
    monkeypatch.setenv("ASSAY_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


def invoke(cli: CliRunner, root: Path, *args: str) -> tuple[int, str]:
    """``assay -C ROOT ARGS…``: its exit code and everything it printed."""
    from assay.cli.app import app

    result = cli.invoke(app, ["-C", str(root), *args])
    return result.exit_code, result.output


def invoke_json(cli: CliRunner, root: Path, *args: str) -> Any:
    """``assay -C ROOT ARGS… --json``, which must succeed, parsed."""
    import json

    code, output = invoke(cli, root, *args, "--json")
    assert code == 0, output
    return json.loads(output)
