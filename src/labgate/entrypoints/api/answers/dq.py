"""The answers of the data-quality controls: the rules, the runs, each rule's line in a run."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from labgate.domain.data_quality import Dimension, DqStatus, Severity
from labgate.domain.deviations import DeviationState
from labgate.entrypoints.api.wire import Answer, Code, Count, UtcTime

RunId = Field(ge=1, le=2**63 - 1)
Trigger = Literal["cli", "api", "schedule"]


class DqRuleItem(Answer):
    """One rule: what it checks and how much failing it tolerates."""

    id: str = Field(examples=["DQ-COMPLETE-001"], description="Stable across versions.")
    dimension: Dimension
    title: str
    checks: str = Field(description="What the rule checks, in words.")
    severity: Severity
    record_kind: str = Field(description="What the examples of a breach name.")
    max_failing: Count = Field(description="Failing records allowed.")
    max_percent: str | None = Field(
        description="When set, a breach also needs more than this percentage of the records "
        "looked at to fail (an exact decimal as text)."
    )
    threshold: str = Field(description="The threshold in words.")


class DqRuleList(Answer):
    """Every data-quality rule, in the order a run measures them."""

    items: list[DqRuleItem]


class DqRunItem(Answer):
    """A run in a list; GET /api/v1/dq/runs/{run} has its lines."""

    id: int = RunId
    site: Code
    started_at: UtcTime
    started_by: str = Field(description="Who started it: a user id, or labgate-dq (schedule).")
    trigger: Trigger
    rules: Count
    breaches: Count = Field(description="Rules in breach.")


class DqLine(Answer):
    """One rule's outcome in a run."""

    rule: str
    dimension: Dimension
    severity: Severity
    measured: Count = Field(description="Failing records.")
    population: Count = Field(description="Records the rule looked at.")
    threshold: str
    status: DqStatus
    examples: list[str] = Field(description="Keys of up to 20 failing records.", max_length=20)
    deviation: str | None = Field(description="The deviation the breach is on (open or noted).")
    deviation_state: DeviationState | None


class DqRunView(DqRunItem):
    """A run with a line per rule."""

    results: list[DqLine]
