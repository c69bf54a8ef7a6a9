"""Approving a gate through the operations: roles, separation of duties on the authenticated
identity, four-eyes (``approvals: {required: N}``), and racing approvers — on a real catalog
with real pipelines."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from assay.catalog import Catalog
from assay.catalog.account_tables import GateApproval
from assay.catalog.projects import resolve_project
from assay.catalog.tables import Gate
from assay.engine.wiring import RunRequest
from assay.errors import Conflict, PermissionDenied, SpecError
from assay.operations import gates as gate_ops
from assay.operations import pipeline_runs
from assay.operations.actor import Actor, Auth, Role
from assay.operations.workspace import Workspace
from tests.conftest import ProjectFactory, invoke, invoke_json
from tests.test_pipelines import EVALUATE, PROMOTE, SHARED, TRAIN

RACERS = 50
#: a node, then a gate before the next (quick: each command writes one file)
GATED = """\
- step:
    name: work
    image: python:3.11
    command: [echo "$VH_JOB_ID" > $VH_OUTPUTS_DIR/out.txt]
    inputs: [{name: upstream, optional: true}]
- pipeline:
    name: shape
    nodes:
      - {name: train, type: execution, step: work}
      - name: promote
        type: execution
        step: work
        actions: [{when: node-starting, then: require-approval}]
    edges: [[train.output.*, promote.input.upstream]]
