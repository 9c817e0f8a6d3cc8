"""Alembic environment: runs labgate's migrations against the configured URL."""

from __future__ import annotations

from alembic import context

from labgate.adapters.store.engine import make_engine
from labgate.adapters.store.tables import metadata

config = context.config
engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
try:
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
finally:
    engine.dispose()  # a migration that refuses must not leave its connection open either
