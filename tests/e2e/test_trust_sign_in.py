"""What a caller can do without signing in: refusals counted per client and summarised in the
trail, 429 past the rate, lockouts that end by themselves with an alert, sign-in answers that say
nothing about the account, and tokens that live as long as the server says. SQLite, PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from httpx2 import Response
from joserfc import jwt
from joserfc.jwk import OctKey
from sqlalchemy import func, select

from fakes import ManualClock
from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from labgate.compliance import passwords
from labgate.compliance.access import SIGN_IN_FAILED
from labgate.config import Settings
from labgate.entrypoints.app import create_app
from plant import Plant, SeededPlant

TOKEN = "/api/v1/token"


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def audit_after(hub: Hub, seq: int) -> list[dict[str, Any]]:
    entries = t.audit_entries
    with hub.engine.connect() as db:
        query = select(entries).where(entries.c.seq > seq).order_by(entries.c.seq)
        return [dict(row) for row in db.execute(query).mappings()]


def last_seq(hub: Hub) -> int:
    with hub.engine.connect() as db:
        return db.scalar(select(func.max(t.audit_entries.c.seq))) or 0


def sign_in(client: TestClient, username: str, password: str) -> Response:
    return client.post(TOKEN, data={"username": username, "password": password})


def test_a_thousand_anonymous_refusals_leave_a_handful_of_entries(
    hub: Hub, client: TestClient, clock: ManualClock, settings: Settings
) -> None:
    seq, limit = last_seq(hub), settings.anonymous_refusals_per_minute
    codes = [client.get("/api/v1/me").status_code for _ in range(1000)]
    assert codes == [401] * limit + [429] * (1000 - limit)
    throttled = client.get("/api/v1/me")
    assert throttled.json()["reason"] == "rate.limited"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    # Another client is not held back by this one.
    with TestClient(create_app(settings, hub), client=("192.0.2.7", 4000)) as other:
        assert other.get("/api/v1/me").json()["reason"] == "auth.missing"
    clock.advance(seconds=61)  # the minute is over: its summary is written on the next refusal
    assert client.get("/api/v1/me").status_code == 401
    new = audit_after(hub, seq)
    assert len(new) <= 5
    summary = next(e for e in new if e["record_id"] == "testclient" and "summary" in e["action"])
    assert summary["after"]["refused"] == 1001
    assert summary["after"]["audited_singly"] == 1
    assert summary["after"]["by_reason"] == {"auth.missing": 1001}
    assert summary["actor_kind"] == "unauthenticated"
    singly = [e for e in new if e["action"] == "refused.me"]
    assert len(singly) == 3  # the first of each minute from each client, in full


def summaries(hub: Hub, seq: int, client: str) -> list[dict[str, Any]]:
    return [
        e["after"]
        for e in audit_after(hub, seq)
        if e["action"] == "refused.unauthenticated_summary" and e["record_id"] == client
    ]


def test_a_burst_that_stopped_is_summarised_when_another_client_is_refused(
    hub: Hub, client: TestClient, clock: ManualClock, settings: Settings
) -> None:
    seq = last_seq(hub)
    for _ in range(5):
        client.get("/api/v1/me", headers={"X-API-Key": "lgk_guess"})
    clock.advance(seconds=61)
    with TestClient(create_app(settings, hub), client=("192.0.2.8", 4000)) as other:
        other.get("/api/v1/me")
    [summary] = summaries(hub, seq, "testclient")
    assert (summary["refused"], summary["audited_singly"]) == (5, 1)
    assert summary["by_reason"] == {"auth.bad_api_key": 5}


def test_refusals_of_one_client_at_once_are_each_counted(
    hub: Hub, client: TestClient, clock: ManualClock
) -> None:
    seq = last_seq(hub)
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: client.get("/api/v1/me").status_code, range(24)))
    assert codes == [401] * 24
    clock.advance(seconds=61)
    client.get("/api/v1/me")
    [summary] = summaries(hub, seq, "testclient")
    assert (summary["refused"], summary["audited_singly"]) == (24, 1)


def test_five_wrong_guesses_lock_for_the_configured_period_with_an_alert(
    plant: Plant, hub: Hub, clock: ManualClock, settings: Settings
) -> None:
    seq = last_seq(hub)
    answers = [sign_in(plant.client, "analyst", "not-the-password") for _ in range(5)]
    assert {(a.status_code, a.json()["detail"]) for a in answers} == {(401, SIGN_IN_FAILED)}
    locked = sign_in(plant.client, "analyst", plant.passwords["analyst"])
    assert (locked.status_code, locked.json()["detail"]) == (401, SIGN_IN_FAILED)
    actions = [e["action"] for e in audit_after(hub, seq)]
    assert actions == ["refused.sign_in"] * 5 + ["account.locked", "refused.sign_in"]
    alerts = plant.call("admin", "GET", "/api/v1/notifications").json()
    assert [(a["kind"], a["record_id"]) for a in alerts] == [("account.locked", "analyst")]
    clock.advance(minutes=settings.lockout_minutes - 1)
    assert sign_in(plant.client, "analyst", plant.passwords["analyst"]).status_code == 401
    clock.advance(minutes=1)
    assert sign_in(plant.client, "analyst", plant.passwords["analyst"]).status_code == 200
    assert [e["action"] for e in audit_after(hub, seq)][-2:] == [
        "account.lock_ended",
        "auth.signed_in",
    ]


class CountingHasher(PasswordHasher):
    """The tests' hasher, recording the cost of each hash it verifies."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified.append(str(hash).rsplit("$", 2)[0])  # $argon2id$v=19$m=…,t=…,p=…
        return super().verify(hash, password)


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingHasher]:
    counting = CountingHasher()
    monkeypatch.setattr(passwords, "_hasher", counting)
    yield counting


