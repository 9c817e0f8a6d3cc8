"""The console's account administration over HTTP on both databases: the list GET
/api/v1/accounts gives, and each change made on the page (roles, deactivate, reactivate,
unlock, a temporary password, a new API key, a new account) seen in what the API answers
afterwards; refusals with their reason codes; a password or key shown once only."""

from __future__ import annotations

import re
from typing import Any

from test_console import csrf_of, sign_in, trail
from test_console_audit import Shared, shared

from plant import SITE, Plant

__all__ = ["shared"]  # the module's one seeded plant per database
ACCOUNTS = f"/console/sites/{SITE}/accounts"


def listed(plant: Plant) -> dict[str, dict[str, Any]]:
    answer = plant.call("admin", "GET", "/api/v1/accounts")
    assert answer.status_code == 200, answer.text
    return {a["username"]: a for a in answer.json()}


def post(plant: Plant, path: str, **data: Any) -> Any:
    """A form of the account's page, posted as the browser does (its CSRF token with it)."""
    token = csrf_of(plant.client.get(ACCOUNTS).text)
    return plant.client.post(f"{ACCOUNTS}{path}", data={"csrf_token": token, **data},
                             follow_redirects=False)  # fmt: skip


def secret_on(html: str) -> str | None:
    found = re.search(r"<code data-secret>([^<]+)</code>", html)
    return found.group(1) if found else None


def test_the_list_is_the_apis_and_only_an_administrator_sees_it(shared: Shared) -> None:
    plant = shared.plant
    sign_in(plant.client, "auditor", plant.passwords["auditor"])
    assert plant.client.get(ACCOUNTS).status_code == 403
    sign_in(plant.client, "admin", plant.passwords["admin"])
    page = plant.client.get(ACCOUNTS)
    assert page.status_code == 200, page.text
    api = listed(plant)
    assert re.findall(r'<tr data-account="([^"]+)"', page.text) == list(api)
    for name, account in api.items():
        row = re.search(rf'<tr data-account="{name}">(.*?)</tr>', page.text, re.S)
        assert row, name
        assert f'data-roles="{" ".join(account["roles"])}"' in row.group(1)
        assert f'data-active="{str(account["active"]).lower()}"' in row.group(1)
        assert f'data-locked="{str(account["locked"]).lower()}"' in row.group(1)
    admin = re.search(r'<tr data-account="admin">(.*?)</tr>', page.text, re.S)
    assert admin and "+01:00</time>" in admin.group(1)  # signed in just now, at Zurich time


def test_changes_on_the_page_are_what_the_api_answers_afterwards(shared: Shared) -> None:
    plant, hub = shared.plant, shared.hub
    sign_in(plant.client, "admin", plant.passwords["admin"])
    done = post(plant, "/analyst2/roles", roles=["qc_reviewer"], reason="CR-30: now reviews")
    assert done.status_code == 303, done.text
    assert listed(plant)["analyst2"]["roles"] == ["qc_reviewer"]
    for action, active in (("deactivate", False), ("reactivate", True)):
        done = post(plant, "/analyst2/state", action=action, reason=f"CR-31: {action}")
        assert done.status_code == 303, done.text
        assert listed(plant)["analyst2"]["active"] is active
    for _ in range(5):  # five wrong passwords lock the account
        plant.client.post("/api/v1/token", data={"username": "production", "password": "nope"})
    assert listed(plant)["production"]["locked"] is True
    done = post(plant, "/production/state", action="unlock", reason="CR-32: called the desk")
    assert done.status_code == 303 and listed(plant)["production"]["locked"] is False
    # The handlers' rules, shown with their codes (and audited by the bus).
    refused = post(plant, "/analyst2/state", action="deactivate", reason="")
    assert refused.status_code == 422 and 'data-reason="input.reason_required"' in refused.text
    last = post(plant, "/admin/roles", roles=["qa"], reason="CR-33: leaving administration")
    assert last.status_code == 409 and 'data-reason="account.last_admin"' in last.text
    assert listed(plant)["admin"]["roles"] == ["integration_admin"]
    assert trail(hub, "refused.set_roles")[-1]["actor"] == "admin"  # audited by the bus
    refusal = trail(hub, "refused.change_account_state")[-1]["after"]
    assert refusal["reason_code"] == "input.reason_required"


