"""Who may call what: every route wants credentials, each write route its one permission, the docs
work on a closed network, and wrong passwords lock an account. On SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from httpx2 import Response

from fakes import ManualClock
from labgate.bootstrap import Hub, bootstrap
from labgate.compliance.access import ROLE_PERMISSIONS, Permission, Role
from labgate.config import Settings
from labgate.entrypoints.app import create_app
from plant import PEOPLE, Plant, SeededPlant

P = Permission
UNGUARDED = {"/api/v1/token", "/docs", "/health", "/ready"}
PATH_VALUES = {
    "site": "T1",
    "sample": "S-000001",
    "result": "S-000001-R1",
    "batch": "B1",
    "specification": "SPEC-A",
    "version": "1",
    "mes_request_id": "REQ-1",
    "username": "analyst",
    "action": "unlock",
    "schema_id": "labgate.result.v1",
    "source": "mes",
    "kid": "mes-1",
    "item": "1",
    "decision": "discard",
    "message_id": "01937000-0000-7000-8000-000000000000",
    "external_id": "jdoe",
    "deviation": "DEV-000001",
    "lot": "RM-000001",
    "material": "API-1",
    "supplier": "SUP-1",
    "study": "STAB-00001",
    "alert": "OOT-000001",
    "em_sample": "EMS-000001",
    "em_round": "EMR-000001",
    "excursion": "EMX-000001",
    "change_request": "CR-000001",
    "review": "AR-000001",
    "message": "1",
    "run": "1",
}
WRITE_PERMISSIONS = {
    "/api/v1/sites/{site}/change-requests": P.MANAGE_MASTERDATA,
    "/api/v1/sites/{site}/change-requests/apply-due": P.APPROVE_SPEC,
    "/api/v1/sites/{site}/change-requests/{change_request}/assessment": P.MANAGE_MASTERDATA,
    "/api/v1/sites/{site}/change-requests/{change_request}/approval": P.APPROVE_SPEC,
    "/api/v1/sites/{site}/change-requests/{change_request}/rejection": P.APPROVE_SPEC,
    "/api/v1/sites/{site}/change-requests/{change_request}/withdrawal": P.MANAGE_MASTERDATA,
    "/api/v1/accounts": P.MANAGE_USERS,
    "/api/v1/accounts/{username}/{action}": P.MANAGE_USERS,
    "/api/v1/accounts/{username}/api-key": P.MANAGE_USERS,
    "/api/v1/masterdata/import": P.MANAGE_MASTERDATA,
    "/api/v1/sites/{site}/icd": P.MANAGE_MASTERDATA,
    "/api/v1/sites/{site}/icd/{version}/approval": P.APPROVE_SPEC,
    "/api/v1/sites/{site}/specifications/{specification}/versions/{version}/approval": (
        P.APPROVE_SPEC
    ),
    "/api/v1/sites/{site}/specifications/{specification}/versions/{version}/effective": (
        P.APPROVE_SPEC
    ),
    "/api/v1/sites/{site}/sample-requests": P.REQUEST_SAMPLE,
    "/api/v1/sites/{site}/samples": P.REGISTER_SAMPLE,
    "/api/v1/sites/{site}/samples/{sample}/registration": P.REGISTER_SAMPLE,
    "/api/v1/sites/{site}/samples/{sample}/cancellation": P.CANCEL_SAMPLE,
    "/api/v1/sites/{site}/results": P.ENTER_RESULT,
    "/api/v1/sites/{site}/results/reviewed": P.POST_REVIEWED_RESULT,
    "/api/v1/sites/{site}/results/{result}/approval": P.APPROVE_RESULT,
    "/api/v1/sites/{site}/results/{result}/invalidation": P.INVALIDATE_RESULT,
    "/api/v1/sites/{site}/batches/{batch}/release": P.RELEASE_BATCH,
    "/api/v1/sites/{site}/batches/{batch}/rejection": P.RELEASE_BATCH,
    "/api/v1/sites/{site}/deviations/{deviation}/phase1": P.INVESTIGATE_DEVIATION,
    "/api/v1/sites/{site}/deviations/{deviation}/phase2": P.INVESTIGATE_DEVIATION,
    "/api/v1/sites/{site}/deviations/{deviation}/closure": P.CLOSE_DEVIATION,
    "/api/v1/sites/{site}/lots": P.REGISTER_SAMPLE,
    "/api/v1/sites/{site}/lots/{lot}/supplier-coa": P.ENTER_RESULT,
    "/api/v1/sites/{site}/lots/{lot}/release": P.RELEASE_BATCH,
    "/api/v1/sites/{site}/lots/{lot}/rejection": P.RELEASE_BATCH,
    "/api/v1/sites/{site}/stability-studies": P.MANAGE_STABILITY,
    "/api/v1/sites/{site}/stability-studies/{study}/approval": P.APPROVE_SPEC,
    "/api/v1/sites/{site}/stability-studies/{study}/completion": P.MANAGE_STABILITY,
    "/api/v1/sites/{site}/stability-studies/{study}/cancellation": P.MANAGE_STABILITY,
    "/api/v1/sites/{site}/stability-studies/{study}/pulls": P.REGISTER_SAMPLE,
    "/api/v1/sites/{site}/stability-pulls/due": P.REGISTER_SAMPLE,
    "/api/v1/sites/{site}/oot-alerts/{alert}/acknowledgement": P.ACKNOWLEDGE_OOT,
    "/api/v1/sites/{site}/em/locations": P.MANAGE_EM,
    "/api/v1/sites/{site}/em/points": P.MANAGE_EM,
    "/api/v1/sites/{site}/em/routes": P.MANAGE_EM,
    "/api/v1/sites/{site}/em/schedules": P.MANAGE_EM,
    "/api/v1/sites/{site}/em/limits": P.MANAGE_EM,
    "/api/v1/sites/{site}/em/rounds": P.RECORD_EM,
    "/api/v1/sites/{site}/em/due-rounds": P.RECORD_EM,
    "/api/v1/sites/{site}/em/samples/{em_sample}/count": P.RECORD_EM,
    "/api/v1/sites/{site}/em/occupancy": P.REPORT_OCCUPANCY,
    "/api/v1/sites/{site}/audit-reviews": P.REVIEW_AUDIT_TRAIL,
    "/api/v1/sites/{site}/audit-reviews/{review}/spot-check/{message}": P.REVIEW_AUDIT_TRAIL,
    "/api/v1/sites/{site}/audit-reviews/{review}/sign-off": P.REVIEW_AUDIT_TRAIL,
    "/api/v1/sites/{site}/dq/runs": P.RUN_DATA_QUALITY,
    "/api/v1/inbox": P.SEND_MESSAGES,
    "/api/v1/outbox/retry": P.RETRY_DELIVERY,
    "/api/v1/quarantine/{item}/{decision}": P.MANAGE_QUARANTINE,
    "/api/v1/sources/{source}/keys": P.MANAGE_KEYS,
    "/api/v1/sources/{source}/keys/{kid}/revocation": P.MANAGE_KEYS,
    "/api/v1/sources/{source}/identities/{external_id}/withdrawal": P.MANAGE_USERS,
}
CALLERS = PEOPLE | {"mes": Role.MES_SYSTEM.value, "lims": Role.LIMS_SYSTEM.value}
# Any signed-in person, on their own account only: no permission to declare.
OWN_ACCOUNT = {"/api/v1/me/password"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Every route is tried without credentials within one minute of the test clock: more
    refusals than one client is allowed by default (tests/e2e/test_trust.py tests that limit)."""
    return settings.model_copy(update={"anonymous_refusals_per_minute": 10_000})


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def guarded_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path template) of every API route that needs credentials."""
    routes = iter_route_contexts(client.app.routes)  # type: ignore[attr-defined]
    return sorted(
        (method, route.path)
        for route in routes
        if isinstance(route.original_route, APIRoute) and route.path not in UNGUARDED
        for method in route.methods or ()
    )


def url(template: str) -> str:
    """The template with plausible values; a KeyError names a parameter this test must learn."""
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m[1]], template)


def problem(answer: Response) -> tuple[int, str, str]:
    """Status, media type and reason code of an answer."""
    media_type = answer.headers.get("content-type", "").split(";")[0]
    body = answer.json() if media_type.endswith("json") else {}
    return answer.status_code, media_type, body.get("reason", "")


BAD_CREDENTIALS = {
    "none": ({}, "auth.missing"),
    "invalid bearer token": ({"Authorization": "Bearer not.a.token"}, "auth.token_invalid"),
    "unknown API key": ({"X-API-Key": "lgk_not-a-key"}, "auth.bad_api_key"),
}


@pytest.mark.parametrize(("headers", "reason"), BAD_CREDENTIALS.values(),
                         ids=BAD_CREDENTIALS.keys())  # fmt: skip
@pytest.mark.requirement("URS-P11-11.10d", category="negative")
def test_every_route_refuses_a_caller_without_valid_credentials(
    client: TestClient, headers: dict[str, str], reason: str
) -> None:
    routes = guarded_routes(client)
    assert len(routes) > 20
    answers = {
        (method, path): problem(client.request(method, url(path), headers=headers))
        for method, path in routes
    }
    wrong = {route: got for route, got in answers.items()
             if got != (401, "application/problem+json", reason)}  # fmt: skip
    assert wrong == {}


@pytest.mark.requirement("URS-P11-11.10d")
def test_a_caller_with_credentials_and_the_permission_is_admitted_as_themselves(
    plant: Plant,
) -> None:
    me = plant.call("reviewer", "GET", "/api/v1/me")
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "reviewer"
    listed = plant.call("auditor", "GET", "/api/v1/audit")
    assert listed.status_code == 200, listed.text
    assert listed.json()["items"]


def test_every_write_route_declares_a_permission_in_the_table(client: TestClient) -> None:
    posts = {path for method, path in guarded_routes(client) if method == "POST"}
    assert posts == set(WRITE_PERMISSIONS) | OWN_ACCOUNT


def attempt(plant: Plant, caller: str, path: str) -> tuple[int, str | None, str | None]:
    """401 or 403 with reason and field when refused access; 0 when admitted (the empty body
    then answers a 4xx); a server error is never counted as admitted."""
    answer = plant.call(caller, "POST", url(path), json={})
    if answer.status_code >= 500:
        return answer.status_code, "server.error", answer.text[:200]
    if answer.status_code not in (401, 403):
        return 0, None, None
    return answer.status_code, answer.json()["reason"], answer.json()["field"]


@pytest.mark.requirement("URS-P11-11.10g", category="negative")
def test_write_routes_admit_exactly_the_roles_with_their_permission(plant: Plant) -> None:
    expected = {
        (caller, path): (0, None, None)
        if permission in ROLE_PERMISSIONS[Role(role)]
        else (403, "access.missing_permission", permission.value)
        for caller, role in CALLERS.items()
        for path, permission in WRITE_PERMISSIONS.items()
    }
    actual = {(caller, path): attempt(plant, caller, path) for caller, path in expected}
    assert {key: got for key, got in actual.items() if got != expected[key]} == {}


class _Assets(HTMLParser):
    """The URLs a page loads: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        self.urls += [value for name, value in attrs if name == wanted and value]


