"""A query parameter an operation does not take is refused by name, never ignored: a client
still paging the audit trail by `offset`, or a typo in a filter, must not get an answer to a
question it did not ask."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from labgate.bootstrap import Hub
from plant import SITE, Plant, SeededPlant


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/api/v1/audit", {"offset": "100"}, "offset"),  # the audit list pages by cursor now
        (f"/api/v1/sites/{SITE}/batches", {"prodcut": "PCM-500"}, "prodcut"),
        ("/api/v1/me", {"x": "1"}, "x"),  # an operation that takes no query at all
    ],
)
def test_an_unknown_query_parameter_is_refused_by_name(
    plant: Plant, path: str, params: dict[str, str], name: str
) -> None:
    answer = plant.call("auditor", "GET", path, params=params)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["reason"] == "input.unknown_parameter"
    assert problem["field"] == name
    audit = plant.call("auditor", "GET", "/api/v1/audit", params={"order": "newest", "limit": 5})
    entries = audit.json()["items"]
    assert any((e["after"] or {}).get("reason_code") == "input.unknown_parameter" for e in entries)


def test_the_parameters_an_operation_declares_are_taken(plant: Plant) -> None:
    answer = plant.call(
        "auditor", "GET", f"/api/v1/sites/{SITE}/batches", params={"product": "PCM-500"}
    )
    assert answer.status_code == 200, answer.text


def test_an_empty_location_filter_is_refused_not_read_as_absent(plant: Plant) -> None:
    """Found by schemathesis: `location=` answered a view its own answer model refused (500)."""
    params = {"grade": "B", "state": "at-rest", "sample_type": "particles-5", "location": ""}
    answer = plant.call("auditor", "GET", f"/api/v1/sites/{SITE}/em/limits", params=params)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "location"
