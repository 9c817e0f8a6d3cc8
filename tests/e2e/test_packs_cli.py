"""`labgate worker files`, `labgate packs send` and `labgate packs reconcile` as separate
processes over a real drop folder: a missing pack shows in the report until it arrives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labgate.adapters.codecs.pgp import seal
from labgate.bootstrap import Hub
from packs import pgp_parties, registered_lims, result
from plant import Plant, SeededPlant

LABGATE = str(Path(sys.executable).parent / "labgate")


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


NOT_BALANCED = 3  # distinct from 1, a command that failed


def env(hub: Hub, folder: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "LABGATE_DATABASE_URL": hub.settings.database_url,
        "LABGATE_PACK_FOLDER": str(folder),
        "LABGATE_PACK_POLL_SECONDS": "0.2",
        **extra,
    }


def finished(folder: Path) -> int:
    """Packs moved to processed/ or rejected/ (not their notes)."""
    return sum(
        1
        for sub in ("processed", "rejected")
        for p in (folder / sub).glob("*")
        if not p.name.endswith(".reason.json")
    )


def run_worker_until(
    hub: Hub, folder: Path, processed: int, done: Callable[[], bool] | None = None, **extra: str
) -> None:
    worker = subprocess.Popen(
        [LABGATE, "worker", "files"],
        env=env(hub, folder, **extra),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    until = done or (lambda: len(list((folder / "processed").glob("*.tar"))) >= processed)
    try:
        deadline = time.monotonic() + 30
        while not until():
            assert time.monotonic() < deadline, "the worker did not pick the packs up in time"
            assert worker.poll() is None, worker.communicate()[0]
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output


def labgate(hub: Hub, folder: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LABGATE, *args], env=env(hub, folder, **extra), text=True,
                          capture_output=True, timeout=60)  # fmt: skip


def report(hub: Hub, folder: Path, *args: str, **extra: str) -> tuple[int, dict[str, Any]]:
    done = labgate(hub, folder, "packs", "reconcile", "--json", *args, **extra)
    assert done.returncode in (0, NOT_BALANCED), done.stdout + done.stderr  # never a crash
    return done.returncode, json.loads(done.stdout)


def test_a_missing_pack_unbalances_the_report_until_it_arrives(
    hub: Hub, plant: Plant, tmp_path: Path
) -> None:
    lims, folder = registered_lims(hub), tmp_path / "exchange"
    now = datetime.now(UTC)  # the worker keeps real time
    tests = (("ASSAY", "99.1"), ("WATER", "0.2"), ("APPEAR", "White tablet"))
    packs = [
        lims.pack([result("S-000001", value, test), result("S-000002", value, test)], sent_at=now)
        for test, value in tests
    ]
    for name, data in (packs[0], packs[2]):
        (tmp_path / name).write_bytes(data)
        assert labgate(hub, folder, "packs", "send", str(tmp_path / name)).returncode == 0
    # The third waits in work/ for the second: nothing of it is applied, so not processed/.
    names = ("processed", "work")
    run_worker_until(hub, folder, 0, lambda: [len(list((folder / n).glob("*.tar"))) for n in
                                              names] == [1, 1])  # fmt: skip

    code, unbalanced = report(hub, folder)
    [stream] = unbalanced["streams"]
    assert code == NOT_BALANCED and unbalanced["balanced"] is False
    assert unbalanced["waiting"]["work"] == [packs[2][0]]
    assert (stream["expected"], stream["missing"], stream["applied"], stream["held"]) == (
        3, [2], 1, 1)  # fmt: skip
    assert (stream["records_declared"], stream["records_applied"]) == (2, 2)

    (tmp_path / packs[1][0]).write_bytes(packs[1][1])
    assert labgate(hub, folder, "packs", "send", str(tmp_path / packs[1][0])).returncode == 0
    run_worker_until(hub, folder, processed=3)
    code, balanced = report(hub, folder)
    [stream] = balanced["streams"]
    assert code == 0 and balanced["balanced"] is True
    assert (stream["missing"], stream["applied"], stream["records_applied"]) == ([], 3, 6)
    assert balanced["waiting"] == {"incoming": [], "work": []}
    human = labgate(hub, folder, "packs", "reconcile")
    assert "balanced" in human.stdout and human.returncode == 0


def test_reconcile_lists_refused_packs_until_discarded_and_reads_since(
    hub: Hub, plant: Plant, tmp_path: Path
) -> None:
    lims, folder = registered_lims(hub), tmp_path / "exchange"
    with pgp_parties() as (labgate_key, sender, stranger):
        pgp = {"LABGATE_PACK_GPG_HOME": str(labgate_key.home),
               "LABGATE_PACK_PGP_TRUSTED": json.dumps([sender.fingerprint])}  # fmt: skip

        def send(*packs: tuple[str, bytes]) -> None:
            for name, data in packs:
                (tmp_path / name).write_bytes(data)
                assert labgate(hub, folder, "packs", "send", str(tmp_path / name)).returncode == 0
            done = finished(folder) + len(packs)
            run_worker_until(hub, folder, 0, lambda: finished(folder) >= done, **pgp)

        def sealed(pack: tuple[str, bytes], by: Any) -> tuple[str, bytes]:
            return pack[0] + ".pgp", seal(by.home, pack[1], labgate_key.fingerprint,
                                          by.fingerprint, None)  # fmt: skip

        now = datetime.now(UTC)  # the worker keeps real time
        first = lims.pack([result("S-000001", "99.1")], sent_at=now)
        second = lims.pack([result("S-000002", "98.7")], sent_at=now)
        send(first, sealed(second, stranger))  # the second sealed by a key nobody trusts

        code, after_pgp = report(hub, folder, **pgp)
        [refused] = [p for p in after_pgp["packs"] if p["status"] == "refused"]
        assert code == NOT_BALANCED and after_pgp["unattributed_open"] == 1
        assert (refused["reason"], refused["number_used"], refused["resolution"]) == (
            "pack.pgp_signature", False, "open")  # fmt: skip
        human = labgate(hub, folder, "packs", "reconcile", **pgp)
        assert human.returncode == NOT_BALANCED, human.stderr
        assert f"quarantine {refused['quarantine_id']} (pack.pgp_signature, open)" in human.stdout

        # The number was not used: the sender sends the second pack again, sealed rightly, and
        # goes on; its third pack is taken in and refused for one record (its number is used).
        middle = datetime.now(UTC)
        third = lims.pack([result("S-000001", "0.3", "KF-H2O")], sent_at=datetime.now(UTC))
        send(sealed(second, sender), third)
        code, later = report(hub, folder, **pgp)
        [stream] = later["streams"]
        assert code == NOT_BALANCED
        assert (stream["missing"], stream["applied"], stream["quarantined_open"]) == ([], 2, 1)
        [business] = [p for p in later["packs"] if p["status"] == "quarantined"]
        assert (business["sequence"], business["reason"], business["number_used"]) == (
            3, "test.unknown", True)  # fmt: skip

        # Discarding both items settles the report: nothing is missing, nothing open.
        for item in (refused["quarantine_id"], business["quarantine_id"]):
            body = {"reason": "CR-21: sender re-sent the pack; record rejected by QA",
                    "signature": plant.signature("admin")}  # fmt: skip
            answer = plant.call("admin", "POST", f"/api/v1/quarantine/{item}/discard", json=body)
            assert answer.status_code == 200, answer.text
        code, settled = report(hub, folder, **pgp)
        assert code == 0 and settled["balanced"] is True, settled

        # Since a moment after the first pack: the report starts at number 2, missing nothing.
        code, since = report(hub, folder, "--since", middle.isoformat(), **pgp)
        [stream] = since["streams"]
        assert (stream["from_sequence"], stream["expected"], stream["missing"]) == (2, 2, [])
        assert code == 0
