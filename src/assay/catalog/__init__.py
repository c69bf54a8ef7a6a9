"""The only code that touches the database: executions, datums, aliases, events (and, later,
datasets, models, pipeline runs, gates and lineage). SQLAlchemy 2 + Alembic."""

from assay.catalog.db import HEAD_REVISION, Catalog, normalize_url, open_catalog

__all__ = ["HEAD_REVISION", "Catalog", "normalize_url", "open_catalog"]