"""


def workspace_of(
    catalog: Catalog, make_project: ProjectFactory, spec: str, settings: str = "", **files: str
) -> Workspace:
    project = make_project(spec, {"assay.yaml": settings, **files} if settings else dict(files))
    return Workspace(catalog, project, resolve_project(catalog, project).id)


def person(workspace: Workspace, name: str, role: Role, auth: Auth = Auth.TOKEN) -> Actor:
    return Actor(name=name, auth=auth, roles={workspace.project_id: role})


def _gate_rows(workspace: Workspace) -> tuple[list[Gate], list[GateApproval]]:
    with workspace.catalog.read() as session:
        gates = list(session.scalars(select(Gate)))
        approvals = list(session.scalars(select(GateApproval).order_by(GateApproval.id)))
        session.expunge_all()
    return gates, approvals


def _seed(catalog: Catalog, make_project: ProjectFactory, settings: str) -> tuple[Workspace, int]:
    workspace = workspace_of(
        catalog, make_project, (SHARED / "seed-pipeline.yaml").read_text(), settings,
        **{"train.py": TRAIN, "evaluate.py": EVALUATE, "promote.py": PROMOTE, "data.txt": "news"},
    )  # fmt: skip
    request = RunRequest(
        node_inputs={"train-model": {"training_data": [str(workspace.project.root / "data.txt")]}}
    )
    view = pipeline_runs.start(
        workspace, person(workspace, "carol", Role.MEMBER), "train-and-evaluate-model", request
    )
    assert view.status == "waiting-approval"
    return workspace, view.counter


def test_two_approvals_open_the_gate_and_each_is_recorded(
    catalog: Catalog, make_project: ProjectFactory
) -> None:
    workspace, counter = _seed(catalog, make_project, "approvals:\n  required: 2\n")
    alice = person(workspace, "Alice", Role.APPROVER)
    first = gate_ops.approve(workspace, alice, counter, "promote-model", comment="BLEU is fine")
    assert not first.opened
    assert first.run.status == "waiting-approval"
    assert [(a.shown_as, a.principal, a.auth_method) for a in first.gate.approvals] == [
        ("Alice", "alice", "token")
    ]
    # the same person again, however the name is spelt: refused, and nothing changes
    with pytest.raises(Conflict, match="already approved by you"):
        gate_ops.approve(workspace, person(workspace, "ALICE", Role.APPROVER), counter, "promote-model")
    assert [g.node for g in gate_ops.gates(workspace, alice)] == ["promote-model"]
    assert gate_ops.gates(workspace, alice, waiting_for_me=True) == ()
    bob = person(workspace, "bob", Role.APPROVER, Auth.SESSION)
    assert [g.node for g in gate_ops.gates(workspace, bob, waiting_for_me=True)] == ["promote-model"]

    second = gate_ops.approve(workspace, bob, counter, "promote-model", comment="agreed")
    assert second.opened
    assert second.run.status == "completed"
    gates, approvals = _gate_rows(workspace)
    assert [(g.status, g.decided_by, g.auth_method, g.comment) for g in gates] == [
        ("approved", "bob", "session", "agreed")
    ]
    assert [(a.shown_as, a.auth_method, a.comment) for a in approvals] == [
        ("Alice", "token", "BLEU is fine"), ("bob", "session", "agreed")
    ]  # fmt: skip
    assert all(a.evidence["upstream"]["evaluate-model"][0]["metadata"] == {"bleu": 0.41} for a in approvals)
    shown = pipeline_runs.show(workspace, alice, counter).as_json()
    gate = next(n["gate"] for n in shown["nodes"] if n["name"] == "promote-model")
    assert gate["required"] == 2
    assert [a["by"] for a in gate["approvals"]] == ["Alice", "bob"]


def test_a_member_may_not_decide_and_changes_nothing(catalog: Catalog, make_project: ProjectFactory) -> None:
    workspace = workspace_of(catalog, make_project, GATED)
    view = pipeline_runs.start(workspace, person(workspace, "carol", Role.MEMBER), "shape", RunRequest())
    assert view.status == "waiting-approval"
    member = person(workspace, "dave", Role.MEMBER)
    for decide in (gate_ops.approve, gate_ops.reject):
        with pytest.raises(PermissionDenied, match="needs the approver role"):
            decide(workspace, member, view.counter, "promote")
    viewer = person(workspace, "vera", Role.VIEWER)
    with pytest.raises(PermissionDenied):
        pipeline_runs.start(workspace, viewer, "shape", RunRequest())
    assert gate_ops.gates(workspace, member, waiting_for_me=True) == ()
    gates, approvals = _gate_rows(workspace)
    assert [g.status for g in gates] == ["pending"]
    assert approvals == []
    assert pipeline_runs.show(workspace, viewer, view.counter).status == "waiting-approval"


def test_the_starter_may_not_approve_under_separation_of_duties(
    catalog: Catalog, make_project: ProjectFactory
) -> None:
    settings = "approvals:\n  require-different-approver: true\n"
    workspace = workspace_of(catalog, make_project, GATED, settings)
    carol = person(workspace, "carol", Role.APPROVER)
    view = pipeline_runs.start(workspace, carol, "shape", RunRequest())
    assert gate_ops.gates(workspace, carol, waiting_for_me=True) == ()
    # the authenticated name decides, however it is spelt
    with pytest.raises(PermissionDenied, match="started pipeline run #1 and may not approve it"):
        gate_ops.approve(workspace, person(workspace, "Carol", Role.APPROVER), view.counter, "promote")
    assert _gate_rows(workspace)[1] == []
    decided = gate_ops.approve(workspace, person(workspace, "erin", Role.APPROVER), view.counter, "promote")
    assert decided.opened
    assert decided.run.status == "completed"


def test_a_reject_decides_at_once_even_with_four_eyes(catalog: Catalog, make_project: ProjectFactory) -> None:
    workspace = workspace_of(catalog, make_project, GATED, "approvals:\n  required: 3\n")
    view = pipeline_runs.start(workspace, person(workspace, "carol", Role.MEMBER), "shape", RunRequest())
    gate_ops.approve(workspace, person(workspace, "alice", Role.APPROVER), view.counter, "promote")
    rejected = gate_ops.reject(workspace, person(workspace, "bob", Role.ADMIN), view.counter, "promote",
                                    comment="no")  # fmt: skip
    assert rejected.opened
    assert rejected.gate.status == "rejected"
    assert rejected.run.status == "stopped"
    with pytest.raises(Conflict, match="already rejected by bob"):
        gate_ops.approve(workspace, person(workspace, "frank", Role.APPROVER), view.counter, "promote")


def test_fifty_racing_approvers_make_one_decision(catalog: Catalog, make_project: ProjectFactory) -> None:
    workspace = workspace_of(catalog, make_project, GATED)
    view = pipeline_runs.start(workspace, person(workspace, "carol", Role.MEMBER), "shape", RunRequest())
    barrier = threading.Barrier(RACERS)
    handed: list[str] = []
    opened: list[str] = []
    conflicts: list[str] = []

    def approve(name: str) -> None:
        barrier.wait()
        try:
            decided = gate_ops.approve(
                workspace, person(workspace, name, Role.APPROVER), view.counter, "promote",
                background=lambda _workspace, run_id: handed.append(run_id),
            )  # fmt: skip
        except Conflict as exc:
            conflicts.append(exc.message)
        else:
            assert decided.opened
            opened.append(name)

    threads = [threading.Thread(target=approve, args=(f"approver-{i}",)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(opened), len(conflicts)) == (1, RACERS - 1), (opened, conflicts[:3])
    assert handed == [view.id]
    assert all(f"already approved by {opened[0]}" in message for message in conflicts)
    gates, approvals = _gate_rows(workspace)
    assert [(g.status, g.decided_by) for g in gates] == [("approved", opened[0])]
    assert [a.shown_as for a in approvals] == opened  # the losers' approvals were rolled back


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "true"])
def test_approvals_required_must_be_a_positive_integer(make_project: ProjectFactory, value: str) -> None:
    from assay.spec.settings import load_settings

    project = make_project("- step: {name: s, image: python:3.11, command: 'true'}\n",
                           {"assay.yaml": f"approvals:\n  required: {value}\n"})  # fmt: skip
    with pytest.raises(SpecError) as raised:
        load_settings(project.root)
    assert [(p.line, p.message) for p in raised.value.problems] == [
        (2, "approvals.required must be an integer ≥ 1 (distinct approvers a gate needs)")
    ]


def test_the_cli_shows_the_approvals_a_gate_has(
    cli: CliRunner, make_project: ProjectFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(GATED, {"assay.yaml": "approvals:\n  required: 2\n"}).root
    assert invoke(cli, root, "pipeline", "run", "shape", "-q")[0] == 0
    monkeypatch.setenv("ASSAY_USER", "alice")
    code, output = invoke(cli, root, "pipeline", "approve", "1", "promote", "-m", "fine")
    assert code == 0, output
    assert "promote: approved by alice (1 of 2 approvals)" in output
    code, output = invoke(cli, root, "pipeline", "show", "1")
    assert "promote: 1 of 2 approvals: alice" in output
    code, output = invoke(cli, root, "pipeline", "approve", "1", "promote")
    assert code == 4, output
    assert "already approved by you" in output
    gate = next(
        n["gate"] for n in invoke_json(cli, root, "pipeline", "show", "1")["nodes"] if n["name"] == "promote"
    )
    assert (gate["status"], gate["required"], [a["by"] for a in gate["approvals"]]) == (
        "pending",
        2,
        ["alice"],
    )
    assert gate["approvals"][0]["auth_method"] == "local"
    monkeypatch.setenv("ASSAY_USER", "bob")
    code, output = invoke(cli, root, "pipeline", "approve", "1", "promote")
    assert code == 0, output
    assert invoke_json(cli, root, "pipeline", "show", "1")["status"] == "completed"
