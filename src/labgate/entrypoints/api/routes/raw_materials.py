"""Raw materials: receive lots, their supplier CoA, their release; skip-lot plans per supplier."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Request
from pydantic import AwareDatetime, Field, StrictStr
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store import raw_material_views as views
from labgate.adapters.store.document_facts import readable
from labgate.compliance.access import Account, Permission
from labgate.compliance.signed_actions import SignedAction
from labgate.domain.commands import Command
from labgate.domain.raw_materials import (
    ConfigureSkipLotPlan,
    DecideLot,
    ImportSupplierCoa,
    LotStatus,
    ReceiveLot,
    SupplierValue,
)
from labgate.entrypoints.api.answers.raw_materials import (
    LOT_PEOPLE,
    BlockerReason,
    LotItem,
    LotView,
    SkipLotPlanView,
)
from labgate.entrypoints.api.auth import hub_of
from labgate.entrypoints.api.contract import refuses
from labgate.entrypoints.api.paging import Cursor, Page, PageLimit, decode_cursor, page_of
from labgate.entrypoints.api.problems import request_context
from labgate.entrypoints.api.routes.lab import allowed
from labgate.entrypoints.api.schemas import Body, SignatureIn, SignedAs
from labgate.entrypoints.api.scope import SiteScope
from labgate.service.messages import code

router = APIRouter(prefix="/api/v1/sites/{site}", tags=["raw materials"], dependencies=[SiteScope])


class LotIn(Body):
    """A lot as received from a supplier."""

    material: StrictStr = code()
    supplier: StrictStr = code()
    supplier_lot: StrictStr = code()
    received_at: AwareDatetime


class SupplierValueIn(Body):
    """One line of the supplier's certificate of analysis, as printed."""

    test_code: StrictStr = code()
    value: StrictStr = Field(min_length=1, max_length=200)
    unit: StrictStr | None = Field(None, max_length=64)


class SupplierCoaIn(Body):
    """The supplier's CoA values for a lot."""

    tests: list[SupplierValueIn] = Field(min_length=1, max_length=200)


class LotReleaseIn(Body):
    """QA's release of a lot, with a reason and an e-signature meaning 'released'."""

    reason: StrictStr = Field(min_length=1, max_length=2000)
    signature: Annotated[SignatureIn, SignedAs(SignedAction.RELEASE_LOT)]


class LotRejectionIn(Body):
    """QA's rejection of a lot, with a reason and an e-signature meaning 'rejected'."""

    reason: StrictStr = Field(min_length=1, max_length=2000)
    signature: Annotated[SignatureIn, SignedAs(SignedAction.REJECT_LOT)]


class PlanIn(Body):
    """An SkSP-2 plan: clearance number i, sampling fraction f, the identity tests of the spec."""

    specification: StrictStr = code()
    identity_tests: list[StrictStr] = Field(min_length=1, max_length=50)
    clearance: int = Field(ge=1, le=1000)
    fraction: Decimal = Field(gt=0, lt=1, max_digits=7, decimal_places=6)
    reason: StrictStr = Field(min_length=1, max_length=2000)


async def _run(request: Request, command: Command) -> Any:
    return await run_in_threadpool(hub_of(request).bus.handle, command)


def _lot(request: Request, site: str, lot: str) -> LotView:
    """The lot as people read it: site-local times and printed names beside UTC and ids."""
    with hub_of(request).sessions() as session:
        return LotView.model_validate(
            readable(session, site, views.lot_view(session, site, lot), LOT_PEOPLE)
        )


# The refusals of the rules each operation reaches (handlers raw_materials, supplier_coa,
# skip_lot_plans).
SIGNATURE_401 = ("signature.bad_credentials", "auth.locked")
DECISION = ("lot.unknown", "sample.unknown")
REASON = ("input.reason_required", "input.reason_too_short")
BLOCKERS = get_args(BlockerReason)


@router.post(
    "/lots",
    status_code=201,
    summary="Receive a raw-material lot into quarantine",
    openapi_extra=refuses({409: ("skip_lot_plan.unknown", "spec.none_in_force")}),
)
async def receive_lot(
    request: Request, site: str, body: LotIn, _: Account = allowed(Permission.REGISTER_SAMPLE)
) -> LotView:
    """Identity tests always; the full panel as the material's skip-lot plan decides."""
    command = ReceiveLot(await request_context(request), site, **body.model_dump())
    return _lot(request, site, await _run(request, command))


@router.get(
    "/lots",
    summary="Received lots, newest first",
    openapi_extra=refuses({422: ("page.cursor_invalid",)}),
)
def list_lots(
    request: Request,
    site: str,
    material: str | None = None,
    status: LotStatus | None = None,
    cursor: Cursor = None,
    limit: PageLimit = 50,
    _: Account = allowed(Permission.READ),
) -> Page[LotItem]:
    """Optionally of one material and one status, one page at a time."""
    after = decode_cursor("lots", cursor)
    with hub_of(request).sessions() as session:
        found = views.lots_page(session, site, material, status, after, limit)
    return page_of(request, "lots", found, LotItem, limit)


