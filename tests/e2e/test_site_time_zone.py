"""A site's time zone in master data, over HTTP: named and exported, kept by an import that
names none, and a zone the IANA database lacks refused with its reason and field."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from labgate.bootstrap import Hub
from plant import PLANT, SITE, Plant, SeededPlant


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def load(plant: Plant, site: dict[str, Any], reason: str = "CR-15: the plant's time") -> Any:
    body = {"document": {"site": site}, "reason": reason}
    return plant.call("admin", "POST", "/api/v1/masterdata/import", json=body)


def exported_zone(plant: Plant) -> str:
    answer = plant.call("admin", "GET", f"/api/v1/sites/{SITE}/masterdata")
    assert answer.status_code == 200, answer.text
    zone: str = answer.json()["site"]["time_zone"]
    return zone


def test_a_site_names_its_zone_and_keeps_it_through_imports_that_do_not(plant: Plant) -> None:
    assert exported_zone(plant) == "UTC"  # a site loaded before zones existed shows UTC
    answer = load(plant, {**PLANT["site"], "time_zone": "Europe/Zurich"})
    assert answer.status_code == 200, answer.text
    assert exported_zone(plant) == "Europe/Zurich"
    answer = load(plant, PLANT["site"], "CR-16: aliases only")  # names no zone
    assert answer.status_code == 200, answer.text
    assert exported_zone(plant) == "Europe/Zurich"


@pytest.mark.parametrize("zone", ["Europe/Basel", "CET+1", "../../etc/passwd"])
def test_a_zone_the_iana_database_lacks_is_refused(plant: Plant, zone: str) -> None:
    answer = load(plant, {**PLANT["site"], "time_zone": zone})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert (problem["reason"], problem["field"]) == ("masterdata.bad_time_zone", "site.time_zone")
    assert "Europe/Zurich" in problem["detail"]
    assert exported_zone(plant) == "UTC"
