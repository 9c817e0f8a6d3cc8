"""A master-data document (a dict from YAML or JSON) read into domain records, with no I/O.

One site per document; units are global. Every section but `site` is optional. Everything that
can be checked from the document alone is checked here (types, enums, duplicates, limits,
procedure trees, sampling-point phases; specification versions in `masterdata_specs`);
references that the store may satisfy, and sampling plans against them, are checked by
`masterdata_plan.check_references`, given a lookup over the document and the store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from labgate.domain.batches import Batch, Level, ProceduralElement, Procedure, SamplingPoint
from labgate.domain.errors import InvalidInput, LabgateError
from labgate.domain.gates import GateMode, gate_mode
from labgate.domain.local_time import known_zone
from labgate.domain.masterdata import (
    Alias,
    AliasSystem,
    Characteristic,
    Equipment,
    LimitLine,
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
from labgate.domain.numbers import RoundingRule
from labgate.domain.shelf_life import MAX_SHELF_LIFE_MONTHS
from labgate.service.masterdata.fields import (
    AliasKind,
    Entry,
    Item,
    LevelName,
    MasterDataDocument,
    MaterialKind,
    ValueKind,
    fault,
    relocate,
)
from labgate.service.masterdata.specs import SPEC_VERSION_FIELDS, spec_version

__all__ = ["KEY_FIELDS", "SECTIONS", "business_key", "parse_document"]

R = TypeVar("R")

SECTIONS = (
    "site", "units", "materials", "lots", "methods", "tests", "specifications", "products",
    "characteristics", "mappings", "aliases", "locations", "equipment", "procedures", "batches",
)  # fmt: skip


def parse_document(raw: object) -> MasterDataDocument:
    """Read and check a whole document; the first fault raises, naming its JSON path."""
    root = _root(raw)
    head = Item(root.raw["site"], "site", ("code", "name", "time_zone"))
    site = Site(head.text("code"), head.text("name"), _time_zone(head))
    procedures = [_procedure(item, site.code) for item in root.children("procedures", _PROCEDURE)]
    return MasterDataDocument(
        site=site,
        methods=_unique(_versions(root, "methods", site.code, _method_version), "version"),
        specifications=_unique(
            _versions(root, "specifications", site.code, spec_version), "version"
        ),
        procedures=_unique([procedure for procedure, _ in procedures], "code"),
        sampling_points=_unique([point for _, points in procedures for point in points], "code"),
        **_flat_sections(root, site.code),
    )


def _time_zone(head: Item) -> str | None:
    """The site's IANA time zone, None when not named; one the zone database lacks is refused."""
    zone = head.opt_text("time_zone")
    if zone is not None and not known_zone(zone):
        raise fault(
            head.at("time_zone"),
            "bad_time_zone",
            f"{head.at('time_zone')} {zone!r} is not an IANA time zone; "
            "name one such as Europe/Zurich or UTC.",
        )
    return zone


def _root(raw: object) -> Item:
    """The document itself: known sections only, and a site."""
    if isinstance(raw, Mapping):
        for key in raw:
            if key not in SECTIONS:
                message = f"{key!r} is not a section; the sections are: {', '.join(SECTIONS)}."
                raise fault(str(key), "unknown_section", message)
    root = Item(raw, "", SECTIONS)
    if root.raw.get("site") is None:
        raise fault("site", "required", "site is required, e.g. {code: PLT1, name: Basel plant}.")
    return root


def _flat_sections(root: Item, site: str) -> dict[str, Any]:
    """Every section whose items are one record each."""
    return {
        name: _unique([Entry(i.path, build(i, site)) for i in root.children(name, fields)], key)
        for name, (fields, build, key) in _FLAT.items()
    }


