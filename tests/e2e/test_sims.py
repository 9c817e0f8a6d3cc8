"""The simulated MES and LIMS (`labgate-sim mes|lims`) as separate processes against labgate's
own (`serve`, the channel's worker, `relay run`) on PostgreSQL: the whole lifecycle of the core
issue over each channel — REST, AMQP, MQTT, file packs in a drop folder and over SFTP — again
with B2MML V0701 on the MES side (its requests as ProcessOperationsSchedule documents, labgate's
answers as signed B2MML documents) over REST and AMQP, and the fault modes end to end once, over
REST."""

from __future__ import annotations

import json
import secrets
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hubproc import Hub, Proc, audit_verify, journal, vhost
from hubproc import wait_until as wait
from senders import forget_mqtt_session
from sshd import Sshd, free_port

pytestmark = pytest.mark.postgres

ACK, RESULT = "labgate.sample_acknowledgement.v1", "labgate.mes_result.v1"
B2MML = "labgate.b2mml.v1"
SAMPLES = 3
FAST_LIMS = ("--turnaround", "1", "--speed", "1", "--oos-rate", "0.3", "--seed", "11")


@contextmanager
def channel_setup(
    channel: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[dict[str, str], str | None]]:
    """The LABGATE_* settings the worker and the simulators share, and the worker to run."""
    if channel == "amqp":
        with vhost() as url:
            yield {"LABGATE_AMQP_URL": url}, "amqp"
    elif channel == "sftp":
        server: Sshd = request.getfixturevalue("sshd")
        root = server.home / f"packs-{secrets.token_hex(4)}"
        yield (
            {
                "LABGATE_SFTP_HOST": server.host,
                "LABGATE_SFTP_PORT": str(server.port),
                "LABGATE_SFTP_USER": server.username,
                "LABGATE_SFTP_KEY_FILE": str(server.client_key),
                "LABGATE_SFTP_KNOWN_HOSTS": str(server.known_hosts),
                "LABGATE_SFTP_ROOT": str(root),
            },
            "files",
        )
    elif channel == "files":
        yield {"LABGATE_PACK_FOLDER": str(tmp_path / "exchange")}, "files"
    elif channel == "mqtt":
        # A topic and a worker session of this run's own: the machine's Mosquitto is shared,
        # and another run's messages (another hub's keys) would be quarantined here.
        tag = secrets.token_hex(4)
        client_id = f"labgate-inbox-{tag}"
        forget_mqtt_session(client_id)
        try:
            yield {"LABGATE_MQTT_TOPIC_PREFIX": f"labgate-test-{tag}",
                   "LABGATE_MQTT_SITE": "PLT1", "LABGATE_MQTT_SOURCES": '["mes", "lims"]',
                   "LABGATE_MQTT_CLIENT_ID": client_id}, "mqtt"  # fmt: skip
        finally:
            forget_mqtt_session(client_id)  # nothing left queued for a session no one resumes
    else:
        yield {}, None if channel == "rest" else channel


@dataclass
class Run:
    """One run of the simulators against the hub, and what each of them wrote down."""

    hub: Hub
    prefix: str
    mes: Proc
    lims: Proc

    def received(self, schema: str) -> list[dict[str, Any]]:
        """Payloads the MES took, of one schema, for this run's requests only."""
        return [line["payload"] for line in self.received_lines(schema)]

    def received_lines(self, schema: str) -> list[dict[str, Any]]:
        """The MES's journal lines of what it took, of one schema, for this run's requests."""
        lines = journal(self.hub.folder / "mes.jsonl", "received")
        return [
            line
            for line in lines
            if line["schema"] == schema
            and str(line["payload"].get("mes_request_id")).startswith(self.prefix)
        ]

    def planned(self) -> dict[str, list[str]]:
        """The tests planned on each sample, as the acknowledgements told the MES."""
        return {a["sample_id"]: [t["test_code"] for t in a["tests"]] for a in self.received(ACK)}

    def done(self) -> bool:
        """Every sample acknowledged, and a result for every planned test."""
        planned = self.planned()
        expected = sum(len(tests) for tests in planned.values())
        return len(planned) == SAMPLES and len(self.received(RESULT)) >= expected

    def lims_lines(self, event: str) -> list[dict[str, Any]]:
        """The LIMS's journal lines of one event."""
        return journal(self.hub.folder / "lims.jsonl", event)

    def summary(self, proc: Proc) -> dict[str, Any]:
        """Stop a simulator; the summary it printed."""
        assert proc.stop() == 0, proc.output()
        [line] = [x for x in proc.output().splitlines() if x.startswith("summary ")]
        report: dict[str, Any] = json.loads(line.removeprefix("summary "))
        return report


