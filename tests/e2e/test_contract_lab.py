"""The published contract of samples, results, batches, QA disposition, deviations and the lists:
every operation's real answer validates against the schema its own OpenAPI publishes for that
status and media type, the schemas are closed (an undocumented member fails, in the OpenAPI and in
the answer models), the server's enums are the schemas' enums, and the views people read carry
the site's local times and printed names."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from httpx2 import Response
from jsonschema import Draft202012Validator, ValidationError
from pydantic import ValidationError as ModelError

from labgate.bootstrap import Hub
from labgate.domain.deviations import DeviationState, PhaseOneConclusion, PhaseTwoConclusion
from labgate.domain.lifecycle import SampleStatus
from labgate.entrypoints.api.answers.samples import SampleView
from plant import PLANT, SITE, Plant, SeededPlant, approved_result, request_sample

# The route modules whose operations this file holds to their contract.
MODULES = {
    f"labgate.entrypoints.api.routes.{name}"
    for name in ("lab", "disposition", "deviations", "lists")
}
SITE_PATH = "/api/v1/sites/{site}"
CLEAN = (("ASSAY", "99.62", "%"), ("WATER", "0.2", "%"), ("APPEAR", "White tablet", None))


class Contract:
    """Checks answers against the app's own OpenAPI, and remembers which operations it saw."""

    def __init__(self, plant: Plant) -> None:
        self.plant = plant
        self.spec: dict[str, Any] = plant.client.app.openapi()  # type: ignore[attr-defined]
        self.seen: set[tuple[str, str]] = set()

    def call(self, user: str, method: str, template: str, status: int = 200, **kwargs: Any) -> Any:
        """Call `template` (path parameters filled from `kwargs["path"]`) and check the answer
        against its operation's schema for the answer's status and media type."""
        filled = template.format(site=SITE, **kwargs.pop("path", {}))
        answer = self.plant.call(user, method, filled, **kwargs)
        assert answer.status_code == status, answer.text
        return self.check(method, template, answer)

    def check(self, method: str, template: str, answer: Response) -> Any:
        """The answer's content, after validating it against what its operation publishes."""
        operation = self.spec["paths"][template][method.lower()]
        documented = operation["responses"].get(str(answer.status_code))
        assert documented is not None, f"{method} {template} does not document {answer.status_code}"
        media = answer.headers["content-type"].split(";")[0]
        assert media in documented["content"], f"{method} {template} does not document {media}"
        schema = documented["content"][media]["schema"]
        self.seen.add((method, template))
        if media == "application/pdf":
            assert schema == {"type": "string", "format": "binary"}
            assert answer.content.startswith(b"%PDF-")
            return answer.content
        if media == "text/html":
            assert schema == {"type": "string"}
            return answer.text
        body = answer.json()
        self.validator(schema).validate(body)
        return body

    def validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        """A validator of `schema` whose references resolve in the whole OpenAPI document."""
        return Draft202012Validator({"components": self.spec["components"], **schema})

    def schema(self, name: str) -> dict[str, Any]:
        """A named component schema."""
        found: dict[str, Any] = self.spec["components"]["schemas"][name]
        return found


def operations(client: TestClient) -> set[tuple[str, str]]:
    """Every (method, path) of the route modules this file covers."""
    found = set()
    for context in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        route = context.original_route
        if isinstance(route, APIRoute) and route.endpoint.__module__ in MODULES:
            found |= {(method, context.path_format) for method in route.methods}
    return found


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


@pytest.fixture
def contract(plant: Plant) -> Contract:
    return Contract(plant)


def in_zurich(plant: Plant) -> None:
    """The test site's zone, so local times show an offset that is not UTC's."""
    body = {"document": {"site": {**PLANT["site"], "time_zone": "Europe/Zurich"}},
            "reason": "CR-15: the plant's local time"}  # fmt: skip
    answer = plant.call("admin", "POST", "/api/v1/masterdata/import", json=body)
    assert answer.status_code == 200, answer.text


