"""IPC gates: may an ISA-88 operation with sampling points complete?

An operation's sampling points sit on its phases (ISA-88 notes, line 2); the transition after the
sample phase waits on the LIMS result (line 4). Per sampling point the plant chooses what its
samples do to the operation:

- block: the operation completes only when every sample drawn there is Accepted;
- allow with deviation: a Rejected sample lets it complete only when a deviation covers it;
- informative: shown, never blocking.

Only reviewed results speak (promise 4): a Pending sample blocks a blocking point like a missing
one, and a point that needs a sample but has none waits for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from labgate.domain.batches import Level, Procedure, SamplingPoint
from labgate.domain.errors import InvalidInput, NotFound
from labgate.domain.status_map import MesStatus


class GateMode(StrEnum):
    """What a sampling point's samples do to its operation."""

    BLOCK = "block"
    ALLOW_WITH_DEVIATION = "allow_with_deviation"
    INFORMATIVE = "informative"


def gate_mode(text: str, field: str = "gate") -> GateMode:
    """Read a gate mode, naming the accepted ones when it is unknown."""
    try:
        return GateMode(text)
    except ValueError:
        names = ", ".join(m.value for m in GateMode)
        raise InvalidInput(
            f"The gate {text!r} is unknown; use one of {names}.", reason="gate.unknown", field=field
        ) from None


@dataclass(frozen=True)
class GateSample:
    """A live (not cancelled) sample of the batch as the gate sees it."""

    code: str
    sampling_point: str
    mes_status: MesStatus
    deviation: str | None = None  # the deviation that covers a Rejected sample, if any


@dataclass(frozen=True)
class PointTally:
    """A point's live samples counted by what they do to its gate: enough to say whether it
    passes without loading them (a batch's gates are decided again at every change)."""

    drawn: int = 0
    pending: int = 0
    rejected: int = 0
    uncovered: int = 0  # rejected, and no deviation covers them

    @classmethod
    def of(cls, samples: Sequence[GateSample]) -> PointTally:
        """The tally of these samples."""
        rejected = [s for s in samples if s.mes_status is MesStatus.REJECTED]
        return cls(
            len(samples),
            sum(1 for s in samples if s.mes_status is MesStatus.PENDING),
            len(rejected),
            sum(1 for s in rejected if s.deviation is None),
        )


def point_passes(mode: GateMode, tally: PointTally) -> bool:
    """Does the point let its operation complete? (The module docstring has the rules.)"""
    if mode is GateMode.INFORMATIVE:
        return True
    if not tally.drawn or tally.pending:
        return False
    if not tally.rejected:
        return True
    return mode is GateMode.ALLOW_WITH_DEVIATION and not tally.uncovered


@dataclass(frozen=True)
class PointVerdict:
    """One sampling point of the operation: does it let the operation complete, and why."""

    sampling_point: str
    mode: GateMode
    passes: bool
    why: str
    samples: tuple[str, ...]

    def summary(self) -> dict[str, object]:
        """The point as the MES message and the API show it (the API adds its samples)."""
        return {
            "sampling_point": self.sampling_point,
            "gate": self.mode.value,
            "passes": self.passes,
            "why": self.why,
        }


@dataclass(frozen=True)
class GateDecision:
    """The operation may complete, or must hold (the MES is told), point by point."""

    operation: str
    may_complete: bool
    points: tuple[PointVerdict, ...]

    @property
    def waiting_for(self) -> tuple[str, ...]:
        """The sampling points that keep the operation from completing."""
        return tuple(p.sampling_point for p in self.points if not p.passes)


@dataclass
class GateEntry:
    """A sample drawn at a sampling point of a batch, as the gates see it. Kept in the
    transaction that changes the sample, so a gate is decided without loading every sample
    of the batch with its results."""

    site: str
    batch: str
    sampling_point: str
    sample: str
    mes_status: MesStatus
    cancelled: bool = False


@dataclass
class GateTold:
    """What the MES was told about an operation's gate, and when: one row per change, so the
    rows are the gate's history."""

    site: str
    batch: str
    operation: str
    may_complete: bool
    waiting_for: str  # the sampling points it waits for, comma-separated
    decided_at: datetime
    message_id: str

    def tells(self, waiting_for: tuple[str, ...]) -> bool:
        """Is this what the MES was told, if the operation now waits for these points?"""
        return (self.may_complete, self.waiting_for) == (not waiting_for, ",".join(waiting_for))


def operation_of(point: SamplingPoint) -> str:
    """The operation a sampling point's phase belongs to (ISA-88: a phase sits in one)."""
    return point.phase_path.rpartition("/")[0]


def operation_gate(
    procedure: Procedure,
    operation: str,
    points: Iterable[SamplingPoint],
    modes: Mapping[str, GateMode],
    samples: Iterable[GateSample],
) -> GateDecision:
    """Decide the gate of `operation` (a path in `procedure`) from its points' samples."""
    if not any(e.path == operation and e.level is Level.OPERATION for e in procedure.elements):
        raise NotFound(
            f"Procedure {procedure.code} has no operation {operation}.",
            reason="procedure.unknown_operation",
            field="operation",
        )
    drawn = list(samples)
    verdicts = tuple(
        _verdict(
            p.code,
            modes.get(p.code, GateMode.BLOCK),
            [s for s in drawn if s.sampling_point == p.code],
        )
        for p in _inside(operation, points)
    )
    return GateDecision(operation, all(v.passes for v in verdicts), verdicts)


def waiting_points(
    operation: str,
    points: Iterable[SamplingPoint],
    modes: Mapping[str, GateMode],
    tallies: Mapping[str, PointTally],
) -> tuple[str, ...]:
    """What `operation_gate` would say the operation waits for, from the points' tallies."""
    return tuple(
        p.code
        for p in _inside(operation, points)
        if not point_passes(modes.get(p.code, GateMode.BLOCK), tallies.get(p.code, PointTally()))
    )


def _inside(operation: str, points: Iterable[SamplingPoint]) -> list[SamplingPoint]:
    return sorted((p for p in points if operation_of(p) == operation), key=lambda p: p.code)


def _verdict(point: str, mode: GateMode, samples: list[GateSample]) -> PointVerdict:
    passes = point_passes(mode, PointTally.of(samples))
    return PointVerdict(point, mode, passes, _why(mode, samples), tuple(s.code for s in samples))


def _why(mode: GateMode, samples: list[GateSample]) -> str:
    if mode is GateMode.INFORMATIVE:
        return "informative only: its samples never hold the operation"
    if not samples:
        return "no sample has been drawn here yet"
    pending = [s.code for s in samples if s.mes_status is MesStatus.PENDING]
    if pending:
        return f"waiting for reviewed results of {', '.join(pending)}"
    rejected = [s for s in samples if s.mes_status is MesStatus.REJECTED]
    if not rejected:
        return "every sample is Accepted"
    if mode is GateMode.BLOCK:
        return f"{', '.join(s.code for s in rejected)} Rejected"
    uncovered = [s.code for s in rejected if s.deviation is None]
    if uncovered:
        return f"{', '.join(uncovered)} Rejected without a deviation"
    covered = ", ".join(f"{s.code} under {s.deviation}" for s in rejected)
    return f"allowed with deviation: {covered}"
