"""`make screenshots`: a PNG of each main console page on the demo plant, into docs/console/.

The demo plant is seeded into a temporary SQLite file and served by uvicorn on a free loopback
port; Debian's Chromium (through Playwright) signs in as the role that works on each page and
takes the page whole. Pages that need a record (a batch, a result) take the first the API lists.
Nothing here is a test: the browser tests check the pages; this shows them to people."""

from __future__ import annotations

import io
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import uvicorn
from playwright.sync_api import Page, sync_playwright
from rich.console import Console

from labgate.adapters.store.migrate import upgrade
from labgate.bootstrap import bootstrap
from labgate.config import Settings
from labgate.entrypoints.app import create_app
from labgate.entrypoints.cli import demo

CHROMIUM = "/usr/bin/chromium"
OUT = Path(__file__).parents[1] / "docs" / "console"
SITE = "PLT1"


@dataclass(frozen=True)
class Shot:
    """One page: its file name, who looks at it, and where it is (a function of the API)."""

    name: str
    user: str
    where: Callable[[Callable[..., Any]], str]
    then: Callable[[Page], None] | None = None


def first(path: str, key: str, **params: str) -> Callable[[Callable[..., Any]], str]:
    """The address of the first record an API list gives, under the console."""

    def where(api: Callable[..., Any]) -> str:
        items = api(path, **params)["items"]
        if not items:
            raise SystemExit(f"screenshots: the demo plant has nothing at {path} {params}")
        return str(items[0][key])

    return where


def at(path: str) -> Callable[[Callable[..., Any]], str]:
    return lambda api: path


def _result(api: Callable[..., Any]) -> str:
    code = first(f"/api/v1/sites/{SITE}/results/awaiting-review", "result")(api)
    return f"/sites/{SITE}/review/{code}"


def under(page: str, path: str, key: str, **params: str) -> Callable[[Callable[..., Any]], str]:
    """The console page of the first record an API list (under the site) gives."""
    listed = first(f"/api/v1/sites/{SITE}{path}", key, **params)
    return lambda api: f"/sites/{SITE}{page}/{listed(api)}"


S = f"/sites/{SITE}"
SHOTS = (
    Shot("sign-in", "", at("/sign-in")),
    Shot("my-work-reviewer", "reviewer", at(f"{S}/")),
    Shot("my-work-qa", "qa", at(f"{S}/")),
    Shot("worklist", "analyst", at(f"{S}/worklist")),
    Shot("result-entry", "analyst", under("/worklist", "/samples", "code", status="registered")),
    Shot("review-queue", "reviewer", at(f"{S}/review")),
    Shot("review-panel", "reviewer", _result),
    Shot("review-bulk", "reviewer", at(f"{S}/review/bulk-approval")),
    Shot("batches", "qa", at(f"{S}/batches")),
    Shot("batch", "qa", at(f"{S}/batches/B-IBU-24001")),  # released: its signatures shown
    Shot("sample", "qa", under("/samples", "/samples", "code")),
    Shot("deviations", "qa", at(f"{S}/deviations")),
    Shot("deviation", "qa", under("/deviations", "/deviations", "code")),
    Shot("stability", "qa", at(f"{S}/stability")),
    Shot("stability-study", "qa", under("/stability", "/stability-studies", "code")),
    Shot("oot-alert", "qa", under("/oot-alerts", "/oot-alerts", "code")),
    Shot("em", "analyst", at(f"{S}/em")),
    Shot("em-excursion", "qa", under("/em/excursions", "/em/excursions", "code")),
    Shot("lots", "qa", at(f"{S}/lots")),
    Shot("lot", "qa", under("/lots", "/lots", "code")),
    Shot("masterdata", "qa", at(f"{S}/masterdata")),
    Shot("spec-compare", "qa", at(f"{S}/masterdata/specifications/SPEC-IBU-400/compare")),
    Shot("desk", "admin", at(f"{S}/desk")),
    Shot("quarantine", "admin", at(f"{S}/desk/quarantine")),
    Shot("outbox", "admin", at(f"{S}/desk/outbox")),
    Shot("keys", "admin", at(f"{S}/desk/keys")),
    Shot("clock", "admin", at(f"{S}/desk/clock")),
    Shot("icd", "qa", at(f"{S}/desk/icd")),
    Shot(
        "data-quality",
        "qa",
        at(f"{S}/dq"),
        lambda page: page.get_by_role("button", name="Run the rules now").click(),
    ),
    Shot("audit", "auditor", at(f"{S}/audit")),
    Shot("audit-verify", "auditor", at(f"{S}/audit/verify")),
    Shot("accounts", "admin", at(f"{S}/accounts")),
)


@contextmanager
def served_demo(folder: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """The demo plant in `folder`, served on a free loopback port; its address and passwords."""
    url = f"sqlite:///{folder / 'labgate.db'}"
    upgrade(url)
    settings = Settings(database_url=url, demo=True)
    hub = bootstrap(settings)
    credentials = demo.seed(hub, Console(file=io.StringIO()))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings, hub), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", credentials
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        hub.close()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder, served_demo(Path(folder)) as (url, passwords):

        def api(path: str, **params: str) -> Any:
            with httpx.Client(base_url=url) as client:
                login = {"username": "qa", "password": passwords["qa"]}
                token = client.post("/api/v1/token", data=login).json()["access_token"]
                answer = client.get(
                    path, params=params, headers={"Authorization": f"Bearer {token}"}
                )
                answer.raise_for_status()
                return answer.json()

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            for shot in SHOTS:
                context = browser.new_context(viewport={"width": 1360, "height": 900})
                page = context.new_page()
                if shot.user:
                    page.goto(f"{url}/console/sign-in")
                    page.get_by_label("User id").fill(shot.user)
                    page.get_by_label("Password").fill(passwords[shot.user])
                    with page.expect_navigation(wait_until="load"):
                        page.get_by_role("button", name="Sign in").click()
                page.goto(f"{url}/console{shot.where(api)}")
                page.wait_for_load_state("networkidle")
                if shot.then is not None:
                    shot.then(page)
                path = OUT / f"{shot.name}.png"
                page.screenshot(path=path, full_page=True)
                print(f"screenshots: {path.relative_to(OUT.parents[1])}", file=sys.stderr)
                context.close()
            browser.close()


if __name__ == "__main__":
    main()
