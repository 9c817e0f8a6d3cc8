"""The console in a real browser (Debian's Chromium through Playwright) against labgate served
by uvicorn on the demo plant: sign-in and its refusals, the lockout, CSRF, the idle time-out,
the first change of a temporary password, My work, the review queue, keyboard use and
axe-core. SQLite only: the pages are on test here; the queries are the API lists' own."""

from __future__ import annotations

import io
import json
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from rich.console import Console
from sqlalchemy import select

from fakes import ManualClock
from labgate.adapters.store import tables as t
from labgate.adapters.store.migrate import upgrade
from labgate.bootstrap import Hub, bootstrap
from labgate.compliance.access import Account
from labgate.config import Settings
from labgate.domain.commands import Context, CreateAccount
from labgate.entrypoints.api.app import create_app
from labgate.entrypoints.cli import demo

CHROMIUM = "/usr/bin/chromium"  # Debian's package: `make test` installs it where missing
ROOT = Path(__file__).parents[2]
SCREENSHOT_DIR = ROOT / "var" / "screenshots"
AXE = ROOT / ".cache" / "axe-core" / "axe.min.js"  # scripts/ensure-services.sh axe
SITE = "PLT1"


@dataclass
class Served:
    """labgate on the demo plant, served over HTTP, with its hub and clock in the test's hands."""

    url: str
    hub: Hub
    clock: ManualClock
    passwords: dict[str, str]

    def api(self, user: str, path: str, **params: Any) -> Any:
        """One API GET as `user` (bearer token), its JSON."""
        with httpx.Client(base_url=self.url) as client:
            token = client.post(
                "/api/v1/token", data={"username": user, "password": self.passwords[user]}
            ).json()["access_token"]
            answer = client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200, answer.text
            return answer.json()

    def trail(self, action: str, record_id: str | None = None) -> list[dict[str, Any]]:
        """Audit entries of one action (of one record), oldest first."""
        a = t.audit_entries.c
        query = select(t.audit_entries).where(a.action == action).order_by(a.seq)
        if record_id is not None:
            query = query.where(a.record_id == record_id)
        with self.hub.sessions() as session:
            return [dict(r) for r in session.execute(query).mappings()]