def signed(plant: Plant, who: str, meaning: str, **body: Any) -> dict[str, Any]:
    return {**body, "signature": plant.signature(who, meaning)}


def test_every_operation_answers_as_its_openapi_says(contract: Contract, plant: Plant) -> None:
    c, s = contract, SITE_PATH
    request = {"mes_request_id": "REQ-1", "product": "P1", "sampled_at": "2026-11-24T10:00:00Z",
               "batch": "B1", "sampling_point": "SP-REL"}  # fmt: skip
    sample = c.call("mes", "POST", f"{s}/sample-requests", 201, json=request)["code"]
    again = c.call("mes", "POST", f"{s}/sample-requests", 200, json=request)
    assert again["code"] == sample
    c.call(
        "mes", "GET", f"{s}/sample-requests/{{mes_request_id}}", path={"mes_request_id": "REQ-1"}
    )
    one = {"path": {"sample": sample}}
    c.call("lims", "POST", f"{s}/samples/{{sample}}/registration", json={"lims_sample_id": "L1"},
           **one)  # fmt: skip
    entry = {"sample": sample, "test_code": "ASSAY", "value": "98.94", "unit": "%",
             "method_version": "1", "analyst": "analyst"}  # fmt: skip
    result = c.call("analyst", "POST", f"{s}/results", 201, json=entry)["results"][-1]["code"]
    queue = c.call("reviewer", "GET", f"{s}/results/awaiting-review")
    assert [r["result"] for r in queue["items"]] == [result]
    reviewed = {**entry, "test_code": "WATER", "value": "0.2", "reviewer": "reviewer",
                "approved_at": "2026-11-24T12:00:00Z"}  # fmt: skip
    c.call("lims", "POST", f"{s}/results/reviewed", 201, json=reviewed)
    approval = signed(plant, "reviewer", "approved")
    shown = c.call("reviewer", "POST", f"{s}/results/{{result}}/approval", json=approval,
                   path={"result": result})  # fmt: skip
    assert shown["mes_status"] == "Rejected"  # 98.9 % against NLT 99.0: an OOS, a deviation

    c.call("qa", "GET", f"{s}/deviations")
    code = {"path": {"deviation": "DEV-000001"}}
    c.call("qa", "GET", f"{s}/deviations/{{deviation}}", **code)
    step = signed(plant, "reviewer", "reviewed", conclusion="no_assignable_cause",
                  reason="Method, equipment and dilution all checked")  # fmt: skip
    c.call("reviewer", "POST", f"{s}/deviations/{{deviation}}/phase1", json=step, **code)
    step = signed(plant, "reviewer", "reviewed", conclusion="confirmed",
                  rationale="The full investigation confirms the OOS")  # fmt: skip
    c.call("reviewer", "POST", f"{s}/deviations/{{deviation}}/phase2", json=step, **code)
    closure = signed(plant, "qa", "approved", capa="CAPA-7", reason="Conclusion approved by QA")
    closed = c.call("qa", "POST", f"{s}/deviations/{{deviation}}/closure", json=closure, **code)
    assert (closed["state"], closed["phase2_conclusion"]) == ("closed", "confirmed")

    body = signed(plant, "reviewer", "invalidated", reason="Dilution error found on review")
    c.call("reviewer", "POST", f"{s}/results/{{result}}/invalidation", json=body,
           path={"result": result})  # fmt: skip

    retest = {**entry, "value": "99.4", "retest_of": result}
    c.call("analyst", "POST", f"{s}/results", 201, json=retest)

    batch = {"path": {"batch": "B1"}}
    c.call("production", "GET", f"{s}/batches/{{batch}}", **batch)
    c.call("production", "GET", f"{s}/batches/{{batch}}/gates", **batch)
    review = c.call("production", "GET", f"{s}/batches/{{batch}}/review", **batch)
    assert review["ready_by_exception"] is False
    for kind in ("json", "html", "pdf"):
        c.call("qa", "GET", f"{s}/batches/{{batch}}/dossier", params={"format": kind}, **batch)
    rejection = signed(plant, "qa", "rejected", reason="Assay out of specification, confirmed")
    c.call("qa", "POST", f"{s}/batches/{{batch}}/rejection", json=rejection, **batch)

    native = {"product": "P1", "sampled_at": "2026-11-24T11:00:00Z", "batch": "B2"}
    extra = c.call("analyst", "POST", f"{s}/samples", 201, json=native)["code"]
    c.call("qa", "POST", f"{s}/samples/{{sample}}/cancellation",
           json={"reason": "Container dropped on the way"}, path={"sample": extra})  # fmt: skip
    c.call("qa", "GET", f"{s}/samples/{{sample}}", **one)
    c.call("qa", "GET", f"{s}/samples", params={"limit": 1})

    clean = request_sample(plant, "REQ-2", batch="B2")
    for test, value, unit in CLEAN:
        approved_result(plant, clean, test, value, unit)
    b2 = {"path": {"batch": "B2"}}
    for kind in ("json", "html", "pdf"):
        c.call("qa", "GET", f"{s}/batches/{{batch}}/coa", params={"format": kind}, **b2)
    release = signed(plant, "qa", "released")
    released = c.call("qa", "POST", f"{s}/batches/{{batch}}/release", json=release, **b2)
    assert released["disposition"] == "released"
    c.call("qa", "GET", f"{s}/batches")
    c.call("qa", "GET", "/api/v1/sites")

    assert c.seen == operations(plant.client), "operations without a checked call"


