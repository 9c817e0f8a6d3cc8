"""Results from the lab: preliminary, reviewed elsewhere, approved here with an e-signature,
invalidated and retested."""

from __future__ import annotations

from datetime import datetime

from labgate.compliance.access import Account, Permission
from labgate.compliance.canonical import content_hash, to_jsonable
from labgate.compliance.signatures import Meaning
from labgate.compliance.signed_actions import SignedAction
from labgate.domain.commands import (
    ApproveResult,
    Context,
    InvalidateResult,
    RecordResult,
    RecordResults,
)
from labgate.domain.errors import Conflict, Forbidden, InvalidInput
from labgate.domain.masterdata import AliasSystem, TestDefinition
from labgate.domain.samples import NewResult, Result, Sample, result_content, sample_of_result
from labgate.service.deps import Deps
from labgate.service.handlers.common import (
    apply_signature,
    check_signature,
    load_sample,
    must_get,
    record,
)
from labgate.service.handlers.identities import people_of, require_reviewer
from labgate.service.unit_of_work import UnitOfWork
from labgate.service.units import unit_dictionary


def record_result(cmd: RecordResult, uow: UnitOfWork, deps: Deps) -> str:
    """Store a result as reported, derive its values; approve it when the LIMS already has."""
    with uow:
        code = _record_one(cmd, _Lookups(uow, deps), deps)
        uow.commit()
        return code


def record_results(cmd: RecordResults, uow: UnitOfWork, deps: Deps) -> list[str]:
    """Many results, one transaction: every one is recorded, or none is. A result that came in
    its own envelope (a batch of messages) is settled as its own message: inbox record, outbox
    rows under its correlation id."""
    with uow:
        received = [r for one in cmd.results if (r := uow.received_for(one.ctx)) is not None]
        for source, stream in dict.fromkeys((r.source, r.stream) for r in received):
            uow.stream_position(source, stream)  # a message transaction locks its streams first
        lookups = _Lookups(uow, deps)
        lookups.preload({(one.site, one.sample) for one in cmd.results})
        uow.expect_received(received)
        codes = []
        for one in cmd.results:
            codes.append(_record_one(one, lookups, deps))
            mine = uow.received_for(one.ctx)
            if mine is not None and one.ctx.message != cmd.ctx.message:
                uow.settle_message(mine, one.ctx.correlation_id, one.ctx)
        uow.commit()
        return codes


class _Lookups:
    """What a run of results reads again and again, read once per transaction."""

    def __init__(self, uow: UnitOfWork, deps: Deps) -> None:
        self.uow = uow
        # The map in force as the hub decides (its clock), once for the whole run.
        self.now = deps.clock.now()
        self.status_map = uow.status_map(self.now)
        self.units = unit_dictionary(uow, deps)
        self._aliases: dict[str, dict[tuple[str, str], str]] = {}
        self._tests: set[tuple[str, str]] = set()
        self._samples: dict[tuple[str, str], Sample] = {}
        self._people: dict[str, dict[str, str]] = {}

    def account_of(self, source: str, external_id: str) -> str | None:
        """The labgate account `source` means by `external_id` (its map read once a run)."""
        if source not in self._people:
            self._people[source] = people_of(self.uow, source)
        return self._people[source].get(external_id)

    def our_code(self, site: str, kind: str, code: str) -> str:
        """Our code for what the LIMS calls `code` (from the LIMS's aliases, read once a run)."""
        if site not in self._aliases:
            # One alias per (site, system, kind, external code) (a unique key): a dict of the
            # LIMS's, so a run looks each code up once, however many aliases the site has.
            # A retired alias no longer resolves: its code passes through unchanged.
            found = [
                a
                for a in self.uow.aliases(site)
                if a.system == AliasSystem.LIMS and a.in_force_at(self.now)
            ]
            self._aliases[site] = {(a.kind, a.external_code): a.canonical_code for a in found}
        return self._aliases[site].get((kind, code), code)

    def require_test(self, site: str, code: str) -> None:
        """NotFound unless the test code is defined in the site."""
        if (site, code) not in self._tests:
            must_get(self.uow, TestDefinition, "test", "test_code", site=site, code=code)
            self._tests.add((site, code))

    def preload(self, keys: set[tuple[str, str]]) -> None:
        """Load the samples a run of results names and the sites' test codes, one query each
        per site, before anything is pending: a look-up later would flush the run so far."""
        for site in {site for site, _ in keys}:
            self._tests |= {
                (site, d.code) for d in self.uow.records.find(TestDefinition, site=site)
            }
            codes = {code for s, code in keys if s == site and (s, code) not in self._samples}
            for sample in self.uow.records.find_any(Sample, "code", codes, site=site):
                self._samples[(site, sample.code)] = self.uow.track(sample)

    def sample(self, site: str, code: str) -> Sample:
        """A sample, loaded once and tracked."""
        if (site, code) not in self._samples:
            self._samples[(site, code)] = load_sample(self.uow, site, code)
        return self._samples[(site, code)]


