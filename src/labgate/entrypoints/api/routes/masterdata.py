"""Master data: import and export, and the specification lifecycle."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store import views
from labgate.compliance.access import Account, Permission
from labgate.compliance.canonical import to_jsonable
from labgate.domain import commands as c
from labgate.entrypoints.api.answers.masterdata import (
    ImportCounts,
    MasterDataDocument,
    SpecLifecycleChanged,
    SpecVersionView,
)
from labgate.entrypoints.api.auth import hub_of
from labgate.entrypoints.api.contract import refuses
from labgate.entrypoints.api.problems import request_context
from labgate.entrypoints.api.routes.lab import allowed
from labgate.entrypoints.api.schemas import EffectiveIn, MasterDataIn, SpecApprovalIn, VersionNumber
from labgate.entrypoints.api.scope import SiteScope
from labgate.service.handlers.masterdata import export_masterdata

router = APIRouter(prefix="/api/v1", tags=["master data"])

# A document is validated whole before anything is written: the first fault is named by its
# path in the document (`specifications[0].versions[1].limits[2].limit`) and its rule.
IMPORT_REFUSALS = {
    404: ("procedure.unknown_operation", "procedure.unknown_phase"),
    # What is in force or signed stays as it is: changed only by a new version.
    409: (
        "mapping.cross_posting",  # one result would post to two characteristics
        "masterdata.change_request_required",  # a stored unit, method, test, mapping or alias
        "masterdata.method_version_locked",
        "sampling_plan.no_release_set",
        "sampling_plan.none_for_point",
        "sampling_plan.removed",
        "spec.limit_removed",
        "spec.version_locked",
    ),
    422: (
        "gate.unknown",
        "limit.band_not_numeric",
        "limit.invalid",
        "limit.range_inverted",
        "masterdata.bad_enum",
        "masterdata.bad_time_zone",
        "masterdata.bad_type",
        "masterdata.duplicate",
        "masterdata.required",
        "masterdata.unknown_field",
        "masterdata.unknown_reference",
        "masterdata.unknown_section",
        "number.malformed",
        "procedure.bad_hierarchy",
        "procedure.bad_root",
        "procedure.unknown_phase",
        "rounding.absolute_does_not_round",
        "rounding.places_invalid",
        "rounding.sig_figs_invalid",
        "rounding.sig_figs_with_absolute",
        "sampling_plan.duplicate_point",
        "sampling_plan.duplicate_test",
        "sampling_plan.no_tests",
        "sampling_plan.test_without_limit",
        "spec.author_not_account",
        "unit.unconvertible",
        "unit.unknown",
    ),
}
SIGNATURE_REFUSALS = {
    401: ("auth.locked", "signature.bad_credentials"),
    422: ("signature.wrong_meaning",),
}
VERSION_UNKNOWN = "spec_version.unknown"
LIFECYCLE = "specification_version.invalid_transition"


@router.post(
    "/masterdata/import",
    summary="Load a master-data document",
    openapi_extra=refuses(IMPORT_REFUSALS),
)
async def import_masterdata(
    request: Request, body: MasterDataIn, _: Account = allowed(Permission.MANAGE_MASTERDATA)
) -> ImportCounts:
    """Validated whole before anything is written; counts per section."""
    command = c.ImportMasterData(await request_context(request), body.document, body.reason)
    summary = await run_in_threadpool(hub_of(request).bus.handle, command)
    return ImportCounts.model_validate(to_jsonable(summary))


@router.get(
    "/sites/{site}/masterdata", summary="Export a site's master data", dependencies=[SiteScope]
)
def export(
    request: Request, site: str, _: Account = allowed(Permission.READ)
) -> MasterDataDocument:
    """The same document format the import reads."""
    return MasterDataDocument.model_validate(export_masterdata(hub_of(request).uow_factory(), site))


@router.post(
    "/sites/{site}/specifications/{specification}/versions/{version}/approval",
    summary="QA: approve a specification version with e-signature",
    dependencies=[SiteScope],
    openapi_extra=refuses(
        {
            **SIGNATURE_REFUSALS,
            403: ("spec.approver_is_author",),
            404: (VERSION_UNKNOWN,),
            409: (LIFECYCLE,),
        }
    ),
)
async def approve_spec(
    request: Request,
    site: str,
    specification: str,
    version: VersionNumber,
    body: SpecApprovalIn,
    _: Account = allowed(Permission.APPROVE_SPEC),
) -> SpecLifecycleChanged:
    """The approver is never the author."""
    command = c.ApproveSpecVersion(
        await request_context(request), site, specification, version, body.signature.to_input()
    )
    reference = await run_in_threadpool(hub_of(request).bus.handle, command)
    return SpecLifecycleChanged(specification=reference, status="approved")


@router.post(
    "/sites/{site}/specifications/{specification}/versions/{version}/effective",
    summary="QA: put an approved specification version in force",
    dependencies=[SiteScope],
    openapi_extra=refuses({404: (VERSION_UNKNOWN,), 409: (LIFECYCLE,)}),
)
async def make_effective(
    request: Request,
    site: str,
    specification: str,
    version: VersionNumber,
    body: EffectiveIn,
    _: Account = allowed(Permission.APPROVE_SPEC),
) -> SpecLifecycleChanged:
    """Samples taken from `effective_from` on bind to this version."""
    command = c.MakeSpecVersionEffective(
        await request_context(request),
        site,
        specification,
        version,
        body.effective_from,
        body.reason,
    )
    reference = await run_in_threadpool(hub_of(request).bus.handle, command)
    return SpecLifecycleChanged(specification=reference, status="effective")


@router.get(
    "/sites/{site}/specifications/{specification}/versions/{version}",
    summary="A specification version with its limits and signatures",
    dependencies=[SiteScope],
    openapi_extra=refuses({404: ("spec.unknown",)}),
)
def get_spec_version(
    request: Request, site: str, specification: str, version: VersionNumber,
    _: Account = allowed(Permission.READ),
) -> SpecVersionView:  # fmt: skip
    """Lifecycle, limits, and each signature with printed name, UTC time, meaning and status."""
    with hub_of(request).sessions() as session:
        return SpecVersionView.model_validate(
            views.spec_version_view(session, site, specification, version)
        )
