"""A step cannot touch Assay's state, gets only its declared environment, and keeps no secret
in the catalog; no stored byte changes after it is recorded (issue 11, items 1–4)."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from assay.artifacts import ArtifactStore
from assay.errors import InvalidRequest
from assay.runtime import choose_sandbox
from tests.conftest import ProjectFactory, invoke, invoke_json

PROBE = """\
    import json, os
    targets = json.loads(os.environ["TARGETS"])
    found = {}
    for name, path in targets.items():
        seen = "missing"
        try:
            if os.path.isdir(path):
                seen = "listed:" + ",".join(sorted(os.listdir(path)))
                with open(os.path.join(path, "planted"), "w") as handle:
                    handle.write("x")
            else:
                with open(path, "rb") as handle:
                    seen = f"read:{len(handle.read())}"
                with open(path, "ab") as handle:
                    handle.write(b"x")
            found[name] = seen + ";wrote"
        except OSError as exc:
            found[name] = f"{seen};refused:{exc.errno}"
    print(json.dumps({"probe": json.dumps(found)}))
"""


def _modes() -> list[str]:
    found = []
    for mode in ("bwrap", "unshare"):
        try:
            choose_sandbox(mode)
        except InvalidRequest:
            continue
        found.append(mode)
    return found or ["bwrap"]


def _sandbox(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        choose_sandbox(mode)
    except InvalidRequest:
        pytest.skip(f"no {mode} sandbox on this machine")
    monkeypatch.setenv("ASSAY_SANDBOX", mode)


def _run_json(cli: CliRunner, root: Path, *args: str) -> dict[str, Any]:
    """``assay run … --json``: the result printed on stdout (the live log follows it on stderr)."""
    code, output = invoke(cli, root, *args, "--json")
    assert code == 0, output
    start = 0 if output.startswith("{") else output.index("\n{\n") + 1  # after a warning
    result: dict[str, Any] = json.JSONDecoder().raw_decode(output, start)[0]
    return result


def _database_files(database_url: str, root: Path) -> list[Path]:
    if database_url.startswith("sqlite:///"):
        path = Path(database_url.removeprefix("sqlite:///"))
        return [p for p in (path, Path(f"{path}-wal")) if p.exists()]
    return []


@pytest.mark.parametrize("mode", _modes())
def test_a_step_cannot_see_or_change_the_catalog_the_store_or_the_project(
    cli: CliRunner,
    make_project: ProjectFactory,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    _sandbox(mode, monkeypatch)
    project = make_project(
        """\
        - step: probe
          image: python:3.11
          command: python probe.py
        """,
        {"probe.py": PROBE, "data.csv": "a,b\n1,2\n"},
    )
    root = project.root
    # a first execution fills the store and the catalog
    assert invoke(cli, root, "run", "probe", "--env", "TARGETS={}")[0] == 0
    blobs = sorted((root / ".assay" / "store").rglob("sha256/*/*"))
    targets = {
        "state": str(root / ".assay"),
        "executions": str(root / ".assay" / "executions"),
        "project": str(root / "data.csv"),
    }
    if blobs:
        targets["blob"] = str(blobs[0])
    if database_url.startswith("sqlite:///"):
        targets["catalog"] = database_url.removeprefix("sqlite:///")
    code, output = invoke(cli, root, "run", "probe", "--env", f"TARGETS={json.dumps(targets)}", "--json")
    assert code == 0, output
    shown, _ = json.JSONDecoder().raw_decode(output)  # the live log follows on stderr
    found = json.loads(shown["metadata"]["probe"])
    # empty but for the way to its own Python layer, and read-only (EROFS)
    assert found["state"] in ("listed:;refused:30", "listed:layers;refused:30"), found
    assert found["executions"].startswith("missing;"), found  # not there at all
    assert "wrote" not in found["project"], found  # read-only (or, below /tmp, not there)
    if "blob" in targets:
        assert found["blob"].startswith("missing;"), found
    if "catalog" in targets:  # hidden: shown as an empty file, or not at all
        assert found["catalog"].startswith(("read:0;refused", "missing;")), found
    assert (root / "data.csv").read_text() == "a,b\n1,2\n"
    assert not (root / ".assay" / "planted").exists()
    for blob in blobs:
        ArtifactStore.local(root / ".assay" / "store").verify(blob.parent.name + blob.name)


def test_a_step_sees_only_its_declared_environment(
    cli: CliRunner, make_project: ProjectFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_DATABASE_URL_SECRET_COPY", "postgresql://u:hunter2@db/assay")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setenv("AWS_REGION", "eu-north-1")
    monkeypatch.setenv("UNRELATED_HOST_VARIABLE", "leak")
    project = make_project(
        """\
        - step: env
          image: python:3.11
          command: python env.py
          environment-variables:
            - name: DECLARED
              default: "yes"
        """,
        {
            "assay.yaml": "environment:\n  pass: [CUDA_VISIBLE_DEVICES, 'AWS_*']\n",
            "env.py": "import json, os\nprint(json.dumps({'env': json.dumps(dict(os.environ))}))\n",
        },
    )
    code, output = invoke(cli, project.root, "run", "env", "--env", "GIVEN=1", "--json")
    assert code == 0, output
    result, _ = json.JSONDecoder().raw_decode(output)  # the live log follows on stderr
    env = json.loads(result["metadata"]["env"])
    assert os.environ["ASSAY_DATABASE_URL"]  # the CLI had it …
    for name in (
        "ASSAY_DATABASE_URL",
        "ASSAY_DATABASE_URL_SECRET_COPY",
        "ASSAY_USER",
        "UNRELATED_HOST_VARIABLE",
    ):
        assert name not in env, name  # … the step does not
    assert env["DECLARED"] == "yes"
    assert env["GIVEN"] == "1"
    assert env["CUDA_VISIBLE_DEVICES"] == "0"
    assert env["AWS_REGION"] == "eu-north-1"
    assert env["VH_OUTPUTS_DIR"].endswith("/outputs")
    assert env["HOME"] == os.environ["HOME"]
    assert env["PATH"]
    assert env["TMPDIR"]


SECRET_SPEC = """\
- step: call-api
  image: python:3.11
  command: python call.py {parameters}
  parameters:
    - name: api_token
      type: string
    - name: retries
      type: integer
      default: 2
