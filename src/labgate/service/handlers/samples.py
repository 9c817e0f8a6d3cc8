"""Sample requests from the MES, registration in the lab, cancellation."""

from __future__ import annotations

from datetime import datetime

from labgate.domain.batches import Batch, SamplingPoint
from labgate.domain.commands import CancelSample, RegisterSample, RequestSample
from labgate.domain.errors import Conflict, NotFound
from labgate.domain.masterdata import (
    AliasSystem,
    Equipment,
    Lot,
    Mapping,
    MethodVersion,
    Product,
    SpecVersion,
    TestDefinition,
    resolve_alias,
    version_in_force,
)
from labgate.domain.samples import PlannedTest, Sample
from labgate.domain.sampling import RELEASE_SET, BoundPlan, plan_at
from labgate.service.deps import Deps
from labgate.service.handlers.common import load_sample, must_get, record
from labgate.service.unit_of_work import UnitOfWork


def request_sample(cmd: RequestSample, uow: UnitOfWork, deps: Deps) -> str:
    """Bind the spec version in force at sampling time, its plan for the sampling point and
    the plan's limit set, and plan the tests (promise 7)."""
    with uow:
        now = deps.clock.now()
        existing = None
        if cmd.mes_request_id is not None:
            existing = uow.records.get(Sample, site=cmd.site, mes_request_id=cmd.mes_request_id)
        if existing is not None:
            # Re-sent request: answer with the sample already made, change nothing.
            record(
                uow,
                cmd.ctx,
                now,
                "sample.request_duplicate",
                ("sample", existing.code, cmd.site),
                reason=f"MES re-sent sample request {cmd.mes_request_id}",
            )
            uow.commit()
            return existing.code
        aliases = uow.aliases(cmd.site)
        product_code = resolve_alias(aliases, AliasSystem.MES, "product", cmd.product, now)
        product = must_get(uow, Product, "product", "product", site=cmd.site, code=product_code)
        versions = uow.records.find(SpecVersion, site=cmd.site, specification=product.specification)
        spec = version_in_force(versions, cmd.sampled_at)
        if spec is None:
            raise Conflict(
                f"No version of specification {product.specification} is in force on "
                f"{cmd.sampled_at.isoformat()}; a sample cannot be bound to it.",
                reason="spec.none_in_force",
                field="sampled_at",
            )
        point = _check_context(uow, cmd)
        characteristics = [
            resolve_alias(aliases, AliasSystem.MES, "characteristic", c, now)
            for c in cmd.characteristics
        ]
        bound = plan_at(spec, point)
        tests = _plan(uow, cmd, spec, bound, characteristics, now)
        number = uow.next_number(f"sample:{cmd.site}")
        sample = Sample(
            site=cmd.site,
            code=f"S-{number:06d}",
            product=product.code,
            specification=spec.specification,
            spec_version=spec.version,
            sampled_at=cmd.sampled_at,
            requested_by=cmd.ctx.actor,
            mes_request_id=cmd.mes_request_id,
            batch=cmd.batch,
            lot=cmd.lot,
            equipment=cmd.equipment,
            sampling_point=cmd.sampling_point,
            container=cmd.container,
            trended=point is not None and point.trended,
            limit_set=bound.limit_set,
            tests=tests,
        )
        uow.records.add(sample)
        uow.track(sample).announce(now)
        if cmd.register_now:
            sample.register(None, now)
        record(
            uow,
            cmd.ctx,
            now,
            "sample.requested",
            ("sample", sample.code, cmd.site),
            after=sample,
            reason=_why(cmd),
        )
        uow.commit()
        return sample.code


def _why(cmd: RequestSample) -> str:
    if cmd.mes_request_id is None:
        return "registered in the native lab"
    return f"MES sample request {cmd.mes_request_id}"


def _check_context(uow: UnitOfWork, cmd: RequestSample) -> SamplingPoint | None:
    """Batch, lot and sampling point named in a request must exist and fit together; the
    sampling point, if any."""
    batch = None
    if cmd.batch is not None:
        batch = must_get(uow, Batch, "batch", "batch", site=cmd.site, code=cmd.batch)
    if cmd.equipment is not None:
        must_get(uow, Equipment, "equipment", "equipment", site=cmd.site, code=cmd.equipment)
    if cmd.lot is not None and not uow.records.find(Lot, site=cmd.site, code=cmd.lot):
        raise NotFound(f"No lot {cmd.lot} in site {cmd.site}.", reason="lot.unknown", field="lot")
    if cmd.sampling_point is not None:
        point = must_get(
            uow,
            SamplingPoint,
            "sampling_point",
            "sampling_point",
            site=cmd.site,
            code=cmd.sampling_point,
        )
        if batch is not None and point.procedure != batch.procedure:
            raise Conflict(
                f"Sampling point {point.code} belongs to procedure {point.procedure}, but batch "
                f"{batch.code} runs {batch.procedure}.",
                reason="sampling_point.not_in_procedure",
                field="sampling_point",
            )
        return point
    return None


