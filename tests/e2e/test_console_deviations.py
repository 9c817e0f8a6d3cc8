"""The console's deviations over HTTP on both databases: the list as the API lists it (filters,
pages, links), the workspace of one OOS, and its three e-signed stages through the API's own
commands (phase I, phase II, closure), each refused as the API refuses it: a wrong password, a
role without the permission (no form, a forged POST 403 and audited), a stage out of turn,
segregation of duties, a field the API's body does not take."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select
from test_console import csrf_of, sign_in, trail
from test_oos import enter, oos_sample

from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from plant import SITE, Plant, SeededPlant

LIST = f"/console/sites/{SITE}/deviations"
DEV = "DEV-000001"
WORKSPACE = f"{LIST}/{DEV}"


@pytest.fixture
def plant(hub: Hub, client: Any, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def listed(html: str) -> list[str]:
    return re.findall(r'<tr data-deviation="([^"]+)"', html)


def workspace(plant: Plant, status: int = 200) -> str:
    answer = plant.client.get(WORKSPACE)
    assert answer.status_code == status, answer.text
    return answer.text


def post(plant: Plant, step: str, user: str, password: str | None = None, **fields: str) -> Any:
    """A stage's form as the signed-in person's browser posts it (unfollowed)."""
    form = {"csrf_token": csrf_of(workspace(plant)), "username": user,
            "password": password or plant.passwords[user], **fields}  # fmt: skip
    return plant.client.post(f"{WORKSPACE}/{step}", data=form, follow_redirects=False)


def api_view(plant: Plant) -> dict[str, Any]:
    answer = plant.call("qa", "GET", f"/deviations/{DEV}")
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()
    return shown


def refused_reasons(hub: Hub) -> list[str]:
    a = t.audit_entries.c
    with hub.sessions() as session:
        rows = session.scalars(select(a.after).where(a.action.like("refused.%"))).all()
    return [row["reason_code"] for row in rows]


def test_the_list_shows_deviations_as_the_api_does_filters_and_pages(plant: Plant) -> None:
    sample, result = oos_sample(plant, "REQ-1")
    oos_sample(plant, "REQ-2")
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    page = plant.client.get(LIST)
    assert page.status_code == 200, page.text
    api = plant.call("reviewer", "GET", "/deviations").json()["items"]
    assert listed(page.text) == [d["code"] for d in api] == ["DEV-000002", DEV]
    row = re.search(rf'<tr data-deviation="{DEV}".*?</tr>', page.text, re.S)
    assert row, page.text
    cells = row.group(0)
    assert f'href="/console/sites/{SITE}/samples/{sample}"' in cells
    assert f'href="/console/sites/{SITE}/batches/B1"' in cells
    assert f"<code>{result}</code> · ASSAY" in cells and "<td>P1</td>" in cells
    assert 'data-state="open_phase1"' in cells and "Phase I: laboratory investigation" in cells
    assert 'title="user id: analyst">Analyst Person</span>' in cells
    view = api_view(plant)
    assert f">{view['opened_at_local']}</time>" in cells  # site time to the second, offset
    # The API's filters give the API's rows.
    for query, expected in (("state=open", 2), ("state=closed", 0), ("state=open_phase1", 2),
                            ("batch=B2", 0), ("batch=B1", 2)):  # fmt: skip
        key, value = query.split("=")
        api_rows = plant.call("reviewer", "GET", "/deviations", params={key: value}).json()
        shown = listed(plant.client.get(f"{LIST}?{query}").text)
        assert shown == [d["code"] for d in api_rows["items"]] and len(shown) == expected, query
    first = plant.client.get(f"{LIST}?limit=1")
    assert listed(first.text) == ["DEV-000002"]
    link = re.search(rf'href="({LIST}\?[^"]*cursor=[^"]+)"', first.text)
    assert link
    second = plant.client.get(link.group(1).replace("&amp;", "&"))
    assert listed(second.text) == [DEV] and 'rel="next"' not in second.text
    partial = plant.client.get(f"{LIST}?state=open&batch=", headers={"HX-Request": "true"})
    assert partial.text.lstrip().startswith('<section id="listed"')
    assert partial.headers["HX-Push-Url"] == f"{LIST}?state=open"
    home = plant.client.get(f"/console/sites/{SITE}/").text
    assert f'href="{LIST}?state=open"' in home  # My work's tile leads here


def test_the_three_stages_signed_through_the_console_as_the_api_shows_them(
    plant: Plant, hub: Hub
) -> None:
    oos_sample(plant, "REQ-1")
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    page = workspace(plant)
    steps = dict(re.findall(r'<dd data-step="(\w+)">(.*?)</dd>', page, re.S))
    assert steps["raw"].strip() == '98.94 <span class="unit">%</span>'
    assert steps["reported"].startswith('98.9 <span class="unit">%</span>')
    assert "<code>NLT 99.0</code>" in steps["limit"] and "SPEC-A version 2" in steps["limit"]
    assert 'data-hold="on"' in page
    assert "Meaning of this signature: <strong>reviewed</strong>" in page
    assert 'action="' + WORKSPACE + '/phase2"' not in page  # only the stage that is next

    done = post(plant, "phase1", "reviewer", conclusion="no_assignable_cause",
                reason="Method, analyst, equipment and standards checked")  # fmt: skip
    assert (done.status_code, done.headers["location"]) == (303, f"{WORKSPACE}?done=phase1")
    assert api_view(plant)["state"] == "open_phase2"
    done = post(plant, "phase2", "reviewer", conclusion="confirmed",
                rationale="Blend uniformity failure in manufacturing")  # fmt: skip
    assert done.status_code == 303, done.text
    assert "Sign and close" not in workspace(plant)  # a reviewer does not close

    sign_in(plant.client, "qa", plant.passwords["qa"])
    no_capa = post(plant, "closure", "qa", capa="", reason="OOS confirmed, batch rejected")
    assert no_capa.status_code == 422
    assert 'data-reason="deviation.capa_required"' in no_capa.text
    assert "OOS confirmed, batch rejected</textarea>" in no_capa.text  # kept to try again
    done = post(plant, "closure", "qa", capa="CAPA-0042", reason="OOS confirmed, batch rejected")
    assert done.status_code == 303, done.text

    view = api_view(plant)
    assert (view["state"], view["capa"], view["closed_by"]) == ("closed", "CAPA-0042", "qa")
    assert [(s["meaning"], s["status"]) for s in view["signatures"]] == [
        ("reviewed", "valid"), ("reviewed", "valid"), ("approved", "valid")
    ]  # fmt: skip
    page = plant.client.get(f"{WORKSPACE}?done=closure").text
    assert 'role="status"' in page
    for signature in view["signatures"]:
        assert f'title="user id: {signature["signer"]}">{signature["printed_name"]}</span>' in page
        assert f">{signature['signed_at_local']}</time>" in page
    assert page.count('data-status="valid"') == 3 and "Still matches the record" in page
    assert 'data-hold="off"' in page
    history = re.findall(r'<li data-action="([\w.]+)"', page)  # QA reads the trail
    assert history[0] == "deviation.opened" and "deviation.closed" in history
    assert "refused.close_deviation" in history  # the refusal above, on the record
    closed = plant.client.get(f"{LIST}?state=closed").text
    assert listed(closed) == [DEV] and re.search(r"data-age>ran \d+ h<", closed)


def test_no_form_without_the_permission_and_a_laboratory_error_leads_to_its_retest(
    plant: Plant, hub: Hub
) -> None:
    """A role that may not sign sees no form and its forged POST is refused (403, audited);
    then phase I finds a laboratory error: the result is invalidated, its retest shown."""
    sample, result = oos_sample(plant, "REQ-1")
    sign_in(plant.client, "production", plant.passwords["production"])
    page = workspace(plant)
    assert '<form method="post" action="' + WORKSPACE not in page
    assert "History (audit trail)" in page and 'data-action="' not in page  # no trail to read
    form = {"csrf_token": csrf_of(page), "username": "production",
            "password": plant.passwords["production"], "conclusion": "assignable_cause",
            "reason": "Forged from another page"}  # fmt: skip
    answer = plant.client.post(f"{WORKSPACE}/phase1", data=form)
    assert answer.status_code == 403 and "access.missing_permission" in answer.text
    refused = trail(hub, "refused.console.deviation_phase1")
    assert [(e["actor"], e["after"]["reason_code"]) for e in refused] == [
        ("production", "access.missing_permission")
    ]
    no_token = {k: v for k, v in form.items() if k != "csrf_token"}
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    answer = plant.client.post(f"{WORKSPACE}/phase1", data=no_token)
    assert answer.status_code == 403 and "console.csrf_missing" in answer.text
    assert api_view(plant)["state"] == "open_phase1"
    unknown = plant.client.get(f"{LIST}/DEV-999999")
    assert unknown.status_code == 404 and "deviation.unknown" in unknown.text

    done = post(plant, "phase1", "reviewer", conclusion="assignable_cause",
                reason="Wrong dilution: 10 mL flask used for 25 mL")  # fmt: skip
    assert done.status_code == 303, done.text
    retest = enter(plant, sample, "99.4", retest_of=result)
    approved = plant.call("reviewer", "POST", f"/results/{retest}/approval",
                          json={"signature": plant.signature("reviewer")})  # fmt: skip
    assert approved.status_code == 200, approved.text
    view = api_view(plant)
    assert (view["state"], view["result_status"], view["retest"]) == (
        "invalidated", "invalidated", retest
    )  # fmt: skip
    page = workspace(plant)
    row = re.search(rf'<tr data-retest="{retest}">(.*?)</tr>', page, re.S)
    assert row and '99.4 <span class="unit">%</span>' in row.group(1)
    assert "Conforms" in row.group(1) and "Not needed: phase I found a laboratory error" in page
    assert 'data-hold="off"' in page and "Conclude phase" not in page


def test_refusals_show_their_reason_are_audited_and_conclude_nothing(
    plant: Plant, hub: Hub
) -> None:
    """A wrong password, a stage out of turn (as the API refuses it), a field the API's body
    does not take, segregation of duties."""
    oos_sample(plant, "REQ-1")
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    answer = post(plant, "phase1", "reviewer", "not-the-password",
                  conclusion="assignable_cause", reason="Wrong dilution used")  # fmt: skip
    assert answer.status_code == 401
    assert 'data-reason="signature.bad_credentials"' in answer.text
    assert "not-the-password" not in answer.text
    assert "Wrong dilution used</textarea>" in answer.text  # kept, to try again
    assert "Sign and conclude phase I" in answer.text
    assert api_view(plant)["state"] == "open_phase1"
    assert refused_reasons(hub) == ["signature.bad_credentials"]

    api = plant.call("reviewer", "POST", f"/deviations/{DEV}/phase2",
                     json={"conclusion": "confirmed", "rationale": "Far too early",
                           "signature": plant.signature("reviewer", "reviewed")})  # fmt: skip
    early = post(plant, "phase2", "reviewer", conclusion="confirmed", rationale="Far too early")
    assert (early.status_code, api.status_code) == (409, 409)
    assert f'data-reason="{api.json()["reason"]}"' in early.text  # deviation.invalid_transition
    bad = post(plant, "phase1", "reviewer", conclusion="maybe", reason="Unsure of the cause")
    assert bad.status_code == 422 and 'data-reason="deviation.bad_phase1_conclusion"' in bad.text
    too_long = post(plant, "phase1", "reviewer", conclusion="assignable_cause", reason="x" * 2001)
    assert too_long.status_code == 422
    assert "field <code>reason</code>" in too_long.text and "input.string_too_long" in too_long.text

    sign_in(plant.client, "qa", plant.passwords["qa"])
    post(plant, "phase1", "qa", conclusion="no_assignable_cause", reason="Nothing found in lab")
    post(plant, "phase2", "qa", conclusion="not_confirmed", rationale="Sampling error shown")
    own = post(plant, "closure", "qa", capa="", reason="Approving my own conclusion")
    assert own.status_code == 403
    assert 'data-reason="deviation.approver_is_investigator"' in own.text
    bad_capa = post(plant, "closure", "qa", capa="CAPA 1", reason="A reference with a space")
    assert bad_capa.status_code == 422 and "field <code>capa</code>" in bad_capa.text
    assert api_view(plant)["state"] == "concluded"
    assert refused_reasons(hub).count("deviation.approver_is_investigator") == 1
