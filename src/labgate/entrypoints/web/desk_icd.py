"""The Interface Control Document on the desk: its versions (the one in force, drafts,
superseded), one version read in the page (the HTML rendering, the same bytes as the API's and
the PDF's source) with what changed since the version before, generating the next draft from
the configuration in force, and QA's approval with an e-signature — each through the bus
command the API sends."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from labgate.adapters.reports.icd import FORMATS, MEDIA, icd_document
from labgate.compliance.access import Permission
from labgate.compliance.signatures import Meaning
from labgate.domain.commands import ApproveIcd, GenerateIcd, SignatureInput
from labgate.domain.errors import LabgateError
from labgate.entrypoints.api.http_errors import http_status
from labgate.entrypoints.api.routes.icd import one, stored
from labgate.entrypoints.api.routes.icd_config import current_icd
from labgate.entrypoints.web.access import Visitor, allowed, context, hub_of, posted_form
from labgate.entrypoints.web.desk_common import desk_frame, desk_url
from labgate.entrypoints.web.refusals import audit
from labgate.entrypoints.web.render import page
from labgate.service.icd.changes import icd_changes

router = APIRouter()
Reading = Annotated[Visitor, Depends(allowed(Permission.READ))]
Generating = Annotated[Visitor, Depends(allowed(Permission.MANAGE_MASTERDATA))]
Approving = Annotated[Visitor, Depends(allowed(Permission.APPROVE_SPEC))]


def icd_values(request: Request, who: Visitor, site: str, version: int | None) -> dict[str, Any]:
    """The versions, the one shown (default: in force, else the newest), its changes since the
    version before it, and its rendering."""
    with hub_of(request).sessions() as session:
        versions = [_with_moments(v) for v in stored(session, site)]
    values = desk_frame(request, who, site, "icd", [v["generated_by"] for v in versions]
                        + [v["approved_by"] for v in versions])  # fmt: skip
    in_force = next((v for v in versions if v["status"] == "approved"), None)
    shown = None
    if versions:
        wanted = version or (in_force or versions[0])["version"]
        shown = next((v for v in versions if v["version"] == wanted), None)
    changes: list[str] | None = None
    if shown is not None:
        earlier = [v for v in versions if v["version"] < shown["version"]]
        if earlier:
            changes = icd_changes(earlier[0]["content"], shown["content"])
    values |= {
        "versions": versions,
        "in_force": in_force,
        "shown": shown,
        "changes": changes,
        # labgate's own rendering of the version (its template escapes every value): `safe`.
        "document": _body(icd_document(shown, "html")) if shown else None,
        "may_generate": who.may(Permission.MANAGE_MASTERDATA),
        "may_approve": who.may(Permission.APPROVE_SPEC),
        "icd_base": f"{desk_url(request, site)}/icd",
    }
    return values


def _with_moments(version: dict[str, Any]) -> dict[str, Any]:
    """The version with its times as moments, as the console shows every time."""
    return version | {
        "generated_on": datetime.fromisoformat(version["generated_at"]),
        "approved_on": datetime.fromisoformat(version["approved_at"])
        if version["approved_at"] else None,
    }  # fmt: skip


def _body(html: bytes) -> str:
    """The rendering's body, to sit inside the console's page (its own styles are for print)."""
    text = html.decode()
    start, end = text.find("<body>"), text.rfind("</body>")
    return text[start + len("<body>") : end] if start >= 0 and end > start else text


@router.get("/sites/{site}/desk/icd", name="desk_icd")
def desk_icd(request: Request, site: str, who: Reading, version: int | None = None) -> Response:
    """The versions and one version's document."""
    return page(request, "desk_icd.html", icd_values(request, who, site, version))


@router.get("/sites/{site}/desk/icd/{version}/document", name="desk_icd_document")
def document(
    request: Request, site: str, version: int, who: Reading, format: str = "pdf"
) -> Response:
    """The version as PDF, JSON or HTML: the API's bytes, for a signed-in person."""
    if format not in FORMATS:
        format = "pdf"
    with hub_of(request).sessions() as session:
        found = one(session, site, version)
    headers = {"X-ICD-SHA256": found["sha256"]}
    if format == "pdf":
        headers["Content-Disposition"] = f'inline; filename="icd-{site}-v{version}.pdf"'
    return Response(icd_document(found, format), media_type=MEDIA[format], headers=headers)


@router.post("/sites/{site}/desk/icd", name="desk_icd_generate")
async def generate(request: Request, site: str, who: Generating) -> Response:
    """The next draft from the configuration in force (or the newest version, unchanged)."""
    await posted_form(request, who)
    hub = hub_of(request)

    def build() -> dict[str, Any]:
        with hub.sessions() as session:
            return current_icd(session, hub.settings, site, hub.bus.deps.clock.now())

    try:
        content = await run_in_threadpool(build)
        made = await run_in_threadpool(
            hub.bus.handle, GenerateIcd(context(request, who.account.username), site, content)
        )
    except LabgateError as error:
        return await _refused(request, who, site, None, error)
    return RedirectResponse(f"{desk_url(request, site)}/icd?version={made}", status_code=303)


@router.post("/sites/{site}/desk/icd/{version}/approval", name="desk_icd_approve")
async def approve(request: Request, site: str, version: int, who: Approving) -> Response:
    """QA's approval with an e-signature (meaning approved) over the SHA-256 the page showed."""
    form = await posted_form(request, who)
    signature = SignatureInput(
        form.get("username", ""), form.get("password", ""), Meaning.APPROVED.value
    )
    command = ApproveIcd(context(request, who.account.username), site, version, signature,
                         form.get("sha256") or None)  # fmt: skip
    try:
        await run_in_threadpool(hub_of(request).bus.handle, command)
    except LabgateError as error:
        return await _refused(request, who, site, version, error)
    return RedirectResponse(
        f"{desk_url(request, site)}/icd?version={version}&done=approved", status_code=303
    )


async def _refused(
    request: Request, who: Visitor, site: str, version: int | None, error: LabgateError
) -> Response:
    await audit(request, error)
    values = await run_in_threadpool(icd_values, request, who, site, version)
    values["refused"] = error
    return page(request, "desk_icd.html", values, status=http_status(error))
