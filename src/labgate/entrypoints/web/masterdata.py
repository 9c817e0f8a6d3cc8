"""Master data: the specifications of the site, a page of them at a time, each with its versions
and their lifecycle state. The version pages, the comparison and the lifecycle actions are in
masterdata_specs.py, the reference tables in masterdata_tables.py, the YAML import in
masterdata_import.py; this module gathers their routes under one router."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from labgate.adapters.store import tables as t
from labgate.adapters.store.document_facts import reader
from labgate.compliance.access import Permission
from labgate.entrypoints.web import keyset, masterdata_import, masterdata_specs, masterdata_tables
from labgate.entrypoints.web.access import Visitor, allowed, hub_of
from labgate.entrypoints.web.layout import frame, site_view
from labgate.entrypoints.web.render import filtered_list, page_links, prefix

router = APIRouter()
sv, p = t.spec_versions.c, t.products.c
SORT = "specification"
PAGE_SIZES = (10, 25, 50)


@dataclass(frozen=True)
class SpecListQuery:
    """A page of the specification list."""

    limit: int
    cursor: str | None

    def link(self, **changed: Any) -> str:
        """This view's query string with some values changed (defaults left out)."""
        values = {**self.__dict__, **changed}
        kept = {k: v for k, v in values.items() if v not in (None, "") and (k, v) != ("limit", 10)}
        return urlencode(kept)


def _codes(session: Session, site: str, asked: SpecListQuery) -> tuple[list[str], str | None]:
    """One page of specification codes in code order, and the cursor after it (None: last)."""
    after = keyset.decode(SORT, asked.cursor)
    query = select(sv.specification).distinct().where(sv.site == site)
    if after is not None:
        query = query.where(sv.specification > (after[0] or ""))
    codes = list(session.scalars(query.order_by(sv.specification).limit(asked.limit + 1)))
    more = len(codes) > asked.limit
    codes = codes[: asked.limit]
    return codes, keyset.encode(SORT, codes[-1], 0) if more else None


def specifications(session: Session, site: str, codes: list[str]) -> list[dict[str, Any]]:
    """Each specification with the products that name it and its versions, oldest first."""
    versions = session.execute(
        select(sv.specification, sv.version, sv.status, sv.author, sv.approver, sv.approved_at,
               sv.effective_from, sv.retired_at)
        .where(sv.site == site, sv.specification.in_(codes))
        .order_by(sv.specification, sv.version)
    ).mappings()  # fmt: skip
    products = session.execute(
        select(p.code, p.name, p.specification)
        .where(p.site == site, p.specification.in_(codes))
        .order_by(p.code)
    ).mappings()
    shown: dict[str, dict[str, Any]] = {
        c: {"code": c, "products": [], "versions": []} for c in codes
    }
    for row in versions:
        shown[row["specification"]]["versions"].append(dict(row))
    for row in products:
        shown[row["specification"]]["products"].append(dict(row))
    return [shown[c] for c in codes]


Reading = Annotated[Visitor, Depends(allowed(Permission.READ))]


@router.get("/sites/{site}/masterdata", name="masterdata_specifications")
def specification_list(
    request: Request,
    site: str,
    who: Reading,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    """The specifications with their versions and states, or (for htmx) only the list."""
    shown = site_view(request, site)
    asked = SpecListQuery(limit, cursor or None)
    with hub_of(request).sessions() as session:
        codes, next_cursor = _codes(session, site, asked)
        specs = specifications(session, site, codes)
        users = [v[k] for s in specs for v in s["versions"] for k in ("author", "approver")]
        people = reader(session, site, users)
    here = f"{prefix(request)}/sites/{site}/masterdata"
    values = {
        **frame(request, who, shown, "masterdata"),
        **masterdata_tables.section_links(request, who, site, "specifications"),
        "specs": specs,
        "people": people,
        "asked": asked,
        "page_sizes": PAGE_SIZES,
        "here": here,
        **page_links(asked, here, next_cursor),
    }
    return filtered_list(request, "masterdata.html", "specs", values, asked, here)


# The import's fixed paths before the tables' `{kind}`, then the specifications' pages.
for module in (masterdata_import, masterdata_tables, masterdata_specs):
    router.include_router(module.router)