def test_unknown_known_locked_and_system_ids_answer_alike(
    plant: Plant, hub: Hub, hasher: CountingHasher
) -> None:
    for _ in range(5):
        sign_in(plant.client, "reviewer", "not-the-password")  # locks the reviewer
    cases = {
        "unknown id": ("nobody-here", "whatever-it-is"),
        "wrong password": ("analyst", "not-the-password"),
        "locked account": ("reviewer", plant.passwords["reviewer"]),
        "system account": ("mes", plant.api_keys["mes"]),
    }
    answers = {}
    for case, (username, password) in cases.items():
        hasher.verified.clear()
        answer = sign_in(plant.client, username, password)
        body = answer.json()
        answers[case] = (answer.status_code, body["reason"], body["field"], body["detail"])
        # The same work for each: one verification of a hash at the same cost.
        assert len(hasher.verified) == 1, case
        assert hasher.verified[0] == hasher.hash("x").rsplit("$", 2)[0], case
    assert set(answers.values()) == {(401, "auth.bad_credentials", "password", SIGN_IN_FAILED)}


def test_sign_in_is_throttled_per_client_before_any_password_is_tried(
    plant: Plant, hub: Hub, settings: Settings, hasher: CountingHasher
) -> None:
    for n in range(settings.anonymous_refusals_per_minute):
        sign_in(plant.client, f"guess-{n}", "not-the-password")
    hasher.verified.clear()
    answer = sign_in(plant.client, "analyst", plant.passwords["analyst"])
    assert (answer.status_code, answer.json()["reason"]) == (429, "rate.limited")
    assert int(answer.headers["Retry-After"]) >= 1
    assert hasher.verified == []
    with TestClient(create_app(settings, hub), client=("198.51.100.9", 4000)) as other:
        assert sign_in(other, "analyst", plant.passwords["analyst"]).status_code == 200


def forged(settings: Settings, clock: ManualClock, username: str, years: int = 10) -> str:
    """A token signed with the server's secret, as a leaked secret or a demo token allows."""
    now = clock.now()
    claims = {
        "sub": username,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(days=365 * years)).timestamp()),
    }
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(settings.signing_secret()))


def test_a_ten_year_token_ends_with_the_servers_lifetime(
    plant: Plant, clock: ManualClock, settings: Settings
) -> None:
    headers = {"Authorization": f"Bearer {forged(settings, clock, 'analyst')}"}
    assert plant.client.get("/api/v1/me", headers=headers).status_code == 200
    clock.advance(minutes=settings.token_minutes)
    answer = plant.client.get("/api/v1/me", headers=headers)
    assert (answer.status_code, answer.json()["reason"]) == (401, "auth.token_expired")


def test_a_system_account_has_no_token(
    plant: Plant, clock: ManualClock, settings: Settings
) -> None:
    answer = sign_in(plant.client, "mes", plant.api_keys["mes"])
    assert (answer.status_code, answer.json()["reason"]) == (401, "auth.bad_credentials")
    headers = {"Authorization": f"Bearer {forged(settings, clock, 'mes')}"}
    answer = plant.client.get("/api/v1/me", headers=headers)
    assert (answer.status_code, answer.json()["reason"]) == (401, "auth.token_invalid")
    assert plant.call("mes", "GET", "/api/v1/me").json()["username"] == "mes"  # its API key


def test_a_token_without_iat_is_refused(plant: Plant, settings: Settings) -> None:
    claims = {"sub": "analyst", "exp": 4_102_444_800}
    token = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(settings.signing_secret()))
    answer = plant.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert (answer.status_code, answer.json()["reason"]) == (401, "auth.token_invalid")


def test_an_unlock_by_an_administrator_ends_the_lock_at_once(plant: Plant) -> None:
    for _ in range(5):
        sign_in(plant.client, "analyst", "not-the-password")
    body = {"reason": "identity confirmed by phone " + secrets.token_hex(2)}
    assert plant.call("admin", "POST", "/api/v1/accounts/analyst/unlock", json=body).is_success
    assert sign_in(plant.client, "analyst", plant.passwords["analyst"]).status_code == 200
