"""Commands of stability studies and OOT alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from labgate.domain.commands import Command, SignatureInput


@dataclass(frozen=True)
class CreateStudy(Command):
    """Write a study's protocol (draft); criteria stated here win over the spec's limits."""

    site: str
    product: str
    batch: str
    schedule: tuple[tuple[str, tuple[int, ...]], ...]  # (condition, months); first: long term
    tests: tuple[str, ...]
    start_at: datetime
    window_days: int
    criteria: tuple[tuple[str, str | None, str | None], ...] = ()


@dataclass(frozen=True)
class ApproveStudy(Command):
    """QA approves the protocol with an e-signature: the study becomes active."""

    site: str
    study: str
    signature: SignatureInput


@dataclass(frozen=True)
class CloseStudy(Command):
    """Complete or cancel a study, with a reason; a cancellation is signed."""

    site: str
    study: str
    cancel: bool
    reason: str
    signature: SignatureInput | None = None


@dataclass(frozen=True)
class PullStability(Command):
    """Pull one (condition, time point): its sample is created; outside the window, say why."""

    site: str
    study: str
    condition: str
    time_point: int
    pulled_at: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True)
class PullDue(Command):
    """The scheduler: pull every pull of the site's active studies due as of a time."""

    site: str
    as_of: datetime


@dataclass(frozen=True)
class AcknowledgeOotAlert(Command):
    """A reviewer or QA assesses an OOT alert, with an e-signature."""

    site: str
    alert: str
    assessment: str
    signature: SignatureInput