def _versions(
    root: Item, section: str, site: str, build: Callable[[Item, str, str], Entry[R]]
) -> list[Entry[R]]:
    """Read a section of {code, versions: [...]} into one entry per version."""
    entries = []
    for item in root.children(section, ("code", "versions")):
        code = item.text("code")
        entries += [build(v, site, code) for v in item.children("versions", _VERSION[section])]
    return entries


def _unique(entries: list[Entry[R]], shown: str) -> list[Entry[R]]:
    """Refuse a business key written twice; the fault is at the second one."""
    seen: set[tuple[object, ...]] = set()
    for entry in entries:
        key = business_key(entry.record)
        if key in seen:
            written = " / ".join(str(part) for part in key if part is not None)
            message = f"{entry.path} repeats {written}, which the document already has."
            raise fault(f"{entry.path}.{shown}", "duplicate", message)
        seen.add(key)
    return entries


def business_key(record: object) -> tuple[object, ...]:
    """What names a record within its site (a unit: globally)."""
    return tuple(getattr(record, name) for name in KEY_FIELDS.get(type(record), ("code",)))


# Business keys other than a plain code, without the site.
KEY_FIELDS: dict[type, tuple[str, ...]] = {
    Lot: ("material", "code"),
    MethodVersion: ("method", "version"),
    SpecVersion: ("specification", "version"),
    TestMapping: ("characteristic", "test_code", "sampling_point"),
    Alias: ("system", "kind", "external_code"),
    LimitLine: ("limit_set", "test_code"),
    ProceduralElement: ("path",),
}


def _unit(item: Item, site: str) -> Unit:
    return Unit(item.text("code"), item.text("expression"), item.integer("precision"),
                item.text("kind"), item.opt_text("name") or "")  # fmt: skip


def _material(item: Item, site: str) -> Material:
    kind = item.choice("kind", MaterialKind)
    return Material(site, item.text("code"), item.text("name"), kind.value)


def _lot(item: Item, site: str) -> Lot:
    return Lot(site, item.text("material"), item.text("code"), item.opt_text("supplier"))


def _test(item: Item, site: str) -> TestDefinition:
    kind = item.choice("value_kind", ValueKind, ValueKind.NUMERIC)
    return TestDefinition(site, item.text("code"), item.text("name"), item.opt_text("unit"),
                          item.text("method"), item.text("method_version"), kind.value)  # fmt: skip


def _product(item: Item, site: str) -> Product:
    return Product(site, item.text("code"), item.text("name"), item.text("specification"),
                   _shelf_life(item))  # fmt: skip


def _shelf_life(item: Item) -> int | None:
    """Whole months, 1 to MAX_SHELF_LIFE_MONTHS; absent or null: the product has none, and a
    CoA states no expiry date (the document states the whole product, as export writes it)."""
    months = item.raw.get("shelf_life_months")
    if months is None:
        return None
    whole = isinstance(months, int) and not isinstance(months, bool)
    if not whole or not 1 <= months <= MAX_SHELF_LIFE_MONTHS:
        raise fault(
            item.at("shelf_life_months"),
            "bad_type",
            f"{item.at('shelf_life_months')} must be a whole number of months from 1 to "
            f"{MAX_SHELF_LIFE_MONTHS}, such as 36, not {months!r}.",
        )
    return int(months)


def _characteristic(item: Item, site: str) -> Characteristic:
    return Characteristic(site, item.text("code"), item.text("name"))


def _location(item: Item, site: str) -> Location:
    return Location(site, item.text("code"), item.text("name"))


def _equipment(item: Item, site: str) -> Equipment:
    return Equipment(site, item.text("code"), item.text("name"), item.opt_text("location"))


def _mapping(item: Item, site: str) -> TestMapping:
    return TestMapping(site, item.text("characteristic"), item.text("test"),
                       item.opt_text("sampling_point"))  # fmt: skip


def _alias(item: Item, site: str) -> Alias:
    return Alias(site, item.choice("system", AliasSystem), item.choice("kind", AliasKind).value,
                 item.text("external"), item.text("canonical"))  # fmt: skip


