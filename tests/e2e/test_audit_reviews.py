"""Periodic audit-trail review (Annex 11 §9, §11) through the API: a plant seeded, then a
refused message, a failed sign-in, a quarantine reprocess, a refused signature and a key revoked
are planted; the review counts each in its category, draws a reproducible seeded sample, and is
signed off only by a person with the right password over the content the trail still gives."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from typer.testing import CliRunner, Result

from fakes import ManualClock
from intruder import behind_the_back
from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from labgate.compliance.envelope import generate_keypair
from labgate.domain.commands import Context, SignatureInput
from labgate.domain.errors import Forbidden
from labgate.domain.review_commands import SignOffAuditReview
from labgate.entrypoints.cli.main import app
from pdf_pages import pages
from plant import Plant, SeededPlant
from senders import Sender, register, request

REVIEWS = "/audit-reviews"
DAY = {"from": "2026-11-25T00:00:00Z", "to": "2026-11-26T00:00:00Z"}
CHANGE = "CR-41: key rotation"


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


@pytest.fixture
def mes(hub: Hub, plant: Plant) -> Sender:
    return Sender(hub, "mes", "requests", "mes-1", register(hub, "mes", "mes-1"))


def send(plant: Plant, raw: bytes, as_: str = "mes") -> Any:
    headers = {"X-API-Key": plant.api_keys[as_], "Content-Type": "application/json"}
    return plant.client.post("/api/v1/inbox", content=raw, headers=headers)


def planted(plant: Plant, mes: Sender) -> None:
    """The events a reviewer must find, on the seeded plant's day."""
    assert send(plant, request(mes, "REQ-1")).status_code == 200
    refused = send(plant, request(mes, "REQ-2"), as_="lims")  # the LIMS claims to be the MES
    item = refused.headers["X-Quarantine-Id"]
    failed = plant.client.post("/api/v1/token", data={"username": "qa", "password": "wrong"})
    assert failed.status_code == 401
    wrong = {"reason": "CR-41: reprocess after fix", "signature": plant.signature("admin")}
    wrong["signature"] = {**wrong["signature"], "password": "not-the-password"}
    answer = plant.call("admin", "POST", f"/api/v1/quarantine/{item}/reprocess", json=wrong)
    assert answer.status_code == 401, answer.text
    right = {"reason": "CR-41: reprocess after fix", "signature": plant.signature("admin")}
    answer = plant.call("admin", "POST", f"/api/v1/quarantine/{item}/reprocess", json=right)
    assert answer.status_code == 200, answer.text
    key = {"kid": "lims-k1", "public_jwk": generate_keypair()[1],
           "valid_from": "2026-01-01T00:00:00Z", "reason": CHANGE}  # fmt: skip
    assert plant.call("admin", "POST", "/api/v1/sources/lims/keys", json=key).status_code == 201
    revoked = plant.call("admin", "POST", "/api/v1/sources/lims/keys/lims-k1/revocation",
                         json={"reason": CHANGE})  # fmt: skip
    assert revoked.status_code == 200, revoked.text


def create(plant: Plant, user: str = "qa", **body: Any) -> dict[str, Any]:
    answer = plant.call(user, "POST", REVIEWS, json=DAY | body)
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    return made


def category(review: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in review["categories"] if c["category"] == name)
    return found


def actions(review: dict[str, Any], name: str) -> list[str]:
    return [e["action"] for e in category(review, name)["entries"]]


@pytest.mark.requirement("URS-A11-11", category="positive")
def test_each_planted_event_is_counted_in_its_category(
    plant: Plant, mes: Sender, clock: ManualClock
) -> None:
    planted(plant, mes)
    clock.advance(days=2)
    review = create(plant)
    assert review["state"] == "draft" and review["period_to"] == "2026-11-26T00:00:00.000000Z"
    assert actions(review, "failed_sign_in") == ["refused.sign_in"]
    assert category(review, "failed_sign_in")["by_reason"] == {"auth.bad_credentials": 1}
    assert actions(review, "quarantine") == ["quarantine.added", "quarantine.reprocessed"]
    assert "source_key.revoked" in actions(review, "manual_intervention")
    assert "source_key.registered" in actions(review, "manual_intervention")
    assert category(review, "refusal")["by_reason"] == {"signature.bad_credentials": 1}
    assert actions(review, "refusal") == ["refused.quarantine_reprocess"]
    assert "account.created" in actions(review, "privileged")
    assert {"sample.requested", "specification.approved"} <= set(actions(review, "gxp_change"))
    # Every action the plant wrote has a category: none is left uncategorised.
    assert category(review, "uncategorised")["count"] == 0
    assert review["total"] == sum(c["count"] for c in review["categories"])
    assert review["by_interface"]["mes"]["quarantine"] == 1
    assert review["by_interface"]["lims"]["manual_intervention"] == 2

    lims = create(plant, source="lims")
    assert lims["source"] == "lims"
    assert actions(lims, "manual_intervention") == ["source_key.registered", "source_key.revoked"]
    assert category(lims, "failed_sign_in")["count"] == 0
    assert category(lims, "gxp_change")["count"] == 0


