"""What a backup is known by (its manifest), and what its restore test found: the checks
`labgate backup verify` makes on a restored copy, each with the reason code of its failure.
Kept beside the backup file and in the live trail, so an inspector sees when a backup was taken
and when it was last shown to restore into a database whose audit trail still checks out."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from labgate.compliance.clock import iso_utc
from labgate.domain.commands import Context
from labgate.service.handlers.common import record
from labgate.service.unit_of_work import UnitOfWork

MANIFEST_FORMAT = "labgate.backup.v1"
CHUNK = 1 << 20


@dataclass(frozen=True)
class Manifest:
    """A backup file, as it was when taken."""

    file: str
    sha256: str
    bytes: int
    database: str  # sqlite | postgresql
    schema_revision: str | None
    audit_head_seq: int
    audit_head_hash: str
    taken_at: str
    taken_by: str
    labgate_version: str
    format: str = MANIFEST_FORMAT

    def as_json(self) -> dict[str, Any]:
        """As written beside the backup (and audited)."""
        return asdict(self)

    @classmethod
    def read(cls, fields: dict[str, Any]) -> Manifest:
        """From its JSON; a manifest of another format or missing a field is refused."""
        if fields.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"not a {MANIFEST_FORMAT} manifest")
        try:
            return cls(**{name: fields[name] for name in cls.__dataclass_fields__})
        except KeyError as missing:
            raise ValueError(f"the manifest has no {missing.args[0]}") from None


@dataclass(frozen=True)
class Check:
    """One check of a restore test."""

    name: str
    ok: bool
    detail: str
    reason: str | None = None  # the failure's reason code


@dataclass
class RestoreReport:
    """A restore test: every check made, in order; it passes when all passed."""

    backup: str
    checks: list[Check] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every check passed."""
        return all(check.ok for check in self.checks)

    @property
    def first_failure(self) -> Check | None:
        """The first check that failed."""
        return next((check for check in self.checks if not check.ok), None)

    def as_json(self) -> dict[str, Any]:
        """As audited."""
        return {
            "backup": self.backup,
            "ok": self.ok,
            "checks": [asdict(check) for check in self.checks],
            "counts": dict(sorted(self.counts.items())),
        }


def sha256_of(path: Path) -> str:
    """The file's SHA-256, read in chunks (a backup may be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_check(path: Path, manifest: Manifest) -> Check:
    """The file is the one the manifest describes."""
    if not path.exists():
        return Check("checksum", False, f"{path.name} is missing", "backup.file_missing")
    found = sha256_of(path)
    if found != manifest.sha256:
        return Check("checksum", False, f"SHA-256 {found}, the manifest says {manifest.sha256}: "
                     "the file changed since it was taken", "backup.checksum_mismatch")  # fmt: skip
    return Check("checksum", True, f"SHA-256 {found} as taken")


def head_check(manifest: Manifest, seq: int, hash_: str) -> Check:
    """The restored trail ends where the live one ended when the backup was taken."""
    if (seq, hash_) != (manifest.audit_head_seq, manifest.audit_head_hash):
        said = (f"the restored trail ends at entry {seq}, the backup was taken at entry "
                f"{manifest.audit_head_seq}")  # fmt: skip
        return Check("audit_head", False, said, "backup.head_mismatch")
    return Check("audit_head", True, f"ends at entry {seq}, as when taken")


def record_backup(uow: UnitOfWork, ctx: Context, at: datetime, manifest: Manifest) -> None:
    """The live trail says a backup was taken (who, when, which file, its hash)."""
    with uow:
        record(uow, ctx, at, "backup.taken", ("backup", manifest.file, None),
               after=manifest.as_json(), reason="backup taken")  # fmt: skip
        uow.commit()


def record_restore_test(uow: UnitOfWork, ctx: Context, at: datetime, report: RestoreReport) -> None:
    """The live trail says a restore was tested, and what it found (Annex 11 §7.2)."""
    failed = report.first_failure
    action = "backup.restore_verified" if failed is None else "backup.restore_failed"
    why = (
        "restore tested: every check passed"
        if failed is None
        else f"restore test failed: {failed.detail}"
    )
    with uow:
        record(uow, ctx, at, action, ("backup", report.backup, None), after=report.as_json(),
               reason=why)  # fmt: skip
        uow.commit()


def taken_at(at: datetime) -> str:
    """The backup's time as its name and manifest carry it."""
    return iso_utc(at)