def test_docs_work_without_the_internet(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert not re.search(r"https?://", page.text)
    parser = _Assets()
    parser.feed(page.text)
    assert len(parser.urls) >= 2
    assert all(asset.startswith("/static/") for asset in parser.urls), parser.urls
    assert [client.get(asset).status_code for asset in parser.urls] == [200] * len(parser.urls)


def test_openapi_document_lists_the_routes(client: TestClient) -> None:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    document: dict[str, Any] = json.loads(answer.text)
    listed = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    unguarded = {("POST", "/api/v1/token"), ("GET", "/health"), ("GET", "/ready")}
    assert listed == set(guarded_routes(client)) | unguarded


def sign_in(client: TestClient, username: str, password: str) -> Response:
    return client.post("/api/v1/token", data={"username": username, "password": password})


@pytest.mark.requirement("URS-P11-11.300a-e", category="boundary")
def test_five_wrong_passwords_lock_the_account(plant: Plant) -> None:
    for _ in range(5):
        answer = sign_in(plant.client, "analyst", "not-the-password")
        assert problem(answer) == (401, "application/problem+json", "auth.bad_credentials")
    trail = plant.call(
        "auditor", "GET", "/api/v1/audit", params={"record_type": "account", "record_id": "analyst"}
    ).json()["items"]
    assert [e["action"] for e in trail].count("refused.sign_in") == 5
    assert trail[-1]["action"] == "account.locked"
    answer = sign_in(plant.client, "analyst", plant.passwords["analyst"])
    # The lock is not told to the caller: a locked account answers like a wrong password.
    assert problem(answer) == (401, "application/problem+json", "auth.bad_credentials")


@pytest.mark.requirement("URS-P11-11.300a-e", category="failure_recovery")
def test_failed_sign_ins_counted_before_a_restart_still_lock_the_account_after_it(
    plant: Plant, settings: Settings, clock: ManualClock
) -> None:
    for _ in range(4):
        sign_in(plant.client, "analyst", "not-the-password")
    restarted = bootstrap(settings, clock=clock)  # labgate started again on the same database
    try:
        with TestClient(create_app(settings, restarted)) as client:
            fifth = sign_in(client, "analyst", "not-the-password")
            assert problem(fifth) == (401, "application/problem+json", "auth.bad_credentials")
            answer = sign_in(client, "analyst", plant.passwords["analyst"])
            assert problem(answer) == (401, "application/problem+json", "auth.bad_credentials")
    finally:
        restarted.close()
    trail = plant.call(
        "auditor", "GET", "/api/v1/audit", params={"record_type": "account", "record_id": "analyst"}
    ).json()["items"]
    assert [e["action"] for e in trail].count("refused.sign_in") == 6
    assert "account.locked" in [e["action"] for e in trail]


def test_a_good_password_before_the_fifth_failure_resets_the_count(plant: Plant) -> None:
    for _ in range(4):
        sign_in(plant.client, "analyst", "not-the-password")
    assert sign_in(plant.client, "analyst", plant.passwords["analyst"]).status_code == 200
    for _ in range(4):
        sign_in(plant.client, "analyst", "not-the-password")
    assert sign_in(plant.client, "analyst", plant.passwords["analyst"]).status_code == 200
