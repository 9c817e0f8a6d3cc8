"""The review panel in Chromium on the demo plant: a reviewer opens a result from the queue and
approves it through the e-signature dialog (the MES side then sees it Accepted), the stale-page
guard with two browsers, approval by keyboard alone, and axe-core on the panel and its dialog."""

from __future__ import annotations

from typing import Any

from console_browser import SITE, Served, serious_violations, shot, sign_in
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select

from labgate.adapters.store import tables as t
from labgate.domain.account_commands import ChangePassword
from labgate.domain.commands import Context, CreateAccount


def _first_waiting(served: Served) -> dict[str, Any]:
    path = f"/api/v1/sites/{SITE}/results/awaiting-review"
    listed = served.api("reviewer", path, limit=500)["items"]
    mine = [i for i in listed if i["analyst"] != "reviewer"]
    assert mine
    return dict(mine[0])


def _mes_status(served: Served, result: str) -> tuple[str, str]:
    r = t.results.c
    with served.hub.sessions() as session:
        row = session.execute(select(r.status, r.mes_status).where(r.code == result)).one()
    return str(row.status), str(row.mes_status)


def _outbox_for(served: Served, sample: str) -> list[dict[str, Any]]:
    o = t.outbox.c
    with served.hub.sessions() as session:
        rows = session.execute(select(t.outbox).order_by(o.id)).mappings().all()
    return [dict(row) for row in rows if sample in str(row["payload"])]


def _open_panel(page: Page, served: Served, result: str) -> None:
    page.goto(f"{served.url}/console/sites/{SITE}/review")
    page.get_by_role("link", name=result).click()
    expect(page.get_by_role("heading", name=f"Result {result}")).to_be_visible()


def test_a_reviewer_approves_from_the_queue_and_the_mes_sees_it_accepted(
    served: Served, context: BrowserContext
) -> None:
    item = _first_waiting(served)
    page = context.new_page()
    complaints: list[str] = []
    page.on(
        "console",
        lambda m: (
            complaints.append(f"{m.text} @ {m.location['url']}") if m.type == "error" else None
        ),
    )
    sign_in(page, served, "reviewer")
    _open_panel(page, served, item["result"])
    expect(page.locator('[data-step="raw"]')).to_contain_text(item["raw_value"])
    shot(page, "review-panel")
    page.get_by_text("Approve…").click()
    dialog = page.locator("#approve-dialog")
    expect(dialog).to_contain_text("Meaning of this signature: approved")
    dialog.get_by_label("User id").fill("reviewer")
    dialog.get_by_label("Password").fill(served.passwords["reviewer"])
    shot(page, "review-panel-dialog")
    dialog.get_by_role("button", name="Sign and approve").click()
    expect(page.get_by_role("status")).to_contain_text("approved")
    expect(page.locator(".signatures")).to_contain_text("Yes")
    shot(page, "review-panel-approved")
    assert _mes_status(served, item["result"]) == ("approved", "Accepted")
    assert any("Accepted" in str(row["payload"]) for row in _outbox_for(served, item["sample"]))
    # The browser asks for /favicon.ico on its own; the console has none (not this page's).
    assert [c for c in complaints if "/favicon.ico" not in c] == [], complaints


def test_the_stale_page_guard_with_two_browsers(served: Served, browser: Any) -> None:
    item = _first_waiting(served)
    temporary = "temporary-password-2"
    served.hub.bus.handle(CreateAccount(Context("admin"), "reviewer2", "Rita Second",
                                        ("qc_reviewer",), temporary))  # fmt: skip
    chosen = "second-reviewer-password-9"
    served.hub.bus.handle(ChangePassword(Context("reviewer2"), "reviewer2", temporary, chosen))
    first = browser.new_context(viewport={"width": 1360, "height": 900})
    second = browser.new_context(viewport={"width": 1360, "height": 900})
    try:
        mine = first.new_page()
        sign_in(mine, served, "reviewer")
        _open_panel(mine, served, item["result"])
        theirs = second.new_page()
        sign_in(theirs, served, "reviewer2", chosen)
        _open_panel(theirs, served, item["result"])
        theirs.get_by_text("Approve…").click()
        theirs.locator("#approve-dialog").get_by_label("User id").fill("reviewer2")
        theirs.locator("#approve-dialog").get_by_label("Password").fill(chosen)
        theirs.get_by_role("button", name="Sign and approve").click()
        expect(theirs.get_by_role("status")).to_contain_text("approved")

        mine.get_by_text("Approve…").click()
        mine.locator("#approve-dialog").get_by_label("User id").fill("reviewer")
        mine.locator("#approve-dialog").get_by_label("Password").fill(served.passwords["reviewer"])
        mine.get_by_role("button", name="Sign and approve").click()
        alert = mine.get_by_role("alert")
        expect(alert).to_contain_text("What changed since the page was shown")
        expect(alert.locator(".changed")).to_contain_text("Rita Second")
        shot(mine, "review-panel-stale")
    finally:
        first.close()
        second.close()


def test_keyboard_only_approval(served: Served, context: BrowserContext) -> None:
    item = _first_waiting(served)
    page = context.new_page()
    sign_in(page, served, "reviewer")
    page.goto(f"{served.url}/console/sites/{SITE}/review/{item['result']}")
    # Tab from the top of the page to the dialog's summary: it is reachable by keyboard alone.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.closest('#approve-dialog') !== null"):
            break
    assert page.evaluate("() => document.activeElement.tagName") == "SUMMARY"
    page.keyboard.press("Enter")  # opens the dialog
    page.keyboard.press("Tab")
    page.keyboard.type("reviewer")
    page.keyboard.press("Tab")
    page.keyboard.type(served.passwords["reviewer"])
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("approved")
    assert _mes_status(served, item["result"])[0] == "approved"


def test_no_serious_accessibility_violation_on_the_panel(
    served: Served, axe_context: BrowserContext
) -> None:
    item = _first_waiting(served)
    page = axe_context.new_page()
    sign_in(page, served, "reviewer")
    page.goto(f"{served.url}/console/sites/{SITE}/review/{item['result']}")
    found = {"panel": serious_violations(page)}
    page.get_by_text("Approve…").click()
    page.get_by_text("Invalidate…").click()
    found["dialogs open"] = serious_violations(page)
    assert found == {"panel": [], "dialogs open": []}
