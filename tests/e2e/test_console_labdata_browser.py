"""The lab-data pages in Chromium on the demo plant (three ibuprofen stability studies with one
out-of-trend assay, three weeks of EM rounds with two excursions, API lots under a skip-lot
plan, the last one in quarantine): QA reads a study's trend and plot, assesses the OOT alert
with an e-signature, follows an EM excursion to its batches, and tries to release the lot in
quarantine (refused: its tests are missing); the analyst starts the due EM round and enters a
count. axe-core on every lab-data page; screenshots to look at."""

from __future__ import annotations

from typing import Any

from console_browser import SITE, Served, serious_violations, shot, sign_in
from playwright.sync_api import BrowserContext, Page, expect

API = f"/api/v1/sites/{SITE}"


def _qa_assesses_the_oot_alert(page: Page, served: Served) -> None:
    page.get_by_role("link", name="Lab data", exact=True).click()
    expect(page.get_by_role("heading", name="Stability studies")).to_be_visible()
    studies = served.api("qa", f"{API}/stability-studies")["items"]
    expect(page.locator("tr[data-study]")).to_have_count(len(studies))
    shot(page, "stability")
    (alert,) = served.api("qa", f"{API}/oot-alerts", status="open")["items"]
    study = next(s for s in studies if s["batch"] == alert["batch"])
    with page.expect_response(lambda answer: "/plot.png?" in answer.url) as drawn:
        page.get_by_role("link", name=study["code"]).click()
    assert (drawn.value.status, drawn.value.header_value("content-type")) == (200, "image/png")
    expect(page.get_by_role("heading", name=f"Stability study {study['code']}")).to_be_visible()
    page.wait_for_function(  # every plot drawn and shown (matplotlib loads on the first)
        "() => [...document.querySelectorAll('img.plot')].every(i => i.complete && i.naturalWidth)"
    )
    expect(page.locator(f'tr[data-oot="{alert["code"]}"]')).to_have_count(1)
    shot(page, "stability-study")
    page.locator(f'tr[data-oot="{alert["code"]}"] a').click()
    expect(page.get_by_role("heading", name=f"Out-of-trend alert {alert['code']}")).to_be_visible()
    page.get_by_text("Assess and sign…").click()
    page.get_by_label("Your assessment").fill("Within specification; trend reviewed, no action.")
    page.get_by_label("User id").fill("qa")
    page.get_by_label("Password").fill(served.passwords["qa"])
    with page.expect_navigation():
        page.get_by_role("button", name="Sign the assessment").click()
    expect(page.get_by_role("status")).to_contain_text("acknowledged")
    expect(page.locator('[data-signature="reviewed"][data-status="valid"]')).to_have_count(1)
    assert served.api("qa", f"{API}/oot-alerts/{alert['code']}")["status"] == "acknowledged"


def _qa_follows_an_excursion_and_tries_a_release(page: Page, served: Served) -> None:
    page.get_by_role("link", name="EM rounds").click()
    expect(page.get_by_role("heading", name="Environmental monitoring")).to_be_visible()
    shot(page, "em")
    page.get_by_role("link", name="EM excursions").click()
    action = next(x for x in served.api("qa", f"{API}/em/excursions")["items"]
                  if x["outcome"] == "action_exceeded")  # fmt: skip
    page.get_by_role("link", name=action["code"]).click()
    impact = served.api("qa", f"{API}/em/excursions/{action['code']}/impact")
    expect(page.locator("tr[data-impact-batch]")).to_have_count(len(impact["batches"]))
    shot(page, "em-excursion")
    page.get_by_role("link", name="Raw-material lots").click()
    page.get_by_label("Status").select_option("quarantine")
    (waiting,) = served.api("qa", f"{API}/lots", status="quarantine")["items"]
    expect(page.locator("tr[data-lot]")).to_have_count(1)
    shot(page, "lots")
    page.get_by_role("link", name=waiting["code"]).click()
    page.get_by_text("Release…").click()
    dialog = page.locator("#release-dialog")
    dialog.get_by_label("Reason").fill("Supplier CoA reviewed")
    dialog.get_by_label("User id").fill("qa")
    dialog.get_by_label("Password").fill(served.passwords["qa"])
    with page.expect_navigation():
        dialog.get_by_role("button", name="Sign and release").click()
    expect(page.get_by_role("alert")).to_contain_text("release.result_missing")
    shot(page, "lot")
    assert served.api("qa", f"{API}/lots/{waiting['code']}")["status"] == "quarantine"


def _analyst_counts_a_due_round(page: Page, served: Served) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    served.clock.advance(days=2)  # the demo's schedules fall due on the day after its seeding
    sign_in(page, served, "analyst")
    page.goto(f"{served.url}/console/sites/{SITE}/em")
    with page.expect_navigation():
        page.get_by_role("button", name="Start the due rounds").click()
    started = page.locator("[data-started]").get_attribute("data-started") or ""
    page.get_by_role("link", name=started.split(",")[0]).click()
    field = page.locator("input[name=count]").first
    field.fill("0")
    with page.expect_navigation():
        field.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("recorded")
    counted = page.locator('tr[data-status="counted"] [data-count]')
    expect(counted).to_have_count(1)
    expect(counted).to_contain_text("0")


def test_qa_and_the_analyst_work_through_stability_em_and_lots(
    served: Served, context: BrowserContext
) -> None:
    page = context.new_page()
    sign_in(page, served, "qa")
    _qa_assesses_the_oot_alert(page, served)
    _qa_follows_an_excursion_and_tries_a_release(page, served)
    _analyst_counts_a_due_round(page, served)


def test_no_serious_or_critical_accessibility_violation_on_the_lab_data_pages(
    served: Served, axe_context: BrowserContext
) -> None:
    page = axe_context.new_page()
    sign_in(page, served, "qa")
    base = f"{served.url}/console/sites/{SITE}"
    study = served.api("qa", f"{API}/stability-studies")["items"][0]["code"]
    alert = served.api("qa", f"{API}/oot-alerts")["items"][0]["code"]
    excursion = served.api("qa", f"{API}/em/excursions")["items"][0]
    em_round = served.api("qa", f"{API}/em/samples/{excursion['sample']}")["round"]
    lot = served.api("qa", f"{API}/lots")["items"][0]["code"]
    paths = ["/stability", f"/stability/{study}", "/oot-alerts", f"/oot-alerts/{alert}", "/em",
             f"/em/rounds/{em_round}", "/em/excursions", f"/em/excursions/{excursion['code']}",
             "/lots", f"/lots/{lot}"]  # fmt: skip
    found: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        page.goto(base + path)
        for dialog in page.locator("details.sign").all():  # the signing forms too
            dialog.locator("summary").click()
        found[path] = serious_violations(page)
    assert found == {path: [] for path in paths}
