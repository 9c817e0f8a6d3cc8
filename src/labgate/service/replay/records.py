"""What a replay reads: the stored records, the versions they were bound to, and the port that
reads them (the store's read-only view implements it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from labgate.compliance.signatures import Signature
from labgate.domain.batches import Batch
from labgate.domain.deviations import Deviation
from labgate.domain.errors import NotFound
from labgate.domain.masterdata import MethodVersion, SpecVersion
from labgate.domain.samples import Sample
from labgate.domain.status_map import StatusMap


@dataclass(frozen=True)
class Versions:
    """The specification and method versions samples were bound to, as they are stored now."""

    specs: Mapping[tuple[str, int], SpecVersion] = field(default_factory=dict)
    methods: Mapping[tuple[str, str], MethodVersion] = field(default_factory=dict)


@dataclass(frozen=True)
class Rules:
    """The rules a replay recomputes with: every status map that was put in force, by version
    (0: the one installed with the hub; a result names the one it was decided under), and the
    unit dictionary in force (code -> (pint expression, quantity kind)), which carries no
    version."""

    status_maps: Mapping[int, StatusMap]
    units: Mapping[str, tuple[str, str]]

    def status_map_of(self, version: int) -> StatusMap:
        """Status map `version`, or NotFound naming it."""
        found = self.status_maps.get(version)
        if found is None:
            said = f"Status map version {version} is not stored."
            raise NotFound(said, reason="status_map.unknown_version", field="status_map_version")
        return found


@dataclass(frozen=True)
class StoredResult:
    """One result with its sample (its bound planned tests) and their versions."""

    sample: Sample
    code: str
    versions: Versions


@dataclass(frozen=True)
class StoredBatch:
    """A batch, all its samples, their versions, and what its disposition is judged with."""

    batch: Batch
    samples: list[Sample]
    versions: Versions
    deviations: list[Deviation]
    signatures: list[Signature]
    as_of: datetime  # when QA disposed of it (now, while undisposed): what the checks judge at


class StatusMaps(Protocol):
    """The status maps by version."""

    def status_map_of(self, version: int) -> StatusMap:
        """Status map `version`, or NotFound naming it."""
        ...


class StoredDecisions(Protocol):
    """Reads stored decisions and never writes; NotFound (`result.unknown`, `batch.unknown`)
    for an unknown id."""

    def result(self, site: str, code: str) -> StoredResult:
        """The result `code` of `site`."""
        ...

    def batch(self, site: str, code: str) -> StoredBatch:
        """The batch `code` of `site`."""
        ...

    def rules(self) -> Rules:
        """The status map and unit dictionary in force."""
        ...