def _record_one(cmd: RecordResult, lookups: _Lookups, deps: Deps) -> str:
    now, uow = deps.clock.now(), lookups.uow
    if cmd.ctx.actor_kind == "person" and cmd.analyst != cmd.ctx.actor:
        # People enter results in their own name only; a LIMS reports its own users' names.
        raise Forbidden(
            f"{cmd.ctx.actor} cannot enter a result in the name of {cmd.analyst}.",
            reason="result.analyst_is_not_caller",
            field="analyst",
        )
    test_code = lookups.our_code(cmd.site, "test", cmd.test_code)
    lookups.require_test(cmd.site, test_code)
    unit = lookups.our_code(cmd.site, "unit", cmd.unit) if cmd.unit else None
    sample = lookups.sample(cmd.site, cmd.sample)
    source = cmd.ctx.actor if cmd.ctx.actor_kind == "system" else None
    new = NewResult(
        code=f"{sample.code}-R{len(sample.results) + 1}",
        test_code=test_code,
        raw_value=cmd.value,
        unit=unit,
        method_version=cmd.method_version,
        analyst=cmd.analyst,
        retest_of=cmd.retest_of,
        unit_as_sent=cmd.unit or None,  # kept on the result as reported (promise 3), alias or not
        reported_by=source,
        analyst_account=None if source is None else lookups.account_of(source, cmd.analyst),
    )
    result = sample.record_result(new, now, lookups.units, lookups.status_map)
    reason = f"reported by {cmd.ctx.actor}"
    if cmd.retest_of:
        reason += f", retest of {cmd.retest_of}"
    record(uow, cmd.ctx, now, "result.recorded", ("result", result.code, cmd.site),
           after=result, reason=reason)  # fmt: skip
    if cmd.lims_status == "approved":
        _approve_reviewed_elsewhere(cmd, lookups, sample, result.code, deps)
    return result.code


def _approve_reviewed_elsewhere(
    cmd: RecordResult, lookups: _Lookups, sample: Sample, code: str, deps: Deps
) -> None:
    uow, status_map = lookups.uow, lookups.status_map
    if not cmd.reviewer or cmd.approved_at is None:
        raise InvalidInput(
            "An approved result from the LIMS needs its reviewer and approval time.",
            reason="result.review_incomplete",
            field="reviewer" if not cmd.reviewer else "approved_at",
        )
    reviewer = lookups.account_of(cmd.ctx.actor, cmd.reviewer)
    if reviewer is None:
        raise Conflict(
            f"{cmd.ctx.actor} names reviewer {cmd.reviewer!r}, an id labgate does not know: map "
            "it to the reviewer's labgate account in the identity map first.",
            reason="identity.unmapped",
            field="reviewer",
        )
    require_reviewer(uow, reviewer, cmd.reviewer)
    result = sample.approve_result(code, cmd.reviewer, cmd.approved_at, status_map, reviewer)
    record(
        uow,
        cmd.ctx,
        deps.clock.now(),
        "result.approved",
        ("result", code, cmd.site),
        after={
            "status": result.status,
            "reviewer": result.reviewer,
            "approved_at": result.approved_at,
            "mes_status": result.mes_status,
            "analyst_account": result.analyst_account,
            "reviewer_account": result.reviewer_account,
        },
        reason=f"reviewed and approved in the LIMS by {cmd.reviewer}",
    )


