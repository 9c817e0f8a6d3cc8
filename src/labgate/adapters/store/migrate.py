"""Alembic, driven from code: `labgate db upgrade`, and the startup check that refuses an
old schema."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from labgate.domain.errors import LabgateError

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported where it is used: it takes about a second to import here, which every
# CLI command would pay, though only `db upgrade` and the server's start-up check need it.

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaBehind(LabgateError):
    """The database schema is older than this labgate: it must be upgraded first."""

    default_reason = "db.schema_behind"


def alembic_config(url: str) -> Config:
    """An Alembic configuration for `url`, with no alembic.ini needed."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema at `url` up to `revision`."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def head_revision() -> str:
    """The newest migration this labgate ships."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def require_current_schema(engine: Engine) -> None:
    """Refuse to run on a schema that is behind, naming the command that fixes it."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaBehind(
            f"The database schema is at {current or 'nothing (empty database)'} but this labgate "
            f"needs {head}. Run `labgate db upgrade` first.",
            field="database",
        )
