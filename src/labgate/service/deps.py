"""What handlers depend on besides the unit of work, built once by bootstrap."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from labgate.compliance.clock import Clock
from labgate.domain.units import UnitConverter


@dataclass(frozen=True)
class Deps:
    """The trusted clock, the unit converter and the policies handlers apply."""

    clock: Clock
    unit_converter: Callable[[Mapping[str, str]], UnitConverter]
    lockout_after: int = 5
