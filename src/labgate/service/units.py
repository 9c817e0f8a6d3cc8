"""The unit dictionary of one transaction: kinds from the store, factors from the converter."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from labgate.domain.errors import UnitError
from labgate.domain.units import UnitDictionary
from labgate.service.deps import Deps
from labgate.service.unit_of_work import UnitOfWork


def unit_dictionary(uow: UnitOfWork, deps: Deps) -> UnitDictionary:
    """The governed units, converting only within each unit's declared quantity kind."""
    return dictionary_of(uow.unit_dictionary(), deps)


def dictionary_of(units: Mapping[str, tuple[str, str]], deps: Deps) -> UnitDictionary:
    """A unit dictionary of these units (code -> expression, kind), factors by the converter."""
    expressions = {code: expression for code, (expression, _) in units.items()}
    kinds = {code: kind for code, (_, kind) in units.items()}
    return UnitDictionary(kinds, deps.unit_converter(expressions))


def units_convertible(
    uow: UnitOfWork, deps: Deps, canonical: Iterable[str]
) -> dict[str, list[str]]:
    """For each canonical unit, the dictionary's units a result may be entered in: those the
    result handler converts to it (its kind, an exact factor), the canonical unit first."""
    with uow.reading():  # a page's read: no writer's lock
        units = uow.unit_dictionary()
    dictionary = dictionary_of(units, deps)
    return {target: _convertible(dictionary, sorted(units), target) for target in canonical}


def _convertible(dictionary: UnitDictionary, codes: list[str], target: str) -> list[str]:
    found = [target]
    for code in codes:
        if code == target:
            continue
        try:
            dictionary.factor(code, target)
        except UnitError:  # another kind, an offset unit (°C), an inexact factor
            continue
        found.append(code)
    return found
