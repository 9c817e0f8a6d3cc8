"""The demo plant's raw materials: ibuprofen API from one qualified supplier under an SkSP-2
skip-lot plan. Lots received over five months: the first ones under normal inspection, then
skipping (the hub draws which lots still get the full panel, as it would in production), one lot
failing identity (rejected; the plan is back to normal inspection), the last still in quarantine.
Each lot comes with its supplier's CoA."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from labgate.bootstrap import Hub
from labgate.domain import commands as c
from labgate.domain.raw_materials import (
    ConfigureSkipLotPlan,
    DecideLot,
    ImportSupplierCoa,
    ReceivedLot,
    ReceiveLot,
    SupplierValue,
)
from labgate.domain.samples import Sample

MATERIAL, SUPPLIER, SPEC = "API-IBU", "SUP-SHASUN", "SPEC-API-IBU"
IDENTITY = "IDENT-IR"
GOOD = {IDENTITY: ("Conforms to reference spectrum", None), "ASSAY": ("99.6", "%"),
        "WATER": ("0.21", "%")}  # fmt: skip
# (supplier lot, days ago received, what the lab finds differently from GOOD)
LOTS: list[tuple[str, int, dict[str, tuple[str, str | None]]]] = [
    ("IBU-26-0112", 150, {}),
    ("IBU-26-0131", 131, {"ASSAY": ("99.2", "%")}),
    ("IBU-26-0158", 110, {"WATER": ("0.34", "%")}),
    ("IBU-26-0177", 92, {}),
    ("IBU-26-0203", 75, {"ASSAY": ("100.1", "%")}),
    ("IBU-26-0219", 58, {}),
    ("IBU-26-0240", 40, {IDENTITY: ("Does not match reference spectrum", None)}),
    ("IBU-26-0262", 21, {}),
]
WAITING = ("IBU-26-0281", 3)  # received, in quarantine, tests to come


def seed_raw_materials(hub: Hub, site: str, credentials: dict[str, str]) -> None:
    """Master data, the plan under change control, and the lots with their decisions."""
    now = hub.bus.deps.clock.now()
    qa = c.SignatureInput("qa", credentials["qa"], "approved")
    admin, qa_ctx = c.Context("admin"), c.Context("qa")
    hub.bus.handle(c.ImportMasterData(admin, _document(site), "demo: API incoming inspection"))
    hub.bus.handle(c.ApproveSpecVersion(qa_ctx, site, SPEC, 1, qa))
    start = now - timedelta(days=200)
    hub.bus.handle(c.MakeSpecVersionEffective(qa_ctx, site, SPEC, 1, start, "demo: in force"))
    hub.bus.handle(
        ConfigureSkipLotPlan(
            qa_ctx,
            site,
            MATERIAL,
            SUPPLIER,
            SPEC,
            (IDENTITY,),
            3,
            Decimal("0.34"),
            "CC-2026-041: supplier qualified after audit",
        )
    )
    for supplier_lot, days, found in LOTS:
        lot = _received(hub, site, supplier_lot, now - timedelta(days=days))
        _results(hub, site, lot, now - timedelta(days=days - 4), {**GOOD, **found})
        release = IDENTITY not in found
        meaning = "released" if release else "rejected"
        why = "Meets SPEC-API-IBU v1" if release else "Identity failed: lot rejected, supplier told"
        signature = c.SignatureInput("qa", credentials["qa"], meaning)
        hub.bus.handle(DecideLot(qa_ctx, site, lot, release, why, signature))
    _received(hub, site, WAITING[0], now - timedelta(days=WAITING[1]))


def _received(hub: Hub, site: str, supplier_lot: str, at: datetime) -> str:
    receipt = ReceiveLot(c.Context("analyst"), site, MATERIAL, SUPPLIER, supplier_lot, at)
    lot: str = hub.bus.handle(receipt)
    certificate = tuple(SupplierValue(test, value, unit) for test, (value, unit) in GOOD.items())
    hub.bus.handle(ImportSupplierCoa(c.Context("analyst"), site, lot, certificate))
    return lot


def _results(
    hub: Hub, site: str, lot: str, at: datetime, values: dict[str, tuple[str, str | None]]
) -> None:
    """The QC lab's results, reviewed in its LIMS, for the tests the lot's plan asked for."""
    lims = c.Context("lims", "system")
    with hub.uow_factory() as uow:
        received = uow.records.get(ReceivedLot, site=site, code=lot)
        assert received is not None
        sample = uow.records.get(Sample, site=site, code=received.sample)
        assert sample is not None
        code, planned = sample.code, [(t.test_code, t.method_version) for t in sample.tests]
    reported = tuple(
        c.RecordResult(
            lims,
            site,
            code,
            test,
            values[test][0],
            values[test][1],
            version,
            "analyst",
            reviewer="reviewer",
            approved_at=at,
            lims_status="approved",
        )
        for test, version in planned
    )
    hub.bus.handle(c.RecordResults(lims, reported))


def _document(site: str) -> dict[str, Any]:
    identity = {"code": IDENTITY, "name": "Identification (IR, Ph. Eur. 2.2.24)", "unit": None,
                "method": "M-IR-01", "method_version": "1", "value_kind": "text"}  # fmt: skip
    limits = [
        {"test": IDENTITY, "limit": "CONFORMS: Conforms to reference spectrum"},
        {"test": "ASSAY", "limit": "98.5-101.0"},
        {"test": "WATER", "limit": "NMT 0.5"},
    ]
    return {
        "site": {"code": site, "name": "Basel plant"},
        "methods": [
            {
                "code": "M-IR-01",
                "versions": [{"version": "1", "rounding_rule": "usp", "sig_figs": None}],
            }
        ],
        "tests": [identity],
        "specifications": [{"code": SPEC, "versions": [{"version": 1, "limits": limits}]}],
    }
