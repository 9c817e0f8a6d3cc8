"""Every refusal through the REST API is problem+json naming the field and the rule, with a stable
reason code and an audit entry, and it changes nothing else. On SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from fakes import ManualClock
from faults import database_away_at_commit
from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub, bootstrap
from labgate.config import Settings
from labgate.domain.commands import Context, CreateAccount
from labgate.entrypoints.api.body_checks import MalformedBody, check_body
from plant import SITE, Plant, SeededPlant, first_own_password

RESULTS = f"/api/v1/sites/{SITE}/results"
COUNTED = (t.samples, t.planned_tests, t.results, t.outbox, t.signatures, t.batches, t.accounts)
SENTENCE = re.compile(r"\S[^\n]*\s[^\n]*\s[^\n]*[.?!]")  # one line, three words or more, a stop


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    """The test plant, everyone signed in beforehand (a sign-in is audited too)."""
    seeded = seeded_plant.on(client)
    for user in ("analyst", "reviewer", "qa", "production"):
        seeded.headers(user)
    return seeded


@pytest.fixture
def sample(plant: Plant) -> str:
    """A sample of batch B1, requested by the MES and registered by the lab."""
    body = {
        "mes_request_id": "REQ-1",
        "product": "P1",
        "sampled_at": "2026-11-24T10:00:00Z",
        "batch": "B1",
        "sampling_point": "SP-REL",
    }
    code: str = plant.call("mes", "POST", "/sample-requests", json=body).json()["code"]
    registered = plant.call("lims", "POST", f"/samples/{code}/registration", json={})
    assert registered.status_code == 200, registered.text
    return code


def result_body(sample: str, **changes: Any) -> dict[str, Any]:
    """A good ASSAY result for `sample`, with `changes` applied."""
    body = {
        "sample": sample,
        "test_code": "ASSAY",
        "value": "99.5",
        "unit": "%",
        "method_version": "1",
        "analyst": "analyst",
    }
    return body | changes


def enter(plant: Plant, body: dict[str, Any], user: str = "analyst") -> str:
    answer = plant.call(user, "POST", "/results", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["results"][-1]["code"])


def view(plant: Plant, sample: str) -> dict[str, Any]:
    """The sample as the MES sees it."""
    shown: dict[str, Any] = plant.call("production", "GET", f"/samples/{sample}").json()
    return shown


def row_counts(hub: Hub) -> dict[str, int]:
    with hub.engine.connect() as db:
        return {table.name: db.scalar(select(func.count()).select_from(table)) or 0
                for table in COUNTED}  # fmt: skip


def last_audit_seq(hub: Hub) -> int:
    with hub.engine.connect() as db:
        return db.scalar(select(func.max(t.audit_entries.c.seq))) or 0


def audit_after(hub: Hub, seq: int) -> list[dict[str, Any]]:
    entries = t.audit_entries
    with hub.engine.connect() as db:
        query = select(entries).where(entries.c.seq > seq).order_by(entries.c.seq)
        return [dict(row) for row in db.execute(query).mappings()]


def assert_problem(answer: Response, status: int, reason: str, field: str | None) -> None:
    """RFC 9457 problem+json with the reason code, the field at fault and a sentence."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].split(";")[0] == "application/problem+json"
    problem = answer.json()
    assert (problem["status"], problem["reason"], problem["field"]) == (status, reason, field)
    assert problem["type"].endswith(reason)
    assert SENTENCE.fullmatch(problem["detail"]), problem["detail"]


def refused(
    hub: Hub,
    send: Callable[[], Response],
    status: int,
    reason: str,
    field: str | None = None,
    also_audited: tuple[str, ...] = (),
) -> None:
    """`send` is refused, the refusal is audited once, and no other row changes in number."""
    counts, seq = row_counts(hub), last_audit_seq(hub)
    assert_problem(send(), status, reason, field)
    new = audit_after(hub, seq)
    refusals = [e for e in new if e["action"].startswith("refused.")]
    assert [(e["after"]["reason_code"], e["after"]["field"]) for e in refusals] == [(reason, field)]
    assert [e["action"] for e in new if e not in refusals] == list(also_audited)
    assert row_counts(hub) == counts


@contextmanager
def same_view(plant: Plant, sample: str) -> Iterator[None]:
    """The sample looks the same to the MES after the block as before it."""
    before = view(plant, sample)
    yield
    plant.tokens.pop("production")  # the block may have let the token expire
    assert view(plant, sample) == before


