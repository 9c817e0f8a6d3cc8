"""The ICD on the desk, over HTTP on both databases: the integration admin generates it from the
form, the document and its versions shown as the API lists them; QA approves with an e-signature
(a wrong password refused, shown with its reason, audited); the auditor reads, with no forms."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from test_console import csrf_of, sign_in

from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from plant import SITE, Plant, SeededPlant
from senders import register

ICD = f"/console/sites/{SITE}/desk/icd"
pytestmark = pytest.mark.requirement("URS-A11-10", "URS-P11-11.10k")


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def refusals(hub: Hub) -> list[str]:
    a = t.audit_entries.c
    with hub.engine.connect() as connection:
        return list(connection.scalars(select(a.action).where(a.action.like("refused.%"))))


def test_generated_from_the_form_approved_by_qa_with_an_e_signature(hub: Hub, plant: Plant) -> None:
    client = plant.client
    sign_in(client, "admin", plant.passwords["admin"])
    empty = client.get(ICD)
    assert empty.status_code == 200 and "No version yet" in empty.text
    made = client.post(ICD, data={"csrf_token": csrf_of(empty.text)}, follow_redirects=False)
    assert made.status_code == 303 and made.headers["location"].endswith("?version=1")
    page = client.get(ICD + "?version=1").text
    listed = plant.call("auditor", "GET", "/icd").json()["versions"]
    assert '<tr data-version="1" data-status="draft"' in page and listed[0]["sha256"] in page
    assert "Interface Control Document" in page and "Status map" in page
    assert 'id="approve-dialog"' not in page  # the integration admin does not approve
    pdf = client.get(f"{ICD}/1/document?format=pdf")
    assert (
        pdf.status_code == 200
        and pdf.content == plant.call("auditor", "GET", "/icd/1", params={"format": "pdf"}).content
    )
    client.post("/console/sign-out", data={"csrf_token": csrf_of(page)})

    sign_in(client, "qa", plant.passwords["qa"])
    shown = client.get(ICD).text
    form = {"csrf_token": csrf_of(shown), "sha256": listed[0]["sha256"], "username": "qa",
            "password": "wrong password"}  # fmt: skip
    wrong = client.post(f"{ICD}/1/approval", data=form, follow_redirects=False)
    assert wrong.status_code == 401 and "signature.bad_credentials" in wrong.text
    assert refusals(hub) == ["refused.approve_icd"]  # the refusal is audited
    form["password"] = plant.passwords["qa"]
    done = client.post(f"{ICD}/1/approval", data=form, follow_redirects=False)
    assert done.status_code == 303, done.text
    after = client.get(done.headers["location"]).text
    assert 'id="done"' in after and 'data-status="approved"' in after
    assert plant.call("auditor", "GET", "/icd").json()["in_force"] == 1

    register(hub, "mes", "mes-2027")
    again = client.get(ICD).text
    client.post("/console/sign-out", data={"csrf_token": csrf_of(again)})
    sign_in(client, "admin", plant.passwords["admin"])
    page = client.get(ICD).text
    client.post(ICD, data={"csrf_token": csrf_of(page)}, follow_redirects=False)
    second = client.get(ICD + "?version=2").text
    assert 'id="icd-changes"' in second and "partners: mes: keys" in second


def test_the_auditor_reads_without_the_forms(plant: Plant) -> None:
    plant.call("admin", "POST", "/icd")
    sign_in(plant.client, "auditor", plant.passwords["auditor"])
    page = plant.client.get(ICD)
    assert page.status_code == 200
    assert 'data-version="1"' in page.text
    assert "Generate from the configuration" not in page.text and "approve-dialog" not in page.text
    refused = plant.client.post(
        ICD, data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert refused.status_code == 403
