"""Environmental monitoring through the API: graded rooms, points, routes and schedules under
change control; site limits signed by QA, never looser than Annex 1; rounds and counts judged by
the limit version in force at sampling time; excursions, their deviations and impact lists.
On SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from fakes import ManualClock
from labgate.bootstrap import Hub
from labgate.domain import commands as c
from labgate.domain import em_commands as em
from plant import RELEASE_PANEL, SITE, Plant, SeededPlant, approved_result, request_sample

NOW = datetime.fromisoformat("2026-11-25T09:00:00+00:00")
ROOMS: dict[str, Any] = {
    "site": {"code": SITE, "name": "Test plant"},
    "locations": [
        {"code": "FILL-A", "name": "Filling zone (grade A)"},
        {"code": "FILL-B", "name": "Filling room (grade B)"},
        {"code": "PREP-C", "name": "Preparation room (grade C)"},
    ],
    "equipment": [
        {"code": "FILLER-1", "name": "Vial filler", "location": "FILL-A"},
        {"code": "RABS-1", "name": "RABS", "location": "FILL-B"},
        {"code": "MIXER-1", "name": "Compounding vessel", "location": "PREP-C"},
    ],
    "batches": [
        {"code": "B3", "product": "P1", "procedure": "PROC1",
         "started_at": "2026-11-20T08:00:00+00:00"},
    ],
}  # fmt: skip
LOCATIONS = [("FILL-A", "A", "FILL-B"), ("FILL-B", "B", "FILL-B"), ("PREP-C", "C", "PREP-C")]
POINTS = [
    ("A-AIR", "FILL-A", "air", 3),
    ("A-P05", "FILL-A", "particles-0.5", 3),
    ("B-SETTLE", "FILL-B", "settle", 2),
    ("C-CONTACT", "PREP-C", "contact", 3),
]


def iso(moment: datetime) -> str:
    return moment.isoformat()


def ok(answer: Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def refused(answer: Response, status: int, reason: str, field: str | None = None) -> None:
    assert answer.status_code == status, answer.text
    assert answer.json()["reason"] == reason, answer.text
    if field is not None:
        assert answer.json()["field"] == field, answer.text


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    """The test plant with a filling suite graded, its points and two routes."""
    seeded = seeded_plant.on(client)
    hub.bus.handle(c.ImportMasterData(c.Context("admin"), ROOMS, "CR-9: filling suite"))
    for location, grade, room in LOCATIONS:
        body = {"location": location, "grade": grade, "room": room, "lookback_days": 3,
                "reason": "CC-EM-1: cleanroom qualification"}  # fmt: skip
        ok(seeded.call("qa", "POST", "/em/locations", json=body), 201)
    for code, location, kind, run in POINTS:
        body = {"code": code, "location": location, "sample_type": kind,
                "description": f"{kind} at {location}", "alerts_to_deviation": run,
                "reason": "CC-EM-1: set"}  # fmt: skip
        ok(seeded.call("qa", "POST", "/em/points", json=body), 201)
    for code, points in (("R-FILL", ["A-AIR", "B-SETTLE", "A-P05"]), ("R-PREP", ["C-CONTACT"])):
        body = {"code": code, "name": code, "points": points, "reason": "CC-EM-1: set"}
        ok(seeded.call("qa", "POST", "/em/routes", json=body), 201)
    return seeded


def set_limit(plant: Plant, **cell: Any) -> Response:
    body = {"reason": "CC-EM-2: site alert levels from 2025 trend data",
            "signature": plant.signature("qa"), **cell}  # fmt: skip
    return plant.call("qa", "POST", "/em/limits", json=body)


def settle_alert(plant: Plant, alert: int, start: datetime) -> str:
    """A site alert level for grade B settle plates in operation; the version's code."""
    answer = set_limit(plant, grade="B", state="in-operation", sample_type="settle", alert=alert,
                       effective_from=iso(start))  # fmt: skip
    return str(ok(answer, 201)["created"])


def start_round(plant: Plant, route: str, planned_at: datetime) -> dict[str, str]:
    """Start a round in operation; its sample codes by point."""
    body = {"route": route, "state": "in-operation", "planned_at": iso(planned_at)}
    started = ok(plant.call("analyst", "POST", "/em/rounds", json=body), 201)
    return {s["point"]: s["code"] for s in started["samples"]}


def count(plant: Plant, sample: str, value: str, at: datetime | None = None) -> Any:
    body: dict[str, Any] = {"count": value}
    if at is not None:
        body["sampled_at"] = iso(at)
    return ok(plant.call("analyst", "POST", f"/em/samples/{sample}/count", json=body))


