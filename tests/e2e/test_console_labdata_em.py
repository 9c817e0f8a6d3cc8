"""The console's environmental-monitoring pages over HTTP on both databases: schedules due as
the scheduler decides, the rounds, a round's samples, the excursions and an excursion's impact
list exactly as the API answers them; the due rounds started; a count entered exactly as typed
through RecordEmCount, its refusals shown with the field and reason code, a role without the
permission refused 403 and audited, a post without its CSRF token refused."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from test_console import csrf_of, sign_in, trail
from test_em_monitoring import LOCATIONS, NOW, POINTS, ROOMS, iso, occupy, ok, start_round

from labgate.bootstrap import Hub
from labgate.domain import commands as c
from plant import Plant, SeededPlant

BASE = "/console/sites/T1/em"
DAY = timedelta(days=1)


@pytest.fixture
def plant(hub: Hub, client: Any, seeded_plant: SeededPlant) -> Plant:
    """The EM API tests' filling suite: graded rooms, points, two routes; one schedule due."""
    seeded = seeded_plant.on(client)
    hub.bus.handle(c.ImportMasterData(c.Context("admin"), ROOMS, "CR-9: filling suite"))
    why = {"reason": "CC-EM-1: cleanroom qualification"}
    for location, grade, room in LOCATIONS:
        body = {"location": location, "grade": grade, "room": room, "lookback_days": 3}
        ok(seeded.call("qa", "POST", "/em/locations", json=body | why), 201)
    for code, location, kind, run in POINTS:
        body = {"code": code, "location": location, "sample_type": kind,
                "description": f"{kind} at {location}", "alerts_to_deviation": run}  # fmt: skip
        ok(seeded.call("qa", "POST", "/em/points", json=body | why), 201)
    for code, points in (("R-FILL", ["A-AIR", "B-SETTLE", "A-P05"]), ("R-PREP", ["C-CONTACT"])):
        ok(seeded.call("qa", "POST", "/em/routes", json={"code": code, "name": code,
                                                         "points": points} | why), 201)  # fmt: skip
    for code, route, due in (("S-FILL", "R-FILL", NOW - DAY / 24), ("S-PREP", "R-PREP", NOW + DAY)):
        body = {"code": code, "route": route, "state": "in-operation", "frequency": "daily",
                "next_due": iso(due)}  # fmt: skip
        ok(seeded.call("qa", "POST", "/em/schedules", json=body | why), 201)
    return seeded


def test_rounds_a_round_excursions_and_the_impact_list_are_the_apis(plant: Plant) -> None:
    samples = start_round(plant, "R-FILL", NOW - DAY / 2)
    ok(
        plant.call(
            "analyst", "POST", f"/em/samples/{samples['A-P05']}/count", json={"count": "5000"}
        )
    )  # fmt: skip  (action excursion of grade A particles)
    occupy(plant, "B1", "FILL-B", NOW - DAY, NOW - DAY / 2)
    sign_in(plant.client, "production", plant.passwords["production"])
    page = plant.client.get(BASE)
    assert page.status_code == 200, page.text
    schedules = ok(plant.call("qa", "GET", "/em/config"))["schedules"]
    due = re.findall(r'<tr data-schedule="([^"]+)" data-due="(\w+)"', page.text)
    assert due == [(s["code"], "true" if s["code"] == "S-FILL" else "false") for s in schedules]
    (em_round,) = re.findall(r'<tr data-round="([^"]+)"', page.text)
    assert "Start the due rounds" not in page.text  # production may not record EM

    view = ok(plant.call("qa", "GET", f"/em/rounds/{em_round}"))
    html = plant.client.get(f"{BASE}/rounds/{em_round}").text
    shown = re.findall(r'<tr data-em-sample="([^"]+)" data-status="(\w+)"', html)
    assert shown == [(s["code"], s["status"]) for s in view["samples"]]
    counted = next(s for s in view["samples"] if s["status"] == "counted")
    assert re.search(rf'data-em-sample="{counted["code"]}".*?data-count>5000 <', html, re.S)
    assert counted["counted_at_local"] in html and "count-form" not in html

    listed = ok(plant.call("qa", "GET", "/em/excursions"))["items"]
    excursions = plant.client.get(f"{BASE}/excursions").text
    assert re.findall(r'<tr data-excursion="([^"]+)"', excursions) == [x["code"] for x in listed]
    code = listed[0]["code"]
    impact = ok(plant.call("qa", "GET", f"/em/excursions/{code}/impact"))
    html = plant.client.get(f"{BASE}/excursions/{code}").text
    batches = re.findall(r'<tr data-impact-batch="([^"]+)">\s*<td><a href="([^"]+)"', html)
    linked = [(b["batch"], f"/console/sites/T1/batches/{b['batch']}") for b in impact["batches"]]
    assert batches == linked == [("B1", "/console/sites/T1/batches/B1")]
    assert 'data-outcome="action_exceeded"' in html and "data-count>5000" in html


