"""Periodic audit-trail reviews in the console: the list with the overdue months and a form to
compute one, a review's page (its categories, the spot check with its marks, the sign-off form),
and its printed report. Each form sends the command the API's route sends; the rules (a period
ended, every sample marked, a person's e-signature over the content the trail still gives) are
the handler's."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from labgate.adapters.reports.audit_review_report import review_document
from labgate.adapters.store.audit_review_view import overdue_periods, review_items, review_record
from labgate.compliance.access import Permission
from labgate.domain.commands import Command, SignatureInput
from labgate.domain.errors import InvalidInput, LabgateError
from labgate.domain.review_commands import CreateAuditReview, MarkSpotCheck, SignOffAuditReview
from labgate.entrypoints.api.http_errors import http_status
from labgate.entrypoints.web.access import Visitor, allowed, context, hub_of, posted_form
from labgate.entrypoints.web.layout import frame, site_view
from labgate.entrypoints.web.refusals import audit
from labgate.entrypoints.web.render import page, prefix

router = APIRouter()
Reading = Annotated[Visitor, Depends(allowed(Permission.READ_AUDIT))]
Reviewing = Annotated[Visitor, Depends(allowed(Permission.REVIEW_AUDIT_TRAIL))]


def _list_values(request: Request, who: Visitor, site: str) -> dict[str, Any]:
    shown, hub = site_view(request, site), hub_of(request)
    with hub.sessions() as session:
        overdue = overdue_periods(session, site, hub.bus.deps.clock.now(),
                                  hub.settings.audit_review_days)  # fmt: skip
        reviews = review_items(session, site)
    return {**frame(request, who, shown, "audit_reviews"), "overdue": overdue,
            "reviews": reviews, "review_days": hub.settings.audit_review_days,
            "may_review": who.may(Permission.REVIEW_AUDIT_TRAIL), "attempt": {},
            "refused": None, "done": None}  # fmt: skip


def _review_values(request: Request, who: Visitor, site: str, code: str) -> dict[str, Any]:
    shown = site_view(request, site)
    with hub_of(request).sessions() as session:
        record = review_record(session, site, code)
    return {**frame(request, who, shown, "audit_reviews"), "review": record,
            "may_review": who.may(Permission.REVIEW_AUDIT_TRAIL), "attempt": {},
            "refused": None, "done": None}  # fmt: skip


@router.get("/sites/{site}/audit-reviews", name="audit_reviews")
def reviews(request: Request, site: str, who: Reading) -> Response:
    """The site's reviews and the months whose review is overdue."""
    return page(request, "audit_reviews.html", _list_values(request, who, site))


@router.post("/sites/{site}/audit-reviews", name="audit_review_create")
async def create(request: Request, site: str, who: Reviewing) -> Response:
    """Compute a review of the period the form names."""
    form = await posted_form(request, who)
    ctx = context(request, who.account.username)
    try:
        command = CreateAuditReview(ctx, site, _day(form, "from"), _day(form, "to"),
                                    form.get("source", "").strip() or None, None,
                                    _size(form))  # fmt: skip
        code = await run_in_threadpool(hub_of(request).bus.handle, command)
    except LabgateError as error:
        values = await run_in_threadpool(_list_values, request, who, site)
        await audit(request, error)
        values.update(refused=error, attempt=form)
        return page(request, "audit_reviews.html", values, status=http_status(error))
    return RedirectResponse(f"{prefix(request)}/sites/{site}/audit-reviews/{code}", 303)


@router.get("/sites/{site}/audit-reviews/{review}", name="audit_review")
def review_page(request: Request, site: str, review: str, who: Reading) -> Response:
    """One review: its categories, the spot check and the sign-off."""
    values = _review_values(request, who, site, review)
    values["done"] = request.query_params.get("done")
    return page(request, "audit_review.html", values)


@router.get("/sites/{site}/audit-reviews/{review}/report.pdf", name="audit_review_report")
def report(request: Request, site: str, review: str, who: Reading) -> Response:
    """The printed report (as GET /api/v1/sites/{site}/audit-reviews/{review}/report)."""
    with hub_of(request).sessions() as session:
        document = review_document(review_record(session, site, review), "pdf")
    disposition = f'inline; filename="{document.filename}"'
    return Response(document.data, media_type=document.media_type,
                    headers={"Content-Disposition": disposition})  # fmt: skip


@router.post("/sites/{site}/audit-reviews/{review}/spot-check/{message}", name="audit_review_mark")
async def mark(request: Request, site: str, review: str, message: int, who: Reviewing) -> Response:
    """Mark one sampled transaction checked or a finding."""
    form = await posted_form(request, who)
    ctx = context(request, who.account.username)
    command = MarkSpotCheck(ctx, site, review, message, form.get("mark", ""), form.get("note", ""))
    return await _send(request, who, site, review, command, form, "spot_check")


@router.post("/sites/{site}/audit-reviews/{review}/sign-off", name="audit_review_sign_off")
async def sign_off(request: Request, site: str, review: str, who: Reviewing) -> Response:
    """Sign the review off with the e-signature 'reviewed'."""
    form = await posted_form(request, who)
    ctx = context(request, who.account.username)
    signature = SignatureInput(form.get("username", ""), form.get("password", ""), "reviewed")
    command = SignOffAuditReview(ctx, site, review, form.get("comment", ""), signature)
    return await _send(request, who, site, review, command, form, "sign_off")


async def _send(
    request: Request,
    who: Visitor,
    site: str,
    review: str,
    command: Command,
    form: dict[str, str],
    done: str,
) -> Response:
    try:
        await run_in_threadpool(hub_of(request).bus.handle, command)
    except LabgateError as error:
        values = await run_in_threadpool(_review_values, request, who, site, review)
        await audit(request, error)
        kept = {k: v for k, v in form.items() if k not in ("password", "csrf_token")}
        values.update(refused=error, attempt=kept)
        return page(request, "audit_review.html", values, status=http_status(error))
    # Post/redirect/get: reloading the page does not send the mark or the signature again.
    return RedirectResponse(
        f"{prefix(request)}/sites/{site}/audit-reviews/{review}?done={done}", 303
    )


def _day(form: dict[str, str], name: str) -> datetime:
    """A date box as the start of that day, UTC."""
    text = form.get(name, "").strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{name}: a date (YYYY-MM-DD, UTC) is needed, not {text!r}.",
                           reason="input.date_invalid", field=name) from None  # fmt: skip
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _size(form: dict[str, str]) -> int:
    text = form.get("sample_size", "5").strip() or "5"
    if not text.isdigit():
        raise InvalidInput(f"sample_size: a whole number from 0 to 50, not {text!r}.",
                           reason="audit_review.sample_size", field="sample_size")  # fmt: skip
    return int(text)
