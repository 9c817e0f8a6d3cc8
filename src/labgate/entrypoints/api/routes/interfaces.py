"""The REST channel for signed envelopes, and the quarantine where refused messages wait."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import Field, StrictStr
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store import tables as t
from labgate.adapters.store.lists import Slice, take
from labgate.compliance.access import Account, Permission
from labgate.compliance.canonical import to_jsonable
from labgate.compliance.signed_actions import SignedAction
from labgate.domain.errors import NotFound
from labgate.entrypoints.api.answers.interfaces import (
    InboxReceipt,
    QuarantineItem,
    QuarantineRecord,
    QuarantineResolved,
    QuarantineStatus,
)
from labgate.entrypoints.api.auth import Sender, hub_of, sender, still_sender
from labgate.entrypoints.api.contract import refuses
from labgate.entrypoints.api.http_errors import http_status
from labgate.entrypoints.api.inbox_group import InboxGroups, SenderCheck
from labgate.entrypoints.api.paging import Cursor, Page, PageLimit, decode_cursor, page_of
from labgate.entrypoints.api.problems import problem, request_context
from labgate.entrypoints.api.routes.lab import allowed
from labgate.entrypoints.api.schemas import Body, RowId, SignatureIn, SignedAs
from labgate.service.inbox.admission import ReceiptRefused
from labgate.service.inbox.quarantine import QuarantineDesk, Resolution

router = APIRouter(prefix="/api/v1", tags=["interfaces"])

# What the inbox refuses an envelope for: its checks (key, signature, schema, replay window,
# duplicate, sequence, channel), then the rules of the use case its message asks for (request,
# register or cancel a sample, record or invalidate a result), each with the refusal's status.
_ENVELOPE_CHECKS: dict[int, tuple[str, ...]] = {
    403: ("envelope.source_mismatch",),
    409: ("sequence.stale",),
    422: (
        "channel.schema_not_allowed",
        "envelope.bad_algorithm",
        "envelope.bad_message_id",
        "envelope.bad_signature",
        "envelope.key_not_valid",
        "envelope.malformed",
        "envelope.replay_window",
        "envelope.revoked_key",
        "envelope.schema_violation",
        "envelope.unknown_key",
        "envelope.unknown_schema",
    ),
}
_USE_CASES: dict[int, tuple[str, ...]] = {
    403: ("result.analyst_is_not_caller", "result.reviewer_is_analyst"),
    404: (
        "batch.unknown",
        "equipment.unknown",
        "lot.unknown",
        "mapping.unknown",
        "method_version.unknown",
        "product.unknown",
        "result.test_not_planned",
        "result.unknown",
        "sample.unknown",
        "sampling_point.unknown",
        "spec.no_limit_for_test",
        "test.unknown",
    ),
    409: (
        "identity.not_a_reviewer",
        "identity.unmapped",
        "mapping.cross_posting",
        "mapping.retired",
        "result.already_reported",
        "result.bad_retest",
        "result.invalid_transition",
        "sample.cancelled",
        "sample.invalid_transition",
        "sample.not_registered",
        "sampling_plan.no_release_set",
        "sampling_plan.none_for_point",
        "sampling_plan.test_not_planned",
        "sampling_point.not_in_procedure",
        "spec.none_in_force",
        "test.invalid_transition",
    ),
    422: (
        "limit.band_not_numeric",
        "limit.invalid",
        "limit.range_inverted",
        "number.malformed",
        "number.out_of_range",
        "result.method_version_mismatch",
        "result.review_incomplete",
        "result.value_kind_mismatch",
        "status_map.cancelled_result",
        "status_map.incomplete",
        "status_map.unreviewed_decision",
        "unit.missing",
        "unit.not_expected",
        "unit.unconvertible",
        "unit.unknown",
    ),
}


def _merged(*parts: dict[int, tuple[str, ...]]) -> dict[int, tuple[str, ...]]:
    merged: dict[int, tuple[str, ...]] = {}
    for part in parts:
        for status, codes in part.items():
            merged[status] = merged.get(status, ()) + codes
    return merged


# An envelope may carry a B2MML document (`labgate.b2mml.v1`): read, checked against the MESA
# XSDs and mapped to the payloads above.
_B2MML: dict[int, tuple[str, ...]] = {
    404: ("b2mml.unknown_test",),
    422: (
        "b2mml.doctype_forbidden",
        "b2mml.invalid",
        "b2mml.invalid_payload",
        "b2mml.not_well_formed",
        "b2mml.one_request_per_message",
        "b2mml.unexpected_root",
        "b2mml.unmappable",
    ),
}
# A quarantined file pack (folder, SFTP) is read again from its bytes when reprocessed.
_PACKS: dict[int, tuple[str, ...]] = {
    422: (
        "pack.checksum_mismatch",
        "pack.duplicate_file",
        "pack.file_missing",
        "pack.malformed",
        "pack.malformed_data",
        "pack.manifest_missing",
        "pack.path_traversal",
        "pack.pgp_decrypt",
        "pack.pgp_required",
        "pack.pgp_seal",
        "pack.pgp_signature",
        "pack.record_count",
        "pack.unlisted_file",
        "pack.wrong_record_schema",
    )
}
INBOX_REFUSALS = _merged(_ENVELOPE_CHECKS, _B2MML, _USE_CASES)
# Resolving an item is e-signed; reprocessing runs the envelope's checks and its use case again.
RESOLVE_REFUSALS = _merged(
    INBOX_REFUSALS,
    _PACKS,
    {
        401: ("auth.locked", "signature.bad_credentials"),
        404: ("quarantine.unknown",),
        409: ("quarantine.already_applied", "quarantine.closed", "quarantine.not_reprocessable"),
        422: ("signature.wrong_meaning",),
    },
)


@router.post(
    "/inbox",
    summary="Send a signed envelope (any message type)",
    response_model=InboxReceipt,
    responses={
        200: {"description": "Applied, or a duplicate of one applied before."},
        202: {
            "description": "Held: it waits for an earlier sequence number.",
            "model": InboxReceipt,
        },
    },
    # Every refusal is answered with the quarantine item keeping the raw bytes (X-Quarantine-Id)
    # and whether its sequence number was used (X-Sequence: used | free).
    openapi_extra=refuses(INBOX_REFUSALS),
)
async def receive(
    request: Request,
    response: Response,
    sent: Annotated[Sender, Depends(sender(Permission.SEND_MESSAGES))],
) -> Any:
    """Checked in order (key, signature, schema, replay window, duplicate, sequence), then applied
    in one transaction with its inbox record (shared with envelopes that arrived at the same
    time: answered once it has committed); refusals are quarantined with their raw bytes."""

    raw = await request.body()
    outcome = await inbox_groups(request).receive(raw, sent)
    if isinstance(outcome, ReceiptRefused):
        status = http_status(outcome)
        answer = problem(request, status, outcome.reason, outcome.message, outcome.field)
        answer.headers["X-Quarantine-Id"] = str(outcome.quarantine_id)
        # used: taken in and refused by its use case, send the next; free: send this one again.
        answer.headers["X-Sequence"] = "used" if outcome.number_used else "free"
        return answer
    response.status_code = 202 if outcome.status == "held" else 200
    return InboxReceipt.model_validate(
        {"status": outcome.status, "message_id": outcome.message_id, "outcome": outcome.outcome}
    )


def inbox_groups(request: Request) -> InboxGroups:
    """The app's group commit for the inbox (made on first use, inside the server's loop)."""
    state = request.app.state
    if not hasattr(state, "inbox_groups"):
        hub = hub_of(request)
        check = None
        if hub.accounts is not None:
            accounts = hub.accounts
            check = SenderCheck(
                accounts.version,
                lambda sent, version: still_sender(hub, sent, Permission.SEND_MESSAGES, version),
            )
        state.inbox_groups = InboxGroups(hub.inbox, state.inbox_group_most, check)
    groups: InboxGroups = state.inbox_groups
    return groups


class DecisionIn(Body):
    """An operator's decision on a quarantined message: a reason and an e-signature."""

    reason: StrictStr = Field(min_length=1, max_length=2000)
    signature: Annotated[SignatureIn, SignedAs(SignedAction.RESOLVE_QUARANTINE)]


