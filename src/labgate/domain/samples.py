"""The sample aggregate: planned tests bound at sampling time, results and their reviews."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from labgate.domain import events
from labgate.domain.errors import (
    Conflict,
    InvalidInput,
    MethodVersionMismatch,
    NotFound,
    SegregationOfDuties,
)
from labgate.domain.lifecycle import (
    RESULT_LIFECYCLE,
    SAMPLE_LIFECYCLE,
    TEST_LIFECYCLE,
    ResultStatus,
    SampleStatus,
    TestStatus,
)
from labgate.domain.limits import Evaluation, LimitRule, evaluate, parse_limit
from labgate.domain.numbers import RoundingPolicy, RoundingRule, exact_product, parse_decimal
from labgate.domain.reasons import require_reason
from labgate.domain.sampling import RELEASE_SET
from labgate.domain.status_map import MesStatus, StatusMap, sample_mes_status
from labgate.domain.units import UnitConverter


@dataclass
class PlannedTest:
    """A test planned on a sample, with everything bound when the sample was taken (promise 7)."""

    __test__ = False  # not a pytest class, despite the name

    test_code: str
    method: str
    method_version: str
    limit: str
    unit: str | None
    rounding_rule: RoundingRule
    sig_figs: int | None = None
    alert: str | None = None
    action: str | None = None
    characteristic: str | None = None
    status: TestStatus = TestStatus.PLANNED

    def limit_rule(self) -> LimitRule:
        """The bound limits, parsed."""
        return _limit_rule(self.test_code, self.limit, self.alert, self.action)

    def move(self, sample: str, target: TestStatus) -> None:
        """Move through the test lifecycle."""
        TEST_LIFECYCLE.check(f"{sample}/{self.test_code}", self.status, target)
        self.status = target


@functools.lru_cache(maxsize=4096)
def _limit_rule(test_code: str, limit: str, alert: str | None, action: str | None) -> LimitRule:
    # Parsed once per distinct line: a run of results applies the same few lines again and
    # again, and rules are immutable.
    alert_limit = parse_limit(alert) if alert else None
    action_limit = parse_limit(action) if action else None
    return LimitRule(test_code, parse_limit(limit), alert_limit, action_limit)


@dataclass
class Result:
    """One reported result: the raw value as reported, and every value labgate derived from it."""

    code: str
    test_code: str
    raw_value: str
    raw_unit: str | None
    method: str
    method_version: str
    analyst: str
    entered_at: datetime
    limit_set: str
    status: ResultStatus = ResultStatus.PRELIMINARY
    # The dictionary unit the raw unit resolved to (through an alias, or itself) and was
    # converted from; raw_unit stays as the sender wrote it.
    resolved_unit: str | None = None
    canonical_value: Decimal | None = None
    canonical_unit: str | None = None
    conversion_factor: Decimal | None = None
    reported_value: Decimal | None = None
    compared_value: Decimal | None = None
    rounding: str | None = None
    conforms: bool | None = None
    band: str | None = None
    mes_status: MesStatus = MesStatus.PENDING
    reviewer: str | None = None
    approved_at: datetime | None = None
    supersedes: str | None = None
    superseded_by: str | None = None
    invalidated_by: str | None = None
    invalidated_at: datetime | None = None
    invalidation_reason: str | None = None
    # Who the analyst and reviewer are as labgate accounts (segregation of duties is decided on
    # these); `analyst` and `reviewer` stay as reported. `reported_by`: the system account that
    # sent the result, None when a person entered it here.
    reported_by: str | None = None
    analyst_account: str | None = None
    reviewer_account: str | None = None
    # The status map its MES status was decided under (0: the one installed with the hub):
    # a replay recomputes it with that map, whatever is in force since.
    status_map_version: int = 0

    @property
    def active(self) -> bool:
        """Not invalidated: the result that currently speaks for its test."""
        return self.status is not ResultStatus.INVALIDATED

    def apply(self, evaluation: Evaluation) -> None:
        """Record what the evaluation derived."""
        self.reported_value = evaluation.reported
        self.compared_value = evaluation.compared
        self.rounding = evaluation.rounding
        self.conforms = evaluation.conforms
        self.band = evaluation.band.value


@dataclass
class NewResult:
    """What a lab reports for one test."""

    code: str
    test_code: str
    raw_value: str
    unit: str | None
    method_version: str
    analyst: str
    retest_of: str | None = None
    # The unit as the sender wrote it, when `unit` is our code for it (an alias); None: as is.
    unit_as_sent: str | None = None
    reported_by: str | None = None  # a partner system; None: a person entered it here
    analyst_account: str | None = None  # the partner's analyst, as resolved (None: unmapped)


@dataclass
class Sample:
    """A sample: its context, its bound spec version, its planned tests and results."""

    site: str
    code: str
    product: str
    specification: str
    spec_version: int
    sampled_at: datetime
    requested_by: str
    mes_request_id: str | None = None
    batch: str | None = None
    lot: str | None = None
    equipment: str | None = None
    sampling_point: str | None = None
    container: str | None = None
    lims_sample_id: str | None = None
    status: SampleStatus = SampleStatus.REQUESTED
    cancel_reason: str | None = None
    # Set when the sample is made, so approving its results decides OOT checks without a query:
    # the stability study it was pulled for; whether its sampling point is trended.
    stability_study: str | None = None
    trended: bool = False
    # The limit set of the bound spec version its tests are judged by (domain/sampling.py).
    limit_set: str = RELEASE_SET
    tests: list[PlannedTest] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    events: list[events.Event] = field(default_factory=list, compare=False, repr=False)

    @property
    def spec_ref(self) -> str:
        """The bound specification version, as shown on results."""
        return f"{self.specification} v{self.spec_version}"

    @property
    def limits_ref(self) -> str:
        """The bound limit set: the spec version, and the set's name unless it is release."""
        if self.limit_set == RELEASE_SET:
            return self.spec_ref
        return f"{self.spec_ref} [{self.limit_set}]"

    def move(self, target: SampleStatus) -> None:
        """Move through the sample lifecycle."""
        SAMPLE_LIFECYCLE.check(self.code, self.status, target)
        self.status = target

    def test(self, test_code: str) -> PlannedTest:
        """The planned test for a test code, or NotFound."""
        for planned in self.tests:
            if planned.test_code == test_code:
                return planned
        raise NotFound(
            f"Sample {self.code} has no planned test {test_code}; planned: "
            f"{', '.join(t.test_code for t in self.tests) or 'none'}.",
            reason="result.test_not_planned",
            field="test_code",
        )

    def result(self, code: str) -> Result:
        """A result of this sample by its code, or NotFound."""
        for result in self.results:
            if result.code == code:
                return result
        raise NotFound(
            f"Sample {self.code} has no result {code}.", reason="result.unknown", field="result"
        )

    def active_result(self, test_code: str) -> Result | None:
        """The result that currently speaks for a test, if any."""
        return next((r for r in self.results if r.test_code == test_code and r.active), None)

    def announce(self, at: datetime) -> None:
        """A new sample, its spec and tests bound: raise SampleRequested (once, when made)."""
        self.events.append(events.SampleRequested(self.site, self.code, at))

    def note_hold(self, deviation: str, result: str, reason: str, at: datetime, on: bool) -> None:
        """A deviation on one of its results holds this sample's batch or lot (`on`), or the last
        one on it ended: the MES hears it through the sample."""
        held = events.BatchHeld if on else events.BatchHoldLifted
        self.events.append(held(self.site, self.code, at, deviation, result, reason))

    def register(self, lims_sample_id: str | None, at: datetime) -> None:
        """The lab has the sample: record its id in the lab."""
        self.move(SampleStatus.REGISTERED)
        self.lims_sample_id = lims_sample_id
        self.events.append(events.SampleRegistered(self.site, self.code, at))

    def cancel(self, reason: str, at: datetime) -> None:
        """Cancel the sample and its open tests; nothing is deleted."""
        reason = require_reason(reason, what="A cancellation")
        self.move(SampleStatus.CANCELLED)
        self.cancel_reason = reason
        for planned in self.tests:
            if planned.status is not TestStatus.COMPLETED:
                planned.status = TestStatus.CANCELLED
        self.events.append(events.SampleCancelled(self.site, self.code, at, reason))

    def record_result(
        self, new: NewResult, at: datetime, units: UnitConverter, status_map: StatusMap
    ) -> Result:
        """Take a preliminary result: convert, round and evaluate it against the bound limits."""
        self._require_open_for_results()
        planned = self.test(new.test_code)
        if new.method_version != planned.method_version:
            raise MethodVersionMismatch(
                f"Test {planned.test_code} on {self.code} is planned under {planned.method} "
                f"version {planned.method_version}; a result under version {new.method_version} "
                "is refused (no silent upgrades).",
                field="method_version",
            )
        previous = self._check_retest(new)
        result = Result(
            code=new.code,
            test_code=new.test_code,
            raw_value=new.raw_value,
            raw_unit=new.unit if new.unit_as_sent is None else new.unit_as_sent,
            resolved_unit=new.unit,
            method=planned.method,
            method_version=new.method_version,
            analyst=new.analyst,
            entered_at=at,
            limit_set=f"{self.limits_ref}: {planned.limit_rule().limit.expression()}",
            reported_by=new.reported_by,
            analyst_account=new.analyst if new.reported_by is None else new.analyst_account,
        )
        derive(result, planned, units)
        result.mes_status = status_map.mes_status(result.status, result.conforms)
        result.status_map_version = status_map.version
        if previous is not None:
            result.supersedes, previous.superseded_by = previous.code, result.code
        self.results.append(result)
        if planned.status is not TestStatus.IN_PROGRESS:  # a retest finds it in progress
            planned.move(self.code, TestStatus.IN_PROGRESS)
        if self.status is not SampleStatus.IN_TESTING:
            self.move(SampleStatus.IN_TESTING)
        self.events.append(events.ResultRecorded(self.site, self.code, at, result.code))
        return result

    def approve_result(
        self,
        code: str,
        reviewer: str,
        at: datetime,
        status_map: StatusMap,
        reviewer_account: str | None = None,
    ) -> Result:
        """The reviewer's approval: only now may the MES act (promise 4). `reviewer` as shown
        (a partner's id, or the signer's user id), `reviewer_account` the account it is."""
        result = self.result(code)
        account = reviewer_account or reviewer
        if result.analyst_account is None:
            raise Conflict(
                f"Result {code} names analyst {result.analyst!r}, whom {result.reported_by} "
                "knows but labgate does not: map that id to a labgate account in the identity "
                "map before the result can be approved.",
                reason="identity.unmapped",
                field="analyst",
            )
        if account == result.analyst_account:
            raise SegregationOfDuties(
                f"{account} entered result {code} and cannot also review it.",
                reason="result.reviewer_is_analyst",
                field="reviewer",
            )
        RESULT_LIFECYCLE.check(code, result.status, ResultStatus.APPROVED)
        result.status, result.reviewer, result.approved_at = ResultStatus.APPROVED, reviewer, at
        result.reviewer_account = account
        result.mes_status = status_map.mes_status(result.status, result.conforms)
        result.status_map_version = status_map.version
        self.test(result.test_code).move(self.code, TestStatus.COMPLETED)
        if all(t.status in (TestStatus.COMPLETED, TestStatus.CANCELLED) for t in self.tests):
            self.move(SampleStatus.COMPLETED)
        self.events.append(events.ResultApproved(self.site, self.code, at, code))
        return result

    def invalidate_result(
        self, code: str, by: str, reason: str, at: datetime, status_map: StatusMap
    ) -> Result:
        """Invalidate a result; it stays on record and waits for the retest that supersedes it."""
        reason = require_reason(reason, what="An invalidation")
        result = self.result(code)
        RESULT_LIFECYCLE.check(code, result.status, ResultStatus.INVALIDATED)
        result.status = ResultStatus.INVALIDATED
        result.invalidated_by, result.invalidated_at, result.invalidation_reason = by, at, reason
        result.mes_status = status_map.mes_status(result.status, result.conforms)
        result.status_map_version = status_map.version
        planned = self.test(result.test_code)
        if planned.status is TestStatus.COMPLETED:
            planned.move(self.code, TestStatus.IN_PROGRESS)
        if self.status is SampleStatus.COMPLETED:
            self.move(SampleStatus.IN_TESTING)
        self.events.append(events.ResultInvalidated(self.site, self.code, at, code, reason))
        return result

    @property
    def mes_status(self) -> MesStatus:
        """Cancelled when cancelled (the status map's sample rules); otherwise Rejected if any
        active result is, Accepted when every open test's result is."""
        return sample_mes_status(self.status, self._mes_status_of_results())

    def _mes_status_of_results(self) -> MesStatus:
        open_tests = [t for t in self.tests if t.status is not TestStatus.CANCELLED]
        statuses = [self.active_result(t.test_code) for t in open_tests]
        if any(r is not None and r.mes_status is MesStatus.REJECTED for r in statuses):
            return MesStatus.REJECTED
        if open_tests and all(
            r is not None and r.mes_status is MesStatus.ACCEPTED for r in statuses
        ):
            return MesStatus.ACCEPTED
        return MesStatus.PENDING

    def _require_open_for_results(self) -> None:
        if self.status is SampleStatus.CANCELLED:
            raise Conflict(
                f"Sample {self.code} was cancelled ({self.cancel_reason}); it takes no results.",
                reason="sample.cancelled",
                field="sample",
            )
        if self.status is SampleStatus.REQUESTED:
            raise Conflict(
                f"Sample {self.code} is not registered in the lab yet; register it first.",
                reason="sample.not_registered",
                field="sample",
            )

    def _check_retest(self, new: NewResult) -> Result | None:
        active = self.active_result(new.test_code)
        if active is not None:
            raise Conflict(
                f"Test {new.test_code} on {self.code} already has result {active.code} "
                f"({active.status.value}); invalidate it first, then report the retest "
                "with retest_of.",
                reason="result.already_reported",
                field="test_code",
            )
        if new.retest_of is None:
            return None
        previous = self.result(new.retest_of)
        if previous.test_code != new.test_code or previous.superseded_by is not None:
            raise Conflict(
                f"Result {previous.code} cannot be retested by a {new.test_code} result: it is "
                f"for {previous.test_code} or already superseded.",
                reason="result.bad_retest",
                field="retest_of",
            )
        return previous