def _plan(
    uow: UnitOfWork,
    cmd: RequestSample,
    spec: SpecVersion,
    bound: BoundPlan,
    characteristics: list[str],
    now: datetime,
) -> list[PlannedTest]:
    """The plan's tests, or those of them the MES named by characteristic; the characteristic
    mappings at this sampling point in force now say which characteristic each result posts
    to (a retired one binds no new sample; those bound before keep it)."""
    here = [
        m
        for m in uow.records.find(Mapping, site=cmd.site)
        if m.sampling_point in (None, cmd.sampling_point)
    ]
    mappings = [m for m in here if m.in_force_at(now)]
    chosen: list[tuple[str, str | None]]
    if characteristics:
        retired = [m for m in here if not m.in_force_at(now)]
        chosen = [_named(cmd, bound, mappings, code, retired) for code in characteristics]
    else:
        # A mapping at this very point wins over one that holds everywhere.
        by_test = {m.test_code: m.characteristic for m in mappings if m.sampling_point is None}
        by_test |= {m.test_code: m.characteristic for m in mappings if m.sampling_point}
        chosen = [(test, by_test.get(test)) for test in bound.tests]
    return [
        planned_test(uow, cmd.site, spec, cmd.sampled_at, test, char, bound.limit_set)
        for test, char in chosen
    ]


def _named(
    cmd: RequestSample,
    bound: BoundPlan,
    mappings: list[Mapping],
    code: str,
    retired: list[Mapping],
) -> tuple[str, str]:
    """The planned test a characteristic the MES named stands for."""
    where = cmd.sampling_point or "this sampling point"
    match = next((m for m in mappings if m.characteristic == code), None)
    gone = next((m for m in retired if m.characteristic == code), None)
    if match is None and gone is not None and gone.retired_from is not None:
        raise Conflict(
            f"Characteristic {code}'s mapping to test {gone.test_code} at {where} was retired "
            f"by change request {gone.retired_by} from {gone.retired_from.isoformat()}; no "
            "sample requested since binds it. Name a characteristic mapped now.",
            reason="mapping.retired",
            field="characteristics",
        )
    if match is None:
        raise NotFound(
            f"Characteristic {code} has no mapping to a test code at {where}.",
            reason="mapping.unknown",
            field="characteristics",
        )
    if match.test_code not in bound.tests:
        raise Conflict(
            f"Characteristic {code} maps to test {match.test_code}, which the sampling plan at "
            f"{where} does not plan (it plans {', '.join(bound.tests)} under limit set "
            f"{bound.limit_set!r}).",
            reason="sampling_plan.test_not_planned",
            field="characteristics",
        )
    return match.test_code, code


def planned_test(
    uow: UnitOfWork,
    site: str,
    spec: SpecVersion,
    sampled_at: datetime,
    test_code: str,
    characteristic: str | None,
    limit_set: str = RELEASE_SET,
) -> PlannedTest:
    """A test of the spec version, bound with its method version (not one deprecated by
    `sampled_at`), its limits in `limit_set` and its rounding."""
    test = must_get(uow, TestDefinition, "test", "test_code", site=site, code=test_code)
    method = must_get(
        uow,
        MethodVersion,
        "method_version",
        "method_version",
        site=site,
        method=test.method,
        version=test.current_method_version,
    )
    method.check_bindable(sampled_at, test.code)
    line = spec.limit_for(test_code, limit_set)
    line.rule()  # a limit that cannot be parsed is refused now, not when the result arrives
    return PlannedTest(
        test_code=test.code,
        method=test.method,
        method_version=method.version,
        limit=line.limit,
        alert=line.alert,
        action=line.action,
        unit=test.unit,
        rounding_rule=method.rounding_rule,
        sig_figs=method.sig_figs,
        characteristic=characteristic,
    )


def register_sample(cmd: RegisterSample, uow: UnitOfWork, deps: Deps) -> str:
    """The lab has the sample: its ids go back to the MES."""
    with uow:
        now, sample = deps.clock.now(), load_sample(uow, cmd.site, cmd.sample)
        before = sample.status
        sample.register(cmd.lims_sample_id, now)
        record(
            uow,
            cmd.ctx,
            now,
            "sample.registered",
            ("sample", sample.code, cmd.site),
            before={"status": before},
            after={"status": sample.status, "lims_sample_id": sample.lims_sample_id},
            reason="received and registered in the lab",
        )
        uow.commit()
        return sample.code


def cancel_sample(cmd: CancelSample, uow: UnitOfWork, deps: Deps) -> str:
    """Cancel a sample with a reason; nothing is deleted."""
    with uow:
        now, sample = deps.clock.now(), load_sample(uow, cmd.site, cmd.sample)
        before = sample.status
        sample.cancel(cmd.reason, now)
        record(
            uow,
            cmd.ctx,
            now,
            "sample.cancelled",
            ("sample", sample.code, cmd.site),
            before={"status": before},
            after={"status": sample.status},
            reason=cmd.reason,
        )
        uow.commit()
        return sample.code
