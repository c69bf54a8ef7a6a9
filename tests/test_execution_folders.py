"""What executions share within one run — the code snapshot, spare folders, Python layers — is
never shared in a way one execution could see another's doing, and nothing of it outlives the run."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from assay.cli.app import app
from tests.conftest import ProjectFactory, write_wheel

CHAIN = """\
- step:
    name: first
    image: python:3.11
    command:
      - pip install --no-index --quiet ./tinypkg-0.1-py3-none-any.whl
      - python -c "import tinypkg; print('first has tinypkg')"
      - echo scratch > scratch.txt
- step:
    name: second
    image: python:3.11
    command:
      - python -c "import importlib.util as u; print('second sees tinypkg:', bool(u.find_spec('tinypkg')))"
      - ls
- pipeline:
    name: chain
    nodes:
      - {name: first, type: execution, step: first}
      - {name: second, type: execution, step: second}
    edges:
      - [first.dependency.*, second.dependency.*]
"""


def test_one_execution_never_sees_what_another_wrote_and_nothing_is_left(
    cli: CliRunner, make_project: ProjectFactory
) -> None:
    root = make_project(CHAIN).root
    write_wheel(root)
    state = root / ".assay"
    (state / "executions").mkdir(parents=True)
    gone = state / "executions" / ".spare-999999999-1"  # a spare of a process that died
    (gone / "valohai").mkdir(parents=True)
    result = cli.invoke(app, ["-C", str(root), "pipeline", "run", "chain", "--slots", "1"])
    assert result.exit_code == 0, result.output
    assert "first has tinypkg" in result.output
    # The second execution got a fresh layer (the first one's had a package in it) and a
    # fresh copy of the code (the first one wrote into its own).
    assert "second sees tinypkg: False" in result.output
    listed = result.output.split("second sees tinypkg: False", 1)[1]
    assert "scratch.txt" not in listed
    # After the command: no spare folder, no layer, no snapshot, no leftover code copies.
    assert not gone.exists()
    assert not [p for p in (state / "executions").iterdir() if p.name.startswith(".spare-")]
    assert not list((state / "layers").iterdir())
    assert not list((state / "snapshots").iterdir())
    for folder in (state / "executions").iterdir():
        assert sorted(p.name for p in (folder / "valohai").iterdir()) == ["config", "outputs"]
        config = json.loads((folder / "valohai" / "config" / "parameters.json").read_text())
        assert config == {}


def test_a_layer_nothing_wrote_to_serves_the_next_execution(
    cli: CliRunner, make_project: ProjectFactory
) -> None:
    three = """\
    - step: {name: s, image: python:3.11, command: 'python -c "import sys; print(sys.prefix)"'}
    - pipeline:
        name: p
        nodes:
          - {name: a, type: execution, step: s}
          - {name: b, type: execution, step: s}
          - {name: c, type: execution, step: s}
        edges:
          - [a.dependency.*, b.dependency.*]
          - [b.dependency.*, c.dependency.*]
    """
    root = make_project(three).root
    result = cli.invoke(app, ["-C", str(root), "pipeline", "run", "p"])
    assert result.exit_code == 0, result.output
    prefixes = {line.split("| ", 1)[1] for line in result.output.splitlines() if "| /" in line}
    assert len(prefixes) == 1, prefixes  # one layer, reused: nothing wrote into it
    (prefix,) = prefixes
    assert Path(prefix).parent == root / ".assay" / "layers"
    assert not Path(prefix).exists()  # and removed when the run ended
