"""The console's batch pages over HTTP on both databases: the board with its filters and
pages (the API list's rows and the API review's readiness), a batch's gates, samples, results
and signatures exactly as the API gives them, the CoA and dossier as PDFs, a sample's timeline,
and a refusal to a role that does not read the trail (403 page, audited)."""

from __future__ import annotations

import re

import pytest
from test_console import sign_in, trail
from test_sampling_plans import GRAN_PLAN, IPC_WATER, with_ipc_points

from labgate.bootstrap import Hub
from plant import (
    Plant,
    SeededPlant,
    approved_result,
    plan_version,
    released_batch,
    request_sample,
)


@pytest.fixture
def plant(hub: Hub, client: object, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)  # type: ignore[arg-type]


def batches_on(html: str) -> list[str]:
    return re.findall(r'<tr data-batch="([^"]+)"', html)


def test_the_board_lists_batches_as_the_api_does_and_filters_them(plant: Plant) -> None:
    released_batch(plant, "REQ-1")
    request_sample(plant, "REQ-2", batch="B2")
    sign_in(plant.client, "qa", plant.passwords["qa"])
    board = plant.client.get("/console/sites/T1/batches")
    assert board.status_code == 200, board.text
    listed = plant.call("qa", "GET", "/batches").json()["items"]
    assert batches_on(board.text) == [b["code"] for b in listed] == ["B2", "B1"]
    assert 'data-disposition="released"' in board.text
    released = plant.client.get("/console/sites/T1/batches?disposition=released")
    assert batches_on(released.text) == ["B1"]
    pending = plant.client.get("/console/sites/T1/batches?disposition=pending")
    assert batches_on(pending.text) == ["B2"]
    assert batches_on(plant.client.get("/console/sites/T1/batches?product=NOPE").text) == []
    # Ready as the API's review by exception says, not by a rule of the console's own: each
    # row's cell reads it on its own (the board itself reads no review).
    assert "data-ready=" not in board.text
    for code in ("B1", "B2"):
        said = plant.call("qa", "GET", f"/batches/{code}/review").json()
        cell = re.search(rf'data-ready-of="{code}" hx-get="([^"]+)"', board.text)
        assert cell, board.text
        shown = plant.client.get(cell.group(1), headers={"HX-Request": "true"})
        assert shown.status_code == 200, shown.text
        ready = re.search(r'<td data-ready="(\w+)"', shown.text)
        assert ready and ready.group(1) == str(said["ready_by_exception"]).lower()
        if not said["ready_by_exception"]:
            assert f"{len(said['items'])} to review" in shown.text
    unknown = plant.client.get("/console/sites/T1/batches/NOPE/readiness")
    assert unknown.status_code == 404 and "batch.unknown" in unknown.text


def test_the_board_pages_and_htmx_gets_only_its_table(plant: Plant) -> None:
    sign_in(plant.client, "production", plant.passwords["production"])
    first = plant.client.get("/console/sites/T1/batches?limit=1")
    assert batches_on(first.text) == ["B2"]
    link = re.search(r'href="(/console/sites/T1/batches\?[^"]*cursor=[^"]+)"', first.text)
    assert link
    second = plant.client.get(link.group(1).replace("&amp;", "&"))
    assert batches_on(second.text) == ["B1"]
    assert 'rel="next"' not in second.text
    partial = plant.client.get("/console/sites/T1/batches?limit=2&product=",
                               headers={"HX-Request": "true"})  # fmt: skip
    assert partial.text.lstrip().startswith('<section id="board"')
    assert partial.headers["HX-Push-Url"] == "/console/sites/T1/batches?limit=2"


