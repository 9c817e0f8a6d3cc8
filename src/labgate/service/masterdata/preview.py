"""An import's planned changes as a reader sees them: per record, each governed field before →
after. Shown by the import's preview and by a master-data change request's assessment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labgate.compliance.canonical import JsonValue, to_jsonable
from labgate.domain.masterdata import MethodVersion, SpecVersion
from labgate.service.masterdata.document import business_key
from labgate.service.masterdata.plan import SECTION_RECORDS, Change

__all__ = ["FieldChange", "PlannedChange", "planned", "record_id"]


@dataclass(frozen=True)
class FieldChange:
    """One governed field an import would write: its stored value (None for a new record) and
    the document's, both as the audit trail records them."""

    name: str
    before: JsonValue
    after: JsonValue


@dataclass(frozen=True)
class PlannedChange:
    """One record an import would create or update, with the fields it would write."""

    section: str
    record_type: str
    record_id: str
    outcome: str
    fields: tuple[FieldChange, ...]


def planned(change: Change) -> PlannedChange:
    """The change as the preview lists it: only the fields whose value differs."""
    _, record_type, governed = SECTION_RECORDS[change.section]
    fields = []
    for name in governed:
        after = to_jsonable(getattr(change.new, name))
        before = None if change.existing is None else to_jsonable(getattr(change.existing, name))
        if before != after:
            fields.append(FieldChange(name, before, after))
    outcome = "created" if change.existing is None else "updated"
    return PlannedChange(change.section, record_type, record_id(change.new), outcome, tuple(fields))


def record_id(new: Any) -> str:
    """The business key as the audit trail shows it."""
    if isinstance(new, SpecVersion):
        return new.ref
    if isinstance(new, MethodVersion):
        return f"{new.method} v{new.version}"
    return "/".join("*" if part is None else str(part) for part in business_key(new))
