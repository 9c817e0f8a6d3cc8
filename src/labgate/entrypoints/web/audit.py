"""The audit trail, read-only: a search with the filters of GET /api/v1/audit (the same query
and page reader), one entry with its before/after as a difference and its seal, the chain check
of GET /api/v1/audit/verify, and the export `labgate audit export` writes, as a download.
Nothing here writes: the auditor's pages offer no form that changes anything."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store import tables as t
from labgate.adapters.store import views
from labgate.adapters.store.audit_reading import readable_entries, take_entries
from labgate.adapters.store.audit_store import snapshot, verify_stored
from labgate.compliance.access import Permission
from labgate.compliance.audit import GENESIS_HASH
from labgate.compliance.canonical import to_jsonable
from labgate.domain.errors import InvalidInput, LabgateError, NotFound
from labgate.entrypoints.api.http_errors import http_status
from labgate.entrypoints.web import keyset
from labgate.entrypoints.web.access import Visitor, allowed, hub_of
from labgate.entrypoints.web.audit_export import export_zip, trusted_keys
from labgate.entrypoints.web.audit_reading import difference, local_to_utc
from labgate.entrypoints.web.layout import frame, site_codes, site_view
from labgate.entrypoints.web.refusals import audit
from labgate.entrypoints.web.render import filtered_list, page, page_links, prefix

router = APIRouter()
Auditing = Annotated[Visitor, Depends(allowed(Permission.READ_AUDIT))]
Text = Annotated[str | None, Query(max_length=200)]
Key = Annotated[str | None, Query(max_length=64)]
Local = Annotated[str | None, Query(max_length=19)]
PAGE_SIZES = (25, 50, 100)


@dataclass(frozen=True)
class TrailQuery:
    """What the visitor asked the trail for: the API's filters, the local time range as typed,
    the order and the page."""

    site_filter: str | None
    record_type: str | None
    record_id: str | None
    actor: str | None
    action: str | None
    correlation_id: str | None
    from_local: str | None
    to_local: str | None
    order: Literal["oldest", "newest"]
    limit: int
    cursor: str | None

    def link(self, **changed: Any) -> str:
        """This search's query string with some values changed (empty and default ones left
        out)."""
        values = {**asdict(self), **changed}
        defaults = {("limit", 25), ("order", "newest")}
        kept = {k: v for k, v in values.items() if v not in (None, "") and (k, v) not in defaults}
        return urlencode(kept)

    @property
    def filtered(self) -> bool:
        """Whether any filter narrows the trail."""
        fields = (self.site_filter, self.record_type, self.record_id, self.actor, self.action,
                  self.correlation_id, self.from_local, self.to_local)  # fmt: skip
        return any(fields)


def _search(
    session: Session, asked: TrailQuery, zone: str
) -> tuple[list[dict[str, Any]], int | None, dict[str, datetime | None]]:
    """One page of entries, exactly as GET /api/v1/audit selects and reads them, and the UTC
    bounds the local times became."""
    bounds = {
        "from_at": local_to_utc(asked.from_local, zone, "from_local"),
        "to_at": local_to_utc(asked.to_local, zone, "to_local"),
    }
    query = views.audit_query(asked.site_filter, asked.record_type, asked.record_id, asked.actor,
                              asked.action, asked.correlation_id, **bounds)  # fmt: skip
    after = keyset.decode(f"audit-{asked.order}", asked.cursor)
    found = take_entries(session, query, None if after is None else after[1], asked.limit,
                         asked.order)  # fmt: skip
    return readable_entries(session, found.rows), found.last_id, bounds


@router.get("/sites/{site}/audit", name="audit_search")
async def audit_search(
    request: Request,
    site: str,
    who: Auditing,
    site_filter: Key = None,
    record_type: Key = None,
    record_id: Text = None,
    actor: Key = None,
    action: Key = None,
    correlation_id: Key = None,
    from_local: Local = None,
    to_local: Local = None,
    order: Literal["oldest", "newest"] = "newest",
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    """The search form and one page of entries; for htmx only the results. A time or page link
    that is refused is shown above the form as typed, with its field and code (and audited)."""
    asked = TrailQuery(site_filter or None, record_type or None, record_id or None, actor or None,
                       action or None, correlation_id or None, from_local or None,
                       to_local or None, order, limit, cursor or None)  # fmt: skip
    values = await run_in_threadpool(_search_page, request, who, site, asked)
    refused: LabgateError | None = values["refused"]
    if refused is not None:
        await audit(request, refused)
        return page(request, "audit.html", values, status=http_status(refused))
    return filtered_list(request, "audit.html", "results", values, asked, values["here"])


def _search_page(request: Request, who: Visitor, site: str, asked: TrailQuery) -> dict[str, Any]:
    shown = site_view(request, site)
    refused: InvalidInput | None = None
    rows: list[dict[str, Any]] = []
    last_seq: int | None = None
    bounds: dict[str, datetime | None] = {"from_at": None, "to_at": None}
    with hub_of(request).sessions() as session:
        try:
            rows, last_seq, bounds = _search(session, asked, shown.zone)
        except InvalidInput as error:
            refused = error
        sites = site_codes(session)
    here = f"{prefix(request)}/sites/{site}/audit"
    kind = f"audit-{asked.order}"
    next_cursor = None if last_seq is None else keyset.encode(kind, None, last_seq)
    return {
        **frame(request, who, shown, "audit"),
        "rows": rows,
        "asked": asked,
        "refused": refused,
        # Typed to the second, so shown to the second (the API takes either form).
        "bounds": {k: None if v is None else f"{v:%Y-%m-%dT%H:%M:%SZ}" for k, v in bounds.items()},
        "site_codes": sites,
        "page_sizes": PAGE_SIZES,
        "here": here,
        **page_links(asked, here, next_cursor),
    }


@router.get("/sites/{site}/audit/verify", name="audit_verify")
def audit_verify(request: Request, site: str, who: Auditing) -> Response:
    """The chain check GET /api/v1/audit/verify runs: every hash and link, the head, and the
    signed checkpoints against labgate's own key."""
    shown = site_view(request, site)
    hub = hub_of(request)
    with snapshot(hub.sessions) as session:
        report = verify_stored(session, trusted_keys(hub))
    values = {**frame(request, who, shown, "audit"), "report": report}
    return page(request, "audit_verify.html", values)


