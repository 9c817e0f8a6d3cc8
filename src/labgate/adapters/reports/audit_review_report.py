"""A periodic audit-trail review as a file: its canonical JSON, or a PDF that prints every
category's counts and entries, the spot check and its marks, the sign-off's manifestation
(printed name, time, meaning: 21 CFR 11.50) and the SHA-256 of the JSON it was rendered from."""

from __future__ import annotations

import hashlib
from typing import Any

from labgate.adapters.reports.documents import MEDIA, Document, Format
from labgate.adapters.reports.render import html, pdf
from labgate.compliance.canonical import canonical_json


def review_document(record: dict[str, Any], format: Format) -> Document:
    """The review (from audit_review_view.review_record) as JSON, HTML or PDF."""
    data = canonical_json(record)
    name = f"AuditReview-{record['site']}-{record['code']}.{format}"
    if format == "json":
        return Document(data, MEDIA["json"], name)
    printed = {**record, "json_sha256": hashlib.sha256(data).hexdigest()}
    page = html("audit_review.html.j2", printed)
    return Document(page if format == "html" else pdf(page), MEDIA[format], name)