def derive(result: Result, planned: PlannedTest, units: UnitConverter) -> None:
    """Convert to the canonical unit (factor recorded), round and evaluate."""
    policy = RoundingPolicy(planned.rounding_rule, planned.sig_figs)
    rule = planned.limit_rule()
    if planned.unit is None:  # a conforms-to-text test: the raw text is the value
        if result.raw_unit is not None:
            raise InvalidInput(
                f"Test {planned.test_code} takes a text result and no unit; the result was sent "
                f"with unit {result.raw_unit!r}. Send it without a unit.",
                reason="unit.not_expected",
                field="unit",
            )
        result.resolved_unit = None
        result.apply(evaluate(result.raw_value, rule, policy))
        return
    value = parse_decimal(result.raw_value, field="value")
    if result.resolved_unit is None:
        raise InvalidInput(
            f"A {planned.test_code} result needs a unit ({planned.unit} or convertible to it).",
            reason="unit.missing",
            field="unit",
        )
    factor = units.factor(result.resolved_unit, planned.unit)
    # Exact whatever the digits: under the default 28-digit context the product was rounded
    # once here and again by the method's rule (96.9499…9 % -> 96.95 -> 97.0, a false pass).
    result.canonical_value = exact_product(value, factor)
    result.canonical_unit, result.conversion_factor = planned.unit, factor
    result.apply(evaluate(result.canonical_value, rule, policy))


