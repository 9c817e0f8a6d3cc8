"""The integration desk over HTTP on both databases: the quarantine list as the API lists it,
an engineer fixing a message's cause (its key) and reprocessing it with an e-signature, a
discard with its reason, a wrong password and forged posts refused and audited, raw bytes shown
escaped, a dead letter retried, the streams, keys and schemas as the API gives them."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_console import csrf_of, sign_in, trail
from test_contract_admin import Receivers

from fakes import ManualClock
from labgate.adapters.store.outbox_store import SqlOutboxStore
from labgate.bootstrap import Hub
from labgate.compliance.envelope import generate_keypair
from labgate.compliance.signer import Signer
from labgate.service.outbox.relay import Relay, RelayReport
from plant import SITE, Plant, SeededPlant
from receiver import outbox_rows, registered_samples
from senders import Sender, register, request

DESK = f"/console/sites/{SITE}/desk"
WHY = "CR-40: the MES rotated its signing key"


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


@pytest.fixture
def unknown_key(hub: Hub, plant: Plant) -> tuple[Sender, dict[str, Any]]:
    """The MES signing with a new key nobody registered yet, and that key's public half."""
    private, public = generate_keypair()
    return Sender(hub, "mes", "requests", "mes-2", private), public


def inbox(plant: Plant, raw: bytes) -> int:
    """Send raw bytes to the REST inbox as the MES; the quarantine item it was refused into."""
    headers = {"X-API-Key": plant.api_keys["mes"], "Content-Type": "application/json"}
    answer = plant.client.post("/api/v1/inbox", content=raw, headers=headers)
    assert answer.status_code >= 400, answer.text
    return int(answer.headers["X-Quarantine-Id"])


