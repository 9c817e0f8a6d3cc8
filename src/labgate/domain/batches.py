"""Batches and their ISA-88 procedural structure, with sampling points on phases."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum

from labgate.domain import events
from labgate.domain.errors import InvalidInput, NotFound
from labgate.domain.status_map import MesStatus


class Level(IntEnum):
    """ISA-88 procedural levels, outermost first."""

    PROCEDURE = 1
    UNIT_PROCEDURE = 2
    OPERATION = 3
    PHASE = 4


@dataclass
class ProceduralElement:
    """One node of a procedure, addressed by its path (`PROC/UP1/OP1/PH1`)."""

    path: str
    level: Level
    name: str = ""

    @property
    def parent_path(self) -> str | None:
        """The path of the enclosing element, None for the procedure."""
        head, _, _ = self.path.rpartition("/")
        return head or None


@dataclass
class SamplingPoint:
    """Where a sample is drawn: always on a phase (ISA-88 notes, line 2)."""

    site: str
    code: str
    procedure: str
    phase_path: str
    sample_type: str = "IPC"
    # What its samples do to the operation (domain/gates.py): block, allow_with_deviation or
    # informative. A point nobody classified blocks.
    gate: str = "block"
    # Its approved results are checked against earlier batches' (OOT alerts, domain/trending.py).
    trended: bool = False


@dataclass
class Procedure:
    """A master procedure: the ISA-88 tree a batch runs through."""

    site: str
    code: str
    product: str
    elements: list[ProceduralElement] = field(default_factory=list)

    def check_structure(self) -> None:
        """Every element sits one level below its parent, under this procedure."""
        by_path = {e.path: e for e in self.elements}
        for element in self.elements:
            parent = element.parent_path
            if element.level is Level.PROCEDURE:
                if element.path != self.code:
                    raise InvalidInput(
                        f"The procedure element must be named {self.code}, not {element.path}.",
                        reason="procedure.bad_root",
                        field="elements",
                    )
                continue
            if (
                parent is None
                or parent not in by_path
                or by_path[parent].level + 1 != element.level
            ):
                raise InvalidInput(
                    f"Element {element.path} ({element.level.name.lower()}) needs a parent one "
                    "level up: procedure → unit procedure → operation → phase.",
                    reason="procedure.bad_hierarchy",
                    field="elements",
                )

    def phase(self, path: str) -> ProceduralElement:
        """The phase at `path`, or NotFound."""
        for element in self.elements:
            if element.path == path and element.level is Level.PHASE:
                return element
        raise NotFound(
            f"Procedure {self.code} has no phase {path}.",
            reason="procedure.unknown_phase",
            field="phase_path",
        )


@dataclass
class Batch:
    """A production batch of a product, run under a procedure."""

    site: str
    code: str
    product: str
    procedure: str
    started_at: datetime | None = None
    released_by: str | None = None
    released_at: datetime | None = None
    events: list[events.Event] = field(default_factory=list, compare=False, repr=False)

    def dispose(
        self, disposition: str, by: str, at: datetime, reason: str, samples: Iterable[str]
    ) -> None:
        """QA released or rejected the batch on these samples, under an e-signature."""
        self.events.append(
            events.BatchDisposed(
                self.site, self.code, at, self.product, disposition, by, reason, tuple(samples)
            )
        )


def batch_status(sample_statuses: Iterable[MesStatus]) -> MesStatus:
    """Rejected if any sample is, Accepted only when all are, otherwise Pending."""
    statuses = list(sample_statuses)
    if MesStatus.REJECTED in statuses:
        return MesStatus.REJECTED
    if statuses and all(s is MesStatus.ACCEPTED for s in statuses):
        return MesStatus.ACCEPTED
    return MesStatus.PENDING


def release_content(batch: Batch, sample_codes: Iterable[str]) -> dict[str, object]:
    """What QA's release signature binds to: the batch and the samples it was released on."""
    return {
        "site": batch.site,
        "batch": batch.code,
        "product": batch.product,
        "samples": sorted(sample_codes),
    }
