"""The audit trail read for verification: the sealed columns only, through the driver itself
(SQLite's cursor; PostgreSQL's COPY ... TO STDOUT), each row turned straight into the bytes its
seal covers.

`iter_audit` builds an AuditEntry per row through SQLAlchemy's result processing (JSON through
the stdlib, `at` parsed into a datetime and formatted again): ~20 µs an entry, most of a 10⁶-entry
verify. Here a row costs a few µs, and gives the same bytes as `AuditEntry.canonical()`:
- `at`: SQLite holds SQLAlchemy's `YYYY-MM-DD HH:MM:SS.ffffff` (naive UTC), rewritten as the ISO
  form; any other text goes through the column type's own processing, as `iter_audit` reads it.
  PostgreSQL formats it in UTC itself (`to_char`), in `iso_utc`'s form.
- `before`/`after`: `json.loads`'s own C scanner decodes them, told to stop at the first float
  (or NaN, Infinity), so canonical JSON need not walk them looking for one
  (`canonical_json_floatless`). A value with a float, or text that is not JSON alone, is decoded
  by `json.loads` itself, as the JSON column does, and takes `canonical_json`. (orjson decodes
  ~2x faster, but turns an integer past 64 bits into a float without a word.)"""

from __future__ import annotations

import json
import json.scanner
import re
from collections.abc import Callable, Generator
from typing import Any

from sqlalchemy.orm import Session

from labgate.adapters.store import tables as t
from labgate.compliance.audit import SEALED, StoredSeal
from labgate.compliance.canonical import canonical_json, canonical_json_floatless
from labgate.compliance.clock import iso_utc

# The sealed columns in `SEALED`'s order, then the seal.
_COLUMNS = ", ".join(f'"{name}"' for name in (*SEALED, "hash"))
_SQLITE = f"SELECT {_COLUMNS} FROM audit_entries WHERE seq >= ? AND seq <= ? ORDER BY seq"
_POSTGRES = (
    _SQLITE.replace('"at"', "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
    .replace('"before"', '"before"::text')
    .replace('"after"', '"after"::text')
    .replace("?", "%s")
)
Seals = Generator[StoredSeal, None, None]
_POSTGRES_TYPES = ["int8"] + ["text"] * (len(SEALED))  # seq, then text (JSON as its text)
_SQLITE_AT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")


def scan_seals(session: Session, first: int = 1, last: int | None = None) -> Seals:
    """Entries `first` up to `last` (all, if None) in seq order, in the session's transaction.
    Close it (`contextlib.closing`) before the session's next statement if it may stop early:
    PostgreSQL's COPY is still sending."""
    connection = session.connection()
    raw: Any = connection.connection.driver_connection
    last = 2**62 if last is None else last
    if connection.dialect.name == "postgresql":
        return _postgres_seals(raw, int(first), int(last))
    column = t.audit_entries.c.at.type.dialect_impl(connection.dialect)  # as SQLAlchemy reads it
    return _sqlite_seals(
        raw, first, last, _sqlite_at(column.result_processor(connection.dialect, None))
    )


def _sqlite_seals(raw: Any, first: int, last: int, at_of: Callable[[Any], str]) -> Seals:
    cursor = raw.cursor()
    try:
        for row in cursor.execute(_SQLITE, (first, last)):
            yield StoredSeal(row[0], row[13], row[14], _payload(row, at_of(row[1])))
    finally:
        cursor.close()  # a reader that stops early (a broken chain) must not leak the cursor


def _postgres_seals(raw: Any, first: int, last: int) -> Seals:
    # COPY streams: the server formats rows while this process seals them (a server-side
    # cursor makes each wait for the other, batch by batch: ~2 µs an entry more).
    query = _POSTGRES.replace("%s", "{}").format(first, last)
    with raw.cursor() as cursor, cursor.copy(f"COPY ({query}) TO STDOUT") as copy:
        copy.set_types(_POSTGRES_TYPES)
        try:
            for row in copy.rows():
                yield StoredSeal(row[0], row[13], row[14], _payload(row, row[1]))
        finally:
            # A reader that stops early (a broken chain): the rest is read, not cancelled,
            # since a cancelled statement would abort the verifying transaction.
            for _ in copy:
                pass


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
    # A literal, not dict(zip(SEALED, row)): half the cost. The columns are SEALED's, in order;
    # the tests hold the bytes to AuditEntry.canonical()'s.
    (
        seq,
        _,
        site,
        actor,
        kind,
        action,
        record_type,
        record_id,
        _,
        _,
        reason,
        payload,
        corr,
        prev,
        _,
    ) = row
    return {"seq": seq, "at": at, "site": site, "actor": actor, "actor_kind": kind,
            "action": action, "record_type": record_type, "record_id": record_id,
            "before": before, "after": after, "reason": reason, "payload_hash": payload,
            "correlation_id": corr, "prev_hash": prev}  # fmt: skip
