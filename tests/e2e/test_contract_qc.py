"""The typed answers of environmental monitoring, stability studies and raw materials, held to
the app's own OpenAPI: every 2xx answer of these operations is checked against the schema its
operation documents (JSON by the schema, undeclared members refused; PDF, PNG and HTML by their
documented media type), every operation is called at least once, the lists page by cursor, and
the detail views people read carry site-local times and printed names. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import test_em_monitoring as em_flow
import test_raw_materials as rm_flow
import test_stability_studies as st_flow
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from httpx2 import Response
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from labgate.bootstrap import Hub
from labgate.domain import commands as c
from labgate.entrypoints.api.answers.raw_materials import LotView
from labgate.entrypoints.api.routes import em, raw_materials, stability
from plant import PLANT, SITE, Plant, approved_result, seed

ZONE = "Europe/Zurich"  # +01:00 in winter, +02:00 in summer: the local times say which


def operations(module: Any) -> set[tuple[str, str]]:
    """(method, path) of every operation of a route module."""
    routes = [r for r in module.router.routes if isinstance(r, APIRoute)]
    return {(method, route.path) for route in routes for method in route.methods}


OURS = operations(em) | operations(raw_materials) | operations(stability)


class Checked:
    """Checks every 2xx answer against the OpenAPI of the operation that gave it."""

    def __init__(self, app: FastAPI) -> None:
        self.spec = app.openapi()
        self.paths = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path)
            for path in self.spec["paths"]
        ]
        self.seen: set[tuple[str, str]] = set()

    def operation(self, method: str, url: str) -> tuple[str, dict[str, Any]]:
        path = url.split("?", 1)[0].removeprefix("http://testserver")
        matched = [template for pattern, template in self.paths if pattern.match(path)]
        assert matched, (method, path)
        # `/results/awaiting-review` also fits `/results/{result}`: the literal path is the route.
        template = min(matched, key=lambda t: t.count("{"))
        return template, self.spec["paths"][template].get(method.lower(), {})

    def check(self, method: str, url: str, answer: Response) -> None:
        path, operation = self.operation(method, url)
        if (method.upper(), path) not in OURS:
            return  # other modules' operations are held to their contract by their own tests
        if answer.status_code >= 400:
            self.check_refusal(method, path, operation, answer)
            return
        documented = operation["responses"][str(answer.status_code)]["content"]
        media = answer.headers["content-type"].split(";")[0]
        assert media in documented, (method, path, media, list(documented))
        if media == "application/json":
            errors = self.errors(documented[media]["schema"], answer.json())
            assert not errors, (method, path, errors)
        self.seen.add((method.upper(), path))

    def check_refusal(
        self, method: str, path: str, operation: dict[str, Any], answer: Response
    ) -> None:
        """A refusal's status and reason code are among those its operation documents."""
        status, problem = answer.status_code, answer.json()
        documented = operation["responses"].get(str(status))
        assert documented is not None, (method, path, status, problem["reason"])
        schema = documented["content"]["application/problem+json"]["schema"]
        assert not self.errors(schema, problem), (method, path, status, problem["reason"])

    def errors(self, schema: dict[str, Any], value: Any) -> list[str]:
        """What in `value` the schema refuses; its $refs resolve in the whole OpenAPI."""
        rooted = {**schema, "components": self.spec["components"]}
        validator = Draft202012Validator(rooted)
        return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(value)]

    def missing(self, module: Any) -> set[tuple[str, str]]:
        """The module's operations no checked answer came from."""
        return operations(module) - self.seen


