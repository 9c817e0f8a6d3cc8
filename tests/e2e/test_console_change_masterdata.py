"""A master-data change in the console over HTTP on both databases: raised through the form
with a YAML document (refused on the list page, with its reason and field, when it is not one a
change request may carry), assessed, and its page showing every planned field change before →
after; QA approves it with an e-signature and the ICD gets its next version."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from test_change_masterdata import ROUNDING_CHANGE
from test_console import csrf_of, sign_in

from labgate.bootstrap import Hub
from plant import SITE, Plant, SeededPlant, request_sample

LIST = f"/console/sites/{SITE}/change-requests"


@pytest.fixture
def plant(hub: Hub, client: Any, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def raise_masterdata(plant: Plant, document: str) -> Any:
    page = plant.client.get(LIST)
    assert 'id="raise-masterdata"' in page.text
    form = {"csrf_token": csrf_of(page.text), "kind": "masterdata", "document": document,
            "title": "ASSAY to M-ASSAY v3", "reason": "Method transfer MT-9",
            "effective_from": ""}  # fmt: skip
    return plant.client.post(LIST, data=form, follow_redirects=False)


@pytest.mark.requirement("URS-A11-10")
def test_a_masterdata_change_raised_in_the_console_shows_its_field_changes(
    plant: Plant, hub: Hub
) -> None:
    sample = request_sample(plant, "CMD-1")
    sign_in(plant.client, "admin", plant.passwords["admin"])
    refused = raise_masterdata(plant, "specifications: []\n")
    assert refused.status_code == 422
    assert 'data-reason="change.invalid_proposal"' in refused.text
    assert "proposal.document.specifications" in refused.text
    assert "specifications: []" in refused.text  # the text is kept to correct
    raised = raise_masterdata(plant, yaml.safe_dump(ROUNDING_CHANGE))
    assert raised.status_code == 303, raised.text
    code = raised.headers["location"].split("/")[-1].split("?")[0]
    page = plant.client.get(f"{LIST}/{code}").text
    assert 'id="no-plan"' in page and "Master data" in page
    assessed = plant.client.post(f"{LIST}/{code}/assessment",
                                 data={"csrf_token": csrf_of(page)})  # fmt: skip
    assert assessed.status_code == 200, assessed.text  # followed to the request's page
    shown = assessed.text
    row = re.search(r'data-record="test/ASSAY" data-field="current_method_version">(.*?)</tr>',
                    shown, re.S)  # fmt: skip
    assert row and "<code>1</code>" in row.group(1) and "<code>3</code>" in row.group(1)
    assert 'data-record="method/M-ASSAY v3" data-field="rounding_rule"' in shown
    assert f"{SITE}/{sample}" in shown

    sign_in(plant.client, "qa", plant.passwords["qa"])
    page = plant.client.get(f"{LIST}/{code}").text
    form = {"csrf_token": csrf_of(page), "username": "qa", "password": plant.passwords["qa"]}
    approved = plant.client.post(f"{LIST}/{code}/approval", data=form)
    assert approved.status_code == 200 and 'data-field="state">Effective' in approved.text


@pytest.mark.requirement("URS-A11-10")
def test_a_retirement_raised_in_the_console_shows_what_it_retires_and_the_tables_mark_it(
    plant: Plant,
) -> None:
    sample = request_sample(plant, "CMD-R1")
    sign_in(plant.client, "admin", plant.passwords["admin"])
    retire = {"retire": {"mappings": [{"characteristic": "C-ASSAY", "test_code": "ASSAY"}],
                         "aliases": [{"system": "LIMS", "kind": "test",
                                      "external_code": "HPLC-ASY"}]}}  # fmt: skip
    raised = raise_masterdata(plant, yaml.safe_dump(retire))
    assert raised.status_code == 303, raised.text
    code = raised.headers["location"].split("/")[-1].split("?")[0]
    page = plant.client.get(f"{LIST}/{code}").text
    assert 'id="retired-records"' in page and "computed when it is assessed" in page
    assert 'id="proposal-document"' not in page  # no document: only what it retires
    assessed = plant.client.post(f"{LIST}/{code}/assessment", data={"csrf_token": csrf_of(page)})
    shown = assessed.text
    mapping = re.search(r'<tr class="change-changed" data-record="mapping">(.*?)</tr>', shown, re.S)
    assert mapping and f"{SITE}/{sample}" in mapping.group(1)  # bound by it: it keeps it
    alias = re.search(r'<tr class="change-changed" data-record="alias">(.*?)</tr>', shown, re.S)
    assert alias and "HPLC-ASY" in alias.group(1) and f"{SITE}/{sample}" in alias.group(1)
    approved = plant.call("qa", "POST", f"/change-requests/{code}/approval",
                          json={"signature": plant.signature("qa")})  # fmt: skip
    assert approved.json()["state"] == "effective", approved.text
    base = f"/console/sites/{SITE}/masterdata/tables"
    mappings = plant.client.get(f"{base}/mappings").text
    row = re.search(r'<tr data-row="C-ASSAY" class="retired"[^>]*>(.*?)</tr>', mappings, re.S)
    assert row and "Retired" in row.group(1) and f"{SITE}/{code}" in row.group(1)
    assert re.search(r'<tr data-row="C-WATER">', mappings)  # still in force
    aliases = plant.client.get(f"{base}/aliases").text
    assert re.search(r'data-row="LIMS" class="retired"', aliases)
