"""The audit trail as an intruder with the database's owner rights would change it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from labgate.adapters.store.engine import make_engine


@contextmanager
def behind_the_back(url: str) -> Iterator[Connection]:
    """A connection with the trail's guards dropped, as an intruder with the database's
    owner rights would have it (the test database is dropped afterwards)."""
    engine = make_engine(url)
    with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            for guard in ("audit_entries_no_delete", "audit_entries_no_update"):
                connection.exec_driver_sql(f"DROP TRIGGER {guard}")
        else:
            connection.exec_driver_sql("ALTER TABLE audit_entries DISABLE TRIGGER USER")
        yield connection
    engine.dispose()
