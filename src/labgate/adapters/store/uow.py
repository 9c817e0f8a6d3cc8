"""The SQLAlchemy unit of work: one session, one transaction, audit chain and outbox included."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Collection
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import (
    Select,
    Table,
    TextClause,
    and_,
    bindparam,
    case,
    false,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from labgate.adapters.store import children
from labgate.adapters.store import config_store as cs
from labgate.adapters.store import tables as t
from labgate.adapters.store.dq_measures import measure_all
from labgate.adapters.store.engine import WRITE
from labgate.adapters.store.gate_view import deciding_samples, last_told, point_tallies
from labgate.adapters.store.review_signals import reaching
from labgate.adapters.store.trail_review import spot_check_sample, trail_findings
from labgate.adapters.store.writer_turns import writer_turn
from labgate.compliance.access import Account
from labgate.compliance.audit import AuditDraft, seal
from labgate.compliance.throttle import RefusalWindow
from labgate.domain.batches import Batch
from labgate.domain.channel_allow_list import AllowList
from labgate.domain.data_quality import DqWindows, Measure
from labgate.domain.deviations import Deviation
from labgate.domain.gates import GateSample, GateTold, PointTally
from labgate.domain.masterdata import Alias
from labgate.domain.raw_materials import MaterialPlan, ReceivedLot
from labgate.domain.samples import Sample
from labgate.domain.stability import StabilityStudy
from labgate.domain.status_map import StatusMap
from labgate.domain.trending import OotAlert
from labgate.service.config_cache import ConfigCache
from labgate.service.inbox_records import InboxMessage, Received
from labgate.service.outbox.records import OutboxMessage, seal_entry
from labgate.service.unit_of_work import UnitOfWork, inbox_fields

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PgInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert

    from labgate.service.outbox.relay_bell import Bell

T = TypeVar("T")
# PostgreSQL: a transaction that writes outbox rows NOTIFYs this channel, one notification per
# destination (the payload); relays in other processes LISTEN on it (outbox_listen.py).
OUTBOX_CHANNEL = "labgate_outbox"


class SqlRecords:
    """Records over an ORM session; every key is a mapped attribute. An aggregate loaded to be
    changed (by key: `get`, `find_any`) is locked (FOR UPDATE on PostgreSQL) until the unit of
    work ends, so two transactions that change one sample (two LIMS streams reporting its tests
    at once) take turns instead of both numbering a result R1; SQLite's writer lock already
    serialises them. Lists (`find`) are read without locks."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, record: object) -> None:
        """Keep a new record."""
        self.session.add(record)

    def get(self, kind: type[T], /, **key: Any) -> T | None:
        """The one record with these key values, or None."""
        query, values = _where(kind, key, locked=True)
        return self.session.scalars(query, values).one_or_none()

    def find(self, kind: type[T], /, **where: Any) -> list[T]:
        """Every record with these values, oldest first."""
        query, values = _where(kind, where, locked=False)
        return list(self.session.scalars(query, values))

    def find_any(
        self, kind: type[T], field: str, values: Collection[Any], /, **where: Any
    ) -> list[T]:
        """Every record whose `field` is one of `values` (and with these values): one query."""
        query, known = _where(kind, where, locked=True, any_of=field)
        return list(self.session.scalars(query, {**known, _ANY: list(values)}))


_ANY = "any_of"


def _where(
    kind: type, key: dict[str, Any], locked: bool, any_of: str | None = None
) -> tuple[Select[Any], dict[str, Any]]:
    """The query for records with these values (and `any_of` in a list), built once per shape:
    building a select costs about as much as running it. A None is matched with IS NULL."""
    nulls = frozenset(name for name, value in key.items() if value is None)
    query = _query(kind, tuple(sorted(key)), nulls, locked, any_of)
    return query, {f"k_{name}": value for name, value in key.items() if value is not None}


