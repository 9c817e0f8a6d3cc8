"""What `labgate demo seed` is doing (its stages as a progress bar) and what it made, printed
after the credentials: sites, products, batches and their state, and where to start."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from sqlalchemy import select

from labgate.adapters.store import tables as t
from labgate.adapters.store.views import batch_view
from labgate.bootstrap import Hub
from labgate.domain.masterdata import Product, Site


def run_stages(console: Console, stages: Sequence[tuple[str, Callable[[], object]]]) -> None:
    """Run the seed's stages under a progress bar, one line per stage as it ends."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               MofNCompleteColumn(), TimeElapsedColumn())  # fmt: skip
    # The lines printed through the progress's console stay above the bar on a terminal and
    # are the whole record where there is none (a log, a pipe).
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("seeding the demo plant", total=len(stages))
        for name, stage in stages:
            progress.update(task, description=f"seeding: {name}")
            started = time.monotonic()
            stage()
            progress.advance(task)
            elapsed = time.monotonic() - started
            progress.console.print(f"  seeded {name} ({elapsed:.1f} s)", highlight=False)


def print_summary(hub: Hub, console: Console, site: str) -> None:
    """The demo plant as tables read from the database (not from the seed's plan)."""
    with hub.sessions() as session:
        sites = list(session.scalars(select(Site).order_by(t.sites.c.code)))
        of_site = select(Product).where(t.products.c.site == site)
        products = list(session.scalars(of_site.order_by(t.products.c.code)))
        codes = session.scalars(
            select(t.batches.c.code).where(t.batches.c.site == site).order_by(t.batches.c.code)
        )
        batches = [batch_view(session, site, code) for code in codes]
    console.print(_sites(sites), _products(products), _batches(batches))
    docs = f"http://{hub.settings.host}:{hub.settings.port}/docs"  # where `labgate serve` will be
    for line in where_to_start(site, batches, docs):
        console.print(line, soft_wrap=True, highlight=False)


def _sites(sites: list[Site]) -> Table:
    table = Table("site", "name", title="sites")
    for s in sites:
        table.add_row(s.code, s.name)
    return table


def _products(products: list[Product]) -> Table:
    table = Table("product", "name", "specification", title="products")
    for p in products:
        table.add_row(p.code, p.name, p.specification)
    return table


def _batches(batches: list[dict[str, Any]]) -> Table:
    table = Table(title="batches")
    # Codes are what a reader copies: never cut or folded; the counts may wrap.
    for header in ("batch", "product", "QA", "MES"):
        table.add_column(header, no_wrap=True)
    table.add_column("samples")
    table.add_column("deviations", no_wrap=True)
    for b in batches:
        counted = Counter(s["status"] for s in b["samples"])
        samples = ", ".join(f"{n} {status}" for status, n in sorted(counted.items()))
        open_ = sum(1 for d in b["deviations"] if d["open"])
        deviations = f"{len(b['deviations'])}, {open_} open" if b["deviations"] else "-"
        row = (b["code"], b["product"], b["disposition"], b["mes_status"], samples, deviations)
        table.add_row(*row)
    return table


def where_to_start(site: str, batches: list[dict[str, Any]], docs: str) -> list[str]:
    """Pointers to the batches a newcomer can act on, named by their real codes."""
    lines = [
        f"where to start: {docs} (Authorize with a user id and password above); "
        "README, 'The demo plant, and one sample through it'"
    ]
    for b in batches:
        statuses = {s["status"] for s in b["samples"]}
        path = f"GET /api/v1/sites/{site}"
        if statuses == {"requested"}:
            lines.append(f"  requested, not yet in the lab: {path}/batches/{b['code']}/gates")
        elif b["disposition"] == "pending" and b["mes_status"] == "Pending":
            lines.append(f"  results awaiting review: {path}/batches/{b['code']}")
        elif b["deviations"]:
            lines.append(f"  OOS investigations: {path}/deviations?batch={b['code']}")
    return lines
