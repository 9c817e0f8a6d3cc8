"""A printed record as a file: canonical JSON, or HTML from its template, or that HTML as PDF;
named after its kind, site and batch. The same content gives the same bytes in every format."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal

from labgate.adapters.reports.render import html, pdf
from labgate.compliance.canonical import canonical_json

Format = Literal["json", "html", "pdf"]
MEDIA = {"json": "application/json", "html": "text/html; charset=utf-8", "pdf": "application/pdf"}


@dataclass(frozen=True)
class Document:
    """A rendered record and what identifies it."""

    data: bytes
    media_type: str
    filename: str

    @property
    def sha256(self) -> bytes:
        """SHA-256 of the bytes as served."""
        return hashlib.sha256(self.data).digest()


def record_document(content: dict[str, Any], format: Format, template: str, kind: str) -> Document:
    """`content` in the format asked for; `kind` names the file (CoA-<site>-<batch>.pdf)."""
    if format == "json":
        data = canonical_json(content)
    else:
        page = html(template, content)
        data = page if format == "html" else pdf(page)
    return Document(data, MEDIA[format], f"{kind}-{content['site']}-{content['batch']}.{format}")
