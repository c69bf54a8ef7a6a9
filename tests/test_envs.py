"""Image environments: declared in assay.yaml, built once per machine, isolated, safe in parallel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from assay.runtime import images
from tests.conftest import ProjectFactory, invoke, invoke_json, write_wheel


@pytest.fixture(autouse=True)
def _a_machine_of_its_own(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test here builds its environments in a cache of its own."""
    monkeypatch.setenv("ASSAY_ENVS", str(tmp_path / "envs"))


def _site_listing(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if "__pycache__" not in p.parts)


PARALLEL_PIP = """\
- step:
    name: install
    image: python:3.11
    command:
      - pip install --no-index --quiet ./tinypkg-0.1-py3-none-any.whl
      - python -c "import tinypkg, sys; print(tinypkg.VERSION, sys.prefix)"
- pipeline:
    name: both
    nodes:
      - {name: one, type: execution, step: install}
      - {name: two, type: execution, step: install}
    edges: []
"""


def test_parallel_pip_installs_in_one_image_both_succeed_and_leave_it_intact(
    cli: CliRunner, make_project: ProjectFactory
) -> None:
    project = make_project(PARALLEL_PIP, {"assay.yaml": "images:\n  python:3.11: {}\n"})
    write_wheel(project.root)
    code, output = invoke(cli, project.root, "envs", "build")
    assert code == 0, output
    (state,) = invoke_json(cli, project.root, "envs", "list")
    built = Path(state["path"])
    before = _site_listing(built)
    code, output = invoke(cli, project.root, "pipeline", "run", "both", "--slots", "2")
    assert code == 0, output
    assert output.count("0.1 ") == 2  # each execution imported the package it installed
    assert _site_listing(built) == before  # the image's environment is untouched
    run = invoke_json(cli, project.root, "pipeline", "show", "1")
    assert [n["status"] for n in run["nodes"]] == ["completed", "completed"]
    shown = invoke_json(cli, project.root, "executions", "show", "1")
    assert any("installed for this execution only" in p and "tinypkg==0.1" in p for p in shown["problems"])


def test_assays_own_packages_are_not_importable_and_a_missing_module_says_how_to_add_it(
    cli: CliRunner, make_project: ProjectFactory
) -> None:
    spec = """\
    - step: {name: leak, image: python:3.11, command: python -c 'import sqlalchemy'}
    """
    root = make_project(spec).root
    code, output = invoke(cli, root, "run", "leak")
    assert code == 6, output
    assert "No module named 'sqlalchemy'" in output
    assert "module 'sqlalchemy' is not in the environment of image 'python:3.11'" in output
    assert "assay envs build python:3.11" in output


def test_a_declared_environment_is_built_once_and_shared_by_a_second_project(
    cli: CliRunner, make_project: ProjectFactory
) -> None:
    spec = """\
    - step:
        name: use
        image: python:3.11
        command: python -c "import tinypkg; print('got', tinypkg.VERSION)"
    """
    settings = "images:\n  python:3.11:\n    requirements: [./tinypkg-0.1-py3-none-any.whl]\n"
    first = make_project(spec, {"assay.yaml": settings}).root
    second = make_project(spec, {"assay.yaml": settings}).root
    for root in (first, second):
        write_wheel(root)  # the same bytes in both: the same declaration
    code, output = invoke(cli, first, "run", "use")
    assert code == 0, output
    assert "building the environment of image 'python:3.11'" in output
    assert "got 0.1" in output
    manifest = Path(invoke_json(cli, first, "envs", "show", "python:3.11")["path"]) / images.MANIFEST
    built_at = manifest.stat().st_mtime_ns
    code, output = invoke(cli, second, "run", "use")
    assert code == 0, output
    assert "building" not in output  # the second project finds it built
    assert "got 0.1" in output
    assert manifest.stat().st_mtime_ns == built_at
    assert (
        invoke_json(cli, first, "envs", "show", "python:3.11")["path"]
        == invoke_json(cli, second, "envs", "show", "python:3.11")["path"]
    )
    # A changed declaration is another environment, built from it.
    write_wheel(second, version="0.2")
    (second / "assay.yaml").write_text(settings.replace("0.1", "0.2"))
    code, output = invoke(cli, second, "run", "use")
    assert code == 0, output
    assert "building" in output
    assert "got 0.2" in output


def test_envs_commands(cli: CliRunner, make_project: ProjectFactory) -> None:
    root = make_project(
        "- step: {name: a, image: python:3.11, command: 'true'}\n",
        {"assay.yaml": "images:\n  python:3.11: {}\n  tools:latest:\n    python: '3.11'\n"},
    ).root
    listed = {s["image"]: s for s in invoke_json(cli, root, "envs", "list")}
    assert set(listed) == {"python:3.11", "tools:latest"}
    assert listed["python:3.11"]["used_by"] == ["a"]
    assert not listed["python:3.11"]["built"]
    code, output = invoke(cli, root, "envs", "path", "python:3.11")
    assert code == 1
    assert "not built yet" in output
    code, output = invoke(cli, root, "envs", "build", "python:3.11")
    assert code == 0, output
    code, output = invoke(cli, root, "envs", "path", "python:3.11")
    assert code == 0
    path = Path(output.strip())
    assert (path / "bin" / "python").exists()
    shown = invoke_json(cli, root, "envs", "show", "python:3.11")
    assert any(p.startswith("pip==") for p in shown["packages"])
    code, output = invoke(cli, root, "envs", "show", "python:3.1")
    assert code == 2
    assert "did you mean 'python:3.11'?" in output
    code, output = invoke(cli, root, "envs", "remove", "python:3.11")
    assert code == 0, output
    assert not path.exists()


def test_the_requested_python_is_used_where_the_host_has_it_and_a_mismatch_is_said_once(
    cli: CliRunner, make_project: ProjectFactory
) -> None:
    spec = """\
    - step:
        name: old
        image: python:3.4
        command: python -c "import sys; print('py', sys.version_info[:2])"
    - step: {name: other, image: 'python:3.4', command: 'true'}
    - pipeline:
        name: p
        nodes:
          - {name: a, type: execution, step: old}
          - {name: b, type: execution, step: other}
        edges: []
    """
    root = make_project(spec).root
    code, output = invoke(cli, root, "pipeline", "run", "p")
    assert code == 0, output
    assert output.count("asks for Python 3.4, which this host does not have") == 1
    found = images.find_interpreter("3.9")
    if found is None:
        pytest.skip("this host has no Python 3.9 to check that a requested version is honoured")
    root = make_project(spec.replace("3.4", "3.9")).root
    code, output = invoke(cli, root, "run", "old")
    assert code == 0, output
    assert "py (3, 9)" in output
    assert "asks for Python" not in output


@pytest.mark.sandbox
def test_a_step_cannot_write_into_its_images_environment(
    cli: CliRunner, make_project: ProjectFactory, sandbox: Any
) -> None:
    if not sandbox.private:
        pytest.skip("no sandbox on this machine: nothing keeps the environment read-only")
    spec = """\
    - step:
        name: vandal
        image: python:3.11
        command: python -c "import sys; open(sys.argv[1] + '/x', 'w')" {parameter-value:target}
        parameters: [{name: target}]
    """
    root = make_project(spec).root
    code, output = invoke(cli, root, "envs", "build")
    assert code == 0, output
    target = Path(invoke_json(cli, root, "envs", "show", "python:3.11")["path"]) / "bin"
    code, output = invoke(cli, root, "run", "vandal", "--param", f"target={target}")
    assert code == 6, output
    assert "Read-only file system" in output
    assert not (target / "x").exists()