@router.get(
    "/lots/{lot}",
    summary="A lot: its decision, tests, blockers and supplier CoA",
    openapi_extra=refuses({404: ("lot.unknown", "sample.unknown")}),
)
def get_lot(
    request: Request, site: str, lot: str, _: Account = allowed(Permission.READ)
) -> LotView:
    """What the lot waits for, and the supplier's values beside labgate's."""
    return _lot(request, site, lot)


@router.post(
    "/lots/{lot}/supplier-coa",
    summary="Import the supplier's CoA values for a lot",
    openapi_extra=refuses(
        {
            404: (
                "lot.unknown",
                "sample.unknown",
                "specification.unknown",
                "spec.no_limit_for_test",
                "test.unknown",
                "method_version.unknown",
            )
        }
    ),
)
async def import_supplier_coa(
    request: Request,
    site: str,
    lot: str,
    body: SupplierCoaIn,
    _: Account = allowed(Permission.ENTER_RESULT),
) -> LotView:
    """Each value judged against labgate's limit; one outside it is flagged, not a rejection."""
    values = tuple(SupplierValue(v.test_code, v.value, v.unit) for v in body.tests)
    await _run(request, ImportSupplierCoa(await request_context(request), site, lot, values))
    return _lot(request, site, lot)


@router.post(
    "/lots/{lot}/release",
    summary="QA: release a lot, e-signature 'released'",
    openapi_extra=refuses(
        {
            401: SIGNATURE_401,
            404: DECISION,
            409: ("lot.already_decided", *BLOCKERS),
            422: ("signature.wrong_meaning", *REASON),
        }
    ),
)
async def release_lot(
    request: Request,
    site: str,
    lot: str,
    body: LotReleaseIn,
    _: Account = allowed(Permission.RELEASE_BATCH),
) -> LotView:
    """Refused, with every reason, until each required test is Accepted and no hold is open."""
    ctx, signature = await request_context(request), body.signature.to_input()
    await _run(request, DecideLot(ctx, site, lot, True, body.reason, signature))
    return _lot(request, site, lot)


@router.post(
    "/lots/{lot}/rejection",
    summary="QA: reject a lot, e-signature 'rejected'",
    openapi_extra=refuses(
        {
            401: SIGNATURE_401,
            404: DECISION,
            409: ("lot.already_decided",),
            422: ("signature.wrong_meaning", *REASON),
        }
    ),
)
async def reject_lot(
    request: Request,
    site: str,
    lot: str,
    body: LotRejectionIn,
    _: Account = allowed(Permission.RELEASE_BATCH),
) -> LotView:
    """The material returns to normal inspection from this supplier."""
    ctx, signature = await request_context(request), body.signature.to_input()
    await _run(request, DecideLot(ctx, site, lot, False, body.reason, signature))
    return _lot(request, site, lot)


@router.put(
    "/skip-lot-plans/{material}/{supplier}",
    summary="QA: configure a skip-lot plan",
    openapi_extra=refuses(
        {
            404: ("material.unknown",),
            422: (
                *REASON,
                "specification.unknown",
                "skip_lot.clearance_invalid",
                "skip_lot.fraction_invalid",
                "skip_lot.identity_missing",
                "skip_lot.identity_not_in_spec",
            ),
        }
    ),
)
async def configure_plan(
    request: Request,
    site: str,
    material: str,
    supplier: str,
    body: PlanIn,
    _: Account = allowed(Permission.APPROVE_SPEC),
) -> SkipLotPlanView:
    """Under change control (a reason, audited); the running state is kept."""
    command = ConfigureSkipLotPlan(
        await request_context(request),
        site,
        material,
        supplier,
        body.specification,
        tuple(body.identity_tests),
        body.clearance,
        body.fraction,
        body.reason,
    )
    await _run(request, command)
    return _plan(request, site, material, supplier)


@router.get(
    "/skip-lot-plans/{material}/{supplier}",
    summary="A skip-lot plan and its lots",
    openapi_extra=refuses({404: ("skip_lot_plan.unknown",)}),
)
def get_plan(
    request: Request, site: str, material: str, supplier: str, _: Account = allowed(Permission.READ)
) -> SkipLotPlanView:
    """Parameters, running state, and every lot it decided with state, draw and panel."""
    return _plan(request, site, material, supplier)


def _plan(request: Request, site: str, material: str, supplier: str) -> SkipLotPlanView:
    with hub_of(request).sessions() as session:
        return SkipLotPlanView.model_validate(views.plan_view(session, site, material, supplier))