def trail(plant: Plant, record_type: str, record_id: str) -> list[dict[str, Any]]:
    params = {"record_type": record_type, "record_id": record_id}
    items: list[dict[str, Any]] = ok(plant.call("auditor", "GET", "/api/v1/audit", params=params))[
        "items"
    ]
    return items


def test_configuration_is_readable_and_changes_are_audited_before_and_after(plant: Plant) -> None:
    config = ok(plant.call("auditor", "GET", "/em/config"))
    graded = {x["location"]: (x["grade"], x["room"]) for x in config["locations"]}
    assert graded == {loc: (grade, room) for loc, grade, room in LOCATIONS}
    assert config["routes"][0]["points"] == ["A-AIR", "B-SETTLE", "A-P05"]
    body = {"location": "PREP-C", "grade": "D", "room": "PREP-C", "reason": "CC-EM-3: regraded"}
    ok(plant.call("qa", "POST", "/em/locations", json=body), 201)
    last = trail(plant, "em_location", "PREP-C")[-1]
    assert last["action"] == "em_location.configured" and last["reason"] == "CC-EM-3: regraded"
    assert (last["before"]["grade"], last["after"]["grade"]) == ("C", "D")
    schedule = {"code": "S-FILL", "route": "R-FILL", "state": "in-operation",
                "frequency": "daily", "next_due": iso(NOW), "reason": "CC-EM-1: set"}  # fmt: skip
    ok(plant.call("qa", "POST", "/em/schedules", json=schedule), 201)
    assert ok(plant.call("auditor", "GET", "/em/config"))["schedules"][0]["frequency"] == "daily"


def test_site_limits_are_signed_tighten_only_and_versioned(plant: Plant) -> None:
    code = settle_alert(plant, 3, NOW)
    query = {"grade": "B", "state": "in-operation", "sample_type": "settle"}
    shown = ok(plant.call("auditor", "GET", "/em/limits", params=query))
    assert (shown["action"], shown["action_source"]) == (5, "EU GMP Annex 1 (2022) Table 6")
    assert (shown["alert"], shown["alert_source"], shown["version"]) == (3, "site", code)
    before = ok(
        plant.call("auditor", "GET", "/em/limits", params=query | {"at": iso(NOW - timedelta(1))})
    )
    assert (before["alert"], before["version"]) == (None, None)  # Annex 1 before it took effect
    tighter = set_limit(plant, grade="B", state="in-operation", sample_type="settle", action=4,
                        alert=2, effective_from=iso(NOW + timedelta(days=1)))  # fmt: skip
    ok(tighter, 201)
    assert len(ok(plant.call("auditor", "GET", "/em/limits", params=query))["versions"]) == 2
    signed = trail(plant, "em_limit", code)
    assert [e["action"] for e in signed] == ["em_limit.versioned", "signature.applied"]
    assert signed[0]["before"]["alert"] is None and signed[0]["after"]["alert"] == 3

    cell = {"grade": "B", "state": "in-operation", "sample_type": "settle",
            "effective_from": iso(NOW)}  # fmt: skip
    refused(set_limit(plant, **cell, action=6), 422, "em.action_loosened", "action")
    refused(set_limit(plant, **cell, alert=5), 422, "em.alert_not_below_action", "alert")
    why = "CC-EM-9: trial"
    wrong = {**cell, "alert": 2, "reason": why, "signature": plant.signature("qa", "reviewed")}
    refused(plant.call("qa", "POST", "/em/limits", json=wrong), 422, "signature.wrong_meaning")
    as_analyst = {**cell, "alert": 2, "reason": why, "signature": plant.signature("analyst")}
    refused(plant.call("analyst", "POST", "/em/limits", json=as_analyst), 403,
            "access.missing_permission", "manage_em")  # fmt: skip


