"""A replay's steps: one stage of a decision, stored against recomputed, compared as canonical
bytes (RFC 8785), with the fields that differ named."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from labgate.compliance.canonical import canonical_bytes, to_jsonable


class Outcome(StrEnum):
    """A whole replay's verdict."""

    IDENTICAL = "identical"
    DIFFERS = "differs"


@dataclass(frozen=True)
class Difference:
    """One field of a step: what the record says, and what replaying it gives."""

    field: str
    stored: Any
    recomputed: Any


@dataclass(frozen=True)
class Step:
    """One stage of one record's decision (e.g. result B1-S1-R1, evaluation)."""

    subject: str
    name: str
    stored: Mapping[str, Any]
    recomputed: Mapping[str, Any]

    @property
    def identical(self) -> bool:
        """Whether the stored and recomputed stage are the same canonical bytes."""
        return canonical_bytes(self.stored) == canonical_bytes(self.recomputed)

    @property
    def differences(self) -> list[Difference]:
        """Every field whose canonical form differs, in field order."""
        names = list(dict.fromkeys([*self.stored, *self.recomputed]))
        stored, recomputed = to_jsonable(self.stored), to_jsonable(self.recomputed)
        return [
            Difference(name, stored.get(name), recomputed.get(name))
            for name in names
            if canonical_bytes(stored.get(name)) != canonical_bytes(recomputed.get(name))
        ]


def step(subject: str, name: str, stored: Mapping[str, Any], recomputed: Mapping[str, Any]) -> Step:
    """A step with both sides in their JSON form, so what is shown is what was compared."""
    return Step(subject, name, to_jsonable(stored), to_jsonable(recomputed))


@dataclass(frozen=True)
class Replay:
    """A record replayed: every step, and the verdict."""

    record_type: str  # "result" or "batch"
    site: str
    code: str
    steps: Sequence[Step]

    @property
    def outcome(self) -> Outcome:
        """Identical only when every step is."""
        same = all(s.identical for s in self.steps)
        return Outcome.IDENTICAL if same else Outcome.DIFFERS

    @property
    def differing(self) -> list[Step]:
        """The steps that replayed differently."""
        return [s for s in self.steps if not s.identical]
