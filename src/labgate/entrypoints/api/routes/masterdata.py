"""Master data: import and export, and the specification lifecycle."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store import views
from labgate.compliance.access import Account, Permission
from labgate.compliance.canonical import to_jsonable
from labgate.domain import commands as c
from labgate.entrypoints.api.auth import hub_of
from labgate.entrypoints.api.problems import request_context
from labgate.entrypoints.api.routes.lab import allowed
from labgate.entrypoints.api.schemas import EffectiveIn, MasterDataIn, SpecApprovalIn, VersionNumber
from labgate.entrypoints.api.scope import SiteScope
from labgate.service.handlers.masterdata import export_masterdata

router = APIRouter(prefix="/api/v1", tags=["master data"])


@router.post("/masterdata/import", summary="Load a master-data document")
async def import_masterdata(
    request: Request, body: MasterDataIn, _: Account = allowed(Permission.MANAGE_MASTERDATA)
) -> dict[str, Any]:
    """Validated whole before anything is written; counts per section."""
    command = c.ImportMasterData(await request_context(request), body.document, body.reason)
    summary = await run_in_threadpool(hub_of(request).bus.handle, command)
    counts: dict[str, Any] = to_jsonable(summary)
    return counts


@router.get(
    "/sites/{site}/masterdata", summary="Export a site's master data", dependencies=[SiteScope]
)
def export(request: Request, site: str, _: Account = allowed(Permission.READ)) -> dict[str, Any]:
    """The same document format the import reads."""
    return export_masterdata(hub_of(request).uow_factory(), site)


@router.post(
    "/sites/{site}/specifications/{specification}/versions/{version}/approval",
    summary="QA: approve a specification version with e-signature",
    dependencies=[SiteScope],
)
async def approve_spec(
    request: Request,
    site: str,
    specification: str,
    version: VersionNumber,
    body: SpecApprovalIn,
    _: Account = allowed(Permission.APPROVE_SPEC),
) -> dict[str, Any]:
    """The approver is never the author."""
    command = c.ApproveSpecVersion(
        await request_context(request), site, specification, version, body.signature.to_input()
    )
    return {
        "specification": await run_in_threadpool(hub_of(request).bus.handle, command),
        "status": "approved",
    }


@router.post(
    "/sites/{site}/specifications/{specification}/versions/{version}/effective",
    summary="QA: put an approved specification version in force",
    dependencies=[SiteScope],
)
async def make_effective(
    request: Request,
    site: str,
    specification: str,
    version: VersionNumber,
    body: EffectiveIn,
    _: Account = allowed(Permission.APPROVE_SPEC),
) -> dict[str, Any]:
    """Samples taken from `effective_from` on bind to this version."""
    command = c.MakeSpecVersionEffective(
        await request_context(request),
        site,
        specification,
        version,
        body.effective_from,
        body.reason,
    )
    return {
        "specification": await run_in_threadpool(hub_of(request).bus.handle, command),
        "status": "effective",
    }


@router.get(
    "/sites/{site}/specifications/{specification}/versions/{version}",
    summary="A specification version with its limits and signatures",
    dependencies=[SiteScope],
)
def get_spec_version(
    request: Request, site: str, specification: str, version: VersionNumber,
    _: Account = allowed(Permission.READ),
) -> dict[str, Any]:  # fmt: skip
    """Lifecycle, limits, and each signature with printed name, UTC time, meaning and status."""
    with hub_of(request).sessions() as session:
        return views.spec_version_view(session, site, specification, version)