def test_counts_are_within_alert_or_action_and_action_opens_a_deviation(plant: Plant) -> None:
    settle_alert(plant, 3, NOW - timedelta(days=10))
    samples = start_round(plant, "R-FILL", NOW - timedelta(hours=2))
    within = count(plant, samples["A-AIR"], "0")
    assert (within["outcome"], within["action_limit"], within["unit"]) == ("within", 0, "CFU/m³")
    alert = count(plant, samples["B-SETTLE"], "4")
    assert (alert["outcome"], alert["alert_limit"], alert["alert_source"]) == (
        "alert_exceeded", 3, "site"
    )  # fmt: skip
    action = count(plant, samples["A-P05"], "4000")
    assert action["outcome"] == "action_exceeded"
    assert (action["action_limit"], action["action_source"]) == (
        3520, "EU GMP Annex 1 (2022) Table 5"
    )  # fmt: skip
    excursions = ok(plant.call("auditor", "GET", "/em/excursions"))["items"]
    by_sample = {x["sample"]: x for x in excursions}
    assert by_sample[samples["B-SETTLE"]]["deviation"] is None  # one alert: no deviation yet
    deviation_code = by_sample[samples["A-P05"]]["deviation"]
    deviation = ok(plant.call("auditor", "GET", f"/deviations/{deviation_code}"))
    assert (deviation["kind"], deviation["state"], deviation["analyst"]) == (
        "em_excursion", "open_phase1", "analyst"
    )  # fmt: skip
    assert deviation["impact"]["room"] == "FILL-B"
    # Whoever counted cannot investigate; QA closes through the usual deviation workflow.
    reviewed = {"signature": plant.signature("reviewer", "reviewed")}
    step = {"conclusion": "no_assignable_cause", "reason": "Sampling technique checked."}
    ok(plant.call("reviewer", "POST", f"/deviations/{deviation_code}/phase1", json=step | reviewed))
    step2 = {"conclusion": "confirmed", "rationale": "HEPA filter leak at the filler."}
    ok(
        plant.call(
            "reviewer", "POST", f"/deviations/{deviation_code}/phase2", json=step2 | reviewed
        )
    )
    closure = {"reason": "Filter replaced, requalified.", "capa": "CAPA-EM-1",
               "signature": plant.signature("qa")}  # fmt: skip
    closed = ok(plant.call("qa", "POST", f"/deviations/{deviation_code}/closure", json=closure))
    assert closed["state"] == "closed" and len(closed["signatures"]) == 3
    refused(plant.call("analyst", "POST", f"/em/samples/{samples['A-AIR']}/count",
                       json={"count": "1"}), 409, "em.sample_already_counted")  # fmt: skip
    audited = [e["action"] for e in trail(plant, "em_sample", samples["A-P05"])]
    assert audited == ["em_sample.counted"]


def test_a_run_of_alerts_at_a_point_opens_a_deviation(plant: Plant) -> None:
    settle_alert(plant, 3, NOW - timedelta(days=10))
    first = start_round(plant, "R-FILL", NOW - timedelta(days=2))
    second = start_round(plant, "R-FILL", NOW - timedelta(days=1))
    count(plant, first["B-SETTLE"], "4")
    assert count(plant, second["B-SETTLE"], "5")["outcome"] == "alert_exceeded"  # 5 is within 5
    excursions = ok(plant.call("auditor", "GET", "/em/excursions"))["items"]
    assert [x["deviation"] is not None for x in excursions] == [True, False]  # newest first


def test_a_count_is_judged_by_the_version_in_force_when_it_was_sampled(
    plant: Plant, clock: ManualClock
) -> None:
    settle_alert(plant, 3, NOW - timedelta(days=10))
    earlier = start_round(plant, "R-FILL", NOW - timedelta(days=5))
    tighter = settle_alert(plant, 1, NOW)  # in force from now on
    clock.advance(hours=2)
    plant.tokens.clear()  # the tokens expired meanwhile
    later = start_round(plant, "R-FILL", NOW + timedelta(hours=1))
    old = count(plant, earlier["B-SETTLE"], "2")
    new = count(plant, later["B-SETTLE"], "2")
    assert (old["outcome"], old["alert_limit"]) == ("within", 3)
    assert (new["outcome"], new["alert_limit"], new["limit_version"]) == (
        "alert_exceeded", 1, tighter
    )  # fmt: skip
    backdated = set_limit(plant, grade="B", state="in-operation", sample_type="settle", alert=2,
                          effective_from=iso(NOW - timedelta(days=6)))  # fmt: skip
    refused(backdated, 409, "em.limit_backdated_over_results", "effective_from")


def occupy(plant: Plant, batch: str, location: str, start: datetime, end: datetime) -> None:
    body = {"batch": batch, "location": location, "from_at": iso(start), "to_at": iso(end)}
    ok(plant.call("mes", "POST", "/em/occupancy", json=body), 201)


