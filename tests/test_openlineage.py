"""OpenLineage run events of real executions: into a file, to a receiver on 127.0.0.1, or nowhere.

Every event is validated against the OpenLineage schema that the client package carries. The
wheel ships no ``.json`` schema: it ships the model generated from ``OpenLineage.json`` 2-0-2
and the facet schemas (``openlineage.client.generated``), each class naming its schema URL.
``shipped_schema`` turns those classes back into JSON Schema: their fields, types, enums and
required fields (a field is optional exactly where its type admits None).
"""

from __future__ import annotations

import enum
import hashlib
import http.server
import importlib
import json
import os
import pkgutil
import socket
import subprocess
import sys
import threading
import types
import typing
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import attr
import jsonschema
import pytest
from typer.testing import CliRunner

from assay.cli.app import app
from assay.errors import SpecError
from assay.runtime import ExecutionRequest, ExecutionResult, Runtime, run_execution
from assay.runtime.openlineage import lineage_config
from assay.spec import load_spec
from assay.spec.settings import OpenLineageSettings, Settings, load_settings
from tests.conftest import ProjectFactory

EVENT_SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
SPEC = """\
- step:
    name: train
    image: python:3.11
    command: python train.py
    inputs:
      - name: data
        default: data/train.csv
- step:
    name: broken
    image: python:3.11
    command: python -c "import sys; print('bad data'); sys.exit(3)"
"""
TRAIN = """\
import os
data = open(os.path.join(os.environ["VH_INPUTS_DIR"], "data", "train.csv")).read()
open(os.path.join(os.environ["VH_OUTPUTS_DIR"], "model.txt"), "w").write(data.upper())
"""
FILES = {"train.py": TRAIN, "data/train.csv": "a,b\n1,2\n"}
LINEAGE_ENV = ("OPENLINEAGE_URL", "OPENLINEAGE_ENDPOINT", "OPENLINEAGE_API_KEY", "OPENLINEAGE_DISABLED")
#: what the client writes into the environment when OPENLINEAGE_URL is set
CLIENT_ALIASES = tuple(
    f"OPENLINEAGE__TRANSPORT__TRANSPORTS__DEFAULT_HTTP__{name}"
    for name in ("TYPE", "URL", "AUTH", "ENDPOINT")
)


@pytest.fixture(autouse=True)
def _no_lineage_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's OpenLineage variables stay out; what the client adds is removed after."""
    for name in (*LINEAGE_ENV, *CLIENT_ALIASES):
        monkeypatch.delenv(name, raising=False)


# --- the schema the client ships -----------------------------------------------------------------


