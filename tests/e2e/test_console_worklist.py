"""The analyst's worklist over HTTP on both databases: samples to register (the API list's rows)
registered through the console, result entry that keeps the value as typed and converts the
unit as the API's sample view then shows, refusals beside the field with their reason codes
(audited), a qualitative result, a retest after a reviewer's invalidation, and a reviewer who
has no entry form and whose forged post is refused 403 and audited."""

from __future__ import annotations

import re

import pytest
from httpx2 import Response
from test_console import csrf_of, sign_in, trail

from labgate.bootstrap import Hub
from plant import SITE, Plant, SeededPlant, request_sample

WORKLIST = f"/console/sites/{SITE}/worklist"


@pytest.fixture
def plant(hub: Hub, client: object, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)  # type: ignore[arg-type]


def _requested(plant: Plant, request_id: str, batch: str = "B1") -> str:
    """An MES sample request the lab has not registered yet."""
    body = {"mes_request_id": request_id, "product": "P1", "sampled_at": "2026-11-24T10:00:00Z",
            "batch": batch, "sampling_point": "SP-REL"}  # fmt: skip
    answer = plant.call("mes", "POST", "/sample-requests", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["code"])


def _samples_on(html: str) -> list[str]:
    return re.findall(r'<tr data-sample="([^"]+)"', html)


def _entry(plant: Plant, sample: str) -> str:
    answer = plant.client.get(f"{WORKLIST}/{sample}")
    assert answer.status_code == 200, answer.text
    return answer.text


def _enter(plant: Plant, sample: str, test: str, value: str, unit: str | None = None,
           **extra: str) -> Response:  # fmt: skip
    """Post the test's form as the page gives it (its token, method version, retest)."""
    html = _entry(plant, sample)
    form = re.search(rf'<form [^>]*aria-label="(?:Result|Retest) of {test}".*?</form>', html, re.S)
    assert form, html
    hidden = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', form.group(0)))
    data = {**hidden, "value": value, **({"unit": unit} if unit else {}), **extra}
    return plant.client.post(f"{WORKLIST}/{sample}/results", data=data, follow_redirects=False)


def _api_result(plant: Plant, sample: str, code: str) -> dict[str, object]:
    shown = plant.call("analyst", "GET", f"/samples/{sample}").json()
    return next(r for r in shown["results"] if r["code"] == code)


