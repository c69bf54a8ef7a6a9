"""One execution through the runtime: the Valohai contract, recorded in the catalog."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from assay.catalog import executions as catalog_executions
from assay.catalog.datums import get_datum, outputs_of
from assay.catalog.events import list_events
from assay.catalog.tables import Execution
from assay.errors import InvalidRequest, StorageError
from assay.project import Project
from assay.runtime import ExecutionRequest, Runtime, run_execution
from assay.spec import load_spec
from tests.conftest import ProjectFactory, write_wheel

RuntimeFactory = Callable[..., Runtime]

UTILS_YAML = """\
- step:
    name: train
    image: python:3.11
    command: python train.py {parameters}
    parameters:
      - {name: epochs, type: integer, default: 3}
      - {name: rate, type: float, default: 0.5}
      - {name: shuffle, type: flag, default: false}
    inputs:
      - {name: dataset, default: data/numbers.csv}
"""

UTILS_SCRIPT = """\
import json
import valohai

valohai.prepare(step="train", default_parameters={"epochs": 1, "rate": 0.1, "shuffle": True})
numbers = [int(line) for line in open(valohai.inputs("dataset").path())]
epochs = valohai.parameters("epochs").value
for epoch in range(epochs):
    with valohai.logger() as logger:
        logger.log("epoch", epoch)
        logger.log("loss", sum(numbers) / (epoch + 1))
path = valohai.outputs("model").path("model.json")
with open(path, "w") as handle:
    rate, shuffle = valohai.parameters("rate").value, valohai.parameters("shuffle").value
    json.dump({"rate": rate, "shuffle": shuffle}, handle)
