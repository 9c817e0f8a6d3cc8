"""What the inbox answers: a receipt, or a refusal with its reason code; one class per rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labgate.domain.errors import LabgateError


class ReceiptRefused(LabgateError):
    """A message that was quarantined; the sender is told why, where it is kept, and whether
    it used its sequence number (taken in, then refused by its use case: the sender goes on)
    or not (refused before the inbox: the sender sends that number again, corrected). It keeps
    the error that refused it as its cause: a refusal is of that error's kind."""

    def __init__(self, error: LabgateError, quarantine_id: int, number_used: bool = False):
        super().__init__(error.message, reason=error.reason, field=error.field)
        self.cause = error
        self.quarantine_id, self.number_used = quarantine_id, number_used


class OutsideReplayWindow(LabgateError):
    """An envelope dated further ahead of labgate's clock than the replay window allows."""

    default_reason = "envelope.replay_window"


class StaleSequence(LabgateError):
    """A new message id with a sequence number already handled on its stream."""

    default_reason = "sequence.stale"


class ChannelNotAllowed(LabgateError):
    """A message type sent over a channel the site has not set up to carry it."""

    default_reason = "channel.schema_not_allowed"


class SourceMismatch(LabgateError):
    """The caller authenticated as one system but the envelope claims another."""

    default_reason = "envelope.source_mismatch"


@dataclass(frozen=True)
class Receipt:
    """What happened to one message: applied, duplicate or held (refusals raise)."""

    status: str
    message_id: str
    outcome: Any = None
