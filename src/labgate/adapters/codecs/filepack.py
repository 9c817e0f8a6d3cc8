"""The file-pack wire form: an uncompressed POSIX tar holding `manifest.json` (a signed
`labgate.file_pack.v1` envelope) and the data files it lists; optionally PGP-wrapped.

Reading is hardened: members are only read into memory, never extracted; every member must be a
regular file with a plain name; sizes are bounded. Writing is for senders and the simulators:
deterministic (fixed times and owners), so the same content gives the same bytes."""

from __future__ import annotations

import csv
import hashlib
import io
import tarfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from labgate.adapters.codecs.b2mml_messages import from_b2mml
from labgate.adapters.codecs.pgp import PgpGate
from labgate.compliance.clock import as_utc
from labgate.compliance.envelope import Envelope, build_envelope, encode, parse_envelope
from labgate.service.packs import (
    MANIFEST,
    PACK_SCHEMA,
    Dialect,
    PackFile,
    PackMessage,
    PackRefused,
    safe_member_name,
)

MAX_MEMBERS = 65  # the manifest and up to 64 data files
MAX_PACK_BYTES = 512 * 1024 * 1024
_TAR_MAGIC_AT, _TAR_MAGIC = 257, b"ustar"


def is_tar(raw: bytes) -> bool:
    """A POSIX (ustar or GNU) tar header: a plain, unwrapped pack."""
    return raw[_TAR_MAGIC_AT : _TAR_MAGIC_AT + len(_TAR_MAGIC)] == _TAR_MAGIC


def read_members(raw: bytes) -> dict[str, bytes]:
    """Every member's bytes by name; refused unless each is a regular file with a plain name."""
    if len(raw) > MAX_PACK_BYTES:
        raise PackRefused(f"The pack is larger than {MAX_PACK_BYTES} bytes.", field="pack")
    if not is_tar(raw):
        raise PackRefused(
            "The pack is not a POSIX tar archive (nor a PGP message labgate was set up to open).",
            field="pack",
        )
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as archive:
            for info in archive:
                name = safe_member_name(info.name, "member")
                if not info.isreg():
                    raise PackRefused(
                        f"Pack member {name} is not a regular file (a link or a device).",
                        reason="pack.path_traversal",
                        field="member",
                    )
                if name in members or len(members) >= MAX_MEMBERS:
                    raise PackRefused(
                        f"The pack holds {name} twice, or more than {MAX_MEMBERS} members.",
                        reason="pack.duplicate_file",
                        field="member",
                    )
                handle = archive.extractfile(info)
                members[name] = handle.read() if handle else b""
    except tarfile.TarError as error:
        raise PackRefused(
            f"The pack is not a readable tar archive: {error}.", field="pack"
        ) from None
    return members


def decode_pack(raw: bytes) -> PackMessage:
    """A plain pack: its members and its manifest envelope (checked later, by the inbox)."""
    members = read_members(raw)
    manifest = members.get(MANIFEST)
    if manifest is None:
        raise PackRefused(
            f"The pack holds no {MANIFEST}; every pack carries its signed manifest.",
            reason="pack.manifest_missing",
            field="member",
        )
    return PackMessage(parse_envelope(manifest), members, read_rows)


def read_rows(entry: PackFile, dialect: Dialect, data: bytes) -> list[dict[str, Any]]:
    """A data file's records: CSV by the manifest's dialect, or a B2MML V0701 test result."""
    if entry.format == "b2mml":
        return b2mml_records(entry, data)
    return csv_records(entry.name, dialect, data)


def b2mml_records(entry: PackFile, data: bytes) -> list[dict[str, Any]]:
    """The payloads a B2MML document maps to (validated against the MESA schemas on the way);
    each must be of the schema the manifest declares for the file."""
    records = []
    for schema, payload in from_b2mml(data):
        if schema != entry.schema_:
            raise PackRefused(
                f"{entry.name} maps to {schema} records, but the manifest declares "
                f"{entry.schema_}.",
                reason="pack.wrong_record_schema",
                field=entry.name,
            )
        records.append(payload)
    return records


