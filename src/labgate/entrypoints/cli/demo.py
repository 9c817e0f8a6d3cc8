"""The demo plant: master data from demo/plant.yaml, one person per role, batches mid-flight,
OOS investigations at their different stages.
Passwords are random and printed once; nothing secret lives in the repository."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from functools import partial
from importlib.resources import files
from typing import Any

import yaml
from rich.console import Console

from labgate.bootstrap import Hub
from labgate.compliance.access import Account
from labgate.compliance.passwords import new_api_key
from labgate.domain import commands as c
from labgate.domain.account_commands import ChangePassword
from labgate.domain.deviation_commands import CloseDeviation, ConcludePhaseOne, ConcludePhaseTwo
from labgate.domain.deviations import Deviation
from labgate.domain.interface_commands import MapIdentity
from labgate.domain.limits import LimitKind, parse_limit
from labgate.domain.samples import Sample
from labgate.entrypoints.cli.demo_em import seed_environmental
from labgate.entrypoints.cli.demo_raw_materials import seed_raw_materials
from labgate.entrypoints.cli.demo_stability import seed_stability
from labgate.entrypoints.cli.demo_summary import print_summary, run_stages

PEOPLE = [
    ("admin", "Ines Admin", "integration_admin"),
    ("analyst", "Anna Analyst", "qc_analyst"),
    ("reviewer", "Rolf Reviewer", "qc_reviewer"),
    ("qa", "Quentin QA", "qa"),
    ("production", "Paula Production", "production"),
    ("auditor", "Otto Auditor", "auditor"),
]
SYSTEMS = [("mes", "Demo MES", "mes_system"), ("lims", "Demo LIMS", "lims_system")]
# The demo LIMS names people by labgate's user ids; the simulator's LIMS by ids of its own.
LIMS_PEOPLE = {
    "analyst": "analyst",
    "reviewer": "reviewer",
    "lims-analyst": "analyst",
    "lims-reviewer": "reviewer",
}


def plant_document() -> dict[str, Any]:
    """The demo plant's master data."""
    text = files("labgate.demo").joinpath("plant.yaml").read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def seed(hub: Hub, console: Console) -> dict[str, str]:
    """Seed once, stage by stage with its progress shown; returns the credentials it printed
    (empty when already seeded), then what it made."""
    with hub.uow_factory() as uow:
        if uow.records.find(Account):
            console.print("demo plant already seeded; credentials were printed when it was.")
            return {}
    document = plant_document()
    site = document["site"]["code"]
    credentials: dict[str, str] = {}
    imported = c.ImportMasterData(c.Context("admin"), document, "demo plant (seed)")
    rest = (hub, site, credentials)
    stages: list[tuple[str, Callable[[], object]]] = [
        ("accounts: one person per role, the MES and LIMS", partial(_fill, credentials, hub)),
        (f"master data of site {site}", partial(hub.bus.handle, imported)),
        (
            "specifications in force (signed)",
            lambda: put_specs_in_force(hub, site, document, credentials["qa"]),
        ),
        ("batches mid-flight", partial(_batches_mid_flight, hub, site, document, credentials)),
        ("OOS investigations at three stages", partial(_investigations, *rest)),
        ("raw-material lots under a skip-lot plan", partial(seed_raw_materials, *rest)),
        ("stability studies with their pulls", partial(seed_stability, *rest)),
        ("environmental monitoring, with an excursion", partial(seed_environmental, *rest)),
    ]
    run_stages(console, stages)
    print_credentials(console, credentials)
    print_summary(hub, console, site)
    return credentials


def print_credentials(console: Console, credentials: dict[str, str]) -> None:
    """One line per account, never wrapped: a key folded across two lines is a wrong key, and
    it is shown only once."""
    console.print("demo credentials (shown once):")
    for username, _, role in PEOPLE + SYSTEMS:
        line = f"  {username:<11} {role:<18} {credentials[username]}"
        console.print(line, soft_wrap=True, markup=False, highlight=False)


