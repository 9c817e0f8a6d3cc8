"""Source keys through the REST API and the CLI, as an administrator and a partner use them: the
partner generates a pair, the administrator registers the public half, envelopes then verify;
a revoked key verifies nothing. On SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from labgate.bootstrap import Hub
from labgate.compliance.envelope import (
    build_envelope,
    encode,
    generate_keypair,
    parse_envelope,
    verify_envelope,
)
from labgate.entrypoints.cli.keys import keys_app
from labgate.service.handlers.keys import usable_key
from plant import Plant, SeededPlant

KEYS = "/api/v1/sources/lims/keys"
JANUARY = "2026-01-01T00:00:00Z"
SENT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    """The seeded plant."""
    return seeded_plant.on(client)


def registration(kid: str = "lims-2026-1", jwk: dict[str, Any] | None = None) -> dict[str, Any]:
    """A registration body for a fresh key of the LIMS."""
    return {
        "kid": kid,
        "public_jwk": jwk or generate_keypair()[1],
        "valid_from": JANUARY,
        "reason": "CR-7: LIMS go-live",
    }


def refusal(answer: Any) -> tuple[int, str, str | None]:
    """Status, reason code and field of a problem+json answer."""
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.text
    return answer.status_code, answer.json()["reason"], answer.json()["field"]


def test_register_list_and_revoke_are_audited(plant: Plant) -> None:
    answer = plant.call("admin", "POST", KEYS, json=registration())
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"source": "lims", "kid": "lims-2026-1"}
    [listed] = plant.call("auditor", "GET", KEYS).json()
    assert (listed["kid"], listed["in_force"], listed["registered_by"]) == (
        "lims-2026-1",
        True,
        "admin",
    )
    revoke = plant.call(
        "admin", "POST", f"{KEYS}/lims-2026-1/revocation", json={"reason": "key leaked"}
    )
    assert revoke.status_code == 200, revoke.text
    [listed] = plant.call("lims", "GET", KEYS).json()
    assert (listed["in_force"], listed["revoked_by"], listed["revoke_reason"]) == (
        False,
        "admin",
        "key leaked",
    )
    trail = plant.call(
        "auditor", "GET", "/api/v1/audit", params={"record_type": "source_key"}
    ).json()["items"]
    assert [(e["action"], e["record_id"], e["actor"]) for e in trail] == [
        ("source_key.registered", "lims/lims-2026-1", "admin"),
        ("source_key.revoked", "lims/lims-2026-1", "admin"),
    ]


def test_rotation_keeps_two_keys_in_force(plant: Plant) -> None:
    for kid in ("lims-2026-1", "lims-2026-2"):
        assert plant.call("admin", "POST", KEYS, json=registration(kid)).status_code == 201
    listed = plant.call("auditor", "GET", KEYS).json()
    assert [(k["kid"], k["in_force"]) for k in listed] == [
        ("lims-2026-1", True),
        ("lims-2026-2", True),
    ]


def test_refusals_carry_their_reason_codes(plant: Plant) -> None:
    private, _ = generate_keypair()
    first = registration()
    assert plant.call("admin", "POST", KEYS, json=first).status_code == 201
    cases = {
        "private key": (KEYS, registration("k2", private), (422, "key.private_material")),
        "duplicate": (KEYS, first, (409, "key.duplicate")),
        "unknown source": (
            "/api/v1/sources/nobody/keys",
            registration("k3"),
            (404, "source.unknown"),
        ),
        "unknown member": (KEYS, registration("k4") | {"x5c": []}, (422, "input.extra_forbidden")),
        "naive time": (
            KEYS,
            registration("k5") | {"valid_from": "2026-01-01T00:00:00"},
            (422, "input.timezone_aware"),
        ),
    }
    got = {
        name: refusal(plant.call("admin", "POST", path, json=body))[:2]
        for name, (path, body, _) in cases.items()
    }
    assert got == {name: expected for name, (_, _, expected) in cases.items()}
    revoke = f"{KEYS}/lims-2026-1/revocation"
    assert plant.call("admin", "POST", revoke, json={"reason": "key leaked"}).status_code == 200
    again = plant.call("admin", "POST", revoke, json={"reason": "key leaked"})
    assert refusal(again) == (409, "key.already_revoked", "kid")


def test_only_key_managers_write_and_only_readers_list(plant: Plant) -> None:
    answer = plant.call("analyst", "POST", KEYS, json=registration())
    assert refusal(answer) == (403, "access.missing_permission", "manage_keys")
    answer = plant.call(
        "lims", "POST", f"{KEYS}/lims-2026-1/revocation", json={"reason": "key leaked"}
    )
    assert refusal(answer) == (403, "access.missing_permission", "manage_keys")
    assert plant.call("lims", "GET", KEYS).status_code == 200
    assert refusal(plant.client.get(KEYS))[:2] == (401, "auth.missing")


def test_a_partner_key_from_the_cli_verifies_envelopes_once_registered(
    plant: Plant, hub: Hub, tmp_path: Path
) -> None:
    runner = CliRunner()
    made = runner.invoke(keys_app, ["generate", "--kid", "lims-2026-1", "--out", str(tmp_path)])
    assert made.exit_code == 0, made.output
    private_file = tmp_path / "lims-2026-1.private.jwk.json"
    assert stat.S_IMODE(private_file.stat().st_mode) == 0o600
    public = json.loads((tmp_path / "lims-2026-1.public.jwk.json").read_text())
    assert json.loads(made.stdout) == public and "d" not in public
    again = runner.invoke(keys_app, ["generate", "--kid", "lims-2026-1", "--out", str(tmp_path)])
    assert again.exit_code == 1 and "never overwritten" in again.stderr
    bad = runner.invoke(keys_app, ["generate", "--kid", "../x", "--out", str(tmp_path)])
    assert bad.exit_code == 2

    body = registration(jwk=public)
    assert plant.call("admin", "POST", KEYS, json=body).status_code == 201
    document = build_envelope(
        "labgate.result.v1",
        "T1",
        "lims",
        "results",
        1,
        {"sample": "S-000001", "value": "99.4"},
        kid="lims-2026-1",
        private_jwk=json.loads(private_file.read_text()),
        sent_at=SENT,
    )
    envelope = parse_envelope(encode(document))
    with hub.uow_factory() as uow:
        key = usable_key(uow, "lims", envelope.kid)
        verify_envelope(envelope, key)
