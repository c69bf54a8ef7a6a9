"""Cursor pagination: ``?cursor=&limit=`` in, ``{"data": [...], "next_cursor": …}`` out.

A cursor is opaque to clients: the position of the last item of a page, encoded. The next
page starts after it, so items added meanwhile are neither skipped nor repeated::

    after = decode_cursor(cursor, parts=2)            # None for the first page
    rows = list_things(after=after, limit=limit + 1)  # one more than asked: is there a next page?
    page, next_cursor = page_of(rows, limit, lambda row: (row.name, row.id))
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Annotated, TypeVar

from fastapi import Query

from assay.errors import InvalidRequest

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=500, description="How many items a page holds at most")]
Cursor = Annotated[
    str | None, Query(max_length=1024, description="`next_cursor` of the previous page; none: the first")
]
DEFAULT_LIMIT = 50


def encode_cursor(*parts: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, *, parts: int) -> tuple[str, ...] | None:
    if not cursor:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error):
        decoded = None
    if not isinstance(decoded, list) or len(decoded) != parts or not all(isinstance(p, str) for p in decoded):
        raise InvalidRequest(
            f"cursor {cursor[:40]!r} is not one this list gave",
            hint="pass a page's `next_cursor` as it came, or none for the first page",
        )
    return tuple(decoded)


def page_of(
    rows: Sequence[T], limit: int, position: Callable[[T], tuple[str, ...]]
) -> tuple[list[T], str | None]:
    """The first ``limit`` of ``rows`` (fetched ``limit + 1``) and the cursor after them."""
    page = list(rows[:limit])
    return page, encode_cursor(*position(page[-1])) if len(rows) > limit and page else None
