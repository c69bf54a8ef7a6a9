"""What reviewers write on a model version's card: comments and rubric scores (member role)::

card = comment(workspace, actor, "summarizer/v3", "loses the date on long articles")
card = score(workspace, actor, "summarizer/v3", rubric="faithfulness", value=4)
"""

from __future__ import annotations

from assay.errors import InvalidRequest
from assay.operations.actor import Actor, Role
from assay.operations.models import VersionCard
from assay.operations.workspace import Workspace


def comment(workspace: Workspace, actor: Actor, ref: str, text: str) -> VersionCard:
    """Add a comment to a version's card; returns the card after."""
    actor.require(workspace.project_id, Role.MEMBER, "comment on a model version")
    from assay.catalog.cards import comment_on_version

    return VersionCard.from_json(
        comment_on_version(workspace.catalog, workspace.project_id, ref, actor.name, text)
    )


def score(
    workspace: Workspace, actor: Actor, ref: str, *, rubric: str, value: int | str, comment: str | None = None
) -> VersionCard:
    """Score a version by a rubric, 1 to 5 (``value`` may be the text a person typed)."""
    actor.require(workspace.project_id, Role.MEMBER, "score a model version")
    from assay.catalog.cards import score_version

    number = parse_score(value)
    return VersionCard.from_json(
        score_version(workspace.catalog, workspace.project_id, ref, actor.name, rubric=rubric, score=number,
                      comment=comment)
    )  # fmt: skip


def parse_score(value: int | str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value))
    except ValueError:
        raise InvalidRequest(f"a score is a whole number from 1 to 5, not {value!r}") from None