def csv_records(name: str, dialect: Dialect, data: bytes) -> list[dict[str, Any]]:
    """One dict per row, keyed by the header; an empty cell is an absent value (CSV has no null)."""
    try:
        text = data.decode(dialect.encoding)
    except UnicodeDecodeError as error:
        raise PackRefused(
            f"{name} is not {dialect.encoding} text (byte {error.start}).",
            reason="pack.malformed_data",
            field=name,
        ) from None
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=dialect.delimiter,
        quotechar=dialect.quotechar,
        strict=True,
    )
    try:
        header = next(reader, None)
        if not header or len(set(header)) != len(header) or "" in header:
            raise PackRefused(
                f"{name} needs a header row naming each column once.",
                reason="pack.malformed_data",
                field=name,
            )
        rows = []
        for cells in reader:
            if not cells:
                continue  # a blank line holds no record
            if len(cells) != len(header):
                raise PackRefused(
                    f"{name} line {reader.line_num} has {len(cells)} cells; the header has "
                    f"{len(header)}.",
                    reason="pack.malformed_data",
                    field=name,
                )
            rows.append({k: v for k, v in zip(header, cells, strict=True) if v != ""})
        return rows
    except csv.Error as error:
        raise PackRefused(
            f"{name} line {reader.line_num} is not valid CSV: {error}.",
            reason="pack.malformed_data",
            field=name,
        ) from None


# --- writing, for senders ----------------------------------------------------------------------


@dataclass(frozen=True)
class DataFile:
    """One data file to pack: its bytes, how they are written, and how many records they hold."""

    name: str
    data: bytes
    records: int
    format: str = "csv"
    schema: str = "labgate.result.v1"


def csv_bytes(rows: Sequence[Mapping[str, Any]], dialect: Dialect | None = None) -> bytes:
    """Rows as CSV with a header (None written as an empty cell)."""
    dialect = dialect or Dialect()
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    out = io.StringIO(newline="")
    writer = csv.writer(
        out, delimiter=dialect.delimiter, quotechar=dialect.quotechar, lineterminator="\r\n"
    )
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else str(row[c]) for c in columns])
    return out.getvalue().encode(dialect.encoding)


def pack_name(envelope: Envelope) -> str:
    """The pack's file name: site, type (stream), sequence and time, from its manifest."""
    stamp = as_utc(envelope.sent_at).strftime("%Y%m%dT%H%M%SZ")
    parts = (envelope.site, envelope.stream, f"{envelope.sequence:08d}", stamp)
    return "_".join(p.replace("/", "-").replace(":", "-") for p in parts) + ".tar"


def build_pack(
    files: Iterable[DataFile],
    *,
    site: str,
    source: str,
    stream: str,
    sequence: int,
    kid: str,
    private_jwk: dict[str, Any],
    sent_at: datetime,
    dialect: Dialect | None = None,
    correlation_id: str | None = None,
    message_id: str | None = None,
) -> tuple[str, bytes]:
    """A signed pack and its file name; the message id is a fresh UUIDv7 unless given."""
    files = list(files)
    payload = {
        "files": [
            {
                "name": f.name,
                "format": f.format,
                "schema": f.schema,
                "sha256": hashlib.sha256(f.data).hexdigest(),
                "records": f.records,
            }
            for f in files
        ],
        "dialect": (dialect or Dialect()).model_dump(),
    }
    document = build_envelope(
        PACK_SCHEMA,
        site,
        source,
        stream,
        sequence,
        payload,
        kid=kid,
        private_jwk=private_jwk,
        sent_at=sent_at,
        correlation_id=correlation_id,
        message_id=message_id,
    )
    manifest = encode(document)
    members = [(MANIFEST, manifest), *((f.name, f.data) for f in files)]
    return pack_name(parse_envelope(manifest)), tar_bytes(members)


def tar_bytes(members: Iterable[tuple[str, bytes]]) -> bytes:
    """A deterministic POSIX tar of the members, in the order given."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def pack_decoder(pgp: PgpGate | None = None) -> Callable[[bytes], PackMessage]:
    """The inbox's decoder for pack channels: PGP-wrapped packs are opened first."""

    def decode(raw: bytes) -> PackMessage:
        if is_tar(raw):
            if pgp is not None and pgp.required:
                raise PackRefused(
                    "This hub only accepts PGP-encrypted and signed packs; the pack is plain.",
                    reason="pack.pgp_required",
                    field="pgp",
                )
            return decode_pack(raw)
        return decode_pack(pgp.open(raw) if pgp is not None else raw)

    return decode
