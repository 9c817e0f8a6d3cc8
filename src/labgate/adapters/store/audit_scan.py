"""The audit trail read for verification: the sealed columns only, through the driver's own
cursor, each row turned straight into the bytes its seal covers.

`iter_audit` builds an AuditEntry per row through SQLAlchemy's result processing (JSON through
the stdlib, `at` parsed into a datetime and formatted again): ~20 µs an entry, most of a 10⁶-entry
verify. Here a row costs a few µs, and gives the same bytes as `AuditEntry.canonical()`:
- `at`: SQLite holds SQLAlchemy's `YYYY-MM-DD HH:MM:SS.ffffff` (naive UTC), rewritten as the ISO
  form; any other text goes through the column type's own processing, as `iter_audit` reads it.
  PostgreSQL formats it in UTC itself (`to_char`), in `iso_utc`'s form.
- `before`/`after`: orjson decodes what it can decode exactly like `json.loads` (strings,
  integers, booleans, null); a value with a float (where a big integer would hide too, orjson
  decoding it as a float) or text orjson refuses (NaN, a lone surrogate) is decoded again by
  `json.loads`, as the JSON column does, and takes the RFC 8785 encoder."""

from __future__ import annotations

import json
import json.scanner
import re
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy.orm import Session

from labgate.adapters.store import tables as t
from labgate.compliance.audit import StoredSeal, sealed_fields
from labgate.compliance.canonical import canonical_json, canonical_json_floatless
from labgate.compliance.clock import iso_utc

BATCH = 2000
_COLUMNS = ('site, actor, actor_kind, action, record_type, record_id, "before", "after", reason, '
            "payload_hash, correlation_id, prev_hash, hash")  # fmt: skip
_SQLITE = f"SELECT seq, at, {_COLUMNS} FROM audit_entries WHERE seq >= ? AND seq <= ? ORDER BY seq"
_POSTGRES = (
    "SELECT seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
    + _COLUMNS.replace('"before"', '"before"::text').replace('"after"', '"after"::text')
    + " FROM audit_entries WHERE seq >= %s AND seq <= %s ORDER BY seq"
)
_SQLITE_AT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")


def scan_seals(session: Session, first: int = 1, last: int | None = None) -> Iterator[StoredSeal]:
    """Entries `first` up to `last` (all, if None) in seq order, in the session's transaction."""
    connection = session.connection()
    dialect = connection.dialect
    raw: Any = connection.connection.driver_connection
    last = 2**62 if last is None else last
    if dialect.name == "postgresql":
        # A server-side cursor: the rows come BATCH at a time, not 10⁶ at once into memory.
        cursor = raw.cursor(name="labgate_audit_scan")
        cursor.itersize = BATCH
        cursor.execute(_POSTGRES, (first, last))
        at_of: Callable[[Any], str] = str
    else:
        cursor = raw.cursor()
        cursor.execute(_SQLITE, (first, last))
        column = t.audit_entries.c.at.type.dialect_impl(dialect)  # as SQLAlchemy reads it
        at_of = _sqlite_at(column.result_processor(dialect, None))
    try:
        for row in cursor:
            yield StoredSeal(row[0], row[13], row[14], _payload(row, at_of(row[1])))
    finally:
        cursor.close()  # a reader that stops early (a broken chain) must not leak the cursor


def _sqlite_at(parse: Callable[[Any], Any] | None) -> Callable[[Any], str]:
    def at_of(text: Any) -> str:
        if type(text) is str and _SQLITE_AT.fullmatch(text):
            return f"{text[:10]}T{text[11:]}Z"
        return iso_utc(parse(text) if parse is not None else text)

    return at_of


def _payload(row: Any, at: str) -> bytes:
    """The bytes the seal of this row covers."""
    try:
        before, after = _floatless(row[8]), _floatless(row[9])
    except (_HasFloat, StopIteration, ValueError):
        # A float, NaN, odd whitespace or broken JSON: decoded as the JSON column does.
        before, after = _loads(row[8]), _loads(row[9])
        return canonical_json(_fields(row, at, before, after))
    return canonical_json_floatless(_fields(row, at, before, after))


class _HasFloat(Exception):
    pass


def _refuse(_: str) -> Any:
    raise _HasFloat


# json.loads's own C scanner, told to stop at the first float (or NaN, Infinity): everything
# else it decodes exactly as the JSON column does, and canonical JSON need not search for floats.
_FLOATLESS = json.JSONDecoder(parse_float=_refuse, parse_constant=_refuse)
# typeshed types the C scanner's argument as another scanner; it takes the decoder's settings.
_scan: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(_FLOATLESS)  # type: ignore[arg-type]


def _floatless(text: str | None) -> Any:
    if text is None:
        return None
    value, end = _scan(text, 0)
    if end != len(text):
        raise ValueError("not JSON alone")
    return value


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _fields(row: Any, at: str, before: Any, after: Any) -> dict[str, Any]:
    _, _, site, actor, kind, action, record_type, record_id, _, _, reason, payload, corr = row[:13]
    return sealed_fields(row[0], at, site, actor, kind, action, record_type, record_id, before,
                         after, reason, payload, corr, row[13])  # fmt: skip
