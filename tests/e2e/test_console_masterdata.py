"""The console's master-data pages over HTTP on both databases: specifications and their versions
exactly as the API gives them, two versions compared, approval and putting in force through the
API's own commands (the author never approves; a role without the permission sees no form and
is refused a forged POST, audited), the reference tables, and the YAML import previewed (nothing
written) then applied with a reason, or refused with the path of its fault."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from test_console import csrf_of, sign_in, trail

from labgate.bootstrap import Hub
from labgate.domain.commands import Context, ImportMasterData
from plant import PLANT, Plant, SeededPlant

BASE = "/console/sites/T1/masterdata"
SPEC = f"{BASE}/specifications/SPEC-A"


@pytest.fixture
def plant(hub: Hub, client: object, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)  # type: ignore[arg-type]


def tighter(version: int, assay: str = "NLT 99.5") -> dict[str, Any]:
    """A document with SPEC-A v<version>: v2 with a tightened assay, its author left out."""
    lines = [{**line} for line in PLANT["specifications"][0]["versions"][1]["limits"]]
    lines[0]["limit"] = assay
    written = {"version": version, "limits": lines}
    return {"site": PLANT["site"], "specifications": [{"code": "SPEC-A", "versions": [written]}]}


def draft(plant: Plant, version: int, assay: str = "NLT 99.5") -> None:
    """SPEC-A v<version>, a draft imported over the API by admin, so authored by admin."""
    body = {"document": tighter(version, assay), "reason": "CR-7: tighter assay"}
    answer = plant.call("admin", "POST", "/api/v1/masterdata/import", json=body)
    assert answer.status_code == 200, answer.text


def draft_by_qa(plant: Plant, hub: Hub, version: int) -> None:
    """A draft whose author is the QA account: only where QA may load master data, so through
    the bus (the API's roles keep an importer from being QA); a typed author is refused."""
    document = tighter(version)
    document["specifications"][0]["versions"][0]["author"] = "qa"
    body = {"document": document, "reason": "CR-7: tighter assay"}
    forged = plant.call("admin", "POST", "/api/v1/masterdata/import", json=body)
    assert forged.status_code == 422, forged.text
    assert (forged.json()["reason"], forged.json()["field"]) == (
        "spec.author_not_account", "specifications[0].versions[0].author",
    )  # fmt: skip
    hub.bus.handle(ImportMasterData(Context("qa"), document, "CR-7: tighter assay"))


def api_version(plant: Plant, version: int) -> dict[str, Any]:
    answer = plant.call("qa", "GET", f"/specifications/SPEC-A/versions/{version}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def api_version_exists(plant: Plant, version: int) -> bool:
    answer = plant.call("qa", "GET", f"/specifications/SPEC-A/versions/{version}")
    assert answer.status_code in (200, 404), answer.text
    return answer.status_code == 200


def cells(html: str, attribute: str) -> list[str]:
    return re.findall(rf"<td {attribute}>([^<]*)</td>", html)


def specs_and_a_version_as_the_api_gives_them(plant: Plant) -> None:
    sign_in(plant.client, "qa", plant.passwords["qa"])
    listing = plant.client.get(BASE)
    assert listing.status_code == 200, listing.text
    assert 'data-spec="SPEC-A"' in listing.text and "Test tablet" in listing.text
    for version in (1, 2):
        status = api_version(plant, version)["status"]
        assert f'data-version="{version}" data-status="{status}"' in listing.text
    partial = plant.client.get(f"{BASE}?limit=10", headers={"HX-Request": "true"})
    assert partial.text.lstrip().startswith('<section id="specs"')
    assert partial.headers["HX-Push-Url"] == BASE and 'data-spec="SPEC-A"' in partial.text
    page = plant.client.get(f"{SPEC}/versions/2")
    assert page.status_code == 200, page.text
    shown = api_version(plant, 2)
    assert cells(page.text, "data-limit") == [line["limit"] for line in shown["limits"]]
    assert cells(page.text, "data-alert") == [line["alert"] or "—" for line in shown["limits"]]
    assert '<span class="unit">%</span>' in page.text and "usp" in page.text  # unit, rounding
    # The signature's manifestation: printed name (id on hover), site time, meaning, status.
    (signature,) = shown["signatures"]
    assert signature["status"] == "valid"
    assert '<span class="person" title="user id: qa">Qa Person</span>' in page.text
    assert f'<time datetime="{signature["signed_at"]}">' in page.text
    assert 'data-status="valid"' in page.text and "Valid" in page.text
    # No lifecycle action on an effective version.
    assert "/approval" not in page.text and "/effective" not in page.text


def the_specifications_page_a_few_at_a_time(plant: Plant) -> None:
    written = {"version": 1, "limits": [{"test": "ASSAY", "limit": "NLT 90"}]}
    document = {
        "site": PLANT["site"],
        "specifications": [{"code": "SPEC-B", "versions": [written]}],
    }
    body = {"document": document, "reason": "CR-11: a second specification"}
    assert plant.call("admin", "POST", "/api/v1/masterdata/import", json=body).status_code == 200
    first = plant.client.get(f"{BASE}?limit=1")
    assert re.findall(r'data-spec="([^"]+)"', first.text) == ["SPEC-A"]
    link = re.search(r'href="([^"]*cursor=[^"]+)" [^>]*rel="next"', first.text)
    assert link
    second = plant.client.get(link.group(1).replace("&amp;", "&"))
    assert re.findall(r'data-spec="([^"]+)"', second.text) == ["SPEC-B"]
    assert 'rel="next"' not in second.text and 'data-status="draft"' in second.text


def the_comparison_says_which_limit_changed(plant: Plant) -> None:
    sign_in(plant.client, "auditor", plant.passwords["auditor"])
    page = plant.client.get(f"{SPEC}/compare?left=1&right=2")
    assert page.status_code == 200, page.text
    row = re.search(r'data-line="release/ASSAY" data-change="(\w+)">(.*?)</tr>', page.text, re.S)
    assert row and row.group(1) == "changed"
    assert "Changed: limit" in row.group(2)
    assert "NLT 98.0" in row.group(2) and "NLT 99.0" in row.group(2)
    assert 'data-line="release/WATER" data-change="same"' in page.text
    assert "0 added, 0 removed, 1 changed" in page.text
    assert page.text.count('data-signature="approved" data-status="valid"') == 2  # both signed


def the_author_cannot_approve(plant: Plant, hub: Hub) -> None:
    sign_in(plant.client, "qa", plant.passwords["qa"])
    page = plant.client.get(f"{SPEC}/versions/3")
    assert 'id="author-note"' in page.text and "/approval" not in page.text
    form = {"csrf_token": csrf_of(page.text), "username": "qa", "password": plant.passwords["qa"]}
    refused = plant.client.post(f"{SPEC}/versions/3/approval", data=form)
    api = plant.call("qa", "POST", "/specifications/SPEC-A/versions/3/approval",
                     json={"signature": plant.signature("qa")})  # fmt: skip
    assert refused.status_code == api.status_code == 403
    assert 'data-reason="spec.approver_is_author"' in refused.text
    assert api.json()["reason"] == "spec.approver_is_author"
    assert api_version(plant, 3)["status"] == "draft"
    assert len(trail(hub, "refused.approve_spec_version")) == 2  # the console's and the API's


def qa_approves_and_puts_in_force(plant: Plant) -> None:
    sign_in(plant.client, "qa", plant.passwords["qa"])
    page = plant.client.get(f"{SPEC}/versions/4")
    assert 'id="approve-dialog"' in page.text and "/effective" not in page.text
    token = csrf_of(page.text)
    # The version changes after the page showed it: the signature is refused (stale page).
    seen = re.search(r'name="seen_content" value="([0-9a-f]{64})"', page.text)
    assert seen
    draft(plant, 4, assay="NLT 99.8")
    stale = {"csrf_token": token, "username": "qa", "password": plant.passwords["qa"],
             "seen_content": seen.group(1)}  # fmt: skip
    refused = plant.client.post(f"{SPEC}/versions/4/approval", data=stale)
    assert refused.status_code == 409 and 'data-reason="spec.changed_since_shown"' in refused.text
    assert "NLT 99.8" in refused.text and api_version(plant, 4)["status"] == "draft"
    seen = re.search(r'name="seen_content" value="([0-9a-f]{64})"', refused.text)
    assert seen
    nope = {"csrf_token": token, "username": "qa", "password": "nope"}
    wrong = plant.client.post(f"{SPEC}/versions/4/approval", data=nope)
    assert wrong.status_code == 401 and 'data-reason="signature.bad_credentials"' in wrong.text
    signed = plant.client.post(
        f"{SPEC}/versions/4/approval",
        data={"csrf_token": token, "username": "qa", "password": plant.passwords["qa"],
              "seen_content": seen.group(1)},
        follow_redirects=False,
    )  # fmt: skip
    assert signed.status_code == 303, signed.text
    shown = api_version(plant, 4)
    assert shown["status"] == "approved" and shown["approver"] == "qa"
    assert [(s["meaning"], s["status"]) for s in shown["signatures"]] == [("approved", "valid")]
    after = plant.client.get(signed.headers["location"])
    assert 'id="done"' in after.text and 'id="effective-dialog"' in after.text
    bad_date = {"csrf_token": token, "effective_from": "soon", "reason": "CR-7"}
    refused = plant.client.post(f"{SPEC}/versions/4/effective", data=bad_date)
    assert refused.status_code == 422 and "input.datetime_invalid" in refused.text
    no_reason = {"csrf_token": token, "effective_from": "2026-12-01T00:00", "reason": " "}
    refused = plant.client.post(f"{SPEC}/versions/4/effective", data=no_reason)
    assert refused.status_code == 422 and 'id="refused"' in refused.text
    assert api_version(plant, 4)["status"] == "approved"
    form = {"csrf_token": token, "effective_from": "2026-12-01T00:00", "reason": "CR-7: in force"}
    done = plant.client.post(f"{SPEC}/versions/4/effective", data=form, follow_redirects=False)
    assert done.status_code == 303, done.text
    shown = api_version(plant, 4)
    assert shown["status"] == "effective"
    assert shown["effective_from"].startswith("2026-12-01T00:00:00")  # the site's zone is UTC


def no_form_and_403_without_the_permission(plant: Plant, hub: Hub) -> None:
    sign_in(plant.client, "analyst", plant.passwords["analyst"])
    page = plant.client.get(f"{SPEC}/versions/4")
    assert page.status_code == 200 and "/approval" not in page.text
    assert f'href="{BASE}/import"' not in page.text
    token = csrf_of(page.text)
    form = {"csrf_token": token, "username": "analyst", "password": plant.passwords["analyst"]}
    assert plant.client.post(f"{SPEC}/versions/4/approval", data=form).status_code == 403
    assert len(trail(hub, "refused.console.spec_approve")) == 1
    assert plant.client.get(f"{BASE}/import").status_code == 403
    document = {"csrf_token": token, "document": "site: {code: T1, name: X}", "reason": "r"}
    forged = plant.client.post(f"{BASE}/import", data=document)
    assert forged.status_code == 403 and "Not allowed" in forged.text
    assert len(trail(hub, "refused.console.masterdata_apply")) == 1
    assert api_version(plant, 4)["status"] == "draft"
    assert plant.call("qa", "GET", "/masterdata").json()["site"]["name"] == "Test plant"


def the_reference_tables(plant: Plant) -> None:
    sign_in(plant.client, "reviewer", plant.passwords["reviewer"])
    exported = plant.call("reviewer", "GET", "/masterdata").json()
    tests = plant.client.get(f"{BASE}/tables/tests")
    assert tests.status_code == 200, tests.text
    assert re.findall(r'<tr data-row="([^"]+)"', tests.text) == sorted(
        t["code"] for t in exported["tests"]
    )
    units = plant.client.get(f"{BASE}/tables/units")
    assert "1 % = 10 mg/g" in units.text and "1 mg/g = 0.1 %" in units.text
    first_units = plant.client.get(f"{BASE}/tables/units?limit=3")
    link = re.search(r'href="([^"]*cursor=[^"]+)" [^>]*rel="next"', first_units.text)
    assert link
    rest = plant.client.get(link.group(1).replace("&amp;", "&"))
    shown = re.findall(r'<tr data-row="([^"]+)"', first_units.text + rest.text)
    assert shown == sorted(u["code"] for u in exported["units"])
    first = plant.client.get(f"{BASE}/tables/methods?limit=2")
    link = re.search(r'href="([^"]*cursor=[^"]+)" [^>]*rel="next"', first.text)
    assert link
    second = plant.client.get(link.group(1).replace("&amp;", "&"))
    rows = re.findall(r'<tr data-row="([^"]+)"', first.text + second.text)
    versions = [m["code"] for m in exported["methods"] for _ in m["versions"]]
    assert rows == sorted(versions) and 'rel="next"' not in second.text
    aliases = plant.client.get(f"{BASE}/tables/aliases")
    assert "HPLC-ASY" in aliases.text and "pct" in aliases.text
    points = plant.client.get(f"{BASE}/tables/sampling-points")
    assert 'data-row="SP-REL"' in points.text
    assert plant.client.get(f"{BASE}/tables/nothing").status_code == 422


DOCUMENT = {
    "site": {"code": "T1", "name": "Test plant"},
    "specifications": [{"code": "SPEC-A", "versions": [{"version": 3,
                       "limits": [{"test": "ASSAY", "limit": "NLT 99.5"},
                   {"test": "WATER", "limit": "NMT 0.4"}]}]}],
    "aliases": [{"system": "LIMS", "kind": "test", "external": "KF-W", "canonical": "WATER"}],
}  # fmt: skip


def previewed_then_applied(plant: Plant, hub: Hub) -> None:
    sign_in(plant.client, "admin", plant.passwords["admin"])
    form = plant.client.get(f"{BASE}/import")
    token = csrf_of(form.text)
    before = plant.call("admin", "GET", "/masterdata").json()
    text = yaml.safe_dump(DOCUMENT, sort_keys=False)
    preview = plant.client.post(f"{BASE}/import/preview",
                                data={"csrf_token": token, "document": text})  # fmt: skip
    assert preview.status_code == 200, preview.text
    assert "The document is for site <code>T1</code>." in preview.text
    assert 'data-record="specification:SPEC-A v3"' in preview.text
    assert 'data-record="alias:LIMS/test/KF-W"' in preview.text
    assert 'data-line="release/ASSAY" data-change="added"' in preview.text
    assert re.search(r'data-section="aliases">.*?<td class="num">1</td>', preview.text)
    assert plant.call("admin", "GET", "/masterdata").json() == before  # nothing applied
    assert not [e for e in trail(hub, "masterdata.created") if e["record_id"] == "SPEC-A v3"]
    # An uploaded file is read as the pasted text is.
    file = {"file": ("plant.yaml", text.encode(), "text/yaml")}
    upload = plant.client.post(f"{BASE}/import/preview", data={"csrf_token": token}, files=file)
    assert 'data-record="specification:SPEC-A v3"' in upload.text
    # Applied as previewed or not at all: the store changed since, the preview is stale.
    seen = re.search(r'name="seen_plan" value="([0-9a-f]{64})"', preview.text)
    assert seen
    alias_only = {"site": DOCUMENT["site"], "aliases": DOCUMENT["aliases"]}
    body = {"document": alias_only, "reason": "CR-8: KF alias meanwhile"}
    assert plant.call("admin", "POST", "/api/v1/masterdata/import", json=body).status_code == 200
    stale = {"csrf_token": token, "document": text, "reason": "CR-9: tighter assay",
             "seen_plan": seen.group(1)}  # fmt: skip
    refused = plant.client.post(f"{BASE}/import", data=stale)
    assert refused.status_code == 409 and "masterdata.changed_since_preview" in refused.text
    assert not api_version_exists(plant, 3)
    preview = plant.client.post(f"{BASE}/import/preview",
                                data={"csrf_token": token, "document": text})  # fmt: skip
    assert 'data-record="alias:LIMS/test/KF-W"' not in preview.text
    seen = re.search(r'name="seen_plan" value="([0-9a-f]{64})"', preview.text)
    assert seen
    blank = {"csrf_token": token, "document": text, "reason": ""}
    no_reason = plant.client.post(f"{BASE}/import", data=blank)
    assert no_reason.status_code == 422 and 'id="refused"' in no_reason.text
    applied = plant.client.post(
        f"{BASE}/import",
        data={"csrf_token": token, "document": text, "reason": "CR-9: tighter assay",
              "seen_plan": seen.group(1)},
        follow_redirects=False,
    )  # fmt: skip
    assert applied.status_code == 303, applied.text
    assert api_version(plant, 3)["limits"][0]["limit"] == "NLT 99.5"
    (entry,) = [e for e in trail(hub, "masterdata.created") if e["record_id"] == "SPEC-A v3"]
    assert entry["actor"] == "admin" and entry["reason"] == "CR-9: tighter assay"
    again = plant.client.post(f"{BASE}/import/preview",
                              data={"csrf_token": token, "document": text})  # fmt: skip
    assert 'id="nothing"' in again.text


def refused_documents(plant: Plant, hub: Hub) -> None:
    sign_in(plant.client, "admin", plant.passwords["admin"])
    token = csrf_of(plant.client.get(f"{BASE}/import").text)
    before = plant.call("admin", "GET", "/masterdata").json()
    written = {"version": 3, "limits": [{"test": "NOPE", "limit": "NLT 1"}]}
    unknown = {**DOCUMENT, "specifications": [{"code": "SPEC-A", "versions": [written]}]}
    for text, path, reason in (
        (yaml.safe_dump(unknown), "specifications[0].versions[0].limits[0].test",
         "masterdata.unknown_reference"),
        ("site: {code: T1\n  name: [", None, "masterdata.yaml_invalid"),
        ("a: &x [1]\nb: *x\n", None, "masterdata.yaml_alias"),
        ("a: " + "[" * 40 + "]" * 40, None, "masterdata.too_deep"),
    ):  # fmt: skip
        for step in ("import/preview", "import"):
            data = {"csrf_token": token, "document": text, "reason": "CR-10: new assay limits"}
            refused = plant.client.post(f"{BASE}/{step}", data=data)
            assert refused.status_code == 422, refused.text
            assert f'data-reason="{reason}"' in refused.text
            if path:
                assert f"<code data-path>{path}</code>" in refused.text
    assert "line 2" in plant.client.post(f"{BASE}/import/preview", data={
        "csrf_token": token, "document": "site: {code: T1\n  name: ["}).text  # fmt: skip
    assert plant.call("admin", "GET", "/masterdata").json() == before
    assert len(trail(hub, "refused.preview_master_data_import")) == 1
    assert len(trail(hub, "refused.import_master_data")) == 1
    assert len(trail(hub, "refused.console.masterdata_preview")) == 4


# One plant per test (seeding is what costs): each test walks one user journey through the
# checks above, in an order where each check's audit counts are its own.
def test_specifications_versions_comparison_and_tables_are_what_the_api_gives(
    plant: Plant,
) -> None:
    specs_and_a_version_as_the_api_gives_them(plant)
    the_specifications_page_a_few_at_a_time(plant)
    the_comparison_says_which_limit_changed(plant)
    the_reference_tables(plant)


def test_lifecycle_actions_go_through_the_apis_commands_and_permissions(
    plant: Plant, hub: Hub
) -> None:
    draft_by_qa(plant, hub, 3)
    draft(plant, 4)
    the_author_cannot_approve(plant, hub)
    no_form_and_403_without_the_permission(plant, hub)
    qa_approves_and_puts_in_force(plant)


def test_the_import_is_refused_with_its_path_or_previewed_then_applied(
    plant: Plant, hub: Hub
) -> None:
    refused_documents(plant, hub)
    previewed_then_applied(plant, hub)
