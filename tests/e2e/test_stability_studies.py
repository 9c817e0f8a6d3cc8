"""Stability studies and OOT alerts through the API: protocol approved by QA (not its author),
pulls on schedule making real samples, results approved, trend and Q1E shelf-life report with
reproducible bytes, OOT alerts for out-of-trend results only, acknowledged with a signature.
On SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from labgate.bootstrap import Hub
from labgate.domain import commands as c
from plant import (
    ELEMENTS,
    SITE,
    Plant,
    SeededPlant,
    approved_result,
    plan_version,
    request_sample,
)

LONG, ACCELERATED = "25C/60%RH", "40C/75%RH"
START = "2026-01-05T08:00:00Z"
DUE = {0: "2026-01-05T08:00:00Z", 3: "2026-04-05T08:00:00Z", 6: "2026-07-05T08:00:00Z"}
# Assay (%) at 0, 3, 6, 9 months: a slow decline; B3's 9-month value falls off the trend.
ASSAY = {
    "B1": ("100.4", "100.0", "99.9", "99.6"),
    "B2": ("100.6", "100.3", "100.0", "99.8"),
    "B3": ("100.5", "100.2", "99.9", "98.4"),
}
MORE_BATCHES: dict[str, Any] = {
    "site": {"code": SITE, "name": "Test plant"},
    "batches": [
        {
            "code": f"B{n}",
            "product": "P1",
            "procedure": "PROC1",
            "started_at": f"2026-11-0{n}T08:00:00+00:00",
        }
        for n in range(3, 7)
    ],
}


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    seeded = seeded_plant.on(client)
    hub.bus.handle(c.ImportMasterData(c.Context("admin"), MORE_BATCHES, "CR-3: batches"))
    return seeded


def protocol(batch: str, **change: Any) -> dict[str, Any]:
    body = {
        "product": "P1",
        "batch": batch,
        "conditions": [
            {"condition": LONG, "time_points": [0, 3, 6, 9, 12]},
            {"condition": ACCELERATED, "time_points": [0, 3, 6]},
        ],
        "tests": ["ASSAY"],
        "start_at": START,
        "window_days": 7,
    }
    return body | change


def create(plant: Plant, batch: str, author: str = "reviewer") -> str:
    answer = plant.call(author, "POST", "/stability-studies", json=protocol(batch))
    assert answer.status_code == 201, answer.text
    study: dict[str, Any] = answer.json()
    assert study["status"] == "draft"
    assert study["criteria"] == {"ASSAY": {"lower": "98.0", "upper": None}}  # from SPEC-A v1
    return str(study["code"])


def approve(plant: Plant, study: str, who: str = "qa") -> Response:
    body = {"signature": plant.signature(who)}
    return plant.call(who, "POST", f"/stability-studies/{study}/approval", json=body)


def refused(answer: Response) -> tuple[int, str, str]:
    body = answer.json()
    return answer.status_code, body["reason"], body.get("field")


def pulled_samples(plant: Plant, study: str, condition: str = LONG) -> dict[int, str]:
    view = plant.call("analyst", "GET", f"/stability-studies/{study}").json()
    return {
        p["time_point"]: p["sample"]
        for p in view["schedule"]
        if p["condition"] == condition and p["state"] == "pulled"
    }


def started_studies(plant: Plant) -> dict[str, str]:
    """Three studies (B1-B3) approved and pulled at 0, 3 and 6 months by the scheduler."""
    studies = {batch: create(plant, batch) for batch in ASSAY}
    for study in studies.values():
        assert approve(plant, study).status_code == 200
    for months, due in DUE.items():
        answer = plant.call("analyst", "POST", "/stability-pulls/due", json={"as_of": due})
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["pulled"]) == 6, f"{months} months: 3 studies x 2 conditions"
    return studies


def alerts(plant: Plant, **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = plant.call("qa", "GET", "/oot-alerts", params=params).json()[
        "items"
    ]
    return items


def test_study_flow_from_protocol_to_reproducible_shelf_life_report(plant: Plant) -> None:
    studies = started_studies(plant)
    study = studies["B1"]
    view = plant.call("analyst", "GET", f"/stability-studies/{study}").json()
    assert view["status"] == "active" and view["signatures"][0]["status"] == "valid"
    states = {(p["condition"], p["time_point"]): p["state"] for p in view["schedule"]}
    assert states[(LONG, 6)] == "pulled" and states[(LONG, 12)] == "planned"
    sample = plant.call("analyst", "GET", f"/samples/{pulled_samples(plant, study)[3]}").json()
    assert sample["batch"] == "B1" and sample["status"] == "registered"
    assert [t["test_code"] for t in sample["tests"]] == ["ASSAY"]
    report = plant.call("qa", "GET", f"/stability-studies/{study}/report")
    assert refused(report)[:2] == (409, "stability.too_few_data")  # nothing approved yet
    for batch, values in ASSAY.items():
        samples = pulled_samples(plant, studies[batch])
        for months, value in zip((0, 3, 6), values, strict=False):
            approved_result(plant, samples[months], "ASSAY", value, "%")
    trend = plant.call("qa", "GET", f"/stability-studies/{study}/trend").json()
    long_term = next(s for s in trend["series"] if s["condition"] == LONG)
    assert len(long_term["points"]) == 9 and {p["batch"] for p in long_term["points"]} == set(ASSAY)
    assert long_term["shelf_life"]["model"] in ("cics", "dics", "dids")
    assert float(long_term["shelf_life"]["proposed_shelf_life"]) == 12.0  # min(2 x 6, 6 + 12)
    first = plant.call("qa", "GET", f"/stability-studies/{study}/report", params={"format": "pdf"})
    again = plant.call("qa", "GET", f"/stability-studies/{study}/report", params={"format": "pdf"})
    assert first.status_code == 200 and first.content.startswith(b"%PDF")
    assert first.content == again.content
    digest = base64.b64encode(hashlib.sha256(first.content).digest()).decode()
    assert first.headers["Repr-Digest"] == f"sha-256=:{digest}:"
    data = plant.call("qa", "GET", f"/stability-studies/{study}/report", params={"format": "json"})
    (test,) = data.json()["tests"]
    assert test["criterion"] == {"lower": "98.0", "upper": None} and len(test["data"]) == 9
    assert base64.b64decode(test["plot_png"]).startswith(b"\x89PNG")
    plot = plant.call("qa", "GET", f"/stability-studies/{study}/plot", params={"test": "ASSAY"})
    assert plot.headers["content-type"] == "image/png"


def test_protocol_approval_needs_qa_who_did_not_write_it(plant: Plant) -> None:
    own = create(plant, "B1", author="qa")
    assert refused(approve(plant, own))[:2] == (403, "stability.approver_is_author")
    study = create(plant, "B2")
    assert refused(approve(plant, study, who="reviewer"))[0] == 403  # not QA
    pull = {"condition": LONG, "time_point": 0, "pulled_at": START}
    answer = plant.call("analyst", "POST", f"/stability-studies/{study}/pulls", json=pull)
    assert refused(answer)[:2] == (409, "stability.study_not_active")
    assert approve(plant, study).status_code == 200
    assert refused(approve(plant, study))[:2] == (409, "stability_study.invalid_transition")
    items = plant.call(
        "auditor",
        "GET",
        "/api/v1/audit",
        params={"record_type": "stability_study", "record_id": study},
    ).json()
    actions = [e["action"] for e in items["items"]]
    assert "stability_study.created" in actions and "stability_study.approved" in actions


def test_a_pull_is_done_once_and_outside_its_window_only_with_a_reason(plant: Plant) -> None:
    study = create(plant, "B1")
    approve(plant, study)
    late = {"condition": LONG, "time_point": 3, "pulled_at": "2026-04-20T08:00:00Z"}
    path = f"/stability-studies/{study}/pulls"
    assert refused(plant.call("analyst", "POST", path, json=late)) == (
        422,
        "stability.pull_outside_window",
        "reason",
    )
    answer = plant.call("analyst", "POST", path, json=late | {"reason": "chamber maintenance"})
    assert answer.status_code == 201, answer.text
    (pulled,) = [p for p in answer.json()["study"]["schedule"] if p["state"] == "pulled"]
    assert pulled["window_reason"] == "chamber maintenance"
    again = plant.call("analyst", "POST", path, json=late | {"reason": "again"})
    assert refused(again)[:2] == (409, "stability.already_pulled")
    unknown = plant.call("analyst", "POST", path, json=late | {"time_point": 4})
    assert refused(unknown) == (404, "stability.pull_not_scheduled", "time_point")
    due = plant.call("analyst", "POST", "/stability-pulls/due", json={"as_of": DUE[6]})
    skipped = {(s["condition"], s["time_point"]) for s in due.json()["skipped"]}
    assert (LONG, "0") in skipped  # its window closed months ago: a person decides
    assert len(due.json()["pulled"]) == 2  # both conditions at 6 months
    accelerated_nine = late | {"condition": ACCELERATED, "time_point": 9, "reason": "x"}
    answer = plant.call("analyst", "POST", path, json=accelerated_nine)
    assert refused(answer)[:2] == (404, "stability.pull_not_scheduled")


@pytest.mark.parametrize(
    ("change", "reason", "field"),
    [
        (
            {"conditions": [{"condition": "25 degrees", "time_points": [0]}]},
            "stability.condition_format",
            "conditions",
        ),
        (
            {"conditions": [{"condition": LONG, "time_points": [3, 0]}]},
            "stability.time_points_order",
            "time_points",
        ),
        ({"tests": ["NOPE"]}, "stability.test_not_in_spec", "tests"),
        ({"tests": ["APPEAR"]}, "stability.criterion_missing", "criteria"),
        ({"batch": "B9"}, "batch.unknown", "batch"),
    ],
)
def test_a_bad_protocol_is_refused_naming_the_field(
    plant: Plant, change: dict[str, Any], reason: str, field: str
) -> None:
    answer = plant.call("reviewer", "POST", "/stability-studies", json=protocol("B1") | change)
    assert refused(answer)[1:] == (reason, field)
    assert answer.status_code in (404, 422)


def test_an_out_of_trend_stability_result_raises_an_alert_not_a_rejection(plant: Plant) -> None:
    studies = started_studies(plant)
    for batch in ("B1", "B2", "B3"):
        samples = pulled_samples(plant, studies[batch])
        for months, value in zip((0, 3, 6), ASSAY[batch], strict=False):
            approved_result(plant, samples[months], "ASSAY", value, "%")
    assert alerts(plant) == []  # every result so far is in trend
    for batch in ("B1", "B2", "B3"):
        pull = {"condition": LONG, "time_point": 9, "pulled_at": "2026-10-05T08:00:00Z"}
        answer = plant.call(
            "analyst", "POST", f"/stability-studies/{studies[batch]}/pulls", json=pull
        )
        assert answer.status_code == 201, answer.text
        # The LIMS reports results it reviewed itself: the third approval path.
        reviewed = {
            "sample": answer.json()["sample"],
            "test_code": "ASSAY",
            "value": ASSAY[batch][3],
            "unit": "%",
            "method_version": "1",
            "analyst": "analyst",
            "reviewer": "reviewer",
            "approved_at": "2026-10-12T08:00:00Z",
        }
        assert plant.call("lims", "POST", "/results/reviewed", json=reviewed).status_code == 201
    (alert,) = alerts(plant, status="open")
    assert (alert["batch"], alert["test_code"], alert["value"], alert["kind"]) == (
        "B3",
        "ASSAY",
        "98.4",
        "stability",
    )
    assert float(alert["lower"]) > 98.4 and alert["series"] == f"P1 ASSAY at {LONG}"
    sample = plant.call("qa", "GET", f"/samples/{alert['sample']}").json()
    (result,) = sample["results"]
    assert (result["status"], result["mes_status"]) == ("approved", "Accepted")
    assert alerts(plant, batch="B1") == []


def test_an_oot_alert_is_acknowledged_with_a_signature(plant: Plant) -> None:
    code = _ipc_alert(plant)
    before = review(plant, "B6")  # an open alert needs a reviewer: not ready by exception
    [flagged] = [i for i in before["items"] if i["kind"] == "oot_alert_open"]
    assert flagged["alert"] == code and "out of trend" in flagged["why"]
    body = {
        "assessment": "Within spec; trend reviewed, no action.",
        "signature": plant.signature("reviewer", "reviewed"),
    }
    path = f"/oot-alerts/{code}/acknowledgement"
    assert plant.call("analyst", "POST", path, json=body).status_code == 403
    answer = plant.call("reviewer", "POST", path, json=body)
    assert answer.status_code == 200, answer.text
    shown = answer.json()
    assert shown["status"] == "acknowledged" and shown["acknowledged_by"] == "reviewer"
    assert shown["signatures"][0]["status"] == "valid"
    qa = body | {"signature": plant.signature("qa", "reviewed")}
    assert refused(plant.call("qa", "POST", path, json=qa))[:2] == (409, "oot.already_acknowledged")
    assert alerts(plant, status="open") == []
    assert [i for i in review(plant, "B6")["items"] if i["kind"] == "oot_alert_open"] == []


def test_an_invalidated_result_withdraws_its_open_alert(plant: Plant) -> None:
    code = _ipc_alert(plant)
    [alert] = alerts(plant, status="open")
    body = {
        "reason": "Sample taken from the wrong drum",
        "signature": plant.signature("reviewer", "invalidated"),
    }
    answer = plant.call("reviewer", "POST", f"/results/{alert['result']}/invalidation", json=body)
    assert answer.status_code == 200, answer.text
    shown = plant.call("qa", "GET", f"/oot-alerts/{code}").json()
    assert (shown["status"], shown["acknowledged_by"]) == ("withdrawn", "reviewer")
    assert shown["assessment"] == "withdrawn: Sample taken from the wrong drum"
    assert alerts(plant, status="open") == []
    params = {"record_type": "oot_alert", "record_id": code}
    trail = plant.call("auditor", "GET", "/api/v1/audit", params=params).json()["items"]
    assert [e["action"] for e in trail] == ["oot_alert.raised", "oot_alert.withdrawn"]
    late = {"assessment": "Looked at it.", "signature": plant.signature("qa", "reviewed")}
    answer = plant.call("qa", "POST", f"/oot-alerts/{code}/acknowledgement", json=late)
    assert refused(answer)[:2] == (409, "oot.withdrawn")


def review(plant: Plant, batch: str) -> dict[str, Any]:
    answer = plant.call("qa", "GET", f"/batches/{batch}/review")
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()
    return shown


def _ipc_alert(plant: Plant) -> str:
    """A trended IPC point: water of B1-B5 in trend, B6's high (in spec, out of trend)."""
    point = {
        "code": "SP-IPC",
        "phase": "PROC1/UP1/OP1/PH1",
        "sample_type": "IPC",
        "gate": "informative",
        "trended": True,
    }
    document = {
        "site": {"code": SITE, "name": "Test plant"},
        "procedures": [
            {"code": "PROC1", "product": "P1", "elements": ELEMENTS, "sampling_points": [point]}
        ],
    }
    imported = plant.call(
        "admin",
        "POST",
        "/api/v1/masterdata/import",
        json={"document": document, "reason": "CR-4: trend water"},
    )
    assert imported.status_code == 200, imported.text
    plan_version(plant, [{"sampling_point": "SP-IPC", "limit_set": "release", "tests": ["WATER"]}])
    water = {"B1": "0.20", "B2": "0.22", "B3": "0.21", "B4": "0.23", "B5": "0.22", "B6": "0.45"}
    for batch, value in water.items():
        sample = request_sample(plant, f"REQ-{batch}", batch=batch, sampling_point="SP-IPC")
        approved_result(plant, sample, "WATER", value, "%")
        if batch == "B5":
            assert alerts(plant) == []  # in trend
    (alert,) = alerts(plant, batch="B6")
    assert (alert["kind"], alert["time"], alert["value"]) == ("ipc", "5", "0.45")
    return str(alert["code"])
