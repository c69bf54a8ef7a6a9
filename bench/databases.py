"""A fresh, empty database for a benchmark: a temporary SQLite file, or a new database on a
PostgreSQL server, removed afterwards unless ``keep``."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def database(url: str | None, prefix: str, keep: bool = False) -> Iterator[str]:
    if url is None:
        folder = Path(tempfile.mkdtemp(prefix=prefix))
        try:
            yield f"sqlite:///{folder / 'catalog.db'}"
        finally:
            if not keep:
                shutil.rmtree(folder, ignore_errors=True)
        return
    if not url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        yield url  # used as it is: it should name an empty database
        return
    import psycopg

    from assay.catalog import normalize_url

    name = f"assay_bench_{uuid.uuid4().hex[:12]}"
    admin = normalize_url(url).replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = normalize_url(url).rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        if not keep:
            with psycopg.connect(admin, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
