"""docs/implementers.md, run as written: its Python and JavaScript signers make envelopes labgate
applies, and its AMQP (pika) and MQTT (mosquitto_pub) commands reach the workers."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient

from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub
from labgate.compliance.envelope import generate_keypair
from packs import pgp_parties, registered_lims
from plant import SITE, Plant, SeededPlant
from senders import count, forget_mqtt_session
from sshd import Sshd
from streams import vhost

DOC = Path(__file__).resolve().parents[2] / "docs" / "implementers.md"
BIN = Path(sys.executable).parent
_BLOCK = re.compile(r"<!-- (file|run): (\S+) -->\n```[a-z]*\n(.*?)```", re.S)


def block(kind: str, name: str) -> str:
    """The doc's code block marked `<!-- kind: name -->`."""
    found = [
        text for k, n, text in _BLOCK.findall(DOC.read_text("utf-8")) if (k, n) == (kind, name)
    ]
    assert len(found) == 1, f"docs/implementers.md has {len(found)} blocks {kind}: {name}"
    return found[0]


def run(command: str, where: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """One of the doc's shell blocks, in bash, with the venv's python first on the path."""
    environment = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **env}
    return subprocess.run(["bash", "-euc", command], cwd=where, env=environment, text=True,
                          capture_output=True, timeout=180)  # fmt: skip