def _fill(credentials: dict[str, str], hub: Hub) -> None:
    credentials.update(_accounts(hub))


def _accounts(hub: Hub) -> dict[str, str]:
    ctx, credentials = c.Context("cli:demo-seed", "system"), {}
    for username, name, role in PEOPLE:
        temporary = secrets.token_urlsafe(12)
        hub.bus.handle(c.CreateAccount(ctx, username, name, (role,), temporary))
        credentials[username] = first_own_password(hub, username, temporary)
    for username, name, role in SYSTEMS:
        credentials[username] = new_api_key()
        hub.bus.handle(
            c.CreateAccount(ctx, username, name, (role,), None, "system", credentials[username])
        )
    for external_id, account in LIMS_PEOPLE.items():
        why = "demo: the LIMS's user ids synchronised with labgate's accounts"
        hub.bus.handle(MapIdentity(c.Context("admin"), "lims", external_id, account, why))
    return credentials


def first_own_password(hub: Hub, username: str, temporary: str) -> str:
    """The person replaces the seed's temporary password, as at a first sign-in, so the demo
    account is usable at once; the password printed is that second one."""
    chosen = secrets.token_urlsafe(12)
    hub.bus.handle(ChangePassword(c.Context(username), username, temporary, chosen))
    return chosen


def put_specs_in_force(hub: Hub, site: str, document: dict[str, Any], qa_password: str) -> None:
    """Every spec: v1 effective 90 days ago, v2 (tightened) effective 10 days ago."""
    ctx, now = c.Context("qa"), hub.bus.deps.clock.now()
    signature = c.SignatureInput("qa", qa_password, "approved")
    for spec in document.get("specifications", []):
        for version in spec["versions"]:
            number = int(version["version"])
            hub.bus.handle(c.ApproveSpecVersion(ctx, site, spec["code"], number, signature))
            start = now - timedelta(days=90 if number == 1 else 10)
            hub.bus.handle(
                c.MakeSpecVersionEffective(ctx, site, spec["code"], number, start, "demo: in force")
            )


def _batches_mid_flight(
    hub: Hub, site: str, document: dict[str, Any], credentials: dict[str, str]
) -> None:
    """Batch 1 released, batch 2 rejected, batch 3 with preliminary results, batch 4 requested."""
    points = {
        p["code"]: proc
        for proc in document.get("procedures", [])
        for p in proc.get("sampling_points", [])
    }
    now = hub.bus.deps.clock.now()
    for stage, batch in enumerate(document.get("batches", [])):
        trace = None
        for code, proc in points.items():
            if proc["code"] != batch["procedure"]:
                continue
            # One trace id per sample, carried from the MES request to its review (and, for the
            # release sample, the batch's release), as an MES's correlation id would be.
            trace = f"demo-{batch['code']}-{code}"
            command = c.RequestSample(
                c.Context("mes", "system", trace),
                site,
                f"MES-{batch['code']}-{code}",
                batch["product"],
                now - timedelta(hours=6 - stage),
                batch=batch["code"],
                sampling_point=code,
            )
            sample_code = hub.bus.handle(command)
            if stage < 3:
                _test(hub, site, sample_code, credentials, approve=stage < 2, fail=stage == 1,
                      trace=trace)  # fmt: skip
        if stage == 0:
            signature = c.SignatureInput("qa", credentials["qa"], "released")
            release = c.ReleaseBatch(c.Context("qa", correlation_id=trace), site, batch["code"],
                                     signature)  # fmt: skip
            hub.bus.handle(release)


