"""The channel allow-list in Chromium on the demo plant: the admin unticks a message type for the
REST channel in the raise form's grid and has the impact computed; the request page shows what
the channel loses; axe-core on the list with the grid open and on the request page."""

from __future__ import annotations

from console_browser import SITE, Served, serious_violations, shot, sign_in
from playwright.sync_api import BrowserContext, expect

CHANGES = f"/api/v1/sites/{SITE}/change-requests"
REMOVED = "labgate.sample_request.v1"


def test_the_admin_restricts_rest_through_the_grid_and_the_page_shows_what_it_loses(
    served: Served, axe_context: BrowserContext
) -> None:
    page = axe_context.new_page()
    sign_in(page, served, "admin")
    page.goto(f"{served.url}/console/sites/{SITE}/change-requests")
    page.get_by_text("Channel allow-list…").click()
    form = page.get_by_role("form", name="Raise a channel allow-list change")
    form.get_by_label("Restrict the rest channel to the types ticked").check()
    form.get_by_label(f"rest carries {REMOVED}", exact=True).uncheck()
    form.get_by_label("Title").fill("Sample requests over AMQP only")
    form.get_by_label("Reason (change control)").fill("Interface decision ID-12")
    form.get_by_label("Effective from (site time, optional)").fill("2031-01-01T00:00:00")
    found = {"list": serious_violations(page)}
    shot(page, "channel-allow-list-form")
    with page.expect_navigation(wait_until="load"):
        form.get_by_role("button", name="Raise").click()
    expect(page.get_by_role("status")).to_contain_text("was raised as a draft")
    rest = page.locator('#channel-effects tr[data-channel="rest"]')
    expect(rest.locator('[data-field="removed"]')).to_contain_text(REMOVED)
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Assess").click()
    expect(page.locator("#assessment-hash")).to_be_visible()
    found["request"] = serious_violations(page)
    shot(page, "channel-allow-list-request")
    view = served.api("admin", CHANGES)["items"][0]
    assert (view["kind"], view["state"]) == ("channel_allow_list", "assessed")
    assert found == {"list": [], "request": []}
