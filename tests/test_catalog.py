"""The catalog on a real database: migrations match the models, counters, aliases, events."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from assay.catalog import HEAD_REVISION, Catalog
from assay.catalog.datums import create_datum, get_datum, set_datum_alias
from assay.catalog.events import list_events, record_event
from assay.catalog.executions import create_execution, get_execution
from assay.catalog.projects import ensure_project
from assay.catalog.tables import Base
from assay.errors import InvalidRequest, NotFound


def test_migrations_create_exactly_the_models(catalog: Catalog) -> None:
    assert catalog.revision() == HEAD_REVISION
    with catalog.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def _schema(catalog: Catalog) -> dict[str, object]:
    """Everything about a schema that matters, in a form two databases can be compared by."""
    from sqlalchemy import inspect

    with catalog.engine.connect() as connection:
        found = inspect(connection)
        tables: dict[str, object] = {}
        for table in sorted(found.get_table_names()):
            tables[table] = {
                "columns": sorted(
                    (c["name"], str(c["type"]), c["nullable"]) for c in found.get_columns(table)
                ),
                "primary": found.get_pk_constraint(table)["constrained_columns"],
                "foreign": sorted(
                    (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                    for f in found.get_foreign_keys(table)
                ),
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in found.get_indexes(table)
                ),
                "unique": sorted(
                    (u["name"], tuple(u["column_names"])) for u in found.get_unique_constraints(table)
                ),
            }
        if catalog.dialect == "sqlite":
            extra = "SELECT type, name, sql FROM sqlite_master WHERE type = 'trigger' OR sql LIKE '%WHERE%'"
        else:
            extra = (
                "SELECT 'trigger', tgname, '' FROM pg_trigger WHERE NOT tgisinternal UNION "
                "SELECT 'index', indexname, indexdef FROM pg_indexes WHERE indexdef LIKE '%WHERE%'"
            )
        others = sorted(
            tuple(" ".join(str(v).split()) for v in row) for row in connection.execute(text(extra))
        )
        connection.rollback()
    return {"tables": tables, "triggers and partial indexes": others}


def test_a_new_database_gets_exactly_the_schema_the_migrations_build(
    catalog: Catalog, tmp_path: object
) -> None:
    """A new database is made at once (catalog/schema.py); the migrations must build the same."""
    from tests.conftest import PG_URL, _postgres_database

    if catalog.dialect == "sqlite":
        migrated = Catalog(f"sqlite:///{tmp_path}/migrated.db")
        migrated.migrate(fresh=False)
        assert _schema(migrated) == _schema(catalog)
        migrated.close()
        return
    assert PG_URL is not None
    databases = _postgres_database()
    url = next(databases)
    migrated = Catalog(url)
    try:
        migrated.migrate(fresh=False)
        assert _schema(migrated) == _schema(catalog)
    finally:
        migrated.close()
        databases.close()


def test_opening_twice_is_a_no_op(database_url: str) -> None:
    first = Catalog.open(database_url)
    second = Catalog.open(database_url)
    assert second.revision() == HEAD_REVISION
    first.close()
    second.close()


def test_sqlite_is_in_wal_mode(tmp_path: object) -> None:
    catalog = Catalog.open(f"sqlite:///{tmp_path}/wal.db")
    with catalog.read() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    catalog.close()


def _new_execution(catalog: Catalog, project_id: str) -> int:
    with catalog.transaction() as session:
        execution = create_execution(
            session, project_id=project_id, step="s", image="i", command="c", parameters={}, inputs={},
            execution_dir="", actor="tester",
        )  # fmt: skip
        return execution.counter


def test_counters_are_per_project_and_distinct_under_concurrency(catalog: Catalog) -> None:
    with catalog.transaction() as session:
        first = ensure_project(session, "first").id
        second = ensure_project(session, "second").id
    counters: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                counters.append(_new_execution(catalog, first))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(counters) == list(range(1, 21))
    assert _new_execution(catalog, second) == 1
    with catalog.read() as session:
        assert get_execution(session, first, "#20").counter == 20
        with pytest.raises(NotFound, match="no execution 21"):
            get_execution(session, first, 21)


def test_ensure_project_is_idempotent(catalog: Catalog) -> None:
    with catalog.transaction() as session:
        one = ensure_project(session, "p").id
    with catalog.transaction() as session:
        assert ensure_project(session, "p").id == one


def test_aliases_move_and_every_move_is_an_event(catalog: Catalog) -> None:
    with catalog.transaction() as session:
        project_id = ensure_project(session, "p").id
        first = create_datum(session, project_id=project_id, sha256="a" * 64, size=1, name="a")
        second = create_datum(session, project_id=project_id, sha256="b" * 64, size=1, name="b")
        set_datum_alias(session, project_id, "best", first, "alice")
    with catalog.transaction() as session:
        set_datum_alias(session, project_id, "best", second, "bob")
    with catalog.read() as session:
        assert get_datum(session, project_id, "datum://best").id == second.id
        moves = list_events(session, project_id, kind="datum.alias.moved")
        assert [(e.actor, e.payload["datum_id"], e.payload["previous_datum_id"]) for e in moves] == [
            ("alice", first.id, None),
            ("bob", second.id, first.id),
        ]
        with pytest.raises(NotFound):
            get_datum(session, project_id, "datum://worst")
    with catalog.transaction() as session, pytest.raises(InvalidRequest):
        set_datum_alias(session, project_id, "../bad alias", first, "x")


def test_events_are_append_only(catalog: Catalog) -> None:
    with catalog.transaction() as session:
        project_id = ensure_project(session, "p").id
        record_event(session, project_id, "test.happened", "thing:1", "tester", {"n": 1})
    for statement in ("UPDATE events SET actor = 'mallory'", "DELETE FROM events"):
        with pytest.raises(DBAPIError, match="append-only"), catalog.transaction() as session:
            session.execute(text(statement))
    with catalog.read() as session:
        (event,) = list_events(session, project_id)
        assert event.actor == "tester"
        assert event.created_at.tzinfo is not None
        assert event.created_at <= datetime.now(UTC)