BAD_RESULTS = {
    "unknown test code": ({"test_code": "NOPE"}, 404, "test.unknown", "test_code"),
    "unknown unit": ({"unit": "ppm"}, 422, "unit.unknown", "unit"),
    "unconvertible unit": ({"unit": "g"}, 422, "unit.unconvertible", "unit"),
    "method version mismatch": (
        {"method_version": "2"},
        422,
        "result.method_version_mismatch",
        "method_version",
    ),
    "malformed number": ({"value": "98,5"}, 422, "number.malformed", "value"),
    "number instead of text": ({"value": 98.5}, 422, "input.string_type", "value"),
}


def post_result(
    plant: Plant, body: dict[str, Any], user: str = "analyst"
) -> Callable[[], Response]:
    """`user` reports a result, when called."""
    return partial(plant.call, user, "POST", "/results", json=body)


@pytest.mark.parametrize(("changes", "status", "reason", "field"), BAD_RESULTS.values(),
                         ids=BAD_RESULTS.keys())  # fmt: skip
def test_bad_result_is_refused(
    plant: Plant,
    hub: Hub,
    sample: str,
    changes: dict[str, Any],
    status: int,
    reason: str,
    field: str,
) -> None:
    with same_view(plant, sample):
        refused(hub, post_result(plant, result_body(sample, **changes)), status, reason, field)


@pytest.mark.requirement("URS-TX-002", category="negative")
def test_a_sample_registered_again_is_refused_and_not_acknowledged_twice(
    plant: Plant, hub: Hub, sample: str
) -> None:
    body = {"lims_sample_id": "L-AGAIN"}
    send = partial(plant.call, "lims", "POST", f"/samples/{sample}/registration", json=body)
    with same_view(plant, sample):  # the outbox keeps its one acknowledgement: no row is added
        refused(hub, send, 409, "sample.invalid_transition", "status")


@pytest.mark.requirement("URS-TX-002", category="boundary")
def test_a_lims_sample_id_of_64_characters_is_registered_and_acknowledged_and_65_are_refused(
    plant: Plant, hub: Hub
) -> None:
    body = {"mes_request_id": "REQ-LONG", "product": "P1", "sampled_at": "2026-11-24T10:00:00Z",
            "batch": "B1", "sampling_point": "SP-REL"}  # fmt: skip
    code = plant.call("mes", "POST", "/sample-requests", json=body).json()["code"]
    path = f"/samples/{code}/registration"
    over = partial(plant.call, "lims", "POST", path, json={"lims_sample_id": "L" * 65})
    with same_view(plant, code):
        refused(hub, over, 422, "input.string_too_long", "lims_sample_id")
    longest = "L" * 64
    answer = plant.call("lims", "POST", path, json={"lims_sample_id": longest})
    assert answer.status_code == 200, answer.text
    assert view(plant, code)["lims_sample_id"] == longest
    listed = plant.call("auditor", "GET", "/api/v1/outbox", params={"limit": 1000}).json()
    [told] = [m for m in listed["items"] if m["message_type"] == "sample_registration"]
    assert told["payload"]["lims_sample_id"] == longest  # acknowledged to the MES, whole


def test_result_for_an_unknown_sample_is_refused(plant: Plant, hub: Hub) -> None:
    refused(hub, post_result(plant, result_body("NO-SUCH-SAMPLE")), 404, "sample.unknown", "sample")


def test_result_for_a_cancelled_sample_is_refused(plant: Plant, hub: Hub, sample: str) -> None:
    cancel = {"reason": "Container broken in transit"}
    assert plant.call(
        "production", "POST", f"/samples/{sample}/cancellation", json=cancel
    ).is_success
    with same_view(plant, sample):
        refused(hub, post_result(plant, result_body(sample)), 409, "sample.cancelled", "sample")


def test_release_is_refused_while_a_result_is_preliminary(
    plant: Plant, hub: Hub, sample: str
) -> None:
    enter(plant, result_body(sample))
    batch_before = plant.call("qa", "GET", "/batches/B1").json()
    body = {"signature": plant.signature("qa", "released")}
    send = partial(plant.call, "qa", "POST", "/batches/B1/release", json=body)
    with same_view(plant, sample):
        refused(hub, send, 409, "release.unreviewed_result", "batch")
    assert plant.call("qa", "GET", "/batches/B1").json() == batch_before


