"""Commands of the data-quality controls."""

from __future__ import annotations

from dataclasses import dataclass

from labgate.domain.commands import Command
from labgate.domain.data_quality import DqWindows


@dataclass(frozen=True)
class RunDataQuality(Command):
    """Measure every data-quality rule at a site, keep the run, and open (or note on) one
    deviation per rule in breach. `trigger`: cli, api or schedule."""

    site: str
    trigger: str
    windows: DqWindows