def run_sims(
    hub: Hub,
    channel: str,
    env: dict[str, str],
    worker: str | None,
    *lims_args: str,
    mes_format: str = "json",
) -> Run:
    """labgate's processes and the simulators (a simulator retries until labgate answers), the
    relay once the simulators listen; returns once the MES has every result. `mes_format` is
    what the MES speaks, and so what the relay sends it (LABGATE_MES_FORMAT)."""
    lims_port, mes_port = free_port(), free_port()
    hub.serve()
    if worker is not None:
        hub.start("worker", "worker", worker, **env)
    lims = hub.sim("lims", lims_port, "--channel", "files" if channel == "sftp" else channel,
                   *lims_args, **env)  # fmt: skip
    if worker == "mqtt":  # its persistent session must be subscribed before the MES publishes
        hub.procs[1].wait_for("subscribed to")  # printed once the broker acknowledged it
    prefix = f"E2E-{channel.upper()}-{secrets.token_hex(2)}"
    mes = hub.sim("mes", mes_port, "--channel", channel if channel in ("amqp", "mqtt") else "rest",
                  "--count", str(SAMPLES), "--rate", "5", "--prefix", prefix,
                  "--format", mes_format, **env)  # fmt: skip
    hub.wait_serving()
    for sim in (lims, mes):
        sim.wait_for("listening on")
    # The relay starts once both webhooks listen: a delivery refused before that waits out the
    # relay's back-off, which under a loaded CI machine outlasted the wait below.
    hub.start("relay", "relay", "run", "--interval", "0.2",
              LABGATE_MES_WEBHOOK_URL=f"http://127.0.0.1:{mes_port}/mes",
              LABGATE_LIMS_WEBHOOK_URL=f"http://127.0.0.1:{lims_port}/lims",
              LABGATE_MES_FORMAT=mes_format)  # fmt: skip
    run = Run(hub, prefix, mes, lims)
    wait("the MES got every result", run.done, hub.procs, seconds=60)
    return run


def check_results(run: Run) -> list[str]:
    """One result per planned test per sample, as the LIMS reported it, judged right."""
    planned = run.planned()
    got = run.received(RESULT)
    expected = {(sample, test) for sample, tests in planned.items() for test in tests}
    assert Counter((r["sample_id"], r["test_code"]) for r in got) == dict.fromkeys(expected, 1)
    reported = {(r["sample"], r["test_code"]): r for r in run.lims_lines("result")}
    statuses = []
    for result in got:
        sent = reported[(result["sample_id"], result["test_code"])]
        assert (result["raw_value"], result["raw_unit"]) == (sent["value"], sent["unit"])
        assert (result["lims_status"], result["reviewer"]) == ("approved", "lims-reviewer")
        assert result["result_status"] == ("Rejected" if sent["oos"] else "Accepted"), result
        statuses.append(result["result_status"])
    return statuses


def results_per_test(hub: Hub, prefix: str) -> Counter[tuple[str, str]]:
    """How many results labgate holds per (sample, test) for this run: one means no double."""
    query = (
        "SELECT s.code, r.test_code FROM results r JOIN samples s ON s.id = r.sample_id "
        "WHERE s.mes_request_id LIKE %s"
    )
    with psycopg.connect(hub.env["LABGATE_DATABASE_URL"].replace("+psycopg", "")) as db:
        return Counter(db.execute(query, (prefix + "%",)).fetchall())


def check_lifecycle(
    hub: Hub, channel: str, request: pytest.FixtureRequest, tmp_path: Path, mes_format: str
) -> tuple[Run, dict[str, Any]]:
    """The core issue's lifecycle with the simulators, and what the MES summed up: a result per
    planned test with the LIMS's value and unit, Accepted and Rejected as the values call for,
    each held once, nothing refused or quarantined, the audit trail intact."""
    with channel_setup(channel, tmp_path, request) as (env, worker):
        run = run_sims(hub, channel, env, worker, *FAST_LIMS, mes_format=mes_format)
        statuses = check_results(run)
        mes, lims = run.summary(run.mes), run.summary(run.lims)
        quarantined = hub.quarantine()
        hub.stop_all()  # before the vhost goes
    assert set(statuses) == {"Accepted", "Rejected"}  # seed 11 draws both, whatever the order
    assert sum(results_per_test(hub, run.prefix).values()) == len(statuses)
    assert (mes["requested"], mes["refused"], mes["waiting"]) == (SAMPLES, 0, 0)
    assert mes["latency_s"]["count"] == len(statuses)
    assert lims["failures"] == 0 and lims["waiting"] == 0
    assert set(lims["outcomes"]) <= {"applied", "published"}
    audit_verify(hub.env)
    assert quarantined == []
    return run, mes