def test_the_batch_page_shows_its_gates_samples_results_and_signatures(plant: Plant) -> None:
    sample = released_batch(plant, "REQ-1")
    sign_in(plant.client, "qa", plant.passwords["qa"])
    page = plant.client.get("/console/sites/T1/batches/B1")
    assert page.status_code == 200, page.text
    html = page.text
    assert f'data-sample="{sample}"' in html
    shown = plant.call("qa", "GET", f"/samples/{sample}").json()
    for result in shown["results"]:
        cell = re.search(rf'data-result="{result["code"]}">.*?data-raw>([^<]*)', html, re.S)
        assert cell and cell.group(1).strip() == result["raw_value"]  # "99.62", never a float
    assert "99.62" in html and "White tablet" in html
    gates = plant.call("qa", "GET", "/batches/B1/gates").json()["operations"]
    for gate in gates:
        assert (
            f'data-operation="{gate["operation"]}" data-may-complete="'
            + ("true" if gate["may_complete"] else "false")
            in html
        )
    batch = plant.call("qa", "GET", "/batches/B1").json()
    released = next(s for s in batch["signatures"] if s["meaning"] == "released")
    assert 'data-signature="released" data-status="valid"' in html
    assert f'title="user id: qa">{released["printed_name"]}</span>' in html
    assert released["signed_at_local"] in html  # site time to the second with offset
    assert 'data-disposition="released"' in html


def test_the_coa_and_dossier_download_as_pdfs(plant: Plant) -> None:
    released_batch(plant, "REQ-1")
    sign_in(plant.client, "production", plant.passwords["production"])
    for name in ("coa", "dossier"):
        answer = plant.client.get(f"/console/sites/T1/batches/B1/{name}.pdf")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/pdf"
        assert answer.content.startswith(b"%PDF-")
        assert "attachment" in answer.headers["content-disposition"]
    api = plant.call("qa", "GET", "/batches/B1/coa")
    console = plant.client.get("/console/sites/T1/batches/B1/coa.pdf")
    assert console.headers["repr-digest"] == api.headers["repr-digest"]


def test_an_incomplete_coa_is_a_409_page(plant: Plant) -> None:
    request_sample(plant, "REQ-1")
    sign_in(plant.client, "qa", plant.passwords["qa"])
    answer = plant.client.get("/console/sites/T1/batches/B1/coa.pdf")
    assert answer.status_code == 409
    assert "coa.incomplete" in answer.text


def test_an_unknown_batch_is_a_404_page(plant: Plant) -> None:
    sign_in(plant.client, "qa", plant.passwords["qa"])
    answer = plant.client.get("/console/sites/T1/batches/NOPE")
    assert answer.status_code == 404
    assert "batch.unknown" in answer.text


def test_the_sample_page_shows_results_and_its_timeline(plant: Plant) -> None:
    sample = request_sample(plant, "REQ-1")
    code = approved_result(plant, sample, "ASSAY", "99.620", "%")
    sign_in(plant.client, "qa", plant.passwords["qa"])
    page = plant.client.get(f"/console/sites/T1/samples/{sample}")
    assert page.status_code == 200, page.text
    assert re.search(rf'data-result="{code}">.*?data-raw>99\.620 <', page.text, re.S)
    timeline = plant.call("qa", "GET", f"/samples/{sample}/timeline").json()["items"]
    shown = re.findall(r'<tr data-seq="(\d+)">', page.text)
    assert shown == [str(e["seq"]) for e in timeline] and shown
    assert timeline[-1]["at_local"] in page.text
    assert 'title="user id: reviewer">Reviewer Person</span>' in page.text


def test_a_role_without_the_trail_is_refused_the_timeline(plant: Plant, hub: Hub) -> None:
    sample = request_sample(plant, "REQ-1")
    sign_in(plant.client, "analyst", plant.passwords["analyst"])
    page = plant.client.get(f"/console/sites/T1/samples/{sample}")
    assert page.status_code == 200
    assert "does not read the audit trail" in page.text and "data-seq" not in page.text
    refused = plant.client.get(f"/console/sites/T1/samples/{sample}/timeline")
    assert refused.status_code == 403
    assert "Not allowed" in refused.text
    entries = trail(hub, "refused.console.sample_timeline")
    assert [e["actor"] for e in entries] == ["analyst"]


def test_my_work_links_the_disposition_tile_to_the_board(plant: Plant) -> None:
    sign_in(plant.client, "qa", plant.passwords["qa"])
    home = plant.client.get("/console/sites/T1/")
    assert 'href="/console/sites/T1/batches?disposition=pending"' in home.text
    assert '<a href="/console/sites/T1/batches">Batches</a>' in home.text