def test_a_password_or_key_the_server_draws_is_shown_once_and_works(shared: Shared) -> None:
    plant = shared.plant
    sign_in(plant.client, "admin", plant.passwords["admin"])
    reset = post(plant, "/analyst/password", reason="CR-40: forgot it")
    temporary = secret_on(reset.text)
    assert reset.status_code == 200 and temporary
    token = plant.client.post("/api/v1/token", data={"username": "analyst", "password": temporary})
    assert token.status_code == 200 and token.json()["password_change_required"] is True
    again = plant.client.get(f"{ACCOUNTS}/analyst").text
    assert secret_on(again) is None and temporary not in again
    old_key = plant.api_keys["mes"]
    issued = post(plant, "/mes/api-key", reason="CR-41: rotated")
    key = secret_on(issued.text)
    assert issued.status_code == 200 and key
    assert plant.client.get("/api/v1/me", headers={"X-API-Key": key}).status_code == 200
    assert plant.client.get("/api/v1/me", headers={"X-API-Key": old_key}).status_code == 401
    plant.api_keys["mes"] = key  # the other tests of this module speak as the MES with it
    assert key not in plant.client.get(f"{ACCOUNTS}/mes").text
    person = post(plant, "", username="newbie", printed_name="New Person", kind="person",
                  roles=["qc_analyst"])  # fmt: skip
    system = post(plant, "", username="erp", printed_name="ERP", kind="system",
                  roles=["mes_system"])  # fmt: skip
    assert person.status_code == 200 and secret_on(person.text)
    erp_key = secret_on(system.text)
    assert system.status_code == 200 and erp_key
    api = listed(plant)
    assert (api["newbie"]["kind"], api["newbie"]["roles"]) == ("person", ["qc_analyst"])
    assert api["newbie"]["password_change_required"] is True
    assert (api["erp"]["kind"], api["erp"]["roles"]) == ("system", ["mes_system"])
    assert plant.client.get("/api/v1/me", headers={"X-API-Key": erp_key}).status_code == 200
    wrong = post(plant, "/newbie/api-key", reason="CR-42: a key for a person?")
    assert wrong.status_code == 422, wrong.text
    assert re.findall(r"data-reason=\"([^\"]+)\"", wrong.text) == ["account.not_a_system"]


def test_the_api_issues_a_new_key_through_the_same_command(shared: Shared) -> None:
    plant, hub = shared.plant, shared.hub
    old_key = plant.api_keys["lims"]
    body = {"reason": "CR-43: rotated by the API"}
    answer = plant.call("admin", "POST", "/api/v1/accounts/lims/api-key", json=body)
    assert answer.status_code == 200, answer.text
    key = answer.json()["api_key"]
    assert answer.json() == {"username": "lims", "api_key": key} and key.startswith("lgk_")
    assert plant.client.get("/api/v1/me", headers={"X-API-Key": key}).status_code == 200
    assert plant.client.get("/api/v1/me", headers={"X-API-Key": old_key}).status_code == 401
    plant.api_keys["lims"] = key
    issued = trail(hub, "account.api_key_issued")
    assert issued[-1]["record_id"] == "lims" and issued[-1]["reason"] == body["reason"]
    assert key not in str(issued[-1])  # the trail holds neither the key nor its hash
    person = plant.call("admin", "POST", "/api/v1/accounts/qa/api-key", json=body)
    assert (person.status_code, person.json()["reason"]) == (422, "account.not_a_system")