def result_content(sample: Sample, result: Result) -> dict[str, object]:
    """What a reviewer signs: the result as reported and as derived, not its later lifecycle."""
    return {
        "site": sample.site,
        "sample": sample.code,
        "result": result.code,
        "test_code": result.test_code,
        "raw_value": result.raw_value,
        "raw_unit": result.raw_unit,
        # Only when an alias was resolved: results signed before the unit as sent was kept
        # (raw_unit then held the resolved code) keep the content, and the hash, they had.
        **({"resolved_unit": result.resolved_unit} if _alias_resolved(result) else {}),
        "method": result.method,
        "method_version": result.method_version,
        "analyst": result.analyst,
        "entered_at": result.entered_at,
        "canonical_value": result.canonical_value,
        "canonical_unit": result.canonical_unit,
        "conversion_factor": result.conversion_factor,
        "reported_value": result.reported_value,
        "rounding": result.rounding,
        "conforms": result.conforms,
        "limit_set": result.limit_set,
    }


def _alias_resolved(result: Result) -> bool:
    """Whether the unit as sent was an alias of the dictionary unit converted from."""
    return result.resolved_unit is not None and result.resolved_unit != result.raw_unit


def sample_of_result(result_code: str) -> str:
    """Result codes are `<sample>-R<n>`: the sample code is their prefix."""
    sample, sep, _ = result_code.rpartition("-R")
    if not sep:
        raise NotFound(
            f"{result_code!r} is not a result id.", reason="result.unknown", field="result"
        )
    return sample
