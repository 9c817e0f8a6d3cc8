"""Change control in Chromium on the demo plant: an integration admin raises a status-map change
through the form and has its impact computed; QA opens it from the navigation, reads what
changes against the map in force and approves it in the e-signature dialog; axe-core on the
list and on the request page with its dialog open."""

from __future__ import annotations

from console_browser import SITE, Served, serious_violations, shot, sign_in
from playwright.sync_api import BrowserContext, expect

CHANGES = f"/api/v1/sites/{SITE}/change-requests"


def test_raised_by_the_admin_and_approved_by_qa_with_an_e_signature(
    served: Served, context: BrowserContext
) -> None:
    page = context.new_page()
    sign_in(page, served, "admin")
    page.get_by_role("link", name="Change control", exact=True).click()
    expect(page.get_by_role("heading", name="Change control")).to_be_visible()
    page.get_by_text("Status map…").click()
    form = page.get_by_role("form", name="Raise a status-map change")
    form.get_by_label("MES status for approved results that are conforms").select_option("Pending")
    form.get_by_label("Title").fill("Hold conforming results for QA release")
    form.get_by_label("Reason (change control)").fill("QA decision QD-12")
    form.get_by_label("Effective from (site time, optional)").fill("2031-01-01T00:00:00")
    with page.expect_navigation(wait_until="load"):
        form.get_by_role("button", name="Raise").click()
    expect(page.get_by_role("status")).to_contain_text("was raised as a draft")
    expect(page.locator('tr[data-changed="true"]')).to_have_count(1)
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Assess").click()
    expect(page.locator("#assessment-hash")).to_be_visible()
    code = served.api("qa", CHANGES)["items"][0]["code"]

    qa = context.new_page()
    context.clear_cookies()
    sign_in(qa, served, "qa")
    qa.get_by_role("link", name="Change control", exact=True).click()
    qa.get_by_role("link", name=code, exact=True).click()
    expect(qa.locator('tr[data-case="approved/conforms"]')).to_contain_text("Accepted → Pending")
    qa.get_by_text("Approve…").click()
    dialog = qa.locator("#approve-dialog")
    expect(dialog).to_contain_text("Meaning of this signature: approved")
    dialog.get_by_label("User id").fill("qa")
    dialog.get_by_label("Password").fill(served.passwords["qa"])
    shot(qa, "change-request-dialog")
    with qa.expect_navigation(wait_until="load"):
        dialog.get_by_role("button", name="Sign and approve").click()
    expect(qa.get_by_role("status")).to_contain_text("approved with your signature")
    view = served.api("qa", f"{CHANGES}/{code}")
    assert (view["state"], view["approver"], view["author"]) == ("approved", "qa", "admin")


def test_no_serious_accessibility_violation_on_the_change_control_pages(
    served: Served, axe_context: BrowserContext
) -> None:
    page = axe_context.new_page()
    sign_in(page, served, "admin")
    page.goto(f"{served.url}/console/sites/{SITE}/change-requests")
    page.get_by_text("Status map…").click()
    found = {"list": serious_violations(page)}
    form = page.get_by_role("form", name="Raise a method deprecation")
    page.get_by_text("Method deprecation…").click()
    form.get_by_label("Method").fill("M-NONE")
    form.get_by_label("Version").fill("1")
    form.get_by_label("Title").fill("Retire a method that is not there")
    form.get_by_label("Reason (change control)").fill("To see the refusal")
    with page.expect_navigation(wait_until="load"):
        form.get_by_role("button", name="Raise").click()
    expect(page.get_by_role("alert")).to_contain_text("method_version.unknown")
    found["refused"] = serious_violations(page)
    assert found == {"list": [], "refused": []}
