"""What the lab-data pages (stability, EM, raw materials) share: their sub-navigation, their
paged lists over the API's own record pages, and the post of a signed form. The rules are the
bus handlers'; these helpers only carry the form to them and their answer back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from labgate.adapters.store.lists import Slice
from labgate.compliance.signatures import Meaning
from labgate.domain.commands import Command, Context, SignatureInput
from labgate.domain.errors import LabgateError
from labgate.entrypoints.web import keyset
from labgate.entrypoints.web.access import Visitor, context, hub_of, posted_form
from labgate.entrypoints.web.layout import SiteView, frame
from labgate.entrypoints.web.refusals import audit
from labgate.entrypoints.web.render import page_links

# (label, path under the site, key): every page here reads with Permission.READ.
SUBNAV = (
    ("Stability studies", "/stability", "stability"),
    ("OOT alerts", "/oot-alerts", "oot"),
    ("EM rounds", "/em", "em"),
    ("EM excursions", "/em/excursions", "excursions"),
    ("Raw-material lots", "/lots", "lots"),
)
PAGE_SIZES = (25, 50, 100)


def lab_frame(request: Request, who: Visitor, site: SiteView, sub: str) -> dict[str, Any]:
    """base.html's values with the lab-data tab current, and which sub-page is shown."""
    return {**frame(request, who, site, "labdata"), "subnav": SUBNAV, "sub": sub}


@dataclass(frozen=True)
class Listing:
    """What the visitor asked a list for: one status filter (or none), page size, page."""

    status: str | None
    limit: int
    cursor: str | None

    def link(self, **changed: Any) -> str:
        """This view's query string with some values changed (empty and default ones left out)."""
        values = {**self.__dict__, **changed}
        kept = {k: v for k, v in values.items() if v not in (None, "") and (k, v) != ("limit", 25)}
        return urlencode(kept)


def after(sort: str, asked: Listing) -> int | None:
    """The row id the page continues after (a cursor this list gave, else refused)."""
    decoded = keyset.decode(sort, asked.cursor)
    return None if decoded is None else decoded[1]


def paging(sort: str, asked: Listing, here: str, found: Slice) -> dict[str, Any]:
    """The page's rows and its links (next page, back to the first)."""
    more = None if found.last_id is None else keyset.encode(sort, None, found.last_id)
    return {"rows": found.rows, "asked": asked, "here": here, "page_sizes": PAGE_SIZES,
            **page_links(asked, here, more)}  # fmt: skip


Build = Callable[[Context, dict[str, str], SignatureInput], Command]
Refused = Callable[[LabgateError], Awaitable[Response]]


async def signed(
    request: Request, who: Visitor, meaning: Meaning, build: Build, done: str, refused: Refused
) -> Response:
    """Send the command a signed form asks for: the signature's meaning is the action's, never
    the form's. Post/redirect/get to `done` after success (reloading does not sign again); a
    refusal is audited (the bus audits its own) and shown by `refused`."""
    form = await posted_form(request, who)
    signature = SignatureInput(form.get("username", ""), form.get("password", ""), meaning.value)
    command = build(context(request, who.account.username), form, signature)
    return await send(request, command, done, refused)


async def send(request: Request, command: Command, done: str, refused: Refused) -> Response:
    """The command through the bus, as the API sends it; 303 to `done`, or the refusal shown."""
    try:
        await run_in_threadpool(hub_of(request).bus.handle, command)
    except LabgateError as error:
        await audit(request, error)
        return await refused(error)
    return RedirectResponse(done, status_code=303)
