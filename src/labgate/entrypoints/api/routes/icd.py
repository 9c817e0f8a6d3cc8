"""The Interface Control Document of a site: generated from the configuration in force,
versioned, approved by QA with an e-signature, rendered as JSON, HTML and PDF, compared
version with version."""

from __future__ import annotations

import base64
import hashlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from labgate.adapters.reports.icd import MEDIA, icd_document
from labgate.adapters.store import tables as t
from labgate.compliance.access import Account, Permission
from labgate.compliance.canonical import to_jsonable
from labgate.compliance.signed_actions import SignedAction
from labgate.domain import commands as c
from labgate.domain.errors import NotFound
from labgate.entrypoints.api.answers.icd import (
    IcdChanges,
    IcdGenerated,
    IcdVersions,
    IcdVersionSummary,
)
from labgate.entrypoints.api.auth import hub_of
from labgate.entrypoints.api.contract import document_responses, refuses
from labgate.entrypoints.api.problems import request_context
from labgate.entrypoints.api.routes.icd_config import current_icd
from labgate.entrypoints.api.routes.lab import allowed
from labgate.entrypoints.api.routes.masterdata import SIGNATURE_REFUSALS
from labgate.entrypoints.api.schemas import Body, SignatureIn, SignedAs, VersionNumber
from labgate.entrypoints.api.scope import SiteScope
from labgate.service.icd.changes import icd_changes

router = APIRouter(prefix="/api/v1", tags=["interfaces"])
UNKNOWN = "icd.unknown"
SUMMARY = ("version", "status", "sha256", "generated_at", "generated_by", "approved_by",
           "approved_at")  # fmt: skip
Version = Annotated[int, Query(ge=1, le=2**31 - 1, description="A version's number.")]


class IcdApprovalIn(Body):
    """QA's approval of an ICD version: the e-signature, meaning 'approved', and the SHA-256
    the approver read (it must still be the version's)."""

    signature: Annotated[SignatureIn, SignedAs(SignedAction.APPROVE_ICD)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None


def stored(session: Any, site: str, version: int | None = None) -> list[dict[str, Any]]:
    """A site's versions, newest first (one, when `version` is named)."""
    v = t.icd_versions.c
    query = select(t.icd_versions).where(v.site == site).order_by(v.version.desc())
    if version is not None:
        query = query.where(v.version == version)
    return [to_jsonable(dict(row._mapping)) for row in session.execute(query)]


def one(session: Any, site: str, version: int) -> dict[str, Any]:
    """One version, or 404 icd.unknown naming it."""
    found = stored(session, site, version)
    if not found:
        raise NotFound(f"{site} has no ICD version {version}.", reason=UNKNOWN, field="version")
    return found[0]


@router.get("/sites/{site}/icd", summary="The ICD's versions", dependencies=[SiteScope])
def list_versions(
    request: Request, site: str, _: Account = allowed(Permission.READ)
) -> IcdVersions:
    """Newest first; `in_force` is the version approved last."""
    with hub_of(request).sessions() as session:
        rows = stored(session, site)
    in_force = next((r["version"] for r in rows if r["status"] == "approved"), None)
    versions = [IcdVersionSummary.model_validate({k: r[k] for k in SUMMARY}) for r in rows]
    return IcdVersions(in_force=in_force, versions=versions)


@router.post(
    "/sites/{site}/icd",
    summary="Generate the ICD from the configuration in force",
    dependencies=[SiteScope],
)
async def generate(
    request: Request, site: str, _: Account = allowed(Permission.MANAGE_MASTERDATA)
) -> IcdGenerated:
    """A new draft version when the configuration says something the newest version does not;
    otherwise the newest version (`new: false`)."""
    hub = hub_of(request)

    def build() -> dict[str, Any]:
        with hub.sessions() as session:
            return current_icd(session, hub.settings, site, hub.bus.deps.clock.now())

    content = await run_in_threadpool(build)
    context = await request_context(request)
    with hub.sessions() as session:
        before = {r["version"] for r in stored(session, site)}
    number = await run_in_threadpool(hub.bus.handle, c.GenerateIcd(context, site, content))
    with hub.sessions() as session:
        made = one(session, site, number)
    return IcdGenerated(version=number, sha256=made["sha256"], status=made["status"],
                        new=number not in before)  # fmt: skip


@router.get(
    "/sites/{site}/icd/changes",
    summary="What changed from one ICD version to another, in words",
    dependencies=[SiteScope],
    openapi_extra=refuses({404: (UNKNOWN,)}),
)
def changes(
    request: Request,
    site: str,
    from_version: Annotated[Version | None, Query(alias="from")] = None,
    to_version: Annotated[Version | None, Query(alias="to")] = None,
    _: Account = allowed(Permission.READ),
) -> IcdChanges:
    """Per section: each item added, removed, or changed (which field, from what to what).
    `to` defaults to the newest version, `from` to the one before `to`."""
    with hub_of(request).sessions() as session:
        newest = next(iter(stored(session, site)), None)
        if newest is None:
            raise NotFound(f"{site} has no ICD yet.", reason=UNKNOWN, field="to")
        to_version = to_version or int(newest["version"])
        from_version = from_version or max(to_version - 1, 1)
        old, new = one(session, site, from_version), one(session, site, to_version)
    said = icd_changes(old["content"], new["content"])
    return IcdChanges(from_version=from_version, to_version=to_version, changes=said)


@router.get(
    "/sites/{site}/icd/{version}",
    summary="One ICD version: JSON, HTML or PDF",
    dependencies=[SiteScope],
    response_class=Response,
    responses=document_responses(
        "The document: its content as canonical JSON (default; its SHA-256 is the version's), "
        "HTML or PDF, all from the same content."
    ),
    openapi_extra=refuses({404: (UNKNOWN,)}),
)
def get_version(
    request: Request,
    site: str,
    version: VersionNumber,
    format: Annotated[Literal["json", "html", "pdf"], Query()] = "json",
    _: Account = allowed(Permission.READ),
) -> Response:
    """The same version gives the same bytes in each format."""
    with hub_of(request).sessions() as session:
        found = one(session, site, version)
    document = icd_document(found, format)
    digest = base64.b64encode(hashlib.sha256(document).digest()).decode()
    headers = {"Repr-Digest": f"sha-256=:{digest}:", "X-ICD-SHA256": found["sha256"]}
    if format == "pdf":
        headers["Content-Disposition"] = f'inline; filename="icd-{site}-v{version}.pdf"'
    return Response(document, media_type=MEDIA[format], headers=headers)


@router.post(
    "/sites/{site}/icd/{version}/approval",
    summary="QA: approve an ICD version with e-signature",
    dependencies=[SiteScope],
    openapi_extra=refuses(
        {
            **SIGNATURE_REFUSALS,
            403: ("icd.approver_is_generator",),
            404: (UNKNOWN,),
            409: ("icd.invalid_transition", "icd.changed_since_shown"),
        }
    ),
)
async def approve(
    request: Request,
    site: str,
    version: VersionNumber,
    body: IcdApprovalIn,
    _: Account = allowed(Permission.APPROVE_SPEC),
) -> IcdVersionSummary:
    """Never by whoever had it generated; the version approved before is superseded."""
    command = c.ApproveIcd(await request_context(request), site, version,
                           body.signature.to_input(), body.sha256)  # fmt: skip
    await run_in_threadpool(hub_of(request).bus.handle, command)
    with hub_of(request).sessions() as session:
        found = one(session, site, version)
    return IcdVersionSummary.model_validate({k: found[k] for k in SUMMARY})