def approval(plant: Plant, user: str, result: str, password: str) -> Callable[[], Response]:
    """`user` approves `result`, signing with `password`, when called."""
    body = {"signature": plant.signature(user) | {"password": password}}
    return partial(plant.call, user, "POST", f"/results/{result}/approval", json=body)


def dual(plant: Plant, hub: Hub, settings: Settings) -> str:
    """The password of "dual", analyst and reviewer at once: made on a site whose role policy
    lets one person hold both (LABGATE_ROLE_CONFLICTS)."""
    pairs = [p for p in settings.role_conflicts if set(p) != {"qc_analyst", "qc_reviewer"}]
    allowing = bootstrap(settings.model_copy(update={"role_conflicts": pairs}))
    temporary, roles = secrets.token_urlsafe(16), ("qc_analyst", "qc_reviewer")
    try:
        setup = Context("test-setup", "system")
        allowing.bus.handle(CreateAccount(setup, "dual", "Dual", roles, temporary))
    finally:
        allowing.close()
    password = plant.passwords["dual"] = first_own_password(hub, "dual", temporary)
    return password


def test_reviewer_cannot_approve_their_own_result(
    plant: Plant, hub: Hub, settings: Settings, sample: str
) -> None:
    password = dual(plant, hub, settings)
    result = enter(plant, result_body(sample, analyst="dual"), user="dual")
    with same_view(plant, sample):
        send = approval(plant, "dual", result, password)
        refused(hub, send, 403, "result.reviewer_is_analyst", "reviewer")


@pytest.mark.requirement("URS-A11-6", "URS-P11-11.10g", category="boundary")
def test_one_person_with_both_roles_approves_another_analysts_result_but_never_their_own(
    plant: Plant, hub: Hub, settings: Settings, sample: str
) -> None:
    password = dual(plant, hub, settings)
    own = enter(plant, result_body(sample, analyst="dual"), user="dual")
    other = enter(plant, result_body(sample, test_code="WATER", value="0.2"))
    assert approval(plant, "dual", other, password)().status_code == 200  # a second person
    refused(hub, approval(plant, "dual", own, password), 403, "result.reviewer_is_analyst",
            "reviewer")  # fmt: skip
    statuses = {r["code"]: r["status"] for r in view(plant, sample)["results"]}
    assert (statuses[other], statuses[own]) == ("approved", "preliminary")


