"""The reuse rules over what the catalog knows (``runtime/reuse.choose``): no database, no process."""

from __future__ import annotations

from assay.catalog.reuses import Candidate, Evidence, Place, Previous
from assay.runtime.reuse import choose

FACTS = {"step": "s1", "command": "python fit.py", "parameters": {"size": 2}, "commit": "abc", "dirty": False}
PLACE = Place(run_id="run-2", pipeline="nightly", node="fit")


def _evidence(
    *candidates: Candidate,
    claimed: dict[str, tuple[str, int]] | None = None,
    stood_for: frozenset[str] = frozenset(),
    previous: Previous | None = None,
) -> Evidence:
    return Evidence(candidates, claimed or {}, stood_for, previous)


def test_outside_a_run_every_candidate_in_order_newest_first() -> None:
    decision = choose(
        _evidence(Candidate("b", 2, None, None), Candidate("a", 1, None, None)), "fit", FACTS, None
    )
    assert [c.execution_id for c in decision.choices] == ["b", "a"]
    assert decision.choices[0].note.startswith("reused execution #2: the newest identical one")
    assert decision.note == "not reused: no earlier completed execution of step 'fit' from a clean commit"


def test_in_a_run_the_same_run_and_another_nodes_claim_are_refused() -> None:
    evidence = _evidence(
        Candidate("mine", 3, "run-2", "prep"),
        Candidate("held", 2, "run-1", "fit"),
        Candidate("own", 1, "run-1", "fit"),
        claimed={"held": ("other", 0), "own": ("fit", 0)},
    )
    decision = choose(evidence, "fit", FACTS, PLACE)
    assert [c.execution_id for c in decision.choices] == ["own"]  # a resume keeps its own claim
    assert decision.note == (
        "not reused: identical, but #3 was made earlier in this run (node 'prep'); "
        "#2 already stands for node 'other' of this run"
    )


def test_in_a_run_the_one_that_stood_for_the_node_before_comes_first() -> None:
    evidence = _evidence(
        Candidate("new", 2, None, None), Candidate("old", 1, "run-1", "fit"), stood_for=frozenset({"old"})
    )
    decision = choose(evidence, "fit", FACTS, PLACE)
    assert [c.execution_id for c in decision.choices] == ["old", "new"]
    assert "it stood for node 'fit' of pipeline 'nightly' before" in decision.choices[0].note
    assert "none stood for node 'fit' before" in decision.choices[1].note


def test_a_miss_names_what_differs_from_the_newest_reusable_one() -> None:
    before = {**FACTS, "command": "python fit.py --fast", "parameters": {"size": 1}}
    decision = choose(_evidence(previous=Previous(4, before)), "fit", FACTS, PLACE)
    assert decision.choices == ()
    assert decision.note == "not reused: differs from #4 in command; parameters size"
