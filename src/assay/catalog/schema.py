"""The catalog's schema on a new database, created at once instead of migration by migration.

A new, empty database gets the tables of the models (``Base.metadata.create_all``), the
append-only triggers on ``events``, and the Alembic head revision, in one transaction: the
same schema the migrations build (a test compares the two on SQLite and PostgreSQL), in a
fraction of the time and without importing Alembic. A database with a schema is upgraded
by the migrations, as ever.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

APPEND_ONLY_SQLITE = """
CREATE TRIGGER events_append_only_{verb} BEFORE {verb} ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END
"""
APPEND_ONLY_POSTGRESQL = [
    """
    CREATE FUNCTION assay_events_append_only() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION 'events are append-only'; END;
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION assay_events_append_only()
    """,
]


def append_only_statements(dialect: str) -> list[str]:
    """The statements that make ``events`` refuse UPDATE and DELETE."""
    if dialect == "postgresql":
        return list(APPEND_ONLY_POSTGRESQL)
    return [APPEND_ONLY_SQLITE.format(verb=verb) for verb in ("UPDATE", "DELETE")]


def is_empty(connection: Connection) -> bool:
    """Whether the database holds no table at all (a new one)."""
    from sqlalchemy import inspect

    return not inspect(connection).get_table_names()


def create_fresh(connection: Connection, revision: str) -> None:
    """Create the whole schema on an empty database, stamped with ``revision``."""
    from assay.catalog.tables import Base

    Base.metadata.create_all(connection)
    for statement in append_only_statements(connection.dialect.name):
        connection.execute(text(statement))
    connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
    connection.execute(
        text("INSERT INTO alembic_version (version_num) VALUES (:revision)"), {"revision": revision}
    )