def test_the_impact_list_names_the_rooms_equipment_and_batches_in_the_window(
    plant: Plant,
) -> None:
    day = timedelta(days=1)
    earlier = start_round(plant, "R-FILL", NOW - 2 * day)
    count(plant, earlier["A-P05"], "1000")  # within: the window starts here
    excursion_round = start_round(plant, "R-FILL", NOW - day / 2)
    count(plant, excursion_round["A-P05"], "5000")
    occupy(plant, "B1", "FILL-B", NOW - day, NOW - day / 2)  # in the room, in the window
    occupy(plant, "B2", "PREP-C", NOW - day, NOW - day / 2)  # another room
    occupy(plant, "B2", "FILL-A", NOW - 5 * day, NOW - 4 * day)  # before the window
    request = {"mes_request_id": "REQ-EM-1", "product": "P1", "batch": "B3",
               "sampled_at": iso(NOW - day), "sampling_point": "SP-REL",
               "equipment": "FILLER-1"}  # fmt: skip
    ok(plant.call("mes", "POST", "/sample-requests", json=request), 201)
    excursion = ok(plant.call("auditor", "GET", "/em/excursions"))["items"][0]
    impact = ok(plant.call("auditor", "GET", f"/em/excursions/{excursion['code']}/impact"))
    assert impact["room"] == "FILL-B" and impact["locations"] == ["FILL-A", "FILL-B"]
    assert {e["code"] for e in impact["equipment"]} == {"FILLER-1", "RABS-1"}
    batches = {b["batch"]: [e["via"] for e in b["evidence"]] for b in impact["batches"]}
    assert batches == {"B1": ["occupancy"], "B3": ["sample"]}
    window = impact["window"]
    assert datetime.fromisoformat(window["from"]) == NOW - 2 * day
    assert (window["from_basis"], window["to_basis"]) == ("last_within_sample", "now")
    for batch, reached in (("B1", True), ("B2", False)):  # review by exception shows it too
        review = ok(plant.call("qa", "GET", f"/batches/{batch}/review"))
        flagged = [i for i in review["items"] if i["kind"] == "em_excursion"]
        assert [i["excursion"] for i in flagged] == ([excursion["code"]] if reached else [])
    assert "room FILL-B" in flagged_why(plant, "B1")

    after = start_round(plant, "R-FILL", NOW - day / 4)
    count(plant, after["A-P05"], "100")  # back within: the window ends at the excursion
    closed = ok(plant.call("auditor", "GET", f"/em/excursions/{excursion['code']}/impact"))
    assert datetime.fromisoformat(closed["window"]["to"]) == NOW - day / 2
    assert closed["window"]["to_basis"] == "excursion"


def test_bad_input_names_the_field_and_the_reason(plant: Plant) -> None:
    samples = start_round(plant, "R-FILL", NOW - timedelta(hours=1))
    air = f"/em/samples/{samples['A-AIR']}/count"
    refused(plant.call("analyst", "POST", air, json={"count": "1.5"}), 422, "em.count_not_whole",
            "count")  # fmt: skip
    refused(plant.call("analyst", "POST", air, json={"count": "-1"}), 422,
            "input.greater_than_equal", "count")  # fmt: skip
    future = {"count": "0", "sampled_at": iso(NOW + timedelta(hours=1))}
    refused(plant.call("analyst", "POST", air, json=future), 422, "em.sampled_in_future",
            "sampled_at")  # fmt: skip
    refused(plant.call("analyst", "POST", "/em/samples/EMS-999999/count", json={"count": "0"}),
            404, "em_sample.unknown", "em_sample")  # fmt: skip
    point = {"code": "X", "location": "NOWHERE", "sample_type": "air", "description": "x",
             "reason": "CC-EM-9: trial"}  # fmt: skip
    refused(plant.call("qa", "POST", "/em/points", json=point), 404, "em_location.unknown",
            "location")  # fmt: skip
    route = {"code": "R-X", "name": "x", "points": ["A-AIR", "A-AIR"], "reason": "CC-EM-9: trial"}
    refused(plant.call("qa", "POST", "/em/routes", json=route), 422, "em.route_point_repeated",
            "points")  # fmt: skip
    graded = {"location": "FILL-A", "grade": "E", "room": "FILL-B", "reason": "CC-EM-9: trial"}
    refused(plant.call("qa", "POST", "/em/locations", json=graded), 422, "input.enum", "grade")
    stay = {
        "batch": "B1",
        "location": "FILL-B",
        "from_at": iso(NOW),
        "to_at": iso(NOW - timedelta(1)),
    }
    refused(plant.call("mes", "POST", "/em/occupancy", json=stay), 422,
            "em.occupancy_ends_before_start", "to_at")  # fmt: skip


