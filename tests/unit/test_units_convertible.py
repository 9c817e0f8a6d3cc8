"""The units a result entry offers for a test: those the result handler converts to the test's
canonical unit (one kind, an exact factor), the canonical unit first."""

from __future__ import annotations

from datetime import UTC, datetime

from fakes import FakeUnitOfWork, ManualClock
from labgate.adapters.units_pint import PintUnitConverter
from labgate.service.deps import Deps
from labgate.service.units import units_convertible

UNITS = {"%": "percent", "mg/g": "mg/g", "g": "g", "mg": "mg", "pH": "dimensionless",
         "degC": "degC", "K": "kelvin"}  # fmt: skip
KINDS = {"%": "mass fraction", "mg/g": "mass fraction", "g": "mass", "mg": "mass", "pH": "pH",
         "degC": "temperature", "K": "temperature"}  # fmt: skip


def test_the_units_offered_are_those_the_handler_converts() -> None:
    uow = FakeUnitOfWork(UNITS)
    uow.unit_kinds = KINDS
    deps = Deps(ManualClock(datetime(2026, 12, 1, tzinfo=UTC)), PintUnitConverter)
    offered = units_convertible(uow, deps, ["mg/g", "g", "pH", "K"])
    # pH is dimensionless as % is, yet another kind; °C has an offset, so no factor to K.
    assert offered == {"mg/g": ["mg/g", "%"], "g": ["g", "mg"], "pH": ["pH"], "K": ["K"]}
    assert uow.committed == 0 and uow.read_only
