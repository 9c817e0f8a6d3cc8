"""The console's stability and OOT pages over HTTP on both databases: the studies, a study's
pulls, trend, Q1E estimate and plot exactly as the API answers them, the out-of-trend point
marked, the alerts; an alert assessed with an e-signature (post/redirect/get, manifestation),
and its refusals: a wrong password shown with its reason code, a role without the permission
refused 403 and audited, a post without its CSRF token refused."""

from __future__ import annotations

import re
from typing import Any

import pytest
from test_console import csrf_of, sign_in, trail
from test_stability_studies import (
    ASSAY,
    LONG,
    MORE_BATCHES,
    alerts,
    pulled_samples,
    started_studies,
)

from labgate.bootstrap import Hub
from labgate.domain import commands as c
from plant import Plant, SeededPlant

BASE = "/console/sites/T1"


@pytest.fixture
def plant(hub: Hub, client: Any, seeded_plant: SeededPlant) -> Plant:
    seeded = seeded_plant.on(client)
    hub.bus.handle(c.ImportMasterData(c.Context("admin"), MORE_BATCHES, "CR-3: batches"))
    return seeded


def reviewed(plant: Plant, sample: str, value: str, approved_at: str) -> None:
    """A result the stability lab reviewed in its LIMS (the API's third approval path: no
    password to check per result, so the setup stays cheap)."""
    body = {"sample": sample, "test_code": "ASSAY", "value": value, "unit": "%",
            "method_version": "1", "analyst": "analyst", "reviewer": "reviewer",
            "approved_at": approved_at}  # fmt: skip
    answer = plant.call("lims", "POST", "/results/reviewed", json=body)
    assert answer.status_code == 201, answer.text


def out_of_trend(plant: Plant) -> tuple[dict[str, str], str]:
    """Three studies with 0-6 months approved and a 9-month pull for B3 off the trend (the
    API's OOT test's data); the studies by batch and the alert's code."""
    studies = started_studies(plant)
    for batch in ("B1", "B2", "B3"):
        samples = pulled_samples(plant, studies[batch])
        for months, value in zip((0, 3, 6), ASSAY[batch], strict=False):
            reviewed(plant, samples[months], value, "2026-10-01T08:00:00Z")
    pull = {"condition": LONG, "time_point": 9, "pulled_at": "2026-10-05T08:00:00Z"}
    answer = plant.call("analyst", "POST", f"/stability-studies/{studies['B3']}/pulls", json=pull)
    assert answer.status_code == 201, answer.text
    reviewed(plant, answer.json()["sample"], ASSAY["B3"][3], "2026-10-12T08:00:00Z")
    (alert,) = alerts(plant, status="open")
    return studies, str(alert["code"])


def rows(html: str, attribute: str) -> list[str]:
    return re.findall(rf'<tr {attribute}="([^"]+)"', html)