def test_each_role_does_only_its_part(plant: Plant) -> None:
    graded = {"location": "FILL-A", "grade": "A", "room": "FILL-B", "reason": "CC-EM-9: trial"}
    refused(plant.call("analyst", "POST", "/em/locations", json=graded), 403,
            "access.missing_permission", "manage_em")  # fmt: skip
    samples = start_round(plant, "R-PREP", NOW - timedelta(hours=1))
    counted = f"/em/samples/{samples['C-CONTACT']}/count"
    refused(plant.call("production", "POST", counted, json={"count": "0"}), 403,
            "access.missing_permission", "record_em")  # fmt: skip
    stay = {"batch": "B1", "location": "FILL-B", "from_at": iso(NOW)}
    refused(plant.call("analyst", "POST", "/em/occupancy", json=stay), 403,
            "access.missing_permission", "report_occupancy")  # fmt: skip
    ok(plant.call("production", "POST", "/em/occupancy", json=stay), 201)


def test_due_schedules_start_their_rounds_once(plant: Plant) -> None:
    schedule = {"code": "S-PREP", "route": "R-PREP", "state": "at-rest", "frequency": "shift",
                "next_due": iso(NOW - timedelta(hours=1)), "reason": "CC-EM-1: set"}  # fmt: skip
    ok(plant.call("qa", "POST", "/em/schedules", json=schedule), 201)
    started = ok(plant.call("analyst", "POST", "/em/due-rounds"))["started"]
    assert len(started) == 1
    assert ok(plant.call("analyst", "POST", "/em/due-rounds"))["started"] == []
    em_round = ok(plant.call("auditor", "GET", f"/em/rounds/{started[0]}"))
    assert em_round["schedule"] == "S-PREP" and em_round["state"] == "at-rest"
    assert [s["point"] for s in em_round["samples"]] == ["C-CONTACT"]
    config = ok(plant.call("auditor", "GET", "/em/config"))
    next_due = datetime.fromisoformat(config["schedules"][0]["next_due"])
    assert next_due == NOW + timedelta(hours=7)


def test_whoever_counted_cannot_investigate_the_deviation(plant: Plant, hub: Hub) -> None:
    samples = start_round(plant, "R-FILL", NOW - timedelta(hours=1))
    # A reviewer who also read the plate (through the bus: the route admits analysts only).
    hub.bus.handle(em.RecordEmCount(c.Context("reviewer"), SITE, samples["A-AIR"], Decimal(2)))
    deviation = ok(plant.call("auditor", "GET", "/em/excursions"))["items"][0]["deviation"]
    step = {"conclusion": "no_assignable_cause", "reason": "CC-EM-9: trial",
            "signature": plant.signature("reviewer", "reviewed")}  # fmt: skip
    answer = plant.call("reviewer", "POST", f"/deviations/{deviation}/phase1", json=step)
    refused(answer, 403, "deviation.investigator_is_analyst", "signature.username")


def flagged_why(plant: Plant, batch: str) -> str:
    review = ok(plant.call("qa", "GET", f"/batches/{batch}/review"))
    assert review["ready_by_exception"] is False
    [item] = [i for i in review["items"] if i["kind"] == "em_excursion"]
    return str(item["why"])


def test_an_open_em_deviation_reaching_a_batch_stops_its_release(plant: Plant) -> None:
    day = timedelta(days=1)
    count(plant, start_round(plant, "R-FILL", NOW - 2 * day)["A-P05"], "1000")
    count(plant, start_round(plant, "R-FILL", NOW - day / 2)["A-P05"], "5000")  # action
    occupy(plant, "B1", "FILL-B", NOW - day, NOW - day / 2)
    sample = request_sample(plant, "REQ-REL")  # batch B1, its release panel all in spec
    for test, value, unit in RELEASE_PANEL:
        approved_result(plant, sample, test, value, unit)
    deviation = ok(plant.call("auditor", "GET", "/em/excursions"))["items"][0]["deviation"]

    def release() -> Response:
        body = {"signature": plant.signature("qa", "released")}
        return plant.call("qa", "POST", "/batches/B1/release", json=body)

    held = release()
    assert (held.status_code, held.json()["reason"]) == (409, "release.on_hold")
    assert deviation in held.json()["detail"]

    def step(user: str, name: str, meaning: str, **body: str) -> None:
        body_ = {**body, "signature": plant.signature(user, meaning)}
        ok(plant.call(user, "POST", f"/deviations/{deviation}/{name}", json=body_))

    step("reviewer", "phase1", "reviewed", conclusion="no_assignable_cause", reason="Plate read OK")
    step("reviewer", "phase2", "reviewed", conclusion="confirmed", rationale="Door left open")
    step("qa", "closure", "approved", reason="Batch assessed: no impact", capa="CAPA-0077")
    released = release()
    assert released.status_code == 200, released.text