@router.get("/sites/{site}/audit/export", name="audit_export")
def audit_export(
    request: Request, site: str, who: Auditing, readable: Literal["html", "csv"] = "html"
) -> Response:
    """What the export holds now, and its SHA-256; the download is the same bytes as long as
    no entry is added meanwhile (its Repr-Digest header says which bytes came)."""
    shown = site_view(request, site)
    made = export_zip(hub_of(request), readable)
    values = {**frame(request, who, shown, "audit"), "export": made, "readable": readable}
    return page(request, "audit_export.html", values)


@router.get("/sites/{site}/audit/export.zip", name="audit_export_zip")
def audit_export_zip(
    request: Request, site: str, who: Auditing, readable: Literal["html", "csv"] = "html"
) -> Response:
    """The export as `labgate audit export` writes it, zipped."""
    site_view(request, site)
    made = export_zip(hub_of(request), readable)
    return made.response()


@router.get("/sites/{site}/audit/{seq}", name="audit_entry")
def audit_entry(request: Request, site: str, seq: int, who: Auditing) -> Response:
    """One entry: who, when, what, why, its before/after as a difference, its seal and link."""
    shown = site_view(request, site)
    with hub_of(request).sessions() as session:
        entry, seal = _entry(session, seq)
    changes, same = difference(entry["before"], entry["after"])
    with hub_of(request).sessions() as session:
        last = session.scalar(select(func.max(t.audit_entries.c.seq)))
    values = {
        **frame(request, who, shown, "audit"),
        "entry": entry,
        "changes": changes,
        "unchanged": same,
        "seal": seal,
        "last_seq": last or 0,
        "trail": f"{prefix(request)}/sites/{site}/audit",
    }
    return page(request, "audit_entry.html", values)


def _entry(session: Session, seq: int) -> tuple[dict[str, Any], dict[str, bool]]:
    """The entry as the API reads it, and whether its seal and its link to the entry before
    still match what is stored."""
    a = t.audit_entries.c
    query = select(t.audit_entries).where(a.seq == seq)
    row = session.execute(query).mappings().one_or_none()
    if row is None:
        raise NotFound(f"No audit entry {seq}.", reason="audit.entry_unknown", field="seq")
    sealed = views.entries(session, query)[0]
    previous = session.scalar(select(a.hash).where(a.seq == seq - 1))
    linked = sealed.prev_hash == (previous if seq > 1 else GENESIS_HASH)
    seal = {"sealed": sealed.expected_hash() == sealed.hash, "linked": linked}
    return readable_entries(session, [to_jsonable(dict(row))])[0], seal
