"""What people write on a model: comments and rubric scores on a version's card, descriptions.

Comments and scores become rows of the version's card; each of these writes, and every change
of a description, is also an event::

    add_comment(session, model, version, "alice", "summaries of long articles lose the date")
    add_score(session, model, version, "alice", rubric="faithfulness", score=4, comment=None)
    set_description(session, model, None, "alice", "Summarizes news for the morning brief.")

The layers outside ``catalog/`` call the functions that take the ``Catalog`` instead: each
resolves the version, writes and describes it in one transaction::

    card = comment_on_version(catalog, project_id, "summarizer/v3", "alice", "loses the date")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from assay.catalog import models, registry_views
from assay.catalog.events import record_event
from assay.catalog.registry_tables import CardEntry, Model, ModelVersion
from assay.catalog.states import EventKind
from assay.catalog.uris import NAME
from assay.errors import InvalidRequest

if TYPE_CHECKING:
    from assay.catalog.db import Catalog

SCORES = range(1, 6)


def add_comment(session: Session, model: Model, version: ModelVersion, author: str, text: str) -> CardEntry:
    if not text.strip():
        raise InvalidRequest("a comment needs some text")
    entry = models.add_card_entry(session, version, "comment", author, {"text": text})
    record_event(session, model.project_id, EventKind.MODEL_VERSION_COMMENTED, models.uri(model, version),
                 author, {"version_id": version.id, "text": text})  # fmt: skip
    return entry


def comment_on_version(catalog: Catalog, project_id: str, ref: str, author: str, text: str) -> dict[str, Any]:
    """Add a comment to the card of the version ``ref`` names; returns the card after."""
    return registry_views.edit_model_version(
        catalog,
        project_id,
        ref,
        lambda session, model, version: add_comment(session, model, version, author, text),
    )


def add_score(
    session: Session,
    model: Model,
    version: ModelVersion,
    author: str,
    *,
    rubric: str,
    score: int,
    comment: str | None,
) -> CardEntry:
    """One reviewer's score (1–5) of a version by a named rubric (``faithfulness``, ``tone``)."""
    if not NAME.match(rubric):
        raise InvalidRequest(f"{rubric!r} cannot name a rubric", hint="use letters, digits, '-', '_' and '.'")
    if not isinstance(score, int) or isinstance(score, bool) or score not in SCORES:
        raise InvalidRequest(f"a score is a whole number from 1 to 5, not {score!r}")
    body = {"rubric": rubric, "score": score, "comment": comment}
    entry = models.add_card_entry(session, version, "score", author, body)
    record_event(session, model.project_id, EventKind.MODEL_VERSION_SCORED, models.uri(model, version),
                 author, {"version_id": version.id, **body})  # fmt: skip
    return entry


def score_version(
    catalog: Catalog, project_id: str, ref: str, author: str, *, rubric: str, score: int, comment: str | None
) -> dict[str, Any]:
    """Score the version ``ref`` names by ``rubric``; returns the card after."""
    return registry_views.edit_model_version(
        catalog, project_id, ref, lambda session, model, version: add_score(
            session, model, version, author, rubric=rubric, score=score, comment=comment
        ),
    )  # fmt: skip


def set_description(
    session: Session, model: Model, version: ModelVersion | None, author: str, text: str
) -> None:
    """Set the description of the model (``version`` None) or of one of its versions."""
    if version is None:
        previous, model.description = model.description, text
        kind, subject = EventKind.MODEL_DESCRIBED, f"model://{model.name}"
    else:
        previous, version.description = version.description, text
        kind, subject = EventKind.MODEL_VERSION_DESCRIBED, models.uri(model, version)
    session.flush()
    record_event(session, model.project_id, kind, subject, author,
                 {"description": text, "previous": previous})  # fmt: skip


def describe_version(catalog: Catalog, project_id: str, ref: str, author: str, text: str) -> dict[str, Any]:
    """Set the description of the version ``ref`` names; returns its card after."""
    return registry_views.edit_model_version(
        catalog, project_id, ref, lambda session, model, version: set_description(
            session, model, version, author, text
        ),
    )  # fmt: skip


def describe_model(catalog: Catalog, project_id: str, name: str, author: str, text: str) -> dict[str, Any]:
    """Set the description of model ``name``; returns the model after, without its versions."""
    with catalog.transaction() as session:
        model = models.get_model(session, project_id, name)
        set_description(session, model, None, author, text)
        return registry_views.describe_model(session, model, full=False)
