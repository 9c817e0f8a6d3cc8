"""A small test plant, its people, and an API driver that speaks as each of them."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from httpx2 import Response

from labgate.bootstrap import Hub
from labgate.domain import commands as c
from labgate.domain.account_commands import ChangePassword
from labgate.domain.interface_commands import MapIdentity

SITE = "T1"
ELEMENTS = [
    {"path": "PROC1", "level": "procedure", "name": "Tablet manufacture"},
    {"path": "PROC1/UP1", "level": "unit_procedure", "name": "Compression"},
    {"path": "PROC1/UP1/OP1", "level": "operation", "name": "Compress"},
    {"path": "PROC1/UP1/OP1/PH1", "level": "phase", "name": "Sample tablets"},
]
PLANT: dict[str, Any] = {
    "site": {"code": SITE, "name": "Test plant"},
    "units": [
        {
            "code": "%",
            "expression": "percent",
            "precision": 1,
            "kind": "mass fraction",
            "name": "percent",
        },
        {
            "code": "mg/g",
            "expression": "mg/g",
            "precision": 1,
            "kind": "mass fraction",
            "name": "milligram per gram",
        },
        {"code": "g", "expression": "g", "precision": 3, "kind": "mass", "name": "gram"},
        {"code": "pH", "expression": "dimensionless", "precision": 2, "kind": "pH", "name": "pH"},
    ],
    "methods": [
        {
            "code": "M-ASSAY",
            "versions": [
                {"version": "1", "rounding_rule": "usp"},
                {"version": "2", "rounding_rule": "usp"},
            ],
        },
        {"code": "M-KF", "versions": [{"version": "1", "rounding_rule": "astm-e29"}]},
        {"code": "M-VIS", "versions": [{"version": "1", "rounding_rule": "absolute"}]},
    ],
    "tests": [
        {
            "code": "ASSAY",
            "name": "Assay",
            "unit": "%",
            "method": "M-ASSAY",
            "method_version": "1",
            "value_kind": "numeric",
        },
        {
            "code": "WATER",
            "name": "Water (KF)",
            "unit": "%",
            "method": "M-KF",
            "method_version": "1",
            "value_kind": "numeric",
        },
        {
            "code": "APPEAR",
            "name": "Appearance",
            "unit": None,
            "method": "M-VIS",
            "method_version": "1",
            "value_kind": "text",
        },
    ],
    "specifications": [
        {
            "code": "SPEC-A",
            "versions": [
                {
                    "version": 1,
                    "limits": [
                        {"test": "ASSAY", "limit": "NLT 98.0"},
                        {"test": "WATER", "limit": "NMT 0.5", "alert": "NMT 0.4"},
                        {"test": "APPEAR", "limit": "CONFORMS: White tablet"},
                    ],
                },
                {
                    "version": 2,
                    "limits": [
                        {"test": "ASSAY", "limit": "NLT 99.0"},
                        {"test": "WATER", "limit": "NMT 0.5", "alert": "NMT 0.4"},
                        {"test": "APPEAR", "limit": "CONFORMS: White tablet"},
                    ],
                },
            ],
        },
    ],
    "products": [{"code": "P1", "name": "Test tablet", "specification": "SPEC-A"}],
    "characteristics": [
        {"code": "C-ASSAY", "name": "Assay"},
        {"code": "C-WATER", "name": "Water"},
        {"code": "C-APPEAR", "name": "Appearance"},
    ],
    "mappings": [
        {"characteristic": "C-ASSAY", "test": "ASSAY", "sampling_point": None},
        {"characteristic": "C-WATER", "test": "WATER", "sampling_point": None},
        {"characteristic": "C-APPEAR", "test": "APPEAR", "sampling_point": None},
    ],
    "aliases": [
        {"system": "LIMS", "kind": "test", "external": "HPLC-ASY", "canonical": "ASSAY"},
        {"system": "LIMS", "kind": "unit", "external": "pct", "canonical": "%"},
    ],
    "procedures": [
        {
            "code": "PROC1",
            "product": "P1",
            "elements": ELEMENTS,
            "sampling_points": [
                # The finished product's sample: QA's disposition gates the batch, so the point
                # holds no operation (tests of IPC gates put their own points beside it).
                {
                    "code": "SP-REL",
                    "phase": "PROC1/UP1/OP1/PH1",
                    "sample_type": "release",
                    "gate": "informative",
                }
            ],
        }
    ],
    "batches": [
        {
            "code": "B1",
            "product": "P1",
            "procedure": "PROC1",
            "started_at": "2026-11-01T08:00:00+00:00",
        },
        {
            "code": "B2",
            "product": "P1",
            "procedure": "PROC1",
            "started_at": "2026-11-02T08:00:00+00:00",
        },
    ],
}
PEOPLE = {
    "admin": "integration_admin",
    "analyst": "qc_analyst",
    "reviewer": "qc_reviewer",
    "qa": "qa",
    "production": "production",
    "auditor": "auditor",
    "analyst2": "qc_analyst",
}
V1_FROM = datetime(2026, 1, 1, tzinfo=UTC)
V2_FROM = datetime(2026, 11, 20, tzinfo=UTC)


@dataclass
class Plant:
    """The seeded test plant and an API driver: `as_(user).post(...)`."""

    client: TestClient
    passwords: dict[str, str] = field(default_factory=dict)
    api_keys: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, user: str) -> dict[str, str]:
        """Credentials for a person (bearer token) or system (API key)."""
        if user in self.api_keys:
            return {"X-API-Key": self.api_keys[user]}
        if user not in self.tokens:
            answer = self.client.post(
                "/api/v1/token", data={"username": user, "password": self.passwords[user]}
            )
            assert answer.status_code == 200, answer.text
            self.tokens[user] = answer.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def call(self, user: str, method: str, path: str, **kwargs: Any) -> Response:
        """One API call as `user`."""
        url = path if path.startswith("/api") else f"/api/v1/sites/{SITE}{path}"
        return self.client.request(method, url, headers=self.headers(user), **kwargs)

    def signature(self, user: str, meaning: str = "approved") -> dict[str, str]:
        """An e-signature block for `user`."""
        return {"username": user, "password": self.passwords[user], "meaning": meaning}


@dataclass(frozen=True)
class SeededPlant:
    """What `plant.seed` handed back when it seeded a worker's template: the people's passwords
    and the systems' API keys, the same in every copy of that template."""

    passwords: dict[str, str]
    api_keys: dict[str, str]

    def on(self, client: TestClient) -> Plant:
        """The Plant `seed(hub, client)` would have returned for this database: its own
        credentials dictionaries and no tokens yet (tokens are signed with the test's secret)."""
        return Plant(client, dict(self.passwords), dict(self.api_keys))


