"""The console's periodic audit-trail reviews over HTTP on both databases: My work shows the
overdue months to QA; QA computes a review from the form, marks its spot check, is refused a
sign-off with a wrong password, then signs it off; the auditor reads it without the forms."""

from __future__ import annotations

import re
from typing import Any

import pytest
from test_console import csrf_of, sign_in

from fakes import ManualClock
from labgate.bootstrap import Hub
from plant import SITE, Plant, SeededPlant
from senders import Sender, register, request

LIST = f"/console/sites/{SITE}/audit-reviews"


@pytest.fixture
def plant(hub: Hub, client: Any, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def tile(html: str) -> str:
    found = re.search(r'data-tile="audit_review".*?</li>', html, re.S)
    assert found, html
    return found.group(0)


@pytest.mark.requirement("URS-A11-11", category="positive")
def test_qa_sees_overdue_reviews_in_my_work_computes_marks_and_signs_off(
    plant: Plant, hub: Hub, clock: ManualClock
) -> None:
    mes = Sender(hub, "mes", "requests", "mes-1", register(hub, "mes", "mes-1"))
    headers = {"X-API-Key": plant.api_keys["mes"], "Content-Type": "application/json"}
    for n in (1, 2):
        sent = plant.client.post("/api/v1/inbox", content=request(mes, f"REQ-{n}"), headers=headers)
        assert sent.status_code == 200, sent.text
    clock.advance(days=41)  # 5 January 2027: November's review is 5 days overdue
    assert sign_in(plant.client, "qa", plant.passwords["qa"]).status_code == 303
    home = plant.client.get(f"/console/sites/{SITE}/").text
    assert "Audit-trail reviews overdue" in tile(home) and ">1<" in tile(home).replace(" ", "")
    listed = plant.client.get(LIST)
    assert 'data-overdue="2026-11"' in listed.text

    form = {"csrf_token": csrf_of(listed.text), "from": "2026-11-01", "to": "2026-12-01",
            "source": "", "sample_size": "2"}  # fmt: skip
    made = plant.client.post(LIST, data=form, follow_redirects=False)
    assert made.status_code == 303, made.text
    page = plant.client.get(made.headers["location"]).text
    assert 'data-state="draft"' in page and 'data-category="gxp_change"' in page
    messages = re.findall(r'<tr data-message="(\d+)" data-mark="unmarked"', page)
    assert len(messages) == 2
    here = made.headers["location"]
    for message in messages:
        mark = {"csrf_token": csrf_of(page), "mark": "checked", "note": "matches the MES"}
        answer = plant.client.post(f"{here}/spot-check/{message}", data=mark,
                                   follow_redirects=False)  # fmt: skip
        assert answer.status_code == 303, answer.text
    page = plant.client.get(here).text
    assert page.count('data-mark="checked"') == 2

    sign = {"csrf_token": csrf_of(page), "comment": "November reviewed; nothing to raise.",
            "username": "qa", "password": "wrong"}  # fmt: skip
    refused = plant.client.post(f"{here}/sign-off", data=sign, follow_redirects=False)
    assert refused.status_code == 401
    assert 'data-reason="signature.bad_credentials"' in refused.text
    assert "November reviewed; nothing to raise." in refused.text  # the comment is kept
    sign["password"] = plant.passwords["qa"]
    done = plant.client.post(f"{here}/sign-off", data=sign, follow_redirects=False)
    assert done.status_code == 303, done.text
    page = plant.client.get(here).text
    assert 'data-state="signed_off"' in page and 'data-signature="reviewed"' in page
    assert "Qa Person" in page and 'data-status="valid"' in page
    home = plant.client.get(f"/console/sites/{SITE}/").text
    assert ">0<" in tile(home).replace(" ", "")
    report = plant.client.get(f"{here}/report.pdf")
    assert report.headers["content-type"] == "application/pdf"


def test_the_auditor_reads_reviews_without_the_forms(plant: Plant, clock: ManualClock) -> None:
    clock.advance(days=2)
    day = {"from": "2026-11-25T00:00:00Z", "to": "2026-11-26T00:00:00Z"}
    code = plant.call("qa", "POST", "/audit-reviews", json=day).json()["code"]
    assert sign_in(plant.client, "auditor", plant.passwords["auditor"]).status_code == 303
    listed = plant.client.get(LIST).text
    assert f'data-review="{code}"' in listed and "Compute the review" not in listed
    page = plant.client.get(f"{LIST}/{code}").text
    assert "Sign off" not in page and "Not signed off yet." in page
    home = plant.client.get(f"/console/sites/{SITE}/").text
    assert 'data-tile="audit_review"' not in home  # the tile is the reviewers'