def test_the_worklist_lists_pages_and_filters_samples_to_register_and_registers_one(
    plant: Plant, hub: Hub
) -> None:
    first = _requested(plant, "REQ-1")
    other = _requested(plant, "REQ-2", batch="B2")
    sign_in(plant.client, "analyst", plant.passwords["analyst"])
    home = plant.client.get(f"/console/sites/{SITE}/").text
    assert f'href="{WORKLIST}?stage=register"' in home and f'href="{WORKLIST}"' in home
    page = plant.client.get(f"{WORKLIST}?stage=register")
    assert page.status_code == 200, page.text
    listed = plant.call("analyst", "GET", "/samples", params={"status": "requested"}).json()
    assert _samples_on(page.text) == sorted(i["code"] for i in listed["items"]) == [first, other]
    assert _samples_on(plant.client.get(f"{WORKLIST}?stage=register&batch=B2").text) == [other]
    assert _samples_on(plant.client.get(f"{WORKLIST}?stage=register&product=NOPE").text) == []
    paged = plant.client.get(f"{WORKLIST}?stage=register&limit=1").text
    assert _samples_on(paged) == [first]
    link = re.search(r'href="(/console/sites/T1/worklist\?[^"]*cursor=[^"]+)"', paged)
    assert link
    assert _samples_on(plant.client.get(link.group(1).replace("&amp;", "&")).text) == [other]
    partial = plant.client.get(f"{WORKLIST}?stage=register&limit=1&product=",
                               headers={"HX-Request": "true"})  # fmt: skip
    assert partial.text.lstrip().startswith('<section id="worklist"')
    assert partial.headers["HX-Push-Url"] == f"{WORKLIST}?stage=register&limit=1"
    assert _samples_on(plant.client.get(f"{WORKLIST}?stage=register&test=ASSAY").text) == [
        first, other]  # fmt: skip
    data = {"csrf_token": csrf_of(page.text), "lims_sample_id": "LAB-7"}
    answer = plant.client.post(f"{WORKLIST}/{first}/registration", data=data,
                               follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"{WORKLIST}/{first}?done=registered"
    shown = plant.call("analyst", "GET", f"/samples/{first}").json()
    assert (shown["status"], shown["lims_sample_id"]) == ("registered", "LAB-7")
    assert trail(hub, "sample.registered")[-1]["actor"] == "analyst"
    # Registered twice: refused on the worklist with the lifecycle's reason code.
    again = plant.client.post(f"{WORKLIST}/{first}/registration", data=data)
    assert again.status_code == 409
    assert 'data-reason="sample.invalid_transition"' in again.text
    # Not registered yet: its entry page offers the registration, and no result form.
    waiting_page = _entry(plant, other)
    assert f'action="{WORKLIST}/{other}/registration"' in waiting_page
    assert 'name="value"' not in waiting_page
    # Now to test, each planned test waiting for its result.
    testing = plant.client.get(WORKLIST).text
    assert _samples_on(testing) == [first]
    waiting = re.findall(r'data-test="([\w-]+)" data-waiting', testing)
    assert waiting == [t["test_code"] for t in shown["tests"]]
    assert "data-all-entered" not in testing


def test_a_result_in_a_convertible_unit_is_kept_as_typed_and_converted(plant: Plant) -> None:
    sample = request_sample(plant, "REQ-1")
    sign_in(plant.client, "analyst", plant.passwords["analyst"])
    html = _entry(plant, sample)
    assay = re.search(r'<select id="u-ASSAY" name="unit">(.*?)</select>', html, re.S)
    assert assay
    # The dictionary's units the handler converts to % (one kind): not g (mass) nor pH.
    assert re.findall(r'<option value="([^"]+)"', assay.group(1)) == ["%", "mg/g"]
    assert 'id="u-APPEAR"' not in html  # a text result takes no unit
    answer = _enter(plant, sample, "ASSAY", "996.20", "mg/g")
    assert answer.status_code == 303, answer.text
    code = f"{sample}-R1"
    assert answer.headers["location"] == f"{WORKLIST}/{sample}?entered={code}#result"
    api = _api_result(plant, sample, code)
    assert (api["raw_value"], api["raw_unit"], api["canonical_unit"]) == ("996.20", "mg/g", "%")
    assert api["method_version"] == "1" and api["analyst"] == "analyst"
    page = plant.client.get(f"{WORKLIST}/{sample}?entered={code}").text
    row = re.search(rf'<tr data-result="{code}">(.*?)</tr>', page, re.S)
    assert row
    cells = dict(re.findall(r"data-(raw|converted|reported)>([^<]*)", row.group(1)))
    assert cells == {"raw": f"{api['raw_value']} ", "converted": f"{api['canonical_value']} ",
                     "reported": f"{api['reported_value']} "}  # fmt: skip
    notice = re.search(r'<div class="notice" role="status" id="result".*?</div>', page, re.S)
    assert notice and "996.20 mg/g" in notice.group(0)
    verdict = "conforms" if api["conforms"] else "oos"
    assert f'data-verdict="{verdict}"' in notice.group(0) and api["conforms"] is True


# Each refused entry: what was typed, the field named, the reason code (the bus's, or the
# API body's bound for an empty value).
REFUSED = (
    ({"value": "abc", "unit": "%"}, "value", "number.malformed", 422),
    ({"value": "1e1000", "unit": "%"}, "value", "number.out_of_range", 422),
    ({"value": "99.5", "unit": "g"}, "unit", "unit.unconvertible", 422),
    ({"value": "", "unit": "%"}, "value", "input.string_too_short", 422),
)


def test_refused_entries_name_the_field_and_reason_beside_the_form(plant: Plant, hub: Hub) -> None:
    sample = request_sample(plant, "REQ-1")
    sign_in(plant.client, "analyst", plant.passwords["analyst"])
    for typed, field, reason, status in REFUSED:
        answer = _enter(plant, sample, "ASSAY", typed["value"], typed["unit"])
        assert answer.status_code == status, typed
        html = answer.text
        box = re.search(r'<div class="error" role="alert" id="refused-ASSAY"[^>]*>', html)
        assert box, html
        assert f'data-reason="{reason}"' in box.group(0) and f'data-field="{field}"' in box.group(0)
        kept = re.search(r'<input id="v-ASSAY"[^>]*value="([^"]*)"', html)
        assert kept and kept.group(1) == typed["value"]  # as typed, to correct it
    unknown = _enter(plant, sample, "ASSAY", "99.5", "%", test_code="NOPE")
    assert unknown.status_code == 404
    box = re.search(r'<div class="error" role="alert" id="refused"[^>]*>',
                    unknown.text)  # fmt: skip
    assert box and 'data-reason="test.unknown"' in box.group(0)
    assert 'data-field="test_code"' in box.group(0)
    assert plant.call("analyst", "GET", f"/samples/{sample}").json()["results"] == []
    # An unknown sample has no entry page: the refusal's own page, audited once.
    data = {"csrf_token": csrf_of(unknown.text), "test_code": "ASSAY", "value": "99.5",
            "unit": "%", "method_version": "1"}  # fmt: skip
    nowhere = plant.client.post(f"{WORKLIST}/S-NOPE/results", data=data)
    assert nowhere.status_code == 404 and "sample.unknown" in nowhere.text
    audited = trail(hub, "refused.record_result") + trail(hub, "refused.console.worklist_record")
    assert sorted(e["after"]["reason_code"] for e in audited) == sorted(
        [*(reason for _, _, reason, _ in REFUSED), "test.unknown", "sample.unknown"]
    )


def test_a_text_result_and_a_huge_exponent_are_kept_exactly_until_all_are_entered(
    plant: Plant,
) -> None:
    """A qualitative result is judged as text; 1e400 is a decimal the domain takes (up to
    1E+999): stored as typed, converted exactly, never a float's infinity, out of NMT 0.5."""
    sample = request_sample(plant, "REQ-1")
    sign_in(plant.client, "analyst", plant.passwords["analyst"])
    answer = _enter(plant, sample, "APPEAR", "White tablet")
    assert answer.status_code == 303, answer.text
    api = _api_result(plant, sample, f"{sample}-R1")
    assert (api["raw_value"], api["raw_unit"], api["conforms"]) == ("White tablet", None, True)
    page = plant.client.get(answer.headers["location"]).text
    assert 'data-verdict="conforms"' in page
    assert 'aria-label="Result of APPEAR"' not in page  # entered: no second form
    answer = _enter(plant, sample, "WATER", "1e400", "%")
    assert answer.status_code == 303, answer.text
    api = _api_result(plant, sample, f"{sample}-R2")
    assert (api["raw_value"], api["conforms"]) == ("1e400", False)
    page = plant.client.get(answer.headers["location"]).text
    assert f"data-converted>{api['canonical_value']} " in page and "inf" not in page.lower()
    notice = re.search(r'<div class="notice" role="status" id="result".*?</div>', page, re.S)
    assert notice and 'data-verdict="oos"' in notice.group(0)
    listed = plant.client.get(WORKLIST).text
    assert "data-all-entered" not in listed  # ASSAY still waits
    assert _enter(plant, sample, "ASSAY", "99.1", "%").status_code == 303
    row = re.search(rf'<tr data-sample="{sample}">.*?</tr>', plant.client.get(WORKLIST).text, re.S)
    assert row and "data-all-entered" in row.group(0) and "data-waiting" not in row.group(0)


def test_a_retest_follows_a_reviewers_invalidation(plant: Plant, hub: Hub) -> None:
    sample = request_sample(plant, "REQ-1")
    sign_in(plant.client, "analyst", plant.passwords["analyst"])
    assert _enter(plant, sample, "WATER", "0.9", "%").status_code == 303
    first = f"{sample}-R1"
    page = _entry(plant, sample)
    assert 'aria-label="Result of WATER"' not in page
    assert f'href="/console/sites/{SITE}/review/{first}"' in page  # invalidation: the reviewer's
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    panel = plant.client.get(f"/console/sites/{SITE}/review/{first}").text
    seen = re.search(r'name="seen_content" value="([0-9a-f]+)"', panel)
    assert seen
    form = {"csrf_token": csrf_of(panel), "seen_content": seen.group(1), "seen_seq": "0",
            "reason": "Titrant expired", "username": "reviewer",
            "password": plant.passwords["reviewer"]}  # fmt: skip
    invalidated = plant.client.post(f"/console/sites/{SITE}/review/{first}/invalidation", data=form)
    assert invalidated.status_code == 200, invalidated.text
    sign_in(plant.client, "analyst", plant.passwords["analyst"])
    page = _entry(plant, sample)
    retest = re.search(r'<form [^>]*aria-label="Retest of WATER".*?</form>', page, re.S)
    assert retest and f'name="retest_of" value="{first}"' in retest.group(0)
    assert "Titrant expired" in retest.group(0) and "Reviewer Person" in retest.group(0)
    answer = _enter(plant, sample, "WATER", "0.40", "%")
    assert answer.status_code == 303, answer.text
    second = f"{sample}-R2"
    assert _api_result(plant, sample, second)["supersedes"] == first
    assert _api_result(plant, sample, first)["superseded_by"] == second
    assert "retest of" in trail(hub, "result.recorded")[-1]["reason"]


def test_a_reviewer_has_no_entry_form_and_a_forged_post_is_refused(plant: Plant, hub: Hub) -> None:
    sample = request_sample(plant, "REQ-1")
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    home = plant.client.get(f"/console/sites/{SITE}/").text
    assert f'href="{WORKLIST}"' not in home  # neither in the navigation nor as a tile
    for path in (WORKLIST, f"{WORKLIST}/{sample}"):
        answer = plant.client.get(path)
        assert answer.status_code == 403 and "access.missing_permission" in answer.text
        assert 'name="value"' not in answer.text
    data = {"csrf_token": csrf_of(home), "test_code": "ASSAY", "value": "99.5", "unit": "%",
            "method_version": "1"}  # fmt: skip
    forged = plant.client.post(f"{WORKLIST}/{sample}/results", data=data)
    assert forged.status_code == 403 and "<html" in forged.text
    assert plant.call("reviewer", "GET", f"/samples/{sample}").json()["results"] == []
    refused = trail(hub, "refused.console.worklist_record")
    assert [(e["actor"], e["after"]["reason_code"]) for e in refused] == [
        ("reviewer", "access.missing_permission")
    ]
    registration = plant.client.post(f"{WORKLIST}/{sample}/registration", data=data)
    assert registration.status_code == 403
