"""Inputs by URI: local paths, file://, folders, globs, http, datums and aliases, placed read-only."""

from __future__ import annotations

import functools
import http.server
import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from assay.catalog import executions as catalog_executions
from assay.errors import InvalidRequest
from assay.runtime import ExecutionRequest, Runtime, run_execution
from assay.spec import load_spec
from tests.conftest import ProjectFactory

RuntimeFactory = Callable[..., Runtime]

LISTER = """\
import json, os, stat
root = os.environ["VH_INPUTS_DIR"]
for folder, _, files in sorted(os.walk(root)):
    for name in sorted(files):
        path = os.path.join(folder, name)
        mode = stat.S_IMODE(os.stat(path).st_mode)
        print(os.path.relpath(path, root), open(path).read().strip(), oct(mode))
config = json.load(open(os.path.join(os.environ["VH_CONFIG_DIR"], "inputs.json")))
print(json.dumps({"inputs": {k: [f["name"] for f in v["files"]] for k, v in config.items()}}))
"""


def _spec(inputs: str, parameters: str = "") -> str:
    return (
        "- step:\n"
        "    name: s\n"
        "    image: python:3.11\n"
        "    command: python lister.py\n"
        f"    inputs:\n{inputs}" + (f"    parameters:\n{parameters}" if parameters else "")
    )


def _run(runtime: Runtime, **request: object) -> tuple[object, list[str]]:
    lines: list[str] = []
    runtime.on_line = lambda _stream, line: lines.append(line)
    spec = load_spec(runtime.project.spec_path)
    result = run_execution(ExecutionRequest(step=spec.steps["s"], **request), runtime)  # type: ignore[arg-type]
    assert result.status == "completed", lines
    return result, [line for line in lines if not line.startswith("{")]


