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
