"""Pages from Jinja2 templates; an htmx request gets one block of the page's own template
(jinja2-fragments style), never a second copy of the markup."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

# Scripts and styles only from labgate itself; no framing; pages with GxP data not kept in a
# shared workstation's cache.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def exact(value: object) -> str:
    """A stored number as stored: Decimal text keeps every digit and trailing zero. A float
    would be a silently transformed value, so it is refused rather than printed."""
    if value is None:
        return ""
    if isinstance(value, float):
        raise TypeError(f"float {value!r} reached a console page; numbers are shown as stored")
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def in_groups(items: Iterable[Any], key: str) -> list[tuple[Any, list[Any]]]:
    """Items grouped by `key` (a mapping's key or an attribute), the groups in the order of
    their first item: Jinja's own groupby sorts them, and a list's order is its author's."""
    groups: dict[Any, list[Any]] = {}
    for item in items:
        value = item[key] if isinstance(item, Mapping) else getattr(item, key)
        groups.setdefault(value, []).append(item)
    return list(groups.items())


environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(("html",), default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters["exact"] = exact
environment.filters["in_groups"] = in_groups


# What base.html shows around a page with no site or visitor (sign-in, refusals).
FRAMELESS: dict[str, Any] = {"who": None, "site": None, "nav": [], "current": "", "sites": []}


def prefix(request: Request) -> str:
    """Where the console is mounted (`/console`, behind any proxy prefix)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def page(
    request: Request,
    name: str,
    values: dict[str, Any],
    *,
    status: int = 200,
    block: str | None = None,
) -> HTMLResponse:
    """The template rendered whole, or only `block` of it (an htmx partial update)."""
    template = environment.get_template(name)
    context = {"request": request, "base": prefix(request), **FRAMELESS, **values}
    if block is None:
        html = template.render(context)
    else:
        html = "".join(template.blocks[block](template.new_context(context)))
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def is_htmx(request: Request) -> bool:
    """Whether htmx asked (it wants a block, not the whole page)."""
    return request.headers.get("HX-Request") == "true"


class Linked(Protocol):
    """A list view's filters, able to give its query string with some values changed."""

    @property
    def cursor(self) -> str | None: ...

    def link(self, **changed: Any) -> str: ...


def page_links(asked: Linked, here: str, next_cursor: str | None) -> dict[str, str | None]:
    """The links of a paged list: the next page, and back to the first once paged."""
    return {
        "next_link": None if next_cursor is None else f"{here}?{asked.link(cursor=next_cursor)}",
        "first_link": f"{here}?{asked.link(cursor=None)}" if asked.cursor else None,
    }


def filtered_list(
    request: Request, name: str, block: str, values: dict[str, Any], asked: Linked, here: str
) -> HTMLResponse:
    """A filtered list: the whole page, or for htmx its `block`, with the address bar set to the
    view without its empty filters so it can be shared."""
    if not is_htmx(request):
        return page(request, name, values)
    answer = page(request, name, values, block=block)
    if request.headers.get("HX-Trigger") == block:
        # The block's own refresh (its element's id is the block's name): the address is
        # already this view's, and pushing it again every poll would fill the history.
        return answer
    query = asked.link()
    answer.headers["HX-Push-Url"] = f"{here}?{query}" if query else here
    return answer
