"""The console over HTTP on both databases: where it is, its session cookie and what the store
keeps of it, CSRF on the sign-in form, no redirect out of the console, a session ended when its
account locks, and the review queue's values exactly as the API lists them."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from fakes import ManualClock
from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from labgate.config import Settings
from labgate.domain.commands import Context, ImportMasterData
from labgate.entrypoints.app import create_app
from plant import SITE, Plant, SeededPlant, request_sample

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, html
    return found.group(1)


def sign_in(client: TestClient, user: str, password: str, next_: str = "") -> Any:
    """The sign-in form, fetched and posted as a browser does; the answer, unfollowed."""
    form = client.get("/console/sign-in")
    assert form.status_code == 200
    data = {"username": user, "password": password, "csrf_token": csrf_of(form.text),
            "next": next_}  # fmt: skip
    return client.post("/console/sign-in", data=data, follow_redirects=False)


def trail(hub: Hub, action: str) -> list[dict[str, Any]]:
    a = t.audit_entries.c
    query = select(t.audit_entries).where(a.action == action).order_by(a.seq)
    with hub.sessions() as session:
        return [dict(r) for r in session.execute(query).mappings()]


def test_the_root_and_console_lead_to_the_sign_in_page(client: TestClient) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/console/"
    assert client.get("/console", follow_redirects=False).headers["location"] == "/console/"
    answer = client.get("/console/", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (
        303,
        "/console/sign-in?next=%2Fconsole%2F",
    )
    page = client.get("/console/sign-in")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert "/openapi.json" not in page.text
    assert all(not p.startswith("/console") for p in client.get("/openapi.json").json()["paths"])


def test_the_cookie_is_http_only_and_strict_and_the_store_keeps_only_its_hash(
    plant: Plant, hub: Hub
) -> None:
    answer = sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    assert (answer.status_code, answer.headers["location"]) == (303, "/console/")
    cookie = next(c for c in answer.headers.get_list("set-cookie") if "labgate_console=" in c)
    token = cookie.split(";")[0].split("=", 1)[1]
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/console"} <= flags
    assert "secure" not in flags  # plain HTTP here; see the TLS test below
    with hub.sessions() as session:
        rows = [dict(r) for r in session.execute(select(t.console_sessions)).mappings()]
    assert [r["token_hash"] for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert token not in str(rows)
    signed_in = trail(hub, "auth.signed_in")[-1]
    assert (signed_in["actor"], signed_in["record_id"]) == ("reviewer", "reviewer")  # as the API


def test_activity_is_written_at_most_every_30_s_and_refreshes_are_not_activity(
    plant: Plant, hub: Hub, clock: ManualClock
) -> None:
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    signed_in = clock.now()

    def last_seen() -> Any:
        with hub.sessions() as session:
            return session.scalars(select(t.console_sessions.c.last_seen_at)).one()

    queue = f"/console/sites/{SITE}/review"
    clock.advance(seconds=20)
    assert plant.client.get(queue).status_code == 200
    assert last_seen() == signed_in  # heard from 20 s after the last write: not written yet
    clock.advance(minutes=5)
    refresh = {"HX-Request": "true", "X-Live-Refresh": "1"}
    assert plant.client.get(queue, headers=refresh).status_code == 200
    assert last_seen() == signed_in  # a table refreshing itself is no activity
    assert plant.client.get(queue).status_code == 200
    assert last_seen() == clock.now()
    clock.advance(minutes=15, seconds=1)
    timed_out = plant.client.get(queue, headers=refresh)
    assert "idle=1" in timed_out.headers["HX-Redirect"]


@pytest.mark.requirement("URS-P11-11.30")
def test_the_cookie_is_secure_over_tls(plant: Plant, settings: Settings, hub: Hub) -> None:
    with TestClient(create_app(settings, hub), base_url="https://testserver") as tls:
        answer = sign_in(tls, "reviewer", plant.passwords["reviewer"])
    cookie = next(c for c in answer.headers.get_list("set-cookie") if "labgate_console=" in c)
    assert "secure" in {part.strip().lower() for part in cookie.split(";")}


def test_the_sign_in_form_needs_its_csrf_token(plant: Plant, hub: Hub) -> None:
    plant.client.get("/console/sign-in")
    data = {"username": "reviewer", "password": plant.passwords["reviewer"]}
    answer = plant.client.post("/console/sign-in", data=data, follow_redirects=False)
    assert answer.status_code == 403
    assert "console.csrf_missing" in answer.text
    refused = trail(hub, "refused.console.sign_in")
    assert [e["after"]["reason_code"] for e in refused] == ["console.csrf_missing"]
    assert trail(hub, "refused.sign_in") == []  # no password was tried
    assert trail(hub, "auth.signed_in") == []


@pytest.mark.parametrize("elsewhere", ["https://evil.example/", "//evil.example/x", "/api/v1/me"])
def test_after_sign_in_the_browser_stays_in_the_console(plant: Plant, elsewhere: str) -> None:
    answer = sign_in(plant.client, "reviewer", plant.passwords["reviewer"], elsewhere)
    assert answer.headers["location"] == "/console/"


def test_a_session_ends_when_its_account_locks(plant: Plant, hub: Hub) -> None:
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    assert plant.client.get(f"/console/sites/{SITE}/").status_code == 200
    for _ in range(hub.settings.lockout_after):  # from another tab: the session cookie stays
        assert sign_in(plant.client, "reviewer", "wrong-password").status_code == 401
    answer = plant.client.get(f"/console/sites/{SITE}/", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/sign-in")
    ended = trail(hub, "auth.signed_out")
    assert [(e["record_id"], e["reason"]) for e in ended] == [
        ("reviewer", "account locked or deactivated")
    ]


def test_an_unknown_site_is_a_404_page(plant: Plant, hub: Hub) -> None:
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    answer = plant.client.get("/console/sites/NOPE/review")
    assert answer.status_code == 404
    assert "site.unknown" in answer.text
    assert "<html" in answer.text


def _entered(plant: Plant, sample: str, test: str, value: str, unit: str | None) -> None:
    body = {"sample": sample, "test_code": test, "value": value, "unit": unit,
            "method_version": "1", "analyst": "analyst"}  # fmt: skip
    assert plant.call("analyst", "POST", "/results", json=body).status_code == 201


def test_the_queue_shows_each_value_exactly_as_the_api_lists_it(plant: Plant) -> None:
    sample = request_sample(plant, "REQ-CONSOLE-1")
    _entered(plant, sample, "WATER", "3.10", "mg/g")  # converted to %: 0.310 %, rounded
    _entered(plant, sample, "ASSAY", "99.650", "%")
    listed = plant.call("reviewer", "GET", "/results/awaiting-review").json()["items"]
    assert len(listed) == 2
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    page = plant.client.get(f"/console/sites/{SITE}/review").text
    for item in listed:
        row = re.search(rf'<tr data-result="{item["result"]}">(.*?)</tr>', page, re.S)
        assert row, page
        cells = re.findall(r'<td class="num">(.*?)</td>', row.group(1), re.S)
        raw = f'{item["raw_value"]} <span class="unit">{item["raw_unit"]}</span>'
        reported = f'{item["reported_value"]} <span class="unit">{item["canonical_unit"]}</span>'
        assert [c.strip() for c in cells] == [raw, reported]
        assert 'title="user id: analyst">Analyst Person</span>' in row.group(1)
    water = next(i for i in listed if i["test_code"] == "WATER")
    assert water["raw_value"] == "3.10" and water["raw_unit"] == "mg/g"


def test_htmx_gets_the_queue_block_and_a_clean_address(plant: Plant) -> None:
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    url = f"/console/sites/{SITE}/review?product=&batch=&test=ASSAY&analyst=&sort=oldest&limit=25"
    answer = plant.client.get(url, headers={"HX-Request": "true"})
    assert answer.status_code == 200
    assert answer.text.lstrip().startswith('<section id="queue"')
    assert "<html" not in answer.text and "<form" not in answer.text
    assert answer.headers["hx-push-url"] == f"/console/sites/{SITE}/review?test=ASSAY"


def test_a_forged_page_link_is_refused(plant: Plant, hub: Hub) -> None:
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    answer = plant.client.get(f"/console/sites/{SITE}/review?sort=test&cursor=bm90LWEtY3Vyc29y")
    assert answer.status_code == 422
    assert "page.cursor_invalid" in answer.text
    refused = trail(hub, "refused.console.review_queue")
    assert [e["after"]["reason_code"] for e in refused] == ["page.cursor_invalid"]


def test_without_a_session_an_htmx_request_is_sent_to_sign_in(client: TestClient) -> None:
    answer = client.get(f"/console/sites/{SITE}/review", headers={"HX-Request": "true"})
    assert answer.status_code == 200
    assert answer.headers["hx-redirect"].startswith("/console/sign-in?next=")


def _signals(page: str, result: str) -> list[str]:
    row = re.search(rf'<tr data-result="{result}">(.*?)</tr>', page, re.S)
    assert row, page
    return re.findall(r'data-signal="([a-z]+)"', row.group(1))


def test_each_row_carries_its_signals(plant: Plant) -> None:
    sample = request_sample(plant, "REQ-CONSOLE-2")
    _entered(plant, sample, "WATER", "4.8", "mg/g")  # 0.48 %, rounded 0.5: past alert NMT 0.4
    _entered(plant, sample, "ASSAY", "97.0", "%")  # NLT 99.0: out of specification
    _entered(plant, sample, "APPEAR", "White tablet", None)
    listed = plant.call("reviewer", "GET", "/results/awaiting-review").json()["items"]
    code = {item["test_code"]: item["result"] for item in listed}
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    page = plant.client.get(f"/console/sites/{SITE}/review").text
    assert _signals(page, code["WATER"]) == ["band", "unit"]
    assert _signals(page, code["ASSAY"]) == ["oos"]
    assert _signals(page, code["APPEAR"]) == []


def test_an_em_excursion_reaching_the_batch_is_a_signal(plant: Plant, hub: Hub) -> None:
    import test_em_monitoring as em  # the filling suite and its rounds, as the EM tests build

    hub.bus.handle(ImportMasterData(Context("admin"), em.ROOMS, "CR-9: filling suite"))
    for location, grade, room in em.LOCATIONS:
        body = {"location": location, "grade": grade, "room": room, "lookback_days": 3,
                "reason": "CC-EM-1: cleanroom qualification"}  # fmt: skip
        assert plant.call("qa", "POST", "/em/locations", json=body).status_code == 201
    for code, location, kind, run in em.POINTS:
        body = {"code": code, "location": location, "sample_type": kind, "description": kind,
                "alerts_to_deviation": run, "reason": "CC-EM-1: set"}  # fmt: skip
        assert plant.call("qa", "POST", "/em/points", json=body).status_code == 201
    route = {"code": "R-FILL", "name": "R-FILL", "points": ["A-AIR", "B-SETTLE", "A-P05"],
             "reason": "CC-EM-1: set"}  # fmt: skip
    assert plant.call("qa", "POST", "/em/routes", json=route).status_code == 201
    day = timedelta(days=1)
    em.count(plant, em.start_round(plant, "R-FILL", em.NOW - 2 * day)["A-P05"], "1000")
    em.count(plant, em.start_round(plant, "R-FILL", em.NOW - day / 2)["A-P05"], "5000")
    em.occupy(plant, "B1", "FILL-B", em.NOW - day, em.NOW - day / 2)
    for batch, request in (("B1", "REQ-EM-C1"), ("B2", "REQ-EM-C2")):
        _entered(plant, request_sample(plant, request, batch=batch), "ASSAY", "99.5", "%")
    listed = plant.call("reviewer", "GET", "/results/awaiting-review").json()["items"]
    code = {item["batch"]: item["result"] for item in listed}
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    page = plant.client.get(f"/console/sites/{SITE}/review").text
    assert _signals(page, code["B1"]) == ["em"]  # the batch was in the room
    assert _signals(page, code["B2"]) == []


def test_a_unit_alias_is_no_conversion(plant: Plant) -> None:
    sample = request_sample(plant, "REQ-CONSOLE-3")
    _entered(plant, sample, "ASSAY", "99.5", "pct")  # the LIMS's alias of %
    listed = plant.call("reviewer", "GET", "/results/awaiting-review").json()["items"]
    assert [(i["raw_unit"], i["canonical_unit"]) for i in listed] == [("pct", "%")]
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    page = plant.client.get(f"/console/sites/{SITE}/review").text
    assert _signals(page, listed[0]["result"]) == []


def test_a_new_sign_in_ends_the_session_left_open_in_the_browser(plant: Plant, hub: Hub) -> None:
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    first = plant.client.cookies.get("labgate_console")
    sign_in(plant.client, "qa", plant.passwords["qa"])
    assert plant.client.cookies.get("labgate_console") != first
    ended = trail(hub, "auth.signed_out")
    assert [(e["record_id"], e["reason"]) for e in ended] == [
        ("reviewer", "another sign-in in the same browser")
    ]
    with hub.sessions() as session:
        live = session.scalars(
            select(t.console_sessions.c.username).where(t.console_sessions.c.ended_at.is_(None))
        )
        assert list(live) == ["qa"]


def test_the_queue_filters_by_age_as_the_api_does(plant: Plant, clock: ManualClock) -> None:
    sample = request_sample(plant, "REQ-CONSOLE-4")
    _entered(plant, sample, "ASSAY", "99.5", "%")
    clock.advance(hours=10)
    plant.tokens.clear()  # the API tokens have expired meanwhile
    _entered(plant, sample, "WATER", "0.2", "%")
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    for hours, expected in (("", 2), ("8", 1), ("24", 0)):
        page = plant.client.get(f"/console/sites/{SITE}/review?min_age_hours={hours}").text
        params = {"min_age_hours": hours} if hours else {}
        api = plant.call("reviewer", "GET", "/results/awaiting-review", params=params)
        assert len(api.json()["items"]) == expected
        assert len(re.findall(r'<tr data-result="', page)) == expected, hours
    refused = plant.client.get(f"/console/sites/{SITE}/review?min_age_hours=soon")
    assert refused.status_code == 422
    assert "input.string_pattern_mismatch" in refused.text


def test_the_filters_offer_a_new_batch_as_soon_as_its_first_result_waits(plant: Plant) -> None:
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    _entered(plant, request_sample(plant, "REQ-C1"), "ASSAY", "99.5", "%")
    queue = f"/console/sites/{SITE}/review"

    def batches_offered() -> list[str]:
        form = plant.client.get(queue).text
        batch = re.search(r'<select id="f-batch" name="batch">(.*?)</select>', form, re.S)
        assert batch, form
        return re.findall(r'<option value="([^"]+)"', batch.group(1))

    assert batches_offered() == ["B1"]
    _entered(plant, request_sample(plant, "REQ-C2", batch="B2"), "ASSAY", "99.6", "%")
    assert batches_offered() == ["B1", "B2"]  # the kept choices are read again at once
