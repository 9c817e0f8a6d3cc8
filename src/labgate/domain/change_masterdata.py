"""The proposal of a master-data change request: a document in the import's format, restricted
to the sections that shape interfaced data. Only its shape is checked here (the domain does no
I/O); the document itself is checked as the import checks it when the request is raised."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labgate.domain.errors import InvalidInput

# What a change request may change; the rest of master data is loaded by import.
GOVERNED_SECTIONS = ("units", "methods", "tests", "mappings", "aliases")
# The header names the request's site (filled in from the store when left out).
ALLOWED_SECTIONS = ("site", *GOVERNED_SECTIONS)


def check_masterdata(p: Mapping[str, Any]) -> dict[str, Any]:
    """{"document": {...}} with governed sections only, at least one of them given."""
    for key in p:
        if key != "document":
            raise _bad(f"proposal.{key}", "is not part of a master-data change; give document")
    document = p.get("document")
    if not isinstance(document, Mapping):
        raise _bad("proposal.document", "must be a master-data document (an object)")
    for section in document:
        if section not in ALLOWED_SECTIONS:
            raise _bad(
                f"proposal.document.{section}",
                f"is not a section a change request governs (only {', '.join(ALLOWED_SECTIONS)}"
                "); load other master data by import",
            )
    if not any(document.get(section) for section in GOVERNED_SECTIONS):
        raise _bad("proposal.document", f"must change one of {', '.join(GOVERNED_SECTIONS)}")
    return {"document": dict(document)}


def _bad(field_name: str, rule: str) -> InvalidInput:
    return InvalidInput(
        f"The change's {field_name} {rule}.", reason="change.invalid_proposal", field=field_name
    )
