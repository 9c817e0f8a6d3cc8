"""The reference data specifications build on, read-only and a page at a time: method versions
with their rounding, tests, the unit dictionary with the factors between units of one kind (the
converter the results use), mappings, aliases, sampling points. Rows as the store holds them:
the records GET /api/v1/sites/{site}/masterdata exports, and the mappings and aliases a change
request retired, marked with their date and request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from labgate.adapters.store import tables as t
from labgate.adapters.store.document_facts import reader
from labgate.adapters.store.lists import Slice
from labgate.compliance.access import Permission
from labgate.domain.errors import LabgateError
from labgate.domain.units import UnitDictionary
from labgate.entrypoints.web import keyset
from labgate.entrypoints.web.access import Visitor, allowed, hub_of
from labgate.entrypoints.web.layout import frame, site_view
from labgate.entrypoints.web.render import filtered_list, page_links, prefix

router = APIRouter()
Kind = Literal["methods", "tests", "units", "mappings", "aliases", "sampling-points"]


@dataclass(frozen=True)
class Listing:
    """One reference table: its title, rows, columns shown (name, heading) and sort column."""

    title: str
    table: Table
    columns: tuple[tuple[str, str], ...]
    sort: str


LISTINGS: dict[str, Listing] = {
    "methods": Listing("Methods", t.method_versions, (("method", "Method"), ("version", "Version"),
        ("rounding_rule", "Rounding rule"), ("sig_figs", "Significant figures")), "method"),
    "tests": Listing("Tests", t.test_definitions, (("code", "Test"), ("name", "Name"),
        ("unit", "Unit"), ("method", "Method"), ("current_method_version", "Method version"),
        ("value_kind", "Value kind")), "code"),
    "units": Listing("Units", t.units, (("code", "Unit"), ("name", "Name"), ("kind", "Kind"),
        ("expression", "Expression"), ("precision", "Precision")), "code"),
    "mappings": Listing("Mappings", t.mappings, (("characteristic", "MES characteristic"),
        ("sampling_point", "Sampling point"), ("test_code", "Test"),
        ("retired_from", "In force")), "characteristic"),
    "aliases": Listing("Aliases", t.aliases, (("system", "System"), ("kind", "Kind"),
        ("external_code", "External code"), ("canonical_code", "Labgate code"),
        ("retired_from", "In force")), "external_code"),
    "sampling-points": Listing("Sampling points", t.sampling_points, (("code", "Point"),
        ("procedure", "Procedure"), ("phase_path", "Phase"), ("sample_type", "Sample type"),
        ("gate", "Gate"), ("trended", "Trended")), "code"),
}  # fmt: skip


def section_links(request: Request, who: Visitor, site: str, current: str) -> dict[str, Any]:
    """The master-data sub-navigation (the import only for who may load a document)."""
    base = f"{prefix(request)}/sites/{site}/masterdata"
    links = [("specifications", "Specifications", base)]
    links += [(kind, shown.title, f"{base}/tables/{kind}") for kind, shown in LISTINGS.items()]
    if who.may(Permission.MANAGE_MASTERDATA):
        links.append(("import", "Import", f"{base}/import"))
    return {"sections": links, "section": current}


@dataclass(frozen=True)
class TableQuery:
    """A page of one reference table."""

    limit: int
    cursor: str | None

    def link(self, **changed: Any) -> str:
        """This view's query string with some values changed (defaults left out)."""
        values = {**self.__dict__, **changed}
        kept = {k: v for k, v in values.items() if v not in (None, "") and (k, v) != ("limit", 25)}
        return urlencode(kept)


def _rows(session: Session, site: str, kind: str, asked: TableQuery) -> tuple[Slice, str | None]:
    """One page in sort-column order, and the cursor after it (None: the last page)."""
    if kind == "units":
        return _units(session, asked)
    listing = LISTINGS[kind]
    c = listing.table.c
    after = keyset.decode(kind, asked.cursor)
    query = select(listing.table).where(c.site == site)
    found, value = keyset.take_sorted(session, query, c[listing.sort], c.id, after, asked.limit)
    cursor = None if found.last_id is None else keyset.encode(kind, value, found.last_id)
    return found, cursor


def _units(session: Session, asked: TableQuery) -> tuple[Slice, str | None]:
    """The unit dictionary is global and keyed by its code alone: pages after a code."""
    after = keyset.decode("units", asked.cursor)
    query = select(t.units)
    if after is not None:
        query = query.where(t.units.c.code > (after[0] or ""))
    query = query.order_by(t.units.c.code).limit(asked.limit + 1)
    rows = [dict(r) for r in session.execute(query).mappings()]
    if len(rows) <= asked.limit:
        return Slice(rows, None), None
    rows = rows[: asked.limit]
    return Slice(rows, 0), keyset.encode("units", rows[-1]["code"], 0)


def conversions(request: Request, session: Session, rows: list[dict[str, Any]]) -> None:
    """Beside each unit, the factor to every other unit of its kind, as results convert."""
    kinds = {row["kind"] for row in rows}
    if not kinds:
        return
    same = session.execute(
        select(t.units).where(t.units.c.kind.in_(kinds)).order_by(t.units.c.code)
    )
    peers = [dict(r) for r in same.mappings()]
    converter = hub_of(request).bus.deps.unit_converter({u["code"]: u["expression"] for u in peers})
    dictionary = UnitDictionary({u["code"]: u["kind"] for u in peers}, converter)
    for row in rows:
        row["conversions"] = []
        for peer in peers:
            if peer["kind"] != row["kind"] or peer["code"] == row["code"]:
                continue
            try:
                factor: object = dictionary.factor(row["code"], peer["code"])
            except LabgateError as error:
                factor = f"not convertible ({error.reason})"
            row["conversions"].append((peer["code"], factor))


@router.get("/sites/{site}/masterdata/tables/{kind}", name="masterdata_table")
def reference_table(
    request: Request,
    site: str,
    kind: Kind,
    who: Annotated[Visitor, Depends(allowed(Permission.READ))],
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    """One reference table, or (for htmx) only the table."""
    shown = site_view(request, site)
    asked = TableQuery(limit, cursor or None)
    with hub_of(request).sessions() as session:
        found, next_cursor = _rows(session, site, kind, asked)
        rows = [dict(r) for r in found.rows]
        if kind == "units":
            conversions(request, session, rows)
        # Times in the site's zone (a retired mapping's or alias's date); no person is named.
        people = reader(session, site, [])
    here = f"{prefix(request)}/sites/{site}/masterdata/tables/{kind}"
    values = {
        **frame(request, who, shown, "masterdata"),
        **section_links(request, who, site, kind),
        "listing": LISTINGS[kind],
        "kind": kind,
        "rows": rows,
        "people": people,
        "asked": asked,
        "here": here,
        **page_links(asked, here, next_cursor),
    }
    return filtered_list(request, "masterdata_table.html", "table", values, asked, here)
