"""Trusted time, on both databases: the hub's clock checked against a real NTP server on a
loopback port (tests/ntp.py) by `labgate clock check` and by the relay, a drift and a silent
server audited and shown as an alarm by the API and the desk, the return to ok audited once,
and each source's clock skew tracked from the envelopes it sends."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from test_console import sign_in
from typer.testing import CliRunner

from fakes import ManualClock
from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from labgate.compliance.signer import Signer
from labgate.config import Settings
from labgate.entrypoints.cli.clock import clock_app
from labgate.entrypoints.cli.relay import relay_app
from ntp import ntp_server, silent_address
from plant import SITE, Plant, SeededPlant
from senders import Sender, register, request

runner = CliRunner()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> pytest.MonkeyPatch:
    monkeypatch.setenv("LABGATE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LABGATE_NTP_MAX_OFFSET_MS", "500")
    for name in ("LABGATE_DEMO", "LABGATE_NTP_SERVER", "LABGATE_SIGNING_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def clock_trail(hub: Hub) -> list[tuple[str, str, dict[str, object]]]:
    a = t.audit_entries.c
    query = select(a.action, a.actor, a.after).where(a.record_type == "clock").order_by(a.seq)
    with hub.engine.connect() as connection:
        return [(row.action, row.actor, row.after) for row in connection.execute(query)]


def checks(hub: Hub) -> list[str]:
    c = t.clock_checks.c
    with hub.engine.connect() as connection:
        return list(connection.scalars(select(c.status).order_by(c.id)))


@pytest.mark.requirement("URS-P11-11.10e", category="failure_recovery")
def test_a_check_within_the_threshold_is_history_a_drift_an_alarm_audited_until_it_ends(
    hub: Hub, env: pytest.MonkeyPatch
) -> None:
    with ntp_server(offset=0.0) as server:
        fine = runner.invoke(clock_app, ["check", "--server", server.address])
        assert fine.exit_code == 0, fine.output
        assert fine.output.startswith(f"ok: Within 500 ms of {server.address}")
        assert clock_trail(hub) == []  # an ok run is history enough

        server.offset = 2.0  # the NTP server two seconds ahead: the hub's clock is behind
        for _ in range(2):
            drift = runner.invoke(clock_app, ["check", "--server", server.address])
            assert drift.exit_code == 1, drift.output
            # ~2000 ms: the loopback round trip and the time between the two reads add a little
            said = re.search(r"drift: The hub's clock is (\d+\.\d) ms behind", drift.output)
            assert said is not None and 1990 < float(said[1]) < 2050, drift.output

        server.offset = 0.1
        back = runner.invoke(clock_app, ["check", "--server", server.address])
        assert back.exit_code == 0, back.output

    silent = runner.invoke(clock_app, ["check", "--server", silent_address()])
    assert silent.exit_code == 3, silent.output
    assert "unreachable: No answer from 127.0.0.1:" in silent.output

    assert checks(hub) == ["ok", "drift", "drift", "ok", "unreachable"]
    trail = clock_trail(hub)
    assert [action for action, _, _ in trail] == [
        "clock.drift", "clock.drift", "clock.recovered", "clock.unreachable"
    ]  # fmt: skip
    assert {actor for _, actor, _ in trail} == {"labgate-clock"}
    first = trail[0][2]
    assert first["status"] == "drift" and first["threshold_ms"] == "500.000"
    assert 1990 < float(first["offset_ms"]) < 2010  # type: ignore[arg-type]


def test_without_a_server_the_check_says_how_to_set_one(env: pytest.MonkeyPatch) -> None:
    answer = runner.invoke(clock_app, ["check"])
    assert answer.exit_code == 2
    assert "set LABGATE_NTP_SERVER or pass --server" in answer.output


def test_the_relay_checks_the_clock_after_its_pass(
    hub: Hub, env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    signer = Signer.generate("labgate-2026-1")
    key = tmp_path / "labgate.private.jwk.json"
    key.write_text(json.dumps({**signer.private_jwk, "kid": signer.kid}), encoding="utf-8")
    env.setenv("LABGATE_SIGNING_KEY_FILE", str(key))
    env.setenv("LABGATE_MES_WEBHOOK_URL", "http://127.0.0.1:9/mes")  # nothing owed: not called
    with ntp_server(offset=-3.0) as server:
        env.setenv("LABGATE_NTP_SERVER", server.address)
        result = runner.invoke(relay_app, ["run", "--once"])
        assert result.exit_code == 0, result.output
        assert server.answered == 1
    assert checks(hub) == ["drift"]
    assert [action for action, _, _ in clock_trail(hub)] == ["clock.drift"]


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


@pytest.mark.requirement("URS-P11-11.10e", category="negative")
def test_the_api_and_the_desk_show_the_alarm_and_each_sources_clock(
    hub: Hub, plant: Plant, clock: ManualClock, settings: Settings, env: pytest.MonkeyPatch
) -> None:
    def mes_clock() -> dict[str, object]:
        answer = plant.call("auditor", "GET", "/api/v1/clock").json()
        rows = {row["source"]: row for row in answer["sources"]}
        return rows.get("mes", {"messages": 0, "max_ms": 0})

    before = mes_clock()
    late = Sender(hub, "mes", "late-requests", "mes-late-1", register(hub, "mes", "mes-late-1"))
    for seconds in (3.0, 5.0):  # its clock runs behind ours: its sent_at seconds in the past
        raw = request(late, f"REQ-LATE-{seconds}", sent_at=clock.now() - timedelta(seconds=seconds))
        assert late.send(raw).status == "applied"

    settings.ntp_server = None
    quiet = plant.call("auditor", "GET", "/api/v1/clock").json()
    assert quiet["alarm"] is False and quiet["configured_server"] is None
    skew = mes_clock()
    assert skew["messages"] == int(before["messages"]) + 2  # type: ignore[call-overload]
    assert (skew["last_ms"], skew["max_ms"]) == (5000, max(5000, int(before["max_ms"])))  # type: ignore[call-overload]

    settings.ntp_server = "ntp.plant.example:123"  # configured, never checked: an alarm
    assert plant.call("auditor", "GET", "/api/v1/clock").json()["alarm"] is True
    with ntp_server(offset=1.5) as server:
        settings.ntp_server = server.address
        env.setenv("LABGATE_NTP_SERVER", server.address)
        assert runner.invoke(clock_app, ["check"]).exit_code == 1
        shown = plant.call("auditor", "GET", "/api/v1/clock").json()
    assert shown["alarm"] is True
    assert shown["states"][0]["status"] == "drift"
    assert (
        shown["checks"][0]["status"] == "drift" and shown["checks"][0]["server"] == server.address
    )

    sign_in(plant.client, "auditor", plant.passwords["auditor"])
    page = plant.client.get(f"/console/sites/{SITE}/desk/clock")
    assert page.status_code == 200, page.text
    assert 'id="clock-state" data-alarm="true"' in page.text
    assert "clock.drift" in page.text and re.search(r"\+1(49\d|50\d)\.\d", page.text)
    assert '<tr data-source="mes">' in page.text

    assert plant.client.get("/api/v1/clock", headers={"X-API-Key": "nope"}).status_code == 401
