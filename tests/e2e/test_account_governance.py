"""Account administration through the API cannot get around segregation of duties: the role
policy on create and on every role change, temporary passwords changed before anything else, the
last administrator kept, reactivation audited, and reasons that say why. SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy.exc import OperationalError

from faults import database_away_at_commit
from labgate.bootstrap import Hub
from plant import Plant, SeededPlant

ACCOUNTS = "/api/v1/accounts"
WHY = "ticket IAM-1234: access review"


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def refusal(answer: Response) -> tuple[int, str, str | None]:
    body = answer.json()
    return answer.status_code, body["reason"], body.get("field")


def trail(plant: Plant, username: str) -> list[dict[str, Any]]:
    params = {"record_type": "account", "record_id": username}
    items: list[dict[str, Any]] = plant.call(
        "auditor", "GET", "/api/v1/audit", params=params
    ).json()["items"]
    return items


def accounts(plant: Plant) -> dict[str, dict[str, Any]]:
    return {a["username"]: a for a in plant.call("admin", "GET", ACCOUNTS).json()}


def new_person(roles: list[str], username: str = "newbie") -> dict[str, Any]:
    return {"username": username, "printed_name": "New Person", "roles": roles,
            "password": secrets.token_urlsafe(16)}  # fmt: skip


def sign_in(plant: Plant, username: str, password: str) -> Response:
    return plant.client.post("/api/v1/token", data={"username": username, "password": password})


@pytest.mark.parametrize(
    "roles",
    [["integration_admin", "qa"], ["integration_admin", "qc_reviewer"],
     ["qc_analyst", "qc_reviewer"]],
)  # fmt: skip
def test_an_account_with_conflicting_roles_is_not_created(plant: Plant, roles: list[str]) -> None:
    answer = plant.call("admin", "POST", ACCOUNTS, json=new_person(roles))
    assert refusal(answer) == (403, "access.role_conflict", "roles")
    assert all(role in answer.json()["detail"] for role in roles)  # names the pair
    assert "newbie" not in accounts(plant)
    assert [e["action"] for e in trail(plant, "newbie")] == ["refused.create_account"]


@pytest.mark.requirement("URS-P11-11.10i", "URS-A11-12.1-12.3", "URS-A11-12.4", category="negative")
def test_a_role_change_that_conflicts_is_refused_and_a_fitting_one_is_audited(
    plant: Plant,
) -> None:
    path = f"{ACCOUNTS}/analyst/roles"
    body = {"roles": ["qc_analyst", "qc_reviewer"], "reason": WHY}
    assert refusal(plant.call("admin", "PUT", path, json=body)) == (
        403,
        "access.role_conflict",
        "roles",
    )
    admin_too = {"roles": ["qa", "integration_admin"], "reason": WHY}
    refused = plant.call("admin", "PUT", f"{ACCOUNTS}/qa/roles", json=admin_too)
    assert refusal(refused) == (403, "access.role_conflict", "roles")
    none = plant.call("admin", "PUT", path, json={"roles": [], "reason": WHY})
    assert refusal(none) == (422, "account.no_role", "roles")
    assert accounts(plant)["analyst"]["roles"] == ["qc_analyst"]
    assert accounts(plant)["qa"]["roles"] == ["qa"]
    moved = plant.call("admin", "PUT", path, json={"roles": ["qc_reviewer"], "reason": WHY})
    assert moved.status_code == 200, moved.text
    assert moved.json()["roles"] == ["qc_reviewer"]
    entries = trail(plant, "analyst")
    expected = ["account.created", "account.password_changed", "refused.set_roles",
                "refused.set_roles", "account.roles_changed"]  # fmt: skip
    assert [e["action"] for e in entries] == expected
    changed = entries[-1]
    assert (changed["actor"], changed["reason"]) == ("admin", WHY)
    assert changed["before"] == {"roles": ["qc_analyst"]}
    assert changed["after"] == {"roles": ["qc_reviewer"]}


@pytest.mark.requirement("URS-P11-11.10i")
def test_an_administrator_assigns_a_role_and_the_trail_records_who_why_and_what(
    plant: Plant,
) -> None:
    path = f"{ACCOUNTS}/analyst/roles"
    moved = plant.call("admin", "PUT", path, json={"roles": ["qc_reviewer"], "reason": WHY})
    assert moved.status_code == 200, moved.text
    assert accounts(plant)["analyst"]["roles"] == ["qc_reviewer"]
    changed = trail(plant, "analyst")[-1]
    assert (changed["action"], changed["actor"], changed["reason"]) == (
        "account.roles_changed", "admin", WHY,
    )  # fmt: skip
    assert (changed["before"], changed["after"]) == (
        {"roles": ["qc_analyst"]}, {"roles": ["qc_reviewer"]},
    )  # fmt: skip


@pytest.mark.requirement("URS-P11-11.10i", "URS-A11-12.1-12.3", category="failure_recovery")
def test_a_role_change_whose_commit_failed_changes_nothing_and_is_recorded_once_when_sent_again(
    plant: Plant, hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, body = f"{ACCOUNTS}/analyst/roles", {"roles": ["qc_reviewer"], "reason": WHY}
    plant.headers("admin")  # signed in before the database goes away
    with database_away_at_commit(hub, monkeypatch), pytest.raises(OperationalError):
        plant.call("admin", "PUT", path, json=body)
    assert accounts(plant)["analyst"]["roles"] == ["qc_analyst"]
    assert "account.roles_changed" not in [e["action"] for e in trail(plant, "analyst")]
    again = plant.call("admin", "PUT", path, json=body)  # the database is back
    assert again.status_code == 200, again.text
    assert accounts(plant)["analyst"]["roles"] == ["qc_reviewer"]
    changes = [e for e in trail(plant, "analyst") if e["action"] == "account.roles_changed"]
    assert [(e["before"], e["after"]) for e in changes] == [
        ({"roles": ["qc_analyst"]}, {"roles": ["qc_reviewer"]})
    ]


@pytest.mark.requirement("URS-P11-11.10g", category="failure_recovery")
def test_authority_stays_as_stored_when_a_role_change_fails_and_follows_it_once_sent_again(
    plant: Plant, hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server checks each request against the roles the store holds: a move from analyst
    to auditor whose commit failed grants and removes nothing; sent again, the very next
    requests are judged by the new roles (no authority lingers in a cache)."""
    path, body = f"{ACCOUNTS}/analyst/roles", {"roles": ["auditor"], "reason": WHY}
    plant.headers("admin")
    plant.headers("analyst")  # the analyst's session spans the failure and the change

    def authority() -> tuple[int, int]:
        read_trail = plant.call("analyst", "GET", "/api/v1/audit").status_code
        enter_result = plant.call("analyst", "POST", "/results", json={}).status_code
        return read_trail, enter_result

    assert authority() == (403, 422)  # may enter a result (this one is empty: refused as such)
    with database_away_at_commit(hub, monkeypatch), pytest.raises(OperationalError):
        plant.call("admin", "PUT", path, json=body)
    assert authority() == (403, 422)  # nothing granted, nothing removed
    again = plant.call("admin", "PUT", path, json=body)
    assert again.status_code == 200, again.text
    assert authority() == (200, 403)  # reads the trail now; no longer enters results
    refused = plant.call("analyst", "POST", "/results", json={})
    assert refusal(refused) == (403, "access.missing_permission", "enter_result")