@router.post(
    "/quarantine/{item}/{decision}",
    summary="Reprocess or discard, e-signed",
    openapi_extra=refuses(RESOLVE_REFUSALS),
)
async def resolve(
    request: Request,
    item: RowId,
    decision: Literal["reprocess", "discard"],
    body: DecisionIn,
    _: Account = allowed(Permission.MANAGE_QUARANTINE),
) -> QuarantineResolved:
    """Reprocessing starts from the original raw bytes; discarding keeps them on record."""
    desk = QuarantineDesk(hub_of(request).inbox)
    resolution = Resolution(
        await request_context(request), item, body.reason, body.signature.to_input()
    )
    if decision == "discard":
        await run_in_threadpool(desk.discard, resolution)
        return QuarantineResolved(item=item, status="discarded")
    outcome = await run_in_threadpool(desk.reprocess, resolution)
    return QuarantineResolved(item=item, status="reprocessed", outcome=outcome)


@router.get(
    "/quarantine",
    summary="Quarantined messages, newest first",
    openapi_extra=refuses({422: ("page.cursor_invalid",)}),
)
def list_quarantine(
    request: Request,
    status: QuarantineStatus | None = None,
    cursor: Cursor = None,
    limit: PageLimit = 50,
    _: Account = allowed(Permission.READ_QUARANTINE),
) -> Page[QuarantineItem]:
    """Reason code, channel, source and hash of every refused message, newest first, one page
    at a time; `status` narrows to open, reprocessed or discarded ones."""
    after = decode_cursor("quarantine", cursor)
    q = t.quarantine.c
    query = select(q.id, q.received_at, q.channel, q.source, q.message_id, q.sha256,
                   q.reason_code, q.field, q.detail, q.status)  # fmt: skip
    if status:
        query = query.where(q.status == status)
    with hub_of(request).sessions() as session:
        found = take(session, query, q.id, after, limit, "newest")
    # The times as every view renders them (compliance/clock.iso_utc), not re-formatted.
    shown = Slice([to_jsonable(row) for row in found.rows], found.last_id)
    return page_of(request, "quarantine", shown, QuarantineItem, limit)


@router.get(
    "/quarantine/{item}",
    summary="One quarantined message, raw bytes included",
    openapi_extra=refuses({404: ("quarantine.unknown",)}),
)
def get_quarantine(
    request: Request, item: RowId, _: Account = allowed(Permission.READ_QUARANTINE)
) -> QuarantineRecord:
    """The raw bytes as received (base64, and as text when they are UTF-8)."""
    with hub_of(request).sessions() as session:
        row = session.execute(select(t.quarantine).where(t.quarantine.c.id == item)).mappings()
        found = row.one_or_none()
        if found is None:
            raise NotFound(f"No quarantined message {item}.", reason="quarantine.unknown",
                           field="item")  # fmt: skip
        shown: dict[str, Any] = to_jsonable({k: v for k, v in found.items() if k != "raw"})
    raw: bytes = found["raw"]
    shown["raw_base64"] = base64.b64encode(raw).decode()
    try:
        shown["raw_text"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        shown["raw_text"] = None
    return QuarantineRecord.model_validate(shown)
