""" "Approve all without signals" over HTTP on both databases: the confirmation lists exactly the
unsignalled rows of the queue page (never the reviewer's own), one e-signature approves them
all with a signature record per result bound to its own content (the API's sample view says
valid), and the whole list is refused, nothing signed, for a wrong password (one lockout step),
a row changed or signalled since shown (409, named), or a role without the permission (403)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from test_console import csrf_of, sign_in, trail

from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from labgate.compliance.canonical import content_hash
from labgate.domain.samples import Sample, result_content, sample_of_result
from plant import SITE, Plant, SeededPlant, request_sample

QUEUE = f"/console/sites/{SITE}/review"
BULK = f"{QUEUE}/bulk-approval"
# On B1, by sample: two rows without a signal and one in the alert band (WATER: alert above
# 0.4), and an OOS one.
ENTERED = ((("ASSAY", "99.62", "%"), ("APPEAR", "White tablet", None), ("WATER", "0.47", "%")),
           (("ASSAY", "97.0", "%"),))  # fmt: skip


@pytest.fixture
def plant(hub: Hub, client: Any, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def _entered(plant: Plant, by: str = "analyst", samples: int = len(ENTERED)) -> dict[str, str]:
    """Results by `by` (the analyst in person, or the LIMS naming them), by test and value."""
    codes = {}
    for number, results in enumerate(ENTERED[:samples]):
        sample = request_sample(plant, f"REQ-BULK-{by}-{number}")
        for test, value, unit in results:
            body = {"sample": sample, "test_code": test, "value": value, "unit": unit,
                    "method_version": "1", "analyst": by}  # fmt: skip
            answer = plant.call(by if by == "analyst" else "lims", "POST", "/results", json=body)
            assert answer.status_code == 201, answer.text
            codes[f"{test} {value}"] = str(answer.json()["results"][-1]["code"])
    return codes


def _listed(page: str) -> dict[str, str]:
    """The confirmation's rows: result code and the content hash shown beside it."""
    rows = re.findall(r'<tr data-result="([^"]+)">.*?<code class="hash" data-hash>(\w+)</code>',
                      page, re.S)  # fmt: skip
    return dict(rows)


def _form(page: str, password: str, user: str = "reviewer") -> list[tuple[str, str]]:
    """The confirmation's form as a browser posts it (repeated fields in document order)."""
    form = re.search(r'<form method="post" action="[^"]*/bulk-approval".*?</form>', page, re.S)
    assert form, page
    hidden = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form.group(0))
    return [*((k, html.unescape(v)) for k, v in hidden), ("username", user), ("password", password)]


def _post(plant: Plant, fields: list[tuple[str, str]], **kwargs: Any) -> Any:
    """POST the fields as one form, a repeated name keeping its values' order."""
    data: dict[str, list[str]] = {}
    for name, value in fields:
        data.setdefault(name, []).append(value)
    return plant.client.post(BULK, data=data, **kwargs)


def _hash_now(hub: Hub, code: str) -> str:
    with hub.sessions() as session:
        sample = session.scalars(select(Sample).filter_by(code=sample_of_result(code))).one()
        return content_hash(result_content(sample, sample.result(code)))


def _signatures(hub: Hub) -> list[dict[str, Any]]:
    g = t.signatures.c
    with hub.sessions() as session:
        query = select(t.signatures).where(g.record_type == "result").order_by(g.id)
        return [dict(row) for row in session.execute(query).mappings()]


def _awaiting(plant: Plant) -> set[str]:
    items = plant.call("reviewer", "GET", "/results/awaiting-review", params={"limit": 100})
    return {item["result"] for item in items.json()["items"]}


