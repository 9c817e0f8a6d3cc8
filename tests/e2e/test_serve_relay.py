"""`labgate serve` delivers the outbox by itself: with the MES's webhook configured it runs the
relay in its own process, woken by its own commits, so a request that owes the MES a message is
delivered, signed, within seconds although the relay polls only every minute. `--no-relay`
leaves delivery to a `labgate relay run` elsewhere: nothing is sent. SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from hubproc import LABGATE, Proc, clean_env
from labgate.compliance.signer import Signer
from plant import SITE, SeededPlant
from polling import soon
from receiver import Receiver, verified
from sshd import free_port

POLL = "60"  # seconds: far longer than WOKEN, so only a wake delivers within it
WOKEN = 10.0  # seconds: a generous bound for a woken relay on a busy machine


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def signer(tmp_path: Path) -> tuple[Signer, Path]:
    made = Signer.generate("labgate-serve-1")
    key = tmp_path / "labgate.private.jwk.json"
    key.write_text(json.dumps({**made.private_jwk, "kid": made.kid}), encoding="utf-8")
    return made, key


def serve(
    database_url: str, key: Path, receiver: Receiver, folder: Path, *args: str
) -> tuple[Proc, str]:
    """`labgate serve` on the test's (seeded) database, the MES's webhook at the receiver; its
    base URL once it answers."""
    port = free_port()
    env = clean_env(LABGATE_DATABASE_URL=database_url,
                    LABGATE_TOKEN_SECRET=secrets.token_urlsafe(32),
                    LABGATE_SIGNING_KEY_FILE=str(key),
                    LABGATE_MES_WEBHOOK_URL=receiver.url("/mes"),
                    LABGATE_RELAY_POLL_SECONDS=POLL)  # fmt: skip
    log = folder / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen([LABGATE, "serve", "--port", str(port), *args], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    proc, base = Proc("serve", process, log), f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/api/v1/schemas", timeout=2).status_code < 500:
                return proc, base
        except httpx.HTTPError:
            pass
        assert proc.alive and time.monotonic() < deadline, proc.output()
        time.sleep(0.2)


def owe_the_mes(base: str, plant: SeededPlant, request_id: str) -> str:
    """A sample requested by the MES and registered by the LIMS: the acknowledgement is owed to
    the MES. The sample's code."""
    api = f"{base}/api/v1/sites/{SITE}"
    body = {"mes_request_id": request_id, "product": "P1", "sampled_at": "2026-11-24T10:00:00Z",
            "batch": "B1", "sampling_point": "SP-REL"}  # fmt: skip
    asked = httpx.post(f"{api}/sample-requests", json=body, timeout=30,
                       headers={"X-API-Key": plant.api_keys["mes"]})  # fmt: skip
    assert asked.status_code == 201, asked.text
    code: str = asked.json()["code"]
    registered = httpx.post(f"{api}/samples/{code}/registration", timeout=30,
                            json={"lims_sample_id": f"L-{request_id}"},
                            headers={"X-API-Key": plant.api_keys["lims"]})  # fmt: skip
    assert registered.status_code == 200, registered.text
    return code


def mentions(receiver: Receiver, code: str) -> list[bytes]:
    """The bodies the receiver got that name the sample."""
    with receiver.lock:
        return [r.body for r in receiver.requests if code.encode() in r.body]


def test_serve_delivers_what_its_own_commits_owe_the_mes_at_once(
    database_url: str, seeded_plant: SeededPlant, receiver: Receiver,
    signer: tuple[Signer, Path], tmp_path: Path,
) -> None:  # fmt: skip
    key_signer, key = signer
    proc, base = serve(database_url, key, receiver, tmp_path)
    try:
        out = proc.output()
        assert f"relay: in-process, sending mes to {receiver.url('/mes')}" in out, out
        assert f"polling every {POLL} s" in out

        code = owe_the_mes(base, seeded_plant, "REQ-SERVE-1")

        # The first pass ran at start, before this commit; the next poll is a minute away.
        assert soon(lambda: bool(mentions(receiver, code)), WOKEN), f"not woken:\n{proc.output()}"
        envelope = verified(mentions(receiver, code)[0], key_signer)  # signed by labgate's key
        assert envelope.site == SITE
        assert proc.alive
    finally:
        assert proc.stop(signal.SIGTERM) == 0, proc.output()  # the relay stopped, cleanly


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_serve_no_relay_delivers_nothing(
    database_url: str, seeded_plant: SeededPlant, receiver: Receiver,
    signer: tuple[Signer, Path], tmp_path: Path,
) -> None:  # fmt: skip
    proc, base = serve(database_url, signer[1], receiver, tmp_path, "--no-relay")
    try:
        assert "relay: off in this process" in proc.output()
        owe_the_mes(base, seeded_plant, "REQ-SERVE-OFF")
        time.sleep(3)  # as long as a woken relay would comfortably need
        assert receiver.requests == []
    finally:
        proc.stop(signal.SIGTERM)
