"""Read models of raw materials: a lot with its tests, release blockers and supplier CoA
comparison; the lots of a material; a skip-lot plan with the lots it decided."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labgate.adapters.store import tables as t
from labgate.adapters.store.lists import Slice
from labgate.adapters.store.record_pages import record_page
from labgate.adapters.store.views import deviations_of, get_sample, signature_view, signatures_of
from labgate.compliance.canonical import to_jsonable
from labgate.domain.deviations import Deviation
from labgate.domain.errors import MalformedNumber, NotFound
from labgate.domain.numbers import exact_difference, parse_decimal
from labgate.domain.raw_materials import MaterialPlan, ReceivedLot, release_blockers
from labgate.domain.samples import Sample
from labgate.service.handlers.raw_materials import lot_content
from labgate.service.handlers.skip_lot_plans import plan_settings


def lot_view(session: Session, site: str, code: str) -> dict[str, Any]:
    """A received lot: its decision and draw, its tests, what blocks release, the CoA compared."""
    lot = session.scalars(select(ReceivedLot).filter_by(site=site, code=code)).one_or_none()
    if lot is None:
        raise NotFound(f"No lot with site={site}, code={code}.", reason="lot.unknown", field="lot")
    sample = get_sample(session, site, lot.sample)
    view: dict[str, Any] = to_jsonable(lot)
    view["planned_tests"] = [test.test_code for test in sample.tests]
    view["mes_status"] = sample.mes_status.value
    held = list(session.scalars(select(Deviation).filter_by(site=site, lot=code)))
    view["release_blockers"] = [
        {"reason": reason, "detail": text} for reason, text in release_blockers(sample, held)
    ]
    view["supplier_coa"] = [_compared(entry, sample) for entry in lot.supplier_coa]
    view["deviations"] = deviations_of(session, site, lot=code)
    content = lot_content(lot)
    view["signatures"] = [
        signature_view(s, content) for s in signatures_of(session, site, "lot", code)
    ]
    return view


def _compared(entry: dict[str, Any], sample: Sample) -> dict[str, Any]:
    """The supplier's value beside labgate's approved result, and their difference."""
    shown = dict(entry)
    result = sample.active_result(entry["test_code"])
    ours = result.reported_value if result is not None and result.approved_at else None
    shown["labgate_value"] = None if ours is None else str(ours)
    shown["labgate_unit"] = None if result is None else result.canonical_unit
    shown["difference"] = None
    if ours is not None and entry["unit"] == result.canonical_unit:  # type: ignore[union-attr]
        with suppress(MalformedNumber):  # a text value (identity) has no difference
            # Every digit kept: the default context would round a long value at 28 digits.
            shown["difference"] = str(exact_difference(parse_decimal(entry["value"]), ours))
    return shown


def lots_page(
    session: Session,
    site: str,
    material: str | None,
    status: str | None,
    after: int | None,
    limit: int,
) -> Slice:
    """One page of the site's lots, newest first, optionally of one material and status."""
    where: dict[str, Any] = {"site": site}
    if material:
        where["material"] = material
    if status:
        where["status"] = status
    return record_page(session, ReceivedLot, _brief, after, limit, "newest", **where)


def _brief(lot: ReceivedLot) -> dict[str, Any]:
    fields = (
        "code",
        "material",
        "supplier",
        "supplier_lot",
        "received_at",
        "sample",
        "inspection_state",
        "full_panel",
        "draw",
        "status",
    )
    brief: dict[str, Any] = to_jsonable({name: getattr(lot, name) for name in fields})
    return brief


def plan_view(session: Session, site: str, material: str, supplier: str) -> dict[str, Any]:
    """A plan's parameters and running state, and every lot it decided, oldest first."""
    plan = session.scalars(
        select(MaterialPlan).filter_by(site=site, material=material, supplier=supplier)
    ).one_or_none()
    if plan is None:
        raise NotFound(
            f"No skip-lot plan for material {material} from supplier {supplier}.",
            reason="skip_lot_plan.unknown",
            field="supplier",
        )
    lots = select(ReceivedLot).filter_by(site=site, material=material, supplier=supplier)
    history = [_brief(lot) for lot in session.scalars(lots.order_by(t.received_lots.c.id))]
    return {**plan_settings(plan), "site": site, "lots": history}
