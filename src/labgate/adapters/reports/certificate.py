"""The Certificate of Analysis as a file: canonical JSON, HTML or PDF."""

from __future__ import annotations

from typing import Any

from labgate.adapters.reports.documents import Document, Format, record_document


def certificate_document(content: dict[str, Any], format: Format) -> Document:
    """The CoA (from certificate_view.certificate) in the format asked for."""
    return record_document(content, format, "coa.html.j2", "CoA")