@functools.lru_cache(maxsize=1024)
def _query(
    kind: type, names: tuple[str, ...], nulls: frozenset[str], locked: bool, any_of: str | None
) -> Select[Any]:
    mapper: Any = inspect(kind)
    column = {
        name: mapper.attrs[name].class_attribute for name in (*names, *[any_of] * bool(any_of))
    }
    criteria = [
        column[name].is_(None) if name in nulls else column[name] == bindparam(f"k_{name}")
        for name in names
    ]
    if any_of is not None:
        criteria.append(column[any_of].in_(bindparam(_ANY, expanding=True)))
    query: Select[Any] = select(kind).where(*criteria).order_by(*mapper.primary_key)
    return _locked(kind, query) if locked else query


# The aggregates a change reads and then writes. Rows are locked in primary-key order (every
# find is ordered by it), so two transactions never wait for each other in a circle.
LOCKED_KINDS: frozenset[type] = frozenset({Sample, Batch, Deviation, ReceivedLot, MaterialPlan})
# A study approved or an alert acknowledged twice at once: the second waits, then is refused.
LOCKED_KINDS |= {StabilityStudy, OotAlert}
# Two administrators deactivating each other at once: the second waits, then finds itself last.
LOCKED_KINDS |= {Account}
# One client's refusals counted at once (compliance/throttle.py): none is lost.
LOCKED_KINDS |= {RefusalWindow}


def _locked(kind: type, query: Select[Any]) -> Select[Any]:
    return query.with_for_update() if kind in LOCKED_KINDS else query


# Statements every transaction runs, built once.
_MOVE_COUNTER = (
    update(t.counters)
    .where(t.counters.c.name == bindparam("c_name"))
    .values(value=t.counters.c.value + bindparam("c_count"))
    .returning(t.counters.c.value)
)
_STREAM = (
    t.stream_positions.c.source == bindparam("s_source"),
    t.stream_positions.c.stream == bindparam("s_stream"),
)
_LOCK_STREAM = select(t.stream_positions.c.last_sequence).where(*_STREAM).with_for_update()
_MOVE_STREAM = update(t.stream_positions).where(*_STREAM).values(last_sequence=bindparam("s_last"))
_AUDIT_HEAD = (
    select(t.audit_head.c.seq, t.audit_head.c.hash).where(t.audit_head.c.id == 1).with_for_update()
)
_MOVE_AUDIT_HEAD = (
    update(t.audit_head)
    .where(t.audit_head.c.id == 1)
    .values(seq=bindparam("h_seq"), hash=bindparam("h_hash"))
)


