"""What differs between the catalog's two databases, imported only for the one in use."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session


def upsert(session: Session) -> Any:
    """The ``insert`` construct with ``on_conflict_do_…`` for the session's database."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert
