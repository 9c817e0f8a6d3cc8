"""Canonical JSON (RFC 8785) of records, and their SHA-256: what hashes and signatures bind to."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import orjson
import rfc8785

_SAFE_INT = 2**53 - 1
_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER

JsonValue = Any  # str | int | bool | None | list[JsonValue] | dict[str, JsonValue]

# Aggregates carry their pending domain events; they are not part of the record.
_NOT_RECORD_FIELDS = frozenset({"events"})


def to_jsonable(value: object) -> JsonValue:
    """A JSON-safe copy: Decimal as text (exact), datetimes as UTC ISO text, enums by value."""
    # Exact types first: this runs for every field of every audited record.
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        return {str(k): to_jsonable(v) for k, v in value.items()}  # type: ignore[attr-defined]
    if kind is Decimal:
        return str(value)
    if kind is datetime:
        return _iso_utc(value)  # type: ignore[arg-type]
    if kind is list or kind is tuple:
        return [to_jsonable(v) for v in value]  # type: ignore[attr-defined]
    return _other_jsonable(value)


def _other_jsonable(value: object) -> JsonValue:
    if isinstance(value, Enum):  # before str and int: a StrEnum is a str, but not plain text
        return to_jsonable(value.value)
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return _iso_utc(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: to_jsonable(getattr(value, name)) for name in _record_fields(type(value))}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    raise TypeError(f"{type(value).__name__} has no canonical JSON form.")


@functools.cache
def _record_fields(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(kind) if f.name not in _NOT_RECORD_FIELDS)


def _iso_utc(moment: datetime) -> str:
    from labgate.compliance.clock import iso_utc

    return iso_utc(moment)


def canonical_bytes(value: object) -> bytes:
    """RFC 8785 canonical JSON of `value`."""
    return canonical_json(to_jsonable(value))


def canonical_json(data: JsonValue) -> bytes:
    """RFC 8785 canonical JSON of a value that is already JSON-shaped."""
    if _plain(data):
        # Strings, safe integers, booleans and null under ASCII keys: here RFC 8785 output is
        # exactly orjson's sorted compact UTF-8 (same escapes, same key order), ~10x faster than
        # the stdlib encoder and ~100x faster than rfc8785. A lone surrogate has no UTF-8 form:
        # orjson refuses it, and rfc8785 says why.
        try:
            return orjson.dumps(data, option=_SORTED)
        except TypeError:
            pass
    return rfc8785.dumps(data)


def _plain(data: JsonValue) -> bool:
    """Only ASCII str keys, and no float or integer past 2**53 anywhere (a loop, not recursion:
    this runs for every audit entry sealed)."""
    stack = [data]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            if not all(type(k) is str and k.isascii() for k in item):
                return False
            values = item.values()
        elif kind is list:
            values = item
        else:
            values = (item,)
        for value in values:
            kind = type(value)
            if kind is str or value is None or kind is bool:
                continue
            if kind is int:
                if -_SAFE_INT <= value <= _SAFE_INT:
                    continue
                return False
            if kind is dict or kind is list:
                stack.append(value)
                continue
            return False
    return True


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def content_hash(value: object) -> str:
    """SHA-256 of the canonical JSON of `value`."""
    return sha256_hex(canonical_bytes(value))
