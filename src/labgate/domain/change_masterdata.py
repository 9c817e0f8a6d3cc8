"""The proposal of a master-data change request: a document in the import's format, restricted
to the sections that shape interfaced data, and the mappings and aliases it retires. Only its
shape is checked here (the domain does no I/O); the document itself is checked as the import
checks it, and each retired record as stored and in force, when the request is raised."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labgate.domain.errors import InvalidInput

# What a change request may change; the rest of master data is loaded by import.
GOVERNED_SECTIONS = ("units", "methods", "tests", "mappings", "aliases")
# The header names the request's site (filled in from the store when left out).
ALLOWED_SECTIONS = ("site", *GOVERNED_SECTIONS)
# What a request may retire, and the fields naming one record of each (sampling_point optional).
RETIRE_KEYS: dict[str, tuple[str, ...]] = {
    "mappings": ("characteristic", "test_code", "sampling_point"),
    "aliases": ("system", "kind", "external_code"),
}
_OPTIONAL = frozenset({"sampling_point"})


def check_masterdata(p: Mapping[str, Any]) -> dict[str, Any]:
    """{"document": {...}?, "retire": {"mappings": [...], "aliases": [...]}?}: governed
    sections only, and at least one record changed or retired."""
    for key in p:
        if key not in ("document", "retire"):
            raise _bad(f"proposal.{key}", "is not part of a master-data change; give document "
                       "or retire")  # fmt: skip
    out: dict[str, Any] = {}
    if "document" in p or "retire" not in p:
        out["document"] = _document(p.get("document"))
    if "retire" in p:
        out["retire"] = _retire(p["retire"])
    changes = out.get("document") is not None and any(
        out["document"].get(section) for section in GOVERNED_SECTIONS
    )
    if not changes and not any(out.get("retire", {}).values()):
        where = "proposal.document" if "retire" not in p else "proposal"
        raise _bad(where, f"must change one of {', '.join(GOVERNED_SECTIONS)} or retire a "
                   "mapping or an alias")  # fmt: skip
    return out


def retirements(proposal: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(section, path, key) of every record a checked proposal retires, in its order."""
    retire = proposal.get("retire") or {}
    return [
        (section, f"proposal.retire.{section}[{i}]", dict(key))
        for section in RETIRE_KEYS
        for i, key in enumerate(retire.get(section, []))
    ]


def _document(document: object) -> dict[str, Any]:
    if not isinstance(document, Mapping):
        raise _bad("proposal.document", "must be a master-data document (an object)")
    for section in document:
        if section not in ALLOWED_SECTIONS:
            raise _bad(
                f"proposal.document.{section}",
                f"is not a section a change request governs (only {', '.join(ALLOWED_SECTIONS)}"
                "); load other master data by import",
            )
    return dict(document)


def _retire(retire: object) -> dict[str, Any]:
    if not isinstance(retire, Mapping):
        raise _bad("proposal.retire", "must be an object of mappings and aliases to retire")
    out: dict[str, list[dict[str, Any]]] = {}
    for section, items in retire.items():
        where = f"proposal.retire.{section}"
        if section not in RETIRE_KEYS:
            raise _bad(where, "is not what a change request retires (only mappings, aliases)")
        if not isinstance(items, list):
            raise _bad(where, "must be a list")
        out[section] = [_record(section, item, f"{where}[{i}]") for i, item in enumerate(items)]
        keys = [tuple(item.values()) for item in out[section]]
        for i, key in enumerate(keys):
            if key in keys[:i]:
                raise _bad(f"{where}[{i}]", "names a record already named above it")
    return out


def _record(section: str, item: object, where: str) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise _bad(where, "must be an object")
    names = RETIRE_KEYS[section]
    for name in item:
        if name not in names:
            raise _bad(f"{where}.{name}", f"is not a field naming one of {section} "
                       f"({', '.join(names)})")  # fmt: skip
    out: dict[str, Any] = {}
    for name in names:
        value = item.get(name)
        if value is None and name in _OPTIONAL:
            out[name] = None
        elif not isinstance(value, str) or not value.strip():
            raise _bad(f"{where}.{name}", "must be a non-empty text")
        else:
            out[name] = value.strip()
    return out


def _bad(field_name: str, rule: str) -> InvalidInput:
    return InvalidInput(
        f"The change's {field_name} {rule}.", reason="change.invalid_proposal", field=field_name
    )