@pytest.mark.requirement("URS-A11-11", category="positive")
def test_the_same_seed_and_period_draw_the_same_spot_check(
    plant: Plant, mes: Sender, clock: ManualClock
) -> None:
    for n in range(1, 8):
        assert send(plant, request(mes, f"REQ-{n}")).status_code == 200
    clock.advance(days=2)
    first = create(plant, sample_size=3)
    drawn = [i["message"] for i in first["sample"]]
    assert len(drawn) == 3 and len(set(drawn)) == 3
    again = create(plant, sample_size=3, seed=first["seed"])
    assert [i["message"] for i in again["sample"]] == drawn
    assert again["content_hash"] == first["content_hash"]
    item = first["sample"][0]
    assert item["source"] == "mes" and item["schema"] == "labgate.sample_request.v1"
    assert [e["action"] for e in item["trail"]] == ["sample.requested"]
    everything = create(plant, sample_size=50, seed=7)
    assert len(everything["sample"]) == 7  # no more than were applied in the period


@pytest.mark.requirement("URS-A11-11", category="negative")
def test_a_review_period_must_have_ended_and_run_forwards(plant: Plant) -> None:
    answer = plant.call("qa", "POST", REVIEWS, json=DAY)  # the clock is still on 25 Nov
    assert answer.json()["reason"] == "audit_review.period_not_ended", answer.text
    backwards = {"from": DAY["to"], "to": DAY["from"]}
    answer = plant.call("qa", "POST", REVIEWS, json=backwards)
    assert (answer.status_code, answer.json()["reason"]) == (422, "audit_review.period_empty")
    assert plant.call("analyst", "POST", REVIEWS, json=DAY).status_code == 403
    assert plant.call("auditor", "POST", REVIEWS, json=DAY).status_code == 403  # reads them only


@pytest.mark.requirement("URS-A11-11", category="negative")
def test_sign_off_is_refused_until_marked_for_a_wrong_password_and_for_a_system(
    plant: Plant, mes: Sender, clock: ManualClock, hub: Hub
) -> None:
    planted(plant, mes)
    clock.advance(days=2)
    review = create(plant, sample_size=2)
    code, at = review["code"], f"{REVIEWS}/{review['code']}"
    signed = {"comment": "Trail reviewed; no unexplained entries.",
              "signature": plant.signature("qa", "reviewed")}  # fmt: skip
    answer = plant.call("qa", "POST", f"{at}/sign-off", json=signed)
    assert (answer.status_code, answer.json()["reason"]) == (
        409, "audit_review.spot_check_unmarked")  # fmt: skip
    first, second = (i["message"] for i in review["sample"])
    finding = plant.call("qa", "POST", f"{at}/spot-check/{first}",
                         json={"mark": "finding", "note": ""})  # fmt: skip
    assert finding.json()["reason"] == "audit_review.note_required"
    for message, mark in ((first, "finding"), (second, "checked")):
        body = {"mark": mark, "note": "source mismatch reprocessed under CR-41"}
        assert plant.call("qa", "POST", f"{at}/spot-check/{message}", json=body).is_success

    wrong = {**signed, "signature": {**signed["signature"], "password": "not-it"}}
    answer = plant.call("qa", "POST", f"{at}/sign-off", json=wrong)
    assert (answer.status_code, answer.json()["reason"]) == (401, "signature.bad_credentials")
    assert plant.call("lims", "POST", f"{at}/sign-off", json=signed).status_code == 403
    system = SignOffAuditReview(Context("lims", "system"), "T1", code, signed["comment"],
                                SignatureInput("lims", "x", "reviewed"))  # fmt: skip
    with pytest.raises(Forbidden) as refused:
        hub.bus.handle(system)
    assert refused.value.reason == "audit_review.system_account"

    answer = plant.call("qa", "POST", f"{at}/sign-off", json=signed)
    assert answer.status_code == 200, answer.text
    done = answer.json()
    assert (done["state"], done["signed_by"]) == ("signed_off", "qa")
    assert [(s["meaning"], s["status"]) for s in done["signatures"]] == [("reviewed", "valid")]
    again = plant.call("qa", "POST", f"{at}/spot-check/{first}", json={"mark": "checked"})
    assert (again.status_code, again.json()["reason"]) == (409, "audit_review.signed_off")
    trail = plant.call("auditor", "GET", "/api/v1/audit", params={"record_id": code})
    written = {e["action"] for e in trail.json()["items"]}
    assert {"audit_review.created", "audit_review.spot_checked", "audit_review.signed_off",
            "signature.applied"} <= written  # fmt: skip