def test_only_administrators_change_roles_and_set_passwords(plant: Plant) -> None:
    roles = {"roles": ["qa"], "reason": WHY}
    password = {"password": secrets.token_urlsafe(16), "reason": WHY}
    for user in ("qa", "analyst", "auditor", "mes"):
        assert refusal(plant.call(user, "PUT", f"{ACCOUNTS}/analyst/roles", json=roles)) == (
            403,
            "access.missing_permission",
            "manage_users",
        )
        answer = plant.call(user, "PUT", f"{ACCOUNTS}/analyst/password", json=password)
        assert refusal(answer) == (403, "access.missing_permission", "manage_users")


@pytest.mark.requirement("URS-P11-11.300a-e", category="negative")
def test_a_password_an_administrator_sets_must_be_changed_before_anything_else(
    plant: Plant,
) -> None:
    temporary = secrets.token_urlsafe(16)
    body = {"password": temporary, "reason": "INC-77: QA person forgot the password"}
    answer = plant.call("admin", "PUT", f"{ACCOUNTS}/qa/password", json=body)
    assert answer.status_code == 200, answer.text
    assert accounts(plant)["qa"]["password_change_required"] is True
    assert sign_in(plant, "qa", plant.passwords["qa"]).status_code == 401  # the old one is gone

    signed_in = sign_in(plant, "qa", temporary)
    assert signed_in.status_code == 200
    assert signed_in.json()["password_change_required"] is True
    bearer = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    me = plant.client.get("/api/v1/me", headers=bearer)
    assert me.json()["password_change_required"] is True
    # Nothing else: not reading, not signing a release with the password the admin knows.
    batch = plant.client.get("/api/v1/sites/T1/batches/B1", headers=bearer)
    assert refusal(batch) == (403, "auth.password_change_required", "password")
    release = {"signature": {"username": "qa", "password": temporary, "meaning": "released"}}
    signed = plant.client.post("/api/v1/sites/T1/batches/B1/release", json=release, headers=bearer)
    assert refusal(signed) == (403, "auth.password_change_required", "password")

    change = "/api/v1/me/password"
    wrong = {"current_password": "not-the-password", "new_password": secrets.token_urlsafe(16)}
    assert refusal(plant.client.post(change, json=wrong, headers=bearer)) == (
        401,
        "auth.bad_credentials",
        "password",
    )
    same = {"current_password": temporary, "new_password": temporary}
    assert refusal(plant.client.post(change, json=same, headers=bearer)) == (
        422,
        "account.password_reused",
        "new_password",
    )
    own = secrets.token_urlsafe(16)
    done = plant.client.post(change, json={"current_password": temporary, "new_password": own},
                             headers=bearer)  # fmt: skip
    assert done.status_code == 200, done.text
    assert plant.client.get("/api/v1/sites/T1/batches/B1", headers=bearer).status_code == 200
    assert sign_in(plant, "qa", temporary).status_code == 401
    assert sign_in(plant, "qa", own).json()["password_change_required"] is False

    entries = trail(plant, "qa")
    set_entry = next(e for e in entries if e["action"] == "account.password_set")
    assert (set_entry["actor"], set_entry["reason"]) == ("admin", body["reason"])
    assert temporary not in str(entries) and own not in str(entries)
    changed = [e for e in entries if e["action"] == "account.password_changed"][-1]
    assert (changed["actor"], changed["actor_kind"]) == ("qa", "person")
    assert entries.index(changed) > entries.index(set_entry)