def _batch(item: Item, site: str) -> Batch:
    return Batch(site, item.text("code"), item.text("product"), item.text("procedure"),
                 item.moment("started_at"))  # fmt: skip


_FLAT: dict[str, tuple[tuple[str, ...], Callable[[Item, str], Any], str]] = {
    "units": (("code", "expression", "precision", "kind", "name"), _unit, "code"),
    "materials": (("code", "name", "kind"), _material, "code"),
    "lots": (("material", "code", "supplier"), _lot, "code"),
    "tests": (("code", "name", "unit", "method", "method_version", "value_kind"), _test, "code"),
    "products": (("code", "name", "specification", "shelf_life_months"), _product, "code"),
    "characteristics": (("code", "name"), _characteristic, "code"),
    "locations": (("code", "name"), _location, "code"),
    "equipment": (("code", "name", "location"), _equipment, "code"),
    "mappings": (("characteristic", "test", "sampling_point"), _mapping, "sampling_point"),
    "aliases": (("system", "kind", "external", "canonical"), _alias, "external"),
    "batches": (("code", "product", "procedure", "started_at"), _batch, "code"),
}


def _method_version(item: Item, site: str, method: str) -> Entry[MethodVersion]:
    rule = item.choice("rounding_rule", RoundingRule)
    version = MethodVersion(
        site, method, item.text("version"), rule, item.opt_integer("sig_figs", 1)
    )
    try:
        _ = version.policy  # building the policy refuses sig figs under the absolute method
    except LabgateError as error:
        raise relocate(error, item.at("sig_figs")) from error
    return Entry(item.path, version)


def _procedure(item: Item, site: str) -> tuple[Entry[Procedure], list[Entry[SamplingPoint]]]:
    elements = _unique([_element(e) for e in item.children("elements", _ELEMENT)], "path")
    procedure = Procedure(site, item.text("code"), item.text("product"),
                          [e.record for e in elements])  # fmt: skip
    try:
        procedure.check_structure()
    except LabgateError as error:
        raise relocate(error, item.at("elements")) from error
    points = [_point(p, procedure) for p in item.children("sampling_points", _POINT)]
    return Entry(item.path, procedure), points


def _element(item: Item) -> Entry[ProceduralElement]:
    level = Level[item.choice("level", LevelName).name]
    return Entry(
        item.path, ProceduralElement(item.text("path"), level, item.opt_text("name") or "")
    )


def _point(item: Item, procedure: Procedure) -> Entry[SamplingPoint]:
    phase = item.text("phase")
    if not any(e.path == phase and e.level is Level.PHASE for e in procedure.elements):
        raise InvalidInput(
            f"Sampling point {item.path} names {phase!r}, which is not a phase of procedure "
            f"{procedure.code}; samples are drawn on phases (ISA-88).",
            reason="procedure.unknown_phase",
            field=item.at("phase"),
        )
    sample_type = item.opt_text("sample_type") or "IPC"
    gate = gate_mode(item.opt_text("gate") or GateMode.BLOCK.value, item.at("gate")).value
    point = SamplingPoint(procedure.site, item.text("code"), procedure.code, phase, sample_type,
                          gate, _trended(item))  # fmt: skip
    return Entry(item.path, point)


def _trended(item: Item) -> bool:
    """`trended: true` switches on OOT checks of the point's results; absent means false."""
    value = item.raw.get("trended", False)
    if not isinstance(value, bool):
        raise fault(item.at("trended"), "bad_type", f"{item.at('trended')} is true or false.")
    return value


_ELEMENT = ("path", "level", "name")
_POINT = ("code", "phase", "sample_type", "gate", "trended")
_PROCEDURE = ("code", "product", "elements", "sampling_points")
_VERSION = {
    "methods": ("version", "rounding_rule", "sig_figs"),
    "specifications": SPEC_VERSION_FIELDS,
}
