"""References to numbered things (executions, pipeline runs): ``12``, ``#12``, an id, ``latest``."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from assay.errors import NotFound

T = TypeVar("T")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def by_ref(
    session: Session, model: type[T], project_id: str, ref: str | int, *, noun: str, listing: str
) -> T:
    """The ``model`` row of this project that ``ref`` names; ``NotFound`` saying how to find one.

    ``model`` needs ``project_id``, ``counter`` and ``id`` columns. An id may carry an
    ``exec-`` prefix (Valohai's job ids).
    """
    columns: Any = model
    text = str(ref).strip()
    query = select(model).where(columns.project_id == project_id)
    key = text.removeprefix("exec-")
    if text == "latest":
        query = query.order_by(columns.counter.desc()).limit(1)
    elif text.lstrip("#").isdigit():
        query = query.where(columns.counter == int(text.lstrip("#")))
    elif UUID.match(key):
        query = query.where(columns.id == key)
    else:
        raise NotFound(f"{text!r} is not {noun} reference", hint="use its number (#12), its id or latest")
    found = session.scalar(query)
    if found is None:
        raise NotFound(f"no {noun.split(' ', 1)[1]} {text} in this project", hint=f"`{listing}` shows them")
    return found