def _schema_of(annotation: Any) -> dict[str, Any]:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return _schema_of(options[0]) if len(options) == 1 else {"anyOf": [_schema_of(a) for a in options]}
    if origin is list:
        return {"type": "array", "items": _schema_of(args[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema_of(args[1])}
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return {"enum": [member.value for member in annotation]}
    simple = {str: "string", bool: "boolean", int: "integer", float: "number"}
    if annotation in simple:
        return {"type": simple[annotation]}
    assert attr.has(annotation), f"no schema for {annotation!r}"
    hints = typing.get_type_hints(annotation)
    fields = attr.fields(annotation)
    return {
        "type": "object",
        "properties": {f.name: _schema_of(hints[f.name]) for f in fields},
        "required": [f.name for f in fields if type(None) not in typing.get_args(hints[f.name])],
    }


def _generated_classes() -> dict[str, type]:
    """Every class of the client's generated model, by the schema URL it names."""
    import openlineage.client.generated as generated

    found: dict[str, type] = {}
    for module_info in pkgutil.iter_modules(generated.__path__):
        module = importlib.import_module(f"{generated.__name__}.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and attr.has(value) and hasattr(value, "_get_schema"):
                found.setdefault(value._get_schema(), value)
    return found


def validate(event: dict[str, Any]) -> None:
    """``event`` against the shipped RunEvent schema, and each facet against its own class's."""
    classes = _generated_classes()
    assert event["schemaURL"] == EVENT_SCHEMA_URL
    jsonschema.Draft202012Validator(_schema_of(classes[EVENT_SCHEMA_URL])).validate(event)
    uuid.UUID(event["run"]["runId"])  # format: uuid
    assert datetime.fromisoformat(event["eventTime"]).utcoffset() is not None
    bags = [event["run"].get("facets", {}), event["job"].get("facets", {})]
    for dataset in event.get("inputs", []) + event.get("outputs", []):
        bags += [dataset.get("facets", {}), dataset.get("inputFacets", {}), dataset.get("outputFacets", {})]
    for bag in bags:
        for name, facet in bag.items():
            assert facet["_schemaURL"] in classes, f"facet {name} is not one the client ships"
            schema = _schema_of(classes[facet["_schemaURL"]])
            jsonschema.Draft202012Validator(schema).validate(facet)
    if "parent" in event["run"].get("facets", {}):
        uuid.UUID(event["run"]["facets"]["parent"]["run"]["runId"])


def test_the_shipped_schema_catches_a_broken_event() -> None:
    """The check above is not vacuous: required fields, types and enums are enforced."""
    good = {
        "eventTime": "2026-01-01T00:00:00+00:00",
        "producer": "https://example.invalid/p",
        "schemaURL": EVENT_SCHEMA_URL,
        "eventType": "START",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "n", "name": "j"},
    }
    validate(good)
    for broken in (
        {**good, "eventType": "STARTED"},
        {**good, "job": {"name": "j"}},
        {**good, "run": {"runId": 7}},
        {**good, "run": {"runId": str(uuid.uuid4()), "facets": {"x": {"_producer": "p"}}}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate(broken)


# --- helpers ---------------------------------------------------------------------------------------


def _write_settings(root: Path, text: str) -> Settings:
    (root / "assay.yaml").write_text(text)
    return load_settings(root)


def _run(runtime: Runtime, step: str) -> ExecutionResult:
    spec = load_spec(runtime.project.spec_path)
    return run_execution(ExecutionRequest(step=spec.steps[step]), runtime)


def _events(path: Path) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in path.read_text().splitlines()]
    for event in events:
        validate(event)
    return events


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- file transport --------------------------------------------------------------------------------


def test_a_completed_execution_writes_start_then_complete(
    make_project: ProjectFactory, runtime_for: Callable[..., Runtime]
) -> None:
    project = make_project(SPEC, FILES)
    runtime = runtime_for(project)
    runtime.settings = _write_settings(
        project.root, "openlineage:\n  transport: file\n  path: lineage/events.jsonl\n"
    )
    result = _run(runtime, "train")
    assert result.status == "completed"

    start, complete = _events(project.root / "lineage" / "events.jsonl")
    assert [start["eventType"], complete["eventType"]] == ["START", "COMPLETE"]
    for event in (start, complete):
        assert event["run"]["runId"] == result.execution_id
        assert (event["job"]["namespace"], event["job"]["name"]) == (project.name, "train")
        assert event["eventTime"].endswith("+00:00")
        assert "parent" not in event["run"]["facets"]
        assert event["run"]["facets"]["processing_engine"]["name"] == "Assay"
        [used] = event["inputs"]
        assert used["namespace"] == f"assay://{project.name}"
        assert used["name"] == f"datum://{result.inputs['data'][0]}"
        assert used["facets"]["version"]["datasetVersion"] == _sha256(FILES["data/train.csv"])
        assert used["inputFacets"]["inputStatistics"]["size"] == len(FILES["data/train.csv"])
    assert start["outputs"] == []
    [output] = result.outputs
    [made] = complete["outputs"]
    assert made["namespace"] == f"assay://{project.name}"
    assert made["name"] == f"datum://{output.datum_id}"
    assert made["facets"]["version"]["datasetVersion"] == output.sha256 == _sha256("A,B\n1,2\n")
    assert made["outputFacets"]["outputStatistics"]["size"] == output.size
    assert start["eventTime"] <= complete["eventTime"]
    assert not [w for w in runtime.warnings if "OpenLineage" in w]  # type: ignore[attr-defined]


def test_a_failing_execution_writes_start_then_fail(
    make_project: ProjectFactory, runtime_for: Callable[..., Runtime]
) -> None:
    project = make_project(SPEC, FILES)
    runtime = runtime_for(project)
    runtime.settings = _write_settings(project.root, "openlineage:\n  transport: file\n  namespace: team-a\n")
    result = _run(runtime, "broken")
    assert result.status == "error"

    start, fail = _events(project.root / ".assay" / "openlineage" / "events.jsonl")
    assert [start["eventType"], fail["eventType"]] == ["START", "FAIL"]
    assert {start["run"]["runId"], fail["run"]["runId"]} == {result.execution_id}
    assert (fail["job"]["namespace"], fail["job"]["name"]) == ("team-a", "broken")
    assert fail["run"]["facets"]["errorMessage"]["message"] == "command exited with code 3"
    assert "errorMessage" not in start["run"]["facets"]


def test_a_pipeline_run_is_the_parent_of_its_executions(
    make_project: ProjectFactory, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(
        """\
        - step:
            name: make
            image: python:3.11
            command: python make.py
            inputs:
              - name: prompts
                default: dataset://prompts/v1
        - step:
            name: use
            image: python:3.11
            command: python use.py
            inputs:
              - name: data
        - pipeline:
            name: flow
            nodes:
              - {name: produce, type: execution, step: make}
              - {name: consume, type: execution, step: use}
            edges:
              - [produce.output.*, consume.input.data]
        """,
        {
            "make.py": "import os\nopen(os.environ['VH_OUTPUTS_DIR'] + '/made.txt', 'w').write('made')\n",
            "use.py": "import os\nprint(os.listdir(os.environ['VH_INPUTS_DIR'] + '/data'))\n",
            "prompts.csv": "q,a\n",
            "assay.yaml": "openlineage:\n  transport: file\n",
        },
    )
    monkeypatch.setenv("ASSAY_DATABASE_URL", database_url)
    cli = CliRunner()
    root = str(project.root)
    created = cli.invoke(app, ["-C", root, "datasets", "create", "prompts", "v1", f"{root}/prompts.csv"])
    assert created.exit_code == 0, created.output
    ran = cli.invoke(app, ["-C", root, "pipeline", "run", "flow"])
    assert ran.exit_code == 0, ran.output
    shown = cli.invoke(app, ["-C", root, "pipeline", "show", "1", "--json"])
    run = json.loads(shown.output)

    events = _events(project.root / ".assay" / "openlineage" / "events.jsonl")
    by_job: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_job.setdefault(event["job"]["name"], []).append(event)
    assert sorted(by_job) == ["flow.consume", "flow.produce"]
    nodes = {node["name"]: node for node in run["nodes"]}
    for node in ("produce", "consume"):
        [execution] = nodes[node]["executions"]
        start, complete = by_job[f"flow.{node}"]
        assert [start["eventType"], complete["eventType"]] == ["START", "COMPLETE"]
        for event in (start, complete):
            assert event["run"]["runId"] == execution["id"]
            parent = event["run"]["facets"]["parent"]
            assert parent["run"]["runId"] == parent["root"]["run"]["runId"] == run["id"]
            assert (parent["job"]["namespace"], parent["job"]["name"]) == (project.name, "flow")
            assert parent["root"]["job"]["name"] == "flow"

    # the dataset version's file is named by the version, and linked to its datum
    [prompts] = by_job["flow.produce"][1]["inputs"]
    assert prompts["name"] == "dataset://prompts/v1/prompts.csv"
    [link] = prompts["facets"]["symlinks"]["identifiers"]
    assert link["name"].startswith("datum://")
    assert link["type"] == "DATUM"
    # what one node made is, by name, what the next one used: consumers join the two runs
    [made] = by_job["flow.produce"][1]["outputs"]
    [used] = by_job["flow.consume"][1]["inputs"]
    assert (used["namespace"], used["name"]) == (made["namespace"], made["name"])
    assert used["facets"]["version"] == made["facets"]["version"]


def test_the_console_transport_prints_events_to_stderr(
    make_project: ProjectFactory, runtime_for: Callable[..., Runtime], capfd: pytest.CaptureFixture[str]
) -> None:
    project = make_project(SPEC, FILES)
    runtime = runtime_for(project)
    runtime.settings = Settings(openlineage=OpenLineageSettings(transport="console"))
    result = _run(runtime, "train")
    lines = [line for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    events = [json.loads(line) for line in lines]
    for event in events:
        validate(event)
    assert [(e["eventType"], e["run"]["runId"]) for e in events] == [
        ("START", result.execution_id),
        ("COMPLETE", result.execution_id),
    ]


# --- HTTP transport --------------------------------------------------------------------------------


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, Any]]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, json.loads(body)))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """A lineage receiver on 127.0.0.1: its URL and the (path, event) pairs it got."""
    received: list[tuple[str, dict[str, Any]]] = []
    handler = type("Handler", (_Receiver,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.parametrize("configured_by", ["assay.yaml", "OPENLINEAGE_URL"])
def test_http_transport_posts_each_event_to_the_receiver(
    make_project: ProjectFactory,
    runtime_for: Callable[..., Runtime],
    receiver: tuple[str, list[tuple[str, dict[str, Any]]]],
    monkeypatch: pytest.MonkeyPatch,
    configured_by: str,
) -> None:
    url, received = receiver
    project = make_project(SPEC, FILES)
    runtime = runtime_for(project)
    if configured_by == "assay.yaml":
        runtime.settings = _write_settings(
            project.root, f"openlineage:\n  transport: http\n  url: {url}\n  endpoint: /lineage\n"
        )
        path = "/lineage"
    else:
        monkeypatch.setenv("OPENLINEAGE_URL", url)
        path = "/api/v1/lineage"
    result = _run(runtime, "train")
    runtime.lineage.close()
    assert result.status == "completed"
    assert [(p, e["eventType"], e["run"]["runId"]) for p, e in received] == [
        (path, "START", result.execution_id),
        (path, "COMPLETE", result.execution_id),
    ]
    for _, event in received:
        validate(event)
    assert received[1][1]["outputs"][0]["facets"]["version"]["datasetVersion"] == result.outputs[0].sha256


def test_an_unreachable_receiver_is_one_warning_and_the_execution_completes(
    make_project: ProjectFactory, runtime_for: Callable[..., Runtime]
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    project = make_project(SPEC, FILES)
    runtime = runtime_for(project)
    runtime.settings = _write_settings(
        project.root, f"openlineage:\n  transport: http\n  url: http://127.0.0.1:{port}\n  timeout: 2\n"
    )
    result = _run(runtime, "train")
    runtime.lineage.close()
    assert result.status == "completed"
    assert len(result.outputs) == 1
    lineage = [w for w in runtime.warnings if "OpenLineage" in w]  # type: ignore[attr-defined]
    assert len(lineage) == 1, runtime.warnings  # type: ignore[attr-defined]
    assert f"127.0.0.1:{port}/api/v1/lineage" in lineage[0]
    assert "START" in lineage[0]
    assert runtime.lineage.dropped == 2  # START failed; COMPLETE waited out the hold-off
    with runtime.catalog.read() as session:
        from assay.catalog import executions

        assert executions.status_of(session, result.execution_id) == "completed"


# --- off ---------------------------------------------------------------------------------------------


def test_nothing_configured_writes_nothing_and_imports_nothing(
    make_project: ProjectFactory, database_url: str
) -> None:
    project = make_project(SPEC, FILES)
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from assay.cli.app import app\n"
        "loaded = lambda: sorted(m for m in sys.modules if m.split('.')[0] == 'openlineage')\n"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n"
        "print('help', loaded())\n"
        "result = CliRunner().invoke(app, ['-C', sys.argv[1], 'run', 'train'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print('run', loaded())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")}
    env.update(ASSAY_DATABASE_URL=database_url, ASSAY_USER="tester")
    done = subprocess.run(
        [sys.executable, "-c", code, str(project.root)], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == ["help []", "run []"]
    assert not (project.root / ".assay" / "openlineage").exists()
    assert "openlineage" not in done.stderr.lower()


# --- settings ----------------------------------------------------------------------------------------


def test_lineage_is_on_only_when_assay_yaml_or_openlineage_url_says_so() -> None:
    http = OpenLineageSettings(transport="http", url="http://lineage:5000")
    assert lineage_config(Settings(), {}) is None
    assert lineage_config(Settings(), {"OPENLINEAGE_URL": "http://env:5000"}) == OpenLineageSettings(
        transport="http", url="http://env:5000"
    )
    assert lineage_config(
        Settings(), {"OPENLINEAGE_URL": "http://env:5000", "OPENLINEAGE_ENDPOINT": "v1/events"}
    ) == OpenLineageSettings(transport="http", url="http://env:5000", endpoint="v1/events")
    assert lineage_config(Settings(openlineage=http), {"OPENLINEAGE_URL": "http://env:5000"}) == http
    off = Settings(openlineage=OpenLineageSettings(transport=None))
    assert lineage_config(off, {"OPENLINEAGE_URL": "http://env:5000"}) is None
    assert lineage_config(Settings(openlineage=http), {"OPENLINEAGE_DISABLED": "true"}) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("openlineage: false\n", OpenLineageSettings(transport=None)),
        ("openlineage:\n  transport: false\n", OpenLineageSettings(transport=None)),
        ("openlineage:\n  transport: console\n", OpenLineageSettings(transport="console")),
        (
            "openlineage:\n  transport: file\n  path: out/ol.jsonl\n  namespace: ml\n",
            OpenLineageSettings(transport="file", path="out/ol.jsonl", namespace="ml"),
        ),
        (
            "openlineage:\n  transport: http\n  url: https://ol.example:5000/x\n  timeout: 2\n",
            OpenLineageSettings(transport="http", url="https://ol.example:5000/x", timeout=2.0),
        ),
    ],
)
def test_the_openlineage_section_is_read(tmp_path: Path, text: str, expected: OpenLineageSettings) -> None:
    assert _write_settings(tmp_path, text).openlineage == expected


def test_bad_openlineage_settings_are_all_reported_where_they_are(tmp_path: Path) -> None:
    (tmp_path / "assay.yaml").write_text(
        "pipelines:\n"
        "  retries: 1\n"
        "openlineage:\n"
        "  transport: kafka\n"
        "  url: ftp://x\n"
        "  timeout: -1\n"
        "  colour: blue\n"
        "  namespace: ''\n"
    )
    with pytest.raises(SpecError) as caught:
        load_settings(tmp_path)
    found = [(p.line, p.column, p.message) for p in caught.value.problems]
    assert found == [
        (4, 14, "openlineage.transport must be one of file, console, http (or false)"),
        (5, 8, "openlineage.url must be an http:// or https:// URL"),
        (6, 12, "openlineage.timeout must be a number of seconds > 0"),
        (
            7,
            11,
            "unknown setting openlineage.colour (known: transport, path, url, endpoint, timeout, namespace)",
        ),
        (8, 14, "openlineage.namespace must be a non-empty string"),
    ]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("openlineage: yes please\n", 1, "openlineage must be a mapping"),
        ("openlineage:\n  path: x.jsonl\n", 2, "openlineage.transport is required"),
        ("openlineage:\n  transport: http\n", 2, "openlineage.url is required with transport http"),
        ("openlineage:\n  transport: file\n  url: http://x\n", 3, "openlineage.url does not apply to"),
        (
            "openlineage:\n  transport: http\n  url: http://x\n  path: a\n",
            4,
            "openlineage.path does not apply",
        ),
    ],
)
def test_openlineage_settings_that_do_not_fit_together_are_errors(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    (tmp_path / "assay.yaml").write_text(text)
    with pytest.raises(SpecError) as caught:
        load_settings(tmp_path)
    [problem] = caught.value.problems
    assert (problem.line, problem.message[: len(message)]) == (line, message), problem.format()