def test_approve_all_signs_only_unsignalled_rows_each_on_its_own_content(
    plant: Plant, hub: Hub
) -> None:
    codes = _entered(plant)
    own = _entered(plant, by="reviewer", samples=1)  # reported by the LIMS: the reviewer's own
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    queue = plant.client.get(QUEUE, params={"batch": "B1", "limit": 50}).text
    assert f'href="{BULK}?batch=B1&amp;limit=50">Approve all without signals' in queue
    page = plant.client.get(BULK, params={"batch": "B1", "limit": 50}).text
    listed = _listed(page)
    unsignalled = {codes["ASSAY 99.62"], codes["APPEAR White tablet"]}
    assert set(listed) == unsignalled  # not the alert band, not the OOS, none of the reviewer's
    assert "3 with a signal" in page and "2 you entered yourself" in page
    # A forged list with one of the reviewer's own results: refused by the handler, naming it.
    mine = own["ASSAY 99.62"]
    forged = [*_form(page, plant.passwords["reviewer"]), ("result", mine),
              ("seen_content", _hash_now(hub, mine))]  # fmt: skip
    refused = _post(plant, forged)
    assert refused.status_code == 403 and 'data-reason="result.reviewer_is_analyst"' in refused.text
    assert f"entered result {mine} and cannot also review it" in refused.text
    assert _signatures(hub) == []
    answer = _post(plant, _form(page, plant.passwords["reviewer"]),
                               follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303, answer.text
    signed_page = plant.client.get(answer.headers["location"]).text
    assert signed_page.count('<span class="verdict ok">Yes</span>') == 2
    assert 'title="user id: reviewer">Reviewer Person</span>' in signed_page
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d", signed_page)
    signatures = _signatures(hub)
    assert {s["record_id"]: s["content_hash"] for s in signatures} == listed  # one each, own hash
    assert len(set(listed.values())) == 2
    for code in unsignalled:  # the API's own view of each: approved, its signature valid
        sample = plant.call("reviewer", "GET", f"/samples/{code.rpartition('-R')[0]}").json()
        result = next(r for r in sample["results"] if r["code"] == code)
        assert result["status"] == "approved"
        assert [(s["signer"], s["meaning"], s["status"]) for s in result["signatures"]] == [
            ("reviewer", "approved", "valid")
        ]
    waiting = _awaiting(plant)
    assert waiting >= {codes["WATER 0.47"], codes["ASSAY 97.0"], *own.values()}
    assert not waiting & unsignalled
    for action in ("result.approved", "signature.applied"):  # audited once per result
        assert sorted(
            e["record_id"] for e in trail(hub, action) if e["record_type"] == "result"
        ) == (sorted(unsignalled))


def test_a_wrong_password_refuses_the_list_once_audited_nothing_signed(
    plant: Plant, hub: Hub
) -> None:
    _entered(plant, samples=1)
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    page = plant.client.get(BULK).text
    answer = _post(plant, _form(page, "not-the-password"))
    assert answer.status_code == 401
    assert 'data-reason="signature.bad_credentials"' in answer.text
    assert _listed(answer.text) == _listed(page)  # the same list, to sign again
    assert "Sign and approve 2 results" in answer.text and "not-the-password" not in answer.text
    assert _signatures(hub) == []
    refusals = [e["after"]["reason_code"] for e in trail(hub, "refused.approve_results")]
    assert refusals == ["signature.bad_credentials"]
    with hub.sessions() as session:
        failed = session.scalar(
            select(t.accounts.c.failed_attempts).where(t.accounts.c.username == "reviewer")
        )
    assert failed == 1  # one step of the lockout counter for the list, not one per result


def test_a_row_signalled_or_changed_since_shown_refuses_the_whole_list_409(
    plant: Plant, hub: Hub
) -> None:
    codes = _entered(plant, samples=1)
    assay, appear = codes["ASSAY 99.62"], codes["APPEAR White tablet"]
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    page = plant.client.get(BULK).text
    assert set(_listed(page)) == {assay, appear}
    form = _form(page, plant.passwords["reviewer"])
    with hub.sessions() as session, session.begin():  # an OOT alert opens on one listed row
        session.execute(insert(t.oot_alerts).values(_open_alert(assay)))
    answer = _post(plant, form)
    assert answer.status_code == 409, answer.text
    assert 'data-reason="review.signal_since_shown"' in answer.text and assay in answer.text
    assert re.search(rf'data-result="{assay}">.*?data-signal="oot"', answer.text, re.S)
    assert "List the results again" in answer.text and "Sign and approve" not in answer.text
    assert trail(hub, "refused.console.review_bulk_approve")[-1]["after"]["reason_code"] == (
        "review.signal_since_shown"
    )
    with hub.sessions() as session, session.begin():  # the alert assessed, the other row changed
        session.execute(update(t.oot_alerts).values(status="acknowledged"))
        session.execute(update(t.results).where(t.results.c.code == appear)
                        .values(raw_value="Off-white tablet"))  # fmt: skip
    answer = _post(plant, form)
    assert answer.status_code == 409, answer.text
    assert 'data-reason="result.changed_since_shown"' in answer.text
    assert f"Result {appear} changed after the page was shown; nothing was approved" in answer.text
    assert re.search(rf'data-result="{appear}">.*?data-changed', answer.text, re.S)
    assert not re.search(rf'data-result="{assay}">[^\n]*data-changed', answer.text)
    assert _signatures(hub) == [] and {assay, appear} <= _awaiting(plant)


def _open_alert(result: str) -> dict[str, Any]:
    return {"site": SITE, "code": "OOT-T-1", "kind": "trend", "result": result,
            "sample": result.rpartition("-R")[0], "batch": "B1", "test_code": "ASSAY",
            "series": "P1/ASSAY", "time": "1", "value": "99.62", "predicted": "100.4",
            "lower": "99.9", "upper": "100.9", "alpha": "0.05", "method": "test",
            "history_size": 5, "raised_at": datetime(2026, 11, 25, tzinfo=UTC),
            "raised_by": "test", "analyst": "analyst", "status": "open"}  # fmt: skip


def test_an_analyst_forging_a_bulk_approval_is_refused_403_and_audited(
    plant: Plant, hub: Hub
) -> None:
    codes = _entered(plant, samples=1)
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    shown = plant.client.get(BULK).text  # what a reviewer was offered, replayed by the analyst
    plant.client.cookies.clear()
    sign_in(plant.client, "analyst", plant.passwords["analyst"])
    queue = plant.client.get(QUEUE).text
    assert "Approve all without signals" not in queue
    assert plant.client.get(BULK).status_code == 403
    forged = [(k, csrf_of(queue) if k == "csrf_token" else v)
              for k, v in _form(shown, plant.passwords["analyst"], "analyst")]  # fmt: skip
    answer = _post(plant, forged)
    assert answer.status_code == 403 and "<html" in answer.text
    assert _signatures(hub) == [] and set(codes.values()) <= _awaiting(plant)
    refused = trail(hub, "refused.console.review_bulk_approve")
    assert [(e["actor"], e["after"]["reason_code"]) for e in refused] == [
        ("analyst", "access.missing_permission")
    ]


def test_the_queue_and_the_board_refresh_their_table_with_the_same_query(plant: Plant) -> None:
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    script = plant.client.get("/console/static/live.js")
    assert script.status_code == 200 and "htmx:beforeRequest" in script.text
    for path, block in (("review", "queue"), ("batches", "board")):
        here = f"/console/sites/{SITE}/{path}"
        page = plant.client.get(here, params={"product": "P1", "limit": 50}).text
        section = re.search(rf'<section id="{block}"[^>]*>', page)
        assert section, page
        assert f'hx-get="{here}?product=P1&amp;limit=50"' in section.group(0)
        assert 'hx-trigger="every 10s"' in section.group(0) and "data-live" in section.group(0)
        assert 'src="/console/static/live.js"' in page
        # Its own refresh answers the block alone and leaves the address (and history) alone;
        # a filter change still puts its view in the address bar.
        polled = plant.client.get(here, params={"product": "P1", "limit": 50},
                                  headers={"HX-Request": "true", "HX-Trigger": block})  # fmt: skip
        assert polled.text.lstrip().startswith(f'<section id="{block}"')
        assert "HX-Push-Url" not in polled.headers
        changed = plant.client.get(here, params={"product": "P1"}, headers={"HX-Request": "true"})
        assert changed.headers["HX-Push-Url"] == f"{here}?product=P1"
