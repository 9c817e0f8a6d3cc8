"""The IQ's probes of the database and the broker: their versions, read from the servers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import make_url

from labgate.adapters.store.engine import make_engine
from labgate.adapters.store.migrate import current_revision, head_revision

BROKER_TIMEOUT_SECONDS = 5


def database_facts(url: str) -> dict[str, Any]:
    """The database's kind, server version and schema revision; an unreachable database is
    recorded as such (the IQ then shows it, and nothing is guessed)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        # Connecting would create an empty file: the IQ records what is there, it makes nothing.
        return {"dialect": "sqlite", "error": f"no database file at {parsed.database}"}
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            version = connection.dialect.server_version_info
        revision = current_revision(engine)
    except Exception as error:  # any failure to reach it is the IQ's finding
        return {"dialect": engine.dialect.name, "error": type(error).__name__}
    finally:
        engine.dispose()
    return {
        "dialect": engine.dialect.name,
        "server_version": ".".join(str(part) for part in version or ()),
        "schema_revision": revision,
        "schema_head": head_revision(),
    }


def broker_version(url: SecretStr | None) -> dict[str, str]:
    """RabbitMQ's version from its connection handshake, or why there is none."""
    if url is None:
        return {"status": "not configured"}
    try:
        version = asyncio.run(_server_version(url.get_secret_value()))
    except Exception as error:  # an unreachable broker is the IQ's finding
        return {"status": "unreachable", "error": type(error).__name__}
    return {"status": "reachable", "product": "RabbitMQ", "version": version}


async def _server_version(url: str) -> str:
    import aio_pika  # only deployments with a broker pay for importing the AMQP client

    connection = await asyncio.wait_for(
        aio_pika.connect(url, timeout=BROKER_TIMEOUT_SECONDS), BROKER_TIMEOUT_SECONDS + 1
    )
    try:
        assert connection.transport is not None
        properties = connection.transport.connection.server_properties
        return str(properties.get("version", "unknown"))
    finally:
        await connection.close()
