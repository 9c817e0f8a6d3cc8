"""The shape of a master-data document: typed readers over its items, each failure naming the
JSON path of the fault, and the records read from it, each with the path it came from.

A document is data typed by a person, so readers are strict: a code must be text (YAML reads
`code: 0012` as the number 12, which would silently become another code), enums are spelled
exactly, and a field the section does not know is refused rather than ignored, because an
ignored `alret:` is an alert limit that never applies.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any, Generic, TypeVar

from labgate.domain.batches import Batch, Procedure, SamplingPoint
from labgate.domain.errors import InvalidInput, LabgateError
from labgate.domain.masterdata import (
    Alias,
    Characteristic,
    Equipment,
    Location,
    Lot,
    Material,
    MethodVersion,
    Product,
    Site,
    SpecVersion,
    TestDefinition,
    Unit,
)
from labgate.domain.masterdata import Mapping as TestMapping

E = TypeVar("E", bound=Enum)
R = TypeVar("R")

__all__ = [
    "APPLY_ORDER",
    "AliasKind",
    "Entry",
    "Item",
    "LevelName",
    "MasterDataDocument",
    "MaterialKind",
    "ValueKind",
    "fault",
    "relocate",
]


def fault(path: str, reason: str, message: str) -> InvalidInput:
    """The error for a fault at `path`, reason `masterdata.<reason>`."""
    return InvalidInput(message, reason=f"masterdata.{reason}", field=path)


def relocate(error: LabgateError, path: str) -> LabgateError:
    """The same error (class, reason, message), pointing at the document path instead."""
    return type(error)(error.message, reason=error.reason, field=path)


def _kind(value: object) -> str:
    """Name a value's type the way a document author thinks of it."""
    names = {bool: "true/false", int: "a number", float: "a number", str: "text"}
    for cls, name in names.items():
        if isinstance(value, cls):
            return name
    return (
        "a list"
        if isinstance(value, list)
        else "a mapping"
        if isinstance(value, Mapping)
        else "empty"
    )


class Item:
    """One mapping of the document at a JSON path, holding only the keys its section allows."""

    def __init__(self, raw: object, path: str, allowed: Iterable[str]) -> None:
        if not isinstance(raw, Mapping):
            raise fault(path, "bad_type", f"{path} must be a mapping of fields, not {_kind(raw)}.")
        names = tuple(allowed)
        for key in raw:
            if key not in names:
                raise fault(
                    f"{path}.{key}",
                    "unknown_field",
                    f"{path} has no field {key!r}; the fields are: {', '.join(names)}.",
                )
        self.raw: Mapping[str, Any] = raw
        self.path = path

    def at(self, key: str) -> str:
        """The JSON path of one of this item's fields."""
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        """Whether the document states this field at all (null included)."""
        return key in self.raw

    def text(self, key: str) -> str:
        """A required, non-blank text field."""
        value = self.opt_text(key)
        if value is None:
            raise fault(
                self.at(key), "required", f"{self.at(key)} is required and must not be blank."
            )
        return value

    def opt_text(self, key: str, default: str | None = None) -> str | None:
        """An optional text field; absent, null or blank gives `default`."""
        value = self.raw.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise fault(
                self.at(key),
                "bad_type",
                f'{self.at(key)} must be text, not {_kind(value)}; quote it, e.g. "{value}".',
            )
        return value.strip() or default

    def integer(self, key: str, minimum: int = 0) -> int:
        """A required whole number of at least `minimum`."""
        value = self.opt_integer(key, minimum)
        if value is None:
            raise fault(self.at(key), "required", f"{self.at(key)} is required.")
        return value

    def opt_integer(self, key: str, minimum: int = 0) -> int | None:
        """An optional whole number of at least `minimum`."""
        value = self.raw.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise fault(
                self.at(key),
                "bad_type",
                f"{self.at(key)} must be a whole number of {minimum} or more, not {value!r}.",
            )
        return value

    def choice(self, key: str, kind: type[E], default: E | None = None) -> E:
        """A required (or defaulted) enum field, spelled as one of its values."""
        text = self.opt_text(key)
        if text is None and default is not None:
            return default
        if text is None:
            raise fault(self.at(key), "required", f"{self.at(key)} is required.")
        for member in kind:
            if member.value == text:
                return member
        options = ", ".join(str(m.value) for m in kind)
        raise fault(
            self.at(key), "bad_enum", f"{self.at(key)} is {text!r}; write one of: {options}."
        )

    def moment(self, key: str) -> datetime | None:
        """An optional ISO-8601 date and time, with its timezone."""
        value = self.raw.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            with contextlib.suppress(ValueError):  # not ISO-8601: refused just below
                value = datetime.fromisoformat(value.strip())
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise fault(
                self.at(key),
                "bad_type",
                f"{self.at(key)} must be an ISO-8601 date and time with its timezone, "
                f"such as 2026-03-02T06:00:00+01:00, not {value!r}.",
            )
        return value

    def children(self, key: str, allowed: Iterable[str]) -> list[Item]:
        """The items of an optional list field, each with its own path."""
        value = self.raw.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise fault(
                self.at(key), "bad_type", f"{self.at(key)} must be a list, not {_kind(value)}."
            )
        names = tuple(allowed)
        return [Item(raw, f"{self.at(key)}[{i}]", names) for i, raw in enumerate(value)]


