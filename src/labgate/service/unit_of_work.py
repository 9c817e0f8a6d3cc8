"""The unit of work: one transaction holding a change, its audit entries and its outbox rows.
It owns the transaction and collects the events of the aggregates it has seen; what those
events set off is the service layer's routing table (`service/reactions`), run in it."""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType, TracebackType
from typing import Any, Protocol, TypeVar

from labgate.compliance.access import Account
from labgate.compliance.audit import AuditDraft
from labgate.domain.batches import Batch
from labgate.domain.channel_allow_list import AllowList, ChannelAllowListVersion, schedule_of
from labgate.domain.commands import Context, MessageRef
from labgate.domain.data_quality import DqWindows, Measure
from labgate.domain.deviations import Deviation
from labgate.domain.events import Event
from labgate.domain.gates import GateEntry, GateSample, GateTold, PointTally
from labgate.domain.masterdata import Alias
from labgate.domain.status_map import StatusMap
from labgate.service.inbox_records import InboxMessage, Received, StreamPosition
from labgate.service.outbox.records import OutboxMessage

T = TypeVar("T")
A = TypeVar("A", bound="Aggregate")


class Aggregate(Protocol):
    """A domain object that raises events: it appends them to its own list."""

    events: list[Event]


class Reactions(Protocol):
    """What a transaction's events set off, run in the transaction before it commits."""

    def react(self, uow: UnitOfWork, ctx: Context | None) -> None:
        """Handle the events pending in `uow`, and those their handlers raise, until none is
        left; in the name of `ctx`, the message whose change raised them (None: the command)."""

    def conclude(self, uow: UnitOfWork) -> None:
        """Once every message of the transaction is settled: what is decided once for the
        transaction as a whole."""


class Records(Protocol):
    """Store and find domain records by their business keys."""

    def add(self, record: object) -> None:
        """Keep a new record."""
        ...

    def get(self, kind: type[T], /, **key: Any) -> T | None:
        """The one record of `kind` with these key values, or None."""
        ...

    def find(self, kind: type[T], /, **where: Any) -> list[T]:
        """Every record of `kind` with these values, in the order they were added."""
        ...

    def find_any(
        self, kind: type[T], field: str, values: Collection[Any], /, **where: Any
    ) -> list[T]:
        """Every record of `kind` whose `field` is one of `values`, with these values."""
        ...