def items_on(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-item="(\d+)"', page)]


def resolve(plant: Plant, item: int, decision: str, user: str, password: str) -> Any:
    """The item's page fetched, its decision form posted as a browser does (unfollowed)."""
    shown = plant.client.get(f"{DESK}/quarantine/{item}")
    form = {"csrf_token": csrf_of(shown.text), "reason": WHY, "username": user,
            "password": password}  # fmt: skip
    return plant.client.post(f"{DESK}/quarantine/{item}/{decision}", data=form,
                             follow_redirects=False)  # fmt: skip


@pytest.mark.requirement("URS-A11-11", "URS-A11-13")
def test_the_quarantine_list_is_the_apis_its_filters_and_raw_bytes_shown_escaped(
    plant: Plant, unknown_key: tuple[Sender, dict[str, Any]]
) -> None:
    sender, _ = unknown_key
    unsigned = inbox(plant, request(sender, "REQ-1"))
    unreadable = inbox(plant, b"not an envelope")
    script = inbox(plant, b'{"x": "<script>alert(1)</script><img src=x onerror=alert(2)>"}')
    binary = inbox(plant, b"\xff\xfe<script>")
    sign_in(plant.client, "auditor", plant.passwords["auditor"])
    listed = plant.call("auditor", "GET", "/api/v1/quarantine", params={"status": "open"})
    page = plant.client.get(f"{DESK}/quarantine")
    assert page.status_code == 200, page.text
    assert items_on(page.text) == [i["id"] for i in listed.json()["items"]]
    assert items_on(page.text) == [binary, script, unreadable, unsigned]  # newest first
    by_reason = plant.client.get(f"{DESK}/quarantine?reason=envelope.unknown_key")
    assert items_on(by_reason.text) == [unsigned]
    assert items_on(plant.client.get(f"{DESK}/quarantine?source=mes").text) == [unsigned]
    first = plant.client.get(f"{DESK}/quarantine?limit=3")
    link = re.search(r'href="([^"]*cursor=[^"]+)"', first.text)
    assert items_on(first.text) == [binary, script, unreadable] and link
    assert items_on(plant.client.get(html.unescape(link.group(1))).text) == [unsigned]
    # The raw bytes as text, escaped: never rendered; bytes that are not UTF-8 in base64.
    shown = plant.client.get(f"{DESK}/quarantine/{script}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in shown
    assert "<script>alert" not in shown and "<img src=x" not in shown
    assert "//48c2NyaXB0Pg==" in plant.client.get(f"{DESK}/quarantine/{binary}").text
    # An auditor reads; the decision forms are not shown to a role that may not decide.
    assert "Sign and reprocess" not in shown


@pytest.mark.requirement("URS-P11-11.10h", category="failure_recovery")
def test_an_engineer_registers_the_missing_key_then_reprocesses_the_message(
    plant: Plant, hub: Hub, unknown_key: tuple[Sender, dict[str, Any]]
) -> None:
    sender, public = unknown_key
    item = inbox(plant, request(sender, "REQ-1"))
    sign_in(plant.client, "admin", plant.passwords["admin"])
    home = plant.client.get(f"/console/sites/{SITE}/").text
    tile = re.search(
        r'data-tile="quarantine">\s*<a href="([^"]+)">\s*<span class="count">(\d+)', home
    )
    assert tile and tile.groups() == (f"{DESK}/quarantine", "1")
    shown = plant.client.get(f"{DESK}/quarantine/{item}")
    assert "data-reason>envelope.unknown_key<" in shown.text
    # The cause: the key was never registered. The engineer registers it on the keys page.
    keys = plant.client.get(f"{DESK}/keys?source=mes")
    form = {"csrf_token": csrf_of(keys.text), "kid": "mes-2", "public_jwk": json.dumps(public),
            "valid_from": "2026-01-01T00:00:00+00:00", "reason": WHY}  # fmt: skip
    registered = plant.client.post(f"{DESK}/keys/mes", data=form, follow_redirects=False)
    assert registered.status_code == 303, registered.text
    listed = plant.call("auditor", "GET", "/api/v1/sources/mes/keys").json()
    assert [(k["kid"], k["in_force"]) for k in listed] == [("mes-2", True)]
    assert 'data-kid="mes-2"' in plant.client.get(registered.headers["location"]).text

    answer = resolve(plant, item, "reprocess", "admin", plant.passwords["admin"])
    assert answer.status_code == 303, answer.text
    page = plant.client.get(answer.headers["location"])
    assert "data-status>reprocessed<" in page.text
    assert 'data-inbox-status="applied"' in page.text
    held = plant.call("auditor", "GET", f"/api/v1/quarantine/{item}").json()
    assert (held["status"], held["resolved_by"]) == ("reprocessed", "admin")
    samples = plant.call("auditor", "GET", "/samples").json()["items"]
    assert [s["mes_request_id"] for s in samples] == ["REQ-1"]  # the message applied
    # The signature's manifestation: printed name, time in the site's zone, meaning, matches.
    row = re.search(r'<table class="grid signatures">.*?</table>', page.text, re.S)
    assert row and "Admin Person" in row.group(0) and "approved" in row.group(0)
    assert 'title="user id: admin"' in row.group(0) and "Yes" in row.group(0)
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row.group(0))
    assert [e["actor"] for e in trail(hub, "quarantine.reprocessed")] == ["admin"]


def test_forged_posts_and_a_wrong_password_are_refused_and_audited_then_a_discard_is_signed(
    plant: Plant, hub: Hub
) -> None:
    item = inbox(plant, b"not an envelope")
    # Roles that may not decide: refused 403 and audited, the buttons not even shown.
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    token = csrf_of(plant.client.get(f"/console/sites/{SITE}/").text)
    assert plant.client.get(f"{DESK}/quarantine").status_code == 403  # may not even read it
    form = {"csrf_token": token, "reason": WHY, "username": "reviewer",
            "password": plant.passwords["reviewer"]}  # fmt: skip
    assert plant.client.post(f"{DESK}/quarantine/{item}/reprocess", data=form).status_code == 403
    sign_in(plant.client, "qa", plant.passwords["qa"])
    token = csrf_of(plant.client.get(f"/console/sites/{SITE}/").text)
    keys = plant.client.get(f"{DESK}/keys?source=mes").text
    assert "Register key" not in keys
    retry = {"csrf_token": token, "reason": WHY, "scope": "all"}
    assert plant.client.post(f"{DESK}/outbox/retry", data=retry).status_code == 403
    register_form = {"csrf_token": token, "kid": "x", "public_jwk": "{}", "reason": WHY,
                     "valid_from": "2026-01-01T00:00:00+00:00"}  # fmt: skip
    assert plant.client.post(f"{DESK}/keys/mes", data=register_form).status_code == 403
    refused = [
        (e["actor"], e["after"]["reason_code"])
        for action in ("refused.console.desk_quarantine_reprocess",
                       "refused.console.desk_outbox_retry", "refused.console.desk_key_register")
        for e in trail(hub, action)
    ]  # fmt: skip
    assert (
        refused
        == [("reviewer", "access.missing_permission")] + [("qa", "access.missing_permission")] * 2
    )
    # QA may decide the quarantine: a wrong password is refused and audited.
    wrong = resolve(plant, item, "discard", "qa", "not-the-password")
    assert wrong.status_code == 401
    assert 'data-reason="signature.bad_credentials"' in wrong.text
    assert "not-the-password" not in wrong.text
    assert "Sign and discard" in wrong.text  # the page, to try again
    refused = trail(hub, "refused.quarantine_discard")
    assert [e["after"]["reason_code"] for e in refused] == ["signature.bad_credentials"]
    assert plant.call("auditor", "GET", f"/api/v1/quarantine/{item}").json()["status"] == "open"
    # Reprocessing bytes that never were an envelope is refused with the service's reason.
    stuck = resolve(plant, item, "reprocess", "qa", plant.passwords["qa"])
    assert stuck.status_code == 409 and "quarantine.not_reprocessable" in stuck.text
    done = resolve(plant, item, "discard", "qa", plant.passwords["qa"])
    assert done.status_code == 303
    held = plant.call("auditor", "GET", f"/api/v1/quarantine/{item}").json()
    assert (held["status"], held["resolution_reason"]) == ("discarded", WHY)
    assert [e["reason"] for e in trail(hub, "quarantine.discarded")] == [WHY]


def test_a_dead_letter_is_retried_with_a_reason(plant: Plant, hub: Hub, clock: ManualClock) -> None:
    receivers = Receivers()
    relay = Relay(SqlOutboxStore(hub.sessions), {"mes": receivers}, clock,
                  Signer.generate("labgate-test-1"), max_attempts=2)  # fmt: skip
    registered_samples(plant, 2)
    dead = str(outbox_rows(hub)[0]["message_id"])
    receivers.refuse.add(dead)
    assert relay.run_once() == RelayReport(delivered=1, failed=1)
    clock.advance(seconds=2)
    assert relay.run_once() == RelayReport(dead=1)
    sign_in(plant.client, "admin", plant.passwords["admin"])
    page = plant.client.get(f"{DESK}/outbox?status=dead")
    api = plant.call("auditor", "GET", "/api/v1/outbox/dead").json()["items"]
    assert re.findall(r'<tr data-message="([^"]+)"', page.text) == [m["message_id"] for m in api]
    attempts = plant.client.get(f"{DESK}/outbox/{dead}").text
    assert re.findall(r'data-outcome="(\w+)"', attempts) == ["failed", "failed"]
    assert "HTTP 503: maintenance" in attempts
    form = {"csrf_token": csrf_of(page.text), "scope": "chosen", "message_id": dead, "reason": ""}
    no_reason = plant.client.post(f"{DESK}/outbox/retry", data=form)
    assert no_reason.status_code == 422 and "outbox.reason_required" in no_reason.text
    form["reason"] = WHY
    answer = plant.client.post(f"{DESK}/outbox/retry", data=form, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert 'data-retried="1"' in plant.client.get(answer.headers["location"]).text
    assert plant.call("auditor", "GET", "/api/v1/outbox/dead").json()["items"] == []
    assert [e["reason"] for e in trail(hub, "outbox.retry")] == [WHY]


def test_streams_keys_and_schemas_read_as_the_api_gives_them(plant: Plant, hub: Hub) -> None:
    mes = Sender(hub, "mes", "requests", "mes-1", register(hub, "mes", "mes-1"))
    headers = {"X-API-Key": plant.api_keys["mes"], "Content-Type": "application/json"}
    assert plant.client.post("/api/v1/inbox", content=request(mes, "REQ-1"),
                             headers=headers).status_code == 200  # fmt: skip
    mes.sequence += 1  # a gap: sequence 3 waits for 2
    held = plant.client.post("/api/v1/inbox", content=request(mes, "REQ-3"), headers=headers)
    assert held.status_code == 202, held.text
    sign_in(plant.client, "admin", plant.passwords["admin"])
    streams = plant.client.get(DESK).text
    row = re.search(r'<tr data-stream="mes/requests">.*?</tr>', streams, re.S)
    assert row, streams
    assert "data-expected>2<" in row.group(0) and 'data-held="1"' in row.group(0)
    keys = plant.client.get(f"{DESK}/keys?source=mes")
    form = {"csrf_token": csrf_of(keys.text), "kid": "mes-3", "public_jwk": "-----BEGIN PUBLIC",
            "valid_from": "2026-01-01T00:00:00+00:00", "reason": WHY}  # fmt: skip
    bad = plant.client.post(f"{DESK}/keys/mes", data=form)
    assert bad.status_code == 422 and 'data-reason="key.bad_jwk"' in bad.text
    assert "field <code>public_jwk</code>" in bad.text
    assert [e["after"]["reason_code"] for e in trail(hub, "refused.console.desk_key_register")] == [
        "key.bad_jwk"
    ]
    revoke = {"csrf_token": form["csrf_token"], "reason": WHY}
    answer = plant.client.post(f"{DESK}/keys/mes/mes-1/revocation", data=revoke,
                               follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303, answer.text
    listed = plant.call("auditor", "GET", "/api/v1/sources/mes/keys").json()
    assert [(k["kid"], k["revoke_reason"]) for k in listed] == [("mes-1", WHY)]
    # The identity map: the LIMS's person ids, and one mapped here (the API lists it).
    lims = plant.client.get(f"{DESK}/keys?source=lims").text
    assert set(re.findall(r'<tr data-external="([^"]+)"', lims)) == {
        m["external_id"]
        for m in plant.call("auditor", "GET", "/api/v1/sources/lims/identities").json()
    }
    mapping = {"csrf_token": form["csrf_token"], "external_id": "LIMS-77", "account": "analyst2",
               "reason": WHY}  # fmt: skip
    mapped = plant.client.post(f"{DESK}/keys/lims/identities", data=mapping,
                               follow_redirects=False)  # fmt: skip
    assert mapped.status_code == 303, mapped.text
    listed = plant.call("auditor", "GET", "/api/v1/sources/lims/identities").json()
    assert {(m["external_id"], m["account"]) for m in listed} >= {("LIMS-77", "analyst2")}
    schemas = plant.client.get(f"{DESK}/schemas").text
    api = plant.call("auditor", "GET", "/api/v1/schemas").json()["items"]
    assert re.findall(r'<tr data-schema="([^"]+)"', schemas) == [s["id"] for s in api]
    one = plant.client.get(f"{DESK}/schemas/labgate.sample_request.v1")
    assert one.status_code == 200 and "&#34;mes_request_id&#34;" in one.text
