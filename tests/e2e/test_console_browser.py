"""The console in a real browser (Debian's Chromium through Playwright) against labgate served
by uvicorn on the demo plant: sign-in and its refusals, the lockout, CSRF, the idle time-out,
the first change of a temporary password, My work, the review queue, keyboard use and
axe-core. SQLite only: the pages are on test here; the queries are the API lists' own."""

from __future__ import annotations

import json
from typing import Any

from console_browser import SITE, Served, offline, serious_violations, shot, sign_in
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import select

from labgate.compliance.access import Account
from labgate.config import dq_windows
from labgate.domain.commands import Context, CreateAccount
from labgate.domain.dq_commands import RunDataQuality


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


def test_a_queue_left_open_still_times_out(served: Served, context: BrowserContext) -> None:
    """The queue refreshes itself every 10 s; those refreshes are not the reviewer's activity."""
    page = context.new_page()
    sign_in(page, served, "reviewer")
    page.goto(f"{served.url}/console/sites/{SITE}/review")
    idle = served.hub.settings.console_idle_minutes
    served.clock.advance(minutes=idle - 5)
    with page.expect_response(lambda answer: "/review" in answer.url) as refreshed:
        pass  # the next refresh, while the reviewer is away
    assert refreshed.value.request.headers.get("x-live-refresh") == "1"
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    served.clock.advance(minutes=5, seconds=1)  # idle since the page was opened, not refreshed
    expect(page.get_by_role("status")).to_contain_text(
        f"idle for more than {idle} minutes", timeout=15_000
    )
    ended = served.trail("auth.signed_out", "reviewer")
    assert [e["reason"] for e in ended][-1] == "idle time-out"


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
    # The data-quality page with a run on it: its rule table, a breach, its deviation's link.
    command = RunDataQuality(Context("qa"), SITE, "api", dq_windows(served.hub.settings))
    served.hub.bus.handle(command)
    page.goto(f"{served.url}/console/sites/{SITE}/dq")
    pages["data quality"] = serious_violations(page)
    page.goto(f"{served.url}/console/password")
    pages["password"] = serious_violations(page)
    page.goto(f"{served.url}/console/sites/NOPE/")
    pages["refused"] = serious_violations(page)
    assert pages == {name: [] for name in pages}, json.dumps(pages, indent=1)
