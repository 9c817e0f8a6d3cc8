"""Receiving a run of envelopes from one channel (a broker's prefetched deliveries, or the REST
requests that arrived together: see entrypoints/api/inbox_group.py) with as few transactions as
the rules allow: every envelope is checked on its own (key, signature, sent_at
not ahead of the clock), then consecutive in-sequence results are applied in one transaction,
each still settled as its own message (inbox record, stream position, outbox rows under its
correlation id). Anything else — a duplicate, a gap, another message type, a refusal of a
message's content inside the run — goes through the one-message path, in order, so the
outcome is exactly what receiving the envelopes one by one would give; only the number of
commits differs. After the run, one read finds the streams on which a message now waits for its
turn; only those are looked at again."""

from __future__ import annotations

from collections.abc import Sequence

from labgate.compliance.envelope import Envelope
from labgate.domain.commands import Context, RecordResult, RecordResults
from labgate.domain.errors import LabgateError
from labgate.service.config_cache import KeysChanged
from labgate.service.inbox.admission import Inbox, Receipt, ReceiptRefused, context, received_as
from labgate.service.inbox.incoming import EnvelopeMessage, Incoming, Route
from labgate.service.inbox_records import InboxMessage
from labgate.service.unit_of_work import UnitOfWork

BATCHED_SCHEMAS = frozenset({"labgate.result.v1"})
Outcome = Receipt | ReceiptRefused
_Run = list[tuple[int, Incoming, bytes, int | None]]  # index, message, raw, keys version
_Vouched = tuple[str | None, Route | None]  # who the channel says sent it: caller, route


class _NotInOrder(Exception):
    """The run cannot go in one transaction as it stands: apply its messages one by one."""


def receive_batch(
    inbox: Inbox,
    raws: Sequence[bytes],
    channel: str,
    callers: Sequence[str | None] | None = None,
    routes: Sequence[Route | None] | None = None,
) -> list[Outcome]:
    """Each envelope's receipt or refusal, in the order given; `callers`: the account each was
    sent by (the API's), `routes`: what each one's route vouches for (an MQTT topic), checked
    against its envelope as `Inbox.receive` does."""
    outcomes: list[Outcome | None] = [None] * len(raws)
    vouched: list[_Vouched] = [
        (callers[i] if callers else None, routes[i] if routes else None) for i in range(len(raws))
    ]
    run: _Run = []
    for index, raw in enumerate(raws):
        envelope = None
        try:
            incoming = inbox.decode(raw, channel)
            envelope = incoming.envelope
            verified = inbox.check(incoming, channel, *vouched[index])
        except LabgateError as error:
            _flush(inbox, run, channel, outcomes, vouched)  # the trail keeps the arrival order
            run = []
            outcomes[index] = ReceiptRefused(error, inbox.quarantine(raw, channel, envelope, error))
            continue
        if isinstance(incoming, EnvelopeMessage) and envelope.schema in BATCHED_SCHEMAS:
            run.append((index, incoming, raw, verified))
            continue
        _flush(inbox, run, channel, outcomes, vouched)
        run = []
        outcomes[index] = _one(inbox, incoming, raw, channel, verified, vouched[index])
    _flush(inbox, run, channel, outcomes, vouched)
    return [outcome for outcome in outcomes if outcome is not None]


def _flush(
    inbox: Inbox,
    run: _Run,
    channel: str,
    outcomes: list[Outcome | None],
    vouched: list[_Vouched],
) -> None:
    """The run in one transaction if every message in it is new and next on its stream (the
    inbox admits them there, with their streams locked), else one by one."""
    if not run:
        return
    try:
        with inbox.uow_factory() as uow:
            for _, _, _, verified in run:
                inbox.keys_in_force(uow, verified)
            _in_order(uow, [incoming.envelope for _, incoming, *_ in run])
            commands, received = [], []
            for _, incoming, raw, verified in run:
                envelope = incoming.envelope
                inbox.carries(envelope, channel, uow)  # content: refused in turn, by `_one`
                received.append(received_as(envelope, raw, channel, True, verified))
                command = incoming.command(context(received[-1], envelope.correlation_id))
                assert isinstance(command, RecordResult)  # BATCHED_SCHEMAS are results
                commands.append(command)
            codes = inbox.bus.handle(RecordResults(Context(channel, "system"), tuple(commands)),
                                     audit_refusal=False, received=received, uow=uow)  # fmt: skip
    except (_NotInOrder, LabgateError, KeysChanged):
        for index, incoming, raw, verified in run:
            outcomes[index] = _one(inbox, incoming, raw, channel, verified, vouched[index])
        return
    for (index, incoming, _, _), code in zip(run, codes, strict=True):
        outcomes[index] = Receipt("applied", incoming.envelope.message_id, code)
    inbox.release_held_on({(i.envelope.source, i.envelope.stream) for _, i, *_ in run})


def _in_order(uow: UnitOfWork, envelopes: list[Envelope]) -> None:
    """Every message new and next on its stream, counting those before it in the run; the
    streams are locked in one order (two workers never wait on each other's)."""
    last = {
        (source, name): uow.stream_position(source, name)
        for source, name in sorted({(e.source, e.stream) for e in envelopes})
    }
    for source in {e.source for e in envelopes}:
        ids = {e.message_id for e in envelopes if e.source == source}
        if uow.records.find_any(InboxMessage, "message_id", ids, source=source):
            raise _NotInOrder  # a duplicate, or one that was held
    for envelope in envelopes:
        key = (envelope.source, envelope.stream)
        if envelope.sequence != last[key] + 1:
            raise _NotInOrder
        last[key] += 1


def _one(
    inbox: Inbox,
    incoming: Incoming,
    raw: bytes,
    channel: str,
    verified: int | None,
    vouched: _Vouched,
) -> Outcome:
    """The one-message path for an envelope already checked (with keys that moved since: from
    the start, checked again, caller and route included, with the keys now in force)."""
    try:
        try:
            return inbox.admit(incoming, raw, channel, verified)
        except KeysChanged:
            return inbox.receive(raw, channel, *vouched)
    except ReceiptRefused as refused:
        return refused
    except LabgateError as error:
        return ReceiptRefused(error, inbox.quarantine(raw, channel, incoming.envelope, error))
