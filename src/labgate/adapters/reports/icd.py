"""The ICD rendered: JSON (the canonical bytes whose SHA-256 is the version's), HTML and PDF from
one template. Deterministic like every printed record (render.py): the same version gives the
same bytes in each format."""

from __future__ import annotations

from typing import Any

from labgate.adapters.reports.documents import MEDIA
from labgate.adapters.reports.render import html, pdf
from labgate.compliance.canonical import canonical_bytes

FORMATS = tuple(MEDIA)
__all__ = ["FORMATS", "MEDIA", "icd_document"]


def icd_document(version: dict[str, Any], form: str) -> bytes:
    """`version` (number, status, sha256, times, approver, content) in `form`."""
    if form == "json":
        return canonical_bytes(version["content"])
    page = html("icd.html.j2", version)
    return page if form == "html" else pdf(page)