@pytest.mark.parametrize("channel", ["rest", "amqp", "mqtt", "files", "sftp"])
def test_the_lifecycle_runs_with_the_simulators_over_each_channel(
    channel: str, running: Hub, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    run, mes = check_lifecycle(running, channel, request, tmp_path, "json")
    assert set(mes["bodies"]) == {"application/json"}
    assert {line["document"] for line in run.received_lines(RESULT)} == {None}


@pytest.mark.parametrize("channel", ["rest", "amqp"])
def test_the_lifecycle_runs_with_b2mml_on_the_mes_side(
    channel: str, running: Hub, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    run, mes = check_lifecycle(running, channel, request, tmp_path, "b2mml")

    # The MES asked in B2MML: every request a ProcessOperationsSchedule in a signed envelope.
    sent = journal(running.folder / "mes.jsonl", "sent")
    assert [s["schema"] for s in sent] == [B2MML] * SAMPLES
    assert {s["status"] for s in sent} == {"published" if channel == "amqp" else "applied"}
    placed = {(r["batch"], r["sampling_point"]) for r in run.received(RESULT)}
    assert placed == {("B-PCM-24002", "SP-PCM-REL")}  # the step the schedule named

    # labgate answered in B2MML: every acknowledgement and result came as an XML document,
    # its detached signature verified with labgate's key and the document valid against the XSDs.
    checks = {"content_type": "application/xml", "verified": "X-Labgate-Signature",
              "validated": "B2MML V0701"}  # fmt: skip
    for schema, document in ((ACK, "AcknowledgeOperationsSchedule"), (RESULT, "ProcessTestResult")):
        lines = run.received_lines(schema)
        assert lines, schema
        for line in lines:
            assert {k: line[k] for k in checks} == checks, line
            assert line["document"] == document
            assert line["message_id"] and line["sequence"] >= 1
    assert mes["bodies"]["application/xml"] >= SAMPLES + len(run.received(RESULT))


def test_fault_modes_end_to_end_over_rest(running: Hub, tmp_path: Path) -> None:
    faults = ("duplicate=0.3", "reorder=0.4", "bad_signature=0.3", "unknown_field=0.3")
    args = [*FAST_LIMS, *(x for fault in faults for x in ("--fault", fault))]
    run = run_sims(running, "rest", {}, None, *args)
    check_results(run)
    run.summary(run.mes), run.summary(run.lims)
    sent = run.lims_lines("sent")
    assert {f for s in sent for f in s["faults"]} >= {
        "duplicate", "reorder", "bad_signature", "unknown_field"
    }  # fmt: skip

    # Applied once each: a duplicate changes nothing, and labgate holds no second result.
    assert {s["status"] for s in sent if "duplicate" in s["faults"]} == {"duplicate"}
    assert set(results_per_test(running, run.prefix).values()) == {1}

    # The damaged copies are quarantined with the reason their fault calls for, and only they.
    reasons = {
        "bad_signature": "envelope.bad_signature",
        "unknown_field": "envelope.schema_violation",
    }
    damaged = [s for s in sent if s["damaged"]]
    assert all(s["status"] == "refused" for s in damaged)
    assert all(s["reason"] == reasons[s["faults"][-1]] for s in damaged)
    quarantined = {str(q["id"]): q for q in running.quarantine()}
    assert set(quarantined) == {s["quarantine_id"] for s in damaged}
    assert Counter(q["reason_code"] for q in quarantined.values()) == Counter(
        s["reason"] for s in damaged
    )

    # Every intact message was applied in the end, the overtaking ones after being held.
    with psycopg.connect(running.env["LABGATE_DATABASE_URL"].replace("+psycopg", "")) as db:
        rows = db.execute("SELECT message_id, status FROM inbox_messages WHERE source = 'lims'")
        status = dict(rows.fetchall())
    held = [s["message_id"] for s in sent if s["status"] == "held"]
    assert held, "the seed must reorder at least one pair across a sequence gap"
    assert {status[m] for m in held} == {"applied"}
    assert {status[s["message_id"]] for s in sent if not s["damaged"]} == {"applied"}
    audit_verify(running.env)