print("inputs dir", valohai.inputs("dataset").dir_path())
"""


def _run(runtime: Runtime, step: str = "train", **request: object) -> object:
    spec = load_spec(runtime.project.spec_path)
    return run_execution(ExecutionRequest(step=spec.steps[step], **request), runtime)  # type: ignore[arg-type]


def _execution(runtime: Runtime, counter: int) -> Execution:
    with runtime.catalog.read() as session:
        return catalog_executions.get_execution(session, runtime.project_id, counter)


#: what the image of a project that uses valohai-utils provides (its requirements.txt, in Valohai)
UTILS_IMAGE = "images:\n  python:3.11:\n    requirements: [valohai-utils>=0.8.0]\n"


def test_valohai_utils_script_runs_unchanged(
    make_project: ProjectFactory, runtime_for: RuntimeFactory
) -> None:
    project = make_project(
        UTILS_YAML, {"train.py": UTILS_SCRIPT, "data/numbers.csv": "1\n2\n3\n", "assay.yaml": UTILS_IMAGE}
    )
    lines: list[str] = []
    runtime = runtime_for(project, lines=lines)
    result = _run(runtime, parameters={"epochs": ["4"], "shuffle": ["true"]}, parameters_as_text=True)

    assert result.status == "completed", "\n".join(lines)
    assert result.counter == 1
    assert result.metadata == {"epoch": 3, "loss": 1.5}
    assert [o.name for o in result.outputs] == ["model/model.json"]
    with runtime.catalog.read() as session:
        execution = catalog_executions.get_execution(session, runtime.project_id, 1)
        assert execution.parameters == {"epochs": 4, "rate": 0.5, "shuffle": True}
        assert len(catalog_executions.metadata_events(session, execution.id)) == 4
        assert all(
            row.logged_at.tzinfo is not None
            for row in catalog_executions.metadata_events(session, execution.id)
        )
        (output,) = outputs_of(session, execution.id)
        stored = runtime.store.read_bytes(output.sha256)
        assert json.loads(stored) == {"rate": 0.5, "shuffle": True}
        (used,) = catalog_executions.execution_inputs(session, execution.id)
        assert used.input_name == "dataset"
        assert used.name == "numbers.csv"
        assert get_datum(session, runtime.project_id, used.datum_id).size == 6
        kinds = [e.kind for e in list_events(session, runtime.project_id)]
        # the driver: which process runs it (`assay executions settle` asks whether it lives)
        assert kinds == ["execution.created", "execution.started", "execution.driver", "execution.completed"]
        assert execution.environment["image"] == "python:3.11"
        assert execution.environment["sandbox"] == runtime.sandbox.mode
        assert execution.started_at
        assert execution.ended_at
        assert execution.ended_at >= execution.started_at
    assert any(line.startswith("inputs dir") and line.endswith("/inputs/dataset") for line in lines)


def test_config_files_follow_the_contract(make_project: ProjectFactory, runtime_for: RuntimeFactory) -> None:
    script = """\
        import json, os, shutil
        config = os.environ["VH_CONFIG_DIR"]
        for name in ("parameters", "inputs", "execution"):
            target = os.path.join(os.environ["VH_OUTPUTS_DIR"], name + ".json")
            shutil.copy(os.path.join(config, name + ".json"), target)
        env = {k: v for k, v in os.environ.items() if k.startswith("VH_")}
        json.dump(env, open(os.path.join(os.environ["VH_OUTPUTS_DIR"], "env.json"), "w"))
    """
    project = make_project(UTILS_YAML, {"train.py": script, "data/numbers.csv": "1\n"})
    runtime = runtime_for(project)
    result = _run(runtime)
    assert result.status == "completed"
    files = {o.name: json.loads(runtime.store.read_bytes(o.sha256)) for o in result.outputs}
    assert files["parameters.json"] == {"epochs": 3, "rate": 0.5, "shuffle": False}
    (entry,) = files["inputs.json"]["dataset"]["files"]
    assert entry["name"] == "numbers.csv"
    assert entry["path"].endswith("/inputs/dataset/numbers.csv")
    assert entry["checksums"]["sha256"] == "4355a46b19d348dc2f57c046f8ef63d4538ebb936000f3c9ee954a27460dd865"
    assert entry["size"] == 2
    assert entry["uri"] == "data/numbers.csv"
    execution = files["execution.json"]
    assert execution["valohai.execution-counter"] == 1
    assert execution["valohai.execution-id"] == result.execution_id
    assert execution["valohai.execution-step"] == "train"
    assert execution["valohai.project-name"] == project.name
    env = files["env.json"]
    assert env["VH_JOB_ID"] == f"exec-{result.execution_id}"
    assert env["VH_EXECUTION_ID"] == result.execution_id
    assert env["VH_PROJECT_ID"] == runtime.project_id
    base = (
        "/valohai"
        if runtime.sandbox.private
        else str(project.executions_dir / result.execution_id / "valohai")
    )
    for name in ("REPOSITORY", "INPUTS", "OUTPUTS", "CONFIG"):
        assert env[f"VH_{name}_DIR"] == f"{base}/{name.lower()}"


@pytest.mark.parametrize("mode", ["bwrap", "unshare"])
def test_seed_style_script_with_hardcoded_paths(
    make_project: ProjectFactory, runtime_for: RuntimeFactory, mode: str
) -> None:
    promote = """\
        import json, os
        save_dir = "/valohai/outputs/model"
        os.makedirs(save_dir, exist_ok=True)
        for name in ("config.json", "model.safetensors", "tokenizer.json"):
            with open(os.path.join(save_dir, name), "w") as handle:
                handle.write(name * 3)
        metadata = {
            "model/": {
                "valohai.model-versions": ["model://summarizer/v5"],
                "valohai.tags": ["genai", "summarization", "production-candidate"],
                "rougeL": 0.41,
                "training_dataset": "vh://dataset/domain-news:v2",
            },
        }
        with open("/valohai/outputs/valohai.metadata.jsonl", "w") as f:
            for file, meta in metadata.items():
                json.dump({"file": file, "metadata": meta}, f)
                f.write("\\n")
        print(json.dumps({"rougeL": 0.41}))
        print("Created model version in model://summarizer/v5")
    """
    yaml_text = """\
        - step: promote-model
          image: python:3.10
          command: python promote.py
    """
    project = make_project(yaml_text, {"promote.py": promote})
    try:
        runtime = runtime_for(project, sandbox_mode=mode)
    except InvalidRequest:
        pytest.skip(f"no {mode} sandbox on this machine")
    result = _run(runtime, "promote-model")
    assert result.status == "completed"
    assert sorted(o.name for o in result.outputs) == [
        "model/config.json",
        "model/model.safetensors",
        "model/tokenizer.json",
    ]
    assert result.metadata == {"rougeL": 0.41}
    with runtime.catalog.read() as session:
        for datum in outputs_of(session, result.execution_id):
            assert datum.tags == ["genai", "summarization", "production-candidate"]
            assert datum.file_metadata["valohai.model-versions"] == ["model://summarizer/v5"]
            assert datum.file_metadata["rougeL"] == 0.41


def test_without_sandbox_vh_variables_work_and_one_warning(
    make_project: ProjectFactory, runtime_for: RuntimeFactory
) -> None:
    script = """\
        import os
        open(os.path.join(os.environ["VH_OUTPUTS_DIR"], "out.txt"), "w").write("ok")
    """
    project = make_project("- step: {name: s, image: python:3.11, command: python s.py}\n", {"s.py": script})
    runtime = runtime_for(project, sandbox_mode="none")
    assert _run(runtime, "s").status == "completed"
    assert _run(runtime, "s").status == "completed"
    assert len(runtime.warnings) == 1  # type: ignore[attr-defined]
    assert "bubblewrap" in runtime.warnings[0]  # type: ignore[attr-defined]


def test_command_lines_share_one_shell_and_fail_fast(
    make_project: ProjectFactory, runtime_for: RuntimeFactory
) -> None:
    yaml_text = """\
        - step:
            name: s
            image: python:3.11
            command:
              - export GREETING=hello
              - echo "$GREETING from one shell"
              - sh -c 'exit 3'
              - echo never
    """
    project = make_project(yaml_text)
    lines: list[str] = []
    runtime = runtime_for(project, lines=lines)
    result = _run(runtime, "s")
    assert result.status == "error"
    assert result.exit_code == 3
    assert result.message == "command exited with code 3"
    assert "hello from one shell" in lines
    assert "never" not in lines
    execution = _execution(runtime, result.counter)
    assert execution.status == "error"
    assert execution.exit_code == 3
    assert "echo never" in execution.command


def test_shell_metacharacters_in_a_parameter_are_an_argument(
    make_project: ProjectFactory, runtime_for: RuntimeFactory, tmp_path: Path
) -> None:
    victim = tmp_path / f"pwned-{uuid.uuid4().hex}"
    yaml_text = """\
        - step:
            name: s
            image: python:3.11
            command: python -c 'import sys; print(sys.argv[1:])' {parameters}
            parameters:
              - {name: note, type: string}
    """
    project = make_project(yaml_text)
    lines: list[str] = []
    runtime = runtime_for(project, lines=lines)
    value = f"x; touch {victim}; $(touch {victim}) `touch {victim}`"
    result = _run(runtime, "s", parameters={"note": [value]}, parameters_as_text=True)
    assert result.status == "completed"
    assert not victim.exists()
    assert lines == [repr([f"--note={value}"])]


def test_time_limit_ends_the_execution(make_project: ProjectFactory, runtime_for: RuntimeFactory) -> None:
    yaml_text = """\
        - step:
            name: s
            image: python:3.11
            command: echo started && sleep 30
            time-limit: 1
    """
    runtime = runtime_for(make_project(yaml_text))
    result = _run(runtime, "s")
    assert result.status == "error"
    assert result.message == "time limit of 1 s exceeded"


def test_outputs_escaping_their_folder_are_refused_and_the_rest_kept(
    make_project: ProjectFactory, runtime_for: RuntimeFactory, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not take me")
    script = f"""\
        import json, os
        out = os.environ["VH_OUTPUTS_DIR"]
        open(os.path.join(out, "good.txt"), "w").write("good")
        os.symlink("{secret}", os.path.join(out, "stolen.txt"))
        os.symlink("good.txt", os.path.join(out, "alias-of-good.txt"))
        with open(os.path.join(out, "valohai.metadata.jsonl"), "w") as f:
            f.write(json.dumps({{"file": "../../etc/passwd", "metadata": {{"x": 1}}}}) + "\\n")
            f.write("this is not json\\n")
            f.write(json.dumps({{"file": "good.txt", "metadata": {{"quality": "fine"}}}}) + "\\n")
        with open(os.path.join(out, "good.txt.metadata.json"), "w") as f:
            json.dump({{"source": "sidecar", "quality": "overridden"}}, f)
    """
    project = make_project("- step: {name: s, image: python:3.11, command: python s.py}\n", {"s.py": script})
    runtime = runtime_for(project)
    result = _run(runtime, "s")
    assert result.status == "completed"
    assert sorted(o.name for o in result.outputs) == ["alias-of-good.txt", "good.txt"]
    assert any("stolen.txt is a symlink" in p and "outside outputs/" in p for p in result.problems)
    assert any("valohai.metadata.jsonl:1" in p and "escapes outputs/" in p for p in result.problems)
    assert any("valohai.metadata.jsonl:2" in p and "not valid JSON" in p for p in result.problems)
    with runtime.catalog.read() as session:
        good = next(d for d in outputs_of(session, result.execution_id) if d.name == "good.txt")
        assert good.file_metadata == {"source": "sidecar", "quality": "fine"}
        assert _execution(runtime, result.counter).problems == list(result.problems)
    assert secret.read_text() == "do not take me"


def test_same_bytes_are_stored_once(make_project: ProjectFactory, runtime_for: RuntimeFactory) -> None:
    script = """\
        import os
        for name in ("a.txt", "b.txt"):
            open(os.path.join(os.environ["VH_OUTPUTS_DIR"], name), "w").write("same bytes")
    """
    project = make_project("- step: {name: s, image: python:3.11, command: python s.py}\n", {"s.py": script})
    runtime = runtime_for(project)
    first = _run(runtime, "s")
    second = _run(runtime, "s")
    digests = {o.sha256 for o in (*first.outputs, *second.outputs)}
    assert len(digests) == 1
    blobs = [p for p in (project.store_root / "sha256").rglob("*") if p.is_file()]
    assert len(blobs) == 1
    assert len({o.datum_id for o in (*first.outputs, *second.outputs)}) == 4


def test_corrupt_blob_is_refused_and_nothing_runs(
    make_project: ProjectFactory, runtime_for: RuntimeFactory
) -> None:
    yaml_text = """\
        - step: {name: make, image: python:3.11, command: "echo model > $VH_OUTPUTS_DIR/m.bin"}
        - step:
            name: use
            image: python:3.11
            command: cat /dev/null
            inputs:
              - {name: model}
    """
    project = make_project(yaml_text)
    runtime = runtime_for(project)
    made = _run(runtime, "make")
    (output,) = made.outputs
    blob = project.store_root / "sha256" / output.sha256[:2] / output.sha256[2:]
    blob.chmod(0o644)
    blob.write_text("tampered")
    with pytest.raises(StorageError, match="is corrupt"):
        _run(runtime, "use", inputs={"model": [f"datum://{output.datum_id}"]})
    with runtime.catalog.read() as session:
        assert [e.counter for e in catalog_executions.list_executions(session, runtime.project_id)] == [1]


def test_unknown_parameter_changes_nothing(make_project: ProjectFactory, runtime_for: RuntimeFactory) -> None:
    project = make_project(UTILS_YAML, {"train.py": UTILS_SCRIPT, "data/numbers.csv": "1\n"})
    runtime = runtime_for(project)
    with pytest.raises(InvalidRequest, match="has no parameter 'epoch'"):
        _run(runtime, parameters={"epoch": ["1"]}, parameters_as_text=True)
    with runtime.catalog.read() as session:
        assert catalog_executions.list_executions(session, runtime.project_id) == []
    assert not project.executions_dir.exists()


def test_environment_records_the_git_commit_and_dirty_flag(
    make_project: ProjectFactory, runtime_for: RuntimeFactory
) -> None:
    project = make_project(
        "- step: {name: s, image: python:3.11, command: ls -A}\n"
        "- step: {name: show, image: python:3.11, command: cat kept.txt}\n",
        {".gitignore": "ignored.txt\n", "kept.txt": "k"},
    )
    (project.root / "ignored.txt").write_text("secret")
    git = ["git", "-C", str(project.root), "-c", "user.email=t@example.invalid", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    commit = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()
    lines: list[str] = []
    runtime = runtime_for(project, lines=lines)
    clean = _run(runtime, "s")
    assert sorted(lines) == [".gitignore", "kept.txt", "valohai.yaml"]
    (project.root / "kept.txt").write_text("changed")
    # One runtime (one command, one pipeline run) runs one snapshot of the code, whatever changes.
    lines.clear()
    same = _run(runtime, "show")
    assert lines == ["k"]
    assert _execution(runtime, same.counter).environment["git_dirty"] is False
    runtime.close()
    lines.clear()
    second = runtime_for(project, lines=lines)
    dirty = _run(second, "show")
    second.close()
    assert lines == ["changed"]
    assert _execution(runtime, clean.counter).environment["git_commit"] == commit
    assert _execution(runtime, clean.counter).environment["git_dirty"] is False
    assert _execution(runtime, dirty.counter).environment["git_dirty"] is True
    assert not list((project.root / ".assay" / "snapshots").iterdir())  # closed: nothing left


def test_a_declared_requirement_is_installed_once_into_the_image_and_a_steps_pip_finds_it(
    make_project: ProjectFactory, runtime_for: RuntimeFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_ENVS", str(tmp_path / "envs"))
    yaml_text = """\
        - step:
            name: s
            image: python:3.10
            command:
              - pip install --no-index -r requirements.txt
              - python -c "import assaydemo_pkg; print('value', assaydemo_pkg.VALUE)"
    """
    settings = "images:\n  python:3.10:\n    requirements-file: requirements.txt\n"
    project = make_project(yaml_text, {"assay.yaml": settings})
    # relative to the project (the step sees its copy; a path below the host's /tmp it would not)
    (project.root / "wheels").mkdir()
    wheel = write_wheel(project.root / "wheels", "assaydemo_pkg", "1.0", body="VALUE = 42\n")
    (project.root / "requirements.txt").write_text(f"wheels/{wheel.name}\n")
    lines: list[str] = []
    runtime = runtime_for(project, lines=lines)
    for _ in range(2):
        lines.clear()
        assert _run(runtime, "s").status == "completed", "\n".join(lines)
        assert "value 42" in lines
        assert not any("Successfully installed" in line for line in lines)  # the image had it
        assert any("already installed" in line or "already satisfied" in line for line in lines)
    installed = list((tmp_path / "envs").glob("python-3.10-*/lib/python*/site-packages/assaydemo_pkg.py"))
    assert len(installed) == 1
    import importlib.util

    assert importlib.util.find_spec("assaydemo_pkg") is None  # the host environment is untouched


def test_project_id_is_shared_by_runtimes(make_project: ProjectFactory, runtime_for: RuntimeFactory) -> None:
    project: Project = make_project("- step: {name: s, image: python:3.11, command: 'true'}\n")
    assert runtime_for(project).project_id == runtime_for(project).project_id