@pytest.fixture
def checked(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> Checked:
    """Every answer through the test client checked, from the plant's seeding on."""
    checker = Checked(client.app)  # type: ignore[arg-type]
    send = client.request

    def request(method: str, url: Any, *args: Any, **kwargs: Any) -> Response:
        answer = send(method, url, *args, **kwargs)
        checker.check(method, str(url), answer)
        return answer

    monkeypatch.setattr(client, "request", request)
    return checker


def open_objects(spec: dict[str, Any], node: Any, seen: set[str]) -> Iterator[Any]:
    """Every object schema under `node` that lets any member through, following $refs."""
    if isinstance(node, list):
        for item in node:
            yield from open_objects(spec, item, seen)
    if not isinstance(node, dict):
        return
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            seen.add(name)
            yield from open_objects(spec, spec["components"]["schemas"][name], seen)
        return
    untyped = node.get("type") == "object" and not {"properties", "additionalProperties"} & set(
        node
    )
    if node.get("additionalProperties") is True or untyped or node == {}:
        yield node
    for value in node.values():
        yield from open_objects(spec, value, seen)


def test_every_answer_is_typed_in_the_openapi(client: TestClient) -> None:
    spec = client.app.openapi()  # type: ignore[attr-defined]
    for method, path in sorted(OURS):
        for status, answer in spec["paths"][path][method.lower()]["responses"].items():
            if not status.startswith("2"):
                continue
            content = answer["content"]
            binary = {"type": "string", "format": "binary"}
            if path.endswith("/plot"):
                assert content == {"image/png": {"schema": binary}}
                continue
            if path.endswith("/report"):
                assert content["application/pdf"]["schema"] == binary
                assert content["text/html"]["schema"] == {"type": "string"}
            schema = content["application/json"]["schema"]
            assert "$ref" in schema, (method, path, schema)
            assert list(open_objects(spec, schema, set())) == [], (method, path)


def zoned(plant: Plant) -> None:
    """The site in Zurich: its readers see times there."""
    body = {"document": {"site": {**PLANT["site"], "time_zone": ZONE}}, "reason": "CR-15: zone"}
    assert plant.call("admin", "POST", "/api/v1/masterdata/import", json=body).status_code == 200


def ok(answer: Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def pages(plant: Plant, path: str, **params: Any) -> Iterator[dict[str, Any]]:
    """Every page of a list, one item a page, following `next` as a client would."""
    page = ok(plant.call("auditor", "GET", path, params={**params, "limit": 1}))
    yield page
    while page["next"] is not None:
        assert page["next_cursor"] in page["next"]
        page = ok(plant.client.request("GET", page["next"], headers=plant.headers("auditor")))
        yield page


def listed(plant: Plant, path: str, key: str = "code", **params: Any) -> list[Any]:
    """The keys of every item of a list, page by page; each page holds one."""
    found = []
    for page in pages(plant, path, **params):
        assert len(page["items"]) <= 1 and page["limit"] == 1
        found += [item[key] for item in page["items"]]
    return found


def refused(answer: Response, status: int, reason: str) -> None:
    """Refused as expected; the checked client has held it to the operation's document."""
    assert (answer.status_code, answer.json()["reason"]) == (status, reason), answer.text


def bad_cursor(plant: Plant, path: str) -> None:
    answer = plant.call("auditor", "GET", path, params={"cursor": "not-one-of-ours"})
    assert (answer.status_code, answer.json()["reason"]) == (422, "page.cursor_invalid")


# ---- environmental monitoring ------------------------------------------------------------


@pytest.fixture
def em_plant(hub: Hub, client: TestClient, checked: Checked) -> Plant:
    """The EM test plant (graded suite, points, routes), configured through checked calls."""
    seeded = seed(hub, client)
    hub.bus.handle(c.ImportMasterData(c.Context("admin"), em_flow.ROOMS, "CR-9: filling suite"))
    for location, grade, room in em_flow.LOCATIONS:
        body = {"location": location, "grade": grade, "room": room, "lookback_days": 3,
                "reason": "CC-EM-1: cleanroom qualification"}  # fmt: skip
        ok(seeded.call("qa", "POST", "/em/locations", json=body), 201)
    for code, location, kind, run in em_flow.POINTS:
        body = {"code": code, "location": location, "sample_type": kind,
                "description": f"{kind} at {location}", "alerts_to_deviation": run,
                "reason": "CC-EM-1: set"}  # fmt: skip
        ok(seeded.call("qa", "POST", "/em/points", json=body), 201)
    body = {"code": "R-FILL", "name": "Filling", "points": ["A-AIR", "B-SETTLE", "A-P05"],
            "reason": "CC-EM-1: set"}  # fmt: skip
    ok(seeded.call("qa", "POST", "/em/routes", json=body), 201)
    return seeded


def test_every_em_answer_is_the_documented_one(em_plant: Plant, checked: Checked) -> None:
    plant, now, day = em_plant, em_flow.NOW, timedelta(days=1)
    zoned(plant)
    schedule = {"code": "S-FILL", "route": "R-FILL", "state": "in-operation", "frequency": "daily",
                "next_due": em_flow.iso(now), "reason": "CC-EM-1: set"}  # fmt: skip
    config = ok(plant.call("qa", "POST", "/em/schedules", json=schedule), 201)
    assert config["schedules"][0]["frequency"] == "daily"
    assert ok(plant.call("auditor", "GET", "/em/config"))["routes"][0]["code"] == "R-FILL"
    em_flow.settle_alert(plant, 3, now - 10 * day)
    cell = {"grade": "B", "state": "in-operation", "sample_type": "settle"}
    limits = ok(plant.call("auditor", "GET", "/em/limits", params=cell))
    assert (limits["alert"], limits["alert_source"], limits["action"]) == (3, "site", 5)

    samples = em_flow.start_round(plant, "R-FILL", now - day / 2)
    em_flow.count(plant, samples["A-AIR"], "0")
    em_flow.count(plant, samples["B-SETTLE"], "4")  # alert
    counted = em_flow.count(plant, samples["A-P05"], "4000")  # action: a deviation
    round_code = counted["round"]
    em_round = ok(plant.call("auditor", "GET", f"/em/rounds/{round_code}"))
    # 21:00 UTC on 24 November is 22:00 in Zurich; the UTC value stays as it was.
    assert (em_round["planned_at"], em_round["planned_at_local"]) == (
        "2026-11-24T21:00:00.000000Z", "2026-11-24 22:00:00 +01:00"
    )  # fmt: skip
    assert (em_round["started_by"], em_round["started_by_name"]) == ("analyst", "Analyst Person")
    sample = ok(plant.call("auditor", "GET", f"/em/samples/{samples['A-P05']}"))
    assert sample["counted_by_name"] == "Analyst Person"
    assert (sample["count"], sample["counted_at_local"]) == ("4000", "2026-11-25 10:00:00 +01:00")

    newest_first = listed(plant, "/em/excursions")
    assert len(newest_first) == 2 and newest_first == sorted(newest_first, reverse=True)
    bad_cursor(plant, "/em/excursions")
    action = ok(plant.call("auditor", "GET", f"/em/excursions/{newest_first[0]}"))
    assert (action["outcome"], action["em_sample"]["code"]) == ("action_exceeded", samples["A-P05"])
    assert action["sampled_at_local"] == "2026-11-24 22:00:00 +01:00"
    assert action["recorded_by_name"] == action["em_sample"]["counted_by_name"] == "Analyst Person"

    for batch, location in (("B1", "FILL-B"), ("B3", "FILL-B"), ("B1", "PREP-C")):
        body = {"batch": batch, "location": location, "from_at": em_flow.iso(now - day),
                "to_at": em_flow.iso(now - day / 4)}  # fmt: skip
        stays = ok(plant.call("mes", "POST", "/em/occupancy", json=body), 201)
    assert [s["batch"] for s in stays["items"]] == ["B1"]  # the stays in PREP-C
    assert listed(plant, "/em/occupancy", key="batch") == ["B1", "B3", "B1"]  # as reported
    assert listed(plant, "/em/occupancy", key="batch", location="FILL-B") == ["B1", "B3"]
    bad_cursor(plant, "/em/occupancy")
    impact = ok(plant.call("auditor", "GET", f"/em/excursions/{newest_first[0]}/impact"))
    assert [b["batch"] for b in impact["batches"]] == ["B1", "B3"]
    assert ok(plant.call("analyst", "POST", "/em/due-rounds"))["started"] == ["EMR-000002"]

    for path, reason in (
        ("/em/rounds/EMR-999999", "em_round.unknown"),
        ("/em/samples/EMS-999999", "em_sample.unknown"),
        ("/em/excursions/EMX-999999", "em_excursion.unknown"),
        ("/em/excursions/EMX-999999/impact", "em_excursion.unknown"),
    ):
        refused(plant.call("auditor", "GET", path), 404, reason)
    again = {"count": "1"}
    refused(plant.call("analyst", "POST", f"/em/samples/{samples['A-AIR']}/count", json=again),
            409, "em.sample_already_counted")  # fmt: skip
    why = {"reason": "CC-EM-4: probing refusals"}
    for path, body, reason in (
        ("/em/locations", {"location": "NOWHERE", "grade": "A", "room": "FILL-B"},
         "location.unknown"),
        ("/em/points", {"code": "X", "location": "NOWHERE", "sample_type": "air",
                        "description": "x"}, "em_location.unknown"),
        ("/em/routes", {"code": "R-X", "name": "X", "points": ["NOPE"]}, "em_point.unknown"),
        ("/em/schedules", {"code": "S-X", "route": "NOPE", "state": "at-rest",
                           "frequency": "weekly", "next_due": em_flow.iso(now)},
         "em_route.unknown"),
    ):  # fmt: skip
        refused(plant.call("qa", "POST", path, json=body | why), 404, reason)
    start = {"route": "NOPE", "state": "at-rest", "planned_at": em_flow.iso(now)}
    refused(plant.call("analyst", "POST", "/em/rounds", json=start), 404, "em_route.unknown")
    loose = em_flow.set_limit(plant, grade="B", state="in-operation", sample_type="settle",
                              action=50, effective_from=em_flow.iso(now))  # fmt: skip
    refused(loose, 422, "em.action_loosened")
    backwards = {"batch": "B1", "location": "FILL-B", "from_at": em_flow.iso(now),
                 "to_at": em_flow.iso(now - day)}  # fmt: skip
    answer = plant.call("mes", "POST", "/em/occupancy", json=backwards)
    refused(answer, 422, "em.occupancy_ends_before_start")

    assert checked.missing(em) == set()


# ---- raw materials -----------------------------------------------------------------------


@pytest.fixture
def rm_plant(hub: Hub, client: TestClient, checked: Checked) -> Plant:
    """The raw-material test plant: material API-1 and its specification in force."""
    seeded = seed(hub, client)
    hub.bus.handle(c.ImportMasterData(c.Context("admin"), rm_flow.RAW, "CR-2: raw material"))
    qa = c.SignatureInput("qa", seeded.passwords["qa"], "approved")
    hub.bus.handle(c.ApproveSpecVersion(c.Context("qa"), SITE, "SPEC-RM", 1, qa))
    hub.bus.handle(
        c.MakeSpecVersionEffective(
            c.Context("qa"), SITE, "SPEC-RM", 1, rm_flow.V1_FROM, "CR-2: in force"
        )
    )
    return seeded


def test_every_raw_material_answer_is_the_documented_one(rm_plant: Plant, checked: Checked) -> None:
    plant = rm_plant
    zoned(plant)
    plan = ok(rm_flow.configure(plant))
    assert (plan["fraction"], plan["state"], plan["lots"]) == ("0.5", "normal", [])
    first, second = rm_flow.receive(plant, "SL-1"), rm_flow.receive(plant, "SL-2")
    # Received at 08:00 UTC: 09:00 in Zurich, the UTC value unchanged beside it.
    assert (first["received_at"], first["received_at_local"]) == (
        "2026-11-24T08:00:00.000000Z", "2026-11-24 09:00:00 +01:00"
    )  # fmt: skip
    coa = {"tests": [{"test_code": "ASSAY", "value": "97.5", "unit": "%"}]}
    rm_flow.lab_results(plant, first)
    lot = ok(plant.call("analyst", "POST", f"/lots/{first['code']}/supplier-coa", json=coa))
    (line,) = lot["supplier_coa"]
    assert (line["difference"], line["imported_at_local"]) == ("-2.0", "2026-11-25 10:00:00 +01:00")
    released = ok(rm_flow.decide(plant, first["code"]))
    assert (released["decided_by_name"], released["received_by_name"]) == (
        "Qa Person",
        "Analyst Person",
    )
    (signature,) = released["signatures"]
    assert (signature["signer"], signature["signer_name"]) == ("qa", "Qa Person")
    assert (
        signature["signed_at_local"] == released["decided_at_local"] == "2026-11-25 10:00:00 +01:00"
    )
    rejected = ok(rm_flow.decide(plant, second["code"], "rejection", "rejected"))
    assert rejected["status"] == "rejected"
    assert ok(plant.call("auditor", "GET", f"/lots/{first['code']}"))["status"] == "released"

    assert listed(plant, "/lots") == [second["code"], first["code"]]  # newest first
    assert listed(plant, "/lots", status="released", material="API-1") == [first["code"]]
    bad_cursor(plant, "/lots")
    plan = ok(plant.call("auditor", "GET", "/skip-lot-plans/API-1/SUP-1"))
    assert [lot["code"] for lot in plan["lots"]] == [first["code"], second["code"]]

    refused(plant.call("auditor", "GET", "/lots/RM-999999"), 404, "lot.unknown")
    refused(plant.call("auditor", "GET", "/skip-lot-plans/API-1/SUP-9"), 404,
            "skip_lot_plan.unknown")  # fmt: skip
    unplanned = {"material": "API-1", "supplier": "SUP-9", "supplier_lot": "SL-9",
                 "received_at": "2026-11-24T08:00:00Z"}  # fmt: skip
    refused(plant.call("analyst", "POST", "/lots", json=unplanned), 409, "skip_lot_plan.unknown")
    unknown_test = {"tests": [{"test_code": "NOPE", "value": "1", "unit": "%"}]}
    answer = plant.call("analyst", "POST", f"/lots/{first['code']}/supplier-coa", json=unknown_test)
    refused(answer, 404, "spec.no_limit_for_test")
    refused(rm_flow.decide(plant, first["code"]), 409, "lot.already_decided")
    untested = rm_flow.receive(plant, "SL-3")
    refused(rm_flow.decide(plant, untested["code"]), 409, "release.result_missing")
    refused(rm_flow.configure(plant, specification="SPEC-NONE"), 422, "specification.unknown")
    answer = plant.call("qa", "PUT", "/skip-lot-plans/NOPE/SUP-1", json=rm_flow.PLAN)
    refused(answer, 404, "material.unknown")

    assert checked.missing(raw_materials) == set()


def test_an_undeclared_member_of_an_answer_is_caught(rm_plant: Plant, checked: Checked) -> None:
    ok(rm_flow.configure(rm_plant))
    lot = rm_flow.receive(rm_plant, "SL-1")
    _, operation = checked.operation("GET", f"/api/v1/sites/{SITE}/lots/{lot['code']}")
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert checked.errors(schema, lot) == []
    grown = lot | {"surprise": "a member no model declares"}
    assert any("surprise" in error for error in checked.errors(schema, grown))
    nested = lot | {"release_blockers": [lot["release_blockers"][0] | {"surprise": 1}]}
    assert any("surprise" in error for error in checked.errors(schema, nested))
    with pytest.raises(ValidationError, match="surprise"):
        LotView.model_validate(grown)  # the server refuses to send it, not only the client


# ---- stability studies and OOT alerts ----------------------------------------------------


@pytest.fixture
def st_plant(hub: Hub, client: TestClient, checked: Checked) -> Plant:
    seeded = seed(hub, client)
    hub.bus.handle(c.ImportMasterData(c.Context("admin"), st_flow.MORE_BATCHES, "CR-3: batches"))
    return seeded


def test_every_stability_answer_is_the_documented_one(st_plant: Plant, checked: Checked) -> None:
    plant, long = st_plant, st_flow.LONG
    zoned(plant)
    studies = st_flow.started_studies(plant)  # create, approve, pull what is due
    for batch, values in st_flow.ASSAY.items():
        samples = st_flow.pulled_samples(plant, studies[batch])
        for months, value in zip((0, 3, 6), values, strict=False):
            approved_result(plant, samples[months], "ASSAY", value, "%")
    study = studies["B1"]
    pull = {"condition": long, "time_point": 9, "pulled_at": "2026-10-05T08:00:00Z"}
    pulled = ok(plant.call("analyst", "POST", f"/stability-studies/{study}/pulls", json=pull), 201)
    (nine,) = [
        p for p in pulled["study"]["schedule"] if p["time_point"] == 9 and p["state"] == "pulled"
    ]
    # 5 October is summer time in Zurich: +02:00.
    assert (nine["sample"], nine["pulled_at_local"]) == (
        pulled["sample"],
        "2026-10-05 10:00:00 +02:00",
    )
    assert nine["pulled_by_name"] == "Analyst Person"
    view = ok(plant.call("auditor", "GET", f"/stability-studies/{study}"))
    assert (view["start_at_local"], view["signatures"][0]["signer_name"]) == (
        "2026-01-05 09:00:00 +01:00", "Qa Person"
    )  # fmt: skip
    trend = ok(plant.call("auditor", "GET", f"/stability-studies/{study}/trend"))
    assert {s["shelf_life"] is None for s in trend["series"]} == {True, False}
    for format, media in (
        ("pdf", "application/pdf"),
        ("html", "text/html"),
        ("json", "application/json"),
    ):
        answer = plant.call(
            "auditor", "GET", f"/stability-studies/{study}/report", params={"format": format}
        )
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(media)
    plot = plant.call(
        "auditor", "GET", f"/stability-studies/{study}/plot", params={"test": "ASSAY"}
    )
    assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG")

    assert (view["author_name"], view["approver_name"]) == ("Reviewer Person", "Qa Person")
    completed = ok(plant.call("qa", "POST", f"/stability-studies/{studies['B2']}/completion",
                              json={"reason": "All pulls done and assessed."}))  # fmt: skip
    assert (completed["status"], completed["closed_by_name"]) == ("completed", "Qa Person")
    draft = st_flow.create(plant, "B4")
    cancel = {"reason": "Protocol superseded by a new design",
              "signature": plant.signature("qa")}  # fmt: skip
    cancelled = ok(
        plant.call("qa", "POST", f"/stability-studies/{draft}/cancellation", json=cancel)
    )
    assert (cancelled["status"], cancelled["closed_at_local"]) == (
        "cancelled", "2026-11-25 10:00:00 +01:00"
    )  # fmt: skip
    assert listed(plant, "/stability-studies") == [draft, studies["B3"], studies["B2"], study]
    bad_cursor(plant, "/stability-studies")

    code = st_flow._ipc_alert(plant)
    assert listed(plant, "/oot-alerts", status="open", batch="B6") == [code]
    assert listed(plant, "/oot-alerts", status="acknowledged") == []
    bad_cursor(plant, "/oot-alerts")
    alert = ok(plant.call("auditor", "GET", f"/oot-alerts/{code}"))
    assert (alert["analyst"], alert["analyst_name"]) == ("analyst", "Analyst Person")
    body = {"assessment": "Within spec; trend reviewed, no action.",
            "signature": plant.signature("reviewer", "reviewed")}  # fmt: skip
    assessed = ok(plant.call("reviewer", "POST", f"/oot-alerts/{code}/acknowledgement", json=body))
    assert assessed["acknowledged_by_name"] == "Reviewer Person"
    assert (assessed["status"], assessed["acknowledged_at_local"]) == (
        "acknowledged", "2026-11-25 10:00:00 +01:00"
    )  # fmt: skip

    for tail in ("", "/trend", "/report", "/plot?test=ASSAY"):
        answer = plant.call("auditor", "GET", f"/stability-studies/STAB-99999{tail}")
        refused(answer, 404, "stability_study.unknown")
    answer = plant.call("auditor", "GET", f"/stability-studies/{study}/plot?test=NOPE")
    refused(answer, 404, "stability.series_unknown")
    accelerated = {"test": "ASSAY", "condition": st_flow.ACCELERATED}  # no approved results
    answer = plant.call("auditor", "GET", f"/stability-studies/{study}/plot", params=accelerated)
    refused(answer, 409, "stability.too_few_data")
    answer = plant.call("qa", "POST", f"/stability-studies/{draft}/completion",
                        json={"reason": "Closing what is closed."})  # fmt: skip
    refused(answer, 409, "stability_study.invalid_transition")
    pull = {"condition": long, "time_point": 0, "pulled_at": st_flow.START}
    answer = plant.call("analyst", "POST", f"/stability-studies/{draft}/pulls", json=pull)
    refused(answer, 409, "stability.study_not_active")
    future = {"as_of": "2027-01-01T00:00:00Z"}
    answer = plant.call("analyst", "POST", "/stability-pulls/due", json=future)
    refused(answer, 422, "stability.as_of_in_future")
    refused(plant.call("auditor", "GET", "/oot-alerts/OOT-999999"), 404, "oot_alert.unknown")
    answer = plant.call("reviewer", "POST", f"/oot-alerts/{code}/acknowledgement", json=body)
    refused(answer, 409, "oot.already_acknowledged")

    assert checked.missing(stability) == set()