def test_refusals_answer_with_a_reason_their_operation_documents(contract: Contract) -> None:
    s = SITE_PATH
    refused = contract.call("qa", "GET", f"{s}/samples/{{sample}}", 404,
                            path={"sample": "S-999999"})  # fmt: skip
    assert refused["reason"] == "sample.unknown"
    refused = contract.call("qa", "GET", f"{s}/batches/{{batch}}/coa", 404, path={"batch": "B9"})
    assert refused["reason"] == "batch.unknown"
    refused = contract.call("qa", "GET", f"{s}/batches/{{batch}}/coa", 409, path={"batch": "B1"})
    assert refused["reason"] == "coa.incomplete"
    refused = contract.call("qa", "GET", f"{s}/deviations", 422, params={"cursor": "forged"})
    assert refused["reason"] == "page.cursor_invalid"
    # The documented reasons are an enum: a reason the operation does not give fails.
    operation = contract.spec["paths"][f"{s}/samples/{{sample}}"]["get"]
    schema = operation["responses"]["404"]["content"]["application/problem+json"]["schema"]
    with pytest.raises(ValidationError):
        contract.validator(schema).validate({**refused, "status": 404, "reason": "batch.unknown"})


def test_an_undocumented_member_fails_the_schema_and_the_answer_model(
    contract: Contract, plant: Plant
) -> None:
    sample = request_sample(plant, "REQ-1")
    template = f"{SITE_PATH}/samples/{{sample}}"
    shown = contract.call("qa", "GET", template, path={"sample": sample})
    operation = contract.spec["paths"][template]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    check = contract.validator(schema)
    with pytest.raises(ValidationError):
        check.validate({**shown, "undocumented": 1})
    with pytest.raises(ValidationError):  # closed all the way down: a planned test, too
        check.validate({**shown, "tests": [{**shown["tests"][0], "undocumented": 1}]})
    with pytest.raises(ModelError):  # the server's own check, on every answer it gives
        SampleView.model_validate({**shown, "undocumented": 1})
    with pytest.raises(ValidationError):  # a status the server does not have
        check.validate({**shown, "status": "lost"})


