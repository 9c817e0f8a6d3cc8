"""Rendering printed records. Both steps are deterministic: no clock, no random ids, so the
same record gives the same HTML and PDF bytes (WeasyPrint writes no creation date unless the
HTML names one), which is what lets a printed certificate be checked by its SHA-256."""

from __future__ import annotations

from typing import Any

import jinja2

from labgate.domain.local_time import shown_at

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("labgate.adapters.reports", "templates"),
    autoescape=True,  # every value comes from records that other systems fed in
    undefined=jinja2.StrictUndefined,  # a missing field is a bug, not a blank on a GxP record
    trim_blocks=True,
    lstrip_blocks=True,
)


@jinja2.pass_context
def _when(context: jinja2.runtime.Context, moment: str | None) -> str:
    """A stored UTC time as the site reads it (`2026-11-25 10:15:03 +01:00`); `—` for none."""
    return shown_at(moment, context["record"].get("time_zone", "UTC")) or "—"


@jinja2.pass_context
def _who(context: jinja2.runtime.Context, user: str | None) -> str:
    """A user id as a person reads it: printed name with the id (`Ann Reviewer (areviewer)`)."""
    if not user:
        return "—"
    name = context["record"].get("people", {}).get(user)
    return user if name is None else f"{name} ({user})"


_TEMPLATES.filters["when"] = _when
_TEMPLATES.filters["who"] = _who


def html(template: str, record: dict[str, Any]) -> bytes:
    """The record through the named template, as UTF-8 HTML."""
    return _TEMPLATES.get_template(template).render(record=record).encode()


def pdf(page: bytes) -> bytes:
    """The HTML as PDF."""
    # Imported on first use: WeasyPrint loads Pango when imported, and a hub whose machine
    # lacks it should still serve everything but PDFs (scripts/ensure-services.sh pdf adds it).
    import weasyprint

    document: bytes = weasyprint.HTML(string=page.decode()).write_pdf()
    return document