def _count(html: str, value: str) -> dict[str, str]:
    return {"csrf_token": csrf_of(html), "count": value, "sampled_at": ""}


def test_counts_are_entered_exactly_and_refusals_name_the_field_and_reason(
    plant: Plant, hub: Hub
) -> None:
    sign_in(plant.client, "analyst", plant.passwords["analyst"])
    board = plant.client.get(BASE).text
    started = plant.client.post(f"{BASE}/due-rounds", data={"csrf_token": csrf_of(board)},
                                follow_redirects=False)  # fmt: skip
    assert started.status_code == 303, started.text
    (em_round,) = re.findall(r"started=([A-Z0-9-]+)$", started.headers["location"])
    view = ok(plant.call("qa", "GET", f"/em/rounds/{em_round}"))
    assert view["schedule"] == "S-FILL"
    samples = {s["point"]: s["code"] for s in view["samples"]}
    here = f"{BASE}/rounds/{em_round}"
    page = plant.client.get(here).text
    post = f"{BASE}/samples/{samples['A-P05']}/count"

    for typed, status, reason in (
        ("12,5", 422, "number.malformed"),
        ("-1", 422, "em.count_negative"),
    ):
        answer = plant.client.post(post, data=_count(page, typed))
        assert answer.status_code == status, answer.text
        assert f'data-reason="{reason}"' in answer.text and "<code>count</code>" in answer.text
        assert f'value="{typed}" aria-invalid="true"' in answer.text  # kept, marked
    (malformed,) = trail(hub, "refused.console.em_count")  # the bus audits its own refusals
    assert (malformed["actor"], malformed["after"]) == (
        "analyst", {"reason_code": "number.malformed", "field": "count"}
    )  # fmt: skip
    settle = f"{BASE}/samples/{samples['B-SETTLE']}/count"
    whole = plant.client.post(settle, data=_count(page, "2.5"))
    assert whole.status_code == 422 and 'data-reason="em.count_not_whole"' in whole.text

    future = plant.client.post(post, data=_count(page, "1") | {"sampled_at": "2030-01-01T10:00"})
    assert future.status_code == 422 and 'data-reason="em.sampled_in_future"' in future.text
    assert 'value="2030-01-01T10:00" aria-invalid="true"' in future.text

    typed = _count(page, "1200.50") | {"sampled_at": "2026-11-25T08:30:15"}  # site time
    entered = plant.client.post(post, data=typed, follow_redirects=False)
    assert entered.status_code == 303, entered.text
    assert entered.headers["location"] == f"{here}?counted={samples['A-P05']}"
    stored = ok(plant.call("qa", "GET", f"/em/samples/{samples['A-P05']}"))
    assert (stored["count"], stored["counted_by"]) == ("1200.50", "analyst")  # as typed
    assert stored["sampled_at_local"].startswith("2026-11-25 08:30:15 ")
    html = plant.client.get(entered.headers["location"]).text
    assert "data-count>1200.50 <" in html
    again = plant.client.post(post, data=_count(html, "7"))
    assert again.status_code == 409 and "em.sample_already_counted" in again.text
    assert plant.client.post(settle, data=_count(html, "1") | {"csrf_token": ""}).status_code == 403

    sign_in(plant.client, "qa", plant.passwords["qa"])
    forged = plant.client.post(settle, data=_count(plant.client.get(here).text, "1"))
    assert forged.status_code == 403 and "Not allowed" in forged.text
    assert [e["actor"] for e in trail(hub, "refused.console.em_count")][-1] == "qa"
    assert ok(plant.call("qa", "GET", f"/em/samples/{samples['B-SETTLE']}"))["status"] == "planned"
