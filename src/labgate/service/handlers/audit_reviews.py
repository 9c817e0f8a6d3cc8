"""Periodic audit-trail reviews: computed from the trail, spot-checked, signed off."""

from __future__ import annotations

import secrets
from datetime import datetime

from labgate.compliance.access import Permission
from labgate.compliance.audit_review import AuditReview, hash_of, review_content
from labgate.compliance.clock import iso_utc
from labgate.compliance.signed_actions import SignedAction
from labgate.domain.commands import Context
from labgate.domain.errors import Forbidden, InvalidInput
from labgate.domain.masterdata import Site
from labgate.domain.reasons import require_reason
from labgate.domain.review_commands import CreateAuditReview, MarkSpotCheck, SignOffAuditReview
from labgate.service.deps import Deps
from labgate.service.handlers.common import apply_signature, check_signature, must_get, record
from labgate.service.unit_of_work import UnitOfWork

MAX_SAMPLE = 50
SEED_LIMIT = 2**53  # exact in every JSON reader (RFC 8785 canonical JSON refuses more)


def create_audit_review(cmd: CreateAuditReview, uow: UnitOfWork, deps: Deps) -> str:
    """Compute the review's content from the trail and keep it as a draft."""
    with uow:
        now = deps.clock.now()
        must_get(uow, Site, "site", "site", code=cmd.site)
        _check_period(cmd, now)
        seed = secrets.randbelow(SEED_LIMIT) if cmd.seed is None else cmd.seed
        period = (cmd.period_from, cmd.period_to)
        findings, sample = uow.trail_review(cmd.site, period, cmd.source, (seed, cmd.sample_size))
        content = review_content(cmd.site, period, cmd.source, seed, findings, sample)
        code = f"AR-{uow.next_number(f'audit_review:{cmd.site}'):06d}"
        review = AuditReview(cmd.site, code, cmd.period_from, cmd.period_to, cmd.source, seed,
                             cmd.ctx.actor, now, findings, sample, hash_of(content))  # fmt: skip
        uow.records.add(review)
        record(uow, cmd.ctx, now, "audit_review.created", ("audit_review", code, cmd.site),
               after=_summary(review), reason="periodic audit-trail review computed")  # fmt: skip
        uow.commit()
        return code


def mark_spot_check(cmd: MarkSpotCheck, uow: UnitOfWork, deps: Deps) -> str:
    """Record the reviewer's mark on one sampled transaction."""
    with uow:
        now = deps.clock.now()
        review = _load(uow, cmd.site, cmd.review)
        before = next((dict(i) for i in review.sample if i["message"] == cmd.message), None)
        marked = review.mark(cmd.message, cmd.mark, cmd.note, cmd.ctx.actor, now)
        record(uow, cmd.ctx, now, "audit_review.spot_checked",
               ("audit_review", review.code, cmd.site),
               before=_mark_of(before), after=_mark_of(marked),
               reason=cmd.note or f"message {cmd.message} {cmd.mark}")  # fmt: skip
        uow.commit()
        return review.code


def sign_off_audit_review(cmd: SignOffAuditReview, uow: UnitOfWork, deps: Deps) -> str:
    """The reviewer's e-signature ("reviewed") over the content hash, after a recompute from
    the trail gives the same hash; never by a system account."""
    comment = require_reason(cmd.comment, "comment")
    with uow:
        now = deps.clock.now()
        _refuse_system(cmd.ctx)
        signer, meaning = check_signature(uow, cmd.ctx, cmd.signature,
                                          Permission.REVIEW_AUDIT_TRAIL,
                                          SignedAction.SIGN_OFF_TRAIL_REVIEW)  # fmt: skip
        if signer.kind != "person":
            _refuse_system(Context(signer.username, "system"))
        review = _load(uow, cmd.site, cmd.review)
        period = (review.period_from, review.period_to)
        findings, sample = uow.trail_review(review.site, period, review.source,
                                            (review.seed, len(review.sample)))  # fmt: skip
        recomputed = hash_of(review_content(review.site, period, review.source, review.seed,
                                            findings, sample))  # fmt: skip
        before = _summary(review)
        review.sign_off(signer.username, now, comment, recomputed)
        subject = ("audit_review", review.code, cmd.site)
        record(uow, cmd.ctx, now, "audit_review.signed_off", subject,
               before=before, after=_summary(review), reason=comment)  # fmt: skip
        apply_signature(uow, cmd.ctx, now, signer, meaning, subject, review.signed_content())
        uow.commit()
        return review.code


def _check_period(cmd: CreateAuditReview, now: datetime) -> None:
    if cmd.period_to <= cmd.period_from:
        raise InvalidInput(
            f"The period ends ({iso_utc(cmd.period_to)}) before it starts "
            f"({iso_utc(cmd.period_from)}); `to` is after `from`.",
            reason="audit_review.period_empty", field="to",
        )  # fmt: skip
    if cmd.period_to > now:
        # A period still running would gain entries after the review was computed.
        raise InvalidInput(
            f"The period must have ended: `to` ({iso_utc(cmd.period_to)}) is after now "
            f"({iso_utc(now)}).",
            reason="audit_review.period_not_ended", field="to",
        )  # fmt: skip
    if not 0 <= cmd.sample_size <= MAX_SAMPLE:
        raise InvalidInput(
            f"The spot-check sample holds 0 to {MAX_SAMPLE} transactions, not {cmd.sample_size}.",
            reason="audit_review.sample_size", field="sample_size",
        )  # fmt: skip
    if cmd.seed is not None and not 0 <= cmd.seed < SEED_LIMIT:
        raise InvalidInput(
            f"A seed is a whole number from 0 to {SEED_LIMIT - 1}.",
            reason="audit_review.seed", field="seed",
        )  # fmt: skip


def _refuse_system(ctx: Context) -> None:
    if ctx.actor_kind != "person":
        raise Forbidden(
            f"{ctx.actor} is a system account; a periodic review is signed off by a person.",
            reason="audit_review.system_account", field="signature.username",
        )  # fmt: skip


def _load(uow: UnitOfWork, site: str, code: str) -> AuditReview:
    return must_get(uow, AuditReview, "audit_review", "review", site=site, code=code)


def _summary(review: AuditReview) -> dict[str, object]:
    counts = {k: v["count"] for k, v in review.findings["categories"].items()}
    return {"code": review.code, "state": review.state.value,
            "from": iso_utc(review.period_from), "to": iso_utc(review.period_to),
            "source": review.source, "seed": review.seed, "counts": counts,
            "sampled": [i["message"] for i in review.sample],
            "content_hash": review.content_hash, "signed_by": review.signed_by}  # fmt: skip


def _mark_of(item: dict[str, object] | None) -> dict[str, object] | None:
    return None if item is None else {"message": item["message"], "mark": item.get("mark"),
                                      "note": item.get("note")}  # fmt: skip
