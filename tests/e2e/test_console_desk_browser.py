"""The integration desk in Chromium on the demo plant: the MES signs with a key nobody has
registered, so its sample request is quarantined; the integration engineer opens the desk,
finds the message, registers the key and reprocesses it with an e-signature, and the sample is
there. axe-core on every desk page; screenshots to look at."""

from __future__ import annotations

import json
from typing import Any

import httpx2 as httpx
from console_browser import SITE, Served, serious_violations, shot, sign_in
from playwright.sync_api import BrowserContext, expect

from labgate.adapters.store.outbox_store import SqlOutboxStore
from labgate.compliance.envelope import build_envelope, encode, generate_keypair
from labgate.compliance.signer import Signer
from labgate.service.outbox.relay import DeliveryFailed, Relay

DESK = f"/console/sites/{SITE}/desk"


def quarantined_request(served: Served, request_id: str) -> tuple[int, dict[str, Any]]:
    """A sample request the MES signed with an unregistered key, sent to the REST inbox: its
    quarantine item, and the key's public half."""
    private, public = generate_keypair()
    payload = {"mes_request_id": request_id, "product": "IBU-400",
               "sampled_at": served.clock.now().isoformat(), "batch": "B-IBU-24002",
               "sampling_point": "SP-IBU-GRAN"}  # fmt: skip
    raw = encode(build_envelope("labgate.sample_request.v1", SITE, "mes", "desk-demo", 1, payload,
                                kid="mes-2026", private_jwk=private,
                                sent_at=served.clock.now()))  # fmt: skip
    headers = {"X-API-Key": served.passwords["mes"], "Content-Type": "application/json"}
    # A served process's first request can wait on a loaded machine: not what is tested here.
    answer = httpx.post(f"{served.url}/api/v1/inbox", content=raw, headers=headers, timeout=60)
    assert answer.status_code == 422, answer.text
    return int(answer.headers["X-Quarantine-Id"]), public


def test_the_engineer_registers_the_missing_key_and_reprocesses_the_message(
    served: Served, context: BrowserContext
) -> None:
    item, public = quarantined_request(served, "MES-DESK-1")
    page = context.new_page()
    sign_in(page, served, "admin")
    page.get_by_role("link", name="Integration desk").click()
    expect(page.get_by_role("heading", name="Integration desk")).to_be_visible()
    page.get_by_role("navigation", name="Integration desk").get_by_role(
        "link", name="Quarantine"
    ).click()
    page.get_by_label("Reason code").fill("envelope.unknown_key")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("tr[data-item]")).to_have_count(1)
    shot(page, "quarantine")
    page.get_by_role("link", name=f"#{item}").click()
    expect(page.locator("[data-reason]").first).to_have_text("envelope.unknown_key")
    shot(page, "quarantine-item")
    # The cause: the MES's new key was never registered. Register it, then reprocess.
    page.get_by_role("navigation", name="Integration desk").get_by_role("link", name="Keys").click()
    page.get_by_role("link", name="mes", exact=True).click()
    form = page.get_by_role("form", name="Register a public key")
    form.get_by_label("Key id").fill("mes-2026")
    form.get_by_label("Public key (JWK, JSON)").fill(json.dumps(public))
    form.get_by_label("Reason").fill("CR-88: the MES's signing key for 2026")
    with page.expect_navigation():
        form.get_by_role("button", name="Register key").click()
    expect(page.locator('tr[data-kid="mes-2026"] [data-in-force="true"]')).to_have_count(1)
    shot(page, "keys")
    page.goto(f"{served.url}{DESK}/quarantine/{item}")
    page.get_by_text("Reprocess…").click()
    dialog = page.locator("#reprocess-dialog")
    dialog.get_by_label("Reason").fill("Key mes-2026 registered under CR-88")
    dialog.get_by_label("User id").fill("admin")
    dialog.get_by_label("Password").fill(served.passwords["admin"])
    with page.expect_navigation():
        dialog.get_by_role("button", name="Sign and reprocess").click()
    expect(page.locator("[data-status]")).to_have_text("reprocessed")
    expect(page.locator("[data-inbox-status]")).to_have_attribute("data-inbox-status", "applied")
    expect(page.locator("table.signatures .person")).to_have_text("Ines Admin")
    samples = served.api("admin", f"/api/v1/sites/{SITE}/samples", limit=500)["items"]
    assert "MES-DESK-1" in {s["mes_request_id"] for s in samples}
    desk = page.get_by_role("navigation", name="Integration desk")
    desk.get_by_role("link", name="Streams").click()
    expect(page.locator('tr[data-stream="mes/desk-demo"] [data-expected]')).to_have_text("2")
    shot(page, "desk")
    dead = dead_letters(served)
    desk.get_by_role("link", name="Outbox").click()
    expect(page.locator("tr[data-message]")).to_have_count(min(dead, 25))
    shot(page, "outbox")


def dead_letters(served: Served) -> int:
    """Every message owed to the MES dead-lettered (its endpoint refuses, one attempt allowed)."""
    relay = Relay(SqlOutboxStore(served.hub.sessions), {"mes": Refusing()}, served.clock,
                  Signer.generate("labgate-desk-test"), max_attempts=1)  # fmt: skip
    report = relay.run_once()
    assert report.dead > 0, report
    return report.dead


class Refusing:
    """An MES endpoint down for maintenance."""

    def deliver(self, destination: str, envelope: bytes, message_id: str) -> None:
        raise DeliveryFailed("https://mes.example/hook answered HTTP 503: maintenance")


def test_no_serious_or_critical_accessibility_violation_on_the_desk_pages(
    served: Served, axe_context: BrowserContext
) -> None:
    item, _ = quarantined_request(served, "MES-DESK-2")
    owed = served.api("admin", "/api/v1/outbox", limit=1)["items"]
    page = axe_context.new_page()
    sign_in(page, served, "admin")
    paths = ["", "/quarantine", f"/quarantine/{item}", "/outbox",
             "/keys?source=mes", "/schemas", "/schemas/labgate.sample_request.v1",
             *(f"/outbox/{m['message_id']}" for m in owed)]  # fmt: skip
    found: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        page.goto(f"{served.url}{DESK}{path}")
        for summary in page.locator("details > summary").all():
            summary.click()  # the signing and revoking forms too
        found[path] = serious_violations(page)
    assert found == {path: [] for path in paths}
