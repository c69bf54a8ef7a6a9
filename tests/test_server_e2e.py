"""The server end to end: a real ``assay server`` subprocess on 127.0.0.1 (``server_process.py``),
accounts made with the real ``assay server init|users add``, the seed pipeline with its gate
started and decided through the REST API, on SQLite and PostgreSQL.

* the run waits at the gate with no request open; a member's approval is 403 and changes
  nothing; the starter's own is refused under ``require-different-approver``; an approver's
  approval with a comment lets the run complete in the background;
* ``approvals: {required: 2}``: the gate opens only after two different approvers;
* 50 approvers approve one gate at once: one 202, 49 × 409;
* the CLI against the server prints the same ``--json`` as locally, for the same catalog;
* ``kill -9`` of the server while a 20-node pipeline runs, then a restart: the run completes
  and no node ran twice (``bench/server_crash.py`` repeats it many more times).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from assay.catalog import Catalog, pipelines
from assay.catalog.projects import ensure_project
from assay.errors import Conflict, PermissionDenied
from tests.server_process import ASSAY, ServerProcess
from tests.test_crash_safety import check_exactly_once
from tests.test_pipelines import EVALUATE, PROMOTE, TRAIN

SEED = Path(__file__).resolve().parent / "fixtures" / "seed" / "seed-pipeline.yaml"
PIPELINE = "train-and-evaluate-model"
CRASH_TRIALS = 10
WAIT_SECONDS = 120.0

Serve = Callable[..., ServerProcess]


@pytest.fixture
def serve(tmp_path: Path, database_url: str) -> Iterator[Serve]:
    """``serve(spec, assay_yaml)``: a project folder, its first admin, and its server, started."""
    started: list[ServerProcess] = []

    def make(spec: str, assay_yaml: str = "", files: dict[str, str] | None = None) -> ServerProcess:
        root = tmp_path / f"project{len(started)}"
        root.mkdir()
        (root / "valohai.yaml").write_text(spec)
        if assay_yaml:
            (root / "assay.yaml").write_text(assay_yaml)
        for name, text in (files or {}).items():
            (root / name).write_text(text)
        env = {**os.environ, "ASSAY_DATABASE_URL": database_url, "ASSAY_SANDBOX": "none"}
        server = ServerProcess(root, env)
        server.admin = server.init()  # type: ignore[attr-defined]
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def seed(serve: Serve, assay_yaml: str) -> ServerProcess:
    return serve(SEED.read_text(), assay_yaml, {"train.py": TRAIN, "evaluate.py": EVALUATE,
                                                   "promote.py": PROMOTE, "data.txt": "news"})  # fmt: skip


def start_seed(server: ServerProcess, token: str) -> dict[str, Any]:
    with server.client(token) as client:
        data = str(server.root / "data.txt")
        return client.start_pipeline(PIPELINE, node_inputs={"train-model": {"training_data": [data]}})


def wait_for(server: ServerProcess, token: str, counter: int, statuses: tuple[str, ...]) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    with server.client(token) as client:
        while True:
            view = client.pipeline_run(counter)
            if view["status"] in statuses:
                return view
            if time.monotonic() > deadline:
                raise AssertionError(f"run #{counter} is {view['status']}, not {statuses}:\n{server.tail()}")
            time.sleep(0.1)


def gate_of(view: dict[str, Any], node: str = "promote-model") -> dict[str, Any]:
    found: dict[str, Any] = next(n for n in view["nodes"] if n["name"] == node)["gate"]
    return found


def test_the_seed_run_waits_at_the_gate_and_only_another_approver_opens_it(serve: Serve) -> None:
    server = seed(serve, "approvals:\n  require-different-approver: true\n")
    ana = server.add_user("ana", "approver")  # starts the run
    bob = server.add_user("bob", "approver")
    mia = server.add_user("mia", "member")
    server.start()

    started = start_seed(server, ana)
    assert started["counter"] == 1
    assert started["created_by"] == "ana"
    # nothing is open now: the scheduler drives the run to its gate
    view = wait_for(server, ana, 1, ("waiting-approval", "error", "completed"))
    assert view["status"] == "waiting-approval", view["message"]
    assert gate_of(view)["status"] == "pending"
    with server.client(bob) as client:
        assert [(g["run"], g["node"]) for g in client.gates(waiting_for_me=True)] == [(1, "promote-model")]
    for token in (ana, mia):
        with server.client(token) as client:
            assert client.gates(waiting_for_me=True) == []
            assert [g["node"] for g in client.gates()] == ["promote-model"]

    with server.client(mia) as client, pytest.raises(PermissionDenied, match="needs the approver role"):
        client.approve(1, "promote-model", comment="a member's word")
    with server.client(ana) as client, pytest.raises(PermissionDenied, match="ana started pipeline run #1"):
        client.approve(1, "promote-model")
    after = wait_for(server, ana, 1, ("waiting-approval",))
    assert gate_of(after) == gate_of(view)  # neither refusal changed anything

    with server.client(bob) as client:
        decision = client.approve(1, "promote-model", comment="BLEU is fine")
    assert decision["opened"] is True
    assert decision["gate"]["decided_by"] == "bob"
    done = wait_for(server, bob, 1, ("completed", "error", "stopped"))
    assert done["status"] == "completed", done["message"]
    gate = gate_of(done)
    assert (gate["status"], gate["decided_by"], gate["comment"]) == ("approved", "bob", "BLEU is fine")
    assert [(a["by"], a["auth_method"]) for a in gate["approvals"]] == [("bob", "token")]
    with server.client(bob) as client, pytest.raises(Conflict, match="already approved by bob"):
        client.approve(1, "promote-model")

    check_cli_parity(server, bob)


def check_cli_parity(server: ServerProcess, token: str) -> None:
    """The CLI with ASSAY_URL/ASSAY_TOKEN prints what it prints locally, for the same catalog."""
    commands = [["pipeline", "show", "1"], ["pipeline", "list"]]
    bearer = {"Authorization": f"Bearer {token}"}
    paths = httpx.get(f"{server.url}/api/v1/openapi.json", headers=bearer, timeout=30).json()["paths"]
    # NOTE: the executions routes come from another branch (routes/executions.py); until it is
    # merged, their half of this check waits for them.
    if "/api/v1/projects/{project}/executions" in paths:
        commands += [["executions", "list"], ["executions", "show", "1"]]
    for args in commands:
        local = _cli(server, [*args, "--json"], {})
        remote = _cli(server, [*args, "--json"], {"ASSAY_URL": server.url, "ASSAY_TOKEN": token})
        assert json.loads(remote) == json.loads(local), args


def _cli(
    server: ServerProcess, args: list[str], extra: dict[str, str], *, cwd: Path | None = None, code: int = 0
) -> str:
    env = {**server.env, **extra}
    done = subprocess.run([ASSAY, *args], cwd=cwd or server.root, env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == code, done.stdout + done.stderr
    return done.stdout + (done.stderr if code else "")


def test_with_two_approvals_required_the_gate_opens_on_the_second_approver(serve: Serve) -> None:
    server = seed(serve, "approvals:\n  required: 2\n")
    ana, bob, cy = (server.add_user(name, "approver") for name in ("ana", "bob", "cy"))
    server.start()
    start_seed(server, ana)
    wait_for(server, ana, 1, ("waiting-approval",))

    as_bob = {"ASSAY_URL": server.url, "ASSAY_TOKEN": bob}
    output = _cli(server, ["pipeline", "approve", "1", "promote-model", "-m", "one"], as_bob)
    assert "promote-model: approved by bob (1 of 2 approvals)" in output
    assert "promote-model: 1 of 2 approvals: bob" in output
    with server.client(bob) as client:
        assert [a["by"] for a in gate_of(client.pipeline_run(1))["approvals"]] == ["bob"]
        with pytest.raises(Conflict):
            client.approve(1, "promote-model", comment="the same person twice")
        assert client.gates(waiting_for_me=True) == []
    time.sleep(0.5)
    assert wait_for(server, ana, 1, ("waiting-approval",))["status"] == "waiting-approval"

    with server.client(cy) as client:
        assert [g["node"] for g in client.gates(waiting_for_me=True)] == ["promote-model"]
    output = _cli(server, ["pipeline", "approve", "1", "promote-model", "-m", "two"],
                  {"ASSAY_URL": server.url, "ASSAY_TOKEN": cy})  # fmt: skip
    assert "promote-model approved by cy" in output
    assert "The server continues the run" in output
    assert "waits for approval of" not in output  # the tree of the moment may still say so
    done = wait_for(server, ana, 1, ("completed", "error"))
    assert done["status"] == "completed", done["message"]
    assert [a["by"] for a in gate_of(done)["approvals"]] == ["bob", "cy"]


def test_fifty_approvers_at_once_make_one_decision(serve: Serve, database_url: str) -> None:
    from assay.catalog import open_catalog
    from assay.operations import users
    from assay.operations.actor import Actor, Role

    server = seed(serve, "")
    starter = server.add_user("starter", "member")
    with open_catalog(database_url) as catalog:  # 50 accounts: in-process, the CLI's one call each
        tokens = [
            users.add_user(catalog, Actor.local(), f"approver{n}", Role.APPROVER, None, None).token.value
            for n in range(50)
        ]
    server.start()
    start_seed(server, starter)
    wait_for(server, starter, 1, ("waiting-approval",))
    path = f"/api/v1/projects/{server.root.name}/pipeline-runs/1/gates/promote-model/approve"

    def approve(token: str) -> int:
        answer = httpx.post(server.url + path, json={"comment": "mine"}, timeout=120,
                            headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        return answer.status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = Counter(pool.map(approve, tokens))
    assert statuses == {202: 1, 409: 49}, statuses
    done = wait_for(server, starter, 1, ("completed", "error"))
    assert done["status"] == "completed", done["message"]
    assert len(gate_of(done)["approvals"]) == 1


def linear_twenty() -> str:
    lines = [
        "- step:",
        "    name: work",
        "    image: python:3.11",
        "    command:",
        "      - sleep 0.05",
        '      - echo "$VH_JOB_ID" > $VH_OUTPUTS_DIR/out.txt',
        "    inputs:",
        "      - {name: upstream, optional: true}",
        "- pipeline:",
        "    name: linear",
        "    nodes:",
        *(f"      - {{name: n{n:02d}, type: execution, step: work}}" for n in range(20)),
        "    edges:",
        *(f"      - [n{n:02d}.output.*, n{n + 1:02d}.input.upstream]" for n in range(19)),
    ]
    return "\n".join(lines) + "\n"


def crash_trial(server: ServerProcess, token: str, catalog: Catalog, rng: random.Random, span: float) -> str:
    """Start the linear run on the running server, SIGKILL the server at a random moment, start
    it again, wait for the run, check that every node completed exactly once; the server stays up."""
    with server.client(token) as client:
        counter = client.start_pipeline("linear")["counter"]
    time.sleep(rng.uniform(0.0, span))
    with server.client(token) as client:
        status = client.pipeline_run(counter)["status"]
    server.kill()
    server.start()  # settles what the killed server left, and resumes the run
    done = wait_for(server, token, counter, ("completed", "error", "stopped"))
    assert done["status"] == "completed", f"{done['message']}\n{server.tail()}"
    check_exactly_once(catalog, server.root.name, counter)
    return "after the run finished" if status == "completed" else "while the run was going"


def calibrate(server: ServerProcess, token: str) -> float:
    """Seconds the linear run takes through the running server, uninterrupted."""
    began = time.monotonic()
    with server.client(token) as client:
        counter = client.start_pipeline("linear")["counter"]
    wait_for(server, token, counter, ("completed",))
    return time.monotonic() - began


def test_a_server_killed_mid_run_resumes_it_on_restart_and_no_node_runs_twice(
    serve: Serve, database_url: str
) -> None:
    server = serve(linear_twenty())
    token = server.add_user("runner", "member")
    rng = random.Random(20261202)
    server.start()
    with Catalog.open(database_url) as catalog:
        span = calibrate(server, token)
        landed = [crash_trial(server, token, catalog, rng, span) for _ in range(CRASH_TRIALS)]
    assert landed.count("while the run was going") >= CRASH_TRIALS // 2, landed


def test_an_adhoc_run_uploads_the_working_tree_and_runs_it(serve: Serve, database_url: str) -> None:
    server = serve(linear_twenty())
    token = server.add_user("mia", "member")
    # the caller's copy differs from the server's folder: an uncommitted change, run as it is
    mine = server.root.parent / "mine"
    mine.mkdir()
    (mine / "valohai.yaml").write_text(linear_twenty().replace("sleep 0.05", "echo from-my-tree"))
    (mine / ".assay").mkdir()
    (mine / ".assay" / "junk").write_text("never uploaded")
    server.start()
    remote = {"ASSAY_URL": server.url, "ASSAY_TOKEN": token, "ASSAY_PROJECT": server.root.name}
    output = _cli(server, ["pipeline", "run", "linear", "--adhoc"], remote, cwd=mine)
    assert "pipeline run #1 of 'linear' started on" in output
    done = wait_for(server, token, 1, ("completed", "error"))
    assert done["status"] == "completed", done["message"]
    first = done["nodes"][0]["executions"][0]["counter"]
    assert "from-my-tree" in _cli(server, ["executions", "logs", str(first)], {})
    shown = json.loads(_cli(server, ["executions", "show", str(first), "--json"], remote))
    assert shown["source"]["adhoc"] is True
    assert "an uploaded working tree" in _cli(server, ["executions", "show", str(first)], remote)
    with Catalog.open(database_url) as catalog, catalog.read() as session:
        run = pipelines.get_run(session, ensure_project(session, server.root.name).id, 1)
        assert run.request["source"]["adhoc"] is True
        assert len(run.request["source"]["tree"]) == 64
    local = _cli(server, ["pipeline", "run", "linear", "--adhoc"], {}, cwd=mine, code=2)
    assert "--adhoc runs through a server, and none is configured" in local


def test_sigterm_drains_the_run_and_the_next_start_finishes_it(serve: Serve, database_url: str) -> None:
    server = serve(linear_twenty())
    token = server.add_user("runner", "member")
    server.start()
    with server.client(token) as client:
        counter = client.start_pipeline("linear")["counter"]
        while client.pipeline_run(counter)["nodes"][2]["status"] != "completed":
            time.sleep(0.05)
    assert server.process is not None
    server.process.terminate()
    assert server.process.wait(timeout=60) == 0, server.tail()
    with Catalog.open(database_url) as catalog, catalog.read() as session:
        run = pipelines.get_run(session, ensure_project(session, server.root.name).id, counter)
        assert run.status == "running"  # left for resume, not ended
        assert "SIGTERM" in (run.message or ""), run.message
    server.start()
    done = wait_for(server, token, counter, ("completed", "error", "stopped"))
    assert done["status"] == "completed", done["message"]
    with Catalog.open(database_url) as catalog:
        check_exactly_once(catalog, server.root.name, counter)


def test_the_cli_starts_rejects_and_stops_runs_through_the_server(serve: Serve) -> None:
    server = seed(serve, "")
    ana = server.add_user("ana", "approver")
    server.start()
    as_ana = {"ASSAY_URL": server.url, "ASSAY_TOKEN": ana}
    data = f"train-model.training_data={server.root / 'data.txt'}"
    for counter in (1, 2):
        output = _cli(server, ["pipeline", "run", PIPELINE, "--input", data], as_ana)
        assert f"pipeline run #{counter} of '{PIPELINE}' started on {server.url}" in output
        assert f"`assay pipeline show {counter} --watch` follows it" in output
    wait_for(server, ana, 1, ("waiting-approval",))
    output = _cli(server, ["pipeline", "reject", "1", "promote-model", "-m", "tone is off"], as_ana)
    assert "promote-model rejected by ana" in output
    rejected = wait_for(server, ana, 1, ("stopped",))
    assert (gate_of(rejected)["status"], gate_of(rejected)["comment"]) == ("rejected", "tone is off")
    _cli(server, ["pipeline", "stop", "2"], as_ana)
    assert wait_for(server, ana, 2, ("stopped",))["status"] == "stopped"
    refused = _cli(server, ["pipeline", "resume", "2"], as_ana, code=4)
    assert "already stopped" in refused
