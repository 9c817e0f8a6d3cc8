"""The outbox at the site: pending, delivered, dead-lettered and held messages (GET
/api/v1/outbox's query and keyset order), one message's delivery attempts (GET
/api/v1/outbox/{message_id}/attempts's view), and the retry of dead letters, all or chosen, to
every destination or one, through the very service POST /api/v1/outbox/retry calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store import lists
from labgate.adapters.store import tables as t
from labgate.adapters.store.document_facts import readable
from labgate.adapters.store.outbox_store import SqlOutboxStore, attempts_view, dead_query
from labgate.compliance.access import Permission
from labgate.domain.errors import LabgateError
from labgate.entrypoints.api.http_errors import http_status
from labgate.entrypoints.web import keyset
from labgate.entrypoints.web.access import Visitor, allowed, context, hub_of, posted_form
from labgate.entrypoints.web.desk_common import desk_frame, desk_url
from labgate.entrypoints.web.refusals import audit
from labgate.entrypoints.web.render import filtered_list, page, page_links
from labgate.service.outbox.relay import retry_dead

router = APIRouter()
Reading = Annotated[Visitor, Depends(allowed(Permission.READ_OUTBOX))]
Retrying = Annotated[Visitor, Depends(allowed(Permission.RETRY_DELIVERY))]
Status = Literal["pending", "delivered", "dead", "held"]
STATUSES: tuple[str, ...] = ("pending", "delivered", "dead", "held")
# POST /api/v1/outbox/retry takes at most this many message ids at once.
RETRY_BATCH = 100


@dataclass(frozen=True)
class OutboxQuery:
    """What the visitor asked the outbox for: status, destination, order and page."""

    status: str
    destination: str | None
    order: str
    limit: int
    cursor: str | None

    def link(self, **changed: Any) -> str:
        """This view's query string with some values changed (empty and default ones left out)."""
        values = {**self.__dict__, **changed}
        defaults = {("limit", 25), ("order", "oldest")}
        kept = {k: v for k, v in values.items() if v not in (None, "") and (k, v) not in defaults}
        return urlencode(kept)


def _last(after: tuple[str | None, int] | None) -> int | None:
    return None if after is None else after[1]


def outbox_values(request: Request, who: Visitor, site: str, asked: OutboxQuery) -> dict[str, Any]:
    """One page of the outbox at the site, as the API's list gives it."""
    kind: lists.Direction = "newest" if asked.order == "newest" else "oldest"
    sort = f"outbox-{kind}"
    after = keyset.decode(sort, asked.cursor)
    query = lists.outbox_query(site, asked.destination, asked.status)
    with hub_of(request).sessions() as session:
        found = lists.take(session, query, t.outbox.c.id, _last(after), asked.limit, kind)
    values = desk_frame(request, who, site, "outbox")
    here = f"{values['desk']}/outbox"
    next_cursor = None if found.last_id is None else keyset.encode(sort, None, found.last_id)
    return values | {
        "rows": found.rows,
        "asked": asked,
        "statuses": STATUSES,
        "here": here,
        "may_retry": who.may(Permission.RETRY_DELIVERY) and asked.status == "dead",
        "refused": None,
        "retried": None,
        **page_links(asked, here, next_cursor),
    }


@router.get("/sites/{site}/desk/outbox", name="desk_outbox")
def outbox(
    request: Request,
    site: str,
    who: Reading,
    status: Status = "dead",
    destination: Annotated[str | None, Query(max_length=16)] = None,
    order: Literal["oldest", "newest"] = "oldest",
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
    retried: Annotated[int | None, Query(ge=0, le=RETRY_BATCH)] = None,
) -> Response:
    """The outbox by delivery status (dead letters first: they wait for an operator)."""
    asked = OutboxQuery(status, destination or None, order, limit, cursor or None)
    values = outbox_values(request, who, site, asked)
    values["retried"] = retried
    return filtered_list(request, "desk_outbox.html", "listing", values, asked, values["here"])


@router.get("/sites/{site}/desk/outbox/{message_id}", name="desk_outbox_attempts")
def attempts(request: Request, site: str, message_id: str, who: Reading) -> Response:
    """One message's delivery state and every attempt, with the receiver's answer."""
    with hub_of(request).sessions() as session:
        history = readable(session, site, attempts_view(session, message_id))
    values = desk_frame(request, who, site, "outbox")
    return page(request, "desk_attempts.html", values | {"history": history})


def _chosen(request: Request, site: str, form: dict[str, str], picked: list[str]) -> list[str]:
    """The ids ticked, or every dead letter at the site (of one destination if named)."""
    if form.get("scope") != "all":
        return picked
    query = dead_query(site, form.get("destination") or None).with_only_columns(
        t.outbox.c.message_id
    )
    with hub_of(request).sessions() as session:
        return list(session.scalars(query.limit(RETRY_BATCH)))


@router.post("/sites/{site}/desk/outbox/retry", name="desk_outbox_retry")
async def retry(request: Request, site: str, who: Retrying) -> Response:
    """Deliver dead letters again, all or none, with a reason (audited `outbox.retry`)."""
    form = await posted_form(request, who)
    picked = [v for v in (await request.form()).getlist("message_id") if isinstance(v, str)]
    wanted = await run_in_threadpool(_chosen, request, site, form, picked)
    hub = hub_of(request)
    ctx = context(request, who.account.username)
    try:
        done = await run_in_threadpool(
            retry_dead, SqlOutboxStore(hub.sessions), hub.bus.deps.clock, ctx, wanted,
            form.get("reason", ""),
        )  # fmt: skip
    except LabgateError as error:
        await audit(request, error)
        asked = OutboxQuery("dead", form.get("destination") or None, "oldest", 25, None)
        values = await run_in_threadpool(outbox_values, request, who, site, asked)
        values["refused"] = error
        return page(request, "desk_outbox.html", values, status=http_status(error))
    return RedirectResponse(
        f"{desk_url(request, site)}/outbox?status=dead&retried={len(done)}", status_code=303
    )
