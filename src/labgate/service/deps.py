"""What handlers depend on besides the unit of work, built once by bootstrap."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from labgate.compliance.access import DEFAULT_POLICY, RoleConflicts
from labgate.compliance.clock import Clock
from labgate.domain.skip_lot import make_draw
from labgate.domain.trending import TrendCheck, no_trend_check
from labgate.domain.units import UnitConverter


@dataclass(frozen=True)
class Deps:
    """The trusted clock, the unit converter, the policies handlers apply, and the source of
    skip-lot draws (the OS's secure source; tests inject a fixed sequence)."""

    clock: Clock
    unit_converter: Callable[[Mapping[str, str]], UnitConverter]
    lockout_after: int = 5
    lockout_period: timedelta = timedelta(minutes=30)
    anonymous_refusals_per_minute: int = 30
    role_conflicts: RoleConflicts = DEFAULT_POLICY
    draw: Callable[[], Decimal] = make_draw
    # OOT checks: the regression control chart (adapters/trend_check.py, wired in bootstrap).
    trend_check: TrendCheck = no_trend_check