def test_the_servers_enums_are_the_schemas_enums(contract: Contract) -> None:
    def enum(model: str, field: str) -> list[str]:
        found = contract.schema(model)["properties"][field]
        for choice in found.get("anyOf", [found]):
            if "$ref" in choice:
                choice = contract.schema(choice["$ref"].rsplit("/", 1)[-1])
            if "enum" in choice:
                return list(choice["enum"])
        raise AssertionError(f"{model}.{field} is not an enum: {found}")

    phase_one = [m.value for m in PhaseOneConclusion]
    phase_two = [m.value for m in PhaseTwoConclusion]
    assert enum("PhaseOneIn", "conclusion") == phase_one
    assert enum("PhaseTwoIn", "conclusion") == phase_two
    assert enum("OosView", "phase1_conclusion") == phase_one
    assert enum("OosView", "phase2_conclusion") == phase_two
    assert enum("OosView", "state") == [m.value for m in DeviationState]
    assert enum("SampleView", "status") == [m.value for m in SampleStatus]
    assert enum("SampleView", "mes_status") == ["Pending", "Accepted", "Rejected", "Cancelled"]
    assert enum("BatchView", "disposition") == ["pending", "released", "rejected"]
    assert enum("SignatureAtSite", "meaning") == [
        "authored", "reviewed", "approved", "released", "rejected", "invalidated"
    ]  # fmt: skip
    assert enum("GatePoint", "gate") == ["block", "allow_with_deviation", "informative"]
    assert enum("ResultView", "band") == ["none", "alert", "action"]


@pytest.mark.requirement("URS-P11-11.50")
def test_views_people_read_show_local_times_and_printed_names(
    contract: Contract, plant: Plant
) -> None:
    in_zurich(plant)
    s, zurich = SITE_PATH, "2026-11-24 11:00:00 +01:00"  # 10:00 UTC, winter time
    sample = request_sample(plant, "REQ-1")
    entry = {"sample": sample, "test_code": "ASSAY", "value": "98.94", "unit": "%",
             "method_version": "1", "analyst": "analyst"}  # fmt: skip
    contract.call("analyst", "POST", f"{s}/results", 201, json=entry)

    [queued] = contract.call("reviewer", "GET", f"{s}/results/awaiting-review")["items"]
    assert (queued["analyst"], queued["analyst_name"]) == ("analyst", "Analyst Person")
    assert queued["entered_at"] == "2026-11-25T09:00:00Z"  # as the list has always answered
    assert queued["entered_at_local"] == "2026-11-25 10:00:00 +01:00"

    result = queued["result"]
    approval = signed(plant, "reviewer", "approved")
    shown = contract.call("reviewer", "POST", f"{s}/results/{{result}}/approval", json=approval,
                          path={"result": result})  # fmt: skip
    assert (shown["sampled_at"], shown["sampled_at_local"]) == ("2026-11-24T10:00:00.000000Z",
                                                                zurich)  # fmt: skip
    assert (shown["requested_by"], shown["requested_by_name"]) == ("mes", "MES")
    [done] = shown["results"]
    assert (done["reviewer_name"], done["approved_at_local"]) == (
        "Reviewer Person", "2026-11-25 10:00:00 +01:00"
    )  # fmt: skip
    assert done["invalidated_at_local"] is None
    [signature] = done["signatures"]
    assert (signature["signer_name"], signature["signed_at_local"]) == (
        "Reviewer Person", "2026-11-25 10:00:00 +01:00"
    )  # fmt: skip

    deviation = contract.call("qa", "GET", f"{s}/deviations/{{deviation}}",
                              path={"deviation": "DEV-000001"})  # fmt: skip
    assert (deviation["analyst_name"], deviation["opened_at_local"]) == (
        "Analyst Person", "2026-11-25 10:00:00 +01:00"
    )  # fmt: skip
    assert (deviation["phase1_by_name"], deviation["closed_at_local"]) == (None, None)

    batch = contract.call("qa", "GET", f"{s}/batches/{{batch}}", path={"batch": "B1"})
    assert batch["started_at_local"] == "2026-11-01 09:00:00 +01:00"
    assert (batch["released_by_name"], batch["released_at_local"]) == (None, None)