def unchanged_since_seen(sample: Sample, result: Result, seen: str | None) -> None:
    """Refuse (Conflict) a signature given on a page that showed other content than the record's."""
    if seen is not None and content_hash(result_content(sample, result)) != seen:
        raise Conflict(
            f"Result {result.code} changed after the page was shown; review it again.",
            reason="result.changed_since_shown",
            field="seen_content",
        )


def approve_result(cmd: ApproveResult, uow: UnitOfWork, deps: Deps) -> str:
    """A reviewer's approval with an e-signature; the reviewer is never the analyst."""
    with uow:
        now = deps.clock.now()
        signer, meaning = check_signature(
            uow, cmd.ctx, cmd.signature, Permission.APPROVE_RESULT, SignedAction.APPROVE_RESULT
        )
        sample = load_sample(uow, cmd.site, sample_of_result(cmd.result))
        result = sample.result(cmd.result)
        unchanged_since_seen(sample, result, cmd.seen_content)
        approve(uow, cmd.ctx, (sample, result), (signer, meaning), now)
        uow.commit()
        return result.code


def approve(
    uow: UnitOfWork,
    ctx: Context,
    found: tuple[Sample, Result],
    signed: tuple[Account, Meaning],
    now: datetime,
) -> None:
    """Approve one result as `signer`, audit it, and sign its own content (the body of one
    approval, and of each in a bulk approval)."""
    (sample, result), (signer, meaning) = found, signed
    before = to_jsonable({"status": result.status, "mes_status": result.mes_status})
    if result.analyst_account is None and result.reported_by is not None:
        # Mapped since the LIMS reported it: resolved now, and the approval records it.
        result.analyst_account = people_of(uow, result.reported_by).get(result.analyst)
    sample.approve_result(result.code, signer.username, now, uow.status_map(now))
    record(
        uow,
        ctx,
        now,
        "result.approved",
        ("result", result.code, sample.site),
        before=before,
        after={
            "status": result.status,
            "reviewer": result.reviewer,
            "approved_at": result.approved_at,
            "mes_status": result.mes_status,
            "analyst_account": result.analyst_account,
            "reviewer_account": result.reviewer_account,
        },
        reason=f"e-signature: {meaning.value}",
    )
    apply_signature(
        uow, ctx, now, signer, meaning, ("result", result.code, sample.site),
        result_content(sample, result),
    )  # fmt: skip


def invalidate_result(cmd: InvalidateResult, uow: UnitOfWork, deps: Deps) -> str:
    """Invalidate a result; people sign, a LIMS account reports what its own users signed."""
    with uow:
        now = deps.clock.now()
        signer = None
        if cmd.ctx.actor_kind == "person":
            if cmd.signature is None:
                raise InvalidInput(
                    "Invalidating a result needs your e-signature.",
                    reason="signature.required",
                    field="signature",
                )
            signer = check_signature(
                uow,
                cmd.ctx,
                cmd.signature,
                Permission.INVALIDATE_RESULT,
                SignedAction.INVALIDATE_RESULT,
            )
        sample = load_sample(uow, cmd.site, sample_of_result(cmd.result))
        result = sample.result(cmd.result)
        unchanged_since_seen(sample, result, cmd.seen_content)
        before = to_jsonable({"status": result.status, "mes_status": result.mes_status})
        sample.invalidate_result(cmd.result, cmd.ctx.actor, cmd.reason, now, uow.status_map(now))
        record(
            uow,
            cmd.ctx,
            now,
            "result.invalidated",
            ("result", result.code, cmd.site),
            before=before,
            after={"status": result.status, "mes_status": result.mes_status},
            reason=cmd.reason,
        )
        if signer is not None:
            apply_signature(
                uow,
                cmd.ctx,
                now,
                signer[0],
                signer[1],
                ("result", result.code, cmd.site),
                result_content(sample, result),
            )
        uow.commit()
        return result.code
