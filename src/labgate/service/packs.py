"""File packs: data files (CSV or B2MML XML) under a signed manifest.

The manifest is an envelope (`labgate.file_pack.v1`) whose payload lists every data file with its
SHA-256 and record count, so the source's Ed25519 key covers the whole pack; the pack then runs
through the inbox like any message (key, signature and the files' digests, dedupe on the pack's
message id, sequence per stream; in its turn the manifest's schema, the records' count and
schema, the use case). Its records are applied in one transaction: all or none."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field, StrictInt, StrictStr, ValidationError

from labgate.compliance.envelope import Envelope
from labgate.domain.commands import Command, Context, RecordResults
from labgate.domain.errors import InvalidInput
from labgate.service.messages import FIELD_LENGTH, Payload, ResultV1

PACK_SCHEMA = "labgate.file_pack.v1"
MANIFEST = "manifest.json"
# A data file's name: one plain name inside the pack, never a path.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
RECORD_SCHEMAS: dict[str, type[ResultV1]] = {"labgate.result.v1": ResultV1}


class Dialect(Payload):
    """How the pack's CSV files are written (RFC 4180 with these choices)."""

    delimiter: Literal[",", ";", "\t", "|"] = ","
    quotechar: Literal['"', "'"] = '"'
    encoding: Literal["utf-8", "utf-8-sig"] = "utf-8"


class PackFile(Payload):
    """One data file: what it holds, how it is written, its digest and its record count."""

    name: StrictStr = Field(min_length=1, max_length=255)
    format: Literal["csv", "b2mml"]
    schema_: Literal["labgate.result.v1"] = Field(alias="schema")
    sha256: Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$")]
    records: StrictInt = Field(ge=0, le=1_000_000)


class FilePackV1(Payload):
    """The manifest's payload: the files of the pack and the CSV dialect they use."""

    files: list[PackFile] = Field(min_length=1, max_length=64)
    dialect: Dialect = Dialect()


class PackRefused(InvalidInput):
    """A pack whose files do not match its manifest, or that cannot be read."""

    default_reason = "pack.malformed"


# Reads one data file into records (dicts of text, None for an empty cell); the codec provides it.
RowReader = Callable[[PackFile, Dialect, bytes], list[dict[str, Any]]]


@dataclass
class PackMessage:
    """A pack read far enough to route: its signed manifest and its members' bytes."""

    envelope: Envelope
    members: Mapping[str, bytes]
    read_rows: RowReader
    _records: list[ResultV1] | None = field(default=None, repr=False)

    def check(self) -> None:
        """What the signature covers through the manifest: every member listed, every listed
        file present and unchanged. The rest (schema, counts, records) is the pack's content."""
        _verify_files(self)

    def records(self) -> list[ResultV1]:
        """Every record of every file, checked; read once."""
        if self._records is None:
            self._records = _checked_records(self)
        return self._records

    def command(self, ctx: Context) -> Command:
        """All the pack's results in one transaction."""
        site = self.envelope.site
        return RecordResults(ctx, tuple(r.to_command(ctx, site) for r in self.records()))


def manifest_of(payload: object) -> FilePackV1:
    """The manifest payload, checked against its schema; the first fault refused by path."""
    try:
        return FilePackV1.model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        path = ".".join(["payload", *(str(p)[:64] for p in first["loc"])])[:FIELD_LENGTH]
        raise InvalidInput(
            f"The {PACK_SCHEMA} manifest is refused at {path}: {first['msg']} "
            f"(rule {first['type']}).",
            reason="envelope.schema_violation",
            field=path,
        ) from None


def safe_member_name(name: str, where: str) -> str:
    """A plain file name inside the pack; anything that could leave its folder is refused."""
    if not _SAFE_NAME.fullmatch(name) or ".." in name:
        raise PackRefused(
            f"The pack names a file {name[:80]!r}, which is not a plain file name (letters, "
            "digits, '.', '_', '-'; no folders, no '..'); it could leave its folder.",
            reason="pack.path_traversal",
            field=where,
        )
    return name


