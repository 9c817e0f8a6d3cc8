"""Data-quality controls on both databases: every rule passes on the seeded plant; a defect
planted through the API (or, where the API refuses it, behind its back in SQL) breaches its
rule, names the record, and opens one data-quality deviation that later runs note rather than
duplicate, closed only with a CAPA reference; the CLI's exit codes, the scheduled run, the
API's lists and the console's page and My work tile."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update
from test_console import csrf_of, sign_in
from typer.testing import CliRunner

from fakes import ManualClock
from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from labgate.config import Settings
from labgate.domain.data_quality import RULES
from labgate.entrypoints.cli.dq import dq_app
from labgate.entrypoints.cli.dq_schedule import DqSchedule
from plant import PLANT, SITE, Plant, SeededPlant, approved_result, request_sample

runner = CliRunner()
Planting = Callable[[Hub, Plant, ManualClock], None]


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def run(plant: Plant, user: str = "admin") -> dict[str, Any]:
    answer = plant.call(user, "POST", "/dq/runs")
    assert answer.status_code == 201, answer.text
    shown: dict[str, Any] = answer.json()
    return shown


def line(shown: dict[str, Any], rule: str) -> dict[str, Any]:
    found: dict[str, Any] = next(x for x in shown["results"] if x["rule"] == rule)
    return found


def imported(plant: Plant, **parts: Any) -> None:
    body = {"document": {"site": PLANT["site"], **parts}, "reason": "CR-99: planted defect"}
    answer = plant.call("admin", "POST", "/api/v1/masterdata/import", json=body)
    assert answer.status_code == 200, answer.text


def behind_the_back(hub: Hub, statement: Any) -> None:
    with hub.engine.begin() as connection:
        assert connection.execute(statement).rowcount != 0  # -1: an insert on PostgreSQL


def dq_deviations(hub: Hub) -> list[tuple[str, str, str]]:
    d = t.deviations.c
    query = select(d.code, d.sample, d.state).where(d.kind == "data_quality").order_by(d.id)
    with hub.engine.connect() as connection:
        return [(r.code, r.sample, str(r.state.value)) for r in connection.execute(query)]


# --- the defects, one or more per dimension ---------------------------------------------------


def numeric_test_without_unit(hub: Hub, plant: Plant, clock: ManualClock) -> None:
    test = {"code": "PH", "name": "pH", "unit": None, "method": "M-KF", "method_version": "1",
            "value_kind": "numeric"}  # fmt: skip
    imported(plant, tests=[test])


def ipc_point_without_plan(hub: Hub, plant: Plant, clock: ManualClock) -> None:
    document = copy.deepcopy(PLANT)
    document["procedures"][0]["sampling_points"].append(
        {"code": "SP-NOPLAN", "phase": "PROC1/UP1/OP1/PH1", "sample_type": "IPC"}
    )
    answer = plant.call("admin", "POST", "/api/v1/masterdata/import",
                        json={"document": document, "reason": "CR-99: planted defect"})  # fmt: skip
    assert answer.status_code == 200, answer.text


def alias_to_nowhere(hub: Hub, plant: Plant, clock: ManualClock) -> None:
    # The import refuses an alias of an unknown code (masterdata.unknown_reference).
    behind_the_back(hub, insert(t.aliases).values(site=SITE, system="LIMS", kind="test",
                    external_code="KF-H2O-X", canonical_code="NO-SUCH-TEST"))  # fmt: skip


def unparsable_limit(hub: Hub, plant: Plant, clock: ManualClock) -> None:
    # The import refuses such a line: it can only come from behind the application's back.
    ll = t.limit_lines.c
    behind_the_back(hub, update(t.limit_lines).where(ll.test_code == "ASSAY")
                    .values(limit="NLT ninety-eight"))  # fmt: skip


def cross_posting_mapping(hub: Hub, plant: Plant, clock: ManualClock) -> None:
    # The import refuses it (mapping.cross_posting); a mapping written behind its back is not.
    behind_the_back(hub, insert(t.mappings).values(site=SITE, characteristic="C-WATER",
                    test_code="ASSAY", sampling_point="SP-REL"))  # fmt: skip


def alias_differing_in_case(hub: Hub, plant: Plant, clock: ManualClock) -> None:
    imported(plant, aliases=[{"system": "LIMS", "kind": "test", "external": "hplc-asy ",
                              "canonical": "ASSAY"}])  # fmt: skip


def request_never_registered(hub: Hub, plant: Plant, clock: ManualClock) -> None:
    body = {"mes_request_id": "REQ-DQ-1", "product": "P1", "sampled_at": "2026-11-25T08:00:00Z",
            "batch": "B1", "sampling_point": "SP-REL"}  # fmt: skip
    assert plant.call("mes", "POST", "/sample-requests", json=body).status_code == 201
    clock.advance(hours=26)
    plant.tokens.clear()  # signed in again: tokens last 30 minutes


def outbox_undelivered(hub: Hub, plant: Plant, clock: ManualClock) -> None:
    request_sample(plant, "REQ-DQ-2")  # acknowledged to the MES through the outbox
    clock.advance(minutes=61)  # and no relay delivered it
    plant.tokens.clear()


def status_off_the_map(hub: Hub, plant: Plant, clock: ManualClock) -> None:
    sample = request_sample(plant, "REQ-DQ-3")
    code = approved_result(plant, sample, "ASSAY", "99.62", "%")
    r = t.results.c
    behind_the_back(hub, update(t.results).where(r.code == code).values(mes_status="Rejected"))


def product_without_spec(hub: Hub, plant: Plant, clock: ManualClock) -> None:
    # The import refuses a product naming an unknown specification.
    behind_the_back(hub, insert(t.products).values(site=SITE, code="P-ORPHAN", name="Orphan",
                                                   specification="SPEC-NONE"))  # fmt: skip


def result_left_preliminary(hub: Hub, plant: Plant, clock: ManualClock) -> None:
    sample = request_sample(plant, "REQ-DQ-4")
    body = {"sample": sample, "test_code": "ASSAY", "value": "99.1", "unit": "%",
            "method_version": "1", "analyst": "analyst"}  # fmt: skip
    assert plant.call("analyst", "POST", "/results", json=body).status_code == 201
    clock.advance(hours=73)  # nobody reviewed it
    plant.tokens.clear()


def message_held_too_long(hub: Hub, plant: Plant, clock: ManualClock) -> None:
    # A message ahead of a gap is quarantined when the hold timeout ends; one still held after
    # it means that sweep did not run.
    behind_the_back(hub, insert(t.inbox_messages).values(
        source="mes", message_id="01937000-0000-7000-8000-00000000dq01", stream="requests",
        sequence=99, schema="labgate.sample_request.v1", site=SITE, channel="rest",
        received_at=clock.now(), payload_hash="0" * 64, raw=b"{}", status="held"))  # fmt: skip
    clock.advance(seconds=601)
    plant.tokens.clear()


def gate_entry_of_no_sample(hub: Hub, plant: Plant, clock: ManualClock) -> None:
    behind_the_back(hub, insert(t.gate_entries).values(
        site=SITE, batch="B1", sampling_point="SP-REL", sample="S-GHOST", mes_status="Pending",
        cancelled=False))  # fmt: skip


DEFECTS = {
    "DQ-COMPLETE-001": (product_without_spec, "P-ORPHAN"),
    "DQ-TIMELY-002": (result_left_preliminary, "S-"),
    "DQ-TIMELY-003": (message_held_too_long, "mes/01937000-0000-7000-8000-00000000dq01"),
    "DQ-CONSIST-002": (gate_entry_of_no_sample, "S-GHOST"),
    "DQ-COMPLETE-002": (numeric_test_without_unit, "PH"),
    "DQ-COMPLETE-003": (ipc_point_without_plan, "SP-NOPLAN"),
    "DQ-VALID-001": (unparsable_limit, "SPEC-A/v1/release/ASSAY"),
    "DQ-VALID-002": (alias_to_nowhere, "LIMS/test/KF-H2O-X"),
    "DQ-UNIQUE-001": (cross_posting_mapping, "ASSAY: C-ASSAY@* / C-WATER@SP-REL"),
    "DQ-UNIQUE-002": (alias_differing_in_case, "LIMS/test/hplc-asy"),
    "DQ-TIMELY-001": (request_never_registered, "S-"),
    "DQ-TIMELY-004": (outbox_undelivered, ""),
    "DQ-CONSIST-001": (status_off_the_map, "S-"),
}


@pytest.mark.requirement("URS-A11-11", category="positive")
def test_every_rule_passes_on_the_seeded_plant_and_the_run_is_kept_and_audited(
    hub: Hub, plant: Plant
) -> None:
    shown = run(plant)
    assert [x["rule"] for x in shown["results"]] == [r.id for r in RULES]
    assert {x["status"] for x in shown["results"]} == {"pass"}, shown
    assert (shown["breaches"], shown["trigger"], shown["started_by"]) == (0, "api", "admin")
    assert dq_deviations(hub) == []
    a = t.audit_entries.c
    with hub.engine.connect() as connection:
        [entry] = connection.execute(select(a.actor, a.after).where(a.action == "dq.run")).all()
    assert entry.actor == "admin" and entry.after["breaches"] == []


@pytest.mark.requirement("URS-A11-13", category="negative")
@pytest.mark.parametrize("rule", sorted(DEFECTS))
def test_a_planted_defect_breaches_its_rule_names_the_record_and_opens_a_deviation(
    hub: Hub, plant: Plant, clock: ManualClock, rule: str
) -> None:
    assert line(run(plant), rule)["status"] == "pass"
    plant_it, example = DEFECTS[rule]
    plant_it(hub, plant, clock)
    shown = run(plant)
    breached = line(shown, rule)
    assert breached["status"] == "breach" and breached["measured"] >= 1, breached
    assert any(key.startswith(example) for key in breached["examples"]), breached
    assert breached["deviation_state"] == "open_phase1"
    assert (breached["deviation"], rule, "open_phase1") in dq_deviations(hub)
    deviation = plant.call("qa", "GET", f"/deviations/{breached['deviation']}").json()
    assert (deviation["kind"], deviation["sample"]) == ("data_quality", rule)
    assert deviation["reason"].startswith(f"Data-quality breach {rule} (")


@pytest.mark.requirement("URS-A11-13", category="boundary")
def test_a_breach_opens_one_deviation_noted_by_later_runs_and_closed_only_with_a_capa(
    hub: Hub, plant: Plant, clock: ManualClock
) -> None:
    alias_to_nowhere(hub, plant, clock)
    first, second = line(run(plant), "DQ-VALID-002"), line(run(plant), "DQ-VALID-002")
    assert first["deviation"] == second["deviation"]
    code = first["deviation"]
    assert dq_deviations(hub) == [(code, "DQ-VALID-002", "open_phase1")]
    a = t.audit_entries.c
    noted = select(a.action).where(a.record_id == code).order_by(a.seq)
    with hub.engine.connect() as connection:
        assert list(connection.scalars(noted)) == ["deviation.opened", "deviation.breach_continues"]

    path = f"/deviations/{code}"
    found = {"conclusion": "assignable_cause", "reason": "the alias was typed wrongly",
             "signature": plant.signature("reviewer", "reviewed")}  # fmt: skip
    refused = plant.call("reviewer", "POST", f"{path}/phase1", json=found)
    assert (refused.status_code, refused.json()["reason"]) == (422, "deviation.dq_not_invalidated")
    found["conclusion"] = "no_assignable_cause"
    assert plant.call("reviewer", "POST", f"{path}/phase1", json=found).status_code == 200
    confirmed = {"conclusion": "confirmed", "rationale": "alias import lacked a check",
                 "signature": plant.signature("reviewer", "reviewed")}  # fmt: skip
    assert plant.call("reviewer", "POST", f"{path}/phase2", json=confirmed).status_code == 200
    closure: dict[str, Any] = {"reason": "alias corrected",
                               "signature": plant.signature("qa", "approved")}  # fmt: skip
    refused = plant.call("qa", "POST", f"{path}/closure", json=closure)
    assert (refused.status_code, refused.json()["reason"]) == (422, "deviation.capa_required")
    closed = plant.call("qa", "POST", f"{path}/closure", json={**closure, "capa": "CAPA-2026-7"})
    assert closed.status_code == 200, closed.text
    assert closed.json()["capa"] == "CAPA-2026-7"

    again = line(run(plant), "DQ-VALID-002")  # still in breach after closure: a new deviation
    assert again["deviation"] != code
    assert [d[2] for d in dq_deviations(hub)] == ["closed", "open_phase1"]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> pytest.MonkeyPatch:
    monkeypatch.setenv("LABGATE_DATABASE_URL", settings.database_url)
    monkeypatch.delenv("LABGATE_DEMO", raising=False)
    # The CLI reads the system clock; the seeded plant's records are stamped at the test START.
    monkeypatch.setenv("LABGATE_DQ_OUTBOX_MINUTES", "525600")
    return monkeypatch


@pytest.mark.requirement("URS-A11-11", category="failure_recovery")
def test_the_cli_exits_0_within_thresholds_1_on_a_breach_2_for_an_unknown_site(
    hub: Hub, plant: Plant, clock: ManualClock, env: pytest.MonkeyPatch
) -> None:
    fine = runner.invoke(dq_app, ["run"])
    assert fine.exit_code == 0, fine.output
    assert f"at {SITE}: 0 of {len(RULES)} rules in breach" in fine.output
    unparsable_limit(hub, plant, clock)
    breach = runner.invoke(dq_app, ["run", "--site", SITE])
    assert breach.exit_code == 1, breach.output
    assert "  breach DQ-VALID-001    validity     2 of 6 failing (at most 0" in breach.output
    unknown = runner.invoke(dq_app, ["run", "--site", "NOWHERE"])
    assert unknown.exit_code == 2 and "[site.unknown]" in unknown.output
    assert runner.invoke(dq_app, ["rules"]).exit_code == 0
    triggers = select(t.dq_runs.c.trigger, t.dq_runs.c.started_by).order_by(t.dq_runs.c.id)
    with hub.engine.connect() as connection:
        rows = connection.execute(triggers).all()
    assert [r.trigger for r in rows] == ["cli", "cli"]
    assert all(r.started_by.startswith("cli:") for r in rows)


def test_the_schedule_runs_every_site_as_labgate_dq_when_due(hub: Hub, plant: Plant) -> None:
    schedule = DqSchedule(hub)
    assert schedule.every == 3600
    schedule()  # not due until one interval after start
    schedule.due = 0
    schedule()
    with hub.engine.connect() as connection:
        rows = connection.execute(select(t.dq_runs.c.trigger, t.dq_runs.c.started_by)).all()
    assert [(r.trigger, r.started_by) for r in rows] == [("schedule", "labgate-dq")]


@pytest.mark.requirement("URS-A11-11", category="positive")
def test_the_api_lists_rules_and_runs_in_pages(hub: Hub, plant: Plant) -> None:
    rules = plant.call("auditor", "GET", "/api/v1/dq/rules").json()["items"]
    assert [r["id"] for r in rules] == [r.id for r in RULES]
    assert {r["dimension"] for r in rules} == {
        "completeness", "validity", "uniqueness", "timeliness", "consistency"
    }  # fmt: skip
    ids = [run(plant)["id"] for _ in range(3)]
    first = plant.call("auditor", "GET", "/api/v1/dq/runs?limit=2").json()
    assert [r["id"] for r in first["items"]] == ids[:0:-1] and first["next_cursor"]
    rest = plant.client.get(first["next"], headers=plant.headers("auditor")).json()
    assert [r["id"] for r in rest["items"]] == ids[:1] and rest["next_cursor"] is None
    assert plant.call("auditor", "GET", "/api/v1/dq/runs?site=NOWHERE").json()["items"] == []
    one = plant.call("auditor", "GET", f"/api/v1/dq/runs/{ids[0]}")
    assert one.status_code == 200 and len(one.json()["results"]) == len(RULES)
    missing = plant.call("auditor", "GET", "/api/v1/dq/runs/999999")
    assert (missing.status_code, missing.json()["reason"]) == (404, "dq_run.unknown")
    refused = plant.call("auditor", "POST", "/dq/runs")
    assert (refused.status_code, refused.json()["reason"]) == (403, "access.missing_permission")


@pytest.mark.requirement("URS-A11-11", category="positive")
def test_the_console_shows_the_latest_run_per_rule_and_my_work_counts_breaches(
    hub: Hub, plant: Plant, clock: ManualClock
) -> None:
    alias_to_nowhere(hub, plant, clock)
    client = plant.client
    sign_in(client, "qa", plant.passwords["qa"])
    empty = client.get(f"/console/sites/{SITE}/dq")
    assert empty.status_code == 200 and 'data-breaches="none"' in empty.text
    ran = client.post(f"/console/sites/{SITE}/dq/runs", data={"csrf_token": csrf_of(empty.text)},
                      follow_redirects=False)  # fmt: skip
    assert ran.status_code == 303, ran.text
    page = client.get(f"/console/sites/{SITE}/dq").text
    assert 'id="dq-latest" data-breaches="1"' in page
    assert '<tr data-rule="DQ-VALID-002" data-status="breach">' in page
    assert "<code>LIMS/test/KF-H2O-X</code>" in page
    [(code, _, _)] = dq_deviations(hub)
    assert f'/sites/{SITE}/deviations/{code}"' in page
    home = client.get(f"/console/sites/{SITE}/").text
    assert "Data-quality rules in breach" in home and f'href="/console/sites/{SITE}/dq"' in home
    deviation = client.get(f"/console/sites/{SITE}/deviations/{code}").text
    assert 'data-dq-rule="DQ-VALID-002"' in deviation
