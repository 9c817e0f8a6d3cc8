"""Raw-material lots: the lots (GET .../lots, by status), a lot with the supplier's CoA beside
labgate's own results as GET .../lots/{lot} compares them, the skip-lot state of its material and
supplier, and QA's release or rejection with an e-signature, sent as the API's POST
.../release and .../rejection send it (DecideLot)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store import raw_material_views as views
from labgate.adapters.store.document_facts import readable
from labgate.compliance.access import Permission
from labgate.compliance.signatures import Meaning
from labgate.domain.commands import Context, SignatureInput
from labgate.domain.errors import LabgateError
from labgate.domain.raw_materials import DecideLot, LotStatus, MaterialPlan
from labgate.entrypoints.api.answers.raw_materials import LOT_PEOPLE
from labgate.entrypoints.api.http_errors import http_status
from labgate.entrypoints.web.access import Visitor, allowed, hub_of
from labgate.entrypoints.web.labdata import Listing, after, lab_frame, paging, signed
from labgate.entrypoints.web.layout import site_view
from labgate.entrypoints.web.render import filtered_list, page, prefix
from labgate.service.handlers.skip_lot_plans import plan_settings

router = APIRouter()
Reading = Annotated[Visitor, Depends(allowed(Permission.READ))]
Deciding = Annotated[Visitor, Depends(allowed(Permission.RELEASE_BATCH))]
LOTS = "lots"
Status = Annotated[Literal["", "quarantine", "released", "rejected"] | None, Query()]


def _base(request: Request, site: str) -> str:
    return f"{prefix(request)}/sites/{site}/lots"


@router.get("/sites/{site}/lots", name="lots")
def lots(
    request: Request,
    site: str,
    who: Reading,
    status: Status = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    """The lots as GET .../lots lists them, newest first, by status (quarantine...)."""
    shown = site_view(request, site)
    asked = Listing(status or None, limit, cursor or None)
    with hub_of(request).sessions() as session:
        found = views.lots_page(session, site, None, asked.status, after(LOTS, asked), limit)
        found.rows[:] = readable(session, site, found.rows, LOT_PEOPLE)
    here = _base(request, site)
    values = {**lab_frame(request, who, shown, "lots"), **paging(LOTS, asked, here, found),
              "statuses": [s.value for s in LotStatus]}  # fmt: skip
    return filtered_list(request, "lots.html", "lots", values, asked, here)


def _lot_values(request: Request, who: Visitor, site: str, code: str) -> dict[str, Any]:
    shown = site_view(request, site)
    with hub_of(request).sessions() as session:
        lot = readable(session, site, views.lot_view(session, site, code), LOT_PEOPLE)
        plan = session.scalars(
            select(MaterialPlan).filter_by(
                site=site, material=lot["material"], supplier=lot["supplier"]
            )
        ).one_or_none()
        settings = None if plan is None else readable(session, site, plan_settings(plan))
    undecided = lot["status"] == LotStatus.QUARANTINE.value
    return {**lab_frame(request, who, shown, "lots"), "lot": lot, "plan": settings,
            "here": f"{_base(request, site)}/{code}", "lots_at": _base(request, site),
            "may_decide": undecided and who.may(Permission.RELEASE_BATCH),
            "refused": None, "refused_action": None, "typed": "", "done": None}  # fmt: skip


@router.get("/sites/{site}/lots/{lot}", name="lot")
def lot_page(
    request: Request,
    site: str,
    lot: str,
    who: Reading,
    done: Literal["released", "rejected"] | None = None,
) -> Response:
    """A lot: status, draw, what blocks release, supplier CoA beside labgate's results, the
    skip-lot state, deviations and signatures."""
    values = _lot_values(request, who, site, lot)
    values["done"] = done
    return page(request, "lot.html", values)


async def _decide(request: Request, who: Visitor, site: str, lot: str, release: bool) -> Response:
    meaning = Meaning.RELEASED if release else Meaning.REJECTED
    typed: dict[str, str] = {}

    def build(ctx: Context, form: dict[str, str], signature: SignatureInput) -> DecideLot:
        typed["reason"] = form.get("reason", "")
        return DecideLot(ctx, site, lot, release, typed["reason"], signature)

    async def refused(error: LabgateError) -> Response:
        values = await run_in_threadpool(_lot_values, request, who, site, lot)
        values |= {"refused": error, "refused_action": meaning.value,
                   "typed": typed.get("reason", "")}  # fmt: skip
        return page(request, "lot.html", values, status=http_status(error))

    done = f"{_base(request, site)}/{lot}?done={meaning.value}"
    return await signed(request, who, meaning, build, done, refused)


@router.post("/sites/{site}/lots/{lot}/release", name="lot_release")
async def release(request: Request, site: str, lot: str, who: Deciding) -> Response:
    """QA releases the lot: a reason, an e-signature meaning released."""
    return await _decide(request, who, site, lot, True)


@router.post("/sites/{site}/lots/{lot}/rejection", name="lot_reject")
async def reject(request: Request, site: str, lot: str, who: Deciding) -> Response:
    """QA rejects the lot: a reason, an e-signature meaning rejected."""
    return await _decide(request, who, site, lot, False)
