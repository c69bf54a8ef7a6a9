"""The registry's REST routes (executions, models, aliases, datasets, lineage, events) over the
real app and catalog (SQLite and PostgreSQL): each answers what the CLI's ``--json`` prints for
the same thing; logs follow as Server-Sent Events; uploads and downloads stream; roles hold."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from assay.catalog import Catalog
from assay.catalog.executions import create_execution
from assay.cli.app import app as cli_app
from assay.client import Client
from assay.operations import users
from assay.operations.actor import Role
from assay.server.app import create_app
from assay.server.config import ServerConfig
from tests.conftest import ProjectFactory, invoke, invoke_json

SPEC = """\
- step:
    name: train
    image: python:3.11
    command: python train.py {parameters}
    parameters:
      - name: rouge
        type: float
        default: 0.41
      - name: hf_token
        type: string
        default: none
- step:
    name: talk
    image: python:3.11
    command: python talk.py
- step:
    name: wait
    image: python:3.11
    command: python -c "import time; print('waiting', flush=True); time.sleep(120)"
"""
TRAIN = """\
import argparse, json, os
parser = argparse.ArgumentParser()
parser.add_argument("--rouge", type=float)
args, _ = parser.parse_known_args()
out = os.environ["VH_OUTPUTS_DIR"]
os.makedirs(os.path.join(out, "model"), exist_ok=True)
with open(os.path.join(out, "model", "weights.bin"), "w") as handle:
    handle.write(str(args.rouge))
with open(os.path.join(out, "valohai.metadata.jsonl"), "w") as handle:
    entry = {"valohai.model-versions": ["model://summarizer/"], "rougeL": args.rouge}
    handle.write(json.dumps({"file": "model/", "metadata": entry}) + "\\n")
print(json.dumps({"loss": 0.25}))
"""
TALK = """\
import sys, time
for n in range(5):
    print(f"line {n}", flush=True)
    time.sleep(0.4)
