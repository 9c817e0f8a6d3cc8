"""Numbers and units of results, on SQLite and PostgreSQL, through the REST API and the signed
inbox: every digit kept until the method's rule rounds once, `labgate evaluate` agreeing with the
server; units converted only within their quantity kind; the unit kept as the sender wrote it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from labgate.domain import commands as c
from labgate.entrypoints.cli.main import app
from labgate.service.inbox.admission import ReceiptRefused
from plant import SITE, Plant, SeededPlant, request_sample
from senders import Sender, register

# The findings' numbers, each with the limit it was judged against and the truth: one digit
# more than the default 28-digit context keeps, so a double rounding flips the verdict.
FINDINGS = {
    "assay below its range": (
        "2026-11-22T12:00:00Z", "97.0-103.0", "96.9499999999999999999999999999",
        "96.9", False, "Rejected",
    ),
    "impurity at its maximum": (
        "2026-11-24T10:00:00Z", "NMT 0.10", "0.1049999999999999999999999999999",
        "0.10", True, "Accepted",
    ),
}  # fmt: skip
# Spec versions 3 and 4 of SPEC-A, ASSAY alone (USP rounding), in force from these days.
LIMITS = {3: ("97.0-103.0", "2026-11-21"), 4: ("NMT 0.10", "2026-11-23")}


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    """The test plant with SPEC-A versions 3 and 4 in force (the findings' limits)."""
    seeded = seeded_plant.on(client)
    versions = [
        {"version": v, "limits": [{"test": "ASSAY", "limit": limit}]}
        for v, (limit, _) in LIMITS.items()
    ]
    document = {
        "site": {"code": SITE, "name": "Test plant"},
        "specifications": [{"code": "SPEC-A", "versions": versions}],
    }
    hub.bus.handle(c.ImportMasterData(c.Context("admin"), document, "CR-12: trust findings"))
    qa = c.SignatureInput("qa", seeded.passwords["qa"], "approved")
    for version, (_, start) in LIMITS.items():
        hub.bus.handle(c.ApproveSpecVersion(c.Context("qa"), SITE, "SPEC-A", version, qa))
        effective = datetime.fromisoformat(start).replace(tzinfo=UTC)
        hub.bus.handle(
            c.MakeSpecVersionEffective(
                c.Context("qa"), SITE, "SPEC-A", version, effective, "CR-12: in force"
            )
        )
    return seeded


@pytest.fixture
def lims(hub: Hub, plant: Plant) -> Sender:
    """The LIMS, signing its results on its own stream."""
    return Sender(hub, "lims", "results", "lims-1", register(hub, "lims", "lims-1"))


def body(sample: str, value: str, unit: str | None = "%", test: str = "ASSAY") -> dict[str, Any]:
    return {
        "sample": sample,
        "test_code": test,
        "value": value,
        "unit": unit,
        "method_version": "1",
        "analyst": "analyst",
    }


def lims_result(
    sample: str, value: str, unit: str | None = "%", test: str = "ASSAY"
) -> dict[str, Any]:
    """A result reviewed and approved in the LIMS."""
    return body(sample, value, unit, test) | {
        "lims_status": "approved",
        "reviewer": "reviewer",
        "approved_at": "2026-11-25T08:00:00Z",
    }


def result_of(plant: Plant, sample: str) -> dict[str, Any]:
    """The sample's only result, as the API shows it, and the sample's MES status on it."""
    shown = plant.call("production", "GET", f"/samples/{sample}").json()
    [result] = shown["results"]
    return result | {"sample_mes_status": shown["mes_status"]}


def told_mes(plant: Plant, result: str) -> dict[str, Any]:
    """The newest of the outbox's messages to the MES about a result."""
    answer = plant.call("auditor", "GET", "/api/v1/outbox", params={"limit": 1000})
    told = [
        m
        for m in answer.json()["items"]
        if m["message_type"] == "result" and m["payload"].get("result_id") == result
    ]
    assert told, answer.text
    newest: dict[str, Any] = max(told, key=lambda m: m["id"])["payload"]
    return newest


def cli_verdict(limit: str, value: str) -> dict[str, Any]:
    """What `labgate evaluate` says of a value against a limit under USP rounding."""
    answer = CliRunner().invoke(
        app, ["evaluate", "--rule", "usp", "--limit", limit, "--value", value, "--json"]
    )
    assert answer.exit_code == 0, answer.output
    verdict: dict[str, Any] = json.loads(answer.output)
    return verdict


@pytest.mark.parametrize(
    ("sampled_at", "limit", "value", "reported", "conforms", "mes"),
    FINDINGS.values(),
    ids=FINDINGS.keys(),
)
def test_long_values_are_rounded_once_through_the_api_as_the_cli_does(
    plant: Plant,
    sampled_at: str,
    limit: str,
    value: str,
    reported: str,
    conforms: bool,
    mes: str,
) -> None:
    sample = request_sample(plant, "REQ-N1", sampled_at=sampled_at)
    entered = plant.call("analyst", "POST", "/results", json=body(sample, value))
    assert entered.status_code == 201, entered.text
    code = entered.json()["results"][-1]["code"]
    approved = plant.call(
        "reviewer",
        "POST",
        f"/results/{code}/approval",
        json={"signature": plant.signature("reviewer")},
    )
    assert approved.status_code == 200, approved.text
    shown = result_of(plant, sample)
    assert shown["limit_set"].endswith(limit)
    assert (shown["canonical_value"], shown["reported_value"], shown["conforms"]) == (
        value,
        reported,
        conforms,
    )
    assert (shown["mes_status"], shown["sample_mes_status"]) == (mes, mes)
    cli = cli_verdict(limit, value)
    assert (cli["reported"], cli["conforms"]) == (shown["reported_value"], shown["conforms"])
    payload = told_mes(plant, code)
    assert (payload["reported_value"], payload["result_status"]) == (reported, mes)


@pytest.mark.parametrize(
    ("sampled_at", "limit", "value", "reported", "conforms", "mes"),
    FINDINGS.values(),
    ids=FINDINGS.keys(),
)
def test_long_values_from_the_lims_inbox_are_rounded_once(
    plant: Plant,
    lims: Sender,
    sampled_at: str,
    limit: str,
    value: str,
    reported: str,
    conforms: bool,
    mes: str,
) -> None:
    sample = request_sample(plant, "REQ-N2", sampled_at=sampled_at)
    receipt = lims.send(lims.envelope("labgate.result.v1", lims_result(sample, value)))
    assert receipt.status == "applied"
    shown = result_of(plant, sample)
    assert (shown["canonical_value"], shown["reported_value"], shown["conforms"]) == (
        value,
        reported,
        conforms,
    )
    assert (shown["mes_status"], shown["sample_mes_status"]) == (mes, mes)
    assert cli_verdict(limit, value)["reported"] == shown["reported_value"]


def refusal_audited(hub: Hub, reason: str) -> bool:
    with hub.engine.connect() as db:
        entries = db.execute(select(t.audit_entries.c.action, t.audit_entries.c.after)).all()
    return any(
        a.startswith("refused.") and (after or {}).get("reason_code") == reason
        for a, after in entries
    )


def results_stored(hub: Hub) -> int:
    with hub.engine.connect() as db:
        return len(db.execute(select(t.results.c.id)).all())


REFUSED = {
    "pH for a % test": ("ASSAY", "101.2", "pH", "unit.unconvertible"),
    "mass for a % test": ("ASSAY", "99.1", "g", "unit.unconvertible"),
    "a unit on a text test": ("APPEAR", "White tablet", "%", "unit.not_expected"),
}


@pytest.mark.parametrize(("test", "value", "unit", "reason"), REFUSED.values(), ids=REFUSED.keys())
def test_a_unit_of_another_kind_is_refused_through_the_api(
    plant: Plant, hub: Hub, test: str, value: str, unit: str, reason: str
) -> None:
    sample = request_sample(plant, "REQ-U1", sampled_at="2026-11-20T12:00:00Z")  # v2: whole panel
    answer = plant.call("analyst", "POST", "/results", json=body(sample, value, unit, test))
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert (problem["reason"], problem["field"]) == (reason, "unit")
    assert unit in problem["detail"]
    assert refusal_audited(hub, reason)
    assert results_stored(hub) == 0


@pytest.mark.parametrize(("test", "value", "unit", "reason"), REFUSED.values(), ids=REFUSED.keys())
def test_a_unit_of_another_kind_from_the_lims_is_quarantined(
    plant: Plant, hub: Hub, lims: Sender, test: str, value: str, unit: str, reason: str
) -> None:
    sample = request_sample(plant, "REQ-U2", sampled_at="2026-11-20T12:00:00Z")
    raw = lims.envelope("labgate.result.v1", lims_result(sample, value, unit, test))
    with pytest.raises(ReceiptRefused) as refused:
        lims.send(raw)
    with hub.engine.connect() as db:
        row = (
            db.execute(select(t.quarantine).where(t.quarantine.c.id == refused.value.quarantine_id))
            .mappings()
            .one()
        )
    assert (row["reason_code"], row["field"], row["raw"]) == (reason, "unit", raw)
    assert results_stored(hub) == 0
    shown = plant.call("auditor", "GET", f"/api/v1/quarantine/{row['id']}").json()
    assert shown["reason_code"] == reason


def test_a_unit_alias_is_kept_as_sent_and_resolved_beside_it(plant: Plant, lims: Sender) -> None:
    sample = request_sample(plant, "REQ-A1", sampled_at="2026-11-22T12:00:00Z")  # v3: ASSAY
    receipt = lims.send(lims.envelope("labgate.result.v1", lims_result(sample, "99.30", "pct")))
    assert receipt.status == "applied"
    shown = result_of(plant, sample)
    assert (shown["raw_value"], shown["raw_unit"], shown["resolved_unit"]) == ("99.30", "pct", "%")
    assert (shown["canonical_unit"], shown["conversion_factor"]) == ("%", "1")
    payload = told_mes(plant, shown["code"])
    assert (payload["raw_value"], payload["raw_unit"], payload["unit"]) == ("99.30", "pct", "%")
    dossier = plant.call("qa", "GET", "/batches/B1/dossier", params={"format": "json"})
    assert dossier.status_code == 200, dossier.text
    [found] = [
        r for s in dossier.json()["samples"] for r in s["results"] if r["code"] == shown["code"]
    ]
    assert found["provenance"]["raw"] == "99.30 pct (alias of %)"


def test_a_unit_sent_as_written_is_its_own_resolved_unit(plant: Plant) -> None:
    sample = request_sample(plant, "REQ-A2", sampled_at="2026-11-22T12:00:00Z")
    entered = plant.call("analyst", "POST", "/results", json=body(sample, "993.0", "mg/g"))
    assert entered.status_code == 201, entered.text
    shown = result_of(plant, sample)
    assert (shown["raw_unit"], shown["resolved_unit"], shown["canonical_unit"]) == (
        "mg/g",
        "mg/g",
        "%",
    )
    assert (shown["conversion_factor"], shown["canonical_value"], shown["reported_value"]) == (
        "0.1",
        "99.30",
        "99.3",
    )


LONG_VALUES = {
    "a hundred digits": ("9" * 100 + ".45", "%"),
    "a large exponent": ("1E+100", "%"),
    "seventy digits converted": ("1" * 70 + ".05", "mg/g"),
}


@pytest.mark.parametrize(("value", "unit"), LONG_VALUES.values(), ids=LONG_VALUES.keys())
def test_values_of_any_length_are_stored_with_every_digit(
    plant: Plant, lims: Sender, value: str, unit: str
) -> None:
    # 64 characters held the derived numbers: PostgreSQL refused these (500), SQLite kept them.
    factor = {"%": Decimal(1), "mg/g": Decimal("0.1")}[unit]
    with localcontext(prec=1000):  # the oracle: wide enough by hand, not by the code under test
        canonical = Decimal(value) * factor
        reported = canonical.quantize(Decimal("0.1"), ROUND_HALF_UP)  # 97.0-103.0: one place
    entered = request_sample(plant, "REQ-L1", sampled_at="2026-11-22T12:00:00Z")
    answer = plant.call("analyst", "POST", "/results", json=body(entered, value, unit))
    assert answer.status_code == 201, answer.text
    received = request_sample(plant, "REQ-L2", sampled_at="2026-11-22T12:00:00Z")
    sent = lims.envelope("labgate.result.v1", lims_result(received, value, unit))
    assert lims.send(sent).status == "applied"
    for sample in (entered, received):
        shown = result_of(plant, sample)
        assert (shown["raw_value"], shown["conforms"]) == (value, False)
        assert Decimal(shown["canonical_value"]) == canonical
        assert shown["reported_value"] == str(reported)


def import_units(plant: Plant, *units: dict[str, Any]) -> Any:
    document = {"site": {"code": SITE, "name": "Test plant"}, "units": list(units)}
    body = {"document": document, "reason": "CR-13: unit dictionary kinds"}
    return plant.call("admin", "POST", "/api/v1/masterdata/import", json=body)


def test_a_unit_without_a_kind_is_refused_by_the_import(plant: Plant, hub: Hub) -> None:
    answer = import_units(plant, {"code": "mg/L", "expression": "mg/L", "precision": 2})
    assert answer.status_code == 422, answer.text
    assert (answer.json()["reason"], answer.json()["field"]) == (
        "masterdata.required",
        "units[0].kind",
    )
    assert refusal_audited(hub, "masterdata.required")


def test_the_kind_imported_decides_what_converts(plant: Plant) -> None:
    percent = {"code": "%", "expression": "percent", "precision": 1, "kind": "volume fraction"}
    refused = import_units(plant, percent)  # a stored unit changes by change request only
    assert refused.json()["reason"] == "masterdata.change_request_required", refused.text
    cr = {"kind": "masterdata", "title": "Percent is a volume fraction", "reason": "Plant QA QD-3",
          "proposal": {"document": {"units": [percent | {"name": "percent"}]}}}  # fmt: skip
    code = plant.call("admin", "POST", "/change-requests", json=cr).json()["code"]
    assert plant.call("admin", "POST", f"/change-requests/{code}/assessment").status_code == 200
    approved = plant.call("qa", "POST", f"/change-requests/{code}/approval",
                          json={"signature": plant.signature("qa")})  # fmt: skip
    assert approved.json()["state"] == "effective", approved.text
    exported = plant.call("auditor", "GET", "/masterdata").json()["units"]
    assert {u["code"]: u["kind"] for u in exported}["%"] == "volume fraction"
    sample = request_sample(plant, "REQ-K1", sampled_at="2026-11-22T12:00:00Z")
    answer = plant.call("analyst", "POST", "/results", json=body(sample, "993.0", "mg/g"))
    assert answer.status_code == 422, answer.text
    assert answer.json()["reason"] == "unit.unconvertible"
    assert "mass fraction" in answer.json()["detail"]


def test_a_blank_unit_is_no_unit(plant: Plant) -> None:
    sample = request_sample(plant, "REQ-B1", sampled_at="2026-11-20T12:00:00Z")  # v2: APPEAR too
    text = plant.call(
        "analyst", "POST", "/results", json=body(sample, "White tablet", "", "APPEAR")
    )
    assert text.status_code == 201, text.text
    number = plant.call("analyst", "POST", "/results", json=body(sample, "99.5", ""))
    assert (number.status_code, number.json()["reason"]) == (422, "unit.missing")
    shown = plant.call("production", "GET", f"/samples/{sample}").json()
    assert [(r["test_code"], r["raw_unit"]) for r in shown["results"]] == [("APPEAR", None)]
