"""LIMS result status + evaluation -> MES status, as data (guide §05) rather than code."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from labgate.domain.errors import InvalidInput
from labgate.domain.lifecycle import ResultStatus, SampleStatus


class MesStatus(StrEnum):
    """What the MES is told about a result, and so about its sample."""

    PENDING = "Pending"
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    CANCELLED = "Cancelled"  # a sample's state, never a result's: it will have no results


class Outcome(StrEnum):
    """The evaluation side of a status rule."""

    CONFORMS = "conforms"
    NOT_CONFORMING = "not_conforming"
    ANY = "any"


@dataclass(frozen=True)
class StatusRule:
    """One row of the status map."""

    lims_status: ResultStatus
    outcome: Outcome
    mes_status: MesStatus


DEFAULT_STATUS_RULES: tuple[StatusRule, ...] = (
    StatusRule(ResultStatus.PRELIMINARY, Outcome.ANY, MesStatus.PENDING),
    StatusRule(ResultStatus.APPROVED, Outcome.CONFORMS, MesStatus.ACCEPTED),
    StatusRule(ResultStatus.APPROVED, Outcome.NOT_CONFORMING, MesStatus.REJECTED),
    # An invalidated result is superseded; the MES waits (Pending) for the retest.
    StatusRule(ResultStatus.INVALIDATED, Outcome.ANY, MesStatus.PENDING),
)


# What the MES is told of a sample in each of its states; None: what its results say. Every
# state is here (a test says so), so a new state cannot reach the MES as a silent "Pending".
SAMPLE_STATUS_RULES: Mapping[SampleStatus, MesStatus | None] = MappingProxyType(
    {
        SampleStatus.REQUESTED: None,
        SampleStatus.REGISTERED: None,
        SampleStatus.IN_TESTING: None,
        SampleStatus.COMPLETED: None,
        SampleStatus.CANCELLED: MesStatus.CANCELLED,
    }
)


def sample_mes_status(status: SampleStatus, from_results: MesStatus) -> MesStatus:
    """The MES status of a sample in `status` whose results say `from_results`."""
    fixed = SAMPLE_STATUS_RULES[status]
    return from_results if fixed is None else fixed


class StatusMap:
    """A checked status map: only an Approved result may ever produce Accepted or Rejected."""

    def __init__(
        self, rules: Iterable[StatusRule] = DEFAULT_STATUS_RULES, version: int = 0
    ) -> None:
        self.rules = tuple(rules)
        # Which map it is: 0 the one installed with the hub, N the status-map version a change
        # request put in force. A result records it with the MES status the map gave it.
        self.version = version
        for rule in self.rules:
            if rule.mes_status is MesStatus.CANCELLED:
                raise InvalidInput(
                    f"A status rule maps {rule.lims_status.value} results to Cancelled; only a "
                    "sample is cancelled, a result is invalidated.",
                    reason="status_map.cancelled_result",
                    field="status_map",
                )
            if rule.mes_status is not MesStatus.PENDING and rule.lims_status is not (
                ResultStatus.APPROVED
            ):
                raise InvalidInput(
                    f"A status rule maps {rule.lims_status.value} to {rule.mes_status.value}; "
                    "only an approved result may produce Accepted or Rejected.",
                    reason="status_map.unreviewed_decision",
                    field="status_map",
                )
        for status in ResultStatus:
            if not any(r.lims_status is status for r in self.rules):
                raise InvalidInput(
                    f"The status map has no rule for {status.value} results.",
                    reason="status_map.incomplete",
                    field="status_map",
                )

    def mes_status(self, status: ResultStatus, conforms: bool | None) -> MesStatus:
        """The MES status for a result in `status` whose evaluation gave `conforms`."""
        outcome = Outcome.CONFORMS if conforms else Outcome.NOT_CONFORMING
        for rule in self.rules:
            if rule.lims_status is status and rule.outcome in (outcome, Outcome.ANY):
                return rule.mes_status
        raise InvalidInput(
            f"The status map has no rule for a {status.value} result that is {outcome.value}.",
            reason="status_map.incomplete",
            field="status_map",
        )
