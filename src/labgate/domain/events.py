"""Domain events: past tense, frozen, stamped by the injected clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Event:
    """Base of every domain event."""

    site: str
    sample: str
    occurred_at: datetime


@dataclass(frozen=True)
class SampleRequested(Event):
    """The MES asked for a sample and labgate bound its spec and tests."""


@dataclass(frozen=True)
class SampleRegistered(Event):
    """The lab registered the sample: its ids go back to the MES."""


@dataclass(frozen=True)
class SampleCancelled(Event):
    """The sample was cancelled, with a reason."""

    reason: str


@dataclass(frozen=True)
class ResultRecorded(Event):
    """A preliminary result arrived: shown, never acted on."""

    result: str


@dataclass(frozen=True)
class ResultApproved(Event):
    """A result was approved by its reviewer: the MES may act on it."""

    result: str


@dataclass(frozen=True)
class ResultInvalidated(Event):
    """A result was invalidated; its retest will supersede it."""

    result: str
    reason: str


@dataclass(frozen=True)
class BatchHeld(Event):
    """An OOS deviation opened on a result of the sample: its batch or lot is on hold."""

    deviation: str
    result: str
    reason: str


@dataclass(frozen=True)
class BatchHoldLifted(Event):
    """The last open deviation on the sample's batch or lot ended: the hold is lifted."""

    deviation: str
    result: str
    reason: str