"""

CALL = """\
    import json, os, sys
    token = sys.argv[1].split("=", 1)[1]
    assert token == "tok-SUPERSECRET-123", sys.argv
    assert os.environ["HF_TOKEN"] == "hf-VERYSECRET-456"
    with open("/valohai/config/parameters.json") as handle:
        assert json.load(handle)["api_token"] == token
    os.makedirs("/valohai/outputs", exist_ok=True)
    open("/valohai/outputs/result.txt", "w").write("ok")
    print("using", token)
    print(json.dumps({"calls": 1}))
"""


def test_secrets_reach_the_process_and_nothing_else(
    cli: CliRunner, make_project: ProjectFactory, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not choose_sandbox("auto").private:
        pytest.skip("the step reads /valohai/config")
    project = make_project(SECRET_SPEC, {"call.py": CALL})
    root = project.root
    args = (
        "run",
        "call-api",
        "--param",
        "api_token=tok-SUPERSECRET-123",
        "--env",
        "HF_TOKEN=hf-VERYSECRET-456",
    )
    code, output = invoke(cli, root, *args)
    assert code == 0, output
    assert "SUPERSECRET" not in output
    assert "VERYSECRET" not in output
    shown = invoke_json(cli, root, "executions", "show", "1")
    text = json.dumps(shown)
    assert "SUPERSECRET" not in text
    assert "VERYSECRET" not in text
    assert shown["parameters"]["api_token"] == "***"
    assert shown["parameters"]["retries"] == 2
    assert "***" in shown["command"]
    code, human = invoke(cli, root, "executions", "show", "1")
    assert code == 0
    assert "***" in human
    assert "SUPERSECRET" not in human
    # nowhere on disk: not in the catalog's bytes, not in the execution's folder
    for path in [*_database_files(database_url, root), *(root / ".assay").rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            assert b"SUPERSECRET" not in data, path
            assert b"VERYSECRET" not in data, path
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
            dump = "\n".join(connection.iterdump())
        assert "SUPERSECRET" not in dump
        assert "VERYSECRET" not in dump
        assert "secret:sha256:" in dump  # kept as a name and a digest


SECRET_PIPELINE = (
    SECRET_SPEC
    + """\
- pipeline:
    name: nightly
    reuse-executions: true
    parameters:
      - name: api_token
        targets: [call.parameter.api_token]
    nodes:
      - {name: call, type: execution, step: call-api}
    edges: []
