"""A master-data change in Chromium on the demo plant: the admin raises it with a YAML document
through the form and has it assessed; its page lists each field it changes, before → after."""

from __future__ import annotations

from console_browser import SITE, Served, shot, sign_in
from playwright.sync_api import BrowserContext, Page, expect

DOCUMENT = """\
methods:
  - code: M-HPLC-01
    versions:
      - {version: "3", rounding_rule: astm-e29, sig_figs: null}
tests:
  - {code: ASSAY, name: "Assay (HPLC)", unit: "%", method: M-HPLC-01, method_version: "3",
     value_kind: numeric}
aliases:
  - {system: LIMS, kind: test, external: HPLC-ASY3, canonical: ASSAY}
"""


def _raised(
    context: BrowserContext, served: Served, document: str, title: str, reason: str,
    form_shot: str | None = None,
) -> Page:  # fmt: skip
    """The admin's page after raising a master-data change from the console's form."""
    page = context.new_page()
    sign_in(page, served, "admin")
    page.goto(f"{served.url}/console/sites/{SITE}/change-requests")
    page.get_by_text("Master data…").click()
    form = page.get_by_role("form", name="Raise a master-data change")
    form.get_by_label("Document").fill(document)
    form.get_by_label("Title").fill(title)
    form.get_by_label("Reason (change control)").fill(reason)
    if form_shot:
        shot(page, form_shot)
    with page.expect_navigation(wait_until="load"):
        form.get_by_role("button", name="Raise").click()
    return page


def test_a_masterdata_change_shows_its_field_changes_before_and_after(
    served: Served, context: BrowserContext
) -> None:
    page = _raised(context, served, DOCUMENT, "ASSAY to M-HPLC-01 v3 (ASTM E29 rounding)",
                   "Method transfer MT-9", "change-request-masterdata-form")  # fmt: skip
    expect(page.get_by_role("status")).to_contain_text("was raised as a draft")
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Assess").click()
    row = page.locator('tr[data-record="test/ASSAY"][data-field="current_method_version"]')
    expect(row).to_contain_text("2")
    expect(row).to_contain_text("3")
    expect(page.locator('tr[data-record="method/M-HPLC-01 v3"]').first).to_contain_text("astm-e29")
    page.locator("#planned-changes").scroll_into_view_if_needed()
    shot(page, "change-request-masterdata")


RETIREMENT = """\
retire:
  mappings:
    - {characteristic: CH-ASSAY, test_code: ASSAY}
  aliases:
    - {system: MES, kind: characteristic, external_code: QC_ASSAY}
"""


def test_a_retirement_shows_what_it_retires_and_what_each_record_reaches(
    served: Served, context: BrowserContext
) -> None:
    page = _raised(context, served, RETIREMENT, "CH-ASSAY no longer reported to the MES",
                   "MES recipe R-12 drops the assay")  # fmt: skip
    expect(page.locator("#retired-records")).to_contain_text("computed when it is assessed")
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Assess").click()
    expect(page.locator('tr[data-record="mapping"]')).to_contain_text("CH-ASSAY")
    expect(page.locator('tr[data-record="alias"]')).to_contain_text("QC_ASSAY")
    page.locator("#retired-records").scroll_into_view_if_needed()
    shot(page, "change-request-masterdata-retire")
