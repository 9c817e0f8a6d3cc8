"""Canonical JSON (RFC 8785) of records, and their SHA-256: what hashes and signatures bind to."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import rfc8785

_SAFE_INT = 2**53 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")

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
    return canonical_json(to_jsonable(value))


def canonical_json(data: JsonValue) -> bytes:
    """RFC 8785 canonical JSON of a value that is already JSON-shaped."""
    if _plain(data):
        # For strings, safe integers, booleans and null with ASCII keys, RFC 8785 output is
        # exactly Python's sorted, compact, non-ASCII-escaping JSON (same escapes, same key
        # order), and the C encoder is ~30x faster; anything else goes to rfc8785 itself.
        return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    return rfc8785.dumps(data)


def _plain(data: JsonValue) -> bool:
    """Only str, bool, None, safe ints, lists and dicts with ASCII keys, surrogate-free text."""
    if isinstance(data, str):
        return not _SURROGATE.search(data)
    if data is None or isinstance(data, bool):
        return True
    if isinstance(data, int):
        return -_SAFE_INT <= data <= _SAFE_INT
    if isinstance(data, list):
        return all(_plain(v) for v in data)
    if isinstance(data, dict):
        return all(k.isascii() and _plain(v) for k, v in data.items())
    return False


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def content_hash(value: object) -> str:
    """SHA-256 of the canonical JSON of `value`."""
    return sha256_hex(canonical_bytes(value))