"""
)


def test_reuse_still_works_with_secrets_and_tells_values_apart(
    cli: CliRunner, make_project: ProjectFactory, database_url: str
) -> None:
    import subprocess

    project = make_project(SECRET_PIPELINE, {"call.py": "import json\nprint(json.dumps({'calls': 1}))\n"})
    root = project.root
    git = ["git", "-C", str(root), "-c", "user.email=t@example.invalid", "-c", "user.name=t"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "init"]):
        subprocess.run([*git, *command], check=True)
    run = ("pipeline", "run", "nightly", "-q", "--explain-reuse", "--param")
    code, output = invoke(cli, root, *run, "api_token=tok-SUPERSECRET-123")
    assert code == 0, output
    code, output = invoke(cli, root, *run, "api_token=tok-SUPERSECRET-123")
    assert code == 0, output
    assert "call: reused execution #1" in output, output
    code, output = invoke(cli, root, *run, "api_token=tok-OTHER-999")
    assert code == 0, output
    assert "call: not reused: differs from #1 in parameters api_token" in output
    assert "SUPERSECRET" not in output
    assert "OTHER-999" not in output
    shown = invoke_json(cli, root, "pipeline", "show", "1")
    assert "SUPERSECRET" not in json.dumps(shown)
    for path in _database_files(database_url, root):
        assert b"SUPERSECRET" not in path.read_bytes()
        assert b"OTHER-999" not in path.read_bytes()


DAEMON = """\
    import os, subprocess, sys
    out = os.path.join(os.environ["VH_OUTPUTS_DIR"], "model.bin")
    marker = os.path.join(os.path.dirname(os.environ["VH_OUTPUTS_DIR"]), "daemon-was-alive")
    open(out, "wb").write(b"good bytes")
    # a daemon in a session of its own (with `clean`, in an environment of its own too) that
    # writes to the output after the step ended
    env = {"PATH": os.environ["PATH"]} if sys.argv[1] == "clean" else dict(os.environ)
    code = (
        "import time\\ntime.sleep(0.6)\\n"
        f"open({marker!r}, 'w').write('alive')\\n"
        f"open({out!r}, 'r+b').write(b'EVIL BYTES')\\n"
    )
    subprocess.Popen(
        ["setsid", sys.executable, "-c", code], env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    print("daemon started")
"""


@pytest.mark.parametrize(("mode", "escape"), [("auto", "inherit"), ("none", "inherit"), ("none", "clean")])
def test_a_daemon_left_by_a_step_cannot_change_a_stored_output(
    cli: CliRunner,
    make_project: ProjectFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    escape: str,
) -> None:
    monkeypatch.setenv("ASSAY_SANDBOX", mode)
    project = make_project(
        f"- step: leave\n  image: python:3.11\n  command: python daemon.py {escape}\n",
        {"daemon.py": DAEMON},
    )
    result = _run_json(cli, project.root, "run", "leave")
    assert result["status"] == "completed", result
    time.sleep(1.2)  # the daemon, had it survived, has written by now
    store = ArtifactStore.local(project.root / ".assay" / "store")
    (output,) = result["outputs"]
    assert store.read_bytes(output["sha256"]) == b"good bytes"
    store.verify(output["sha256"])
    marker = project.root / ".assay" / "executions" / result["id"] / "valohai" / "daemon-was-alive"
    if escape == "inherit":
        assert not marker.exists(), "the step's daemon outlived it"
    else:
        assert marker.exists()  # it outlived it, unsandboxed and unmarked: the blob is intact anyway


def test_without_a_sandbox_writing_to_an_input_does_not_reach_the_store(
    cli: CliRunner, make_project: ProjectFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSAY_SANDBOX", "none")
    data = tmp_path / "data.txt"
    data.write_text("original")
    project = make_project(
        """\
        - step: vandal
          image: python:3.11
          command: python vandal.py
          inputs:
            - name: data
        """,
        {
            "vandal.py": """\
                import os, stat
                path = os.path.join(os.environ["VH_INPUTS_DIR"], "data", "data.txt")
                os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
                open(path, "w").write("vandalized")
            """
        },
    )
    result = _run_json(cli, project.root, "run", "vandal", "--input", f"data={data}")
    assert result["status"] == "completed", result
    store = ArtifactStore.local(project.root / ".assay" / "store")
    blobs = list((project.root / ".assay" / "store" / "sha256").rglob("*"))
    for blob in (b for b in blobs if b.is_file()):
        store.verify(blob.parent.name + blob.name)
    assert data.read_text() == "original"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("api_token", True), ("HF_TOKEN", True), ("db-password", True), ("OPENAI_API_KEY", True),
        ("githubToken", True), ("AWS_SECRET_ACCESS_KEY", True), ("max-new-tokens", False),
        ("tokenizer", False), ("keyword", False), ("learning_rate", False), ("batch-size", False),
    ],
)  # fmt: skip
def test_which_names_are_secret(name: str, secret: bool) -> None:
    from assay.spec.secrets import Secrets, looks_secret

    assert looks_secret(name) is secret
    assert Secrets("p", frozenset({"dsn"})).is_secret("dsn")
