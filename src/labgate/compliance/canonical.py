"""Canonical JSON (RFC 8785) of records, and their SHA-256: what hashes and signatures bind to."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import rfc8785

JsonValue = Any  # str | int | bool | None | list[JsonValue] | dict[str, JsonValue]

# Aggregates carry their pending domain events; they are not part of the record.
_NOT_RECORD_FIELDS = frozenset({"events"})


def to_jsonable(value: object) -> JsonValue:
    """A JSON-safe copy: Decimal as text (exact), datetimes as UTC ISO text, enums by value."""
    from labgate.compliance.clock import iso_utc

    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return to_jsonable(value.value)
    if isinstance(value, datetime):
        return iso_utc(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name not in _NOT_RECORD_FIELDS
        }
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    raise TypeError(f"{type(value).__name__} has no canonical JSON form.")


def canonical_bytes(value: object) -> bytes:
    """RFC 8785 canonical JSON of `value`."""
    return rfc8785.dumps(to_jsonable(value))


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def content_hash(value: object) -> str:
    """SHA-256 of the canonical JSON of `value`."""
    return sha256_hex(canonical_bytes(value))