class UnitOfWork(abc.ABC):
    """Leaving the block without commit() rolls everything back."""

    records: Records
    external_lims: bool = False
    correlation_id: str | None = None
    received: Received | None = None  # the envelope of the command itself, if any
    arrived: Mapping[MessageRef, Received] = MappingProxyType({})  # and of each of its parts
    clock_now: Callable[[], datetime] | None = None
    read_only: bool = False
    _depth = 0  # blocks inside this transaction: an inner `with` joins it
    _reacting: Reactions | None = None
    # What this transaction's events set off, made once per transaction (the bus wires it).
    reactions: Callable[[], Reactions] | None = None

    def received_for(self, ctx: Context) -> Received | None:
        """The envelope a command (or a part of one) came in, if it came in one."""
        return self.arrived.get(ctx.message) if ctx.message is not None else None

    def reading(self) -> UnitOfWork:
        """This unit of work for reads alone: it never commits, and so takes no writer's lock
        (SQLite: a plain BEGIN, which a writer does not block in WAL mode)."""
        self.read_only = True
        return self

    def __enter__(self) -> UnitOfWork:
        if self._depth:  # joined: the inbox opened this transaction to run a message's command
            self._depth += 1
            if self._reacting is None and self.reactions is not None:
                self._reacting = self.reactions()  # the bus wired them after the inbox opened it
            return self
        self._begin()
        self._depth = 1
        self._audit: list[AuditDraft] = []
        self._outbox: list[OutboxMessage] = []
        self._seen: list[Aggregate] = []
        self._by_key: dict[tuple[type, object, object], Aggregate] = {}
        self._reacting = self.reactions() if self.reactions is not None else None
        self._positions: dict[tuple[str, str], int] = {}
        self._moved: set[tuple[str, str]] = set()
        self._known: dict[tuple[str, str], InboxMessage | None] = {}
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth:
            return  # the block that opened the transaction ends it
        try:
            self.rollback()
        finally:
            self._end()

    def _begin(self) -> None:  # noqa: B027 - a store's hook; a store in memory needs none
        """Open the transaction (a store's)."""

    def _end(self) -> None:  # noqa: B027 - as _begin
        """Release what the transaction held (a store's)."""

    def inbox_record(self, source: str, message_id: str) -> InboxMessage | None:
        """A message's inbox record, known to this transaction from here on (settled with it)."""
        known = self._inbox_record(source, message_id)
        self._known[(source, message_id)] = known
        return known

    def audit(self, draft: AuditDraft) -> None:
        """Add an entry to the trail, in this transaction."""
        self._audit.append(draft)

    def send(self, message: OutboxMessage) -> None:
        """Owe a message, in this transaction (the reactions to its events write them)."""
        self._outbox.append(message)

    def track(self, aggregate: A) -> A:
        """Watch an aggregate so its events are handled in this transaction."""
        if not any(seen is aggregate for seen in self._seen):  # identity: == compares contents
            self._seen.append(aggregate)
            key = (getattr(aggregate, "site", None), getattr(aggregate, "code", None))
            self._by_key.setdefault((type(aggregate), *key), aggregate)
        return aggregate

    def tracked(self, kind: type[T], site: str, code: str) -> T | None:
        """The aggregate of `kind` with this site and code this transaction watches, if any (by
        key: every reaction to every event of a run of results asks)."""
        found = self._by_key.get((kind, site, code))
        return found if isinstance(found, kind) else None

    def commit(self) -> None:
        """Handle pending events (their reactions: outbox rows, gates, deviations, ...), record
        the envelope in the inbox, seal the audit entries, commit all at once (promise 1)."""
        if self.read_only:
            raise RuntimeError("A unit of work opened for reading does not commit.")
        self.settle_message(self.received, self.correlation_id)
        self.received = None
        if self._reacting is not None:
            self._reacting.conclude(self)
        moved = {key: self._positions[key] for key in self._moved}
        self._write(self._audit, self._outbox)
        if moved:
            self._store_positions(moved)
        self._audit, self._outbox, self._moved = [], [], set()
        self._commit()

    def settle_message(
        self, received: Received | None, correlation_id: str | None, ctx: Context | None = None
    ) -> None:
        """One message's effect is complete: its events are handled in its name (`ctx`; None:
        the command's) and under its correlation id, and its envelope is recorded in the inbox.
        A batch of messages in one transaction settles each in turn; a single change settles
        at commit."""
        if received is not None:
            self._record_received(received, correlation_id)
        if self._reacting is not None:
            self._reacting.react(self, ctx)
        elif any(seen.events for seen in self._seen):
            raise RuntimeError(
                "Events were raised in a unit of work that has no reactions to handle them; "
                "run the change through the message bus, which wires them."
            )

    def _record_received(self, received: Received, correlation_id: str | None) -> None:
        last = self.stream_position(received.source, received.stream)
        if received.in_turn and received.sequence != last + 1:
            # The inbox admitted it as next, in this transaction, with its stream locked.
            raise RuntimeError(
                f"Message {received.message_id} is not next on {received.source}/"
                f"{received.stream} ({received.sequence} after {last}): admit it first."
            )
        now = self._now()
        held = self._inbox_record(received.source, received.message_id)
        if held is not None:  # it waited for a gap to fill
            held.status, held.applied_at = "applied", now
        else:
            self._add_applied(received, correlation_id, now)
        self.advance(received.source, received.stream, received.sequence)
        if received.sent_at is not None:
            self._note_skew(received.source, now - received.sent_at, now)

    def _note_skew(self, source: str, lag: timedelta, at: datetime) -> None:
        """A source's clock as one applied message shows it (a store keeps the tally; the
        fakes of the unit tests keep none)."""
        return

    def _add_applied(self, received: Received, correlation_id: str | None, at: datetime) -> None:
        """Record a message applied in this transaction (a store may write these in bulk)."""
        self.records.add(inbox_message(received, correlation_id, at, "applied"))

    def _now(self) -> datetime:
        return self.clock_now() if self.clock_now else datetime.now(UTC)

    def senders(self, site: str | None, schemas: Collection[str]) -> list[tuple[str, str, str]]:
        """(source, stream, schema) of every stream that has sent one of `schemas` to the site
        (None: any site), as the inbox knows them; a store without an inbox knows none."""
        return []

    # The channel allow-list installed with the hub (LABGATE_CHANNEL_SCHEMAS), until the first
    # version a change request put in force: wired by the store from the settings.
    installed_channels: AllowList = MappingProxyType({})

    def channel_allow_list(self, at: datetime) -> tuple[int, AllowList] | None:
        """The approved allow-list version in force at `at` (None: none yet, the installed
        one holds); a store may keep them between transactions."""
        return schedule_of(self.records.find(ChannelAllowListVersion)).in_force(at)

    def channel_senders(self, schemas: Collection[tuple[str, str]]) -> list[tuple[str, ...]]:
        """(channel, source, stream, schema) of every stream that has sent one of the
        (channel, schema) pairs, as the inbox knows them; a store without an inbox knows none."""
        return []

    def deviations_reaching(self, batch: Batch, now: datetime) -> list[Deviation]:
        """Deviations not on the batch that reach it: those of environmental excursions whose
        impact list names it. A store without environmental monitoring has none."""
        return []

    def measure_quality(self, site: str, now: datetime, windows: DqWindows) -> dict[str, Measure]:
        """Every data-quality rule's measure at a site, by rule id (SQL queries: a store alone
        answers them)."""
        raise NotImplementedError("Data-quality rules are measured by a database store.")

    def gate_tallies(self, site: str, batch: str, points: Collection[str]) -> dict[str, PointTally]:
        """The live samples of the batch at these points, counted per point (stores count them
        in the database: deciding whether to tell the MES loads no sample)."""
        drawn = self.gate_samples(site, batch, points)
        return {p: PointTally.of([s for s in drawn if s.sampling_point == p]) for p in points}

    def trail_review(
        self,
        site: str,
        period: tuple[datetime, datetime],
        source: str | None,
        draw: tuple[int, int],
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A periodic review's content: the period's trail by category, and the spot-check
        sample drawn with (seed, size). Only a store holding the trail can read it."""
        raise NotImplementedError("the audit trail is read from a store")

    def last_told(self, site: str, batch: str, operations: Collection[str]) -> dict[str, GateTold]:
        """What the MES was last told of each of these operations of the batch (stores find
        each operation's newest row by index, whatever the length of the gate's history)."""
        last: dict[str, GateTold] = {}
        for told in self.records.find(GateTold, site=site, batch=batch):  # oldest first
            if told.operation in operations:
                last[told.operation] = told
        return last

    def gate_samples(self, site: str, batch: str, points: Collection[str]) -> list[GateSample]:
        """The live samples of the batch at these sampling points as the gates see them, with
        the deviation that covers each (stores answer this with one light query)."""
        covering: dict[str, str] = {}
        for deviation in self.records.find(Deviation, site=site, batch=batch):
            covering.setdefault(deviation.sample, deviation.code)
        return [
            GateSample(e.sample, e.sampling_point, e.mes_status, covering.get(e.sample))
            for e in self.records.find_any(GateEntry, "sampling_point", points, site=site)
            if e.batch == batch and not e.cancelled
        ]

    def stream_position(self, source: str, stream: str) -> int:
        """The last sequence handled on a stream. The stream stays locked until this
        transaction ends, so workers in other processes take their turns on it one by one."""
        key = (source, stream)
        if key not in self._positions:
            self._positions[key] = self._lock_stream(source, stream)
        return self._positions[key]

    def advance(self, source: str, stream: str, sequence: int) -> None:
        """Move a stream's position to `sequence` (written at commit)."""
        key = (source, stream)
        self._positions[key] = max(self.stream_position(source, stream), sequence)
        self._moved.add(key)

    def waiting_streams(self, streams: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        """Of these (source, stream)s, those whose next number has been taken in and waits
        (held, or expired into quarantine while it waited); the store answers in one query."""
        waiting = set()
        for source, stream in streams:
            position = self.records.get(StreamPosition, source=source, stream=stream)
            following = (position.last_sequence if position else 0) + 1
            taken = self.records.find(
                InboxMessage, source=source, stream=stream, sequence=following
            )
            if taken and taken[0].status in ("held", "quarantined"):
                waiting.add((source, stream))
        return waiting

    def expect_received(self, received: Collection[Received]) -> None:
        """Look up the inbox records of a run of messages about to be settled in this
        transaction (those that were held), one query per source."""
        for source in {r.source for r in received}:
            ids = {r.message_id for r in received if r.source == source}
            self._known |= dict.fromkeys(((source, i) for i in ids), None)
            for found in self.records.find_any(InboxMessage, "message_id", ids, source=source):
                self._known[(source, found.message_id)] = found

    def _inbox_record(self, source: str, message_id: str) -> InboxMessage | None:
        """The inbox record of a message, committed by an earlier transaction if at all."""
        if (source, message_id) in self._known:
            return self._known.pop((source, message_id))
        return self.records.get(InboxMessage, source=source, message_id=message_id)

    def collect_new_events(self) -> Iterator[Event]:
        """The pending events of every aggregate seen, one at a time, each taken off its
        aggregate: the first aggregate's first, and an event raised while one is handled comes
        next when its aggregate is the same (a reaction follows what set it off). Ends when a
        look at every aggregate finds none pending."""
        start = 0
        while True:
            pending = next((i for i in range(start, len(self._seen)) if self._seen[i].events), None)
            if pending is not None:
                start = pending
                yield self._seen[pending].events.pop(0)
            elif start == 0:
                return
            else:
                start = 0  # one more look from the first: a reaction may raise on any of them

    def source_keys_version(self) -> int | None:
        """The version of the source keys in force, read in this transaction (None: a store
        that keeps no versions)."""
        return None

    def account(self, username: str) -> Account | None:
        """An account to read, not to change (a store may keep them between transactions)."""
        found: list[Account] = self.records.find(Account, username=username)
        return found[0] if found else None

    def aliases(self, site: str) -> list[Alias]:
        """The site's aliases (a store may keep them between transactions)."""
        return self.records.find(Alias, site=site)

    @abc.abstractmethod
    def status_map(self, at: datetime) -> StatusMap:
        """The status map in force at `at` (a change request's version from its date on)."""

    @abc.abstractmethod
    def unit_expressions(self) -> dict[str, str]:
        """The unit dictionary: code -> converter expression."""

    @abc.abstractmethod
    def unit_dictionary(self) -> dict[str, tuple[str, str]]:
        """The unit dictionary: code -> (converter expression, quantity kind)."""

    @abc.abstractmethod
    def next_number(self, counter: str) -> int:
        """The next value of a named counter (sample and result numbers)."""

    @abc.abstractmethod
    def _lock_stream(self, source: str, stream: str) -> int:
        """Lock the stream's position row for this transaction (made at 0 if new); its value."""

    @abc.abstractmethod
    def _store_positions(self, positions: dict[tuple[str, str], int]) -> None:
        """Write the streams' new positions."""

    @abc.abstractmethod
    def _write(self, audit: list[AuditDraft], outbox: list[OutboxMessage]) -> None:
        """Append the audit entries to the chain and the messages to the outbox."""

    @abc.abstractmethod
    def flush(self) -> None:
        """Send pending changes to the store now (new records get their ids)."""

    @abc.abstractmethod
    def _commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None:
        """Discard everything not committed."""


def inbox_message(
    received: Received, correlation_id: str | None, at: datetime, status: str
) -> InboxMessage:
    """The inbox record of an envelope."""
    return InboxMessage(**inbox_fields(received, correlation_id, at, status))


def inbox_fields(
    received: Received, correlation_id: str | None, at: datetime, status: str
) -> dict[str, Any]:
    """The inbox record of an envelope, field by field."""
    return {
        "source": received.source,
        "message_id": received.message_id,
        "stream": received.stream,
        "sequence": received.sequence,
        "schema": received.schema,
        "site": received.site,
        "correlation_id": correlation_id,
        "channel": received.channel,
        "received_at": at,
        "payload_hash": hashlib.sha256(received.raw).hexdigest(),
        "raw": received.raw,
        "status": status,
        "applied_at": at if status == "applied" else None,
    }
