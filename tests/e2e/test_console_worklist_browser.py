"""The analyst's worklist in Chromium on the demo plant: from My work to the samples to register,
a registration, a result typed and sent with the keyboard and its evaluation as the API stores
it; axe-core on the worklist, the entry forms and a refusal beside its field."""

from __future__ import annotations

from typing import Any

from console_browser import SITE, Served, serious_violations, shot, sign_in
from playwright.sync_api import BrowserContext, Page, expect

from labgate.domain.commands import Context, RegisterSample
from labgate.entrypoints.cli.demo import plausible_value

SAMPLES = f"/api/v1/sites/{SITE}/samples"


def _numeric_test(served: Served, sample: str) -> dict[str, Any]:
    tests = served.api("analyst", f"{SAMPLES}/{sample}")["tests"]
    return dict(next(t for t in tests if t["unit"]))


def _enter_by_keyboard(page: Page, test: dict[str, Any], value: str) -> None:
    """Type the value, tab over the unit (left at the canonical one) and back, send with Enter."""
    page.locator(f"#v-{test['test_code']}").focus()
    page.keyboard.type(value)
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.name") == "unit"
    page.keyboard.press("Shift+Tab")
    with page.expect_navigation(wait_until="load"):
        page.keyboard.press("Enter")


def test_an_analyst_registers_a_sample_and_enters_a_result_by_keyboard(
    served: Served, context: BrowserContext
) -> None:
    requested = {s["code"] for s in served.api("analyst", SAMPLES, status="requested")["items"]}
    assert requested
    page = context.new_page()
    sign_in(page, served, "analyst")
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("link", name="Samples to register").click()
    expect(page.get_by_role("heading", name="Worklist")).to_be_visible()
    rows = page.locator("tr[data-sample]")
    assert set(rows.evaluate_all("rs => rs.map(r => r.dataset.sample)")) == requested
    sample = str(rows.first.get_attribute("data-sample"))
    shot(page, "worklist")
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name=f"Register {sample}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Sample {sample} registered")
    assert served.api("analyst", f"{SAMPLES}/{sample}")["status"] == "registered"
    test = _numeric_test(served, sample)
    value = plausible_value(test["limit"], out_of_spec=False)
    _enter_by_keyboard(page, test, value)
    result = served.api("analyst", f"{SAMPLES}/{sample}")["results"][-1]
    assert (result["test_code"], result["raw_value"], result["raw_unit"]) == (
        test["test_code"], value, test["unit"])  # fmt: skip
    notice = page.locator("#result")
    expect(notice).to_contain_text(f"Result {result['code']} recorded")
    verdict = {True: "conforms", False: "oos", None: "none"}[result["conforms"]]
    expect(notice.locator(f'[data-verdict="{verdict}"]')).to_be_visible()
    shot(page, "result-entry")
    assert served.trail("result.recorded", result["code"])[-1]["actor"] == "analyst"


def test_no_serious_accessibility_violation_on_the_worklist_pages(
    served: Served, axe_context: BrowserContext
) -> None:
    requested = served.api("analyst", SAMPLES, status="requested")["items"]
    sample = requested[0]["code"]
    served.hub.bus.handle(RegisterSample(Context("analyst"), SITE, sample, None))
    page = axe_context.new_page()
    sign_in(page, served, "analyst")
    found = {}
    for stage in ("register", "test"):
        page.goto(f"{served.url}/console/sites/{SITE}/worklist?stage={stage}")
        shot(page, f"worklist-{stage}")
        found[stage] = serious_violations(page)
    page.goto(f"{served.url}/console/sites/{SITE}/worklist/{sample}")
    found["entry"] = serious_violations(page)
    test = _numeric_test(served, sample)
    _enter_by_keyboard(page, test, "abc")
    expect(page.locator(f"#refused-{test['test_code']}")).to_contain_text("number.malformed")
    expect(page.locator(f"#v-{test['test_code']}")).to_have_attribute("aria-invalid", "true")
    shot(page, "result-entry-refused")
    found["refused"] = serious_violations(page)
    assert found == {"register": [], "test": [], "entry": [], "refused": []}
