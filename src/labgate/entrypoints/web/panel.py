"""The review panel of one result, and its e-signed approval and invalidation. The actions go
through the very bus commands the API's /approval and /invalidation send (the signature, the
reviewer-is-not-analyst rule, the lockout counter are the handler's); the console adds only the
stale-page guard's hash of what the reviewer was shown, which the handler checks."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store import lists
from labgate.adapters.store import tables as t
from labgate.adapters.store.document_facts import reader
from labgate.compliance.access import Permission
from labgate.compliance.canonical import content_hash
from labgate.compliance.signatures import Meaning
from labgate.domain.commands import ApproveResult, InvalidateResult, SignatureInput
from labgate.domain.errors import Conflict, LabgateError, NotFound
from labgate.domain.lifecycle import ResultStatus
from labgate.domain.samples import Result, Sample, result_content, sample_of_result
from labgate.entrypoints.api.http_errors import http_status
from labgate.entrypoints.web.access import Visitor, allowed, context, hub_of, posted_form
from labgate.entrypoints.web.layout import frame, site_view
from labgate.entrypoints.web.refusals import audit
from labgate.entrypoints.web.render import is_htmx, page, prefix
from labgate.entrypoints.web.signals import page_signals

router = APIRouter()
r, s, a, g = t.results.c, t.samples.c, t.audit_entries.c, t.signatures.c


def _found(session: Session, site: str, code: str) -> tuple[Sample, Result]:
    sample = session.scalars(
        select(Sample).filter_by(site=site, code=sample_of_result(code))
    ).one_or_none()
    if sample is None:
        raise NotFound(f"No result {code} at {site}.", reason="result.unknown", field="result")
    return sample, sample.result(code)


def _trail(session: Session, site: str, code: str) -> list[dict[str, Any]]:
    query = select(t.audit_entries).where(
        a.record_type == "result", a.record_id == code, a.site == site
    )
    return [dict(row) for row in session.execute(query.order_by(a.seq)).mappings()]


def _earlier(session: Session, sample: Sample, result: Result) -> list[dict[str, Any]]:
    """The other results of the same test on the same batch (its own sample's retests too)."""
    same = s.batch == sample.batch if sample.batch else s.id == r.sample_id
    query = (
        select(r.code, r.raw_value, r.raw_unit, r.reported_value, r.canonical_unit, r.status,
               r.conforms, r.entered_at, r.analyst, s.code.label("sample"))
        .join(t.samples, s.id == r.sample_id)
        .where(s.site == sample.site, same, r.test_code == result.test_code, r.code != result.code,
               r.entered_at <= result.entered_at)
        .order_by(r.entered_at, r.id)
    )  # fmt: skip
    return [dict(row) for row in session.execute(query).mappings()]


def _signals(session: Session, site: str, code: str, request: Request) -> list[Any]:
    queued = lists.awaiting_review_query(site, lists.ReviewFilter()).subquery()
    rows = [
        dict(m) for m in session.execute(select(queued).where(queued.c.result == code)).mappings()
    ]
    return page_signals(session, site, rows, hub_of(request).bus.deps.clock.now()).get(code, [])


def panel_values(request: Request, who: Visitor, site: str, code: str) -> dict[str, Any]:
    """Everything the panel shows of one result, read in one session."""
    shown = site_view(request, site)
    with hub_of(request).sessions() as session:
        sample, result = _found(session, site, code)
        content = result_content(sample, result)
        current = content_hash(content)
        signatures = [
            {**dict(row), "matches": row["content_hash"] == current}
            for row in session.execute(
                select(t.signatures).where(g.record_type == "result", g.record_id == code)
                .order_by(g.signed_at)
            ).mappings()
        ]  # fmt: skip
        trail = _trail(session, site, code)
        earlier = _earlier(session, sample, result)
        signals = _signals(session, site, code, request)
        users = [result.analyst, result.reviewer, *(e["actor"] for e in trail),
                 *(x["analyst"] for x in earlier), *(x["signer"] for x in signatures)]  # fmt: skip
        people = reader(session, site, users)
        last_seq = session.scalar(
            select(func.max(a.seq)).where(a.record_type == "result", a.record_id == code)
        )
    return {
        **frame(request, who, shown, "review"),
        "sample": sample,
        "result": result,
        "content_hash": current,
        "seen_seq": last_seq or 0,
        "signatures": signatures,
        "trail": trail,
        "earlier": earlier,
        "signals": signals,
        "people": people,
        "here": f"{prefix(request)}/sites/{site}/review/{code}",
        "queue": f"{prefix(request)}/sites/{site}/review",
        "awaiting": result.status == ResultStatus.PRELIMINARY,
        "invalidable": result.status != ResultStatus.INVALIDATED,
        "may_approve": who.may(Permission.APPROVE_RESULT),
        "may_invalidate": who.may(Permission.INVALIDATE_RESULT),
        "refused": None,
        "changed": [],
        "done": None,
    }


def _answer(request: Request, values: dict[str, Any], status: int = 200) -> Response:
    block = "panel" if is_htmx(request) else None
    return page(request, "panel.html", values, status=status, block=block)


@router.get("/sites/{site}/review/{result}", name="review_panel")
def review_panel(
    request: Request,
    site: str,
    result: str,
    who: Annotated[Visitor, Depends(allowed(Permission.READ))],
    done: Literal["approved", "invalidated"] | None = None,
) -> Response:
    """The panel: a plain page for a direct link, its block for htmx; `done` after signing."""
    values = panel_values(request, who, site, result)
    values["done"] = done
    return _answer(request, values)


async def _signed(
    request: Request, who: Visitor, site: str, code: str, meaning: Meaning, reason: str | None
) -> Response:
    form = await posted_form(request, who)
    signature = SignatureInput(form.get("username", ""), form.get("password", ""), meaning.value)
    ctx = context(request, who.account.username)
    seen = form.get("seen_content") or ""
    command: ApproveResult | InvalidateResult
    if reason is None:
        command = ApproveResult(ctx, site, code, signature, seen_content=seen)
    else:
        command = InvalidateResult(ctx, site, code, reason, signature, seen_content=seen)
    try:
        await run_in_threadpool(hub_of(request).bus.handle, command)
    except LabgateError as error:
        await audit(request, error)
        values = await run_in_threadpool(panel_values, request, who, site, code)
        values["refused"] = error
        if isinstance(error, Conflict):  # changed meanwhile: what the trail holds since the page
            values["changed"] = [
                e
                for e in values["trail"]
                if e["seq"] > int(form.get("seen_seq") or 0)
                and not e["action"].startswith("refused.")  # this very attempt, not a change
            ]
        return _answer(request, values, status=http_status(error))
    # Post/redirect/get: reloading the page afterwards does not send the signature again.
    done = "approved" if reason is None else "invalidated"
    return RedirectResponse(f"{prefix(request)}/sites/{site}/review/{code}?done={done}", 303)


@router.post("/sites/{site}/review/{result}/approval", name="review_approve")
async def approve(
    request: Request,
    site: str,
    result: str,
    who: Annotated[Visitor, Depends(allowed(Permission.APPROVE_RESULT))],
) -> Response:
    """Approve with an e-signature whose meaning is fixed: approved."""
    return await _signed(request, who, site, result, Meaning.APPROVED, None)


@router.post("/sites/{site}/review/{result}/invalidation", name="review_invalidate")
async def invalidate(
    request: Request,
    site: str,
    result: str,
    who: Annotated[Visitor, Depends(allowed(Permission.INVALIDATE_RESULT))],
) -> Response:
    """Invalidate with a reason and an e-signature whose meaning is fixed: invalidated."""
    form = await request.form()
    reason = form.get("reason")
    return await _signed(
        request, who, site, result, Meaning.INVALIDATED, reason if isinstance(reason, str) else ""
    )
