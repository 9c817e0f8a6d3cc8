"""One result replayed: its binding, conversion, rounding, evaluation and MES status recomputed
from the raw value as reported and the versions its sample was bound to, by the domain code the
live path runs (samples.derive, StatusMap.mes_status); nothing here re-implements a rule."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from labgate.domain.errors import LabgateError, NotFound
from labgate.domain.samples import PlannedTest, Result, Sample, derive
from labgate.domain.status_map import StatusMap
from labgate.domain.units import UnitConverter
from labgate.service.replay.records import StatusMaps, Versions
from labgate.service.replay.steps import Step, step

# The stages of a result's decision, and the fields of the record each one derives.
STAGES: dict[str, tuple[str, ...]] = {
    "conversion": ("canonical_unit", "conversion_factor", "canonical_value"),
    "rounding": ("reported_value", "compared_value", "rounding"),
    "evaluation": ("conforms", "band", "limit_set"),
    "mes_status": ("mes_status",),
}
# What a sample copies onto a planned test from its spec and method versions when it is taken
# (promise 7): the binding step checks the copy still says what those versions say.
BOUND = ("limit", "alert", "action", "rounding_rule", "sig_figs")


@dataclass(frozen=True)
class ResultReplay:
    """A result's steps, and the result as recomputed (None: it could not be recomputed)."""

    steps: list[Step]
    recomputed: Result | None


def replay_result(
    sample: Sample, code: str, versions: Versions, units: UnitConverter, rules: StatusMaps
) -> ResultReplay:
    """Recompute result `code` of `sample` stage by stage and compare each with the record,
    under the status map it was decided under."""
    stored = sample.result(code)
    planned = sample.test(stored.test_code)
    subject = f"result {code}"
    bound = None
    try:
        status_map = rules.status_map_of(stored.status_map_version)
        bound = rebind(sample, planned, versions)
        recomputed = recompute(sample, stored, bound, units, status_map)
    except LabgateError as error:
        return _unreplayable(subject, stored, planned, bound, error)
    steps = [_binding(subject, planned, _fields(bound, BOUND))]
    steps += [
        step(subject, stage, _fields(stored, names), _fields(recomputed, names))
        for stage, names in STAGES.items()
    ]
    return ResultReplay(steps, recomputed)


def rebind(sample: Sample, planned: PlannedTest, versions: Versions) -> PlannedTest:
    """The planned test as its sample's spec version and its method version say it is bound."""
    spec = versions.specs.get((sample.specification, sample.spec_version))
    if spec is None:
        raise NotFound(f"Specification version {sample.spec_ref} is not stored.",
                       reason="spec.unknown", field="spec_version")  # fmt: skip
    method = versions.methods.get((planned.method, planned.method_version))
    if method is None:
        raise NotFound(
            f"Method {planned.method} version {planned.method_version} is not stored.",
            reason="method_version.unknown",
            field="method_version",
        )
    line = spec.limit_for(planned.test_code, sample.limit_set)
    return replace(
        planned,
        limit=line.limit,
        alert=line.alert,
        action=line.action,
        rounding_rule=method.rounding_rule,
        sig_figs=method.sig_figs,
    )


def recompute(
    sample: Sample, stored: Result, bound: PlannedTest, units: UnitConverter, status_map: StatusMap
) -> Result:
    """A fresh result from what was reported (value, unit, status), derived as the live path
    derives it; the stored result is not touched."""
    fresh = Result(
        code=stored.code,
        test_code=stored.test_code,
        raw_value=stored.raw_value,
        raw_unit=stored.raw_unit,
        resolved_unit=stored.resolved_unit,
        method=stored.method,
        method_version=stored.method_version,
        analyst=stored.analyst,
        entered_at=stored.entered_at,
        limit_set=f"{sample.limits_ref}: {bound.limit_rule().limit.expression()}",
        status=stored.status,
    )
    derive(fresh, bound, units)
    fresh.mes_status = status_map.mes_status(fresh.status, fresh.conforms)
    return fresh


def _binding(subject: str, planned: PlannedTest, recomputed: dict[str, Any]) -> Step:
    return step(subject, "binding", _fields(planned, BOUND), recomputed)


def _unreplayable(
    subject: str,
    stored: Result,
    planned: PlannedTest,
    bound: PlannedTest | None,
    error: LabgateError,
) -> ResultReplay:
    """A result whose versions or values no longer replay: each stage that could not be
    recomputed differs, and says why."""
    said = {"error": error.reason, "message": error.message}
    steps = [_binding(subject, planned, said if bound is None else _fields(bound, BOUND))]
    steps += [step(subject, name, _fields(stored, names), said) for name, names in STAGES.items()]
    return ResultReplay(steps, None)


def _fields(record: object, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(record, name) for name in names}