def test_studies_a_study_its_trend_and_the_alerts_are_the_apis(plant: Plant) -> None:
    studies, alert = out_of_trend(plant)
    sign_in(plant.client, "production", plant.passwords["production"])
    listed = plant.call("qa", "GET", "/stability-studies").json()["items"]
    page = plant.client.get(f"{BASE}/stability")
    assert page.status_code == 200, page.text
    assert rows(page.text, "data-study") == [s["code"] for s in listed]
    assert '<a href="/console/sites/T1/stability" aria-current="page">Lab data</a>' in page.text

    study = studies["B3"]
    view = plant.call("qa", "GET", f"/stability-studies/{study}").json()
    html = plant.client.get(f"{BASE}/stability/{study}").text
    shown = re.findall(r'<tr data-pull="([^"]+)" data-state="(\w+)"', html)
    assert shown == [(f"{p['condition']} T{p['time_point']}", p["state"]) for p in view["schedule"]]
    pulled = next(p for p in view["schedule"] if p["state"] == "pulled")
    assert pulled["pulled_at_local"] in html and pulled["due_at_local"] in html
    waiting = sum(p["state"] in ("due", "overdue") for p in view["schedule"])
    assert f'<tr data-study="{study}">' in page.text
    assert re.search(rf'data-study="{study}">.*?data-waiting="{waiting}"', page.text, re.S)

    trend = plant.call("qa", "GET", f"/stability-studies/{study}/trend").json()
    long_term = next(s for s in trend["series"] if s["condition"] == LONG)
    values = re.findall(r'<tr data-point="([^"]+)"[^>]*>.*?data-value>([^<]+)<', html, re.S)
    for point in long_term["points"]:
        assert (point["sample"], point["value"]) in values  # "98.4" as stored, never a float
    marked = plant.call("qa", "GET", f"/oot-alerts/{alert}").json()
    assert f'<tr data-point="{marked["sample"]}" data-oot="{alert}">' in html
    estimate = long_term["shelf_life"]
    assert estimate is not None, long_term
    assert f"data-shelf-life>{estimate['shelf_life']} months" in html
    assert f"data-proposed>{estimate['proposed_shelf_life']} months" in html

    # The plot itself is drawn in the browser test (matplotlib takes seconds to load).
    assert f'src="{BASE}/stability/{study}/plot.png?test=ASSAY&amp;condition=25C/60%25RH"' in html
    missing = plant.client.get(f"{BASE}/stability/{study}/plot.png", params={"test": "NOPE"})
    assert missing.status_code == 404 and "stability.series_unknown" in missing.text

    open_alerts = plant.client.get(f"{BASE}/oot-alerts?status=open").text
    assert rows(open_alerts, "data-alert") == [a["code"] for a in alerts(plant, status="open")]
    assert rows(plant.client.get(f"{BASE}/oot-alerts?status=acknowledged").text, "data-alert") == []
    partial = plant.client.get(f"{BASE}/oot-alerts?status=open&limit=25",
                               headers={"HX-Request": "true"})  # fmt: skip
    assert partial.text.lstrip().startswith('<section id="alerts"')  # the filter's htmx block
    assert partial.headers["HX-Push-Url"] == f"{BASE}/oot-alerts?status=open"


def _form(html: str, user: str, password: str) -> dict[str, str]:
    return {"csrf_token": csrf_of(html), "assessment": "In spec; trend reviewed, no action.",
            "username": user, "password": password}  # fmt: skip


def test_an_alert_is_assessed_with_a_signature_and_its_refusals_are_shown(
    plant: Plant, hub: Hub
) -> None:
    _, alert = out_of_trend(plant)
    here, post = f"{BASE}/oot-alerts/{alert}", f"{BASE}/oot-alerts/{alert}/acknowledgement"

    sign_in(plant.client, "analyst", plant.passwords["analyst"])
    page = plant.client.get(here).text
    assert "acknowledgement" not in page  # no form for a role that may not assess
    forged = plant.client.post(post, data=_form(page, "analyst", plant.passwords["analyst"]))
    assert forged.status_code == 403 and "Not allowed" in forged.text
    assert [e["actor"] for e in trail(hub, "refused.console.oot_acknowledge")] == ["analyst"]

    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    page = plant.client.get(here).text
    assert 'data-meaning="reviewed"' in page
    no_token = _form(page, "reviewer", plant.passwords["reviewer"]) | {"csrf_token": ""}
    assert plant.client.post(post, data=no_token).status_code == 403
    wrong = plant.client.post(post, data=_form(page, "reviewer", "not-the-password"))
    assert wrong.status_code == 401
    assert 'data-reason="signature.bad_credentials"' in wrong.text
    assert "In spec; trend reviewed" in wrong.text  # what was typed is kept
    assert plant.call("qa", "GET", f"/oot-alerts/{alert}").json()["status"] == "open"

    signed = plant.client.post(post, data=_form(page, "reviewer", plant.passwords["reviewer"]),
                               follow_redirects=False)  # fmt: skip
    assert signed.status_code == 303, signed.text
    assert signed.headers["location"] == f"{here}?done=acknowledged"
    shown = plant.client.get(signed.headers["location"]).text
    view = plant.call("qa", "GET", f"/oot-alerts/{alert}").json()
    assert view["status"] == "acknowledged" and view["acknowledged_by"] == "reviewer"
    (signature,) = view["signatures"]
    assert 'data-signature="reviewed" data-status="valid"' in shown
    assert f'title="user id: reviewer">{signature["printed_name"]}</span>' in shown
    assert signature["signed_at_local"] in shown
    assert "acknowledgement" not in shown  # assessed once: the form is gone
    again = plant.client.post(post, data=_form(shown, "reviewer", plant.passwords["reviewer"]))
    assert again.status_code == 409 and "oot.already_acknowledged" in again.text
