"""QA's release in Chromium on the demo plant: the batch with preliminary results is reviewed
by the demo's reviewer through the API until it is ready by exception, then QA releases it from
its page through the e-signature dialog, sees the signature and downloads the CoA; axe-core on
the batch page with the dialog open, and on a batch whose release is blocked."""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
from console_browser import SITE, Served, serious_violations, shot, sign_in
from playwright.sync_api import BrowserContext, expect

from labgate.adapters.store.document_facts import reader

BLOCKED = "B-PCM-24001"  # the demo's batch with preliminary results


def _review_until_ready(served: Served, batch: str) -> None:
    """The demo's reviewer approves the batch's preliminary results through the API."""
    items = served.api("qa", f"/api/v1/sites/{SITE}/batches/{batch}/review")["items"]
    waiting = [i["result"] for i in items if i["kind"] == "result_preliminary"]
    assert waiting
    with httpx.Client(base_url=served.url) as client:
        login = {"username": "reviewer", "password": served.passwords["reviewer"]}
        token = client.post("/api/v1/token", data=login).json()["access_token"]
        signed = {"signature": {**login, "meaning": "approved"}}
        for result in waiting:
            answer = client.post(f"/api/v1/sites/{SITE}/results/{result}/approval", json=signed,
                                 headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            assert answer.status_code == 200, answer.text
    review = served.api("qa", f"/api/v1/sites/{SITE}/batches/{batch}/review")
    assert review["ready_by_exception"] is True, review


def test_qa_releases_a_batch_ready_by_exception_and_downloads_its_coa(
    served: Served, context: BrowserContext
) -> None:
    _review_until_ready(served, BLOCKED)
    page = context.new_page()
    sign_in(page, served, "qa")
    page.goto(f"{served.url}/console/sites/{SITE}/batches/{BLOCKED}")
    expect(page.locator('[data-ready="true"]')).to_be_visible()
    page.get_by_text("Release…").click()
    dialog = page.locator("#release-dialog")
    expect(dialog).to_contain_text("Meaning of this signature: released")
    dialog.get_by_label("User id").fill("qa")
    dialog.get_by_label("Password").fill(served.passwords["qa"])
    with page.expect_navigation(wait_until="load"):
        dialog.get_by_role("button", name="Sign and release").click()
    expect(page.get_by_role("status")).to_contain_text(f"Batch {BLOCKED} released")
    signature = page.locator('[data-signature="released"][data-status="valid"]')
    expect(signature).to_contain_text("Quentin QA")
    shown = served.api("qa", f"/api/v1/sites/{SITE}/batches/{BLOCKED}")
    assert shown["disposition"] == "released"
    [signed] = shown["signatures"]
    expect(signature).to_contain_text(served_local(served, signed["signed_at"]))
    shot(page, "batch-release")
    with page.expect_download() as download:
        page.get_by_role("link", name="Certificate of Analysis (PDF)").click()
    path = download.value.path()
    assert path is not None and path.read_bytes().startswith(b"%PDF-")


def served_local(served: Served, signed_at: str) -> str:
    """The signature's time as the console shows it: the site's zone, to the second."""
    with served.hub.sessions() as session:
        return str(reader(session, SITE, []).at(signed_at))


def test_no_serious_or_critical_violation_on_the_batch_page_with_its_dialogs(
    served: Served, axe_context: BrowserContext
) -> None:
    page = axe_context.new_page()
    sign_in(page, served, "qa")
    found: dict[str, list[dict[str, Any]]] = {}
    page.goto(f"{served.url}/console/sites/{SITE}/batches/{BLOCKED}")
    expect(page.locator('[data-release="blocked"]')).to_be_visible()
    shot(page, "batch-blocked")
    found["blocked"] = serious_violations(page)
    page.get_by_text("Reject…").click()
    expect(page.get_by_label("Reason")).to_be_visible()
    found["reject dialog"] = serious_violations(page)
    _review_until_ready(served, BLOCKED)
    page.reload()
    page.get_by_text("Release…").click()
    expect(page.locator("#release-dialog").get_by_label("User id")).to_be_visible()
    found["release dialog"] = serious_violations(page)
    # The EM excursions reaching a batch, as the API's impact lists name it.
    reached = "B-IBU-24001"
    excursions = served.api("qa", f"/api/v1/sites/{SITE}/em/excursions")["items"]
    expected = sorted(
        x["code"]
        for x in excursions
        if any(b["batch"] == reached for b in impact(served, x["code"])["batches"])
    )
    assert expected  # the demo's action excursion, or this proves nothing
    page.goto(f"{served.url}/console/sites/{SITE}/batches/{reached}")
    shown = page.locator("tr[data-excursion]").evaluate_all(
        "rows => rows.map(r => r.dataset.excursion)"
    )
    assert sorted(shown) == expected
    found["excursions"] = serious_violations(page)
    assert found == {name: [] for name in found}


def impact(served: Served, excursion: str) -> dict[str, Any]:
    path = f"/api/v1/sites/{SITE}/em/excursions/{excursion}/impact"
    shown: dict[str, Any] = served.api("qa", path)
    return shown
