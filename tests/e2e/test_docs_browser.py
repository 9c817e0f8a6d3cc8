"""/docs in a real browser (Debian's Chromium through Playwright), served by labgate over real
HTTP on a closed network: the OpenAPI 3.1 document renders, Authorize signs in with the OAuth2
password flow, and one call runs."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from labgate.adapters.store.migrate import upgrade
from labgate.bootstrap import Hub
from labgate.config import Settings
from labgate.entrypoints.app import create_app
from plant import Plant, seed

CHROMIUM = "/usr/bin/chromium"  # Debian's package: `make test` installs it where missing
SCREENSHOT_DIR = Path(__file__).parents[2] / "var" / "screenshots"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: this test is about the page, the API is tested on both databases."""
    url = f"sqlite:///{tmp_path / 'labgate.db'}"
    upgrade(url)
    return url


@pytest.fixture
def base_url(settings: Settings, hub: Hub) -> Iterator[str]:
    """labgate served by uvicorn on a free loopback port, as `labgate serve` serves it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings, hub), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture
def plant(hub: Hub, client: TestClient) -> Plant:
    return seed(hub, client)


def offline_page(browser: Browser, base_url: str) -> tuple[Page, list[str]]:
    """A page that may load only from labgate: any other host is refused and recorded."""
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    elsewhere: list[str] = []

    def only_labgate(route: Route) -> None:
        if route.request.url.startswith(base_url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_labgate)
    return page, elsewhere


def test_docs_render_sign_in_and_run_a_call(plant: Plant, browser: Browser, base_url: str) -> None:
    page, elsewhere = offline_page(browser, base_url)
    page.goto(f"{base_url}/docs")
    expect(page.locator(".opblock").first).to_be_visible(timeout=30_000)
    assert page.get_by_text("Unable to render this definition").count() == 0
    assert page.locator(".opblock").count() > 50  # every operation is listed
    expect(page.locator(".info .version-stamp")).to_contain_text("OAS 3.1")

    page.locator("button.authorize").first.click()
    page.locator("#oauth_username").fill("reviewer")
    page.locator("#oauth_password").fill(plant.passwords["reviewer"])
    oauth = page.locator(".auth-container").filter(has=page.locator("#oauth_username"))
    oauth.locator("button.authorize").click()
    signed_in = page.locator(".auth-container").filter(has_text="OAuth2PasswordBearer")
    expect(signed_in.locator("button", has_text="Logout")).to_be_visible()
    expect(signed_in).to_contain_text("reviewer")
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOT_DIR / "docs-authorize.png")
    signed_in.locator("button.btn-done").click()

    me = page.locator("#operations-access-me_api_v1_me_get")
    me.locator(".opblock-summary").click()
    me.get_by_role("button", name="Try it out").click()
    me.get_by_role("button", name="Execute").click()
    status = me.locator(".live-responses-table tr.response .response-col_status")
    expect(status).to_have_text("200")
    expect(me.locator(".live-responses-table .microlight").first).to_contain_text('"reviewer"')

    me.scroll_into_view_if_needed()
    page.screenshot(path=SCREENSHOT_DIR / "docs-call.png")
    assert elsewhere == []  # nothing fetched from outside labgate