def first_own_password(hub: Hub, user: str, temporary: str) -> str:
    """The person replaces the temporary password an administrator set, as at first sign-in."""
    chosen = secrets.token_urlsafe(16)
    hub.bus.handle(ChangePassword(c.Context(user), user, temporary, chosen))
    return chosen


def seed(hub: Hub, client: TestClient) -> Plant:
    """Accounts, master data and both spec versions in force (v1 from January, v2 from 20 Nov)."""
    plant = Plant(client)
    ctx = c.Context("test-setup", "system")
    for user, role in PEOPLE.items():
        temporary = secrets.token_urlsafe(16)
        hub.bus.handle(c.CreateAccount(ctx, user, user.title() + " Person", (role,), temporary))
        plant.passwords[user] = first_own_password(hub, user, temporary)
    for user, role in (("mes", "mes_system"), ("lims", "lims_system")):
        plant.api_keys[user] = "lgk_" + secrets.token_urlsafe(24)
        hub.bus.handle(
            c.CreateAccount(ctx, user, user.upper(), (role,), None, "system", plant.api_keys[user])
        )
    for user in PEOPLE:  # the test LIMS names people by labgate's user ids (synchronised)
        hub.bus.handle(MapIdentity(ctx, "lims", user, user, "CR-1: LIMS user ids synchronised"))
    hub.bus.handle(c.ImportMasterData(c.Context("admin"), PLANT, "CR-1: test plant"))
    qa = c.SignatureInput("qa", plant.passwords["qa"], "approved")
    for version, start in ((1, V1_FROM), (2, V2_FROM)):
        hub.bus.handle(c.ApproveSpecVersion(c.Context("qa"), SITE, "SPEC-A", version, qa))
        hub.bus.handle(
            c.MakeSpecVersionEffective(
                c.Context("qa"), SITE, "SPEC-A", version, start, "CR-1: in force"
            )
        )
    return plant


