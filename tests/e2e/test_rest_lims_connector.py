"""`labgate connector rest-lims` as a separate process between a served labgate (with its relay)
on PostgreSQL and a fake LIMS with a REST API of its own (tests/restlims.py), driven by the
documented example mapping: a sample requested by the MES is registered in the LIMS with the
mapped fields, labgate learns the LIMS's id, results entered in the LIMS are pulled and judged
by labgate, a connector killed half-way and a LIMS that serves its records again double nothing,
and what cannot be right is quarantined by labgate (or skipped and logged) rather than mended."""

from __future__ import annotations

import random
import secrets
import signal
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import psycopg
import pytest
import yaml
from typer.testing import CliRunner

from hubproc import Hub, Proc, audit_verify, journal
from hubproc import wait_until as wait
from labgate.entrypoints.cli.connector import connector_app
from labgate_sim.lims import draw_value
from receiver import Receiver
from restlims import FakeLims, serving_lims
from sshd import free_port

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "rest-lims-mapping.yaml"
SITE = "PLT1"


@dataclass
class Setup:
    """The hub, the fake LIMS, and how to (re)start the connector between them."""

    hub: Hub
    lims: FakeLims
    mapping: Path
    port: int
    token: str

    def connector(self) -> Proc:
        """Start the connector (signing with the LIMS's registered key) and wait for it."""
        keys = self.hub.folder / "keys"
        proc = self.hub.start(
            "connector", "connector", "rest-lims", "--mapping", str(self.mapping),
            "--labgate-key", str(self.hub.labgate_key), "--url", self.hub.url,
            "--key-file", str(keys / "lims-sim-1.private.jwk.json"),
            "--state", str(self.hub.folder / "connector.state.json"),
            "--port", str(self.port), "--out", str(self.hub.folder / "connector.jsonl"),
            LABGATE_CONNECTOR_API_KEY=self.hub.credentials["lims"], LIMS_TOKEN=self.token,
        )  # fmt: skip
        proc.wait_for("listening on")
        return proc

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """labgate's site API as a system account (the MES by default)."""
        key = self.hub.credentials[kwargs.pop("account", "mes")]
        url = f"{self.hub.url}/api/v1/sites/{SITE}{path}"
        return httpx.request(method, url, headers={"X-API-Key": key}, timeout=30, **kwargs)

    def sample(self, code: str) -> dict[str, Any]:
        """labgate's view of one sample."""
        answer = self.call("GET", f"/samples/{code}", account="lims")
        assert answer.status_code == 200, answer.text
        view: dict[str, Any] = answer.json()
        return view

    def sent(self) -> list[dict[str, Any]]:
        """The connector's journal of what labgate answered."""
        return journal(self.hub.folder / "connector.jsonl", "sent")


@pytest.fixture
def setup(running: Hub, tmp_path: Path) -> Iterator[Setup]:
    token = secrets.token_urlsafe(16)
    with serving_lims(token) as (lims, url):
        document = yaml.safe_load(EXAMPLE.read_text()) | {"base_url": url}
        document["results"]["interval_seconds"] = 0.3
        mapping = tmp_path / "mapping.yaml"
        mapping.write_text(yaml.safe_dump(document))
        mes = Receiver().start()
        port = free_port()
        running.serve()
        running.wait_serving()
        map_lims_people(running, {"jdoe": "analyst", "asmith": "reviewer"})
        running.start("relay", "relay", "run", "--interval", "0.2",
                      LABGATE_MES_WEBHOOK_URL=mes.url("/mes"),
                      LABGATE_LIMS_WEBHOOK_URL=f"http://127.0.0.1:{port}/lims")  # fmt: skip
        try:
            yield Setup(running, lims, mapping, port, token)
        finally:
            running.stop_all()
            mes.stop()


def map_lims_people(hub: Hub, people: dict[str, str]) -> None:
    """As the integration engineer does before go-live: the LIMS's user ids -> labgate accounts."""
    form = {"username": "admin", "password": hub.credentials["admin"]}
    signed_in = httpx.post(f"{hub.url}/api/v1/token", data=form, timeout=30)
    assert signed_in.status_code == 200, signed_in.text
    headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    for external_id, account in people.items():
        body = {"account": account, "reason": "Go-live: the REST LIMS's user ids mapped"}
        url = f"{hub.url}/api/v1/sources/lims/identities/{external_id}"
        answer = httpx.put(url, json=body, headers=headers, timeout=30)
        assert answer.status_code == 200, answer.text


def request_sample(setup: Setup) -> tuple[str, str]:
    """The MES asks for a release sample; labgate's sample code and the MES request id."""
    request_id = f"E2E-RL-{secrets.token_hex(3)}"
    body = {"mes_request_id": request_id, "product": "PCM-500", "batch": "B-PCM-24002",
            "sampling_point": "SP-PCM-REL", "sampled_at": "2026-11-25T08:00:00Z"}  # fmt: skip
    answer = setup.call("POST", "/sample-requests", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["code"]), request_id


def applied_results(setup: Setup, code: str) -> list[dict[str, Any]]:
    """The results labgate holds on the sample."""
    results: list[dict[str, Any]] = setup.sample(code)["results"]
    return results


def inbox_counts(hub: Hub) -> Counter[str]:
    """The connector's messages in labgate's inbox, by status."""
    with psycopg.connect(hub.env["LABGATE_DATABASE_URL"].replace("+psycopg", "")) as db:
        rows = db.execute("SELECT status FROM inbox_messages WHERE stream = 'rest-lims'")
        return Counter(status for (status,) in rows.fetchall())


