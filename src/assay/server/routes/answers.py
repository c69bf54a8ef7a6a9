"""What the registry's routes share: the JSON of a view as it is, and pages of a list.

A route answers with ``answer(view.to_json())``: the bytes the CLI's ``--json`` prints, not
re-validated through a pydantic model (the ``XPublic`` shapes name the answers in the OpenAPI
schema; the views decide their content). A list the operation gives whole is cut into pages
here, by the position of the last item a page held::

    page = page_after(versions, lambda v: v["id"], cursor, limit)
    return answer(page)                    # {"data": [...], "next_cursor": "…" | null}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, RootModel

from assay.errors import InvalidRequest
from assay.server.pagination import decode_cursor, encode_cursor


class Document(RootModel[dict[str, Any]]):
    """A JSON object exactly as ``assay … --json`` prints it."""


class Page(BaseModel):
    """A page of a list: ``next_cursor`` gives the next one, null: this was the last."""

    model_config = ConfigDict(extra="allow")

    data: list[dict[str, Any]]
    next_cursor: str | None


def answer(content: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(content, status_code=status_code)


def page(data: list[Any], next_cursor: str | None) -> dict[str, Any]:
    return {"data": data, "next_cursor": next_cursor}


def page_after(
    items: Sequence[dict[str, Any]], key: Callable[[dict[str, Any]], str], cursor: str | None, limit: int
) -> dict[str, Any]:
    """The ``limit`` items after the one whose ``key`` the cursor holds (the first page: none).

    NOTE: the position is an item's key, not an offset, so items added before it (a newer
    version, in a newest-first list) shift nothing: no item comes twice across pages.
    """
    start = 0
    after = decode_cursor(cursor, parts=1)
    if after is not None:
        keys = [key(item) for item in items]
        if after[0] not in keys:
            raise InvalidRequest(
                "this page's cursor names an item the list no longer holds",
                hint="start again from the first page (no cursor)",
            )
        start = keys.index(after[0]) + 1
    chosen = list(items[start : start + limit])
    more = start + limit < len(items)
    return page(chosen, encode_cursor(key(chosen[-1])) if more and chosen else None)


def counter_cursor(cursor: str | None) -> int | None:
    """The number an opaque cursor of a counter-ordered list holds (executions, events)."""
    after = decode_cursor(cursor, parts=1)
    if after is None:
        return None
    if not after[0].isdigit():
        raise InvalidRequest("this cursor is not one this list gave", hint="pass `next_cursor` as it came")
    return int(after[0])


def number_cursor(value: int | None) -> str | None:
    return encode_cursor(str(value)) if value is not None else None
