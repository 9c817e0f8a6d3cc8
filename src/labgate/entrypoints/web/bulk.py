"""Approve all without signals. From the page of the review queue the reviewer was viewing, a
confirmation lists exactly the results it covers, each with the content hash its signature will
bind; one e-signature then approves them all through the bus's ApproveResults (one password
check; each result its own signature record; all or none).

Scope: the rows of that one queue page (same filters, sort and page, so at most 100) carrying no
signal, less the reviewer's own results (never theirs to approve) and results whose analyst
labgate cannot yet name (the handler would refuse them). The POST reads every listed row's
signals again and refuses the whole list (409, audited) if one now carries a signal; the handler
refuses it if one changed since shown (409, the rows named) or is not the reviewer's to approve."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from labgate.adapters.store import lists
from labgate.adapters.store import tables as t
from labgate.adapters.store.document_facts import reader
from labgate.compliance.access import Permission
from labgate.compliance.canonical import content_hash
from labgate.compliance.signatures import Meaning
from labgate.domain.commands import ApproveResults, SeenResult, SignatureInput
from labgate.domain.errors import Conflict, InvalidInput, LabgateError, Unauthenticated
from labgate.domain.samples import Result, Sample, result_content, sample_of_result
from labgate.entrypoints.api.http_errors import http_status
from labgate.entrypoints.web.access import Visitor, allowed, context, hub_of, posted_form
from labgate.entrypoints.web.layout import frame, site_view
from labgate.entrypoints.web.refusals import audit
from labgate.entrypoints.web.render import page, prefix
from labgate.entrypoints.web.review import Asked, QueueQuery, queue_page
from labgate.entrypoints.web.signals import page_signals

router = APIRouter()
r, s, a, g = t.results.c, t.samples.c, t.audit_entries.c, t.signatures.c
MOST_LISTED = 100  # the queue's largest page; the handler holds the same bound
Approver = Annotated[Visitor, Depends(allowed(Permission.APPROVE_RESULT))]


def _found(session: Session, site: str, codes: list[str]) -> dict[str, tuple[Sample, Result]]:
    """The results by code with their samples (one query for the samples); unknown ones left
    out."""
    wanted = {sample_of_result(code) for code in codes}
    query = select(Sample).where(s.site == site, s.code.in_(wanted))
    samples = {sample.code: sample for sample in session.scalars(query)}
    found = {}
    for code in codes:
        sample = samples.get(sample_of_result(code))
        result = next((x for x in sample.results if x.code == code), None) if sample else None
        if sample is not None and result is not None:
            found[code] = (sample, result)
    return found


def _queued(session: Session, site: str, codes: list[str]) -> list[dict[str, Any]]:
    """The listed results still awaiting review, as the queue reads them (for their signals)."""
    queued = lists.awaiting_review_query(site, lists.ReviewFilter()).subquery()
    query = select(queued).where(queued.c.result.in_(codes))
    return [dict(row) for row in session.execute(query).mappings()]


def _listing(
    session: Session, site: str, seen: dict[str, str], now: datetime
) -> list[dict[str, Any]]:
    """Each listed result as the confirmation shows it: what was seen, and what it is now."""
    found = _found(session, site, list(seen))
    signals = page_signals(session, site, _queued(session, site, list(seen)), now)
    shown = []
    for code, hashed in seen.items():
        if code not in found:
            continue
        sample, result = found[code]
        current = content_hash(result_content(sample, result))
        shown.append({"result": result, "sample": sample, "seen": hashed, "current": current,
                      "signals": signals.get(code, [])})  # fmt: skip
    return shown


@dataclass(frozen=True)
class Offer:
    """What the confirmation offers: each result with the hash it is shown with, and how many
    rows of the queue page were left out, and why."""

    seen: dict[str, str]
    left: dict[str, int]
    on_page: int


def _offered(session: Session, site: str, asked: QueueQuery, who: Visitor, now: datetime) -> Offer:
    """The rows of the queue page as asked that carry no signal and are the reviewer's to
    approve (the handler would refuse their own, and an analyst labgate cannot name)."""
    found, _ = queue_page(session, site, asked, now)
    signals = page_signals(session, site, found.rows, now)
    codes = [row["result"] for row in found.rows]
    left = {"signals": 0, "own": 0, "unnamed": 0}
    seen: dict[str, str] = {}
    for code, (sample, result) in _found(session, site, codes).items():
        if signals.get(code):
            left["signals"] += 1
        elif result.analyst_account == who.account.username:
            left["own"] += 1
        elif result.analyst_account is None:
            left["unnamed"] += 1
        else:
            seen[code] = content_hash(result_content(sample, result))
    return Offer(seen, left, len(codes))


def _last_seq(session: Session, codes: list[str]) -> int:
    query = select(func.max(a.seq)).where(a.record_type == "result", a.record_id.in_(codes))
    return int(session.scalar(query) or 0) if codes else 0


def _values(request: Request, who: Visitor, site: str, view: str) -> dict[str, Any]:
    here = f"{prefix(request)}/sites/{site}/review"
    return {
        **frame(request, who, site_view(request, site), "review"),
        "queue": f"{here}?{view}" if view else here,
        "again": f"{here}/bulk-approval?{view}" if view else f"{here}/bulk-approval",
        "action": f"{here}/bulk-approval",
        "view": view,
        "most": MOST_LISTED,
        "refused": None,
        "changed": [],
        "offer_form": True,
    }


@router.get("/sites/{site}/review/bulk-approval", name="review_bulk")
def confirmation(request: Request, site: str, who: Approver, asked: Asked) -> Response:
    """The confirmation: exactly the results the signature will approve, before the password."""
    values = _values(request, who, site, asked.link())
    now = hub_of(request).bus.deps.clock.now()
    with hub_of(request).sessions() as session:
        offer = _offered(session, site, asked, who, now)
        rows = _listing(session, site, offer.seen, now)
        people = reader(session, site, [row["result"].analyst for row in rows])
        values.update(rows=rows, left=offer.left, on_page=offer.on_page, people=people,
                      seen_seq=_last_seq(session, list(offer.seen)))  # fmt: skip
    return page(request, "bulk.html", values)


def _posted_list(form: FormData) -> tuple[SeenResult, ...]:
    """The listed results and the hash each was shown with, in the order listed."""
    codes = [str(v) for v in form.getlist("result")]
    hashes = [str(v) for v in form.getlist("seen_content")]
    if len(codes) != len(hashes):
        raise InvalidInput(
            "Each listed result needs the content hash it was shown with (seen_content).",
            reason="results.unpaired",
            field="seen_content",
        )
    if any(len(code) > 64 for code in codes) or any(len(x) > 64 for x in hashes):
        raise InvalidInput(
            "A result code or content hash is longer than 64 characters.",
            reason="input.too_long",
            field="result",
        )
    return tuple(SeenResult(code, hashed) for code, hashed in zip(codes, hashes, strict=True))


def _no_signal_since(request: Request, site: str, listed: tuple[SeenResult, ...]) -> None:
    """Refuse the whole list if a listed row carries a signal now (an OOT alert or an EM
    excursion may reach it without changing the result itself)."""
    now = hub_of(request).bus.deps.clock.now()
    with hub_of(request).sessions() as session:
        codes = [one.result for one in listed][:MOST_LISTED]
        signals = page_signals(session, site, _queued(session, site, codes), now)
    flagged = [code for code in codes if signals.get(code)]
    if flagged:
        raise Conflict(
            f"{', '.join(flagged)} now carr{'ies' if len(flagged) == 1 else 'y'} a signal; "
            "nothing was approved. Review signalled results one by one.",
            reason="review.signal_since_shown",
            field="results",
        )


@router.post("/sites/{site}/review/bulk-approval", name="review_bulk_approve")
async def approve_listed(request: Request, site: str, who: Approver) -> Response:
    """One e-signature, meaning fixed (approved), for every listed result; all or none."""
    form = await posted_form(request, who)
    listed = _posted_list(await request.form())
    view = urlencode(parse_qsl(form.get("view", "")))  # only ever a query string back
    signature = SignatureInput(form.get("username", ""), form.get("password", ""),
                               Meaning.APPROVED.value)  # fmt: skip
    command = ApproveResults(context(request, who.account.username), site, listed, signature)
    try:
        await run_in_threadpool(_no_signal_since, request, site, listed)
        await run_in_threadpool(hub_of(request).bus.handle, command)
    except LabgateError as error:
        await audit(request, error)
        seen_seq = int(form["seen_seq"]) if form.get("seen_seq", "").isdigit() else 0
        values = await run_in_threadpool(_refused, request, who, site, view, listed, seen_seq)
        values["refused"] = error
        values["offer_form"] = isinstance(error, Unauthenticated)  # wrong password: same list again
        return page(request, "bulk.html", values, status=http_status(error))
    # Post/redirect/get: the signed list, with each signature; a reload signs nothing again.
    signed = urlencode([("result", one.result) for one in listed])
    return RedirectResponse(f"{prefix(request)}/sites/{site}/review/bulk-approval/signed?{signed}",
                            status_code=303)  # fmt: skip


def _refused(
    request: Request,
    who: Visitor,
    site: str,
    view: str,
    listed: tuple[SeenResult, ...],
    seen_seq: int,
) -> dict[str, Any]:
    """The listed rows again, as they were seen and as they are now, and what the trail holds
    on them since the page was shown (this very attempt's refusal left out)."""
    values = _values(request, who, site, view)
    seen = {one.result: one.seen_content for one in listed[:MOST_LISTED]}
    now = hub_of(request).bus.deps.clock.now()
    with hub_of(request).sessions() as session:
        rows = _listing(session, site, seen, now)
        query = (
            select(t.audit_entries)
            .where(a.record_type == "result", a.record_id.in_(list(seen)), a.seq > seen_seq)
            .where(a.action.not_like("refused.%"))
            .order_by(a.seq)
        )
        changed = [dict(row) for row in session.execute(query).mappings()]
        users = [*(row["result"].analyst for row in rows), *(e["actor"] for e in changed)]
        people = reader(session, site, users)
    values.update(rows=rows, changed=changed, people=people, seen_seq=seen_seq,
                  left=None, on_page=None)  # fmt: skip
    return values


@router.get("/sites/{site}/review/bulk-approval/signed", name="review_bulk_signed")
def signed(
    request: Request,
    site: str,
    who: Annotated[Visitor, Depends(allowed(Permission.READ))],
    result: Annotated[list[str], Query()],
) -> Response:
    """What a bulk approval signed: each result with its own signature, shown per 11.50."""
    if len(result) > MOST_LISTED or any(len(code) > 64 for code in result):
        raise InvalidInput(f"At most {MOST_LISTED} result codes of up to 64 characters.",
                           reason="input.too_long", field="result")  # fmt: skip
    shown = site_view(request, site)
    with hub_of(request).sessions() as session:
        found = _found(session, site, result)
        query = select(t.signatures).where(
            g.record_type == "result", g.record_id.in_(list(found)), g.site == site
        )
        signatures: dict[str, list[dict[str, Any]]] = {}
        for row in session.execute(query.order_by(g.signed_at, g.id)).mappings():
            sample, one = found[row["record_id"]]
            matches = row["content_hash"] == content_hash(result_content(sample, one))
            signatures.setdefault(row["record_id"], []).append({**dict(row), "matches": matches})
        people = reader(session, site, [x["signer"] for v in signatures.values() for x in v])
    values = {
        **frame(request, who, shown, "review"),
        "signed": [(found[code][1], signatures.get(code, [])) for code in found],
        "people": people,
        "queue": f"{prefix(request)}/sites/{site}/review",
    }
    return page(request, "bulk_signed.html", values)
