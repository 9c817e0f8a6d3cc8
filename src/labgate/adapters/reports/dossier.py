"""The batch dossier as a file: canonical JSON, HTML or PDF."""

from __future__ import annotations

from typing import Any

from labgate.adapters.reports.certificate import MEDIA, Document, Format
from labgate.adapters.reports.render import html, pdf
from labgate.compliance.canonical import canonical_json


def dossier_document(content: dict[str, Any], format: Format) -> Document:
    """The dossier (from dossier_view.dossier) in the format asked for."""
    if format == "json":
        data = canonical_json(content)
    else:
        page = html("dossier.html.j2", content)
        data = page if format == "html" else pdf(page)
    name = f"Dossier-{content['site']}-{content['batch']}.{format}"
    return Document(data, MEDIA[format], name)