def _test(
    hub: Hub,
    site: str,
    code: str,
    credentials: dict[str, str],
    *,
    approve: bool,
    fail: bool,
    trace: str | None = None,
) -> None:
    analyst = c.Context("analyst", correlation_id=trace)
    reviewer = c.Context("reviewer", correlation_id=trace)
    hub.bus.handle(c.RegisterSample(analyst, site, code, f"LIMS-{code}"))
    with hub.uow_factory() as uow:
        sample = uow.records.get(Sample, site=site, code=code)
        assert sample is not None
        planned = [(t.test_code, t.limit, t.unit, t.method_version) for t in sample.tests]
    for index, (test_code, limit, unit, version) in enumerate(planned):
        value = plausible_value(limit, out_of_spec=fail and index == 0)
        result = hub.bus.handle(
            c.RecordResult(analyst, site, code, test_code, value, unit, version, "analyst")
        )
        if approve:
            signature = c.SignatureInput("reviewer", credentials["reviewer"], "approved")
            hub.bus.handle(c.ApproveResult(reviewer, site, result, signature))


def _investigations(hub: Hub, site: str, credentials: dict[str, str]) -> None:
    """The rejected batch's OOS investigations at three stages: the first found a laboratory
    error (invalidated, retested, Accepted), the second a confirmed OOS closed by QA with a CAPA,
    the rest still in phase I."""
    with hub.uow_factory() as uow:
        found = sorted(uow.records.find(Deviation, site=site), key=lambda d: d.code)
        cases = [(d.code, d.sample, d.result, d.test_code) for d in found]
    reviewer, qa = c.Context("reviewer"), c.Context("qa")
    reviewed = c.SignatureInput("reviewer", credentials["reviewer"], "reviewed")
    if cases:
        code, sample, result, test_code = cases[0]
        hub.bus.handle(
            ConcludePhaseOne(
                reviewer,
                site,
                code,
                "assignable_cause",
                "Wrong dilution (1:10 instead of 1:100); lab error "
                "confirmed by the analyst's worksheet.",
                reviewed,
            )
        )
        _retest(hub, site, sample, result, test_code, credentials)
    if len(cases) > 1:
        code = cases[1][0]
        hub.bus.handle(
            ConcludePhaseOne(
                reviewer,
                site,
                code,
                "no_assignable_cause",
                "Method, equipment and calculations checked; no laboratory error found.",
                reviewed,
            )
        )
        hub.bus.handle(
            ConcludePhaseTwo(
                reviewer,
                site,
                code,
                "confirmed",
                "Blend non-uniform after a shortened blending step (mixer timer fault).",
                reviewed,
            )
        )
        approved = c.SignatureInput("qa", credentials["qa"], "approved")
        hub.bus.handle(
            CloseDeviation(
                qa, site, code, "Root cause and CAPA agreed.", approved, capa="CAPA-2026-014"
            )
        )


def _retest(
    hub: Hub,
    site: str,
    sample: str,
    invalidated: str,
    test_code: str,
    credentials: dict[str, str],
) -> None:
    with hub.uow_factory() as uow:
        found = uow.records.get(Sample, site=site, code=sample)
        assert found is not None
        planned = found.test(test_code)
        limit, unit, version = planned.limit, planned.unit, planned.method_version
    value = plausible_value(limit, out_of_spec=False)
    analyst, reviewer = c.Context("analyst"), c.Context("reviewer")
    retest = hub.bus.handle(
        c.RecordResult(
            analyst, site, sample, test_code, value, unit, version, "analyst", retest_of=invalidated
        )
    )
    signature = c.SignatureInput("reviewer", credentials["reviewer"], "approved")
    hub.bus.handle(c.ApproveResult(reviewer, site, retest, signature))


def plausible_value(expression: str, out_of_spec: bool) -> str:
    """A plausible reported value inside (or just outside) a limit."""
    limit = parse_limit(expression)
    if limit.kind is LimitKind.CONFORMS_TEXT:
        return "Does not conform" if out_of_spec else (limit.text or "Conforms")
    places = Decimal(1).scaleb(-(limit.places or 0))
    low, high = limit.low, limit.high
    if out_of_spec:
        return str((low - 3 * places) if low is not None else (high or 0) + 3 * places)
    if low is not None and high is not None:
        return str(((low + high) / 2).quantize(places))
    if low is not None:
        return str(low + 2 * places)
    return str(((high or Decimal(0)) / 2).quantize(places))
