"""Deviations in Chromium on the demo plant: a reviewer goes from My work's tile to the list, opens
an OOS still in phase I and concludes it through the e-signature dialog (the API then shows the
signed step); axe-core on the list and on the workspace with its dialog open."""

from __future__ import annotations

from console_browser import SITE, Served, serious_violations, shot, sign_in
from playwright.sync_api import BrowserContext, expect

DEVIATIONS = f"/api/v1/sites/{SITE}/deviations"


def _in_phase_one(served: Served) -> str:
    items = served.api("reviewer", DEVIATIONS, state="open_phase1")["items"]
    assert items, "the demo plant keeps OOS investigations in phase I"
    return str(items[0]["code"])


def test_a_reviewer_concludes_phase_one_from_the_list(
    served: Served, context: BrowserContext
) -> None:
    code = _in_phase_one(served)
    page = context.new_page()
    sign_in(page, served, "reviewer")
    page.get_by_role("link", name="Open deviations (OOS)").click()
    expect(page.get_by_role("heading", name="Deviations (OOS)")).to_be_visible()
    expect(page.locator(f'tr[data-deviation="{code}"]')).to_contain_text("Phase I")
    shot(page, "deviations")
    page.get_by_role("link", name=code, exact=True).click()
    expect(page.get_by_role("heading", name=f"Deviation {code}")).to_be_visible()
    shot(page, "deviation")
    page.get_by_text("Conclude phase I…").click()
    dialog = page.locator("#phase1-dialog")
    expect(dialog).to_contain_text("Meaning of this signature: reviewed")
    dialog.get_by_label("Not found: open phase II").check()
    dialog.get_by_label("Conclusion").fill("Method, equipment and calculations checked.")
    dialog.get_by_label("User id").fill("reviewer")
    dialog.get_by_label("Password").fill(served.passwords["reviewer"])
    shot(page, "deviation-dialog")
    with page.expect_navigation(wait_until="load"):
        dialog.get_by_role("button", name="Sign and conclude phase I").click()
    expect(page.get_by_role("status")).to_contain_text("Phase I")
    signed = page.locator('#stage-phase1 .manifestation[data-status="valid"]')
    expect(signed).to_contain_text("Rolf Reviewer")
    expect(signed).to_contain_text("Yes")
    shot(page, "deviation-phase1")
    view = served.api("reviewer", f"{DEVIATIONS}/{code}")
    assert view["state"] == "open_phase2" and view["phase1_by"] == "reviewer"
    assert [(s["meaning"], s["status"]) for s in view["signatures"]] == [("reviewed", "valid")]
    expect(signed).to_contain_text(view["signatures"][0]["signed_at_local"])


def test_no_serious_accessibility_violation_on_the_deviation_pages(
    served: Served, axe_context: BrowserContext
) -> None:
    code = _in_phase_one(served)
    page = axe_context.new_page()
    sign_in(page, served, "qa")
    page.goto(f"{served.url}/console/sites/{SITE}/deviations")
    found = {"list": serious_violations(page)}
    page.goto(f"{served.url}/console/sites/{SITE}/deviations/{code}")
    page.get_by_text("Conclude phase I…").click()
    found["workspace with its dialog"] = serious_violations(page)
    closed = served.api("qa", DEVIATIONS, state="closed")["items"]
    page.goto(f"{served.url}/console/sites/{SITE}/deviations/{closed[0]['code']}")
    found["closed"] = serious_violations(page)
    shot(page, "deviation-closed")
    em = [d for d in served.api("qa", DEVIATIONS)["items"] if d["kind"] == "em_excursion"]
    page.goto(f"{served.url}/console/sites/{SITE}/deviations/{em[0]['code']}")
    expect(page.get_by_role("heading", name=f"Deviation {em[0]['code']}")).to_be_visible()
    found["excursion"] = serious_violations(page)
    shot(page, "deviation-excursion")
    assert found == {"list": [], "workspace with its dialog": [], "closed": [], "excursion": []}
