"""Out-of-trend (OOT) alerts: a result outside the prediction interval of its history.

The regression control chart (PhRMA CMC Statistics and Stability Expert Teams, 2003/2005): a line
through the history, and a (1 - alpha) prediction interval for one new result at its time. A
result outside it raises an alert for a person to assess: an alert, never a rejection, so the
result's status is left as it is. The statistics sit behind a port (`TrendCheck`): the domain
only says what is compared with what.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from labgate.domain.errors import Conflict, SegregationOfDuties
from labgate.domain.reasons import require_reason

OOT_ALPHA = Decimal("0.01")  # a 99 % prediction interval: few false alarms on a long history
OOT_METHOD = "regression control chart (PhRMA CMC 2003/2005), 99% prediction interval"
MIN_HISTORY = 3  # results; the line needs at least one residual degree of freedom
IPC_HISTORY = 30  # batches: the chart follows the process as it is now, not as it was years ago


@dataclass(frozen=True)
class TrendObservation:
    """One point of a trend: the batch, its time (months, or batch order) and its value."""

    batch: str
    time: Decimal
    value: Decimal


@dataclass(frozen=True)
class TrendVerdict:
    """Where a new result falls against the history's line."""

    predicted: Decimal
    lower: Decimal
    upper: Decimal
    out_of_trend: bool


# The port: (history, new point, alpha) -> verdict, or None when the history cannot carry a line.
TrendCheck = Callable[
    [Sequence[TrendObservation], TrendObservation, Decimal], "TrendVerdict | None"
]


def no_trend_check(
    history: Sequence[TrendObservation], new: TrendObservation, alpha: Decimal
) -> TrendVerdict | None:
    """The safe default until the statistics adapter is wired: no verdict, so no alert."""
    return None


class AlertStatus(StrEnum):
    """Open until a reviewer or QA has assessed it, or its result no longer speaks."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    WITHDRAWN = "withdrawn"  # the result was invalidated: its retest is checked on its own


@dataclass
class OotAlert:
    """An approved result outside its trend, and the chart that said so."""

    site: str
    code: str
    kind: str  # "stability" or "ipc"
    result: str
    sample: str
    batch: str | None
    test_code: str
    series: str  # what was trended: study condition, or sampling point
    time: Decimal
    value: Decimal
    predicted: Decimal
    lower: Decimal
    upper: Decimal
    alpha: Decimal
    method: str
    history_size: int
    raised_at: datetime
    raised_by: str
    analyst: str
    status: AlertStatus = AlertStatus.OPEN
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    assessment: str | None = None

    def acknowledge(self, by: str, at: datetime, assessment: str) -> None:
        """A reviewer or QA records their assessment, once; not the result's own analyst."""
        require_reason(
            assessment,
            "assessment",
            what="Acknowledging an OOT alert",
            required_code="oot.assessment_required",
        )
        if by == self.analyst:
            raise SegregationOfDuties(
                f"{by} entered result {self.result} and cannot assess its OOT alert.",
                reason="oot.assessor_is_analyst",
                field="signature.username",
            )
        if self.status is AlertStatus.WITHDRAWN:
            raise Conflict(
                f"OOT alert {self.code} was withdrawn when its result was invalidated; assess "
                "the retest's result instead.",
                reason="oot.withdrawn",
                field="alert",
            )
        if self.status is not AlertStatus.OPEN:
            raise Conflict(
                f"OOT alert {self.code} was already acknowledged by {self.acknowledged_by}.",
                reason="oot.already_acknowledged",
                field="alert",
            )
        self.status, self.acknowledged_by, self.acknowledged_at = AlertStatus.ACKNOWLEDGED, by, at
        self.assessment = assessment

    def withdraw(self, by: str, at: datetime, why: str) -> bool:
        """The result was invalidated: an open alert has nothing left to assess (an assessed one
        keeps its assessment). Whether it was withdrawn."""
        if self.status is not AlertStatus.OPEN:
            return False
        self.status, self.acknowledged_by, self.acknowledged_at = AlertStatus.WITHDRAWN, by, at
        self.assessment = f"withdrawn: {why}"
        return True


def alert_content(alert: OotAlert) -> dict[str, object]:
    """What the acknowledging signature binds to: the alert and the assessment."""
    return {
        "site": alert.site,
        "alert": alert.code,
        "result": alert.result,
        "test_code": alert.test_code,
        "value": alert.value,
        "predicted": alert.predicted,
        "lower": alert.lower,
        "upper": alert.upper,
        "assessment": alert.assessment,
    }