@pytest.fixture
def web_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "web"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_local_paths_folders_globs_and_file_uris(
    make_project: ProjectFactory, runtime_for: RuntimeFactory, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("far")
    inputs = (
        "      - {name: single, default: data/a.txt}\n"
        "      - {name: folder, default: data/images, keep-directories: suffix}\n"
        "      - {name: globbed, default: 'data/**/*.png'}\n"
        f"      - {{name: uri, default: 'file://{outside}'}}\n"
        "      - {name: renamed, default: data/a.txt, filename: config.txt}\n"
        "      - {name: several, default: [data/a.txt, data/b.txt]}\n"
        "      - {name: full, default: data/images/cats/1.png, keep-directories: full}\n"
    )
    files = {
        "lister.py": LISTER,
        "data/a.txt": "A",
        "data/b.txt": "B",
        "data/images/cats/1.png": "cat",
        "data/images/dogs/2.png": "dog",
    }
    runtime = runtime_for(make_project(_spec(inputs), files))
    _, lines = _run(runtime)
    assert lines == [
        "folder/cats/1.png cat 0o444",
        "folder/dogs/2.png dog 0o444",
        "full/data/images/cats/1.png cat 0o444",
        "globbed/1.png cat 0o444",
        "globbed/2.png dog 0o444",
        "renamed/config.txt A 0o444",
        "several/a.txt A 0o444",
        "several/b.txt B 0o444",
        "single/a.txt A 0o444",
        "uri/outside.txt far 0o444",
    ]


def test_input_files_are_links_to_the_store_not_copies(
    make_project: ProjectFactory, runtime_for: RuntimeFactory
) -> None:
    script = """\
        import os
        path = os.path.join(os.environ["VH_INPUTS_DIR"], "data", "a.txt")
        print("links", os.stat(path).st_nlink)
    """
    project = make_project(
        "- step: {name: s, image: python:3.11, command: python s.py,"
        " inputs: [{name: data, default: a.txt}]}\n",
        {"s.py": script, "a.txt": "A"},
    )
    runtime = runtime_for(project)
    lines: list[str] = []
    runtime.on_line = lambda _stream, line: lines.append(line)
    spec = load_spec(project.spec_path)
    run_execution(ExecutionRequest(step=spec.steps["s"]), runtime)
    assert int(lines[0].split()[1]) >= 2  # the blob and the input share one inode


def test_http_inputs_are_downloaded_and_asked_for_again(
    make_project: ProjectFactory, runtime_for: RuntimeFactory, web_root: tuple[str, Path]
) -> None:
    base, root = web_root
    (root / "weights.bin").write_text("w1")
    runtime = runtime_for(
        make_project(
            _spec(f"      - {{name: model, default: '{base}/weights.bin?x=1'}}\n"), {"lister.py": LISTER}
        )
    )
    _, lines = _run(runtime)
    assert lines == ["model/weights.bin w1 0o444"]
    (root / "weights.bin").write_text("changed on the server")
    _, lines = _run(runtime)
    # revalidated on every use (tests/test_input_results.py): a changed file is never the old one
    assert lines == ["model/weights.bin changed on the server 0o444"]


def test_http_failure_is_a_clear_error(
    make_project: ProjectFactory, runtime_for: RuntimeFactory, web_root: tuple[str, Path]
) -> None:
    base, _ = web_root
    runtime = runtime_for(
        make_project(
            _spec(f"      - {{name: model, default: '{base}/missing.bin'}}\n"), {"lister.py": LISTER}
        )
    )
    with pytest.raises(InvalidRequest, match="404"):
        _run(runtime)
    with runtime.catalog.read() as session:
        assert catalog_executions.list_executions(session, runtime.project_id) == []


def test_datum_ids_aliases_and_parameters_in_uris(
    make_project: ProjectFactory, runtime_for: RuntimeFactory
) -> None:
    producer = """\
        import json, os
        out = os.environ["VH_OUTPUTS_DIR"]
        os.makedirs(os.path.join(out, "models"))
        open(os.path.join(out, "models", "m.txt"), "w").write("weights")
        sidecar = os.path.join(out, "models", "m.txt.metadata.json")
        json.dump({"valohai.alias": "best-model"}, open(sidecar, "w"))
    """
    yaml_text = "- step: {name: make, image: python:3.11, command: python make.py}\n" + _spec(
        "      - {name: by-alias, default: 'datum://{parameter:which}'}\n"
        "      - {name: by-id, optional: true}\n"
        "      - {name: kept, default: 'datum://best-model', keep-directories: full}\n",
        "      - {name: which, type: string, default: best-model}\n",
    )
    project = make_project(yaml_text, {"lister.py": LISTER, "make.py": producer})
    runtime = runtime_for(project)
    spec = load_spec(project.spec_path)
    made = run_execution(ExecutionRequest(step=spec.steps["make"]), runtime)
    (output,) = made.outputs
    result, lines = _run(runtime, inputs={"by-id": [f"datum://{output.datum_id}"]})
    assert lines == [
        "by-alias/m.txt weights 0o444",
        "by-id/m.txt weights 0o444",
        "kept/models/m.txt weights 0o444",
    ]
    with runtime.catalog.read() as session:
        execution = catalog_executions.get_execution(session, runtime.project_id, result.counter)  # type: ignore[attr-defined]
        used = catalog_executions.execution_inputs(session, execution.id)
        # the alias was resolved to the concrete datum at creation: lineage holds the datum itself
        assert {row.datum_id for row in used} == {output.datum_id}
        assert {row.uri for row in used} == {f"datum://{output.datum_id}"}


@pytest.mark.parametrize(
    ("inputs", "given", "message"),
    [
        ("      - {name: data}\n", {}, "input 'data' is required and has no default: give --input data=URI"),
        ("      - {name: data, default: nope.csv}\n", {}, "no such file or folder"),
        ("      - {name: data, default: a.txt}\n", {"dta": ["a.txt"]}, "has no input 'dta'"),
        (
            "      - {name: data, default: a.txt, filename: ../../escape.txt}\n",
            {},
            "would escape inputs/data/",
        ),
        (
            "      - {name: data, default: 'datum://no-such-alias'}\n",
            {},
            "no datum or datum alias 'no-such-alias'",
        ),
        ("      - {name: data, default: 's3://bucket/key.csv'}\n", {}, "s3:// inputs are not supported yet"),
        ("      - {name: data, default: 'data/{parameter:nope}.csv'}\n", {}, "names parameter 'nope'"),
        (
            "      - {name: data, default: [a.txt, sub/a.txt]}\n",
            {},
            "two different files would both be 'a.txt'",
        ),
    ],
)
def test_bad_inputs_are_refused_before_anything_runs(
    make_project: ProjectFactory,
    runtime_for: RuntimeFactory,
    inputs: str,
    given: dict[str, list[str]],
    message: str,
) -> None:
    project = make_project(_spec(inputs), {"lister.py": LISTER, "a.txt": "A", "sub/a.txt": "A2"})
    runtime = runtime_for(project)
    with pytest.raises(InvalidRequest) as raised:
        _run(runtime, inputs=given)
    assert message in raised.value.message
    assert raised.value.hint
    assert "nothing was run" in raised.value.hint
    with runtime.catalog.read() as session:
        assert catalog_executions.list_executions(session, runtime.project_id) == []
    assert not project.executions_dir.exists()


def test_optional_input_may_stay_empty(make_project: ProjectFactory, runtime_for: RuntimeFactory) -> None:
    runtime = runtime_for(
        make_project(_spec("      - {name: extra, optional: true}\n"), {"lister.py": LISTER})
    )
    _, lines = _run(runtime)
    assert lines == []


def test_store_files_are_read_only(make_project: ProjectFactory, runtime_for: RuntimeFactory) -> None:
    project = make_project(
        _spec("      - {name: data, default: a.txt}\n"), {"lister.py": LISTER, "a.txt": "A"}
    )
    _run(runtime_for(project))
    blobs = [p for p in (project.store_root / "sha256").rglob("*") if p.is_file()]
    assert blobs
    assert all(stat.S_IMODE(os.stat(p).st_mode) == 0o444 for p in blobs)
    assert (project.root / "a.txt").stat().st_mode & stat.S_IWUSR  # the user's own file is untouched
