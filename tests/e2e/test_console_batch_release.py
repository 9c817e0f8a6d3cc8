"""QA's disposition from the batch page over HTTP on both databases: release and rejection with
the e-signature dialog through the API's own commands (the batch, its signature and the MES
message as the API shows them), no release offered while the handler would refuse it (and a
forged POST refused as the API refuses it), a wrong password, a form without its CSRF token and
a role without the permission refused on the page with their reason codes, and audited."""

from __future__ import annotations

import re
from typing import Any

import pytest
from test_console import csrf_of, sign_in, trail
from test_disposition import CLEAN, enter, outbox

from labgate.bootstrap import Hub
from plant import SITE, Plant, SeededPlant, approved_result, request_sample

PAGE = f"/console/sites/{SITE}/batches/B1"


@pytest.fixture
def plant(hub: Hub, client: Any, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def _ready(plant: Plant, water: str = "0.2") -> str:
    """B1 with its release panel approved and in specification (water as given)."""
    sample = request_sample(plant, "REQ-READY")
    for test, value, unit in CLEAN:
        approved_result(plant, sample, test, water if test == "WATER" else value, unit)
    return sample


def _post(plant: Plant, action: str, user: str, password: str, **extra: str) -> Any:
    page = plant.client.get(PAGE)
    assert page.status_code == 200, page.text
    form = {"csrf_token": csrf_of(page.text), "username": user, "password": password, **extra}
    return plant.client.post(f"{PAGE}/{action}", data=form, follow_redirects=False)


def _refusals(hub: Hub, action: str) -> list[tuple[str, str]]:
    return [(e["actor"], e["after"]["reason_code"]) for e in trail(hub, f"refused.{action}")]


@pytest.mark.requirement("URS-A11-15", "URS-P11-11.200a")
def test_qa_releases_from_its_page_a_batch_whose_findings_do_not_block(
    plant: Plant, hub: Hub
) -> None:
    sample = _ready(
        plant, water="0.48"
    )  # 0.5 once rounded: beyond the alert limit NMT 0.4, within NMT 0.5
    review = plant.call("qa", "GET", "/batches/B1/review").json()
    assert [i["kind"] for i in review["items"]] == ["result_alert_band"]
    sign_in(plant.client, "qa", plant.passwords["qa"])
    page = plant.client.get(PAGE).text
    # The release handler asks for no acknowledgement of such a finding: offered, and said so.
    assert 'data-finding="result_alert_band"' in page
    assert 'data-release="open"' in page and "Sign and release" in page
    assert "do not block it" in page
    assert "Meaning of this signature: <strong>released</strong>" in page

    wrong = _post(plant, "release", "qa", "not-the-password")
    assert wrong.status_code == 401
    assert 'data-reason="signature.bad_credentials"' in wrong.text
    assert _refusals(hub, "release_batch") == [("qa", "signature.bad_credentials")]
    assert plant.call("qa", "GET", "/batches/B1").json()["disposition"] == "pending"

    answer = _post(plant, "release", "qa", plant.passwords["qa"])
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"{PAGE}?done=released"
    shown = plant.client.get(answer.headers["location"]).text
    batch = plant.call("qa", "GET", "/batches/B1").json()
    assert (batch["disposition"], batch["released_by"]) == ("released", "qa")
    [signature] = batch["signatures"]
    assert (signature["meaning"], signature["status"]) == ("released", "valid")
    [told] = outbox(plant, "batch_disposition")
    assert (told["batch"], told["disposition"], told["signed_by"]) == ("B1", "released", "qa")
    assert told["samples"] == [sample]
    # The manifestation: printed name (id on hover), site time to the second, meaning, valid.
    assert 'data-done="released"' in shown
    assert 'data-signature="released" data-status="valid"' in shown
    assert f'title="user id: qa">{signature["printed_name"]}</span>' in shown
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d", shown)
    assert trail(hub, "batch.released")[-1]["actor"] == "qa"
    assert "Sign and release" not in shown and "Sign and reject" not in shown


def test_a_blocked_batch_offers_no_release_and_a_forged_one_is_refused_as_the_api_does(
    plant: Plant, hub: Hub
) -> None:
    sample = request_sample(plant, "REQ-OPEN")
    enter(plant, sample, "ASSAY", "99.62")  # preliminary: a finding that blocks the release
    sign_in(plant.client, "qa", plant.passwords["qa"])
    page = plant.client.get(PAGE).text
    assert 'data-release="blocked"' in page and "Sign and release" not in page
    assert "result_preliminary" in page  # the review by exception's finding
    api = plant.call("qa", "POST", "/batches/B1/release",
                     json={"signature": plant.signature("qa", "released")})  # fmt: skip
    assert api.status_code == 409
    reason = api.json()["reason"]
    assert f"<code>{reason}</code>" in page  # the handler's own reason, before anyone signs
    assert "Sign and reject" in page  # rejection stays open: its handler takes it
    # The procedure tree and its sampling points, as the API's dossier holds them.
    procedure = plant.call("qa", "GET", "/batches/B1/dossier?format=json").json()["procedure"]
    assert re.findall(r'data-element="([^"]+)"', page) == [e["path"] for e in procedure["elements"]]
    assert re.findall(r'data-sampling-point="([^"]+)"', page) == [
        p["code"] for p in procedure["sampling_points"]
    ]

    forged = _post(plant, "release", "qa", plant.passwords["qa"])
    assert forged.status_code == 409
    assert f'data-reason="{reason}"' in forged.text
    assert _refusals(hub, "release_batch") == [("qa", reason), ("qa", reason)]
    assert plant.call("qa", "GET", "/batches/B1").json()["disposition"] == "pending"
    assert outbox(plant, "batch_disposition") == []


def test_production_sees_no_disposition_and_a_forged_post_is_403_audited(
    plant: Plant, hub: Hub
) -> None:
    _ready(plant)
    sign_in(plant.client, "production", plant.passwords["production"])
    page = plant.client.get(PAGE).text
    assert 'data-release="open"' in page  # what a release would meet is shown to all...
    assert "Sign and release" not in page and "Sign and reject" not in page  # ...acting is not
    api = plant.call("production", "POST", "/batches/B1/release",
                     json={"signature": plant.signature("production", "released")})  # fmt: skip
    assert api.status_code == 403
    for action in ("release", "rejection"):
        forged = _post(plant, action, "production", plant.passwords["production"], reason="Why")
        assert forged.status_code == 403
        assert api.json()["reason"] in forged.text
    entries = [e["actor"] for e in trail(hub, "refused.console.batch_release")]
    assert entries == ["production"]
    assert [e["actor"] for e in trail(hub, "refused.console.batch_reject")] == ["production"]
    assert plant.call("qa", "GET", "/batches/B1").json()["disposition"] == "pending"


def test_qa_rejects_with_a_reason_and_a_form_without_one_is_refused(plant: Plant, hub: Hub) -> None:
    _ready(plant)
    sign_in(plant.client, "qa", plant.passwords["qa"])
    no_csrf = plant.client.post(f"{PAGE}/rejection", data={"username": "qa", "reason": "x"})
    assert no_csrf.status_code == 403 and "console.csrf_missing" in no_csrf.text
    empty = _post(plant, "rejection", "qa", plant.passwords["qa"], reason="  ")
    assert empty.status_code == 422
    assert 'data-reason="input.reason_required"' in empty.text and "needs a reason" in empty.text
    assert _refusals(hub, "reject_batch") == [("qa", "input.reason_required")]

    why = "Blend uniformity failure at compression"
    answer = _post(plant, "rejection", "qa", plant.passwords["qa"], reason=why)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"{PAGE}?done=rejected"
    shown = plant.client.get(answer.headers["location"]).text
    batch = plant.call("qa", "GET", "/batches/B1").json()
    [signature] = batch["signatures"]
    assert (batch["disposition"], signature["meaning"], signature["status"]) == (
        "rejected", "rejected", "valid",
    )  # fmt: skip
    [told] = outbox(plant, "batch_disposition")
    assert (told["disposition"], told["reason"]) == ("rejected", why)
    assert 'data-signature="rejected" data-status="valid"' in shown
    assert 'data-disposed="rejected"' in shown and "Sign and release" not in shown
    again = _post(plant, "release", "qa", plant.passwords["qa"])
    assert again.status_code == 409 and 'data-reason="release.already_rejected"' in again.text
    form = {"csrf_token": csrf_of(shown), "username": "qa", "password": plant.passwords["qa"]}
    unknown = plant.client.post(f"/console/sites/{SITE}/batches/NOPE/release", data=form)
    assert unknown.status_code == 404 and "batch.unknown" in unknown.text
    assert trail(hub, "refused.release_batch")[-1]["record_id"] == "NOPE"
    assert trail(hub, "refused.console.batch_release") == []  # audited once, by the bus
