"""The demo plant's stability programme: Ibuprofen 200 mg tablets, three batches on long-term
(25C/60%RH) and accelerated (40C/75%RH) stability, 18 months of approved history with a slow
assay decline and a growing degradant, one out-of-trend assay result, later pulls still to come.

The history is made through the same commands the API uses, pull times set in the past; the
specification is put in force before the first study began, so every pull binds to it."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from labgate.bootstrap import Hub
from labgate.domain import commands as c
from labgate.domain.samples import Sample
from labgate.domain.stability import StabilityStudy, add_months
from labgate.domain.stability_commands import ApproveStudy, CreateStudy, PullStability

PRODUCT, SPEC = "IBU-200", "SPEC-IBU-200"
LONG, ACCELERATED = "25C/60%RH", "40C/75%RH"
SCHEDULE = ((LONG, (0, 3, 6, 9, 12, 18, 24, 36)), (ACCELERATED, (0, 3, 6)))
# Batch, months since manufacture, assay at t=0 (% label claim).
BATCHES = (
    ("B-IBU2-25101", 20, "100.4"),
    ("B-IBU2-25102", 17, "100.6"),
    ("B-IBU2-25103", 14, "100.2"),
)
# Per month: assay loss (%), degradant (impurity A) growth (%), by condition.
ASSAY_LOSS = {LONG: Decimal("0.11"), ACCELERATED: Decimal("0.42")}
IMPURITY_GROWTH = {LONG: Decimal("0.011"), ACCELERATED: Decimal("0.045")}
NOISE = (
    Decimal("0.08"),
    Decimal("-0.06"),
    Decimal("0.03"),
    Decimal("-0.09"),
    Decimal("0.05"),
    Decimal("-0.02"),
    Decimal("0.07"),
    Decimal("-0.04"),
)
OOT = ("B-IBU2-25103", LONG, 12)  # its assay falls 1.5 % below the trend: in spec, out of trend


def seed_stability(hub: Hub, site: str, credentials: dict[str, str]) -> None:
    """Master data, three approved studies, their pulls and approved results up to now."""
    now = hub.bus.deps.clock.now()
    first = now - timedelta(days=31 * 22)
    _master_data(hub, site, credentials, first, now)
    for index, (batch, age, assay) in enumerate(BATCHES):
        start = add_months(now, -age)
        study = _study(hub, site, credentials, batch, start)
        for condition, months in SCHEDULE:
            for point in months:
                due = add_months(start, point)
                if due > now - timedelta(days=10):
                    break  # later pulls are still to come (or due now: the scheduler's)
                hub.bus.handle(
                    PullStability(c.Context("analyst"), site, study, condition, point, due)
                )
                sample = _sample_of(hub, site, study, condition, point)
                values = _values(index, batch, condition, point, Decimal(assay))
                _results(hub, site, sample, values)


def _master_data(
    hub: Hub, site: str, credentials: dict[str, str], first: datetime, now: datetime
) -> None:
    document = _document(site, now)
    hub.bus.handle(c.ImportMasterData(c.Context("admin"), document, "demo: stability programme"))
    qa = c.SignatureInput("qa", credentials["qa"], "approved")
    hub.bus.handle(c.ApproveSpecVersion(c.Context("qa"), site, SPEC, 1, qa))
    hub.bus.handle(
        c.MakeSpecVersionEffective(
            c.Context("qa"), site, SPEC, 1, first, "demo: in force before the studies"
        )
    )


def _document(site: str, now: datetime) -> dict[str, Any]:
    procedure = "PR-IBU-200"
    elements = [
        {"path": procedure, "level": "procedure", "name": "Ibuprofen 200 mg tablets"},
        {"path": f"{procedure}/COMP", "level": "unit_procedure", "name": "Compression"},
        {"path": f"{procedure}/COMP/PRESS", "level": "operation", "name": "Compression"},
        {"path": f"{procedure}/COMP/PRESS/REL", "level": "phase", "name": "Release sample"},
    ]
    limits = [
        {"test": "ASSAY", "limit": "95.0-105.0"},
        {"test": "IMP-A", "limit": "NMT 0.5", "alert": "NMT 0.30"},
        {"test": "WATER", "limit": "NMT 3.0"},
    ]
    batches = [
        {
            "code": batch,
            "product": PRODUCT,
            "procedure": procedure,
            "started_at": add_months(now, -age - 1).isoformat(),
        }
        for batch, age, _ in BATCHES
    ]
    return {
        "site": {"code": site, "name": "Basel plant"},
        "specifications": [{"code": SPEC, "versions": [{"version": 1, "limits": limits}]}],
        "products": [{"code": PRODUCT, "name": "Ibuprofen 200 mg tablets", "specification": SPEC}],
        "procedures": [
            {"code": procedure, "product": PRODUCT, "elements": elements, "sampling_points": []}
        ],
        "batches": batches,
    }


def _study(hub: Hub, site: str, credentials: dict[str, str], batch: str, start: datetime) -> str:
    """Written by the QC reviewer (lab manager), approved by QA."""
    command = CreateStudy(
        c.Context("reviewer"), site, PRODUCT, batch, SCHEDULE, ("ASSAY", "IMP-A"), start, 14
    )
    study: str = hub.bus.handle(command)
    signature = c.SignatureInput("qa", credentials["qa"], "approved")
    hub.bus.handle(ApproveStudy(c.Context("qa"), site, study, signature))
    return study


def _sample_of(hub: Hub, site: str, study: str, condition: str, point: int) -> str:
    with hub.uow_factory() as uow:
        found = uow.records.get(StabilityStudy, site=site, code=study)
        assert found is not None
        samples = uow.records.find(Sample, site=site, stability_study=study)
        tag = f"{study} {condition} T{point}"
        return next(s.code for s in samples if s.container == tag)


def _values(index: int, batch: str, condition: str, point: int, assay: Decimal) -> dict[str, str]:
    noise = NOISE[(index * 3 + point) % len(NOISE)]
    value = assay - ASSAY_LOSS[condition] * point + noise
    if (batch, condition, point) == OOT:
        value -= Decimal("1.5")
    impurity = Decimal("0.04") + IMPURITY_GROWTH[condition] * point + noise / 10
    return {
        "ASSAY": str(value.quantize(Decimal("0.01"))),
        "IMP-A": str(impurity.quantize(Decimal("0.001"))),
    }


def _results(hub: Hub, site: str, sample: str, values: dict[str, str]) -> None:
    """The stability lab reviews in its LIMS: the results arrive approved, in one transaction
    (and the seed spends no password check per result)."""
    lims = c.Context("lims", "system")
    with hub.uow_factory() as uow:
        found = uow.records.get(Sample, site=site, code=sample)
        assert found is not None
        versions = {t.test_code: t.method_version for t in found.tests}
        approved_at = found.sampled_at + timedelta(days=9)
    reported = tuple(
        c.RecordResult(
            lims,
            site,
            sample,
            test,
            value,
            "%",
            versions[test],
            "analyst",
            reviewer="reviewer",
            approved_at=approved_at,
            lims_status="approved",
        )
        for test, value in values.items()
    )
    hub.bus.handle(c.RecordResults(lims, reported))
