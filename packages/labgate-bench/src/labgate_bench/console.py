"""The `console` lines of `make bench`: server time per console page, p50 and p95, with the demo
plant grown to 5,000 samples, against the same data read through the JSON API of the same app
in the same run.

The demo plant is seeded as `labgate demo seed` seeds it, then grown through the bus as a plant
grows: 50 more batches in master data, each with 100 samples requested by the MES at its
sampling points and registered, each planned test with a preliminary result from the lab (so the
review queue holds every one of them). Timing is in-process (an ASGI test client: no socket,
the same for page and API), the page and its API reads interleaved so load from other work falls
on both alike. The raw figure of a page is the API calls that give its data:

- review queue (first page, 25 rows; and filtered by product): GET .../results/awaiting-review
  with the same filters and page size;
- batch page (a batch of 100 samples): GET .../batches/{batch}, its /gates and its /review;
- batch board (first page, 25 batches): GET .../batches; and one row's review-by-exception
  cell (each row reads its own): GET .../batches/{batch}/review;
- audit search (first page, 25 newest; and one person's): GET /api/v1/audit, same filters.

Rates are pages per second over all timed runs; ratio = page rate / API rate (1.0: the page costs
no more than reading its data as JSON)."""

from __future__ import annotations

import copy
import io
import os
import re
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.progress import Progress
from sqlalchemy import text
from starlette.testclient import TestClient

from labgate.adapters.store.migrate import upgrade
from labgate.bootstrap import Hub, bootstrap
from labgate.config import Settings
from labgate.domain import commands as c
from labgate.domain.samples import Sample
from labgate.entrypoints.app import create_app
from labgate.entrypoints.cli import demo
from labgate_bench.main import Figure, percentile

SAMPLES = int(os.environ.get("LABGATE_BENCH_CONSOLE_SAMPLES", "5000"))
PER_BATCH = 100
RUNS = int(os.environ.get("LABGATE_BENCH_CONSOLE_RUNS", "40"))
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def grown_document(batches: int) -> dict[str, Any]:
    """The demo plant's master data with `batches` more batches, each running one of the
    plant's procedures in turn."""
    document = demo.plant_document()
    grown = copy.deepcopy(document)
    known = grown["batches"]
    for n in range(batches):
        model = known[n % len(known)]
        grown["batches"].append({**model, "code": f"B-GROW-{n + 1:04d}"})
    return grown


def value(limit: str) -> str:
    """A plausible in-specification value for a limit, as the demo seed makes them."""
    return demo.plausible_value(limit, out_of_spec=False)


