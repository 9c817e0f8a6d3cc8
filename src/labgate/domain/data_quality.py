"""Data-quality controls: rules over master data and interfaced records, each measured by the
store as a count of failing records, judged here against its threshold (pure: no I/O).

The rules and their thresholds are data in this module, not settings: they are part of the
validated configuration (the same at every site, listed by the API, changed under change
control with the code). The time windows the timeliness rules count from depend on how a plant
runs, so they are settings (LABGATE_DQ_*_HOURS / _MINUTES) and travel in `DqWindows`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from labgate.domain.deviations import DATA_QUALITY, Deviation

MAX_EXAMPLES = 20  # record keys kept per rule and run: enough to start, never the whole table


class Dimension(StrEnum):
    """What kind of quality a rule looks at (DAMA's dimensions)."""

    COMPLETENESS = "completeness"
    VALIDITY = "validity"
    UNIQUENESS = "uniqueness"
    TIMELINESS = "timeliness"
    CONSISTENCY = "consistency"


class Severity(StrEnum):
    """How much a breach matters to product quality or the interface."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"


class DqStatus(StrEnum):
    """A rule's verdict in one run."""

    PASS = "pass"
    BREACH = "breach"


@dataclass(frozen=True)
class DqRule:
    """One control: failing records counted by the store's query `id`, allowed up to
    `max_failing` records and (when set) `max_percent` of the records it looks at."""

    id: str
    dimension: Dimension
    title: str
    checks: str
    severity: Severity
    record_kind: str  # what the examples name: a console page exists for some
    max_failing: int = 0
    max_percent: Decimal | None = None

    @property
    def threshold(self) -> str:
        """The threshold in words."""
        count = f"at most {self.max_failing} failing"
        return count if self.max_percent is None else f"{count} and {self.max_percent} %"


@dataclass(frozen=True)
class DqWindows:
    """How old a record may grow before the timeliness rules count it (from settings)."""

    register_hours: int = 24
    preliminary_hours: int = 72
    inbox_hold_seconds: int = 600
    outbox_minutes: int = 60


@dataclass(frozen=True)
class Measure:
    """What the store found for one rule: failing records, records looked at, a few keys."""

    failing: int
    population: int
    examples: tuple[str, ...] = ()


D, S = Dimension, Severity
RULES: tuple[DqRule, ...] = (
    DqRule("DQ-COMPLETE-001", D.COMPLETENESS, "Products without a specification in force",
           "Each product names a specification with an effective version in force now.",
           S.CRITICAL, "product"),
    DqRule("DQ-COMPLETE-002", D.COMPLETENESS, "Numeric tests without a unit",
           "Each test definition with numeric values has a unit.", S.MAJOR, "test"),
    DqRule("DQ-COMPLETE-003", D.COMPLETENESS, "Sampling points without a sampling plan",
           "Each sampling point of a procedure other than a release point (which gets the "
           "whole release panel) has a sampling plan in a specification version of the "
           "procedure's product in force now: requests there are refused otherwise.",
           S.MAJOR, "sampling_point"),
    DqRule("DQ-VALID-001", D.VALIDITY, "Limit lines that do not parse",
           "Each limit, alert and action expression of a specification version not retired "
           "parses as a limit.", S.CRITICAL, "limit_line"),
    DqRule("DQ-VALID-002", D.VALIDITY, "Aliases pointing to unknown codes",
           "Each alias names a product, test, unit or characteristic that exists.",
           S.MAJOR, "alias"),
    DqRule("DQ-UNIQUE-001", D.UNIQUENESS, "Mappings that cross-post a result",
           "No test is mapped to two characteristics in overlapping sampling-point context "
           "(no context overlaps every context): a result would post to both.",
           S.CRITICAL, "mapping"),
    DqRule("DQ-UNIQUE-002", D.UNIQUENESS, "Duplicate alias codes per system",
           "No two aliases of one system and kind have the same external code, ignoring case "
           "and surrounding spaces.", S.MAJOR, "alias"),
    DqRule("DQ-TIMELY-001", D.TIMELINESS, "Samples requested and never registered",
           "Each sample requested by the MES is registered by the lab within "
           "LABGATE_DQ_REGISTER_HOURS of being taken.", S.MAJOR, "sample"),
    DqRule("DQ-TIMELY-002", D.TIMELINESS, "Results Preliminary for too long",
           "Each Preliminary result is reviewed within LABGATE_DQ_PRELIMINARY_HOURS of entry.",
           S.MINOR, "result", max_failing=0, max_percent=Decimal("5")),
    DqRule("DQ-TIMELY-003", D.TIMELINESS, "Messages held in the inbox too long",
           "No message waits ahead of a sequence gap longer than LABGATE_HOLD_TIMEOUT_SECONDS.",
           S.MAJOR, "inbox_message"),
    DqRule("DQ-TIMELY-004", D.TIMELINESS, "Outbox messages undelivered",
           "Each message owed to the MES or LIMS is delivered within "
           "LABGATE_DQ_OUTBOX_MINUTES of its commit.", S.CRITICAL, "outbox_message"),
    DqRule("DQ-CONSIST-001", D.CONSISTENCY, "Results whose MES status disagrees with the map",
           "Each result's MES status is what the status map gives for its lab status and "
           "evaluation.", S.CRITICAL, "result"),
    DqRule("DQ-CONSIST-002", D.CONSISTENCY, "Gate entries disagreeing with their samples",
           "Each IPC gate entry names an existing sample of the same batch and sampling point, "
           "cancelled exactly when the sample is.", S.CRITICAL, "sample"),
)  # fmt: skip
BY_ID = {rule.id: rule for rule in RULES}


@dataclass(frozen=True)
class Verdict:
    """A rule judged on its measure."""

    rule: DqRule
    measure: Measure
    status: DqStatus

    @property
    def percent(self) -> Decimal:
        """Failing records as a percentage of those looked at (0 when there were none)."""
        if not self.measure.population:
            return Decimal(0)
        share = Decimal(self.measure.failing) * 100 / Decimal(self.measure.population)
        return share.quantize(Decimal("0.01"))


def judge(rule: DqRule, measure: Measure) -> Verdict:
    """Breach when more records fail than the count allows, and (if set) more than the
    percentage: a percentage threshold tolerates a few failing records in a large population."""
    over_count = measure.failing > rule.max_failing
    verdict = Verdict(rule, measure, DqStatus.PASS)
    over_percent = rule.max_percent is None or verdict.percent > rule.max_percent
    status = DqStatus.BREACH if over_count and over_percent else DqStatus.PASS
    return Verdict(rule, measure, status)


@dataclass
class DqRuleResult:
    """One rule's line in a run: what was measured, against what, and the deviation it is
    noted on while in breach."""

    run_id: int
    rule: str
    dimension: str
    severity: str
    measured: int
    population: int
    threshold: str
    status: DqStatus
    examples: list[str]
    deviation: str | None = None
    id: int | None = None


@dataclass
class DqRun:
    """One evaluation of every rule at one site: when, by whom (a person, or the scheduler)."""

    site: str
    started_at: datetime
    started_by: str
    trigger: str  # "cli", "api", "schedule"
    rules: int = 0
    breaches: int = 0
    id: int | None = None


def result_line(run_id: int, verdict: Verdict) -> DqRuleResult:
    """The line kept for a verdict."""
    rule, measure = verdict.rule, verdict.measure
    return DqRuleResult(run_id, rule.id, rule.dimension.value, rule.severity.value,
                        measure.failing, measure.population, rule.threshold, verdict.status,
                        list(measure.examples[:MAX_EXAMPLES]))  # fmt: skip


def breach_reason(verdict: Verdict) -> str:
    """What a breach says, in the deviation and the audit trail."""
    rule, measure = verdict.rule, verdict.measure
    shown = ", ".join(measure.examples[:5]) or "none listed"
    return (f"Data-quality breach {rule.id} ({rule.dimension.value}, {rule.severity.value}): "
            f"{rule.title}: {measure.failing} of {measure.population} failing, allowed "
            f"{rule.threshold}; e.g. {shown}")  # fmt: skip


def open_dq_deviation(number: int, site: str, verdict: Verdict, by: str, at: datetime) -> Deviation:
    """The deviation a rule's breach opens: kind data_quality, the rule in place of a sample,
    the dimension in place of a test, the starter of the run as its 'analyst' (so they cannot
    conclude or close it). Closing it needs a CAPA reference (Deviation.close)."""
    code = f"DEV-{number:06d}"
    return Deviation(site=site, code=code, kind=DATA_QUALITY, sample=verdict.rule.id,
                     result=f"{verdict.rule.id}/{code}", test_code=verdict.rule.dimension.value,
                     analyst=by, batch=None, lot=None, opened_at=at, opened_by=by,
                     reason=breach_reason(verdict))  # fmt: skip