def request_sample(
    plant: Plant,
    request_id: str,
    batch: str = "B1",
    sampled_at: str = "2026-11-24T10:00:00Z",
    sampling_point: str = "SP-REL",
) -> str:
    """An MES sample request (at the release sampling point), registered by the LIMS."""
    body = {
        "mes_request_id": request_id,
        "product": "P1",
        "sampled_at": sampled_at,
        "batch": batch,
        "sampling_point": sampling_point,
    }
    answer = plant.call("mes", "POST", "/sample-requests", json=body)
    assert answer.status_code == 201, answer.text
    code: str = answer.json()["code"]
    registered = plant.call(
        "lims", "POST", f"/samples/{code}/registration", json={"lims_sample_id": f"L-{request_id}"}
    )
    assert registered.status_code == 200, registered.text
    return code


def approved_result(plant: Plant, sample: str, test: str, value: str, unit: str | None) -> str:
    """A result entered by the analyst and approved by the reviewer with an e-signature."""
    body = {"sample": sample, "test_code": test, "value": value, "unit": unit,
            "method_version": "1", "analyst": "analyst"}  # fmt: skip
    entered = plant.call("analyst", "POST", "/results", json=body)
    assert entered.status_code == 201, entered.text
    code = str(entered.json()["results"][-1]["code"])
    signed = {"signature": plant.signature("reviewer")}
    approved = plant.call("reviewer", "POST", f"/results/{code}/approval", json=signed)
    assert approved.status_code == 200, approved.text
    return code


RELEASE_PANEL = (
    ("ASSAY", "99.62", "%"),
    ("WATER", "3.1", "mg/g"),
    ("APPEAR", "White tablet", None),
)


def released_batch(plant: Plant, request_id: str) -> str:
    """Batch B1 with its release panel approved and released by QA; the sample's code."""
    sample = request_sample(plant, request_id)
    for test, value, unit in RELEASE_PANEL:
        approved_result(plant, sample, test, value, unit)
    answer = plant.call("qa", "POST", "/batches/B1/release",
                        json={"signature": plant.signature("qa", "released")})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return sample


V3_FROM = "2026-11-21T00:00:00Z"


def plan_version(
    plant: Plant,
    plans: list[dict[str, Any]],
    extra_limits: tuple[dict[str, Any], ...] = (),
    version: int = 3,
    effective_from: str = V3_FROM,
) -> None:
    """SPEC-A v<version>: v2's limits plus `extra_limits` (e.g. an IPC limit set) and these
    sampling plans, loaded, approved by QA and in force from `effective_from`, over HTTP."""
    v2 = PLANT["specifications"][0]["versions"][1]
    written = {"version": version, "limits": [*v2["limits"], *extra_limits],
               "sampling_plans": plans}  # fmt: skip
    document = {"site": PLANT["site"],
                "specifications": [{"code": "SPEC-A", "versions": [written]}]}  # fmt: skip
    body = {"document": document, "reason": "CR-12: sampling plans per sampling point"}
    answer = plant.call("admin", "POST", "/api/v1/masterdata/import", json=body)
    assert answer.status_code == 200, answer.text
    path = f"/specifications/SPEC-A/versions/{version}"
    approval = {"signature": plant.signature("qa", "approved")}
    answer = plant.call("qa", "POST", f"{path}/approval", json=approval)
    assert answer.status_code == 200, answer.text
    effective = {"effective_from": effective_from, "reason": "CR-12: plans in force"}
    answer = plant.call("qa", "POST", f"{path}/effective", json=effective)
    assert answer.status_code == 200, answer.text


# The IPC point of the gate tests plans the whole panel under the release limits: those tests
# are about gates, not about which tests a point plans.
IPC_PLAN = {"sampling_point": "SP-IPC", "limit_set": "release",
            "tests": ["ASSAY", "WATER", "APPEAR"]}  # fmt: skip


def refused_naming(
    raise_: Callable[[Any], Response], cases: Iterable[tuple[Any, str, str]]
) -> None:
    """Each (input, reason, field) case sent with `raise_` and refused (404, 409 or 422) with
    its reason code, naming its field."""
    for given, reason, field_name in cases:
        refused = raise_(given)
        assert refused.status_code in (404, 409, 422), refused.text
        assert (refused.json()["reason"], refused.json()["field"]) == (reason, field_name), given
