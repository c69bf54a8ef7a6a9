"""Alembic environment: always run on the connection Assay hands in (see catalog/db.py)."""

from alembic import context

from assay.catalog.tables import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