@pytest.mark.requirement("URS-A11-11", category="negative")
def test_sign_off_is_refused_when_the_trail_no_longer_gives_the_content(
    plant: Plant, mes: Sender, clock: ManualClock, hub: Hub
) -> None:
    planted(plant, mes)
    clock.advance(days=2)
    review = create(plant, sample_size=0)
    with behind_the_back(hub.settings.database_url) as db:  # an entry of the period altered
        db.execute(update(t.audit_entries).where(t.audit_entries.c.action == "refused.sign_in")
                   .values(reason="nothing to see"))  # fmt: skip
    signed = {"comment": "Trail reviewed; no unexplained entries.",
              "signature": plant.signature("qa", "reviewed")}  # fmt: skip
    answer = plant.call("qa", "POST", f"{REVIEWS}/{review['code']}/sign-off", json=signed)
    assert (answer.status_code, answer.json()["reason"]) == (409, "audit_review.trail_changed")


@pytest.mark.requirement("URS-A11-8.1", category="positive")
def test_the_report_prints_the_signature_and_the_json_hash(
    plant: Plant, mes: Sender, clock: ManualClock, tmp_path: Path
) -> None:
    planted(plant, mes)
    clock.advance(days=2)
    review = create(plant, sample_size=1)
    at = f"{REVIEWS}/{review['code']}"
    body = {"mark": "checked", "note": "matches the MES record"}
    plant.call("qa", "POST", f"{at}/spot-check/{review['sample'][0]['message']}", json=body)
    signed = {"comment": "Trail reviewed; no unexplained entries.",
              "signature": plant.signature("qa", "reviewed")}  # fmt: skip
    assert plant.call("qa", "POST", f"{at}/sign-off", json=signed).status_code == 200
    as_json = plant.call("auditor", "GET", f"{at}/report", params={"format": "json"})
    digest = hashlib.sha256(as_json.content).hexdigest()
    printed = plant.call("auditor", "GET", f"{at}/report")
    assert printed.headers["content-type"] == "application/pdf"
    read = pages(printed.content, tmp_path, "review")
    text, solid = " ".join(p.flat() for p in read), "".join(p.solid() for p in read)
    assert "Signed by Qa Person (qa)" in text
    assert "meaning: reviewed" in text
    assert digest in solid
    assert all(not p.outside(15) for p in read)
    assert "Failed sign-ins" in text and "refused.sign_in" in text
    assert "matches the MES record" in text


def test_overdue_months_are_listed_until_a_signed_off_review_covers_them(
    plant: Plant, clock: ManualClock
) -> None:
    clock.advance(days=41)  # 5 January 2027: November ended 35 days ago (30 allowed)
    listed = plant.call("auditor", "GET", REVIEWS).json()
    assert listed["review_days"] == 30
    assert listed["overdue"] == [{"period_from": "2026-11-01T00:00:00.000000Z",
                                  "period_to": "2026-12-01T00:00:00.000000Z",
                                  "due": "2026-12-31T00:00:00.000000Z"}]  # fmt: skip
    november = {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z", "sample_size": 0}
    made = plant.call("qa", "POST", REVIEWS, json=november).json()
    signed = {"comment": "November reviewed; nothing to raise.",
              "signature": plant.signature("qa", "reviewed")}  # fmt: skip
    answer = plant.call("qa", "POST", f"{REVIEWS}/{made['code']}/sign-off", json=signed)
    assert answer.status_code == 200, answer.text
    listed = plant.call("auditor", "GET", REVIEWS).json()
    assert listed["overdue"] == []
    assert [r["code"] for r in listed["reviews"]] == [made["code"]]


def test_the_cli_creates_shows_and_prints_a_review(
    plant: Plant, database_url: str, tmp_path: Path
) -> None:
    def labgate(*args: str) -> Result:
        env = {"LABGATE_DATABASE_URL": database_url, "LABGATE_TOKEN_SECRET": "s" * 40}
        return CliRunner().invoke(app, ["audit", "review", *args], env=env)

    made = labgate("create", "--site", "T1", "--from", "2026-11-25T00:00:00Z",
                   "--to", "2026-11-26T00:00:00Z", "--seed", "42")  # fmt: skip
    assert made.exit_code == 0, made.output
    assert made.output.startswith("AR-000001  draft  T1  2026-11-25T00:00:00.000000Z")
    assert "seed 42" in made.output and "Privileged actions" in made.output
    shown = labgate("show", "AR-000001", "--site", "T1")
    assert shown.exit_code == 0 and "Changes to GxP records" in shown.output
    written = labgate("report", "AR-000001", "--site", "T1", "--out", str(tmp_path))
    assert written.exit_code == 0, written.output
    pdf = tmp_path / "AuditReview-T1-AR-000001.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    assert hashlib.sha256(pdf.read_bytes()).hexdigest() in written.output
    unknown = labgate("show", "AR-999999", "--site", "T1")
    assert unknown.exit_code == 1 and "audit_review.unknown" in unknown.output
    naive = labgate("create", "--site", "T1", "--from", "2026-11-25", "--to", "2026-11-26")
    assert naive.exit_code == 2 and "UTC offset" in naive.output
