"""What became of a message labgate already took in, read without receiving it again: a channel
that keeps its own copy (a pack waiting in work/) learns when it is applied or refused."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from labgate.domain.errors import LabgateError
from labgate.service.inbox.admission import Inbox, item_id
from labgate.service.inbox_records import InboxMessage, QuarantineItem


@dataclass(frozen=True)
class Settled:
    """A taken-in message's state: held, applied, or quarantined with the item that says why."""

    status: str
    quarantine_id: int | None = None
    reason: str | None = None
    field: str | None = None
    detail: str | None = None
    number_used: bool = True  # taken in: its number is used, whatever became of it


def taken_in(inbox: Inbox, raw: bytes, channel: str) -> Settled | None:
    """The inbox's record of exactly these bytes, or None if they were never taken in (then the
    channel hands them to the inbox as new). Nothing is written or audited."""
    try:
        envelope = inbox.decode(raw, channel).envelope
    except LabgateError:
        return None
    digest = hashlib.sha256(raw).hexdigest()
    with inbox.uow_factory().reading() as uow:
        known = uow.records.get(
            InboxMessage, source=envelope.source, message_id=envelope.message_id
        )
        if known is None or known.payload_hash != digest:
            return None
        if known.status != "quarantined":
            return Settled(known.status)
        items = uow.records.find(
            QuarantineItem, source=envelope.source, message_id=envelope.message_id, sha256=digest
        )
        item = items[-1] if items else None  # the latest: the refusal of the taken-in copy
        if item is None:
            return Settled("quarantined")
        return Settled("quarantined", item_id(item), item.reason_code, item.field, item.detail)
