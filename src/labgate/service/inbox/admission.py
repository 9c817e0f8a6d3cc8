"""Receiving signed envelopes, in order: the route (caller, topic) → known key → signature (and
a pack's files against its signed manifest) → a sent_at not ahead of the clock → then, in one
transaction the inbox opens: the stream locked → duplicate, stale, held or next → in its turn:
channel, payload schema, the use case (its handler joins the transaction) → committed with its
inbox record and stream position.

The inbox is the one owner of a message's admission: the unit of work only opens and commits the
transaction, and a use case never runs to find out that its message was out of turn. The inbox
and the sequence are the replay defence: a message already taken in is a duplicate however late
it comes again, and one next on its stream is applied however long it was buffered on the way.
A message that cannot be authenticated says nothing trustworthy about its stream: refused before
the inbox, its number stays free and the sender sends it again. A message taken in and refused
for its content, in its turn, uses its number and the stream goes on. Every refusal lands in
quarantine with its raw bytes and a reason code, audited."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

from labgate.compliance.audit import AuditDraft
from labgate.compliance.envelope import Envelope, verify_envelope
from labgate.compliance.keys import SourceKey
from labgate.domain.commands import Command, Context
from labgate.domain.errors import LabgateError
from labgate.service.config_cache import KeyRing, KeysChanged
from labgate.service.handlers.keys import unknown_key
from labgate.service.inbox.errors import ChannelNotAllowed as ChannelNotAllowed
from labgate.service.inbox.errors import OutsideReplayWindow as OutsideReplayWindow
from labgate.service.inbox.errors import Receipt as Receipt
from labgate.service.inbox.errors import ReceiptRefused as ReceiptRefused
from labgate.service.inbox.errors import SourceMismatch as SourceMismatch
from labgate.service.inbox.errors import StaleSequence as StaleSequence
from labgate.service.inbox.incoming import Decoder, Incoming, Route, decode_envelope
from labgate.service.inbox_records import InboxMessage, QuarantineItem, Received, StreamPosition
from labgate.service.messagebus import MessageBus
from labgate.service.unit_of_work import UnitOfWork, inbox_message


class _NotInTurn(Exception):
    """Inside the inbox: a message refused for its content is no longer next on its stream
    (another worker moved it meanwhile): it is admitted again as it stands."""


class Inbox:
    """The one way in for envelopes, whatever the channel: the one owner of a message's
    admission (checks, de-duplication, order per stream, hold and release, quarantine)."""

    def __init__(
        self,
        bus: MessageBus,
        uow_factory: Callable[[], UnitOfWork],
        replay_window: timedelta,
        hold_timeout: timedelta,
        decoders: Mapping[str, Decoder] | None = None,
        default_decoder: Decoder = decode_envelope,
        channel_schemas: Mapping[str, Collection[str]] | None = None,
        keys: KeyRing | None = None,
    ) -> None:
        self.bus, self.uow_factory = bus, uow_factory
        self.keys = keys or _KeysRead(uow_factory)
        self.replay_window, self.hold_timeout = replay_window, hold_timeout
        self.decoders: dict[str, Decoder] = dict(decoders or {})
        self.default_decoder = default_decoder
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_guard = threading.Lock()
        # Hybrid set-ups: which message types each channel may carry (unnamed channels: any).
        self.channel_schemas = {k: frozenset(v) for k, v in (channel_schemas or {}).items()}

    def decode(self, raw: bytes, channel: str) -> Incoming:
        """The channel's wire form read far enough to route it (a plain envelope by default)."""
        return self.decoders.get(channel, self.default_decoder)(raw)

    def receive(
        self, raw: bytes, channel: str, caller: str | None = None, route: Route | None = None
    ) -> Receipt:
        """Check, de-duplicate, order and apply one envelope; `caller` is the account the API
        signed in, `route` what a broker's topic vouches for."""
        envelope: Envelope | None = None
        try:
            incoming = self.decode(raw, channel)
            envelope = incoming.envelope
            while True:
                verified = self.check(incoming, channel, caller, route=route)
                try:
                    with self._stream_lock(envelope.source, envelope.stream):
                        return self._apply_or_admit(incoming, raw, channel, verified)
                except KeysChanged:
                    continue  # its transaction read the keys now in force: check it with them
        except ReceiptRefused:
            raise
        except LabgateError as error:
            raise ReceiptRefused(error, self.quarantine(raw, channel, envelope, error)) from None

    def readmit(
        self, incoming: Incoming, raw: bytes, channel: str, verified: int | None = None
    ) -> Receipt:
        """A quarantined message never taken in, sent in again by a person once its checks can
        pass: admitted in its turn like any message (duplicate, stale, held or applied)."""
        envelope = incoming.envelope
        with self._stream_lock(envelope.source, envelope.stream):
            return self._apply_or_admit(incoming, raw, channel, verified)

    def _stream_lock(self, source: str, stream: str) -> threading.Lock:
        """One admission at a time per stream in this process (the API's thread pool): two
        concurrent ones could each miss the message the other is holding, which would then
        wait for its gap timeout although nothing is missing."""
        with self._locks_guard:
            return self._locks.setdefault((source, stream), threading.Lock())

    def check(
        self,
        incoming: Incoming,
        channel: str,
        caller: str | None,
        route: Route | None = None,
    ) -> int | None:
        """Everything before the inbox table: route, key and signature (a pack's files too),
        and a sent_at not ahead of the clock. A refusal here does not use the message's number.
        Returns the version of the keys the signature was checked with (see `verify`)."""
        envelope = incoming.envelope
        if caller is not None and caller != envelope.source:
            raise SourceMismatch(
                f"Signed in as {caller}, but the envelope comes from {envelope.source}.",
                field="source",
            )
        if route is not None:
            route.check(envelope)
        verified = self.verify(envelope)
        incoming.check()
        # Only a sent_at ahead of the clock is judged here: how late a message comes is for the
        # inbox (a duplicate whenever it comes) and the sequence (next, stale or ahead of a gap)
        # to decide, so a re-send or a buffer forwarded after an outage is never refused for it.
        now = self.bus.deps.clock.now()
        if envelope.sent_at - now > self.replay_window:
            raise OutsideReplayWindow(
                f"The envelope's sent_at {envelope.sent_at.isoformat()} is ahead of labgate's "
                f"clock ({now.isoformat()}) by more than the "
                f"{int(self.replay_window.total_seconds())} s replay window; the sender's clock "
                "is wrong.",
                field="sent_at",
            )
        return verified

    def _apply_or_admit(
        self,
        incoming: Incoming,
        raw: bytes,
        channel: str,
        verified: int | None = None,
        releasing: bool = False,
    ) -> Receipt:
        """Admit a checked envelope and, when it is next on its stream and new (as nearly every
        one is), apply it, all in one transaction: the inbox locks the stream, decides the
        message's turn (next, duplicate, stale, or ahead of a gap: held) and runs its use case
        in that same transaction. `releasing`: a held message whose turn came; if another worker
        applied it meanwhile, nothing is said."""
        envelope = incoming.envelope
        refused: tuple[Command | None, LabgateError] | None = None
        with self.uow_factory() as uow:
            self.keys_in_force(uow, verified)
            turn = self._turn(uow, envelope)
            if turn != "next":
                if releasing:
                    return Receipt("passed", envelope.message_id)
                receipt = self._not_next(uow, turn, envelope, raw, channel)
            else:
                command: Command | None = None
                try:
                    self.carries(envelope, channel, uow)
                    received = received_as(envelope, raw, channel, True, verified)
                    command = incoming.command(context(received, envelope.correlation_id))
                    outcome = self.bus.handle(
                        command, audit_refusal=False, received=(received,), uow=uow
                    )
                except LabgateError as error:  # its content: refused in its turn, below
                    refused = (command, error)
                else:
                    receipt = Receipt("applied", envelope.message_id, outcome)
        if refused is not None:
            return self._refused_in_turn(incoming, raw, channel, verified, *refused)
        if receipt.status in ("applied", "duplicate"):
            # The messages waiting behind it go on now (a duplicate: a redelivery after a
            # failure between applying a message and releasing the ones it unblocked).
            self.release_held_on({(envelope.source, envelope.stream)})
        return receipt

    def admit(
        self, incoming: Incoming, raw: bytes, channel: str, verified: int | None = None
    ) -> Receipt:
        """A checked envelope: duplicate, held for a gap, or applied (then what it unblocks);
        `verified`: the version of the keys it was checked with (KeysChanged if they moved)."""
        return self._apply_or_admit(incoming, raw, channel, verified)

    def keys_in_force(self, uow: UnitOfWork, verified: int | None) -> None:
        """The keys the signature was checked with are still those in force (read in this
        transaction; PostgreSQL holds them shared until it ends): KeysChanged otherwise, before
        anything is changed, and the message is checked again with the keys now in force."""
        if verified is not None and uow.source_keys_version() not in (None, verified):
            raise KeysChanged(f"source keys moved since version {verified}")

    def _turn(self, uow: UnitOfWork, envelope: Envelope) -> str:
        """With the stream locked: "next" (new and next, or held and its turn has come),
        "duplicate", "stale" (its number handled under another id) or "ahead" (of a gap)."""
        last = uow.stream_position(envelope.source, envelope.stream)
        known = uow.inbox_record(envelope.source, envelope.message_id)
        if envelope.sequence == last + 1 and (known is None or known.status == "held"):
            return "next"
        if known is not None:
            return "duplicate"
        return "stale" if envelope.sequence <= last else "ahead"

    def _not_next(
        self, uow: UnitOfWork, turn: str, envelope: Envelope, raw: bytes, channel: str
    ) -> Receipt:
        """A duplicate (acknowledged, audited, nothing changed), a stale number (refused) or one
        ahead of a gap (held until the gap fills or the hold times out)."""
        last = uow.stream_position(envelope.source, envelope.stream)
        if turn == "duplicate":
            known = uow.inbox_record(envelope.source, envelope.message_id)
            status = known.status if known is not None else "applied"
            self._audit(uow, envelope, raw, "inbox.duplicate",
                        f"duplicate of a message already {status}")  # fmt: skip
            uow.commit()
            return Receipt("duplicate", envelope.message_id)
        if turn == "stale":
            raise StaleSequence(
                f"Sequence {envelope.sequence} on stream {envelope.stream} was handled "
                f"already (last {last}) under another message id.",
                field="sequence",
            )
        received = received_as(envelope, raw, channel)
        now = self.bus.deps.clock.now()
        uow.records.add(inbox_message(received, envelope.correlation_id, now, "held"))
        self._audit(uow, envelope, raw, "inbox.held",
                    f"waits for sequence {last + 1} on stream {envelope.stream}")  # fmt: skip
        uow.commit()
        return Receipt("held", envelope.message_id)

    def _refused_in_turn(
        self,
        incoming: Incoming,
        raw: bytes,
        channel: str,
        verified: int | None,
        command: Command | None,
        error: LabgateError,
    ) -> Receipt:
        """Its use case refused it in its turn: audited as the bus audits refusals, quarantined,
        and its number used, so the stream moves on past it. If another worker moved the stream
        meanwhile, it is admitted again as it stands now (duplicate, stale, held or applied)."""
        envelope = incoming.envelope
        if command is not None:
            self.bus.record_refusal(command, error)
        try:
            quarantine_id = self.quarantine(raw, channel, envelope, error, consumed=True)
        except _NotInTurn:
            return self._apply_or_admit(incoming, raw, channel, verified)
        # Refused by its use case, it used its number: the messages behind it go on now.
        self.release_held_on({(envelope.source, envelope.stream)})
        raise ReceiptRefused(error, quarantine_id, number_used=True)

    def carries(self, envelope: Envelope, channel: str, uow: UnitOfWork) -> None:
        """The channel carries the envelope's type under the allow-list in force at its receipt
        (checked in the message's turn): the version a change request put in force, else the
        installed setting. A channel the allow-list does not name carries any type."""
        in_force = uow.channel_allow_list(self.bus.deps.clock.now())
        allowed = (self.channel_schemas if in_force is None else in_force[1]).get(channel)
        if allowed is not None and envelope.schema not in allowed:
            version = "as installed" if in_force is None else f"under version {in_force[0]}"
            raise ChannelNotAllowed(
                f"The {channel} channel does not carry {envelope.schema} messages here; "
                f"{version} of the channel allow-list it carries "
                f"{', '.join(sorted(allowed)) or 'nothing'}.",
                field="schema",
            )

    def verify(self, envelope: Envelope, fresh: bool = False) -> int | None:
        """Known source and key, and a signature that checks out. The key comes from the
        process's cache (no transaction): the version of the keys it was found in is returned,
        and the message's own transaction makes sure they have not moved since (KeysChanged
        otherwise: checked again). `fresh` reads the keys in force now."""
        key, version = self.keys.find(envelope.source, envelope.kid, fresh)
        if key is None:
            raise unknown_key(envelope.source, envelope.kid)
        verify_envelope(envelope, key)
        return version

    def run(
        self,
        incoming: Incoming,
        raw: bytes,
        channel: str,
        in_turn: bool = True,
        verified: int | None = None,
    ) -> Any:
        """Run the envelope's use case; the inbox row and stream position commit with its effect.
        `in_turn=False` (reprocessing from quarantine) applies it without the ordering check."""
        with self.uow_factory().reading() as uow:
            self.carries(incoming.envelope, channel, uow)
        received = received_as(incoming.envelope, raw, channel, in_turn, verified)
        return self.bus.handle(
            incoming.command(context(received, incoming.envelope.correlation_id)),
            received=(received,),
        )

    def release_held(self, source: str, stream: str) -> None:
        """Apply messages that waited for the sequence just applied, in order. One that waited
        past its timeout is in quarantine, but it was taken in and so used its number: the
        stream moves past it, or every message after it would wait and expire in turn."""
        while True:
            # A read without the writer's lock: the look-up runs after every message applied,
            # and the message found is applied in a transaction that checks its turn itself.
            with self.uow_factory().reading() as uow:
                position = uow.records.get(StreamPosition, source=source, stream=stream)
                following = (position.last_sequence if position else 0) + 1
                taken = uow.records.find(
                    InboxMessage, source=source, stream=stream, sequence=following
                )
                if not taken or taken[0].status not in ("held", "quarantined"):
                    return
                first = taken[0]  # the first taken in holds the number
                raw, channel, expired = first.raw, first.channel, first.status == "quarantined"
            if expired:
                self._pass_over(source, stream, following)
                continue
            with contextlib.suppress(ReceiptRefused):  # quarantined and consumed: look again
                self._apply_or_admit(self.decode(raw, channel), raw, channel, releasing=True)

    def release_held_on(self, streams: Collection[tuple[str, str]]) -> None:
        """`release_held` for each of these streams on which a message waits for its turn now:
        one read finds them (after a run of messages applied together, most have none)."""
        if not streams:
            return
        with self.uow_factory().reading() as uow:
            waiting = uow.waiting_streams(streams)
        for source, stream in sorted(waiting):
            self.release_held(source, stream)

    def _pass_over(self, source: str, stream: str, sequence: int) -> None:
        """Move the stream past a message that expired into quarantine once its turn came."""
        with self.uow_factory() as uow:
            if uow.stream_position(source, stream) == sequence - 1:  # else another worker did
                uow.advance(source, stream, sequence)
                uow.commit()

    def expire_held(self) -> list[int]:
        """Quarantine messages that waited longer than the hold timeout for their gap."""
        now, expired = self.bus.deps.clock.now(), []
        with self.uow_factory() as uow:
            waiting = [
                m
                for m in uow.records.find(InboxMessage, status="held")
                if now - m.received_at > self.hold_timeout
            ]
            stale = [(m.raw, m.channel) for m in waiting]
        for raw, channel in stale:
            envelope = self.decode(raw, channel).envelope
            error = LabgateError(
                f"Sequence {envelope.sequence} on stream {envelope.stream} waited longer than "
                f"{int(self.hold_timeout.total_seconds())} s for the messages before it.",
                reason="sequence.gap_timeout",
                field="sequence",
            )
            expired.append(self.quarantine(raw, channel, envelope, error, expired=True))
        return expired

    def quarantine_raw(self, raw: bytes, channel: str, error: LabgateError) -> int:
        """Quarantine bytes that reached labgate outside the checks (a broker's dead letters)."""
        try:
            envelope: Envelope | None = self.decode(raw, channel).envelope
        except LabgateError:
            envelope = None
        return self.quarantine(raw, channel, envelope, error)

    def quarantine(
        self,
        raw: bytes,
        channel: str,
        envelope: Envelope | None,
        error: LabgateError,
        consumed: bool = False,
        expired: bool = False,
    ) -> int:
        """Keep the raw message with its reason; audited. The inbox remembers it only if it was
        ours: consumed (checked, then refused by the use case) or a held message that expired."""
        now = self.bus.deps.clock.now()
        item = QuarantineItem(
            received_at=now,
            channel=channel,
            source=envelope.source if envelope else None,
            message_id=envelope.message_id if envelope else None,
            raw=raw,
            sha256=hashlib.sha256(raw).hexdigest(),
            reason_code=error.reason,
            field=error.field,
            detail=error.message,
        )
        with self.uow_factory() as uow:
            uow.records.add(item)
            if envelope is not None:
                self._remember(uow, envelope, raw, channel, now, consumed, expired)
            uow.flush()
            self._audit(
                uow,
                envelope,
                raw,
                "quarantine.added",
                error.message,
                {
                    "quarantine_id": item_id(item),
                    "reason_code": error.reason,
                    "field": error.field,
                    "channel": channel,
                },
            )
            uow.commit()
            return item_id(item)

    def _remember(
        self,
        uow: UnitOfWork,
        envelope: Envelope,
        raw: bytes,
        channel: str,
        now: datetime,
        consumed: bool,
        expired: bool,
    ) -> None:
        """A signed, known message that was quarantined is not applied again if re-sent. A copy
        refused by the checks (forged, damaged, replayed) never touches the genuine message's
        record: anyone who can publish could otherwise relabel or strand it. One refused for
        its content uses its number only in its turn: _NotInTurn otherwise, and nothing kept."""
        if not (consumed or expired):
            return
        known = uow.records.get(
            InboxMessage, source=envelope.source, message_id=envelope.message_id
        )
        if expired:
            if known is not None and known.status == "held" and known.raw == raw:
                known.status = "quarantined"
            return
        last = uow.stream_position(envelope.source, envelope.stream)
        if envelope.sequence != last + 1 or (known is not None and known.status != "held"):
            raise _NotInTurn
        if known is not None:
            known.status = "quarantined"
        else:
            uow.records.add(
                inbox_message(
                    received_as(envelope, raw, channel), envelope.correlation_id, now, "quarantined"
                )
            )
        uow.advance(envelope.source, envelope.stream, envelope.sequence)

    def _audit(
        self,
        uow: UnitOfWork,
        envelope: Envelope | None,
        raw: bytes,
        action: str,
        reason: str,
        after: dict[str, Any] | None = None,
    ) -> None:
        uow.audit(
            AuditDraft(
                actor=envelope.source if envelope else "unknown-source",
                actor_kind="system",
                action=action,
                record_type="message",
                record_id=envelope.message_id if envelope else "-",
                at=self.bus.deps.clock.now(),
                after=after,
                reason=reason,
                payload_hash=hashlib.sha256(raw).hexdigest(),
                correlation_id=envelope.correlation_id if envelope else None,
                site=envelope.site[:64] if envelope else None,
            )
        )


