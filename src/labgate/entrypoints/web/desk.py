"""The integration desk: the inbox's streams (last message, lag, messages held for a gap), and
its other pages (quarantine, outbox, keys, schemas, ICD, clock), each in a module of its own. Reads
use the store's queries; every action is the API's own command or service call."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from labgate.adapters.store.stream_view import MAX_STREAMS, streams
from labgate.compliance.access import Permission
from labgate.entrypoints.web import (
    desk_clock,
    desk_icd,
    desk_keys,
    desk_outbox,
    desk_quarantine,
    desk_schemas,
)
from labgate.entrypoints.web.access import Visitor, allowed, hub_of
from labgate.entrypoints.web.desk_common import desk_frame, since
from labgate.entrypoints.web.render import page

router = APIRouter()
for part in (desk_quarantine, desk_outbox, desk_keys, desk_schemas, desk_icd, desk_clock):
    router.include_router(part.router)


@router.get("/sites/{site}/desk", name="desk_streams")
def desk_streams(
    request: Request,
    site: str,
    who: Annotated[Visitor, Depends(allowed(Permission.READ_QUARANTINE))],
) -> Response:
    """Per source and stream: the last message taken in, how long ago, what is expected next
    and what waits for it."""
    values = desk_frame(request, who, site, "streams")
    with hub_of(request).sessions() as session:
        rows = streams(session)
    for row in rows:
        row["lag"] = since(values["now"], row["last"]["received_at"] if row["last"] else None)
    values |= {"streams": rows, "max_streams": MAX_STREAMS}
    return page(request, "desk.html", values)