@pytest.fixture(scope="module")
def js(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the doc's npm packages installed; npm out of reach fails, never skips."""
    where = tmp_path_factory.mktemp("js")
    done = run(block("run", "npm"), where)
    assert done.returncode == 0, f"npm install failed (is the registry reachable?):\n{done.stderr}"
    (where / "sign.mjs").write_text(block("file", "sign.mjs"), "utf-8")
    return where


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


def register(plant: Plant, kid: str, alg: str = "Ed25519") -> dict[str, Any]:
    """A key pair whose public half is registered as key tools export it; the private JWK."""
    private, public = generate_keypair()
    jwk = public | {"kid": kid, "use": "sig", "alg": alg, "key_ops": ["verify"]}
    body = {"kid": kid, "public_jwk": jwk, "valid_from": "2026-01-01T00:00:00Z",
            "reason": "CR-9: the MES signing key"}  # fmt: skip
    answer = plant.call("admin", "POST", "/api/v1/sources/mes/keys", json=body)
    assert answer.status_code == 201, answer.text
    return private | {"kid": kid, "alg": alg}


def fields(request_id: str, stream: str, **more: Any) -> dict[str, Any]:
    payload = {"mes_request_id": request_id, "product": "P1", "batch": "B1",
               "sampling_point": "SP-REL", "sampled_at": "2026-11-24T10:00:00Z"}  # fmt: skip
    return {"schema": "labgate.sample_request.v1", "site": SITE, "source": "mes",
            "stream": stream, "sequence": 1, "correlation_id": f"trace-{request_id}",
            "payload": payload, **more}  # fmt: skip


def signed(where: Path, command: list[str], given: dict[str, Any], key: dict[str, Any]) -> bytes:
    """Run a doc signer on fields.json and private.jwk.json; the envelope it prints."""
    (where / "fields.json").write_text(json.dumps(given), "utf-8")
    (where / "private.jwk.json").write_text(json.dumps(key), "utf-8")
    done = subprocess.run([*command, "fields.json", "private.jwk.json"], cwd=where, text=True,
                          capture_output=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (where / "envelope.json").write_text(done.stdout, "utf-8")
    return done.stdout.encode()


def python_signer(where: Path) -> list[str]:
    (where / "sign.py").write_text(block("file", "sign.py"), "utf-8")
    return [sys.executable, "sign.py"]


def post(plant: Plant, raw: bytes) -> Any:
    headers = plant.headers("mes") | {"Content-Type": "application/json"}
    return plant.client.post("/api/v1/inbox", content=raw, headers=headers)


def published_schema(plant: Plant) -> jsonschema.Draft202012Validator:
    answer = plant.call("lims", "GET", "/api/v1/schemas/labgate.envelope")
    assert answer.status_code == 200, answer.text
    return jsonschema.Draft202012Validator(
        answer.json(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def test_the_python_example_signs_an_envelope_labgate_applies(
    plant: Plant, hub: Hub, tmp_path: Path
) -> None:
    key = register(plant, "mes-py")
    now = hub.bus.deps.clock.now().isoformat().replace("+00:00", "Z")
    raw = signed(tmp_path, python_signer(tmp_path), fields("REQ-PY", "py", sent_at=now), key)
    answer = post(plant, raw)
    assert (answer.status_code, answer.json()["status"]) == (200, "applied"), answer.text
    assert count(hub, t.samples, mes_request_id="REQ-PY") == 1
    envelope = json.loads(raw)
    published_schema(plant).validate(envelope)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        envelope["message_id"])  # fmt: skip


def test_the_javascript_example_signs_an_envelope_labgate_applies(
    plant: Plant, hub: Hub, js: Path
) -> None:
    key = register(plant, "mes-js")
    now = hub.bus.deps.clock.now().isoformat().replace("+00:00", "Z")
    raw = signed(js, ["node", "sign.mjs"], fields("REQ-JS", "js", sent_at=now), key)
    answer = post(plant, raw)
    assert (answer.status_code, answer.json()["status"]) == (200, "applied"), answer.text
    published_schema(plant).validate(json.loads(raw))


def test_a_key_registered_as_eddsa_takes_eddsa_and_only_eddsa(
    plant: Plant, hub: Hub, js: Path
) -> None:
    key = register(plant, "mes-legacy", alg="EdDSA")
    now = hub.bus.deps.clock.now().isoformat().replace("+00:00", "Z")
    raw = signed(js, ["node", "sign.mjs"], fields("REQ-ED", "ed", sent_at=now), key)
    assert json.loads(raw)["signature"]["alg"] == "EdDSA"
    assert post(plant, raw).json()["status"] == "applied"
    # The same key signing under the current name is refused: the registration chose the name.
    modern = signed(js, ["node", "sign.mjs"], fields("REQ-ED2", "ed", sequence=2, sent_at=now),
                    key | {"alg": "Ed25519"})  # fmt: skip
    answer = post(plant, modern)
    assert answer.status_code == 422, answer.text
    assert (answer.json()["reason"], answer.json()["field"]) == (
        "envelope.bad_algorithm",
        "signature.alg",
    )
    assert answer.headers["X-Sequence"] == "free"


def test_an_eddsa_envelope_on_a_key_registered_without_alg_is_refused(
    plant: Plant, hub: Hub, js: Path
) -> None:
    key = register(plant, "mes-modern")
    now = hub.bus.deps.clock.now().isoformat().replace("+00:00", "Z")
    raw = signed(
        js, ["node", "sign.mjs"], fields("REQ-X", "x", sent_at=now), key | {"alg": "EdDSA"}
    )
    assert post(plant, raw).json()["reason"] == "envelope.bad_algorithm"


@pytest.mark.parametrize(
    ("member", "value"),
    [("use", "enc"), ("alg", "RS256"), ("key_ops", ["sign"]), ("x5c", ["MII"])],
)
def test_a_jwk_member_that_does_not_fit_is_named(plant: Plant, member: str, value: Any) -> None:
    _, public = generate_keypair()
    body = {"kid": "k-bad", "public_jwk": public | {member: value},
            "valid_from": "2026-01-01T00:00:00Z", "reason": "CR-9: a signing key"}  # fmt: skip
    answer = plant.call("admin", "POST", "/api/v1/sources/mes/keys", json=body)
    assert answer.status_code == 422, answer.text
    assert (answer.json()["reason"], answer.json()["field"]) == (
        "key.bad_jwk",
        f"public_jwk.{member}",
    )


def test_the_published_schema_refuses_what_the_inbox_refuses(plant: Plant, tmp_path: Path) -> None:
    key = register(plant, "mes-schema")
    raw = signed(tmp_path, python_signer(tmp_path), fields("REQ-S", "s"), key)
    schema, envelope = published_schema(plant), json.loads(raw)
    schema.validate(envelope)
    wrong = {
        "upper-case id": envelope | {"message_id": envelope["message_id"].upper()},
        "unknown member": envelope | {"extra": 1},
        "attached jws": envelope | {"signature": envelope["signature"] | {"jws": "a.b.c"}},
        "sequence 0": envelope | {"sequence": 0},
    }
    assert {name: schema.is_valid(doc) for name, doc in wrong.items()} == dict.fromkeys(
        wrong, False
    )


# ---- the brokers, with the doc's own commands --------------------------------------------------


def start(kind: str, hub: Hub, **settings: str) -> subprocess.Popen[str]:
    env = {**os.environ, "LABGATE_DATABASE_URL": hub.settings.database_url, **settings}
    return subprocess.Popen([str(BIN / "labgate"), "worker", kind], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip


def stop(worker: subprocess.Popen[str]) -> str:
    worker.terminate()
    output, _ = worker.communicate(timeout=30)
    return output


def until_applied(hub: Hub, request_id: str, send: Any, seconds: float = 60) -> None:
    """Send with the doc's command until the worker (starting up) has applied the message."""
    deadline, last = time.monotonic() + seconds, ""
    while count(hub, t.samples, mes_request_id=request_id) == 0:
        assert time.monotonic() < deadline, f"not applied in time; the last send said: {last}"
        done = send()
        last = done.stdout + done.stderr
        time.sleep(1)
    assert count(hub, t.samples, mes_request_id=request_id) == 1


def message_lines(output: str) -> list[dict[str, Any]]:
    """The worker's one structured line per message."""
    marker = "labgate.messages INFO "
    return [json.loads(line.split(marker, 1)[1]) for line in output.splitlines() if marker in line]


def test_the_amqp_example_with_pika_reaches_the_worker(
    plant: Plant, hub: Hub, tmp_path: Path
) -> None:
    key = register(plant, "mes-amqp")
    signed(tmp_path, python_signer(tmp_path), fields("REQ-AMQP", "amqp"), key)
    (tmp_path / "publish_amqp.py").write_text(block("file", "publish_amqp.py"), "utf-8")
    with vhost() as url:
        worker = start("amqp", hub, LABGATE_AMQP_URL=url)
        try:
            until_applied(
                hub, "REQ-AMQP", lambda: run(block("run", "amqp"), tmp_path, AMQP_URL=url)
            )
        finally:
            output = stop(worker)
    assert "consuming" in output
    applied = [line for line in message_lines(output) if line["outcome"] == "applied"]
    named = ("channel", "correlation_id", "source", "stream", "sequence")
    assert [{k: line[k] for k in named} for line in applied] == [
        {"channel": "amqp", "correlation_id": "trace-REQ-AMQP", "source": "mes",
         "stream": "amqp", "sequence": 1}
    ]  # fmt: skip


def test_the_mqtt_example_with_mosquitto_pub_reaches_the_worker(
    plant: Plant, hub: Hub, tmp_path: Path
) -> None:
    key = register(plant, "mes-mqtt")
    signed(tmp_path, python_signer(tmp_path), fields("REQ-MQTT", "mqtt"), key)
    tag = secrets.token_hex(4)
    client_id, prefix = f"labgate-inbox-{tag}", f"labgate-doc-{tag}"
    forget_mqtt_session(client_id)
    worker = start("mqtt", hub, LABGATE_MQTT_TOPIC_PREFIX=prefix, LABGATE_MQTT_SITE=SITE,
                   LABGATE_MQTT_SOURCES='["mes"]', LABGATE_MQTT_CLIENT_ID=client_id)  # fmt: skip
    topic = {"MQTT_HOST": "127.0.0.1", "PREFIX": prefix, "SITE": SITE, "SOURCE": "mes"}
    try:
        until_applied(hub, "REQ-MQTT", lambda: run(block("run", "mqtt"), tmp_path, **topic))
    finally:
        output = stop(worker)
        forget_mqtt_session(client_id)
    assert f"{prefix}/{SITE}/mes/in" in output
    lines = message_lines(output)
    assert lines[0] | {"message_id": None} == {
        "event": "message", "channel": "mqtt", "correlation_id": "trace-REQ-MQTT",
        "source": "mes", "stream": "mqtt", "sequence": 1, "message_id": None,
        "topic": f"{prefix}/{SITE}/mes/in", "outcome": "applied",
    }  # fmt: skip
    assert {line["outcome"] for line in lines[1:]} <= {"duplicate"}  # the doc's repeats


def test_the_pack_example_with_tar_and_sha256sum_reaches_the_files_worker(
    plant: Plant, hub: Hub, tmp_path: Path
) -> None:
    lims = registered_lims(hub)  # samples S-000001 and S-000002, registered by the LIMS
    drop = tmp_path / "drop"
    (drop / "incoming").mkdir(parents=True)
    work = tmp_path / "sender"
    work.mkdir()
    python_signer(work)
    (work / "results.csv").write_text(block("file", "results.csv"), "utf-8")
    (work / "private.jwk.json").write_text(json.dumps(lims.private | {"kid": lims.kid}), "utf-8")
    sent_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # the worker keeps real time
    made = run(block("run", "pack"), work, SITE=SITE, SOURCE="lims", SEQUENCE="1",
               SENT_AT=sent_at, DROP=str(drop))  # fmt: skip
    assert made.returncode == 0, made.stderr
    worker = start("files", hub, LABGATE_PACK_FOLDER=str(drop), LABGATE_PACK_POLL_SECONDS="0.2")
    try:
        deadline = time.monotonic() + 60
        while not list((drop / "processed").glob("*.tar")):
            rejected = [p.read_text() for p in (drop / "rejected").glob("*.reason.json")]
            assert not rejected, rejected
            assert time.monotonic() < deadline, "the worker did not take the pack in time"
            time.sleep(0.2)
    finally:
        output = stop(worker)
    [pack] = (drop / "processed").glob("*.tar")
    assert re.fullmatch(rf"{SITE}_results_00000001_\d{{8}}T\d{{6}}Z\.tar", pack.name)
    assert count(hub, t.results) == 1  # the one record of the CSV
    [line] = [m for m in message_lines(output) if m.get("pack") == pack.name]
    assert (line["source"], line["stream"], line["sequence"], line["outcome"]) == (
        "lims",
        "results",
        1,
        "applied",
    )


def test_the_pgp_pack_over_sftp_with_gpg_and_the_openssh_client_is_applied(
    plant: Plant, hub: Hub, tmp_path: Path, sshd: Sshd
) -> None:
    lims = registered_lims(hub)
    work = tmp_path / "sender"
    (work / "drop" / "incoming").mkdir(parents=True)  # the plain pack's copy stays here
    python_signer(work)
    (work / "results.csv").write_text(block("file", "results.csv"), "utf-8")
    (work / "private.jwk.json").write_text(json.dumps(lims.private | {"kid": lims.kid}), "utf-8")
    root = sshd.home / f"packs-{secrets.token_hex(4)}"
    sftp = {"LABGATE_SFTP_HOST": sshd.host, "LABGATE_SFTP_PORT": str(sshd.port),
            "LABGATE_SFTP_USER": sshd.username, "LABGATE_SFTP_KEY_FILE": str(sshd.client_key),
            "LABGATE_SFTP_KNOWN_HOSTS": str(sshd.known_hosts), "LABGATE_SFTP_ROOT": str(root),
            "LABGATE_PACK_POLL_SECONDS": "0.2"}  # fmt: skip
    with pgp_parties() as (labgate_key, sender, _):
        pgp = {"LABGATE_PACK_GPG_HOME": str(labgate_key.home),
               "LABGATE_PACK_PGP_TRUSTED": json.dumps([sender.fingerprint]),
               "LABGATE_PACK_PGP_REQUIRED": "1"}  # fmt: skip
        worker = start("files", hub, **sftp, **pgp)
        try:
            deadline = time.monotonic() + 60
            while not (root / "incoming").is_dir():  # the worker makes its folders
                assert time.monotonic() < deadline, "the worker did not prepare its folders"
                time.sleep(0.2)
            sent_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            made = run(block("run", "pack") + block("run", "pgp-sftp"), work, SITE=SITE,
                       SOURCE="lims", SEQUENCE="1", SENT_AT=sent_at, DROP=str(work / "drop"),
                       GNUPGHOME=str(sender.home), LABGATE_PACK_KEY=labgate_key.fingerprint,
                       YOUR_PGP_KEY=sender.fingerprint, SFTP_PORT=str(sshd.port),
                       SFTP_KEY=str(sshd.client_key), KNOWN_HOSTS=str(sshd.known_hosts),
                       SFTP_USER=sshd.username, SFTP_HOST=sshd.host, ROOT=str(root))  # fmt: skip
            assert made.returncode == 0, made.stdout + made.stderr
            while not list((root / "processed").glob("*.tar.pgp")):
                notes = [p.read_text() for p in (root / "rejected").glob("*.reason.json")]
                assert not notes, notes
                assert time.monotonic() < deadline + 60, "the worker did not take the pack"
                time.sleep(0.2)
        finally:
            output = stop(worker)
    assert count(hub, t.results) == 1
    [line] = [m for m in message_lines(output) if str(m.get("pack", "")).endswith(".tar.pgp")]
    assert (line["channel"], line["outcome"]) == ("sftp", "applied")
