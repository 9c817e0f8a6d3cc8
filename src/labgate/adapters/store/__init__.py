"""SQLAlchemy store: SQLite (embedded default) or PostgreSQL, one schema, migrated by Alembic."""
