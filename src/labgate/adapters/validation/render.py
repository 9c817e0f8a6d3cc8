"""The pack's HTML pages and its summary PDF, through labgate's report templates."""

from __future__ import annotations

from typing import Any

from labgate.adapters.reports.render import html, pdf

TEMPLATE = "validation.html.j2"


def page(document: dict[str, Any], created: str) -> bytes:
    """One document of the pack as a self-contained HTML page (no CDN, no script)."""
    return html(TEMPLATE, {**document, "created": created, "time_zone": "UTC"})


def summary_pdf(summary: dict[str, Any]) -> bytes:
    """The summary as PDF. Its creation date is the test run's start, named in the page's
    dcterms.created: WeasyPrint writes that, and no clock, so two builds give the same bytes."""
    return pdf(page(summary, summary["run_started_at"]))