class SqlUnitOfWork(UnitOfWork):
    """A unit of work on SQLite or PostgreSQL."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        external_lims: bool = False,
        config: ConfigCache | None = None,
        bell: Bell | None = None,
        installed_channels: AllowList | None = None,
    ):
        self.session_factory = session_factory
        if installed_channels is not None:
            self.installed_channels = installed_channels
        self.external_lims = external_lims
        self.config = config or ConfigCache()  # one per database, shared by its units of work
        self.bell = bell  # rung after a commit that wrote outbox rows: a relay here wakes

    def _begin(self) -> None:
        self._applied: list[dict[str, Any]] = []
        self._skews: dict[str, SkewTally] = {}
        self._versions: dict[str, int] | None = None
        self._message = False
        self._owed = False  # outbox rows written: ring the bell once they are committed
        self.session = self.session_factory()
        self._turn = ExitStack()
        try:
            if not self.read_only:
                self._turn.enter_context(writer_turn(self.session_factory))  # SQLite: in order
            # Mark the transaction as a writer before it begins (SQLite: BEGIN IMMEDIATE).
            self.session.connection(execution_options={WRITE: not self.read_only})
            self.records = SqlRecords(self.session)
        except BaseException:  # nothing began that needs keeping
            self._end()
            raise

    def _end(self) -> None:
        try:
            self.session.close()
        finally:
            self._turn.close()

    def deviations_reaching(self, batch: Batch, now: datetime) -> list[Deviation]:
        """The deviations of EM excursions whose impact list names the batch."""
        codes = [x.deviation for x in reaching(self.session, batch, now) if x.deviation]
        return self.records.find_any(Deviation, "code", codes, site=batch.site) if codes else []

    def gate_samples(self, site: str, batch: str, points: Collection[str]) -> list[GateSample]:
        """The samples that decide these points' gates, in two light queries."""
        return deciding_samples(self.session, site, batch, points)

    def measure_quality(self, site: str, now: datetime, windows: DqWindows) -> dict[str, Measure]:
        """The rules' count queries (dq_measures.py), in this transaction."""
        return measure_all(self.session, site, now, windows)

    def gate_tallies(self, site: str, batch: str, points: Collection[str]) -> dict[str, PointTally]:
        """The points' live samples counted in the database (one grouped query, and one more
        for deviations only where a sample is Rejected)."""
        return point_tallies(self.session, site, batch, points)

    def trail_review(
        self,
        site: str,
        period: tuple[datetime, datetime],
        source: str | None,
        draw: tuple[int, int],
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The period's trail by category and the seeded spot-check sample (trail_review.py)."""
        findings = trail_findings(self.session, site, period, source)
        return findings, spot_check_sample(self.session, site, period, source, *draw)

    def last_told(self, site: str, batch: str, operations: Collection[str]) -> dict[str, GateTold]:
        """Each operation's newest gates_told row, found by index."""
        return last_told(self.session, site, batch, operations)

    def senders(self, site: str | None, schemas: Collection[str]) -> list[tuple[str, str, str]]:
        """The inbox's distinct (source, stream, schema) for these schemas, in one query."""
        m = t.inbox_messages.c
        query = select(m.source, m.stream, m.schema).where(m.schema.in_(sorted(schemas)))
        if site is not None:
            query = query.where(m.site == site)
        rows = self.session.execute(query.distinct().order_by(m.source, m.stream, m.schema))
        return [(source, stream, schema) for source, stream, schema in rows]

    def channel_allow_list(self, at: datetime) -> tuple[int, AllowList] | None:
        """The approved allow-list in force at `at` (cached, as the status map)."""
        version = self._config_versions()["channel_allow_list"]
        schedule = self.config.channel_allow_list.at(
            version, lambda: cs.load_channel_allow_lists(self.session)
        )
        return schedule.in_force(at)

    def channel_senders(self, schemas: Collection[tuple[str, str]]) -> list[tuple[str, ...]]:
        """The inbox's distinct (channel, source, stream, schema) for these pairs, one query."""
        m = t.inbox_messages.c
        wanted = or_(false(), *(and_(m.channel == c, m.schema == s) for c, s in sorted(schemas)))
        query = select(m.channel, m.source, m.stream, m.schema).where(wanted).distinct()
        rows = self.session.execute(query.order_by(m.channel, m.source, m.stream, m.schema))
        return [tuple(row) for row in rows]

    def status_map(self, at: datetime) -> StatusMap:
        """The status map in force at `at` (the versions cached; read again when they moved)."""
        version = self._config_versions()["status_map"]
        schedule = self.config.status_map.at(version, lambda: cs.load_status_map(self.session))
        return schedule.in_force(at)

    def unit_expressions(self) -> dict[str, str]:
        """The unit dictionary."""
        return {code: expression for code, (expression, _) in self.unit_dictionary().items()}

    def unit_dictionary(self) -> dict[str, tuple[str, str]]:
        """The unit dictionary with each unit's quantity kind (cached, as the status map)."""
        version = self._config_versions()["units"]
        return dict(self.config.units.at(version, lambda: cs.load_units(self.session)))

    def account(self, username: str) -> Account | None:
        """The account as it is (cached, as the status map; shared: never changed by a caller)."""
        version = self._config_versions()["accounts"]
        table = self.config.accounts.at(version, lambda: cs.load_accounts(self.session))
        return table.by_username.get(username)

    def aliases(self, site: str) -> list[Alias]:
        """The site's aliases (cached, as the status map)."""
        version = self._config_versions()["aliases"]
        return list(self.config.aliases.at(version, lambda: cs.load_aliases(self.session))
                    .get(site, ()))  # fmt: skip

    def source_keys_version(self) -> int | None:
        """The keys' version in this transaction; the process's cache follows it (a message
        found changed keys is checked again with the cache)."""
        version = self._config_versions()["source_keys"]
        self.config.source_keys.at(version, lambda: cs.load_keys(self.session))
        return version

    def _config_versions(self) -> dict[str, int]:
        """The configuration's versions, read once a transaction; a message's transaction (one
        that locked a stream) holds them shared until it ends (config_store.py says why)."""
        if self._versions is None:
            shared = self._message and not self.read_only
            self._versions = cs.read_versions(self.session, shared)
        return self._versions

    def next_number(self, counter: str) -> int:
        """Increment a named counter inside this transaction."""
        return self._reserve(counter, 1)

    def _reserve(self, counter: str, count: int) -> int:
        """Move a named counter on by `count`; the first of the numbers reserved."""
        moved = {"c_name": counter, "c_count": count}
        value = self.session.execute(_MOVE_COUNTER, moved).scalar_one_or_none()
        if value is None:
            # Two first users of a counter race to create it: the loser's insert does nothing.
            upsert = self._insert_or_ignore()
            self.session.execute(
                upsert(t.counters).values(name=counter, value=0).on_conflict_do_nothing()
            )
            value = self.session.execute(_MOVE_COUNTER, moved).scalar_one()
        return int(value) - count + 1

    def _insert_or_ignore(self) -> Callable[[Table], PgInsert | SqliteInsert]:
        """The dialect's INSERT with ON CONFLICT: imported here, so that a SQLite command does not
        import PostgreSQL's dialects (a fifth of a second at start) nor the reverse."""
        if self._dialect() == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert

    def _lock_stream(self, source: str, stream: str) -> int:
        # FOR UPDATE on PostgreSQL: another process's transaction on the stream waits for this
        # one (SQLite's writer lock already serialises them). A new stream's row is made first
        # so that there is a row to lock; two first users race, the loser's insert does nothing.
        self._message = True  # only a message's transaction takes its stream's turn
        key = {"s_source": source, "s_stream": stream}
        found = self.session.execute(_LOCK_STREAM, key).scalar_one_or_none()
        if found is None:
            upsert = self._insert_or_ignore()
            row = {"source": source, "stream": stream, "last_sequence": 0}
            self.session.execute(upsert(t.stream_positions).values(row).on_conflict_do_nothing())
            found = self.session.execute(_LOCK_STREAM, key).scalar_one()
        return int(found)

    def waiting_streams(self, streams: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        # One query for the lot: a message taken in (held, or expired into quarantine) whose
        # number is the stream's next. Most runs find none. One branch per stream, each a point
        # look-up of (source, stream, next number) in the stream's index: a row-value IN list
        # joined to the positions made SQLite scan the whole inbox (every message ever
        # received, raw bytes and all) after every group, and grow with the history; OR-ed
        # terms let PostgreSQL factor out the source and read all of a partner's messages.
        found: set[tuple[str, str]] = set()
        ordered = sorted(streams)
        for start in range(0, len(ordered), _BRANCHES):  # SQLite takes 500 at most in one
            part = ordered[start : start + _BRANCHES]
            params = {f"{name}{n}": value for n, pair in enumerate(part)
                      for name, value in zip(("s", "t"), pair, strict=True)}  # fmt: skip
            rows = self.session.execute(_waiting_query(len(part)), params)
            found |= {(row.source, row.stream) for row in rows}
        return found

    def _store_skews(self) -> None:
        """One statement a transaction for every source it applied messages of: the tally
        added to the source's row (made by the first)."""
        upsert = self._insert_or_ignore()
        rows = [
            {"source": source, "messages": tally.messages, "total_ms": tally.total_ms,
             "min_ms": tally.min_ms, "max_ms": tally.max_ms, "last_ms": tally.last_ms,
             "last_received_at": tally.last_at}
            for source, tally in sorted(self._skews.items())
        ]  # fmt: skip
        self._skews = {}
        for row in rows:  # one per source: ON CONFLICT takes one row of a key per statement
            statement = upsert(t.source_clock_skew).values(row)
            now, was = statement.excluded, t.source_clock_skew.c
            self.session.execute(
                statement.on_conflict_do_update(
                    index_elements=[was.source],
                    set_={
                        "messages": was.messages + now.messages,
                        "total_ms": was.total_ms + now.total_ms,
                        "min_ms": case((now.min_ms < was.min_ms, now.min_ms), else_=was.min_ms),
                        "max_ms": case((now.max_ms > was.max_ms, now.max_ms), else_=was.max_ms),
                        "last_ms": now.last_ms,
                        "last_received_at": now.last_received_at,
                    },
                )
            )

    def _store_positions(self, positions: dict[tuple[str, str], int]) -> None:
        rows = [
            {"s_source": source, "s_stream": stream, "s_last": sequence}
            for (source, stream), sequence in positions.items()
        ]
        self.session.execute(_MOVE_STREAM, rows)

    def _note_skew(self, source: str, lag: timedelta, at: datetime) -> None:
        ms = round(lag.total_seconds() * 1000)
        tally = self._skews.get(source)
        if tally is None:
            self._skews[source] = SkewTally(1, ms, ms, ms, ms, at)
        else:
            self._skews[source] = tally.plus(ms, at)

    def _add_applied(self, received: Received, correlation_id: str | None, at: datetime) -> None:
        # Plain rows, written at commit in one INSERT: a batch of envelopes settles hundreds.
        self._applied.append(inbox_fields(received, correlation_id, at, "applied"))

    def _inbox_record(self, source: str, message_id: str) -> InboxMessage | None:
        # Only an earlier transaction can have recorded it (one message, one transaction), so
        # there is nothing of this one's to flush first: in a batch that saves a flush a result.
        with self.session.no_autoflush:
            return super()._inbox_record(source, message_id)

    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def _write(self, audit: list[AuditDraft], outbox: list[OutboxMessage]) -> None:
        self.flush()
        if self._skews:
            self._store_skews()
        rows: list[dict[str, Any]] = []
        if outbox:
            # Sequences per destination, gap-free and in outbox order: one counter move each.
            wanted = Counter(m.destination for m in outbox)
            following = {d: self._reserve(f"outbox:{d}", n) for d, n in wanted.items()}
            for message in outbox:
                rows.append(_outbox_row(message) | {"sequence": following[message.destination]})
                following[message.destination] += 1
        # Each row is sealed by an entry of this transaction's own trail (its content hash),
        # so a payload edited after commit no longer matches what the chain vouches for.
        seals = [seal_entry(m, row["sequence"]) for m, row in zip(outbox, rows, strict=True)]
        if audit or seals:
            first_seal = self._append_audit([*audit, *seals]) - len(seals) + 1
            for n, row in enumerate(rows):
                row["seal_seq"] = first_seal + n
        if rows:
            self.session.execute(insert(t.outbox), rows)
            self._announce(sorted({row["destination"] for row in rows}))

    def _announce(self, destinations: list[str]) -> None:
        # PostgreSQL holds a NOTIFY until the transaction commits and drops it on rollback, so a
        # listening relay wakes exactly when the rows become visible to it. Notifying commits
        # queue on one server-wide lock; every writer here already takes turns on the audit head.
        if self._dialect() == "postgresql":
            self.session.execute(select(*(func.pg_notify(OUTBOX_CHANNEL, d) for d in destinations)))
        self._owed = True

    def _append_audit(self, drafts: list[AuditDraft]) -> int:
        # The head row is locked (FOR UPDATE on PostgreSQL; SQLite's writer lock is already
        # held), so concurrent writers append one after another and the chain never forks.
        head = self.session.execute(_AUDIT_HEAD).one()
        seq, prev = head.seq, head.hash
        rows = []
        for draft in drafts:
            seq += 1
            entry = seal(draft, seq, prev)
            prev = entry.hash
            rows.append(_audit_row(entry.seq, draft, entry.prev_hash, entry.hash))
        self.session.execute(insert(t.audit_entries), rows)
        self.session.execute(_MOVE_AUDIT_HEAD, {"h_seq": seq, "h_hash": prev})
        return int(seq)

    def flush(self) -> None:
        """Send pending changes to the database inside the transaction: the ORM's, a sample's
        children, the messages applied so far."""
        children.write_children(self.session)
        if self._applied:
            self.session.execute(insert(t.inbox_messages), self._applied)
            self._applied = []

    def _commit(self) -> None:
        children.written(self.session)  # by _write, just before: nothing changed them since
        self.session.commit()
        if self._owed and self.bell is not None:
            self.bell.ring()
        self._owed = False

    def rollback(self) -> None:
        """Discard the transaction."""
        self.session.rollback()


def _audit_row(seq: int, d: AuditDraft, prev_hash: str, hash_: str) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": d.at,
        "site": d.site,
        "actor": d.actor,
        "actor_kind": d.actor_kind,
        "action": d.action,
        "record_type": d.record_type,
        "record_id": d.record_id,
        "before": d.before,
        "after": d.after,
        "reason": d.reason,
        "payload_hash": d.payload_hash,
        "correlation_id": d.correlation_id,
        "prev_hash": prev_hash,
        "hash": hash_,
    }


def _outbox_row(m: OutboxMessage) -> dict[str, Any]:
    return {
        "site": m.site,
        "destination": m.destination,
        "message_type": m.message_type,
        "schema": m.schema,
        "message_id": m.message_id,
        "correlation_id": m.correlation_id,
        "record_id": m.record_id,
        "payload": m.payload,
        "created_at": m.created_at,
        "status": "pending",
    }


@dataclass(frozen=True)
class SkewTally:
    """A transaction's messages from one source: received_at - sent_at, in ms."""

    messages: int
    total_ms: int
    min_ms: int
    max_ms: int
    last_ms: int
    last_at: datetime

    def plus(self, ms: int, at: datetime) -> SkewTally:
        """With one more message."""
        return SkewTally(self.messages + 1, self.total_ms + ms, min(self.min_ms, ms),
                         max(self.max_ms, ms), ms, at)  # fmt: skip


_BRANCHES = 200  # streams looked up per query


# One branch of `waiting_streams`: the stream's message at its next number (1 before its first),
# taken in and waiting. Plain SQL, made once per branch count: built from SQLAlchemy constructs,
# the 50-branch query of a REST group cost ~9 % of the intake's CPU in building and cache keys.
_WAITING_BRANCH = (
    "SELECT i.source, i.stream FROM inbox_messages AS i"
    " WHERE i.source = :s{n} AND i.stream = :t{n} AND i.status IN ('held', 'quarantined')"
    " AND i.sequence = (SELECT COALESCE(MAX(p.last_sequence), 0) + 1 FROM stream_positions AS p"
    " WHERE p.source = :s{n} AND p.stream = :t{n})"
)


@functools.cache
def _waiting_query(branches: int) -> TextClause:
    return text(" UNION ALL ".join(_WAITING_BRANCH.format(n=n) for n in range(branches)))