class MaterialKind(StrEnum):
    """What a material is in the flow of production."""

    RAW = "raw"
    INTERMEDIATE = "intermediate"
    FINISHED = "finished"
    PACKAGING = "packaging"


class ValueKind(StrEnum):
    """What a test's results are: numbers, or text compared with an expected text."""

    NUMERIC = "numeric"
    TEXT = "text"


class AliasKind(StrEnum):
    """What an alias names."""

    PRODUCT = "product"
    TEST = "test"
    UNIT = "unit"
    CHARACTERISTIC = "characteristic"


class LevelName(StrEnum):
    """ISA-88 levels as a document spells them."""

    PROCEDURE = "procedure"
    UNIT_PROCEDURE = "unit_procedure"
    OPERATION = "operation"
    PHASE = "phase"


@dataclass(frozen=True)
class Entry(Generic[R]):
    """A record read from the document, its JSON path, and any read-only fields it states."""

    path: str
    record: R
    declared: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MasterDataDocument:
    """Every record of one document, each section in the order written."""

    site: Site
    units: list[Entry[Unit]] = field(default_factory=list)
    materials: list[Entry[Material]] = field(default_factory=list)
    lots: list[Entry[Lot]] = field(default_factory=list)
    methods: list[Entry[MethodVersion]] = field(default_factory=list)
    tests: list[Entry[TestDefinition]] = field(default_factory=list)
    specifications: list[Entry[SpecVersion]] = field(default_factory=list)
    products: list[Entry[Product]] = field(default_factory=list)
    characteristics: list[Entry[Characteristic]] = field(default_factory=list)
    locations: list[Entry[Location]] = field(default_factory=list)
    equipment: list[Entry[Equipment]] = field(default_factory=list)
    procedures: list[Entry[Procedure]] = field(default_factory=list)
    sampling_points: list[Entry[SamplingPoint]] = field(default_factory=list)
    mappings: list[Entry[TestMapping]] = field(default_factory=list)
    aliases: list[Entry[Alias]] = field(default_factory=list)
    batches: list[Entry[Batch]] = field(default_factory=list)

    def sections(self) -> list[tuple[str, list[Entry[Any]]]]:
        """(section, entries) in the order they are applied: the referenced before the referring."""
        return [(name, getattr(self, name)) for name in APPLY_ORDER]


APPLY_ORDER = (
    "units", "materials", "lots", "methods", "tests", "specifications", "products",
    "characteristics", "locations", "equipment", "procedures", "sampling_points", "mappings",
    "aliases", "batches",
)  # fmt: skip
