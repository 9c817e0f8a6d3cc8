"""Fakes for the service layer's unit tests: they record what happened, nothing is mocked."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

from labgate.compliance.audit import AuditDraft
from labgate.domain.commands import Context
from labgate.domain.errors import UnitError
from labgate.domain.status_map import StatusMap
from labgate.service.deps import Deps
from labgate.service.inbox_records import StreamPosition
from labgate.service.outbox.records import OutboxMessage
from labgate.service.reactions.routing import Reactor
from labgate.service.unit_of_work import UnitOfWork

T = TypeVar("T")


class ManualClock:
    """A trusted clock that only moves when a test tells it to."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        """The time the clock was last set to."""
        return self._now

    def advance(self, **delta: float) -> datetime:
        """Move forward by a timedelta's keyword arguments."""
        self._now += timedelta(**delta)
        return self._now


class FakeRecords:
    """Records kept in lists, found by attribute equality."""

    def __init__(self) -> None:
        self.rows: list[object] = []

    def add(self, record: object) -> None:
        if record not in self.rows:
            self.rows.append(record)

    def get(self, kind: type[T], /, **key: Any) -> T | None:
        found = self.find(kind, **key)
        assert len(found) <= 1, f"{kind.__name__} key {key} is not unique"
        return found[0] if found else None

    def find(self, kind: type[T], /, **where: Any) -> list[T]:
        return [
            r
            for r in self.rows
            if isinstance(r, kind) and all(getattr(r, k) == v for k, v in where.items())
        ]

    def find_any(
        self, kind: type[T], field: str, values: Collection[Any], /, **where: Any
    ) -> list[T]:
        return [r for r in self.find(kind, **where) if getattr(r, field) in values]


class FakeUnitOfWork(UnitOfWork):
    """Keeps records in memory; `committed`, `audit_log` and `sent` say what happened."""

    def __init__(self, units: dict[str, str] | None = None) -> None:
        self.records = FakeRecords()
        self.committed = 0
        self.audit_log: list[AuditDraft] = []
        self.sent: list[OutboxMessage] = []
        self.units = units or {}
        self.unit_kinds: dict[str, str] = {}
        self.counters: dict[str, int] = {}
        self._staged: tuple[list[AuditDraft], list[OutboxMessage]] = ([], [])
        # Used outside the bus (which wires its own per command), events are handled by the
        # real routing table, in a system account's name.
        deps = Deps(ManualClock(datetime(2026, 1, 1, tzinfo=UTC)), lambda _e: TableUnits({}))
        self.reactions = partial(Reactor, deps, Context("labgate", "system"))

    def status_map(self, at: datetime) -> StatusMap:
        return StatusMap()

    def unit_expressions(self) -> dict[str, str]:
        return dict(self.units)

    def unit_dictionary(self) -> dict[str, tuple[str, str]]:
        # The units the unit tests report in (TableUnits gives the factors), one kind unless told.
        kinds = self.unit_kinds or dict.fromkeys(("%", "mg/g", *self.units), "mass fraction")
        return {code: (self.units.get(code, code), kind) for code, kind in kinds.items()}

    def next_number(self, counter: str) -> int:
        self.counters[counter] = self.counters.get(counter, 0) + 1
        return self.counters[counter]

    def _lock_stream(self, source: str, stream: str) -> int:
        position = self.records.get(StreamPosition, source=source, stream=stream)
        return position.last_sequence if position else 0

    def _store_positions(self, positions: dict[tuple[str, str], int]) -> None:
        for (source, stream), sequence in positions.items():
            position = self.records.get(StreamPosition, source=source, stream=stream)
            if position is None:
                self.records.add(StreamPosition(source, stream, sequence))
            else:
                position.last_sequence = sequence

    def _write(self, audit: list[AuditDraft], outbox: list[OutboxMessage]) -> None:
        self._staged = (list(audit), list(outbox))

    def _commit(self) -> None:
        self.committed += 1
        self.audit_log.extend(self._staged[0])
        self.sent.extend(self._staged[1])
        self._staged = ([], [])

    def flush(self) -> None:
        for number, row in enumerate(self.records.rows, start=1):
            if getattr(row, "id", None) is None:
                row.id = number  # type: ignore[attr-defined]

    def rollback(self) -> None:
        self._staged = ([], [])


class TableUnits:
    """A unit converter from a fixed table of factors."""

    def __init__(self, factors: dict[tuple[str, str], str]) -> None:
        self.factors = factors

    def factor(self, from_unit: str, to_unit: str) -> Decimal:
        if from_unit == to_unit:
            return Decimal(1)
        try:
            return Decimal(self.factors[(from_unit, to_unit)])
        except KeyError:
            raise UnitError(f"No factor from {from_unit} to {to_unit}.", field="unit") from None


class RecordingTrendCheck:
    """The OOT port: answers a fixed verdict (or none) and records every history it was shown."""

    def __init__(self, verdict: Any = None) -> None:
        self.verdict = verdict
        self.calls: list[tuple[list[Any], Any, Decimal]] = []

    def __call__(self, history: Any, new: Any, alpha: Decimal) -> Any:
        self.calls.append((list(history), new, alpha))
        return self.verdict
