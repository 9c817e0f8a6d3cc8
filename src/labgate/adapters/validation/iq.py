"""Installation Qualification: what this labgate runs on, read from the machine itself."""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from labgate.adapters.validation.probes import broker_version, database_facts


def installation(
    database_url: str, amqp_url: SecretStr | None, settings: dict[str, Any]
) -> dict[str, Any]:
    """The IQ record: Python, OS, every installed distribution, database, broker, and the hash
    of the effective `settings` (as `Settings.model_dump(mode="json")` gives them)."""
    return {
        "document": "IQ",
        "python": {"version": platform.python_version(), "implementation": sys.implementation.name},
        "os": {"platform": platform.platform(), "machine": platform.machine()},
        "packages": packages(),
        "database": database_facts(database_url),
        "broker": broker_version(amqp_url),
        "configuration_sha256": configuration_hash(settings),
    }


def packages() -> list[dict[str, str | None]]:
    """Every installed distribution with its version and the SHA-256 of its RECORD (the list
    of its files with their own hashes: one hash that stands for the whole installation)."""
    found: dict[str, dict[str, str | None]] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        record = dist.read_text("RECORD")
        found.setdefault(name.lower(), {
            "name": name,
            "version": dist.version,
            "record_sha256": hashlib.sha256(record.encode()).hexdigest() if record else None,
        })  # fmt: skip
    return [found[key] for key in sorted(found)]


def configuration_hash(settings: dict[str, Any]) -> str:
    """SHA-256 of the effective settings as canonical JSON, secrets masked (SecretStr fields
    dump as "**********", URLs lose their password): two hubs with the same hash run with the
    same configuration, and the hash reveals no password."""
    masked = {key: _without_password(value) for key, value in settings.items()}
    canonical = json.dumps(masked, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _without_password(value: Any) -> Any:
    """A URL with its password masked (a database URL carries one); anything else as is."""
    if not isinstance(value, str) or "://" not in value:
        return value
    parts = urlsplit(value)
    if parts.password is None:
        return value
    netloc = parts.netloc.replace(f":{parts.password}@", ":**********@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
