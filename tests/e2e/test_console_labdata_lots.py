"""The console's raw-material pages over HTTP on both databases: the lots by status, a lot with
the supplier's CoA beside labgate's results (values, differences and flags exactly as the API
answers them), its skip-lot state and release blockers; a lot released by QA with an
e-signature (post/redirect/get, manifestation) and the refusals on the way: blockers and a wrong
password shown with their reason codes, a role without the permission refused 403 and audited."""

from __future__ import annotations

import re
from typing import Any

import pytest
from test_console import csrf_of, sign_in, trail
from test_raw_materials import RAW, configure, lab_results, receive

from labgate.bootstrap import Hub
from labgate.domain import commands as c
from plant import SITE, V1_FROM, Plant, SeededPlant

BASE = "/console/sites/T1/lots"


@pytest.fixture
def plant(hub: Hub, client: Any, seeded_plant: SeededPlant) -> Plant:
    """The raw-material API tests' plant: API-1 under SPEC-RM, in force."""
    seeded = seeded_plant.on(client)
    hub.bus.handle(c.ImportMasterData(c.Context("admin"), RAW, "CR-2: raw material"))
    qa = c.SignatureInput("qa", seeded.passwords["qa"], "approved")
    hub.bus.handle(c.ApproveSpecVersion(c.Context("qa"), SITE, "SPEC-RM", 1, qa))
    hub.bus.handle(
        c.MakeSpecVersionEffective(c.Context("qa"), SITE, "SPEC-RM", 1, V1_FROM, "CR-2: in force")
    )
    return seeded


def two_lots(plant: Plant) -> tuple[str, str]:
    """One lot tested, with a supplier CoA one value of which is outside labgate's limit; one
    lot just received (nothing tested: its release is blocked)."""
    assert configure(plant).status_code == 200
    tested = receive(plant, "SL-1")
    lab_results(plant, tested, ASSAY=("99.20", "%"))
    coa = [{"test_code": "ASSAY", "value": "97.5", "unit": "%"},
           {"test_code": "WATER", "value": "0.30", "unit": "%"}]  # fmt: skip
    answer = plant.call("analyst", "POST", f"/lots/{tested['code']}/supplier-coa",
                        json={"tests": coa})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return tested["code"], receive(plant, "SL-2")["code"]


def test_the_lots_and_a_lot_with_its_supplier_coa_are_the_apis(plant: Plant) -> None:
    tested, waiting = two_lots(plant)
    sign_in(plant.client, "auditor", plant.passwords["auditor"])
    listed = plant.call("qa", "GET", "/lots").json()["items"]
    page = plant.client.get(BASE)
    assert page.status_code == 200, page.text
    assert re.findall(r'<tr data-lot="([^"]+)"', page.text) == [x["code"] for x in listed]
    for status, expected in (("quarantine", [waiting, tested]), ("released", [])):
        shown = plant.client.get(f"{BASE}?status={status}").text
        assert re.findall(r'<tr data-lot="([^"]+)"', shown) == expected
    first = plant.client.get(f"{BASE}?status=quarantine&limit=1").text
    assert re.findall(r'<tr data-lot="([^"]+)"', first) == [waiting]
    link = re.search(r'href="([^"]*cursor=[^"]+)" [^>]*rel="next"', first)
    assert link, first
    second = plant.client.get(link.group(1).replace("&amp;", "&")).text
    assert re.findall(r'<tr data-lot="([^"]+)"', second) == [tested]
    assert 'rel="next"' not in second
    forged = plant.client.get(f"{BASE}?cursor=bm90LW91cnM")
    assert forged.status_code == 422 and "page.cursor_invalid" in forged.text

    lot = plant.call("qa", "GET", f"/lots/{tested}").json()
    html = plant.client.get(f"{BASE}/{tested}").text
    for line in lot["supplier_coa"]:
        row = re.search(rf'<tr data-coa="{line["test_code"]}" data-flagged="(\w+)">(.*?)</tr>',
                        html, re.S)  # fmt: skip
        assert row, line
        assert row.group(1) == ("true" if line["flagged"] else "false")
        assert f"data-supplier>{line['value']} " in row.group(2)
        assert f"data-labgate>{line['labgate_value']} " in row.group(2)
        assert f"data-difference>{line['difference']}<" in row.group(2)
    assert 'data-coa="ASSAY" data-flagged="true"' in html  # 97.5 against NLT 98.0
    compared = {line["test_code"]: line for line in lot["supplier_coa"]}
    assert compared["ASSAY"]["difference"] is not None  # a difference shown, not only a dash
    plan = plant.call("qa", "GET", "/skip-lot-plans/API-1/SUP-1").json()
    assert f'data-plan-state="{plan["state"]}"' in html
    assert lot["received_at_local"] in html
    assert "release-dialog" not in html  # the auditor decides nothing

    blocked = plant.call("qa", "GET", f"/lots/{waiting}").json()["release_blockers"]
    html = plant.client.get(f"{BASE}/{waiting}").text
    assert re.findall(r'data-blocker="([^"]+)"', html) == [b["reason"] for b in blocked]
    assert blocked


def _decision(html: str, user: str, password: str) -> dict[str, str]:
    return {"csrf_token": csrf_of(html), "reason": "Meets SPEC-RM v1; CoA flag assessed",
            "username": user, "password": password}  # fmt: skip


def test_qa_releases_a_lot_with_a_signature_and_refusals_are_shown(plant: Plant, hub: Hub) -> None:
    tested, waiting = two_lots(plant)
    sign_in(plant.client, "analyst", plant.passwords["analyst"])
    page = plant.client.get(f"{BASE}/{tested}").text
    forged_form = _decision(page, "analyst", plant.passwords["analyst"])
    forged = plant.client.post(f"{BASE}/{tested}/release", data=forged_form)
    assert forged.status_code == 403 and "Not allowed" in forged.text
    assert [e["actor"] for e in trail(hub, "refused.console.lot_release")] == ["analyst"]

    sign_in(plant.client, "qa", plant.passwords["qa"])
    page = plant.client.get(f"{BASE}/{waiting}").text
    assert 'data-meaning="released"' in page and 'data-meaning="rejected"' in page
    blocked = plant.client.post(f"{BASE}/{waiting}/release",
                                data=_decision(page, "qa", plant.passwords["qa"]))  # fmt: skip
    assert blocked.status_code == 409
    assert 'data-reason="release.result_missing"' in blocked.text
    assert "Meets SPEC-RM v1" in blocked.text  # the reason typed is kept
    page = plant.client.get(f"{BASE}/{tested}").text
    wrong = plant.client.post(f"{BASE}/{tested}/release", data=_decision(page, "qa", "wrong"))
    assert wrong.status_code == 401 and 'data-reason="signature.bad_credentials"' in wrong.text
    assert plant.call("qa", "GET", f"/lots/{tested}").json()["status"] == "quarantine"

    released = plant.client.post(f"{BASE}/{tested}/release", follow_redirects=False,
                                 data=_decision(page, "qa", plant.passwords["qa"]))  # fmt: skip
    assert released.status_code == 303, released.text
    assert released.headers["location"] == f"{BASE}/{tested}?done=released"
    html = plant.client.get(released.headers["location"]).text
    lot = plant.call("qa", "GET", f"/lots/{tested}").json()
    assert lot["status"] == "released" and 'data-status="released"' in html
    (signature,) = lot["signatures"]
    assert 'data-signature="released" data-status="valid"' in html
    assert f'title="user id: qa">{signature["printed_name"]}</span>' in html
    assert signature["signed_at_local"] in html
    assert "release-dialog" not in html and "reject-dialog" not in html  # decided once
