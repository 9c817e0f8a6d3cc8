"""Fixtures for the end-to-end tests that need a peer of their own."""

from __future__ import annotations

import io
import shutil
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from console_browser import CHROMIUM, Served
from playwright.sync_api import Browser, BrowserContext, sync_playwright
from rich.console import Console

from fakes import ManualClock
from hubproc import Hub, Template, demo_template, running_hub
from labgate.adapters.store.migrate import upgrade
from labgate.bootstrap import bootstrap
from labgate.config import Settings
from labgate.entrypoints.app import create_app
from labgate.entrypoints.cli import demo
from sshd import Sshd, running_sshd


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A private OpenSSH sshd on a free loopback port (tests/sshd.py), shared by the session."""
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    """The demo plant seeded once per module on PostgreSQL, with the simulators' keys."""
    with demo_template(tmp_path_factory.mktemp("keys")) as seeded:
        yield seeded


@pytest.fixture
def running(template: Template, tmp_path: Path) -> Iterator[Hub]:
    """A copy of the template with labgate's environment; its processes stopped afterwards."""
    with running_hub(template, tmp_path) as hub:
        yield hub


# The console's browser tests (tests/e2e/console_browser.py).


@pytest.fixture(scope="session")
def demo_plant(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The demo plant seeded once per test worker (SQLite file), and its credentials; each test
    serves a copy of it."""
    folder = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{folder / 'labgate.db'}"
    upgrade(url)
    hub = bootstrap(Settings(database_url=url, demo=True))
    try:
        credentials = demo.seed(hub, Console(file=io.StringIO()))
    finally:
        hub.close()
    return folder, credentials


@pytest.fixture
def served(demo_plant: tuple[Path, dict[str, str]], tmp_path: Path) -> Iterator[Served]:
    """A copy of the demo plant for this test, served by uvicorn on a free loopback port."""
    folder, credentials = demo_plant
    for name in ("labgate.db", "labgate.db-wal"):
        if (folder / name).exists():
            shutil.copy(folder / name, tmp_path / name)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'labgate.db'}", demo=True, strict_contract=True
    )
    clock = ManualClock(datetime.now(UTC))
    hub = bootstrap(settings, clock=clock)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings, hub), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.05)
    yield Served(f"http://127.0.0.1:{sock.getsockname()[1]}", hub, clock, credentials)
    server.should_exit = True
    thread.join(10)
    sock.close()
    hub.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile, under the pages' own Content-Security-Policy."""
    made = browser.new_context(viewport={"width": 1360, "height": 900})
    yield made
    made.close()


@pytest.fixture
def axe_context(browser: Browser) -> Iterator[BrowserContext]:
    """A profile that lets the test inject axe-core (the CSP admits only labgate's scripts)."""
    made = browser.new_context(viewport={"width": 1360, "height": 900}, bypass_csp=True)
    yield made
    made.close()
