"""The unit dictionary of one transaction: kinds from the store, factors from the converter."""

from __future__ import annotations

from labgate.domain.units import UnitDictionary
from labgate.service.deps import Deps
from labgate.service.unit_of_work import UnitOfWork


def unit_dictionary(uow: UnitOfWork, deps: Deps) -> UnitDictionary:
    """The governed units, converting only within each unit's declared quantity kind."""
    units = uow.unit_dictionary()
    expressions = {code: expression for code, (expression, _) in units.items()}
    kinds = {code: kind for code, (_, kind) in units.items()}
    return UnitDictionary(kinds, deps.unit_converter(expressions))
