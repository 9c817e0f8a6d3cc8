"""The audit and account pages in Chromium on the demo plant: the auditor searches the trail by
the correlation id of the sample that released batch B-IBU-24001 and reads its whole story, in
chain order, as the API gives it; axe-core on every page of both areas; screenshots to look at."""

from __future__ import annotations

from typing import Any

from console_browser import SITE, Served, serious_violations, shot, sign_in
from playwright.sync_api import BrowserContext, expect

TRACE = "demo-B-IBU-24001-SP-IBU-REL"  # the demo's release sample, request to batch release
STORY = ("sample.requested", "sample.registered", "result.approved", "batch.released")


def test_the_auditor_reads_one_samples_whole_story_by_its_correlation_id(
    served: Served, context: BrowserContext
) -> None:
    page = context.new_page()
    sign_in(page, served, "auditor")
    page.get_by_role("link", name="Audit trail", exact=True).click()
    expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
    page.get_by_label("Correlation id").fill(TRACE)
    page.get_by_label("Order").select_option("oldest")
    page.get_by_label("Per page").select_option("100")
    page.get_by_role("button", name="Search").click()
    told = served.api("auditor", "/api/v1/audit", correlation_id=TRACE, limit=100)["items"]
    rows = page.locator("tr[data-seq]")
    expect(rows).to_have_count(len(told))
    assert "correlation_id=" in page.url  # the search has an address to share
    shown = [int(s) for s in rows.evaluate_all("rows => rows.map(r => r.dataset.seq)")]
    assert shown == [e["seq"] for e in told]
    actions = page.locator("code[data-action]").all_inner_texts()
    assert [a for a in actions if a in STORY] == sorted(
        (a for a in actions if a in STORY), key=STORY.index
    )  # requested, registered, approved, released: in that order
    assert set(STORY) <= set(actions)
    shot(page, "audit")
    released = page.locator("tr[data-seq]", has=page.locator("code", has_text="batch.released"))
    released.get_by_role("link").first.click()
    expect(page.get_by_role("heading", name="batch.released")).to_be_visible()
    expect(page.locator('[data-sealed="true"]')).to_have_count(1)
    expect(page.locator("tr[data-field]").first).to_be_visible()
    shot(page, "audit-entry")
    expect(page.locator("form[method=post]")).to_have_count(1)  # signing out, nothing else


def test_no_serious_or_critical_accessibility_violation_on_the_audit_and_account_pages(
    served: Served, axe_context: BrowserContext
) -> None:
    page = axe_context.new_page()
    sign_in(page, served, "admin")  # reads the trail and administers accounts
    base = f"{served.url}/console/sites/{SITE}"
    seq = served.api("admin", "/api/v1/audit", correlation_id=TRACE, order="newest")["items"]
    pages: dict[str, list[dict[str, Any]]] = {}
    for name, path in (
        ("audit", f"/audit?correlation_id={TRACE}"),
        ("entry", f"/audit/{seq[0]['seq']}"),
        ("verify", "/audit/verify"),
        ("export", "/audit/export"),
        ("accounts", "/accounts"),
        ("account", "/accounts/analyst"),
        ("system account", "/accounts/mes"),
    ):
        page.goto(base + path)
        page.locator("details").evaluate_all("all => all.forEach(d => d.open = true)")
        pages[name] = serious_violations(page)
        if name in ("verify", "export", "accounts", "account"):
            shot(page, name if name.startswith("account") else f"audit-{name}")
    assert pages == {name: [] for name in pages}
