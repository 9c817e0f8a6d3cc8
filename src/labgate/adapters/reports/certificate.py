"""The Certificate of Analysis as a file: canonical JSON, HTML or PDF."""

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


def certificate_document(content: dict[str, Any], format: Format) -> Document:
    """The CoA (from certificate_view.certificate) in the format asked for."""
    if format == "json":
        data = canonical_json(content)
    else:
        page = html("coa.html.j2", content)
        data = page if format == "html" else pdf(page)
    name = f"CoA-{content['site']}-{content['batch']}.{format}"
    return Document(data, MEDIA[format], name)
