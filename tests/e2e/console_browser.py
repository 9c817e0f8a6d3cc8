"""What the console's browser tests share: labgate served by uvicorn on a copy of the demo
plant, signing in through the form, screenshots to look at, and axe-core's findings. The
fixtures that give them (`demo_plant`, `served`, `browser`, `context`, `axe_context`) are in
conftest.py; the demo plant is seeded once per test worker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
from playwright.sync_api import BrowserContext, Page
from sqlalchemy import select

from fakes import ManualClock
from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub

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
