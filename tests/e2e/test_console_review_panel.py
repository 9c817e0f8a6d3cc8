"""The review panel over HTTP on both databases: what it shows of a result, and its e-signed
approval and invalidation through the API's own commands (wrong password, stale page, a role
without the permission, a form without its CSRF token)."""

from __future__ import annotations

import re
import secrets
from typing import Any

import pytest
from sqlalchemy import select, update
from test_console import csrf_of, sign_in, trail

from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from labgate.domain.commands import Context, CreateAccount
from plant import SITE, Plant, SeededPlant, first_own_password, request_sample

SEEN = re.compile(r'name="seen_content" value="([0-9a-f]{64})"')


@pytest.fixture
def plant(hub: Hub, client: Any, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def _entered(plant: Plant, request_id: str = "REQ-PANEL-1") -> str:
    sample = request_sample(plant, request_id)
    body = {"sample": sample, "test_code": "WATER", "value": "3.10", "unit": "mg/g",
            "method_version": "1", "analyst": "analyst"}  # fmt: skip
    answer = plant.call("analyst", "POST", "/results", json=body)
    assert answer.status_code == 201, answer.text
    listed = plant.call("reviewer", "GET", "/results/awaiting-review").json()["items"]
    return str(next(i["result"] for i in listed if i["sample"] == sample))


def _panel(plant: Plant, result: str) -> str:
    answer = plant.client.get(f"/console/sites/{SITE}/review/{result}")
    assert answer.status_code == 200, answer.text
    return answer.text


def _form(page: str, user: str, password: str, **extra: str) -> dict[str, str]:
    seen = SEEN.search(page)
    assert seen, page
    seq = re.search(r'name="seen_seq" value="(\d+)"', page)
    assert seq
    return {"csrf_token": csrf_of(page), "seen_content": seen.group(1), "seen_seq": seq.group(1),
            "username": user, "password": password, **extra}  # fmt: skip


def _status(hub: Hub, result: str) -> tuple[str, str]:
    r = t.results.c
    with hub.sessions() as session:
        row = session.execute(select(r.status, r.mes_status).where(r.code == result)).one()
    return str(row.status), str(row.mes_status)


def test_the_panel_shows_the_derivation_exactly_and_the_queue_links_to_it(plant: Plant) -> None:
    result = _entered(plant)
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    queue = plant.client.get(f"/console/sites/{SITE}/review").text
    assert f'href="/console/sites/{SITE}/review/{result}"' in queue
    page = _panel(plant, result)
    steps = dict(re.findall(r'<dd data-step="(\w+)">(.*?)</dd>', page, re.S))
    assert steps["raw"].strip() == '3.10 <span class="unit">mg/g</span>'
    assert steps["converted"].startswith('0.310 <span class="unit">%</span>')
    assert 'title="user id: analyst">Analyst Person</span>' in page
    assert "result.recorded" in page or "<code>result." in page  # its own history
    assert "Sign and approve" in page and "Not signed yet." in page
    htmx = plant.client.get(
        f"/console/sites/{SITE}/review/{result}", headers={"HX-Request": "true"}
    )
    assert htmx.text.lstrip().startswith('<section id="panel"') and "<html" not in htmx.text


@pytest.mark.requirement("URS-A11-6")
def test_approval_with_the_dialog_signs_and_reaches_the_mes(plant: Plant, hub: Hub) -> None:
    result = _entered(plant)
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    page = _panel(plant, result)
    form = _form(page, "reviewer", plant.passwords["reviewer"])
    answer = plant.client.post(
        f"/console/sites/{SITE}/review/{result}/approval", data=form, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/console/sites/{SITE}/review/{result}?done=approved"
    answer = plant.client.get(answer.headers["location"])
    assert "approved; your signature is recorded below" in answer.text
    assert _status(hub, result) == ("approved", "Accepted")
    g = t.signatures.c
    with hub.sessions() as session:
        signed = session.execute(select(t.signatures).where(g.record_id == result)).mappings().all()
    assert [(s["signer"], s["meaning"]) for s in signed] == [("reviewer", "approved")]
    assert signed[0]["content_hash"] == form["seen_content"]
    # Shown per 11.50: printed name, site time to the second with offset, meaning, still valid.
    assert 'title="user id: reviewer">Reviewer Person</span>' in answer.text
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d", answer.text)
    assert '<td>approved</td><td><span class="verdict ok">Yes</span>' in answer.text
    assert "Sign and approve" not in answer.text
    assert trail(hub, "result.approved")[-1]["actor"] == "reviewer"


@pytest.mark.requirement("URS-P11-11.10j")
def test_invalidation_takes_a_reason_and_its_own_meaning(plant: Plant, hub: Hub) -> None:
    result = _entered(plant)
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    form = _form(_panel(plant, result), "reviewer", plant.passwords["reviewer"],
                 reason="Balance out of calibration")  # fmt: skip
    answer = plant.client.post(f"/console/sites/{SITE}/review/{result}/invalidation", data=form)
    assert answer.status_code == 200, answer.text
    assert _status(hub, result)[0] == "invalidated"
    assert trail(hub, "result.invalidated")[-1]["reason"] is not None
    g = t.signatures.c
    with hub.sessions() as session:
        meanings = session.scalars(select(g.meaning).where(g.record_id == result)).all()
    assert meanings == ["invalidated"]


def test_a_wrong_password_is_refused_on_the_panel_audited_and_counted(
    plant: Plant, hub: Hub
) -> None:
    result = _entered(plant)
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    form = _form(_panel(plant, result), "reviewer", "not-the-password")
    answer = plant.client.post(f"/console/sites/{SITE}/review/{result}/approval", data=form)
    assert answer.status_code == 401
    assert 'data-reason="signature.bad_credentials"' in answer.text
    assert "Sign and approve" in answer.text  # the panel, to try again
    assert "not-the-password" not in answer.text
    assert _status(hub, result)[0] == "preliminary"
    a = t.audit_entries.c
    with hub.sessions() as session:
        reasons = session.scalars(select(a.after).where(a.action.like("refused.%"))).all()
        failed = session.scalar(
            select(t.accounts.c.failed_attempts).where(t.accounts.c.username == "reviewer")
        )
    assert [r["reason_code"] for r in reasons] == ["signature.bad_credentials"]
    assert failed == 1


def test_a_record_changed_after_the_page_was_shown_is_refused_409(plant: Plant, hub: Hub) -> None:
    result = _entered(plant)
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    form = _form(_panel(plant, result), "reviewer", plant.passwords["reviewer"])
    with hub.sessions() as session, session.begin():  # changed behind the reviewer's back
        session.execute(
            update(t.results).where(t.results.c.code == result).values(raw_value="3.11")
        )
    answer = plant.client.post(f"/console/sites/{SITE}/review/{result}/approval", data=form)
    assert answer.status_code == 409
    assert 'data-reason="result.changed_since_shown"' in answer.text
    assert _status(hub, result)[0] == "preliminary"
    assert 'name="seen_content" value="' + form["seen_content"] not in answer.text


def test_a_result_approved_by_another_meanwhile_shows_what_changed(plant: Plant, hub: Hub) -> None:
    result = _entered(plant)
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    form = _form(_panel(plant, result), "reviewer", plant.passwords["reviewer"])
    temporary = secrets.token_urlsafe(16)
    hub.bus.handle(CreateAccount(Context("test-setup", "system"), "reviewer2", "Second Reviewer",
                                 ("qc_reviewer",), temporary))  # fmt: skip
    plant.passwords["reviewer2"] = first_own_password(hub, "reviewer2", temporary)
    signed = {"signature": plant.signature("reviewer2")}
    other = plant.call("reviewer2", "POST", f"/results/{result}/approval", json=signed)
    assert other.status_code == 200, other.text
    answer = plant.client.post(f"/console/sites/{SITE}/review/{result}/approval", data=form)
    assert answer.status_code == 409, answer.text
    changed = re.search(r'<ul class="changed">(.*?)</ul>', answer.text, re.S)
    assert changed, answer.text
    actions = re.findall(r"<li><code>([\w.]+)</code> by ([^<]*<span[^>]*>[^<]*)", changed.group(1))
    assert [a for a, _ in actions] == ["result.approved", "signature.applied"]
    assert all("Second Reviewer" in who for _, who in actions)


def test_an_analyst_forging_an_approval_is_refused_403_and_audited(plant: Plant, hub: Hub) -> None:
    result = _entered(plant)
    sign_in(plant.client, "analyst", plant.passwords["analyst"])
    page = _panel(plant, result)
    assert "Sign and approve" not in page and "Sign and invalidate" not in page
    queue = plant.client.get(f"/console/sites/{SITE}/review").text
    token = csrf_of(queue)
    form = {"csrf_token": token, "seen_content": "0" * 64, "seen_seq": "0",
            "username": "analyst", "password": plant.passwords["analyst"]}  # fmt: skip
    answer = plant.client.post(f"/console/sites/{SITE}/review/{result}/approval", data=form)
    assert answer.status_code == 403
    assert "<html" in answer.text
    assert _status(hub, result)[0] == "preliminary"
    refused = trail(hub, "refused.console.review_approve")
    assert [(e["actor"], e["after"]["reason_code"]) for e in refused] == [
        ("analyst", "access.missing_permission")
    ]


def test_a_post_without_its_csrf_token_is_refused(plant: Plant, hub: Hub) -> None:
    result = _entered(plant)
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    form = _form(_panel(plant, result), "reviewer", plant.passwords["reviewer"])
    del form["csrf_token"]
    answer = plant.client.post(f"/console/sites/{SITE}/review/{result}/approval", data=form)
    assert answer.status_code == 403
    assert "console.csrf_missing" in answer.text
    assert _status(hub, result)[0] == "preliminary"


def test_an_unknown_result_is_a_404_page(plant: Plant) -> None:
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    answer = plant.client.get(f"/console/sites/{SITE}/review/NOPE-R1")
    assert answer.status_code == 404 and "result.unknown" in answer.text
