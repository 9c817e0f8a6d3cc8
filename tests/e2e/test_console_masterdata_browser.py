"""The master-data pages in Chromium on the demo plant: the administrator previews a YAML document
that writes SPEC-IBU-400 v3 (a draft with the water limit tightened) and applies it with a
reason; QA opens the specifications, compares v2 with v3 and approves v3 with an e-signature.
axe-core on every master-data page; screenshots to look at."""

from __future__ import annotations

from typing import Any

import yaml
from console_browser import SITE, Served, serious_violations, shot, sign_in
from playwright.sync_api import BrowserContext, Page, expect

SPEC = "SPEC-IBU-400"
READ_ONLY = ("status", "approver", "effective_from")  # changed by signature, never by import


def draft_v3(served: Served) -> str:
    """A document with SPEC-IBU-400 v3: v2's limits with the tablet's water at NMT 2.2."""
    exported = served.api("admin", f"/api/v1/sites/{SITE}/masterdata")
    (spec,) = [s for s in exported["specifications"] if s["code"] == SPEC]
    v2 = {k: v for k, v in spec["versions"][-1].items() if k not in READ_ONLY}
    lines = [{**line} for line in v2["limits"]]
    (water,) = [x for x in lines if x["test"] == "WATER" and x["limit_set"] == "release"]
    water["limit"] = "NMT 2.2"
    written = {**v2, "version": 3, "author": "admin", "limits": lines}
    document = {"site": exported["site"], "specifications": [{"code": SPEC, "versions": [written]}]}
    return yaml.safe_dump(document, sort_keys=False)


def preview(page: Page, served: Served, text: str) -> None:
    """The import form, filled and previewed."""
    page.goto(f"{served.url}/console/sites/{SITE}/masterdata/import")
    page.get_by_label("Paste the YAML document").fill(text)
    with page.expect_navigation():
        page.get_by_role("button", name="Preview the changes").click()


def sign_out(page: Page) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()


def test_admin_previews_and_applies_an_import_then_qa_compares_and_approves(
    served: Served, context: BrowserContext
) -> None:
    page = context.new_page()
    sign_in(page, served, "admin")
    preview(page, served, draft_v3(served))
    expect(
        page.get_by_role("heading", name="Preview: what the import would change")
    ).to_be_visible()
    expect(page.locator(f'[data-record="specification:{SPEC} v3"]')).to_be_visible()
    shot(page, "import-preview")
    page.get_by_label("Reason (change control").fill("CR-2026-41: water tightened to NMT 2.2")
    with page.expect_navigation():
        page.get_by_role("button", name="Apply these changes").click()
    expect(page.locator("#done")).to_be_visible()
    sign_out(page)

    sign_in(page, served, "qa")
    page.get_by_role("link", name="Master data", exact=True).click()
    expect(page.locator(f'[data-spec="{SPEC}"] tr[data-version="3"]')).to_contain_text("Draft")
    shot(page, "specifications")
    page.locator(f'[data-spec="{SPEC}"]').get_by_role("link", name="Version 3").click()
    expect(page.get_by_role("heading", name=f"Specification {SPEC} version 3")).to_be_visible()
    page.get_by_role("button", name="Compare").click()
    water = page.locator('tr[data-line="release/WATER"]')
    expect(water).to_have_attribute("data-change", "changed")
    expect(water).to_contain_text("Changed: limit")
    expect(water).to_contain_text("NMT 2.2")
    shot(page, "spec-compare")
    page.get_by_role("link", name="Version 3").click()
    page.get_by_text("Approve…").click()
    page.get_by_label("User id").fill("qa")
    page.get_by_label("Password").fill(served.passwords["qa"])
    with page.expect_navigation():
        page.get_by_role("button", name="Sign and approve").click()
    expect(page.locator("#done")).to_contain_text("approved")
    shown = served.api("qa", f"/api/v1/sites/{SITE}/specifications/{SPEC}/versions/3")
    assert shown["status"] == "approved"
    assert [s["status"] for s in shown["signatures"]] == ["valid"]
    expect(page.locator('[data-signature="approved"][data-status="valid"]')).to_contain_text(
        "Quentin QA"
    )
    shot(page, "spec-version")


def test_no_serious_or_critical_accessibility_violation_on_the_master_data_pages(
    served: Served, axe_context: BrowserContext
) -> None:
    page = axe_context.new_page()
    sign_in(page, served, "admin")
    found: dict[str, list[dict[str, Any]]] = {}
    page.goto(f"{served.url}/console/sites/{SITE}/masterdata/import")
    found["import"] = serious_violations(page)
    preview(page, served, draft_v3(served))
    found["import preview"] = serious_violations(page)
    preview(page, served, "site: [")
    found["import refused"] = serious_violations(page)
    shot(page, "import-refused")
    sign_out(page)
    sign_in(page, served, "qa")
    base = f"{served.url}/console/sites/{SITE}/masterdata"
    addresses = {
        "specifications": base,
        "version": f"{base}/specifications/{SPEC}/versions/2",
        "compare": f"{base}/specifications/{SPEC}/compare",
        **{kind: f"{base}/tables/{kind}" for kind in
           ("methods", "tests", "mappings", "aliases", "units", "sampling-points")},
    }  # fmt: skip
    for name, address in addresses.items():
        page.goto(address)
        found[name] = serious_violations(page)
    shot(page, "masterdata-table")  # the last: sampling points
    assert found == {name: [] for name in found}