@pytest.mark.postgres
def test_a_sample_goes_through_the_rest_lims_and_back(setup: Setup) -> None:
    connector = setup.connector()
    code, request_id = request_sample(setup)
    procs = setup.hub.procs

    # The LIMS got the registration, its fields as the mapping says.
    wait("the LIMS has the sample", lambda: bool(setup.lims.samples), procs, 30)
    [(lims_id, registered)] = setup.lims.samples.items()
    planned = setup.sample(code)["tests"]
    codes = [t["test_code"] for t in planned]
    assert registered == {
        "SampleName": code,
        "ExternalRef": request_id,
        "Site": SITE,
        "Analyses": codes,
        "MethodVersions": [t["method_version"] for t in planned],
        "Comment": f"Requested by labgate for {SITE}/{code}",
    }
    # labgate knows the sample by the LIMS's id.
    wait("labgate has the LIMS id",
         lambda: setup.sample(code).get("lims_sample_id") == lims_id, procs, 30)  # fmt: skip

    # Results entered and approved in the LIMS: the first out of specification, half of them
    # before the connector is killed, the rest after; the LIMS then serves every record again.
    rng = random.Random(7)
    values = {t["test_code"]: draw_value(t["limit"], i == 0, rng, t.get("sig_figs"))
              for i, t in enumerate(planned)}  # fmt: skip
    half = len(planned) // 2 or 1
    for test in planned[:half]:
        setup.lims.enter(lims_id, test["test_code"], values[test["test_code"]], test["unit"])
    wait("the first results are applied",
         lambda: len(applied_results(setup, code)) == half, procs, 30)  # fmt: skip
    assert connector.stop(signal.SIGKILL) == -signal.SIGKILL
    setup.hub.procs.remove(connector)
    for test in planned[half:]:
        setup.lims.enter(lims_id, test["test_code"], values[test["test_code"]], test["unit"])
    setup.lims.rewind()
    setup.connector()
    wait("every result is applied",
         lambda: len(applied_results(setup, code)) == len(planned), procs, 30)  # fmt: skip
    wait("the LIMS served every record again",
         lambda: not setup.lims.rewound, procs, 10)  # fmt: skip

    # One result per test, the value as the LIMS reported it, judged by the bound limits.
    results = applied_results(setup, code)
    assert Counter(r["test_code"] for r in results) == dict.fromkeys(codes, 1)
    for result in results:
        assert result["raw_value"] == values[result["test_code"]]
        expected = "Rejected" if result["test_code"] == codes[0] else "Accepted"
        assert (result["status"], result["reviewer"]) == ("approved", "asmith")
        assert result["mes_status"] == expected, result
    assert inbox_counts(setup.hub) == {"applied": 1 + len(planned)}  # registration + results
    owed = journal(setup.hub.folder / "connector.jsonl", "owed")  # across both runs
    assert sorted(line["sequence"] for line in owed) == list(range(2, 2 + len(planned)))
    assert len({line["record"] for line in owed}) == len(planned)
    assert {s["status"] for s in setup.sent()} <= {"applied", "duplicate"}
    assert setup.hub.quarantine() == []
    audit_verify(setup.hub.env)


@pytest.mark.postgres
def test_what_the_mapping_cannot_make_right_is_not_mended(setup: Setup) -> None:
    setup.connector()
    code, _ = request_sample(setup)
    procs = setup.hub.procs
    wait("the LIMS has the sample", lambda: bool(setup.lims.samples), procs, 30)
    [lims_id] = setup.lims.samples

    # A test code labgate does not know: sent as it is, refused, quarantined with its reason.
    setup.lims.enter(lims_id, "NO-SUCH-TEST", "1.0", "%")
    # A status the value map does not know: passed as it is, refused by the payload schema.
    setup.lims.enter(lims_id, "ASSAY", "99.5", "%", status="X")
    # A record without an id: nothing to de-duplicate it by, so skipped and logged.
    setup.lims.enter(lims_id, "ASSAY", "99.6", "%", ResultId=None)
    wait("two refusals", lambda: len(setup.hub.quarantine()) == 2, procs, 30)
    reasons = sorted(q["reason_code"] for q in setup.hub.quarantine())
    assert reasons == ["envelope.schema_violation", "test.unknown"]
    refused = [s for s in setup.sent() if s["status"] == "refused"]
    assert len(refused) == 2 and all(s["quarantine_id"] for s in refused)
    wait("the skipped record logged",
         lambda: "skipped a LIMS result record" in procs[-1].output(), procs, 10)  # fmt: skip
    assert applied_results(setup, code) == []


def test_a_bad_mapping_file_exits_2_naming_the_field(tmp_path: Path) -> None:
    document = yaml.safe_load(EXAMPLE.read_text())
    document["results"]["fields"]["colour"] = "Colour"
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(yaml.safe_dump(document))
    key = tmp_path / "labgate.public.jwk.json"
    key.write_text('{"kty": "OKP", "crv": "Ed25519", "x": "AA", "kid": "k"}')
    args = ["--mapping", str(mapping), "--labgate-key", str(key), "--state",
            str(tmp_path / "state.json"), "--api-key", "k"]  # fmt: skip
    done = CliRunner().invoke(connector_app, ["rest-lims", *args], env={"LIMS_TOKEN": "t"})
    assert done.exit_code == 2, done.output
    assert "results.fields" in done.output and "'colour'" in done.output
    assert not (tmp_path / "state.json").exists()
