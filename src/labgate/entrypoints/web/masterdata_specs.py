"""A specification version as GET .../specifications/{spec}/versions/{version} gives it (the same
view), with the units and rounding of its tests; two versions compared; and its lifecycle
actions through the API's own bus commands: approval with an e-signature (never by its author:
the handler's rule; refused if the version changed after the page showed it), and putting it
in force from a date with a reason."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store import tables as t
from labgate.adapters.store import views
from labgate.adapters.store.document_facts import PERSON_KEYS, readable, site_zone
from labgate.compliance.access import Permission
from labgate.compliance.canonical import content_hash
from labgate.compliance.signatures import Meaning
from labgate.domain.commands import ApproveSpecVersion, MakeSpecVersionEffective, SignatureInput
from labgate.domain.errors import InvalidInput, LabgateError
from labgate.domain.lifecycle import SpecStatus
from labgate.domain.local_time import shown_at
from labgate.domain.masterdata import SpecVersion
from labgate.entrypoints.api.http_errors import http_status
from labgate.entrypoints.web import masterdata_compare as diff
from labgate.entrypoints.web.access import Visitor, allowed, context, hub_of, posted_form
from labgate.entrypoints.web.layout import SiteView, frame, site_view
from labgate.entrypoints.web.masterdata_tables import section_links
from labgate.entrypoints.web.refusals import audit
from labgate.entrypoints.web.render import page, prefix
from labgate.service.handlers.masterdata import spec_content

router = APIRouter()
Reading = Annotated[Visitor, Depends(allowed(Permission.READ))]
Approving = Annotated[Visitor, Depends(allowed(Permission.APPROVE_SPEC))]
SPEC_PEOPLE = PERSON_KEYS | {"author", "approver"}
sv, td, mv = t.spec_versions.c, t.test_definitions.c, t.method_versions.c


def version_view(session: Session, site: str, spec: str, version: int) -> dict[str, Any]:
    """The API's view of the version, with site times and printed names beside its values."""
    found: dict[str, Any] = readable(
        session, site, views.spec_version_view(session, site, spec, version), SPEC_PEOPLE
    )
    # `effective_from` is a time too, though not named `_at`.
    found["effective_from_local"] = shown_at(found["effective_from"], site_zone(session, site))
    return found


def test_facts(session: Session, site: str, codes: set[str]) -> dict[str, dict[str, Any]]:
    """Per test code: name, unit, and the rounding of its current method version."""
    tests = session.execute(
        select(td.code, td.name, td.unit, td.method, td.current_method_version, td.value_kind)
        .where(td.site == site, td.code.in_(codes))
    ).mappings()  # fmt: skip
    facts = {row["code"]: dict(row) for row in tests}
    keys = {(f["method"], f["current_method_version"]) for f in facts.values()}
    rounding = {
        (row["method"], row["version"]): dict(row)
        for row in session.execute(
            select(mv.method, mv.version, mv.rounding_rule, mv.sig_figs).where(
                mv.site == site, tuple_(mv.method, mv.version).in_(keys)
            )
        ).mappings()
    } if keys else {}  # fmt: skip
    for fact in facts.values():
        method = rounding.get((fact["method"], fact["current_method_version"]), {})
        fact["rounding_rule"] = method.get("rounding_rule")
        fact["sig_figs"] = method.get("sig_figs")
    return facts


def version_numbers(session: Session, site: str, spec: str) -> list[int]:
    """The versions of one specification, oldest first (the comparison's choices)."""
    query = select(sv.version).where(sv.site == site, sv.specification == spec)
    return [int(v) for v in session.scalars(query.order_by(sv.version))]


def _spec_base(request: Request, site: str, spec: str) -> str:
    return f"{prefix(request)}/sites/{site}/masterdata/specifications/{spec}"


def version_values(
    request: Request, who: Visitor, site: str, spec: str, version: int
) -> dict[str, Any]:
    """Everything the version page shows, read in one session."""
    shown = site_view(request, site)
    with hub_of(request).sessions() as session:
        view = version_view(session, site, spec, version)
        facts = test_facts(session, site, {line["test_code"] for line in view["limits"]})
        numbers = version_numbers(session, site, spec)
        stored = session.scalars(
            select(SpecVersion).filter_by(site=site, specification=spec, version=version)
        ).one()
        shown_hash = content_hash(spec_content(stored))
    status = SpecStatus(view["status"])
    return {
        **frame(request, who, shown, "masterdata"),
        **section_links(request, who, site, "specifications"),
        "spec": view,
        "facts": facts,
        "numbers": numbers,
        "spec_base": _spec_base(request, site, spec),
        "content_hash": shown_hash,
        "here": f"{_spec_base(request, site, spec)}/versions/{version}",
        "may_approve": status is SpecStatus.DRAFT and who.may(Permission.APPROVE_SPEC),
        "is_author": who.account.username == view["author"],
        "may_make_effective": status is SpecStatus.APPROVED and who.may(Permission.APPROVE_SPEC),
        "refused": None,
        "done": None,
    }


