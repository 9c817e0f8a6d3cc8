"""The batch dossier as a file: canonical JSON, HTML or PDF."""

from __future__ import annotations

from typing import Any

from labgate.adapters.reports.documents import Document, Format, record_document


def dossier_document(content: dict[str, Any], format: Format) -> Document:
    """The dossier (from dossier_view.dossier) in the format asked for."""
    return record_document(content, format, "dossier.html.j2", "Dossier")