@pytest.mark.requirement("URS-P11-11.200a", category="failure_recovery")
def test_an_approval_whose_commit_failed_signs_nothing_and_is_signed_once_when_sent_again(
    plant: Plant, hub: Hub, sample: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = enter(plant, result_body(sample))
    with database_away_at_commit(hub, monkeypatch), pytest.raises(OperationalError):
        approval(plant, "reviewer", result, plant.passwords["reviewer"])()
    [before] = view(plant, sample)["results"]
    assert (before["status"], before["signatures"]) == ("preliminary", [])  # nothing half-signed
    again = approval(plant, "reviewer", result, plant.passwords["reviewer"])()
    assert again.status_code == 200, again.text
    [after] = view(plant, sample)["results"]
    assert after["status"] == "approved"
    assert [(s["meaning"], s["status"]) for s in after["signatures"]] == [("approved", "valid")]


@pytest.mark.requirement("URS-TX-005", category="boundary")
def test_an_invalidation_reason_of_nine_characters_is_refused_and_one_of_ten_is_taken(
    plant: Plant, hub: Hub, sample: str
) -> None:
    result = enter(plant, result_body(sample))
    assert approval(plant, "reviewer", result, plant.passwords["reviewer"])().status_code == 200

    def invalidation(reason: str) -> Callable[[], Response]:
        body = {"reason": reason, "signature": plant.signature("reviewer", "invalidated")}
        return partial(plant.call, "reviewer", "POST", f"/results/{result}/invalidation",
                       json=body)  # fmt: skip

    with same_view(plant, sample):  # MIN_REASON is 10 characters
        refused(hub, invalidation("Lab error"), 422, "input.reason_too_short", "reason")
    answer = invalidation("Lab errors")()
    assert answer.status_code == 200, answer.text
    [shown] = view(plant, sample)["results"]
    assert shown["status"] == "invalidated"
    entries = [e for e in audit_after(hub, 0) if e["action"] == "result.invalidated"]
    assert [e["reason"] for e in entries] == ["Lab errors"]


@pytest.mark.requirement("URS-A11-6", category="failure_recovery")
def test_an_entry_whose_commit_failed_is_entered_once_when_sent_again_and_needs_a_second_person(
    plant: Plant, hub: Hub, settings: Settings, sample: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = dual(plant, hub, settings)
    plant.headers("dual")  # signed in before the database goes away
    body = result_body(sample, analyst="dual")
    with database_away_at_commit(hub, monkeypatch), pytest.raises(OperationalError):
        plant.call("dual", "POST", "/results", json=body)
    assert view(plant, sample)["results"] == []  # nothing half-entered
    own = enter(plant, body, user="dual")  # the database is back: entered again
    [shown] = view(plant, sample)["results"]
    assert (shown["code"], shown["analyst"]) == (own, "dual")
    refused(hub, approval(plant, "dual", own, password), 403, "result.reviewer_is_analyst",
            "reviewer")  # fmt: skip
    assert approval(plant, "reviewer", own, plant.passwords["reviewer"])().status_code == 200


def test_signature_with_a_wrong_password_is_refused(plant: Plant, hub: Hub, sample: str) -> None:
    result = enter(plant, result_body(sample))
    with same_view(plant, sample):
        send = approval(plant, "reviewer", result, "not-the-password")
        refused(hub, send, 401, "signature.bad_credentials", "password")


@pytest.mark.requirement("URS-P11-11.200a", category="boundary")
def test_five_wrong_signature_passwords_lock_the_account(
    plant: Plant, hub: Hub, sample: str
) -> None:
    send = approval(plant, "reviewer", enter(plant, result_body(sample)), "not-the-password")
    for _ in range(4):
        refused(hub, send, 401, "signature.bad_credentials", "password")
    refused(hub, send, 401, "signature.bad_credentials", "password", ("account.locked",))
    form = {"username": "reviewer", "password": plant.passwords["reviewer"]}
    sign_in = partial(plant.client.post, "/api/v1/token", data=form)
    # Locked: the answer is a wrong password's, so that it says nothing about the account.
    refused(hub, sign_in, 401, "auth.bad_credentials", "password")


def test_expired_token_is_refused(
    plant: Plant, hub: Hub, sample: str, clock: ManualClock, settings: Settings
) -> None:
    clock.advance(minutes=settings.token_minutes - 1)
    assert plant.call("analyst", "GET", "/api/v1/me").status_code == 200
    with same_view(plant, sample):
        clock.advance(minutes=1, seconds=1)
        refused(hub, post_result(plant, result_body(sample)), 401, "auth.token_expired")


def test_missing_permission_is_refused(plant: Plant, hub: Hub, sample: str) -> None:
    send = post_result(plant, result_body(sample), user="production")
    with same_view(plant, sample):
        refused(hub, send, 403, "access.missing_permission", "enter_result")


def test_no_credentials_is_refused(plant: Plant, hub: Hub, sample: str) -> None:
    send = partial(plant.client.post, RESULTS, json=result_body(sample))
    with same_view(plant, sample):
        refused(hub, send, 401, "auth.missing")


def post_raw(plant: Plant, content: bytes | Iterator[bytes]) -> Callable[[], Response]:
    """POST /results as the analyst with a raw body, when called."""
    headers = plant.headers("analyst") | {"Content-Type": "application/json"}
    return partial(plant.client.post, RESULTS, headers=headers, content=content)


def test_body_that_is_not_json_is_refused(plant: Plant, hub: Hub, sample: str) -> None:
    broken = b'{"sample": "' + sample.encode() + b'", value: 98.5'
    with same_view(plant, sample):
        refused(hub, post_raw(plant, broken), 422, "request.not_json")


def test_body_over_the_limit_is_refused(
    plant: Plant, hub: Hub, sample: str, settings: Settings
) -> None:
    padding = "x" * settings.max_body_bytes
    too_large = json.dumps(result_body(sample, container=padding)).encode()
    with same_view(plant, sample):
        refused(hub, post_raw(plant, too_large), 413, "request.too_large", "body")


def test_streamed_body_over_the_limit_is_refused(
    plant: Plant, hub: Hub, sample: str, settings: Settings
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(settings.max_body_bytes // 1024 + 1):
            yield b"x" * 1024

    with same_view(plant, sample):
        refused(hub, post_raw(plant, chunks()), 413, "request.too_large", "body")


# A key longer than any code must be refused like any other input, not fail on storing its audit
# entry (PostgreSQL enforces the column lengths that SQLite ignores).
LONG_PATH_KEYS = {
    "site": ("analyst", f"/api/v1/sites/{'X' * 65}/results", "site"),
    "result": ("reviewer", f"{RESULTS}/S-000001-R{'9' * 250}/approval", "result"),
}


@pytest.mark.parametrize(("user", "path", "field"), LONG_PATH_KEYS.values(),
                         ids=LONG_PATH_KEYS.keys())  # fmt: skip
def test_overlong_key_in_the_path_is_refused(
    plant: Plant, hub: Hub, sample: str, user: str, path: str, field: str
) -> None:
    body = result_body(sample) if user == "analyst" else {"signature": plant.signature(user)}
    send = partial(plant.call, user, "POST", path, json=body)
    with same_view(plant, sample):
        refused(hub, send, 422, "input.string_too_long", field)


def test_overlong_user_id_at_sign_in_is_refused(plant: Plant, hub: Hub) -> None:
    form = {"username": "u" * 300, "password": "whatever-it-is"}
    sign_in = partial(plant.client.post, "/api/v1/token", data=form)
    refused(hub, sign_in, 401, "auth.bad_credentials", "password")


# A NUL character fits no record's text (PostgreSQL refuses it even to compare): found by the
# schemathesis run (tests/contract) as a 500 on PostgreSQL, in a list's filter.
NUL_KEYS = {
    "path key": ("/batches/B1%00", None, "batch"),
    "site": ("/api/v1/sites/T%001/batches", None, "site"),
    "list filter": ("/results/awaiting-review", {"batch": "B1\x00"}, "batch"),
    "audit filter": ("/api/v1/audit", {"actor": "qa\x00"}, "actor"),
}


@pytest.mark.parametrize(("path", "query", "field"), NUL_KEYS.values(), ids=NUL_KEYS.keys())
def test_nul_character_in_a_key_or_filter_is_refused(
    plant: Plant, hub: Hub, path: str, query: dict[str, str] | None, field: str
) -> None:
    send = partial(plant.call, "qa", "GET", path, params=query)
    refused(hub, send, 422, "input.nul_character", field)


def test_refused_path_with_a_nul_character_is_audited_as_sent(plant: Plant, hub: Hub) -> None:
    seq = last_audit_seq(hub)
    plant.call("qa", "GET", "/batches/B1%00")
    [entry] = audit_after(hub, seq)
    assert entry["record_id"] == f"GET /api/v1/sites/{SITE}/batches/B1%00"


def test_nul_character_in_a_body_is_refused(plant: Plant, hub: Hub, sample: str) -> None:
    send = post_result(plant, result_body(sample, value="99.1\u0000"))  # sent as "\u0000"
    with same_view(plant, sample):
        refused(hub, send, 400, "request.nul_character", "body")
    form = {"username": "qa\x00", "password": "whatever-it-is"}
    # Refused before anyone is known: counted among the client's anonymous refusals, not audited
    # one by one.
    assert_problem(plant.client.post("/api/v1/token", data=form), 400, "request.nul_character",
                   "body")  # fmt: skip


def test_escaped_backslash_before_u0000_is_text_not_a_nul(plant: Plant, hub: Hub) -> None:
    # "\\u0000" in JSON is a backslash and five characters, which a record can hold.
    body = b'{"username": "qa", "password": "x", "meaning": "\\\\u0000"}'
    check_body("application/json", body, max_depth=32)
    with pytest.raises(MalformedBody):
        check_body("application/json", body.replace(b"\\\\u", b"\\u"), max_depth=32)


# Known bugs outside the API layer, the fix named in each reason; strict, so that once it is fixed
# the test fails until its marker goes.
def test_approval_of_an_unknown_result_names_the_result(
    plant: Plant, hub: Hub, sample: str
) -> None:
    send = approval(plant, "reviewer", f"{sample}-R9", plant.passwords["reviewer"])
    with same_view(plant, sample):
        refused(hub, send, 404, "result.unknown", "result")


def test_a_person_enters_results_only_in_their_own_name(
    plant: Plant, hub: Hub, sample: str
) -> None:
    send = post_result(plant, result_body(sample, analyst="analyst2"))
    with same_view(plant, sample):
        refused(hub, send, 403, "result.analyst_is_not_caller", "analyst")
