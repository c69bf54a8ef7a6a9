"""The catalog's database: one URL, one engine, migrations applied on open, transactions.

The embedded default is SQLite in WAL mode at ``<project>/.assay/assay.db``;
``ASSAY_DATABASE_URL`` (``postgresql://…``) selects a shared PostgreSQL server.
Every write happens inside ``Catalog.transaction()``: one transaction per state change,
committed before the side effect it authorizes.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from assay.catalog import schema
from assay.errors import AssayError

#: the newest migration; ``open`` upgrades any older database to it
HEAD_REVISION = "0008"
MIGRATIONS = Path(__file__).with_name("migrations")


def normalize_url(url: str) -> str:
    """Accept the URLs people paste: ``postgresql://`` and ``postgres://`` use psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # NOTE: pysqlite's own transaction handling is switched off so that SQLAlchemy's
        # BEGIN below is the only one; that makes DDL transactional and lets us take the
        # write lock up front (BEGIN IMMEDIATE) instead of failing on lock upgrade.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get("assay_read_only", False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


class Catalog:
    """A connection to the catalog database. Cheap to keep, safe to share between threads."""

    def __init__(self, url: str, *, echo: bool = False, connections: int | None = None) -> None:
        """``connections``: how many to keep open for threads that ask at once (a server's
        request threads and drivers); SQLAlchemy's default (5, and 10 more made and closed on
        demand) suits a command."""
        self.url = normalize_url(url)
        sizing = {} if connections is None else {"pool_size": connections, "max_overflow": connections}
        self.engine = create_engine(self.url, echo=echo, future=True, **sizing)
        if self.engine.dialect.name == "sqlite":
            _configure_sqlite(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readers = sessionmaker(
            self.engine.execution_options(assay_read_only=True), expire_on_commit=False
        )

    @classmethod
    def open(cls, url: str, *, connections: int | None = None) -> Catalog:
        """Open the database at ``url``, creating or upgrading its schema first."""
        catalog = cls(url, connections=connections)
        catalog.migrate()
        return catalog

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def revision(self) -> str | None:
        # NOTE: read-only, so that opening the catalog (every command does) never waits for
        # another process's write transaction on SQLite.
        with self.engine.connect().execution_options(assay_read_only=True) as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
            connection.rollback()
            return None if row is None else str(row[0])

    def migrate(self, *, fresh: bool = True) -> None:
        """Upgrade to ``HEAD_REVISION``; a no-op (one query) when already there.

        A new, empty database gets the whole schema at once (``catalog/schema.py``) unless
        ``fresh`` is False; one with a schema is upgraded by the Alembic migrations.
        """
        if self.revision() == HEAD_REVISION:
            return
        with self._migration_lock():
            if self.revision() == HEAD_REVISION:
                return
            with self.engine.begin() as connection:
                if fresh and schema.is_empty(connection):
                    schema.create_fresh(connection, HEAD_REVISION)
                    return
            from alembic import command
            from alembic.config import Config

            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            with self.engine.connect() as connection:
                # NOTE: a migration that rebuilds a table others refer to (0007 rebuilds
                # `projects` on SQLite) drops the old one while rows refer to it; SQLite only
                # switches foreign keys off outside a transaction, so it is done here, and
                # every foreign key is checked before the migrations commit.
                sqlite = self._foreign_keys(connection, on=False)
                try:
                    with connection.begin():
                        config.attributes["connection"] = connection
                        command.upgrade(config, "head")
                        if sqlite:
                            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                            if broken:
                                raise AssayError(f"migrating the catalog broke foreign keys: {broken[:5]}")
                finally:
                    self._foreign_keys(connection, on=True)

    def _foreign_keys(self, connection: Connection, *, on: bool) -> bool:
        """Switch SQLite's foreign-key enforcement (outside a transaction); False elsewhere."""
        if self.dialect != "sqlite":
            return False
        connection.connection.driver_connection.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")  # type: ignore[union-attr]
        return True

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if self.dialect == "postgresql":
            with self.engine.connect() as connection:
                connection.execute(text("SELECT pg_advisory_lock(74657374)"))
                connection.commit()
                try:
                    yield
                finally:
                    connection.execute(text("SELECT pg_advisory_unlock(74657374)"))
                    connection.commit()
            return
        database = self.engine.url.database
        if not database or database == ":memory:":
            yield
            return
        lock_path = Path(database).with_name(Path(database).name + ".migrate.lock")
        with open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: committed on success, rolled back on any error."""
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for queries only: on SQLite it does not take the write lock."""
        with self._readers() as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_catalog(url: str, *, connections: int | None = None) -> Catalog:
    try:
        return Catalog.open(url, connections=connections)
    except AssayError:
        raise
    except Exception as exc:
        from sqlalchemy.exc import SQLAlchemyError

        if isinstance(exc, SQLAlchemyError | OSError):
            raise AssayError(
                f"cannot open the catalog database {_redact(url)}: {exc}",
                hint="check ASSAY_DATABASE_URL, or unset it to use .assay/assay.db",
            ) from exc
        raise


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(normalize_url(url)).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as given
        return url
