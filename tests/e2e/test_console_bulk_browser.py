""" "Approve all without signals" in Chromium on the demo plant: a reviewer confirms the listed
rows and signs once; every signalled row stays pending (as the API's awaiting-review list says),
and a second reviewer's open queue loses the approved rows without a reload. axe-core on the
queue, the confirmation and the signed list."""

from __future__ import annotations

from console_browser import SITE, Served, serious_violations, shot, sign_in
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from labgate.adapters.store import tables as t
from labgate.domain.account_commands import ChangePassword
from labgate.domain.commands import Context, CreateAccount, RecordResult, RegisterSample
from labgate.domain.lifecycle import SampleStatus
from labgate.domain.samples import Sample

QUEUE = f"/console/sites/{SITE}/review"


def _second_reviewer(served: Served) -> str:
    temporary, chosen = "temporary-password-2", "second-reviewer-password-9"
    served.hub.bus.handle(CreateAccount(Context("admin"), "reviewer2", "Rita Second",
                                        ("qc_reviewer",), temporary))  # fmt: skip
    served.hub.bus.handle(ChangePassword(Context("reviewer2"), "reviewer2", temporary, chosen))
    return chosen


def _out_of_specification(served: Served) -> str:
    """An OOS assay on a release sample the demo plant has only requested: a signalled row."""
    with served.hub.sessions() as session:
        sample = next(
            found
            for found in session.scalars(
                select(Sample).filter_by(site=SITE).order_by(t.samples.c.code)
            )
            if found.status == SampleStatus.REQUESTED
            and "ASSAY" in {test.test_code for test in found.tests}
        )
        assay = next(test for test in sample.tests if test.test_code == "ASSAY")
    analyst = Context("analyst")
    served.hub.bus.handle(RegisterSample(analyst, SITE, sample.code, f"LIMS-{sample.code}"))
    return str(
        served.hub.bus.handle(
            RecordResult(
                analyst,
                SITE,
                sample.code,
                "ASSAY",
                "80.0",
                assay.unit,
                assay.method_version,
                "analyst",
            )
        )
    )


def _rows(page: Page, selector: str = "") -> set[str]:
    return set(page.eval_on_selector_all(
        f"#queue tbody tr[data-result]{selector}", "rows => rows.map(r => r.dataset.result)"
    ))  # fmt: skip


def _awaiting(served: Served) -> set[str]:
    items = served.api("reviewer", f"/api/v1/sites/{SITE}/results/awaiting-review", limit=500)
    return {item["result"] for item in items["items"]}


def _open_confirmation(page: Page, served: Served) -> None:
    page.goto(f"{served.url}{QUEUE}")
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("link", name="Approve all without signals…").click()
    expect(page.get_by_role("heading", name="Approve all without signals")).to_be_visible()


def _sign(page: Page, served: Served) -> None:
    page.get_by_label("User id").fill("reviewer")
    page.get_by_label("Password").fill(served.passwords["reviewer"])
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Sign and approve").click()


def test_a_reviewer_approves_all_without_signals_and_a_colleague_sees_it_live(
    served: Served, context: BrowserContext, browser: Browser
) -> None:
    chosen = _second_reviewer(served)
    oos = _out_of_specification(served)
    watcher_context = browser.new_context(viewport={"width": 1360, "height": 900})
    try:
        watcher = watcher_context.new_page()
        sign_in(watcher, served, "reviewer2", chosen)
        watcher.goto(f"{served.url}{QUEUE}")
        watcher.evaluate("() => { window.notReloaded = true; }")
        page = context.new_page()
        sign_in(page, served, "reviewer")
        page.goto(f"{served.url}{QUEUE}")
        signalled = _rows(page, ":has(.signals .badge)")
        quiet = _rows(page, ":not(:has(.signals .badge))")
        own = _rows(page, ':has(.person[title="user id: reviewer"])')
        assert oos in signalled and quiet - own
        _open_confirmation(page, served)
        listed = set(page.eval_on_selector_all(
            ".bulk-list tbody tr[data-result]", "rows => rows.map(r => r.dataset.result)"
        ))  # fmt: skip
        assert listed == quiet - own  # exactly the unsignalled rows, none of the reviewer's
        expect(page.locator("#bulk-scope")).to_contain_text("at most 100 rows")
        expect(page.locator("[data-hash]")).to_have_count(len(listed))
        shot(page, "review-bulk")
        _sign(page, served)
        expect(page.get_by_role("status")).to_contain_text(f"{len(listed)} result")
        expect(page.locator(".bulk-signed .verdict.ok")).to_have_count(len(listed))
        shot(page, "review-bulk-signed")
        waiting = _awaiting(served)
        assert signalled <= waiting and not listed & waiting
        # The colleague's queue drops the approved rows at its next refresh, without a reload.
        for code in listed:
            expect(watcher.locator(f'#queue tr[data-result="{code}"]')).to_have_count(
                0, timeout=15_000
            )
        assert signalled <= _rows(watcher)
        assert watcher.evaluate("() => window.notReloaded === true")
    finally:
        watcher_context.close()


def test_no_serious_accessibility_violation_on_the_bulk_pages(
    served: Served, axe_context: BrowserContext
) -> None:
    page = axe_context.new_page()
    sign_in(page, served, "reviewer")
    page.goto(f"{served.url}{QUEUE}")
    found = {"queue": serious_violations(page)}
    _open_confirmation(page, served)
    found["confirmation"] = serious_violations(page)
    _sign(page, served)
    found["signed"] = serious_violations(page)
    assert found == {"queue": [], "confirmation": [], "signed": []}
