"""Approve several results under one e-signature (the console's "approve all without signals"):
one password check, and for each result the very approval of one (`results.approve`)."""

from __future__ import annotations

from collections import Counter

from labgate.compliance.access import Permission
from labgate.compliance.canonical import content_hash
from labgate.compliance.signed_actions import SignedAction
from labgate.domain.commands import ApproveResults, SeenResult
from labgate.domain.errors import Conflict, InvalidInput, NotFound
from labgate.domain.samples import Result, Sample, result_content, sample_of_result
from labgate.service.deps import Deps
from labgate.service.handlers.common import check_signature
from labgate.service.handlers.results import approve
from labgate.service.unit_of_work import UnitOfWork

# A bulk approval lists what one confirmation page showed: the queue's largest page.
MOST_APPROVED_AT_ONCE = 100


def approve_results(cmd: ApproveResults, uow: UnitOfWork, deps: Deps) -> list[str]:
    """Several approvals under one signature check (one password, one lockout step for a wrong
    one); each result is signed on its own content, by the same rules as one approval. Any
    refusal refuses them all: a reviewer who listed a row expects it signed, or told why not."""
    codes = _listed_once(cmd.results)
    with uow:
        now = deps.clock.now()
        signer, meaning = check_signature(
            uow, cmd.ctx, cmd.signature, Permission.APPROVE_RESULT, SignedAction.APPROVE_RESULT
        )
        found = _listed_results(uow, cmd.site, codes)
        seen = {one.result: one.seen_content for one in cmd.results}
        changed = [code for code, (sample, result) in found.items()
                   if content_hash(result_content(sample, result)) != seen[code]]  # fmt: skip
        if changed:
            raise Conflict(
                f"{_named(changed)} changed after the page was shown; nothing was approved. "
                "Review them again.",
                reason="result.changed_since_shown",
                field="seen_content",
            )
        for code in codes:
            approve(uow, cmd.ctx, found[code], (signer, meaning), now)
        uow.commit()
        return codes


def _listed_once(listed: tuple[SeenResult, ...]) -> list[str]:
    codes = [one.result for one in listed]
    if not codes or len(codes) > MOST_APPROVED_AT_ONCE:
        raise InvalidInput(
            f"A bulk approval lists 1 to {MOST_APPROVED_AT_ONCE} results; it listed {len(codes)}.",
            reason="results.count",
            field="results",
        )
    twice = sorted(code for code, times in Counter(codes).items() if times > 1)
    if twice:
        raise InvalidInput(
            f"{_named(twice)} listed more than once; list each result once.",
            reason="results.duplicate",
            field="results",
        )
    return codes


def _listed_results(
    uow: UnitOfWork, site: str, codes: list[str]
) -> dict[str, tuple[Sample, Result]]:
    """The listed results and their samples, the samples loaded in one query and tracked."""
    wanted = {sample_of_result(code) for code in codes}
    samples = {
        sample.code: uow.track(sample)
        for sample in uow.records.find_any(Sample, "code", wanted, site=site)
    }
    missing = [code for code in codes if sample_of_result(code) not in samples]
    if missing:
        raise NotFound(f"{_named(missing)} not found at {site}.", reason="result.unknown",
                       field="results")  # fmt: skip
    return {code: (samples[sample_of_result(code)],
                   samples[sample_of_result(code)].result(code)) for code in codes}  # fmt: skip


def _named(codes: list[str]) -> str:
    return f"Result {codes[0]}" if len(codes) == 1 else f"Results {', '.join(codes)}"
