"""Change control in the console over HTTP on both databases: the list (filtered by state), a
request raised through the form, its page (the status map's changes against the map in force,
the computed assessment, the history), QA's approval with an e-signature, its author refused
with the reason shown, a wrong password refused and audited, a forged form without CSRF."""

from __future__ import annotations

import re
import secrets
from typing import Any

import pytest
from sqlalchemy import select
from test_console import csrf_of, sign_in

from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub, bootstrap
from labgate.config import Settings
from labgate.domain.commands import Context, CreateAccount
from plant import SITE, Plant, SeededPlant, first_own_password, request_sample

LIST = f"/console/sites/{SITE}/change-requests"


@pytest.fixture
def plant(hub: Hub, client: Any, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def listed(html: str) -> list[str]:
    return re.findall(r'<tr data-change="([^"]+)"', html)


def raise_form(plant: Plant, **fields: str) -> Any:
    """The status-map form as the list page offers it (the map in force), with `fields` set."""
    page = plant.client.get(LIST)
    assert page.status_code == 200, page.text
    form = {"csrf_token": csrf_of(page.text), "kind": "status_map",
            "title": "Hold conforming results", "reason": "QA decision QD-12",
            "effective_from": ""}  # fmt: skip
    rules = re.findall(r'name="(rule-\d+-(?:lims_status|outcome))" value="([^"]+)"', page.text)
    form |= dict(rules)
    for name in re.findall(r'<select name="(rule-\d+-mes_status)"', page.text):
        index = name.split("-")[1]
        chosen = re.search(rf'name="{name}".*?<option selected>(\w+)</option>', page.text, re.S)
        assert chosen is not None
        form[name] = chosen.group(1)
        if (
            form[f"rule-{index}-lims_status"] == "approved"
            and form[f"rule-{index}-outcome"] == "conforms"
        ):
            form[name] = "Pending"
    return plant.client.post(LIST, data=form | fields, follow_redirects=False)


def page_of(plant: Plant, code: str) -> str:
    answer = plant.client.get(f"{LIST}/{code}")
    assert answer.status_code == 200, answer.text
    return answer.text


def post(plant: Plant, code: str, step: str, **fields: str) -> Any:
    form = {"csrf_token": csrf_of(page_of(plant, code)), **fields}
    return plant.client.post(f"{LIST}/{code}/{step}", data=form, follow_redirects=False)


def refused_reasons(hub: Hub) -> list[str]:
    a = t.audit_entries.c
    with hub.sessions() as session:
        rows = session.scalars(select(a.after).where(a.action.like("refused.%"))).all()
    return [row["reason_code"] for row in rows]


@pytest.mark.requirement("URS-A11-10", "URS-P11-11.10g")
def test_raise_a_status_map_change_through_the_form_and_qa_approves_it(
    plant: Plant, hub: Hub
) -> None:
    sample = request_sample(plant, "CON-1")
    sign_in(plant.client, "admin", plant.passwords["admin"])
    assert 'href="/console/sites/T1/change-requests"' in plant.client.get(LIST).text  # nav
    raised = raise_form(plant)
    assert raised.status_code == 303, raised.text
    code = raised.headers["location"].split("/")[-1].split("?")[0]
    html = page_of(plant, code)
    assert 'data-case="approved/conforms" data-changed="true"' in html
    assert 'data-case="approved/not conforming" data-changed="false"' in html
    assert "Accepted → Pending" in html and 'data-action="change_request.raised"' in html
    assert "Not assessed yet" in html and "Approve…" not in html  # admin: no QA form

    assert post(plant, code, "assessment").status_code == 303
    html = page_of(plant, code)
    assert f"<code>{SITE}/{sample}</code>" in html and 'data-requirement="URS-A11-10"' in html
    assert listed(plant.client.get(f"{LIST}?state=assessed").text) == [code]
    assert listed(plant.client.get(f"{LIST}?state=effective").text) == []

    sign_in(plant.client, "qa", plant.passwords["qa"])
    wrong = post(plant, code, "approval", username="qa", password="not-the-password")
    assert wrong.status_code == 401
    assert 'data-reason="signature.bad_credentials"' in wrong.text
    assert "not-the-password" not in wrong.text
    assert "signature.bad_credentials" in refused_reasons(hub)
    approved = post(plant, code, "approval", username="qa", password=plant.passwords["qa"])
    assert approved.status_code == 303, approved.text
    html = plant.client.get(approved.headers["location"]).text
    assert 'data-field="state">Effective' in html and "approved with your signature" in html
    assert 'data-action="signature.applied"' in html
    assert plant.call("auditor", "GET", f"/change-requests/{code}").json()["approver"] == "qa"


@pytest.mark.requirement("URS-A11-10", "URS-P11-11.10g", category="negative")
def test_its_author_is_refused_on_approval_with_the_reason_shown(
    plant: Plant, hub: Hub, settings: Settings
) -> None:
    # A site whose role policy lets one person be administrator and QA (LABGATE_ROLE_CONFLICTS).
    pairs = [p for p in settings.role_conflicts if set(p) != {"integration_admin", "qa"}]
    allowing = bootstrap(settings.model_copy(update={"role_conflicts": pairs}))
    temporary = secrets.token_urlsafe(16)
    try:
        allowing.bus.handle(CreateAccount(Context("test-setup", "system"), "dual", "Dual",
                                          ("integration_admin", "qa"), temporary))  # fmt: skip
    finally:
        allowing.close()
    password = first_own_password(hub, "dual", temporary)
    sign_in(plant.client, "dual", password)
    raised = raise_form(plant)
    code = raised.headers["location"].split("/")[-1].split("?")[0]
    post(plant, code, "assessment")
    assert 'id="author-note"' in page_of(plant, code)
    refused = post(plant, code, "approval", username="dual", password=password)
    assert refused.status_code == 403
    assert 'data-reason="change.approver_is_author"' in refused.text
    assert "cannot also approve it" in refused.text
    assert plant.call("auditor", "GET", f"/change-requests/{code}").json()["state"] == "assessed"
    assert "change.approver_is_author" in refused_reasons(hub)


@pytest.mark.requirement("URS-A11-10", category="negative")
def test_refusals_of_the_forms(plant: Plant, hub: Hub) -> None:
    sign_in(plant.client, "admin", plant.passwords["admin"])
    no_reason = raise_form(plant, reason="")
    assert no_reason.status_code == 422 and 'data-reason="input.' in no_reason.text
    assert "Hold conforming results" in no_reason.text  # the title kept, to try again
    unknown = raise_form(plant, kind="spec_retirement", specification="SPEC-A", spec_version="9")
    assert unknown.status_code == 404 and 'data-reason="spec_version.unknown"' in unknown.text
    page = plant.client.get(LIST)
    forged = plant.client.post(LIST, data={"kind": "status_map"}, follow_redirects=False)
    assert forged.status_code == 403 and "console.csrf_missing" in forged.text
    assert listed(page.text) == []
    sign_in(plant.client, "auditor", plant.passwords["auditor"])
    assert "Raise a change request" not in plant.client.get(LIST).text
    form = {"csrf_token": csrf_of(plant.client.get(LIST).text), "kind": "status_map"}
    assert plant.client.post(LIST, data=form, follow_redirects=False).status_code == 403
    assert plant.client.get(f"{LIST}/CR-999999").status_code == 404