@router.get(
    "/sites/{site}/masterdata/specifications/{spec}/versions/{version}", name="spec_version"
)
def spec_version(
    request: Request,
    site: str,
    spec: str,
    version: int,
    who: Reading,
    done: Literal["approved", "effective"] | None = None,
) -> Response:
    """One version: lifecycle, limits with units, rounding and bands, plans, signatures."""
    values = version_values(request, who, site, spec, version)
    values["done"] = done
    return page(request, "spec_version.html", values)


@router.get("/sites/{site}/masterdata/specifications/{spec}/compare", name="spec_compare")
def spec_compare(
    request: Request,
    site: str,
    spec: str,
    who: Reading,
    left: Annotated[int | None, Query(ge=1)] = None,
    right: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """Two versions side by side; by default the latest and the one before it."""
    shown = site_view(request, site)
    with hub_of(request).sessions() as session:
        numbers = version_numbers(session, site, spec)
        right = right or (numbers[-1] if numbers else 1)
        left = left or max([n for n in numbers if n < right], default=right)
        before = version_view(session, site, spec, left)
        after = version_view(session, site, spec, right)
        codes = {line["test_code"] for line in [*before["limits"], *after["limits"]]}
        facts = test_facts(session, site, codes)
    lines = diff.limit_lines(before["limits"], after["limits"])
    plans = diff.sampling_plans(before["plans"], after["plans"])
    values = {
        **frame(request, who, shown, "masterdata"),
        **section_links(request, who, site, "specifications"),
        "code": spec,
        "left": before,
        "right": after,
        "numbers": numbers,
        "lines": lines,
        "plans": plans,
        "tally": diff.counts([*lines, *plans]),
        "facts": facts,
        "spec_base": _spec_base(request, site, spec),
    }
    return page(request, "spec_compare.html", values)


async def _act(
    request: Request, who: Visitor, site: str, spec: str, version: int,
    command: ApproveSpecVersion | MakeSpecVersionEffective, done: str,
) -> Response:  # fmt: skip
    """Run the command; its refusal shown on the version page (audited), or post/redirect/get."""
    try:
        await run_in_threadpool(hub_of(request).bus.handle, command)
    except LabgateError as error:
        return await _refused(request, who, site, spec, version, error)
    here = f"{_spec_base(request, site, spec)}/versions/{version}?done={done}"
    return RedirectResponse(here, status_code=303)


async def _refused(
    request: Request, who: Visitor, site: str, spec: str, version: int, error: LabgateError
) -> Response:
    await audit(request, error)
    values = await run_in_threadpool(version_values, request, who, site, spec, version)
    values["refused"] = error
    return page(request, "spec_version.html", values, status=http_status(error))


@router.post(
    "/sites/{site}/masterdata/specifications/{spec}/versions/{version}/approval",
    name="spec_approve",
)
async def approve(request: Request, site: str, spec: str, version: int, who: Approving) -> Response:
    """Approve with an e-signature whose meaning is fixed: approved."""
    form = await posted_form(request, who)
    signature = SignatureInput(
        form.get("username", ""), form.get("password", ""), Meaning.APPROVED.value
    )
    command = ApproveSpecVersion(context(request, who.account.username), site, spec, version,
                                 signature, form.get("seen_content") or None)  # fmt: skip
    return await _act(request, who, site, spec, version, command, "approved")


def local_moment(text: str, zone: str) -> datetime:
    """A `datetime-local` field's value, read in the site's zone."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"Effective from: {text!r} is not a date and time (YYYY-MM-DDTHH:MM, site time).",
            reason="input.datetime_invalid",
            field="effective_from",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment


@router.post(
    "/sites/{site}/masterdata/specifications/{spec}/versions/{version}/effective",
    name="spec_make_effective",
)
async def make_effective(
    request: Request, site: str, spec: str, version: int, who: Approving
) -> Response:
    """Put an approved version in force from a date (site time) with a change reason."""
    form = await posted_form(request, who)
    shown: SiteView = site_view(request, site)
    try:
        start = local_moment(form.get("effective_from", ""), shown.zone)
    except InvalidInput as error:
        return await _refused(request, who, site, spec, version, error)
    command = MakeSpecVersionEffective(context(request, who.account.username), site, spec,
                                       version, start, form.get("reason", ""))  # fmt: skip
    return await _act(request, who, site, spec, version, command, "effective")