def test_an_account_created_by_an_administrator_starts_with_a_temporary_password(
    plant: Plant,
) -> None:
    person = new_person(["production"])
    assert plant.call("admin", "POST", ACCOUNTS, json=person).status_code == 201
    token = sign_in(plant, "newbie", person["password"]).json()
    assert token["password_change_required"] is True
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    answer = plant.client.get("/api/v1/sites/T1/batches/B1", headers=bearer)
    assert refusal(answer) == (403, "auth.password_change_required", "password")


def test_a_system_account_has_no_password_to_set(plant: Plant) -> None:
    body = {"password": secrets.token_urlsafe(16), "reason": WHY}
    answer = plant.call("admin", "PUT", f"{ACCOUNTS}/mes/password", json=body)
    assert refusal(answer) == (422, "account.not_a_person", "username")


@pytest.mark.requirement("URS-P11-11.10i", "URS-A11-12.1-12.3", category="boundary")
def test_the_last_administrator_is_neither_deactivated_nor_stripped_of_the_role(
    plant: Plant,
) -> None:
    deactivate = plant.call("admin", "POST", f"{ACCOUNTS}/admin/deactivate", json={"reason": WHY})
    assert refusal(deactivate) == (409, "account.last_admin", "username")
    strip = {"roles": ["auditor"], "reason": WHY}
    assert refusal(plant.call("admin", "PUT", f"{ACCOUNTS}/admin/roles", json=strip)) == (
        409,
        "account.last_admin",
        "username",
    )
    assert accounts(plant)["admin"]["active"] is True
    assert accounts(plant)["admin"]["roles"] == ["integration_admin"]
    actions = [e["action"] for e in trail(plant, "admin")]
    assert actions[-2:] == ["refused.change_account_state", "refused.set_roles"]

    second = new_person(["integration_admin"], "admin2")
    assert plant.call("admin", "POST", ACCOUNTS, json=second).status_code == 201
    answer = plant.call("admin", "POST", f"{ACCOUNTS}/admin/deactivate", json={"reason": WHY})
    assert answer.status_code == 200, answer.text
    assert sign_in(plant, "admin", plant.passwords["admin"]).status_code == 401


@pytest.mark.requirement("URS-A11-12.1-12.3", "URS-P11-11.100a-c")
def test_a_deactivated_account_is_reactivated_with_a_reason_and_audited(plant: Plant) -> None:
    off = plant.call("admin", "POST", f"{ACCOUNTS}/analyst/deactivate", json={"reason": WHY})
    assert off.status_code == 200, off.text
    assert sign_in(plant, "analyst", plant.passwords["analyst"]).status_code == 401
    why = "returned from parental leave"
    on = plant.call("admin", "POST", f"{ACCOUNTS}/analyst/reactivate", json={"reason": why})
    assert on.status_code == 200, on.text
    assert sign_in(plant, "analyst", plant.passwords["analyst"]).status_code == 200
    entry = trail(plant, "analyst")[-2]  # the sign-in after it is audited too
    assert (entry["action"], entry["actor"], entry["reason"]) == (
        "account.reactivated",
        "admin",
        why,
    )
    assert (entry["before"]["active"], entry["after"]["active"]) == (False, True)


@pytest.mark.parametrize("reason", ["0", "x", "----------", "1234567890", "   ok    "])
def test_a_change_of_access_needs_a_reason_that_says_why(plant: Plant, reason: str) -> None:
    answer = plant.call("admin", "POST", f"{ACCOUNTS}/analyst/deactivate", json={"reason": reason})
    assert refusal(answer) == (422, "input.reason_too_short", "reason")
    assert "reason" in answer.json()["detail"]
    assert accounts(plant)["analyst"]["active"] is True
    roles = {"roles": ["qc_reviewer"], "reason": reason}
    answer = plant.call("admin", "PUT", f"{ACCOUNTS}/analyst/roles", json=roles)
    assert refusal(answer) == (422, "input.reason_too_short", "reason")
    assert [e["action"] for e in trail(plant, "analyst")][-2:] == [
        "refused.change_account_state",
        "refused.set_roles",
    ]
