"""The published contract of sign-in and accounts, partner identities and keys, the inbox and its
quarantine, outbox delivery, the evidence (audit trail, timelines, chain check), message schemas,
the health probes, master data and the administrators' alerts: for each operation a real call's
answer validates against the schema its own OpenAPI publishes for that status, the schemas are
closed (an undocumented member fails), and audit entries read as a person at the site reads them.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from httpx2 import Response
from jsonschema import Draft202012Validator, ValidationError

from fakes import ManualClock
from labgate.adapters.store.outbox_store import SqlOutboxStore
from labgate.bootstrap import Hub
from labgate.compliance.envelope import LEGACY_ALGORITHM, generate_keypair
from labgate.compliance.signer import Signer
from labgate.entrypoints.api.answers.access import MeAnswer
from labgate.service.outbox.relay import DeliveryFailed, Relay, RelayReport
from plant import PLANT, SITE, Plant, SeededPlant, approved_result
from receiver import outbox_rows, registered_samples
from senders import Sender, register, request

# The route modules whose operations this file holds to their contract.
MODULES = {
    f"labgate.entrypoints.api.routes.{name}"
    for name in (
        "access", "alerts", "health", "identities", "interfaces", "keys", "masterdata",
        "outbox_admin", "records", "schemas",
    )
}  # fmt: skip
# Members whose content is open by nature, each said why in its model: the sealed before/after
# of an audit entry, an outbox message's payload (its schema is published), a JSON Schema.
OPEN = {"before", "after", "payload", "application/schema+json"}
CHANGE = "CR-31: contract check"


def conforms(client: TestClient, method: str, template: str, answer: Response) -> Any:
    """The answer's JSON, after checking it against the schema the operation's OpenAPI gives
    for the answer's status and media type (the whole spec is the root its `$ref`s resolve in)."""
    operation = client.app.openapi()["paths"][template][method.lower()]  # type: ignore[attr-defined]
    documented = operation["responses"].get(str(answer.status_code))
    assert documented is not None, f"{method} {template} does not document {answer.status_code}"
    media = answer.headers["content-type"].split(";")[0]
    schema = documented["content"][media]["schema"]
    body = answer.json()
    validator(client, schema).validate(body)
    return body


def validator(client: TestClient, schema: dict[str, Any]) -> Draft202012Validator:
    """A validator of `schema` whose references resolve in the whole OpenAPI document."""
    spec = client.app.openapi()  # type: ignore[attr-defined]
    return Draft202012Validator({"components": spec["components"], **schema})


