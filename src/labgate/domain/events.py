"""Domain events: past tense, frozen, stamped by the injected clock. Aggregates raise them
(append them to their own `events`); the unit of work collects them; the service layer's one
routing table (`service/reactions/routing.py`) says what each sets off."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Event:
    """Base of every domain event: the site it happened in."""

    site: str


@dataclass(frozen=True)
class SampleEvent(Event):
    """Something happened to a sample (or to one of its results)."""

    sample: str
    occurred_at: datetime


@dataclass(frozen=True)
class SampleRequested(SampleEvent):
    """The MES asked for a sample and labgate bound its spec and tests."""


@dataclass(frozen=True)
class SampleRegistered(SampleEvent):
    """The lab registered the sample: its ids go back to the MES."""


@dataclass(frozen=True)
class SampleCancelled(SampleEvent):
    """The sample was cancelled, with a reason."""

    reason: str


@dataclass(frozen=True)
class ResultRecorded(SampleEvent):
    """A preliminary result arrived: shown, never acted on."""

    result: str


@dataclass(frozen=True)
class ResultApproved(SampleEvent):
    """A result was approved by its reviewer: the MES may act on it."""

    result: str


@dataclass(frozen=True)
class ResultInvalidated(SampleEvent):
    """A result was invalidated; its retest will supersede it."""

    result: str
    reason: str


@dataclass(frozen=True)
class BatchHeld(SampleEvent):
    """An OOS deviation opened on a result of the sample: its batch or lot is on hold."""

    deviation: str
    result: str
    reason: str


@dataclass(frozen=True)
class BatchHoldLifted(SampleEvent):
    """The last open deviation on the sample's batch or lot ended: the hold is lifted."""

    deviation: str
    result: str
    reason: str


@dataclass(frozen=True)
class DeviationEnded(Event):
    """A deviation stopped being open (phase I found an assignable cause, or QA closed it): the
    hold it kept on its batch or lot may be lifted."""

    deviation: str
    occurred_at: datetime


@dataclass(frozen=True)
class EmExcursionRecorded(Event):
    """An EM count exceeded its alert level or action limit (`action`), recorded as an
    excursion; an action excursion, or a run of alerts at its point, opens a deviation."""

    em_sample: str
    occurred_at: datetime
    excursion: str
    action: bool
    reason: str


@dataclass(frozen=True)
class BatchDisposed(Event):
    """QA released or rejected a batch under an e-signature, judged on these samples."""

    batch: str
    occurred_at: datetime
    product: str
    disposition: str
    signed_by: str
    reason: str
    samples: tuple[str, ...]


@dataclass(frozen=True)
class LotDecided(Event):
    """QA released or rejected a received raw-material lot under an e-signature."""

    lot: str
    occurred_at: datetime
