"""People a LIMS names are labgate accounts through the governed identity map: segregation of
duties is decided on accounts, an unmapped person is refused with a reason (and quarantined when a
partner sent it), never compared as text. On SQLite and PostgreSQL, through the API and the signed
inbox."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from labgate.service.inbox.admission import ReceiptRefused
from plant import Plant
from senders import Sender, request


def mapped(plant: Plant, external_id: str, account: str, source: str = "lims") -> Any:
    body = {"account": account, "reason": "CR-12: LIMS user ids synchronised with labgate"}
    return plant.call("admin", "PUT", f"/api/v1/sources/{source}/identities/{external_id}",
                      json=body)  # fmt: skip


def registered(mes: Sender, lims: Sender, request_id: str = "REQ-1") -> str:
    mes.send(request(mes, request_id))
    sample = f"S-{mes.sequence:06d}"
    lims.send(lims.envelope("labgate.sample_registration.v1", {"sample": sample}))
    return sample


def result(sample: str, analyst: str, **approved: str) -> dict[str, Any]:
    status = {"lims_status": "approved", **approved} if approved else {"lims_status": "preliminary"}
    return {"sample": sample, "test_code": "ASSAY", "value": "99.2", "unit": "%",
            "method_version": "1", "analyst": analyst, **status}  # fmt: skip


def refusal(lims: Sender, payload: dict[str, Any]) -> tuple[str, str | None]:
    with pytest.raises(ReceiptRefused) as refused:
        lims.send(lims.envelope("labgate.result.v1", payload))
    return refused.value.reason, refused.value.field


def stored(hub: Hub, sample: str) -> dict[str, Any]:
    r, s = t.results, t.samples
    query = select(r).join(s, s.c.id == r.c.sample_id).where(s.c.code == sample)
    with hub.engine.connect() as connection:
        return dict(connection.execute(query).mappings().one())


APPROVED = {"reviewer": "asmith", "approved_at": "2026-11-25T08:00:00Z"}


def test_an_approved_lims_result_naming_unmapped_people_is_quarantined(
    hub: Hub, plant: Plant, mes: Sender, lims: Sender
) -> None:
    sample = registered(mes, lims)
    assert refusal(lims, result(sample, "jdoe", **APPROVED)) == ("identity.unmapped", "reviewer")
    assert mapped(plant, "asmith", "reviewer").status_code == 200
    assert refusal(lims, result(sample, "jdoe", **APPROVED)) == ("identity.unmapped", "analyst")
    assert mapped(plant, "jdoe", "analyst").status_code == 200
    assert lims.send(lims.envelope("labgate.result.v1", result(sample, "jdoe", **APPROVED)))
    row = stored(hub, sample)
    assert (row["analyst"], row["reviewer"], row["status"]) == ("jdoe", "asmith", "approved")
    assert (row["analyst_account"], row["reviewer_account"], row["reported_by"]) == (
        "analyst", "reviewer", "lims",
    )  # fmt: skip


def test_two_ids_of_one_person_cannot_review_their_own_result(
    plant: Plant, mes: Sender, lims: Sender
) -> None:
    sample = registered(mes, lims)
    mapped(plant, "Reviewer", "reviewer")  # the same person, as the LIMS spells them elsewhere
    mapped(plant, "asmith", "reviewer")
    assert refusal(lims, result(sample, "Reviewer", **APPROVED)) == (
        "result.reviewer_is_analyst", "reviewer",
    )  # fmt: skip


def test_a_reviewer_approving_a_lims_result_is_compared_by_account_not_by_name(
    plant: Plant, mes: Sender, lims: Sender
) -> None:
    sample = registered(mes, lims)
    lims.send(lims.envelope("labgate.result.v1", result(sample, "Reviewer")))
    code = f"{sample}-R1"
    sign = {"signature": plant.signature("reviewer")}
    answer = plant.call("reviewer", "POST", f"/results/{code}/approval", json=sign)
    assert (answer.status_code, answer.json()["reason"]) == (409, "identity.unmapped")
    mapped(plant, "Reviewer", "reviewer")  # mapped after it was reported: resolved at approval
    answer = plant.call("reviewer", "POST", f"/results/{code}/approval", json=sign)
    assert (answer.status_code, answer.json()["reason"]) == (403, "result.reviewer_is_analyst")
    mapped(plant, "Reviewer", "analyst")  # a mapping corrected, with its reason, audited
    answer = plant.call("reviewer", "POST", f"/results/{code}/approval", json=sign)
    assert answer.status_code == 200, answer.text
    [shown] = answer.json()["results"]
    assert (shown["analyst"], shown["analyst_account"], shown["reviewer_account"]) == (
        "Reviewer", "analyst", "reviewer",
    )  # fmt: skip


def test_the_map_is_governed_audited_and_withdrawable(
    hub: Hub, plant: Plant, mes: Sender, lims: Sender
) -> None:
    refused = plant.call("reviewer", "PUT", "/api/v1/sources/lims/identities/jdoe",
                         json={"account": "analyst", "reason": "CR-12"})  # fmt: skip
    assert refused.status_code == 403
    wrong = mapped(plant, "jdoe", "mes")  # a system account is nobody's person id
    assert (wrong.status_code, wrong.json()["reason"]) == (422, "identity.wrong_kind")
    assert mapped(plant, "jdoe", "analyst").json()["active"] is True
    mapped(plant, "asmith", "reviewer")
    withdrawn = plant.call("admin", "POST", "/api/v1/sources/lims/identities/jdoe/withdrawal",
                           json={"reason": "CR-13: user left the lab"})  # fmt: skip
    assert withdrawn.json()["active"] is False
    sample = registered(mes, lims)
    assert refusal(lims, result(sample, "jdoe", **APPROVED)) == ("identity.unmapped", "analyst")
    listed = plant.call("auditor", "GET", "/api/v1/sources/lims/identities").json()
    seeded = {"admin", "analyst", "reviewer", "qa", "production", "auditor", "analyst2"}
    listed = [m for m in listed if m["external_id"] not in seeded]
    assert [(m["external_id"], m["account"], m["active"]) for m in listed] == [
        ("jdoe", "analyst", False), ("asmith", "reviewer", True),
    ]  # fmt: skip
    with hub.engine.connect() as connection:
        query = select(t.audit_entries.c.action, t.audit_entries.c.record_id)
        trail = list(connection.execute(query.where(t.audit_entries.c.record_type == "identity")))
    assert [tuple(row) for row in trail if row[1] in ("lims/jdoe", "lims/asmith")] == [
        ("identity.mapped", "lims/jdoe"), ("identity.mapped", "lims/asmith"),
        ("identity.unmapped", "lims/jdoe"),
    ]  # fmt: skip