"""


SECRET = "hf_s3cr3t-value-4711"


@dataclasses.dataclass
class Api:
    client: TestClient
    catalog: Catalog
    root: Path
    project_id: str
    tokens: dict[str, str]
    cli: CliRunner

    def headers(self, who: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, path: str, who: str = "admin", **params: Any) -> Any:
        answer = self.client.get(self.url(path), headers=self.headers(who), params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def url(self, path: str) -> str:
        return f"/api/v1/projects/{self.project_id}{path}"

    def cli_json(self, *args: str) -> Any:
        return invoke_json(self.cli, self.root, *args)


@pytest.fixture
def api(cli: CliRunner, make_project: ProjectFactory) -> Iterator[Api]:
    root = make_project(SPEC, {"train.py": TRAIN, "talk.py": TALK}, name="summarizer").root
    config = dataclasses.replace(ServerConfig.load(root), slots=0, sign_in_delay=0.0)
    app = create_app(config)
    context = app.state.context
    admin = users.init_server(context.catalog, "admin")
    acting = users.authenticate_token(context.catalog, admin.token.value)
    tokens = {"admin": admin.token.value}
    for name, role in (("vera", Role.VIEWER), ("mia", Role.MEMBER), ("ada", Role.APPROVER)):
        added = users.add_user(context.catalog, acting, name, role, context.home_project_id, None)
        tokens[name] = added.token.value
    with TestClient(app) as client:
        yield Api(client, context.catalog, root, context.home_project_id, tokens, cli)


def _registry(api: Api) -> None:
    """Two model versions from real runs, v1 approved and production; a dataset with two files."""
    for rouge in ("0.41", "0.44"):
        code, output = invoke(api.cli, api.root, "run", "train", "--param", f"rouge={rouge}",
                              "--param", f"hf_token={SECRET}")  # fmt: skip
        assert code == 0, output
    (api.root / "news").mkdir()
    (api.root / "news" / "a.jsonl").write_text('{"text": "one"}\n')
    (api.root / "news" / "b.jsonl").write_text('{"text": "two"}\n')
    api.cli_json("datasets", "create", "news", "v1", str(api.root / "news"), "--alias", "current")
    api.cli_json("models", "approve", "summarizer/v1", "-m", "good enough")
    api.cli_json("models", "alias", "set", "summarizer/v1", "production")


@dataclasses.dataclass
class Live:
    url: str
    api: Api


@pytest.fixture
def live(api: Api) -> Iterator[Live]:
    """The same app served by uvicorn on a free port of 127.0.0.1, in a thread of this process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(api.client.app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield Live(f"http://127.0.0.1:{port}", api)
    server.should_exit = True
    thread.join(10)


def test_every_read_answers_what_the_cli_prints(api: Api) -> None:
    _registry(api)
    pairs: list[tuple[Any, Any]] = [
        (api.get("/executions")["data"], api.cli_json("executions", "list")),
        (api.get("/executions/1"), api.cli_json("executions", "show", "1")),
        (api.get("/executions/2/outputs")["data"], api.cli_json("executions", "outputs", "2")),
        (api.get("/models")["data"], api.cli_json("models", "list")),
        (api.get("/models/summarizer"), api.cli_json("models", "show", "summarizer")),
        (api.get("/models/summarizer/versions")["data"], api.cli_json("models", "versions", "summarizer")),
        (api.get("/models/summarizer/versions/v2"), api.cli_json("models", "show", "summarizer/v2")),
        (api.get("/models/summarizer/versions/production"), api.cli_json("models", "show", "summarizer/v1")),
        (api.get("/models/summarizer/compare", versions="v1,v2"),
         api.cli_json("models", "compare", "summarizer/v1", "summarizer/v2")),
        (api.get("/models/summarizer/aliases/production/history")["data"],
         api.cli_json("models", "alias", "history", "summarizer", "production")),
        (api.get("/datasets")["data"], api.cli_json("datasets", "list")),
        (api.get("/datasets/news"), api.cli_json("datasets", "show", "news")),
        (api.get("/datasets/news/versions/current"), api.cli_json("datasets", "show", "news/v1")),
        (api.get("/lineage/affected", uri="dataset://news/v1"),
         api.cli_json("lineage", "affected", "dataset://news/v1")),
        (api.get("/lineage/show", uri="model://summarizer/v2"),
         api.cli_json("lineage", "show", "model://summarizer/v2")),
        (api.get("/lineage/graph", uri="#1", direction="down"), _printed(api, "lineage", "graph", "#1")),
    ]  # fmt: skip
    for answered, printed in pairs:
        assert answered == printed
    assert SECRET not in json.dumps(pairs) + json.dumps(api.get("/events", limit=500))
    assert "***" in json.dumps(pairs[1][0]["parameters"])
    assert api.get("/models/summarizer/aliases")["data"] == [
        {"alias": "production", "version": "model://summarizer/v1"}
    ]
    held = api.get("/models/summarizer/aliases/production")
    assert (held["alias"], held["version"]) == ("production", "model://summarizer/v1")
    assert api.get("/executions", status="completed", step="train")["data"] == api.cli_json(
        "executions", "list"
    )
    assert api.get("/executions", status="error")["data"] == []
    first = api.get("/models/summarizer/versions", limit=1)
    second = api.get("/models/summarizer/versions", limit=1, cursor=first["next_cursor"])
    assert first["data"] + second["data"] == pairs[5][0]
    assert second["next_cursor"] is None
    kinds = [e["kind"] for e in api.get("/events", kind="model.alias.moved")["data"]]
    assert kinds == ["model.alias.moved"]


def _printed(api: Api, *args: str) -> Any:
    """What a command that prints JSON without ``--json`` (``lineage graph``) printed."""
    code, output = invoke(api.cli, api.root, *args)
    assert code == 0, output
    return json.loads(output)


def test_decisions_and_cards_through_the_api_are_the_cli_s_json(api: Api) -> None:
    _registry(api)
    version = api.url("/models/summarizer/versions/v2")
    approved = api.client.post(f"{version}/approve", headers=api.headers("ada"), json={"comment": "better"})
    assert approved.status_code == 200, approved.text
    assert approved.json() == api.cli_json("models", "show", "summarizer/v2")
    assert approved.json()["status"] == "approved"
    assert approved.json()["status_by"] == "ada"
    commented = api.client.post(f"{version}/comments", headers=api.headers("mia"), json={"text": "crisp"})
    scored = api.client.post(f"{version}/scores", headers=api.headers("mia"),
                             json={"rubric": "tone", "value": 4, "comment": "calm"})  # fmt: skip
    assert (commented.status_code, scored.status_code) == (201, 201)
    assert scored.json() == api.cli_json("models", "show", "summarizer/v2")
    assert "crisp" in json.dumps(scored.json()["card"])
    moved = api.client.put(api.url("/models/summarizer/aliases/production"), headers=api.headers("ada"),
                           json={"version": "v2", "reason": "v2 is better"})  # fmt: skip
    assert moved.status_code == 200, moved.text
    assert (moved.json()["from"], moved.json()["to"], moved.json()["changed"]) == (
        "model://summarizer/v1", "model://summarizer/v2", True)  # fmt: skip
    refused = api.client.put(api.url("/models/summarizer/aliases/production"), headers=api.headers("mia"),
                             json={"version": "v1"})  # fmt: skip
    assert refused.status_code == 403, refused.text
    flagged = api.client.post(api.url("/datasets/news/versions/v1/flag"), headers=api.headers("ada"),
                              json={"reason": "duplicates"})  # fmt: skip
    assert flagged.status_code == 201, flagged.text
    assert flagged.json()["flag"]["reason"] == "duplicates"
    lifted = api.client.post(api.url("/datasets/news/versions/v1/unflag"), headers=api.headers("ada"),
                             json={"reason": "deduplicated"})  # fmt: skip
    assert lifted.status_code == 200
    assert lifted.json()["active"] is False


def test_a_viewer_cannot_approve_and_changes_nothing(api: Api) -> None:
    _registry(api)
    before = api.get("/models/summarizer/versions/v2")
    events = api.get("/events")["data"]
    for who in ("vera", "mia"):
        refused = api.client.post(api.url("/models/summarizer/versions/v2/approve"), headers=api.headers(who),
                                  json={"comment": "ship it"})  # fmt: skip
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert "approver" in refused.json()["detail"]
    assert api.get("/models/summarizer/versions/v2") == before
    assert api.get("/events")["data"] == events


def test_pagination_walks_120_executions_without_repeats(live: Live, tmp_path: Path) -> None:
    api = live.api
    with api.catalog.transaction() as session:
        for _ in range(120):
            create_execution(
                session, project_id=api.project_id, step="train", image="python:3.11", command="true",
                parameters={}, inputs={}, execution_dir=str(tmp_path), actor="tester",
                log_path=str(tmp_path / "log"),
            )  # fmt: skip
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = api.get("/executions", limit=50, **({"cursor": cursor} if cursor else {}))
        assert len(page["data"]) <= 50
        seen += [e["counter"] for e in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(120, 0, -1))
    assert pages == 3
    bad = api.client.get(api.url("/executions"), headers=api.headers(), params={"cursor": "nonsense"})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    with Client(live.url, api.tokens["vera"], project=api.project_id) as client:
        assert [e["counter"] for e in client.executions()] == seen  # pages of 500, followed


def test_a_log_longer_than_a_chunk_comes_whole(api: Api, tmp_path: Path) -> None:
    log = tmp_path / "long.log"
    log.write_bytes(b"".join(f"line {n} \u00e9\r\n".encode() for n in range(300_000)))  # ~4.5 MB
    with api.catalog.transaction() as session:
        create_execution(
            session, project_id=api.project_id, step="train", image="python:3.11", command="true",
            parameters={}, inputs={}, execution_dir=str(tmp_path), actor="tester", log_path=str(log),
        )  # fmt: skip
    answer = api.client.get(api.url("/executions/1/logs"), headers=api.headers("vera"))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    assert answer.content == log.read_bytes()
    missing = api.client.get(api.url("/executions/2/logs"), headers=api.headers("vera"))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_a_tampered_blob_is_a_storage_problem_not_a_broken_stream(api: Api) -> None:
    _registry(api)
    good = api.client.get(api.url("/datasets/news/versions/v1/files/a.jsonl"), headers=api.headers("vera"))
    assert good.status_code == 200
    assert good.content == b'{"text": "one"}\n'
    assert good.headers["etag"] == f'"{hashlib.sha256(good.content).hexdigest()}"'
    assert good.headers["content-length"] == str(len(good.content))
    assert 'filename="a.jsonl"' in good.headers["content-disposition"]
    output = api.client.get(api.url("/executions/1/outputs/model/weights.bin"), headers=api.headers("vera"))
    assert (output.status_code, output.content) == (200, b"0.41")
    store = api.root / ".assay" / "store"
    for blob in (p for p in store.rglob("*") if p.is_file() and p.read_bytes() in (b"0.41", good.content)):
        blob.chmod(0o644)
        blob.write_bytes(b"tampered")
    for path in ("/datasets/news/versions/v1/files/a.jsonl", "/executions/1/outputs/model/weights.bin"):
        broken = api.client.get(api.url(path), headers=api.headers("vera"))
        assert broken.status_code == 500, broken.text
        assert broken.headers["content-type"] == "application/problem+json"
        assert broken.json()["type"] == "urn:assay:problem:storage-error"
        assert "corrupt" in broken.json()["detail"]


def test_following_a_running_execution_streams_its_lines_then_ends(live: Live) -> None:
    api = live.api
    running = _run_in_background(api, "talk")
    try:
        _started(api, running)
        with Client(live.url, api.tokens["vera"], project=api.project_id) as client:
            lines: list[str] = []
            status_at_first = None
            for line in client.follow_logs(1):
                if not lines:
                    status_at_first = client.execution(1)["status"]
                lines.append(line)
            assert [line for line in lines if line.startswith("line")] == [f"line {n}" for n in range(5)]
            assert status_at_first == "started"  # the first line came while it still ran
            assert client.execution(1)["status"] == "completed"
            assert "".join(f"{line}\n" for line in lines) == client.logs(1).replace("\r", "")
            assert client.logs(1) == Path(client.execution(1)["log_path"]).read_bytes().decode()
    finally:
        output = running.communicate(timeout=60)[0]
    assert running.returncode == 0, output


def _run_in_background(api: Api, step: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "assay", "-C", str(api.root), "run", step]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _started(api: Api, running: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not api.get("/executions", status="started")["data"]:
        assert running.poll() is None, running.communicate()[0]
        assert time.monotonic() < deadline, "the execution did not start"
        time.sleep(0.1)


def test_stop_asks_a_running_execution_to_stop(api: Api) -> None:
    running = _run_in_background(api, "wait")
    try:
        _started(api, running)
        refused = api.client.post(api.url("/executions/1/stop"), headers=api.headers("vera"))
        assert refused.status_code == 403, refused.text
        asked = api.client.post(api.url("/executions/1/stop"), headers=api.headers("mia"))
        assert asked.status_code == 202, asked.text
        assert (asked.json()["counter"], asked.json()["step"]) == (1, "wait")
        running.wait(timeout=60)
        assert api.get("/executions/1")["status"] == "stopped"
        again = api.client.post(api.url("/executions/1/stop"), headers=api.headers("mia"))
        assert again.status_code == 409, again.text
    finally:
        if running.poll() is None:
            running.kill()
        running.communicate()


def test_an_upload_that_breaks_the_rules_records_nothing(api: Api) -> None:
    url = api.url("/datasets/corpus/versions")
    cases = [
        (api.headers("vera"), {"version": "v1"}, [("files", ("a.txt", b"a"))], 403, "member"),
        (api.headers("mia"), {}, [("files", ("a.txt", b"a"))], 422, "'version'"),
        (api.headers("mia"), {"version": "v1"}, [("files", ("../a.txt", b"a"))], 422, "'..'"),
        (api.headers("mia"), {"version": "v1"}, [("files", ("a.txt", b"a")), ("files", ("a.txt", b"b"))], 422,
         "uploaded twice"),
        (api.headers("mia"), {"version": "v1"}, [], 422, "multipart"),
        (api.headers("mia"), {"version": "v1", "colour": "red"}, [("files", ("a.txt", b"a"))], 422, "colour"),
    ]  # fmt: skip
    for headers, data, files, status, said in cases:
        answer = api.client.post(url, headers=headers, data=data, files=files or None)
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert said in answer.json()["detail"], answer.json()
    late = b"".join([
        b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.txt\"\r\n\r\na\r\n",
        b"--b\r\nContent-Disposition: form-data; name=\"version\"\r\n\r\nv1\r\n--b--\r\n",
    ])  # fmt: skip
    multipart = {**api.headers("mia"), "Content-Type": "multipart/form-data; boundary=b"}
    answer = api.client.post(url, headers=multipart, content=late)
    assert answer.status_code == 422, answer.text
    assert "'version' before its files" in answer.json()["detail"]
    assert api.get("/datasets")["data"] == []


def test_a_100_mb_upload_and_download_stream_through_the_server(live: Live, tmp_path: Path) -> None:
    size = 100 * 1024 * 1024
    source = tmp_path / "big.bin"
    digest = hashlib.sha256()
    block = os.urandom(1 << 20)
    with source.open("wb") as handle:
        for n in range(size // len(block)):
            piece = n.to_bytes(8, "big") + block[8:]
            digest.update(piece)
            handle.write(piece)
    small = tmp_path / "small.txt"
    small.write_text("hello\n")
    with Client(live.url, live.api.tokens["mia"], project=live.api.project_id) as client:
        tracemalloc.start()
        try:
            created = client.create_dataset_version(
                "corpus", {"shards/big.bin": source, "small.txt": small}, version="v1", tags=["raw"]
            )
            grown = tracemalloc.get_traced_memory()[1]
            tracemalloc.reset_peak()
            fetched = client.download_dataset_file("corpus", "v1", "shards/big.bin", tmp_path / "copy.bin")
            grown = max(grown, tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    assert grown < 32 * 1024 * 1024, f"{grown / 2**20:.1f} MB traced"
    files = {f["name"]: f for f in created["files"]}
    assert files["shards/big.bin"]["sha256"] == digest.hexdigest()
    assert files["shards/big.bin"]["size"] == size
    assert created["tags"] == ["raw"]
    assert created == live.api.cli_json("datasets", "show", "corpus/v1")
    assert hashlib.sha256(fetched.read_bytes()).hexdigest() == digest.hexdigest()


READS = [
    ("models", "list"),
    ("models", "show", "summarizer"),
    ("models", "show", "summarizer/production"),
    ("models", "versions", "summarizer"),
    ("models", "compare", "summarizer/v1", "summarizer/v2"),
    ("models", "alias", "show", "summarizer"),
    ("models", "alias", "history", "summarizer"),
    ("models", "alias", "history", "summarizer", "production"),
    ("datasets", "list"),
    ("datasets", "show", "news"),
    ("datasets", "show", "news/current"),
    ("lineage", "affected", "dataset://news/v1"),
    ("lineage", "show", "model://summarizer/v2"),
    ("executions", "list"),
    ("executions", "show", "2"),
]


def _stdout(api: Api, *args: str, code: int = 0) -> str:
    result = api.cli.invoke(cli_app, ["-C", str(api.root), *args])
    assert result.exit_code == code, result.output
    return result.stdout if code == 0 else result.output


def test_the_cli_against_the_server_prints_what_it_prints_locally(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = live.api
    _registry(api)
    local = [_stdout(api, *command, *extra) for command in READS for extra in ((), ("--json",))]
    local_graph = _stdout(api, "lineage", "graph", "#1", "--format", "dot")
    monkeypatch.setenv("ASSAY_URL", live.url)
    monkeypatch.setenv("ASSAY_TOKEN", api.tokens["ada"])
    monkeypatch.setenv("ASSAY_PROJECT", api.project_id)
    monkeypatch.delenv("ASSAY_USER")
    remote = [_stdout(api, *command, *extra) for command in READS for extra in ((), ("--json",))]
    assert remote == local
    assert _stdout(api, "lineage", "graph", "#1", "--format", "dot") == local_graph
    card = json.loads(_stdout(api, "models", "approve", "summarizer/v2", "-m", "better", "--json"))
    assert (card["status"], card["status_by"]) == ("approved", "ada")  # who: the token, not ASSAY_USER
    json.loads(_stdout(api, "models", "comment", "summarizer/v2", "crisp", "--json"))
    scored = json.loads(_stdout(api, "models", "score", "summarizer/v2", "4", "-r", "tone", "--json"))
    moved = json.loads(_stdout(api, "models", "alias", "set", "summarizer/v2", "production", "--json"))
    assert (moved["to"], moved["changed"]) == ("model://summarizer/v2", True)
    (api.root / "more.txt").write_text("more\n")
    created = json.loads(_stdout(api, "datasets", "create", "news", "v2", str(api.root / "more.txt"),
                                 "--from", "v1", "--json"))  # fmt: skip
    assert sorted(f["name"] for f in created["files"]) == ["a.jsonl", "b.jsonl", "more.txt"]
    flagged = json.loads(_stdout(api, "datasets", "flag", "news/v1", "-r", "duplicates", "--json"))
    assert flagged["flag"]["flagged_by"] == "ada"
    refusals = [
        ("models", "describe", "summarizer", "text"),
        ("models", "alias", "remove", "summarizer", "production"),
        ("datasets", "alias", "set", "news/v1", "best"),
        ("executions", "settle"),
    ]
    for refused in refusals:
        said = _stdout(api, *refused, code=2)
        assert "has no server form" in said
        assert live.url in said
    after = [_stdout(api, "models", "show", ref, "--json") for ref in ("summarizer", "summarizer/v2")]
    for name in ("ASSAY_URL", "ASSAY_TOKEN", "ASSAY_PROJECT"):
        monkeypatch.delenv(name)
    assert [_stdout(api, "models", "show", ref, "--json") for ref in ("summarizer", "summarizer/v2")] == after
    card = json.loads(after[1])
    assert [(entry["kind"], entry["author"]) for entry in card["card"]][-3:] == [
        ("comment", "ada"), ("score", "ada"), ("alias", "ada")]  # fmt: skip
    assert scored["uri"] == card["uri"]
    assert json.loads(after[0])["description"] != "text"  # the refused describe did nothing
    assert api.cli_json("datasets", "show", "news/v2") == created