def grow(hub: Hub, site: str, document: dict[str, Any], samples: int) -> list[str]:
    """`samples` more samples over the grown batches, each registered with a preliminary result
    for every planned test; the batches, in order."""
    points: dict[str, list[str]] = {
        proc["code"]: [p["code"] for p in proc.get("sampling_points", [])]
        for proc in document["procedures"]
    }
    grown = [b for b in document["batches"] if b["code"].startswith("B-GROW-")]
    mes, lab = c.Context("mes", "system"), c.Context("analyst")
    now = hub.bus.deps.clock.now()
    with Progress(transient=True) as progress:
        task = progress.add_task(
            f"console: growing the demo plant by {samples} samples", total=samples
        )
        for n in range(samples):
            batch = grown[n // PER_BATCH]
            where = points[batch["procedure"]]
            request = c.RequestSample(
                mes, site, f"MES-GROW-{n + 1:05d}", batch["product"], now - timedelta(hours=2),
                batch=batch["code"], sampling_point=where[n % len(where)], register_now=True,
            )  # fmt: skip
            code = hub.bus.handle(request)
            with hub.uow_factory() as uow:
                sample = uow.records.get(Sample, site=site, code=code)
                assert sample is not None
                planned = [(t.test_code, t.limit, t.unit, t.method_version) for t in sample.tests]
            results = tuple(
                c.RecordResult(lab, site, code, test, value(limit), unit, version, "analyst")
                for test, limit, unit, version in planned
            )
            if results:
                hub.bus.handle(c.RecordResults(lab, results))
            progress.advance(task)
    return [b["code"] for b in grown]


def prepared(url: str) -> tuple[Hub, Settings, dict[str, str], str, list[str]]:
    """A hub on the grown demo plant: its settings, the demo credentials, the site, the grown
    batches."""
    upgrade(url)
    settings = Settings(database_url=url, demo=True, token_secret=secrets.token_urlsafe(32))
    hub = bootstrap(settings)
    credentials = demo.seed(hub, Console(file=io.StringIO()))
    count = -(-SAMPLES // PER_BATCH)
    document = grown_document(count)
    site = document["site"]["code"]
    hub.bus.handle(c.ImportMasterData(c.Context("admin"), document, "bench: the plant grows"))
    grown = grow(hub, site, document, SAMPLES)
    if hub.engine.dialect.name == "postgresql":
        # A plant's tables have planner statistics (autovacuum keeps them); tables grown a
        # moment ago may have none yet, and PostgreSQL then plans the audit reads as scans.
        with hub.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    return hub, settings, credentials, site, grown


def signed_in(client: TestClient, user: str, password: str) -> None:
    """A console session for `user`, through the sign-in form."""
    form = client.get("/console/sign-in")
    found = CSRF.search(form.text)
    assert found, form.text
    data = {"username": user, "password": password, "csrf_token": found.group(1), "next": ""}
    answer = client.post("/console/sign-in", data=data, follow_redirects=False)
    assert answer.status_code == 303, answer.text


def timed(client: TestClient, paths: list[str], headers: dict[str, str] | None = None) -> float:
    """Milliseconds to answer every path in turn (each must answer 200)."""
    began = time.perf_counter()
    for path in paths:
        answer = client.get(path, headers=headers)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    return (time.perf_counter() - began) * 1000


def figure(name: str, page: Callable[[], float], api: Callable[[], float]) -> Figure:
    """A page and its API reads, interleaved RUNS times after one warm-up each."""
    page(), api()
    pages: list[float] = []
    reads: list[float] = []
    for _ in range(RUNS):
        pages.append(page())
        reads.append(api())
    return Figure(
        name,
        1000 * len(pages) / sum(pages),
        "pages/s",
        1000 * len(reads) / sum(reads),
        p50=percentile(pages, 0.5),
        p95=percentile(pages, 0.95),
    )


def run(label: str, url: str) -> list[Figure]:
    """The console lines on one database."""
    hub, settings, credentials, site, batches = prepared(url)
    try:
        app = create_app(settings, hub)
        with TestClient(app, base_url="https://testserver") as console, TestClient(app) as api:
            # QA reads the queue, the batches and the audit trail alike.
            signed_in(console, "qa", credentials["qa"])
            token = api.post(
                "/api/v1/token", data={"username": "qa", "password": credentials["qa"]}
            ).json()["access_token"]
            bearer = {"Authorization": f"Bearer {token}"}
            base = f"/api/v1/sites/{site}"
            product = "IBU-400"
            batch = batches[len(batches) // 2]
            views = {
                "review_queue": (
                    [f"/console/sites/{site}/review"],
                    [f"{base}/results/awaiting-review?limit=25"],
                ),
                "review_queue_by_product": (
                    [f"/console/sites/{site}/review?product={product}"],
                    [f"{base}/results/awaiting-review?limit=25&product={product}"],
                ),
                "batch_page": (
                    [f"/console/sites/{site}/batches/{batch}"],
                    [f"{base}/batches/{batch}", f"{base}/batches/{batch}/gates",
                     f"{base}/batches/{batch}/review"],
                ),
                "batch_board": (
                    [f"/console/sites/{site}/batches"],
                    [f"{base}/batches?limit=25"],
                ),
                "batch_board_row": (
                    [f"/console/sites/{site}/batches/{batch}/readiness"],
                    [f"{base}/batches/{batch}/review"],
                ),
                "audit_search": (
                    [f"/console/sites/{site}/audit"],
                    ["/api/v1/audit?limit=25&order=newest"],
                ),
                "audit_search_by_person": (
                    [f"/console/sites/{site}/audit?actor=analyst"],
                    ["/api/v1/audit?limit=25&order=newest&actor=analyst"],
                ),
            }  # fmt: skip
            return [
                figure(
                    f"console.{label}.{name}",
                    lambda pages=pages: timed(console, pages),  # type: ignore[misc]
                    lambda reads=reads: timed(api, reads, bearer),  # type: ignore[misc]
                )
                for name, (pages, reads) in views.items()
            ]
    finally:
        hub.close()
