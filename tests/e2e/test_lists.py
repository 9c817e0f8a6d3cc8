"""Lists to find one's work, through HTTP on SQLite and PostgreSQL: sites, batches, the review
queue, samples and the outbox; filters, stable cursor pages with inserts between them, bounds."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fakes import ManualClock
from labgate.bootstrap import Hub
from labgate.entrypoints.api.paging import encode_cursor
from plant import (
    PLANT,
    SITE,
    Plant,
    SeededPlant,
    approved_result,
    released_batch,
    request_sample,
)


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def get(plant: Plant, path: str, user: str = "auditor", **params: Any) -> dict[str, Any]:
    answer = plant.call(user, "GET", path, params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def follow(plant: Plant, page: dict[str, Any], user: str = "auditor") -> dict[str, Any]:
    """The next page through the `next` link, as a client would."""
    answer = plant.client.get(page["next"], headers=plant.headers(user))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def add_batches(plant: Plant, *codes: str) -> None:
    batches = [{"code": code, "product": "P1", "procedure": "PROC1",
                "started_at": "2026-11-03T08:00:00+00:00"} for code in codes]  # fmt: skip
    body = {"document": {"site": PLANT["site"], "batches": batches}, "reason": "CR-15: new batches"}
    answer = plant.call("admin", "POST", "/api/v1/masterdata/import", json=body)
    assert answer.status_code == 200, answer.text


def enter(plant: Plant, sample: str, test: str, value: str, unit: str | None, who: str) -> str:
    body = {"sample": sample, "test_code": test, "value": value, "unit": unit,
            "method_version": "1", "analyst": who}  # fmt: skip
    answer = plant.call(who, "POST", "/results", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["results"][-1]["code"])


def site_scoped_gets(client: TestClient) -> list[str]:
    paths = client.get("/openapi.json").json()["paths"]
    return [path for path, ops in paths.items() if "{site}" in path and "get" in ops]


def test_an_unknown_site_is_404_on_every_site_scoped_get(plant: Plant) -> None:
    paths = site_scoped_gets(plant.client)
    assert len(paths) >= 30, paths  # the OpenAPI really lists them
    for path in paths:
        url = re.sub(r"\{(\w+)\}", lambda m: "NOPE" if m[1] == "site" else "1", path)
        answer = plant.call("auditor", "GET", url)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert (answer.json()["reason"], answer.json()["field"]) == ("site.unknown", "site"), path
    # The caller is known before the site is looked up: no probing for sites without signing in.
    anonymous = plant.client.get("/api/v1/sites/NOPE/samples")
    assert (anonymous.status_code, anonymous.json()["reason"]) == (401, "auth.missing")
    # A known site goes on to the route's own answer.
    known = plant.call("auditor", "GET", "/batches/NOPE")
    assert (known.status_code, known.json()["reason"]) == (404, "batch.unknown")


def test_sites_lists_the_plant(plant: Plant) -> None:
    assert get(plant, "/api/v1/sites")["items"] == [{"code": SITE, "name": "Test plant"}]
    assert plant.client.get("/api/v1/sites").status_code == 401


def test_batches_filter_by_product_hold_and_disposition(plant: Plant) -> None:
    released_batch(plant, "REQ-REL")  # B1 released
    oos = request_sample(plant, "REQ-OOS", batch="B2")
    approved_result(plant, oos, "ASSAY", "90.0", "%")  # out of spec: OOS, B2 on hold
    add_batches(plant, "B3")

    def codes(**params: Any) -> list[str]:
        return [b["code"] for b in get(plant, "/batches", **params)["items"]]

    assert codes() == ["B3", "B2", "B1"]  # newest first
    assert codes(disposition="released") == ["B1"]
    assert codes(disposition="pending") == ["B3", "B2"]
    assert codes(disposition="rejected") == []
    assert codes(on_hold="true") == ["B2"]
    assert codes(on_hold="false") == ["B3", "B1"]
    assert codes(product="P1", on_hold="false", disposition="pending") == ["B3"]
    assert codes(product="P9") == []
    b2 = get(plant, "/batches", on_hold="true")["items"][0]
    assert b2 == {"code": "B2", "product": "P1", "procedure": "PROC1",
                  "started_at": "2026-11-02T08:00:00Z", "on_hold": True,
                  "disposition": "pending"}  # fmt: skip


def test_batch_pages_stay_stable_with_batches_inserted_between_them(plant: Plant) -> None:
    add_batches(plant, "B3", "B4", "B5")
    first = get(plant, "/batches", limit=2)
    assert [b["code"] for b in first["items"]] == ["B5", "B4"]
    add_batches(plant, "B6", "B7")  # newer: at the head, never shifting the pages after
    second = follow(plant, first)
    assert [b["code"] for b in second["items"]] == ["B3", "B2"]
    last = follow(plant, second)
    assert ([b["code"] for b in last["items"]], last["next"], last["next_cursor"]) == (
        ["B1"],
        None,
        None,
    )
    assert [b["code"] for b in get(plant, "/batches", limit=2)["items"]] == ["B7", "B6"]


def test_results_awaiting_review_filter_order_and_age(plant: Plant, clock: ManualClock) -> None:
    s1 = request_sample(plant, "REQ-1", batch="B1")
    s2 = request_sample(plant, "REQ-2", batch="B2")
    old = enter(plant, s1, "ASSAY", "99.5", "%", "analyst")
    clock.advance(hours=3)
    plant.tokens.clear()  # the tokens issued three hours ago have expired
    water = enter(plant, s2, "WATER", "3.0", "mg/g", "analyst2")
    approved = approved_result(plant, s2, "ASSAY", "99.7", "%")  # reviewed: not in the queue
    cancelled = request_sample(plant, "REQ-3", batch="B2")
    enter(plant, cancelled, "ASSAY", "99.1", "%", "analyst")
    gone = {"reason": "Container broken in transit; resampled as REQ-4."}
    answer = plant.call("production", "POST", f"/samples/{cancelled}/cancellation", json=gone)
    assert answer.status_code == 200, answer.text

    def queue(**params: Any) -> list[str]:
        return [r["result"] for r in get(plant, "/results/awaiting-review", **params)["items"]]

    assert queue() == [old, water]  # longest waiting first; approved and cancelled left out
    assert approved not in queue()
    assert queue(batch="B2") == [water]
    assert queue(test_code="ASSAY") == [old]
    assert queue(analyst="analyst2") == [water]
    assert queue(product="P1", min_age_hours=2) == [old]
    assert queue(product="P9") == []
    item = get(plant, "/results/awaiting-review", batch="B1")["items"][0]
    assert {k: item[k] for k in ("sample", "batch", "test_code", "raw_value", "analyst")} == {
        "sample": s1, "batch": "B1", "test_code": "ASSAY", "raw_value": "99.5",
        "analyst": "analyst"}  # fmt: skip


def test_review_queue_pages_keep_their_order_with_results_entered_between(plant: Plant) -> None:
    sample = request_sample(plant, "REQ-1")
    entered = [enter(plant, sample, test, v, u, "analyst")
               for test, v, u in (("ASSAY", "99.5", "%"), ("WATER", "3.0", "mg/g"))]  # fmt: skip
    first = get(plant, "/results/awaiting-review", limit=1)
    assert [r["result"] for r in first["items"]] == entered[:1]
    entered.append(enter(plant, sample, "APPEAR", "White tablet", None, "analyst"))
    second = follow(plant, first)
    third = follow(plant, second)
    assert [r["result"] for r in second["items"] + third["items"]] == entered[1:]
    assert third["next"] is None


def test_deviations_page_newest_first_by_state_and_batch(plant: Plant) -> None:
    for n, batch in enumerate(("B1", "B2")):  # an OOS each: DEV-000001 on B1, DEV-000002 on B2
        approved_result(plant, request_sample(plant, f"REQ-{n}", batch=batch), "ASSAY", "90", "%")
    first = get(plant, "/deviations", state="open", limit=1)
    assert [(d["code"], d["batch"], d["state"]) for d in first["items"]] == [
        ("DEV-000002", "B2", "open_phase1")
    ]
    approved_result(plant, request_sample(plant, "REQ-3", batch="B1"), "ASSAY", "91", "%")
    rest = follow(plant, first)
    assert ([d["code"] for d in rest["items"]], rest["next"]) == (["DEV-000001"], None)
    assert [d["code"] for d in get(plant, "/deviations", batch="B1")["items"]] == [
        "DEV-000003",
        "DEV-000001",
    ]
    assert get(plant, "/deviations", state="closed")["items"] == []


def test_samples_filters_and_pages(plant: Plant) -> None:
    made = [request_sample(plant, f"REQ-{n}", batch=b) for n, b in enumerate(("B1", "B2", "B2"))]
    gone = {"reason": "Container broken in transit; resampled."}
    answer = plant.call("production", "POST", f"/samples/{made[2]}/cancellation", json=gone)
    assert answer.status_code == 200, answer.text

    def codes(**params: Any) -> list[str]:
        return [s["code"] for s in get(plant, "/samples", **params)["items"]]

    assert codes() == made[::-1]
    assert codes(batch="B2") == [made[2], made[1]]
    assert codes(status="cancelled") == [made[2]]
    assert codes(batch="B2", status="registered") == [made[1]]
    assert codes(sampling_point="SP-REL", product="P1") == made[::-1]
    window = codes(sampled_from="2026-11-24T10:00:00Z", sampled_to="2026-11-24T10:00:01Z")
    assert window == made[::-1]
    assert codes(sampled_from="2026-11-25T00:00:00Z") == []
    first = get(plant, "/samples", limit=2)
    newer = request_sample(plant, "REQ-NEW")
    rest = follow(plant, first)
    assert [s["code"] for s in first["items"] + rest["items"]] == made[::-1]
    assert newer in codes(limit=1)


def test_outbox_newest_first_by_status_with_a_cursor(plant: Plant) -> None:
    for n in range(3):
        request_sample(plant, f"REQ-{n}")
    oldest = get(plant, "/api/v1/outbox", limit=500)["items"]
    ids = [m["id"] for m in oldest]
    assert ids == sorted(ids) and len(ids) >= 3  # oldest first, as before
    first = get(plant, "/api/v1/outbox", order="newest", status="pending", limit=1)
    assert [m["id"] for m in first["items"]] == ids[::-1][:1]
    request_sample(plant, "REQ-LATE")
    pages, page = [first], first
    while page["next"]:
        page = follow(plant, page)
        pages.append(page)
    assert [m["id"] for p in pages for m in p["items"]] == ids[::-1]
    assert get(plant, "/api/v1/outbox", status="delivered")["items"] == []
    assert {m["status"] for m in get(plant, "/api/v1/outbox", status="pending")["items"]} == {
        "pending"
    }
    # A cursor belongs to its list and its order: another is refused by name, not misread.
    wrong = plant.call("auditor", "GET", "/api/v1/outbox", params={"cursor": first["next_cursor"]})
    assert wrong.status_code == 422
    assert (wrong.json()["reason"], wrong.json()["field"]) == ("page.cursor_invalid", "cursor")


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/batches", {"limit": 0}, "limit"),
        ("/batches", {"limit": 501}, "limit"),
        ("/samples", {"limit": 501}, "limit"),
        ("/results/awaiting-review", {"limit": 0}, "limit"),
        ("/results/awaiting-review", {"min_age_hours": -1}, "min_age_hours"),
        ("/api/v1/outbox", {"limit": 1001}, "limit"),
        ("/batches", {"cursor": "not-a-cursor"}, "cursor"),
        ("/batches", {"cursor": encode_cursor("batches", 2**64)}, "cursor"),
        ("/samples", {"cursor": "eyJsaXN0IjoiYmF0Y2hlcyIsImFmdGVyIjoxfQ"}, "cursor"),
        ("/batches", {"disposition": "maybe"}, "disposition"),
        ("/deviations", {"limit": 501}, "limit"),
        ("/samples", {"sampled_from": "2026-11-24T10:00:00"}, "sampled_from"),
    ],
)
def test_list_bounds_are_refused_by_field(
    plant: Plant, path: str, params: dict[str, Any], field: str
) -> None:
    answer = plant.call("auditor", "GET", path, params=params)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["field"] == field


def test_lists_are_typed_in_the_openapi(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/sites",
        "/api/v1/sites/{site}/batches",
        "/api/v1/sites/{site}/results/awaiting-review",
        "/api/v1/sites/{site}/samples",
        "/api/v1/outbox",
        "/api/v1/sites/{site}/deviations",
    ):
        schema = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema["$ref"].startswith("#/components/schemas/"), path
