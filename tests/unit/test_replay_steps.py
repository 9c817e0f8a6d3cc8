"""The pure replay of one result (service/replay): recorded by the domain, replayed by the same
code, identical; each stage changed on the record afterwards is the step named."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from fakes import TableUnits
from labgate.domain.lifecycle import SampleStatus
from labgate.domain.masterdata import LimitLine, MethodVersion, SpecVersion
from labgate.domain.numbers import RoundingRule
from labgate.domain.samples import NewResult, PlannedTest, Sample
from labgate.domain.status_map import MesStatus, StatusMap
from labgate.service.replay.records import Rules, Versions
from labgate.service.replay.result import replay_result

AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
UNITS = TableUnits({("mg/g", "%"): "0.1"})
ASSAY = PlannedTest("ASSAY", "M", "1", "98.0-102.0", "%", RoundingRule.USP, alert="99.0-101.0")
SPEC = SpecVersion("S1", "SPEC", 1, "qa", limits=[LimitLine("ASSAY", "98.0-102.0", "99.0-101.0")])
METHOD = MethodVersion("S1", "M", "1", RoundingRule.USP)


def recorded(value: str = "996.4", unit: str = "mg/g") -> Sample:
    sample = Sample("S1", "S-1", "P1", "SPEC", 1, AT, "mes", tests=[replace(ASSAY)])
    sample.status = SampleStatus.REGISTERED
    new = NewResult("S-1-R1", "ASSAY", value, unit, "1", "ana")
    sample.record_result(new, AT, UNITS, StatusMap())
    return sample


def replayed(sample: Sample, spec: SpecVersion = SPEC) -> list[str]:
    versions = Versions({("SPEC", 1): spec}, {("M", "1"): METHOD})
    steps = replay_result(sample, "S-1-R1", versions, UNITS, Rules({0: StatusMap()}, {})).steps
    assert [s.name for s in steps] == [
        "binding", "conversion", "rounding", "evaluation", "mes_status"
    ]  # fmt: skip
    return [s.name for s in steps if not s.identical]


def test_a_result_replays_identically_through_the_code_that_recorded_it() -> None:
    assert replayed(recorded()) == []


@pytest.mark.parametrize(
    ("field", "value", "step"),
    [
        ("canonical_value", Decimal("99.65"), "conversion"),
        ("conversion_factor", Decimal("0.01"), "conversion"),
        ("reported_value", Decimal("99.7"), "rounding"),
        ("conforms", False, "evaluation"),
        ("band", "alert", "evaluation"),
        ("mes_status", MesStatus.REJECTED, "mes_status"),
    ],
)
def test_a_stage_changed_on_the_record_is_the_step_named(
    field: str, value: object, step: str
) -> None:
    sample = recorded()
    setattr(sample.results[0], field, value)
    assert replayed(sample) == [step]


def test_a_limit_changed_in_the_spec_version_shows_in_the_binding_and_the_evaluation() -> None:
    tightened = replace(SPEC, limits=[LimitLine("ASSAY", "99.8-102.0", "99.0-101.0")])
    assert replayed(recorded("996.4"), tightened) == ["binding", "evaluation"]


def test_a_spec_version_no_longer_stored_makes_every_step_differ_and_say_why() -> None:
    versions = Versions({}, {("M", "1"): METHOD})
    found = replay_result(recorded(), "S-1-R1", versions, UNITS, Rules({0: StatusMap()}, {}))
    assert all(not s.identical for s in found.steps)
    assert found.steps[0].recomputed["error"] == "spec.unknown"