def ok(client: TestClient, method: str, template: str, answer: Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return conforms(client, method, template, answer)


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


@pytest.fixture
def mes(hub: Hub, plant: Plant) -> Sender:
    return Sender(hub, "mes", "requests", "mes-1", register(hub, "mes", "mes-1"))


class Receivers:
    """A transport whose receivers refuse some message ids."""

    def __init__(self) -> None:
        self.refuse: set[str] = set()

    def deliver(self, destination: str, envelope: bytes, message_id: str) -> None:
        if message_id in self.refuse:
            raise DeliveryFailed("https://mes.example/hook answered HTTP 503: maintenance")


@pytest.fixture
def dead(plant: Plant, hub: Hub, clock: ManualClock) -> Iterator[str]:
    """A message owed to the MES, dead-lettered after two refusals."""
    receivers = Receivers()
    relay = Relay(SqlOutboxStore(hub.sessions), {"mes": receivers}, clock,
                  Signer.generate("labgate-test-1"), max_attempts=2)  # fmt: skip
    registered_samples(plant, 2)
    first = str(outbox_rows(hub)[0]["message_id"])
    receivers.refuse.add(first)
    assert relay.run_once() == RelayReport(delivered=1, failed=1)
    clock.advance(seconds=2)
    assert relay.run_once() == RelayReport(dead=1)
    yield first


def test_sign_in_and_the_account_administration_answer_as_documented(plant: Plant) -> None:
    client = plant.client
    form = {"username": "qa", "password": plant.passwords["qa"]}
    token = ok(client, "POST", "/api/v1/token", client.post("/api/v1/token", data=form))
    assert (token["token_type"], token["password_change_required"]) == ("bearer", False)
    assert ok(client, "GET", "/api/v1/me", plant.call("qa", "GET", "/api/v1/me"))["roles"] == ["qa"]

    temporary = secrets.token_urlsafe(16)
    person = {"username": "newbie", "printed_name": "New Bie", "roles": ["qc_analyst"],
              "password": temporary}  # fmt: skip
    created = plant.call("admin", "POST", "/api/v1/accounts", json=person)
    assert ok(client, "POST", "/api/v1/accounts", created, 201)["api_key"] is None
    system = {"username": "erp", "printed_name": "ERP", "roles": ["mes_system"], "kind": "system"}
    created = plant.call("admin", "POST", "/api/v1/accounts", json=system)
    assert ok(client, "POST", "/api/v1/accounts", created, 201)["api_key"].startswith("lgk_")
    listed = ok(client, "GET", "/api/v1/accounts", plant.call("admin", "GET", "/api/v1/accounts"))
    assert {a["username"] for a in listed} >= {"newbie", "erp", "qa"}

    roles = {"roles": ["qc_reviewer"], "reason": CHANGE}
    answer = plant.call("admin", "PUT", "/api/v1/accounts/newbie/roles", json=roles)
    assert ok(client, "PUT", "/api/v1/accounts/{username}/roles", answer)["roles"] == [
        "qc_reviewer"
    ]
    answer = plant.call(
        "admin", "PUT", "/api/v1/accounts/newbie/password",
        json={"password": temporary, "reason": CHANGE},
    )  # fmt: skip
    assert ok(client, "PUT", "/api/v1/accounts/{username}/password", answer) == {
        "username": "newbie",
        "password_change_required": True,
    }
    signed_in = client.post("/api/v1/token", data={"username": "newbie", "password": temporary})
    headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    change = {"current_password": temporary, "new_password": secrets.token_urlsafe(16)}
    answer = client.post("/api/v1/me/password", json=change, headers=headers)
    assert ok(client, "POST", "/api/v1/me/password", answer)["password_change_required"] is False
    answer = plant.call("admin", "POST", "/api/v1/accounts/newbie/deactivate",
                        json={"reason": CHANGE})  # fmt: skip
    assert ok(client, "POST", "/api/v1/accounts/{username}/{action}", answer) == {
        "username": "newbie",
        "action": "deactivate",
    }


def test_an_administrators_alert_answers_as_documented(plant: Plant) -> None:
    wrong = {"username": "analyst2", "password": "not-the-password"}
    for _ in range(5):
        refused = plant.client.post("/api/v1/token", data=wrong)
        conforms(plant.client, "POST", "/api/v1/token", refused)  # a documented problem
    answer = plant.call("admin", "GET", "/api/v1/notifications")
    [alert] = ok(plant.client, "GET", "/api/v1/notifications", answer)
    assert (alert["kind"], alert["record_type"], alert["record_id"]) == (
        "account.locked",
        "account",
        "analyst2",
    )


def test_identities_and_source_keys_answer_as_documented(plant: Plant) -> None:
    client, base = plant.client, "/api/v1/sources/{source}/identities"
    body = {"account": "analyst", "reason": CHANGE}
    answer = plant.call("admin", "PUT", "/api/v1/sources/lims/identities/X-77", json=body)
    assert ok(client, "PUT", f"{base}/{{external_id}}", answer)["active"] is True
    answer = plant.call("admin", "POST", "/api/v1/sources/lims/identities/X-77/withdrawal",
                        json={"reason": CHANGE})  # fmt: skip
    assert ok(client, "POST", f"{base}/{{external_id}}/withdrawal", answer)["active"] is False
    listed = ok(
        client, "GET", base, plant.call("auditor", "GET", "/api/v1/sources/lims/identities")
    )
    assert ("X-77", False) in {(m["external_id"], m["active"]) for m in listed}

    keys = "/api/v1/sources/{source}/keys"
    plain = {"kid": "lims-k1", "public_jwk": generate_keypair()[1], "valid_from":
             "2026-01-01T00:00:00Z", "reason": CHANGE}  # fmt: skip
    answer = plant.call("admin", "POST", "/api/v1/sources/lims/keys", json=plain)
    assert ok(client, "POST", keys, answer, 201) == {"source": "lims", "kid": "lims-k1"}
    legacy = plain | {"kid": "lims-k2",
                      "public_jwk": generate_keypair()[1] | {"alg": LEGACY_ALGORITHM}}  # fmt: skip
    ok(client, "POST", keys, plant.call("admin", "POST", "/api/v1/sources/lims/keys", json=legacy),
       201)  # fmt: skip
    answer = plant.call("admin", "POST", "/api/v1/sources/lims/keys/lims-k1/revocation",
                        json={"reason": CHANGE})  # fmt: skip
    assert ok(client, "POST", f"{keys}/{{kid}}/revocation", answer)["revoked"] is True
    listed = ok(client, "GET", keys, plant.call("auditor", "GET", "/api/v1/sources/lims/keys"))
    # The public key as registered: the older algorithm name only on the key that carries it.
    assert {k["kid"]: sorted(k["public_jwk"]) for k in listed} == {
        "lims-k1": ["crv", "kty", "x"],
        "lims-k2": ["alg", "crv", "kty", "x"],
    }
    assert [k["in_force"] for k in listed] == [False, True]


def test_the_inbox_and_the_quarantine_answer_as_documented(plant: Plant, mes: Sender) -> None:
    client, inbox = plant.client, "/api/v1/inbox"
    headers = {"X-API-Key": plant.api_keys["mes"], "Content-Type": "application/json"}
    applied = ok(client, "POST", inbox, client.post(inbox, content=request(mes, "REQ-1"),
                                                    headers=headers))  # fmt: skip
    assert (applied["status"], applied["outcome"]) == ("applied", "S-000001")
    as_lims = headers | {"X-API-Key": plant.api_keys["lims"]}  # claims to be the MES: refused
    refused = client.post(inbox, content=request(mes, "REQ-2"), headers=as_lims)
    assert conforms(client, "POST", inbox, refused)["reason"] == "envelope.source_mismatch"
    mismatched = int(refused.headers["X-Quarantine-Id"])
    unreadable = client.post(inbox, content=b"not an envelope", headers=headers)
    assert unreadable.status_code == 422, unreadable.text
    conforms(client, "POST", inbox, unreadable)
    unread = int(unreadable.headers["X-Quarantine-Id"])

    listed = "/api/v1/quarantine"
    first = ok(client, "GET", listed, plant.call("auditor", "GET", listed, params={"limit": 1}))
    assert [i["id"] for i in first["items"]] == [unread]  # newest first
    second = plant.call(
        "auditor", "GET", listed, params={"limit": 1, "cursor": first["next_cursor"]}
    )
    assert [i["id"] for i in ok(client, "GET", listed, second)["items"]] == [mismatched]
    shown = plant.call("auditor", "GET", f"{listed}/{unread}")
    assert ok(client, "GET", f"{listed}/{{item}}", shown)["raw_text"] == "not an envelope"

    decision = {"reason": CHANGE, "signature": plant.signature("admin")}
    resolve = f"{listed}/{{item}}/{{decision}}"
    answer = plant.call("admin", "POST", f"{listed}/{unread}/discard", json=decision)
    assert ok(client, "POST", resolve, answer) == {"item": unread, "status": "discarded"}
    answer = plant.call("admin", "POST", f"{listed}/{mismatched}/reprocess", json=decision)
    assert ok(client, "POST", resolve, answer) == {
        "item": mismatched,
        "status": "reprocessed",
        "outcome": "S-000002",
    }
    mes.sequence += 1  # a gap: the next message waits for the one not sent
    held = client.post(inbox, content=request(mes, "REQ-4"), headers=headers)
    assert ok(client, "POST", inbox, held, 202)["status"] == "held"


def test_outbox_delivery_answers_as_documented(plant: Plant, dead: str) -> None:
    client = plant.client
    page = ok(
        client, "GET", "/api/v1/outbox/dead", plant.call("auditor", "GET", "/api/v1/outbox/dead")
    )
    assert [m["message_id"] for m in page["items"]] == [dead]
    ok(client, "GET", "/api/v1/outbox/held", plant.call("auditor", "GET", "/api/v1/outbox/held"))
    answer = plant.call("auditor", "GET", f"/api/v1/outbox/{dead}/attempts")
    history = ok(client, "GET", "/api/v1/outbox/{message_id}/attempts", answer)
    assert [a["outcome"] for a in history["items"]] == ["failed", "failed"]
    retried = plant.call("admin", "POST", "/api/v1/outbox/retry",
                         json={"message_ids": [dead], "reason": CHANGE})  # fmt: skip
    assert ok(client, "POST", "/api/v1/outbox/retry", retried)["requeued"] == [dead]
    listed = ok(client, "GET", "/api/v1/outbox", plant.call("auditor", "GET", "/api/v1/outbox"))
    assert dead in {m["message_id"] for m in listed["items"]}


def test_master_data_answers_as_documented(plant: Plant) -> None:
    client = plant.client
    v2 = PLANT["specifications"][0]["versions"][1]
    v3 = {"version": 3, "limits": v2["limits"]}
    document = {"site": PLANT["site"], "specifications": [{"code": "SPEC-A", "versions": [v3]}]}
    answer = plant.call("admin", "POST", "/api/v1/masterdata/import",
                        json={"document": document, "reason": CHANGE})  # fmt: skip
    counts = ok(client, "POST", "/api/v1/masterdata/import", answer)
    assert counts["sections"]["specifications"]["created"] == 1
    exported = ok(client, "GET", "/api/v1/sites/{site}/masterdata",
                  plant.call("auditor", "GET", "/masterdata"))  # fmt: skip
    assert exported["site"]["code"] == SITE

    base = "/api/v1/sites/{site}/specifications/{specification}/versions/{version}"
    approval = {"signature": plant.signature("qa", "approved")}
    answer = plant.call("qa", "POST", "/specifications/SPEC-A/versions/3/approval", json=approval)
    assert ok(client, "POST", f"{base}/approval", answer) == {
        "specification": "SPEC-A v3",
        "status": "approved",
    }
    effective = {"effective_from": "2026-12-01T00:00:00Z", "reason": CHANGE}
    answer = plant.call("qa", "POST", "/specifications/SPEC-A/versions/3/effective", json=effective)
    assert ok(client, "POST", f"{base}/effective", answer)["status"] == "effective"
    shown = ok(
        client, "GET", base, plant.call("auditor", "GET", "/specifications/SPEC-A/versions/3")
    )
    assert [(s["signer"], s["status"]) for s in shown["signatures"]] == [("qa", "valid")]


def test_schemas_and_health_answer_as_documented(plant: Plant) -> None:
    client = plant.client
    listed = ok(client, "GET", "/api/v1/schemas", plant.call("auditor", "GET", "/api/v1/schemas"))
    first = listed["items"][0]["id"]
    answer = plant.call("auditor", "GET", f"/api/v1/schemas/{first}")
    assert answer.headers["content-type"].startswith("application/schema+json")
    assert ok(client, "GET", "/api/v1/schemas/{schema_id}", answer)["title"] == first
    assert ok(client, "GET", "/health", client.get("/health")) == {"status": "up", "checks": {}}
    assert ok(client, "GET", "/ready", client.get("/ready"))["status"] == "ready"


def test_audit_entries_read_at_their_site_page_by_page(plant: Plant, hub: Hub) -> None:
    client = plant.client
    berlin = {"site": {"code": SITE, "name": "Test plant", "time_zone": "Europe/Berlin"}}
    imported = plant.call("admin", "POST", "/api/v1/masterdata/import",
                          json={"document": berlin, "reason": CHANGE})  # fmt: skip
    assert imported.status_code == 200, imported.text
    sample = registered_samples(plant, 1)[0]
    approved_result(plant, sample, "ASSAY", "99.1", "%")

    audit = "/api/v1/audit"
    params = {"record_type": "specification", "limit": 2}
    first = ok(client, "GET", audit, plant.call("auditor", "GET", audit, params=params))
    assert first["next_cursor"] is not None
    rest = plant.call("auditor", "GET", audit, params=params | {"cursor": first["next_cursor"]})
    following = ok(client, "GET", audit, rest)
    seqs = [e["seq"] for e in first["items"] + following["items"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)  # chain order, none twice
    # The seed's approval by QA at 09:00 UTC, shown at the site: Berlin in November is +01:00.
    every = plant.call("auditor", "GET", audit, params=params | {"limit": 500})
    approved = next(
        e
        for e in ok(client, "GET", audit, every)["items"]
        if e["action"] == "specification.approved"
    )
    assert (approved["at"], approved["at_local"]) == (
        "2026-11-25T09:00:00.000000Z",
        "2026-11-25 10:00:00 +01:00",
    )
    assert (approved["actor"], approved["actor_name"]) == ("qa", "Qa Person")
    newest = plant.call("auditor", "GET", audit, params={"order": "newest", "limit": 1})
    [last] = ok(client, "GET", audit, newest)["items"]
    whole = ok(client, "GET", audit, plant.call("auditor", "GET", audit, params={"limit": 1000}))
    assert (whole["next_cursor"], last["seq"]) == (None, whole["items"][-1]["seq"])
    # An entry of no site reads in UTC; one by an id without an account has no printed name.
    accounts = plant.call("auditor", "GET", audit, params={"record_type": "account", "limit": 1})
    [created] = ok(client, "GET", audit, accounts)["items"]
    assert (created["site"], created["at_local"]) == (None, "2026-11-25 09:00:00 +00:00")
    assert (created["actor"], created["actor_name"]) == ("test-setup", None)

    verified = ok(client, "GET", f"{audit}/verify", plant.call("auditor", "GET", f"{audit}/verify"))
    assert (verified["ok"], verified["reason"]) == (True, None)
    timeline = "/api/v1/sites/{site}/samples/{sample}/timeline"
    entries = ok(
        client, "GET", timeline, plant.call("auditor", "GET", f"/samples/{sample}/timeline")
    )
    assert {e["at_local"][-6:] for e in entries["items"]} == {"+01:00"}
    assert {e["actor_name"] for e in entries["items"]} >= {"MES", "LIMS"}
    # The recorded change stays as sealed: no printed name or local time is added inside it.
    recorded = [e["after"] for e in entries["items"] if "analyst" in (e["after"] or {})]
    assert recorded and all(set(after) & {"analyst_name", "entered_at_local"} == set()
                            for after in recorded)  # fmt: skip
    batch = ok(client, "GET", "/api/v1/sites/{site}/batches/{batch}/timeline",
               plant.call("auditor", "GET", "/batches/B1/timeline"))  # fmt: skip
    assert batch["total"] >= entries["total"]


def test_an_undocumented_member_fails_the_answer_and_the_published_schema(plant: Plant) -> None:
    me = plant.call("qa", "GET", "/api/v1/me").json()
    with pytest.raises(ValueError, match="surprise"):
        MeAnswer.model_validate(me | {"surprise": 1})  # what the server does with such a view
    schema = plant.client.app.openapi()["paths"]["/api/v1/me"]["get"]["responses"]["200"]  # type: ignore[attr-defined]
    check = validator(plant.client, schema["content"]["application/json"]["schema"])
    check.validate(me)
    with pytest.raises(ValidationError, match="surprise"):
        check.validate(me | {"surprise": 1})


def test_every_success_answer_is_typed_and_closed(client: TestClient) -> None:
    spec = client.app.openapi()  # type: ignore[attr-defined]
    schemas = spec["components"]["schemas"]
    checked = 0
    for route in iter_route_contexts(client.app.routes):
        original = route.original_route
        if not isinstance(original, APIRoute) or original.endpoint.__module__ not in MODULES:
            continue
        for method in route.methods or ():
            responses = spec["paths"][route.path_format][method.lower()]["responses"]
            successes = {s: r for s, r in responses.items() if s.startswith("2")}
            assert successes, f"{method} {route.path_format} documents no success"
            for status, response in successes.items():
                for media, content in response["content"].items():
                    where = f"{method} {route.path_format} {status} {media}"
                    assert content.get("schema"), f"{where}: no schema"
                    if media != "application/schema+json":
                        assert media == "application/json", where
                        open_objects(content["schema"], schemas, where, set())
                    checked += 1
    assert checked == 39  # 38 operations; the inbox documents 200 and 202


def open_objects(schema: Any, schemas: dict[str, Any], where: str, seen: set[str]) -> None:
    """Fail on an object whose members are not described, outside the members open by nature."""
    if isinstance(schema, list):
        for item in schema:
            open_objects(item, schemas, where, seen)
        return
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if ref is not None:
        name = ref.rsplit("/", 1)[1]
        if name not in seen:
            open_objects(schemas[name], schemas, f"{where} > {name}", seen | {name})
        return
    if schema.get("type") == "object" and "properties" not in schema:
        assert schema.get("additionalProperties") not in (None, True, {}), f"{where}: open"
    assert schema.get("additionalProperties") is not True, f"{where}: open"
    for key, value in schema.items():
        if key == "properties":
            for member, described in value.items():
                if member not in OPEN:
                    open_objects(described, schemas, f"{where}.{member}", seen)
        else:
            open_objects(value, schemas, where, seen)
