"""The batch pages in Chromium on the demo plant (batch 1 released, 2 rejected, 3 with
preliminary results, 4 requested): QA opens the board, filters it, opens the released batch
and downloads its CoA; axe-core on the board, a batch and a sample; screenshots to look at."""

from __future__ import annotations

from typing import Any

from console_browser import SITE, Served, serious_violations, shot, sign_in
from playwright.sync_api import BrowserContext, expect


def test_qa_filters_the_board_opens_a_batch_and_downloads_its_coa(
    served: Served,
    context: BrowserContext,
) -> None:
    page = context.new_page()
    sign_in(page, served, "qa")
    page.get_by_role("link", name="Batches", exact=True).click()
    expect(page.get_by_role("heading", name="Batches")).to_be_visible()
    listed = served.api("qa", f"/api/v1/sites/{SITE}/batches")["items"]
    rows = page.locator("tr[data-batch]")
    expect(rows).to_have_count(len(listed))
    # Each row's review by exception loads on its own, as the API's review says.
    for batch in listed:
        said = served.api("qa", f"/api/v1/sites/{SITE}/batches/{batch['code']}/review")
        cell = page.locator(f'tr[data-batch="{batch["code"]}"] td[data-ready]')
        expect(cell).to_have_attribute("data-ready", str(said["ready_by_exception"]).lower())
    shot(page, "batches")
    page.get_by_label("Disposition").select_option("released")
    released = [b["code"] for b in listed if b["disposition"] == "released"]
    expect(rows).to_have_count(len(released))
    assert page.url.endswith("?disposition=released")  # htmx pushed the filtered address
    page.get_by_role("link", name=released[0]).click()
    expect(page.get_by_role("heading", name=f"Batch {released[0]}")).to_be_visible()
    expect(page.locator('[data-signature="released"][data-status="valid"]')).to_have_count(1)
    shot(page, "batch")
    with page.expect_download() as download:
        page.get_by_role("link", name="Certificate of Analysis (PDF)").click()
    path = download.value.path()
    assert path is not None and path.read_bytes().startswith(b"%PDF-")
    page.locator("[data-sample] h3 a").first.click()
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    assert page.locator("tr[data-seq]").count() > 0
    shot(page, "sample")


def test_no_serious_or_critical_accessibility_violation_on_the_batch_pages(
    served: Served,
    axe_context: BrowserContext,
) -> None:
    page = axe_context.new_page()
    sign_in(page, served, "qa")
    pages: dict[str, list[dict[str, Any]]] = {}
    batches = served.api("qa", f"/api/v1/sites/{SITE}/batches")["items"]
    page.goto(f"{served.url}/console/sites/{SITE}/batches")
    pages["board"] = serious_violations(page)
    for batch in batches:
        page.goto(f"{served.url}/console/sites/{SITE}/batches/{batch['code']}")
        pages[f"batch {batch['code']}"] = serious_violations(page)
    page.locator("[data-sample] h3 a").first.click()
    page.wait_for_load_state()
    pages["sample"] = serious_violations(page)
    assert pages == {name: [] for name in pages}