def _verify_files(pack: PackMessage) -> None:
    """A pack whose files are not the ones signed cannot be authenticated. A manifest that
    breaks its schema is content: refused in its turn, by `records`."""
    if pack.envelope.schema != PACK_SCHEMA:
        return
    try:
        manifest = manifest_of(pack.envelope.payload)
    except InvalidInput:
        return
    listed = {entry.name for entry in manifest.files}
    unlisted = sorted(set(pack.members) - listed - {MANIFEST})
    if unlisted:
        raise _unlisted(unlisted[0])
    for index, entry in enumerate(manifest.files):
        if _SAFE_NAME.fullmatch(entry.name) and ".." not in entry.name:
            _file_data(pack, f"payload.files[{index}]", entry)


def _unlisted(name: str) -> PackRefused:
    return PackRefused(
        f"The pack holds {name[:80]!r}, which its manifest does not list; every file must be "
        "listed with its SHA-256.",
        reason="pack.unlisted_file",
        field="payload.files",
    )


def _checked_records(pack: PackMessage) -> list[ResultV1]:
    if pack.envelope.schema != PACK_SCHEMA:
        raise InvalidInput(
            f"A pack's manifest is a {PACK_SCHEMA} envelope, not {pack.envelope.schema[:80]}.",
            reason="envelope.unknown_schema",
            field="schema",
        )
    manifest = manifest_of(pack.envelope.payload)
    listed = [
        safe_member_name(entry.name, f"payload.files[{i}].name")
        for i, entry in enumerate(manifest.files)
    ]
    if len(set(listed)) != len(listed) or MANIFEST in listed:
        raise PackRefused(
            "The manifest lists a file twice, or lists itself.",
            reason="pack.duplicate_file",
            field="payload.files",
        )
    unlisted = sorted(set(pack.members) - set(listed) - {MANIFEST})
    if unlisted:
        raise _unlisted(unlisted[0])
    records: list[ResultV1] = []
    for index, entry in enumerate(manifest.files):
        records.extend(_file_records(pack, manifest.dialect, index, entry))
    return records


def _file_records(
    pack: PackMessage, dialect: Dialect, index: int, entry: PackFile
) -> list[ResultV1]:
    where = f"payload.files[{index}]"
    rows = pack.read_rows(entry, dialect, _file_data(pack, where, entry))
    if len(rows) != entry.records:
        raise PackRefused(
            f"{entry.name} holds {len(rows)} records, but the manifest says {entry.records}.",
            reason="pack.record_count",
            field=f"{where}.records",
        )
    model = RECORD_SCHEMAS[entry.schema_]
    checked = []
    for number, row in enumerate(rows, start=1):
        try:
            checked.append(model.model_validate(row))
        except ValidationError as error:
            raise _record_violation(entry, where, number, error) from None
    return checked


def _file_data(pack: PackMessage, where: str, entry: PackFile) -> bytes:
    """A listed file's bytes, present and as signed (its digest in the manifest)."""
    data = pack.members.get(entry.name)
    if data is None:
        raise PackRefused(
            f"The manifest lists {entry.name}, but the pack does not hold it.",
            reason="pack.file_missing",
            field=f"{where}.name",
        )
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.sha256:
        raise PackRefused(
            f"{entry.name} has SHA-256 {digest}, but the manifest says {entry.sha256}: the file "
            "changed after the manifest was signed, or was damaged on the way.",
            reason="pack.checksum_mismatch",
            field=f"{where}.sha256",
        )
    return data


def _record_violation(
    entry: PackFile, where: str, number: int, error: ValidationError
) -> InvalidInput:
    first = error.errors()[0]
    member = (first.get("ctx") or {}).get("member")
    parts = [str(part)[:64] for part in (*first["loc"], *([member] if member else []))]
    path = ".".join([f"{where}.records[{number}]", *parts])[:FIELD_LENGTH]
    return InvalidInput(
        f"Record {number} of {entry.name} breaks {entry.schema_} at "
        f"{'.'.join(parts) or 'the record'}: {first['msg']} (rule {first['type']}).",
        reason="envelope.schema_violation",
        field=path,
    )
