"""The Certificate of Analysis read from the store: the domain's content plus the signatures
that stand behind it (each result's approval, the batch release), each shown as Part 11 asks
and checked against the record as it is now."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labgate.adapters.store import tables as t
from labgate.adapters.store.document_facts import reader_facts
from labgate.adapters.store.views import signature_view, signatures_of
from labgate.compliance.canonical import content_hash, to_jsonable
from labgate.domain.batches import Batch, release_content
from labgate.domain.certificate import certificate_content
from labgate.domain.errors import NotFound
from labgate.domain.lifecycle import SampleStatus
from labgate.domain.local_time import shown_date
from labgate.domain.masterdata import Product
from labgate.domain.samples import Sample, result_content
from labgate.domain.shelf_life import expiry_date


def certificate(session: Session, site: str, code: str) -> dict[str, Any]:
    """The CoA of a batch, with `content_sha256`: SHA-256 of the canonical JSON of everything
    else in it, printed on the certificate so any copy can be checked against the data."""
    batch = session.scalars(select(Batch).filter_by(site=site, code=code)).one_or_none()
    if batch is None:
        raise NotFound(f"No batch {code} in site {site}.", reason="batch.unknown", field="batch")
    samples = list(
        session.scalars(select(Sample).filter_by(site=site, batch=code).order_by(t.samples.c.id))
    )
    content: dict[str, Any] = to_jsonable(certificate_content(batch, samples))
    by_code = {s.code: s for s in samples}
    for shown in content["samples"]:
        sample = by_code[shown["sample"]]
        for line in shown["tests"]:
            result = sample.result(line["result_code"])
            signed = to_jsonable(result_content(sample, result))
            line["signatures"] = [
                signature_view(s, signed)
                for s in signatures_of(session, site, "result", result.code)
            ]
    live = (s.code for s in samples if s.status is not SampleStatus.CANCELLED)
    released = to_jsonable(release_content(batch, live))
    content["release_signatures"] = [
        signature_view(s, released) for s in signatures_of(session, site, "batch", code)
    ]
    product = session.scalars(select(Product).filter_by(site=site, code=batch.product))
    stored = product.one_or_none()
    content["product_name"] = None if stored is None else stored.name
    content |= reader_facts(session, site, content)
    content |= dates(batch, stored, content["time_zone"])
    content["content_sha256"] = content_hash(content)
    return content


def dates(batch: Batch, product: Product | None, zone: str) -> dict[str, Any]:
    """The date of manufacture (the batch's start, as a date at the site), the product's shelf
    life, and the expiry date they give (domain/shelf_life.py); an unknown one stays None, so
    the certificate says it is not known rather than invent it."""
    shown = shown_date(batch.started_at, zone)
    manufactured_on = None if shown is None else date.fromisoformat(shown)
    months = None if product is None else product.shelf_life_months
    expires_on = expiry_date(manufactured_on, months)
    return {
        "manufactured_on": shown,
        "shelf_life_months": months,
        "expires_on": None if expires_on is None else expires_on.isoformat(),
    }
