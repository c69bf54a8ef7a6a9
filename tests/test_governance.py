"""Decisions outside a gate (catalog/governance.py) through the real CLI on a real catalog:
`assay models approve` and `models alias set … production` cannot walk around a rejection, a
flag or the separation of duties, and every decision is recorded with who, why and what it
overrode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from assay.catalog import Catalog
from assay.catalog.governance import normalize_identity, same_person
from assay.catalog.tables import Event
from assay.cli.app import app
from tests.conftest import ProjectFactory

SPEC = """\
- step:
    name: train
    image: python:3.11
    command: python train.py
    inputs:
      - name: data
        optional: true
- step:
    name: promote
    image: python:3.11
    command: ls /valohai/inputs/model
    inputs:
      - name: model
- pipeline:
    name: ship
    nodes:
      - name: train
        type: execution
        step: train
      - name: promote
        type: execution
        step: promote
        actions:
          - when: node-starting
            then: require-approval
    edges:
      - [train.output.model/*, promote.input.model]
"""
TRAIN = """\
import json, os
out = os.environ["VH_OUTPUTS_DIR"]
os.makedirs(os.path.join(out, "model"), exist_ok=True)
with open(os.path.join(out, "model", "weights.bin"), "w") as handle:
    handle.write("weights")
with open(os.path.join(out, "valohai.metadata.jsonl"), "w") as handle:
    entry = {"valohai.model-versions": ["model://summarizer/"], "rougeL": 0.41}
    handle.write(json.dumps({"file": "model/", "metadata": entry}) + "\\n")
"""
SEPARATE = "approvals:\n  require-different-approver: true\n"


@pytest.fixture
def root(make_project: ProjectFactory) -> Path:
    return make_project(SPEC, {"train.py": TRAIN}).root


@pytest.fixture
def separated(make_project: ProjectFactory) -> Path:
    return make_project(SPEC, {"train.py": TRAIN, "assay.yaml": SEPARATE}).root


def _run(cli: CliRunner, root: Path, *args: str, user: str | None = None) -> Result:
    env = {"ASSAY_USER": user} if user is not None else None
    return cli.invoke(app, ["-C", str(root), *args], env=env)


def _ok(cli: CliRunner, root: Path, *args: str, user: str | None = None) -> Any:
    """``--json`` of a command that must succeed (its stdout only: warnings go to stderr)."""
    result = _run(cli, root, *args, "--json", user=user)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _train(cli: CliRunner, root: Path, *args: str, user: str | None = None) -> None:
    result = _run(cli, root, "run", "train", *args, user=user)
    assert result.exit_code == 0, result.output


def _events(database_url: str, kind: str) -> list[Event]:
    catalog = Catalog.open(database_url)
    try:
        with catalog.read() as session:
            return list(session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))
    finally:
        catalog.close()


def _rejected_v1(cli: CliRunner, root: Path) -> None:
    _train(cli, root)
    _ok(cli, root, "models", "reject", "summarizer/v1", "-m", "drops numbers", user="bob")


def test_models_alias_set_production_on_a_rejected_version_is_refused_without_force(
    cli: CliRunner, root: Path, database_url: str
) -> None:
    _rejected_v1(cli, root)

    refused = _run(cli, root, "models", "alias", "set", "summarizer/v1", "production", user="alice")
    assert refused.exit_code == 4, refused.output
    assert "model://summarizer/v1 was rejected by bob at" in refused.stderr
    assert "drops numbers; production may not point at it" in refused.stderr
    assert '--force --reason "why"' in refused.stderr
    no_reason = _run(cli, root, "models", "alias", "set", "summarizer/v1", "production", "--force")
    assert no_reason.exit_code == 2
    assert "--force needs a reason" in no_reason.stderr
    blank = _run(cli, root, "models", "alias", "set", "summarizer/v1", "production", "--force", "-m", " ")
    assert blank.exit_code == 2
    assert _ok(cli, root, "models", "alias", "history", "summarizer") == []  # nothing moved
    assert _ok(cli, root, "models", "show", "summarizer/v1")["aliases"] == []

    # Another alias is not a decision: it moves, with the warning it always had.
    candidate = _run(cli, root, "models", "alias", "set", "summarizer/v1", "candidate", user="alice")
    assert candidate.exit_code == 0, candidate.output
    assert "warning: model://summarizer/v1 is rejected" in candidate.stderr

    moved = _ok(cli, root, "models", "alias", "set", "summarizer/v1", "production", "--force",
                "--reason", "the only build that boots; rollback plan in INC-7", user="alice")  # fmt: skip
    assert (moved["to"], moved["by"], moved["changed"]) == ("model://summarizer/v1", "alice", True)
    assert moved["reason"] == "the only build that boots; rollback plan in INC-7"
    card = _ok(cli, root, "models", "show", "summarizer/v1")
    assert card["status"] == "rejected"  # an alias move changes no status
    [decision] = [e for e in card["card"] if e["kind"] == "alias"]
    assert (decision["author"], decision["alias"], decision["forced"]) == ("alice", "production", True)
    assert decision["force_reason"] == "the only build that boots; rollback plan in INC-7"
    [overrode] = decision["overrode"]
    assert overrode.startswith("rejected by bob at")
    assert overrode.endswith(": drops numbers")
    [event] = [e for e in _events(database_url, "model.alias.moved") if e.payload["alias"] == "production"]
    assert (event.actor, event.payload["forced"], event.payload["overrode"]) == ("alice", True, [overrode])

    # Once it points there, setting it again decides nothing and needs nothing.
    again = _run(cli, root, "models", "alias", "set", "summarizer/v1", "production")
    assert again.exit_code == 0, again.output
    assert "already points at model://summarizer/v1; nothing changed" in again.output


def test_approving_a_rejected_version_needs_force_and_a_reason_and_records_them(
    cli: CliRunner, root: Path, database_url: str
) -> None:
    _rejected_v1(cli, root)

    refused = _run(cli, root, "models", "approve", "summarizer/v1", "-m", "looks fine", user="alice")
    assert refused.exit_code == 4, refused.output
    assert "model://summarizer/v1 was rejected by bob at" in refused.stderr
    assert "it may not be approved" in refused.stderr
    for args, message in (
        (["--force"], "--force needs a reason"),
        (["--force", "--reason", ""], "--force needs a reason"),
        (["--reason", "because"], "--reason says why a --force overrides a refusal"),
    ):
        result = _run(cli, root, "models", "approve", "summarizer/v1", *args, user="alice")
        assert result.exit_code == 2, result.output
        assert message in result.stderr
    assert _ok(cli, root, "models", "show", "summarizer/v1")["status"] == "rejected"
    assert _events(database_url, "model.version.approved") == []

    why = "bob's rejection was for the old prompts"
    approved = _run(cli, root, "models", "approve", "summarizer/v1", "--comment", "re-scored by hand",
                    "--force", "--reason", why, user="alice")  # fmt: skip
    assert approved.exit_code == 0, approved.output
    assert "is now approved (forced: bob's rejection was for the old prompts)" in approved.stdout
    card = _ok(cli, root, "models", "show", "summarizer/v1")
    assert (card["status"], card["status_by"], card["status_comment"]) == (
        "approved",
        "alice",
        "re-scored by hand",
    )
    status = [e for e in card["card"] if e["kind"] == "status"]
    assert [(e["status"], e["author"], e.get("forced")) for e in status] == [
        ("rejected", "bob", None),
        ("approved", "alice", True),
    ]
    assert status[-1]["force_reason"] == "bob's rejection was for the old prompts"
    assert status[-1]["overrode"][0].startswith("rejected by bob at")
    [event] = _events(database_url, "model.version.approved")
    assert event.actor == "alice"
    assert event.payload["comment"] == "re-scored by hand"
    assert (event.payload["forced"], event.payload["force_reason"]) == (
        True,
        "bob's rejection was for the old prompts",
    )
    shown = _run(cli, root, "models", "show", "summarizer/v1")
    assert "(forced: bob's rejection was for the old prompts)" in shown.stdout

    # An ordinary approval records that nothing was forced.
    _train(cli, root)
    _ok(cli, root, "models", "approve", "summarizer/v2", user="alice")
    second = _events(database_url, "model.version.approved")[-1]
    assert (second.payload["forced"], second.payload["overrode"], second.payload["flags"]) == (False, [], [])


def test_a_flagged_version_is_approved_and_promoted_with_a_warning_unless_forced(
    cli: CliRunner, root: Path, database_url: str
) -> None:
    (root / "day1.txt").write_text("first day")
    _ok(cli, root, "datasets", "create", "news", "v1", str(root / "day1.txt"))
    _train(cli, root, "--input", "data=dataset://news/v1")
    _train(cli, root, "--input", "data=dataset://news/v1")
    _ok(cli, root, "datasets", "flag", "news/v1", "--reason", "labels copied from the test set", user="carol")

    approved = _run(cli, root, "models", "approve", "summarizer/v1", user="alice")
    assert approved.exit_code == 0, approved.output
    assert (
        "warning: model://summarizer/v1 is built from flagged data, dataset://news/v1: "
        "labels copied from the test set (flagged by carol)"
    ) in approved.stderr
    assert 'approved nevertheless (`--force --reason "why"` records why' in approved.stderr
    moved = _run(cli, root, "models", "alias", "set", "summarizer/v1", "production", user="alice")
    assert moved.exit_code == 0, moved.output
    assert "production moved nevertheless" in moved.stderr
    card = _ok(cli, root, "models", "show", "summarizer/v1")
    flagged = ["dataset://news/v1: labels copied from the test set (flagged by carol)"]
    [status] = [e for e in card["card"] if e["kind"] == "status"]
    assert (status["forced"], status["flags"], status["overrode"]) == (False, flagged, [])
    [alias] = [e for e in card["card"] if e["kind"] == "alias"]
    assert (alias["forced"], alias["flags"]) == (False, flagged)

    forced = _run(cli, root, "models", "approve", "summarizer/v2", "--force", "--reason", "only the "
                  "headlines came from the test set", user="alice")  # fmt: skip
    assert forced.exit_code == 0, forced.output
    assert "warning" not in forced.stderr
    event = _events(database_url, "model.version.approved")[-1]
    assert event.payload["forced"] is True
    assert event.payload["overrode"] == [f"flagged {flagged[0]}"]
    assert event.payload["flags"] == flagged


def test_who_made_a_version_may_not_approve_or_promote_it_when_duties_are_separated(
    cli: CliRunner, separated: Path
) -> None:
    _train(cli, separated, user="Alice")
    for user in (" alice ", "ALICE", "ａｌｉｃｅ"):  # the same person: stripped, case-folded, NFKC
        result = _run(cli, separated, "models", "approve", "summarizer/v1", user=user)
        assert result.exit_code == 5, (user, result.output)
        assert "registered model://summarizer/v1 and may not approve it" in result.stderr
        assert "approvals.require-different-approver" in result.stderr
    moved = _run(cli, separated, "models", "alias", "set", "summarizer/v1", "production", user="alice")
    assert moved.exit_code == 5, moved.output
    assert "may not point production at it" in moved.stderr
    # --force overrides a status, never the separation of duties
    forced = _run(cli, separated, "models", "approve", "summarizer/v1", "--force", "--reason", "urgent",
                  user="alice")  # fmt: skip
    assert forced.exit_code == 5, forced.output
    card = _ok(cli, separated, "models", "show", "summarizer/v1")
    assert (card["status"], card["aliases"]) == ("pending", [])
    # Another alias is no decision, so the maker may move it.
    _ok(cli, separated, "models", "alias", "set", "summarizer/v1", "candidate", user="alice")

    assert _ok(cli, separated, "models", "approve", "summarizer/v1", user="bob")["status_by"] == "bob"
    assert _ok(cli, separated, "models", "alias", "set", "summarizer/v1", "production", user="bob")["changed"]


def test_a_gate_and_a_pipeline_made_version_compare_identities_the_same_way(
    cli: CliRunner, separated: Path
) -> None:
    started = _run(cli, separated, "pipeline", "run", "ship", "-q", user="carol")
    assert started.exit_code == 0, started.output
    refused = _run(cli, separated, "pipeline", "approve", "1", "promote", user="  Carol")
    assert refused.exit_code == 5, refused.output
    assert "started pipeline run #1 and may not approve it" in refused.stderr
    # The version the run made so far is the run's starter's, outside the gate too.
    by_hand = _run(cli, separated, "models", "approve", "summarizer/v1", user="CAROL")
    assert by_hand.exit_code == 5, by_hand.output
    assert "started pipeline run #1, which made model://summarizer/v1, and may not approve it" in (
        by_hand.stderr
    )
    approved = _run(cli, separated, "pipeline", "approve", "1", "promote", user="dave")
    assert approved.exit_code == 0, approved.output
    card = _ok(cli, separated, "models", "show", "summarizer/v1")
    assert (card["status"], card["status_by"], card["aliases"]) == ("approved", "dave", ["production"])


def test_identities_compare_normalized() -> None:
    assert normalize_identity("  Ａｌｉｃｅ\u00a0") == "alice"
    assert normalize_identity("STRASSE") == normalize_identity("Straße")
    assert same_person("ǅemal", "ǆEMAL")
    assert not same_person("alice", "alicia")
    assert not same_person(None, "alice")
    assert not same_person(" ", "")  # a blank name is nobody, not everybody