def item_id(item: QuarantineItem) -> int:
    """The quarantine id the store gave the item."""
    return int(item.id)  # type: ignore[attr-defined]


def context(received: Received, correlation_id: str | None) -> Context:
    """Who acts for a received message: its source system, under its correlation id."""
    return Context(
        actor=received.source,
        actor_kind="system",
        correlation_id=correlation_id,
        payload_hash=hashlib.sha256(received.raw).hexdigest(),
        message=received.ref,
    )


def received_as(
    envelope: Envelope,
    raw: bytes,
    channel: str,
    in_turn: bool = True,
    keys_version: int | None = None,
) -> Received:
    """The envelope as the inbox records it."""
    return Received(
        envelope.source,
        envelope.message_id,
        envelope.stream,
        envelope.sequence,
        envelope.schema,
        envelope.site,
        channel,
        raw,
        in_turn,
        keys_version,
        envelope.sent_at,
    )


class _KeysRead:
    """For an inbox given no key ring: each look-up reads the key in a transaction of its own."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork]) -> None:
        self.uow_factory = uow_factory

    def find(self, source: str, kid: str, fresh: bool = False) -> tuple[SourceKey | None, None]:
        with self.uow_factory().reading() as uow:
            found = uow.records.get(SourceKey, source=source, kid=kid)
            if found is None:
                return None, None
            return SourceKey(**{f.name: getattr(found, f.name) for f in fields(found)}), None