@pytest.fixture(scope="module")
def demo_plant(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The demo plant seeded once for the module (SQLite file), and its credentials."""
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


def offline(context: BrowserContext, served: Served) -> list[str]:
    """Refuse (and record) every request to anywhere but labgate."""
    elsewhere: list[str] = []

    def only_labgate(route: Any) -> None:
        if route.request.url.startswith(served.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_labgate)
    return elsewhere


def sign_in(page: Page, served: Served, user: str, password: str | None = None) -> None:
    """Through the sign-in form, as a person would."""
    page.goto(f"{served.url}/console/")
    page.get_by_label("User id").fill(user)
    page.get_by_label("Password").fill(password or served.passwords[user])
    # The form's POST navigates: wait for the page it leads to, or what runs next (axe's script
    # tag, a locator) may meet the page being torn down.
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Sign in").click()


def shot(page: Page, name: str) -> None:
    """A screenshot of the page as shown, for people to look at (var/screenshots)."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOT_DIR / f"console-{name}.png", full_page=True)


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical findings on the page as it is now."""
    assert AXE.exists(), f"{AXE} is missing: run `bash scripts/ensure-services.sh axe`"
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document)).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target)}))"
    )
    return [v for v in found if v["impact"] in ("serious", "critical")]


def tile_count(page: Page, key: str) -> int:
    return int(page.locator(f'[data-tile="{key}"] .count').inner_text())


def test_reviewer_signs_in_and_my_work_counts_what_the_api_lists(
    served: Served, context: BrowserContext
) -> None:
    elsewhere = offline(context, served)
    page = context.new_page()
    sign_in(page, served, "reviewer")
    expect(page.get_by_role("heading", name="My work")).to_be_visible()
    assert page.url == f"{served.url}/console/sites/{SITE}/"
    waiting = served.api("reviewer", f"/api/v1/sites/{SITE}/results/awaiting-review", limit=500)
    deviations = served.api("reviewer", f"/api/v1/sites/{SITE}/deviations", state="open")
    alerts = served.api("reviewer", f"/api/v1/sites/{SITE}/oot-alerts", status="open")
    assert len(waiting["items"]) > 0
    assert tile_count(page, "review") == len(waiting["items"])
    assert tile_count(page, "deviations") == _total(deviations)
    assert tile_count(page, "oot") == _total(alerts)
    # A reviewer's work only: no tile for QA's dispositions or the integration desk.
    for other in ("disposition", "quarantine", "dead", "register", "test"):
        assert page.locator(f'[data-tile="{other}"]').count() == 0
    header = page.locator("header .person")
    expect(header).to_have_text("Rolf Reviewer")
    expect(header).to_have_attribute("title", "user id: reviewer")
    shot(page, "my-work-reviewer")
    assert elsewhere == []


def _total(listed: Any) -> int:
    items = listed["items"] if isinstance(listed, dict) else listed
    return len(items)


def test_my_work_is_per_role(served: Served, context: BrowserContext) -> None:
    page = context.new_page()
    sign_in(page, served, "qa")
    expect(page.get_by_role("heading", name="My work")).to_be_visible()
    pending = served.api("qa", f"/api/v1/sites/{SITE}/batches", disposition="pending", limit=500)
    assert tile_count(page, "disposition") == len(pending["items"])
    assert page.locator('[data-tile="review"]').count() == 0  # QA approves no results
    shot(page, "my-work-qa")
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, served, "analyst")
    samples = served.api("analyst", f"/api/v1/sites/{SITE}/samples", status="requested")
    assert tile_count(page, "register") == len(samples["items"])
    assert page.locator('[data-tile="disposition"]').count() == 0


def test_a_wrong_password_is_refused_on_the_page_and_audited(
    served: Served, context: BrowserContext
) -> None:
    page = context.new_page()
    sign_in(page, served, "reviewer", "not-the-password")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Unknown user id or wrong password")
    expect(alert).to_contain_text("auth.bad_credentials")
    expect(page.get_by_label("User id")).to_have_value("reviewer")
    shot(page, "sign-in-refused")
    refused = served.trail("refused.sign_in", "reviewer")
    assert [e["after"]["reason_code"] for e in refused] == ["auth.bad_credentials"]
    assert served.trail("auth.signed_in", "reviewer") == []


def test_six_wrong_sign_ins_lock_the_account(served: Served, context: BrowserContext) -> None:
    page = context.new_page()
    for _ in range(6):
        sign_in(page, served, "production", "wrong-password-again")
        expect(page.get_by_role("alert")).to_contain_text("Unknown user id or wrong password")
    sign_in(page, served, "production")  # the right password no longer opens it
    expect(page.get_by_role("alert")).to_contain_text("the account is locked")
    with served.hub.sessions() as session:
        account = session.scalars(select(Account).filter_by(username="production")).one()
        assert account.is_locked(served.clock.now())
    assert len(served.trail("account.locked", "production")) == 1
    assert len(served.trail("refused.sign_in", "production")) == 7


def test_a_post_without_its_csrf_token_is_refused_and_audited(
    served: Served, context: BrowserContext
) -> None:
    page = context.new_page()
    sign_in(page, served, "reviewer")
    expect(page.get_by_role("heading", name="My work")).to_be_visible()
    page.locator('form[action$="/sign-out"] input[name="csrf_token"]').evaluate("e => e.remove()")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("console.csrf_missing")
    shot(page, "refused-csrf")
    refused = served.trail("refused.console.sign_out")
    assert [(e["actor"], e["after"]["reason_code"]) for e in refused] == [
        ("reviewer", "console.csrf_missing")
    ]
    # The session was not ended by the forged post.
    page.goto(f"{served.url}/console/sites/{SITE}/")
    expect(page.get_by_role("heading", name="My work")).to_be_visible()
    # A token of another session is refused too.
    forged = page.request.post(
        f"{served.url}/console/sign-out", form={"csrf_token": "0" * 64}, max_redirects=0
    )
    assert forged.status == 403
    assert "console.csrf_invalid" in forged.text()


def test_the_idle_time_out_asks_for_the_password_again(
    served: Served, context: BrowserContext
) -> None:
    page = context.new_page()
    sign_in(page, served, "reviewer")
    page.goto(f"{served.url}/console/sites/{SITE}/review?test=ASSAY")
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    served.clock.advance(minutes=served.hub.settings.console_idle_minutes, seconds=1)
    page.reload()
    expect(page.get_by_role("status")).to_contain_text("idle for more than 15 minutes")
    expect(page.get_by_label("User id")).to_have_value("reviewer")
    shot(page, "sign-in-idle")
    ended = served.trail("auth.signed_out", "reviewer")
    assert [e["reason"] for e in ended] == ["idle time-out"]
    page.get_by_label("Password").fill(served.passwords["reviewer"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    assert page.url.endswith("/review?test=ASSAY")  # back where the time-out found them


def test_a_temporary_password_must_be_changed_at_first_sign_in(
    served: Served, context: BrowserContext
) -> None:
    temporary = "temporary-password-1"
    account = CreateAccount(Context("admin"), "newreviewer", "Nina Newreviewer",
                            ("qc_reviewer",), temporary)  # fmt: skip
    served.hub.bus.handle(account)
    page = context.new_page()
    sign_in(page, served, "newreviewer", temporary)
    expect(page.get_by_role("heading", name="Choose your password")).to_be_visible()
    shot(page, "password-first")
    page.goto(f"{served.url}/console/sites/{SITE}/review")  # nothing else opens first
    expect(page.get_by_role("heading", name="Choose your password")).to_be_visible()
    page.get_by_label("Current password").fill(temporary)
    page.get_by_label("New password", exact=True).fill("my-own-password-42")
    page.get_by_label("New password, again").fill("my-own-password-42")
    page.get_by_role("button", name="Save password").click()
    expect(page.get_by_role("heading", name="My work")).to_be_visible()
    assert len(served.trail("account.password_changed", "newreviewer")) == 1
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You have signed out")
    assert [e["reason"] for e in served.trail("auth.signed_out", "newreviewer")] == ["signed out"]


def test_the_review_queue_lists_the_demo_results_and_filters_them(
    served: Served, context: BrowserContext
) -> None:
    elsewhere = offline(context, served)
    page = context.new_page()
    complaints: list[str] = []  # a script the CSP blocked, an htmx error: the console says so
    page.on("console", lambda m: complaints.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: complaints.append(str(e)))
    sign_in(page, served, "reviewer")
    page.get_by_role("link", name="Review queue").click()
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    path = f"/api/v1/sites/{SITE}/results/awaiting-review"
    listed = served.api("reviewer", path, limit=500)["items"]
    rows = page.locator("#queue tbody tr[data-result]")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.result)") == [
        item["result"] for item in listed
    ]
    first = listed[0]
    row = page.locator(f'tr[data-result="{first["result"]}"]')
    # The value exactly as the API gives it (text, never re-formatted), the analyst by name.
    expect(row.locator("td").nth(5)).to_contain_text(first["raw_value"])
    expect(row.locator(".person")).to_have_attribute("title", f"user id: {first['analyst']}")
    shot(page, "review-queue")

    test_code = "ASSAY"
    page.get_by_label("Test").select_option(test_code)
    expect(page).to_have_url(f"{served.url}/console/sites/{SITE}/review?test={test_code}")
    filtered = served.api("reviewer", path, test_code=test_code, limit=500)["items"]
    assert 0 < len(filtered) < len(listed)
    expect(rows).to_have_count(len(filtered))
    assert set(rows.evaluate_all("rs => rs.map(r => r.dataset.result)")) == {
        item["result"] for item in filtered
    }
    shot(page, "review-queue-filtered")
    page.get_by_label("Test").select_option("")
    page.get_by_label("Sort by").select_option("newest")
    expect(page.locator("#queue caption")).to_contain_text("newest first")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.result)") == [
        item["result"] for item in reversed(listed)
    ]
    expect(page).to_have_url(f"{served.url}/console/sites/{SITE}/review?sort=newest")
    assert elsewhere == []
    assert complaints == []


def test_the_queue_pages_through_every_row_once(served: Served, context: BrowserContext) -> None:
    page = context.new_page()
    sign_in(page, served, "reviewer")
    listed = served.api("reviewer", f"/api/v1/sites/{SITE}/results/awaiting-review", limit=500)
    # The API lists oldest (lowest id) first; a stable sort by test gives (test, id) order.
    expected = [i["result"] for i in sorted(listed["items"], key=lambda i: i["test_code"])]
    assert len(expected) > 6  # several pages of three
    seen: list[str] = []
    # Three a page (the form offers 25, 50, 100; the link takes any size up to 100), sorted by
    # test: pages follow (test, id), so a page boundary inside one test loses no row.
    page.goto(f"{served.url}/console/sites/{SITE}/review?sort=test&limit=3")
    while True:
        shown = page.locator("#queue tbody tr[data-result]").evaluate_all(
            "rs => rs.map(r => r.dataset.result)"
        )
        seen += shown
        following = page.locator("#queue a[rel=next]")
        if following.count() == 0:
            break
        following.click()  # htmx replaces the table: wait until the page shown is another
        expect(page.locator("#queue tbody tr[data-result]").first).not_to_have_attribute(
            "data-result", shown[0]
        )
    assert seen == expected


def test_keyboard_only_sign_in(served: Served, context: BrowserContext) -> None:
    page = context.new_page()
    page.goto(f"{served.url}/console/")
    assert page.evaluate("() => document.activeElement.id") == "username"  # autofocus
    page.keyboard.press("Shift+Tab")  # the skip link is the one thing before the form
    focused = page.evaluate("() => document.activeElement.textContent.trim()")
    assert focused == "Skip to main content"
    page.keyboard.press("Tab")
    page.keyboard.type("reviewer")
    page.keyboard.press("Tab")
    page.keyboard.type(served.passwords["reviewer"])
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="My work")).to_be_visible()
    page.keyboard.press("Tab")  # skip link, then into the page by keyboard
    page.keyboard.press("Enter")
    focused_id = page.evaluate("() => document.activeElement.id")
    assert focused_id == "main"


def test_no_serious_or_critical_accessibility_violation(
    served: Served, axe_context: BrowserContext
) -> None:
    page = axe_context.new_page()
    pages: dict[str, list[dict[str, Any]]] = {}
    page.goto(f"{served.url}/console/sign-in")
    pages["sign-in"] = serious_violations(page)
    sign_in(page, served, "reviewer", "wrong-password-for-axe")
    pages["sign-in refused"] = serious_violations(page)
    sign_in(page, served, "reviewer")
    pages["my work"] = serious_violations(page)
    page.goto(f"{served.url}/console/sites/{SITE}/review")
    pages["review queue"] = serious_violations(page)
    page.goto(f"{served.url}/console/password")
    pages["password"] = serious_violations(page)
    page.goto(f"{served.url}/console/sites/NOPE/")
    pages["refused"] = serious_violations(page)
    assert pages == {name: [] for name in pages}, json.dumps(pages, indent=1)