def test_a_gate_that_holds_says_so_and_why(plant: Plant) -> None:
    # The blocking dried-granulate point of the sampling-plan tests, with a sample not yet
    # Accepted: its operation may not complete.
    body = {"document": with_ipc_points(), "reason": "CR-20: IPC points on compression"}
    answer = plant.call("admin", "POST", "/api/v1/masterdata/import", json=body)
    assert answer.status_code == 200, answer.text
    plan_version(plant, [GRAN_PLAN], extra_limits=(IPC_WATER,))
    request_sample(plant, "REQ-GRAN", sampling_point="SP-GRAN")
    sign_in(plant.client, "production", plant.passwords["production"])
    html = plant.client.get("/console/sites/T1/batches/B1").text
    gates = plant.call("qa", "GET", "/batches/B1/gates").json()["operations"]
    assert gates and not all(g["may_complete"] for g in gates)
    for gate in gates:
        shown = "true" if gate["may_complete"] else "false"
        assert f'data-operation="{gate["operation"]}" data-may-complete="{shown}"' in html
        for point in gate["points"]:
            assert point["why"] in html


def test_the_ready_filter_is_the_api_review_and_pages_through_its_matches(plant: Plant) -> None:
    released_batch(plant, "REQ-1")
    request_sample(plant, "REQ-2", batch="B2")
    listed = [b["code"] for b in plant.call("qa", "GET", "/batches").json()["items"]]
    said = {
        code: plant.call("qa", "GET", f"/batches/{code}/review").json()["ready_by_exception"]
        for code in listed
    }
    assert set(said.values()) == {True, False}  # both kinds, or the filter proves nothing
    sign_in(plant.client, "qa", plant.passwords["qa"])
    for flag in (True, False):
        wanted = [code for code in listed if said[code] is flag]
        board = plant.client.get(f"/console/sites/T1/batches?ready={str(flag).lower()}&limit=1")
        assert batches_on(board.text) == wanted[:1]
        assert ('rel="next"' in board.text) is (len(wanted) > 1)


def test_a_batch_page_shows_its_samples_a_page_at_a_time_and_reviews_them_all(
    plant: Plant,
) -> None:
    from labgate.entrypoints.web.batches import SAMPLES_SHOWN

    codes = sorted(request_sample(plant, f"REQ-P{n:02d}") for n in range(SAMPLES_SHOWN + 2))
    sign_in(plant.client, "qa", plant.passwords["qa"])
    first = plant.client.get("/console/sites/T1/batches/B1")
    assert first.status_code == 200, first.text
    shown = re.findall(r'<div class="sample" data-sample="([^"]+)"', first.text)
    assert shown == codes[:SAMPLES_SHOWN]
    assert f"Samples 1\u2013{SAMPLES_SHOWN} of {SAMPLES_SHOWN + 2}, by code" in first.text
    # The review by exception covers every sample, shown or not (each awaits its results).
    review = plant.call("qa", "GET", "/batches/B1/review").json()["items"]
    findings = re.findall(r'<li data-finding="([^"]+)"', first.text)
    first_of = {kind: n for n, kind in reversed(list(enumerate(i["kind"] for i in review)))}
    assert findings == sorted((i["kind"] for i in review), key=first_of.__getitem__)
    # A run of more than five findings of a kind is folded behind its count.
    for kind in first_of:
        count = findings.count(kind)
        folded = f'<details class="findings" data-findings="{kind}">' in first.text
        assert folded is (count > 5), (kind, count)
    assert {value for item in review for value in item.values()} >= set(codes[-2:])
    link = re.search(r'<a href="([^"]+)" rel="next">Next samples</a>', first.text)
    assert link
    rest = plant.client.get(link.group(1).replace("&amp;", "&"))
    shown = re.findall(r'<div class="sample" data-sample="([^"]+)"', rest.text)
    assert shown == codes[SAMPLES_SHOWN:]
    assert (
        f"Samples {SAMPLES_SHOWN + 1}\u2013{SAMPLES_SHOWN + 2} of {SAMPLES_SHOWN + 2}" in rest.text
    )
    assert 'rel="next"' not in rest.text and "First samples" in rest.text
