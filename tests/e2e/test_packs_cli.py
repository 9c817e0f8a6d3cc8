"""`labgate worker files`, `labgate packs send` and `labgate packs reconcile` as separate
processes over a real drop folder: a missing pack shows in the report until it arrives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from labgate.bootstrap import Hub
from packs import registered_lims, result
from plant import Plant, seed

LABGATE = str(Path(sys.executable).parent / "labgate")


@pytest.fixture
def plant(hub: Hub, client: TestClient) -> Plant:
    return seed(hub, client)


def env(hub: Hub, folder: Path) -> dict[str, str]:
    return {
        **os.environ,
        "LABGATE_DATABASE_URL": hub.settings.database_url,
        "LABGATE_PACK_FOLDER": str(folder),
        "LABGATE_PACK_POLL_SECONDS": "0.2",
    }


def run_worker_until(hub: Hub, folder: Path, processed: int) -> None:
    worker = subprocess.Popen([LABGATE, "worker", "files"], env=env(hub, folder), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while len(list((folder / "processed").glob("*.tar"))) < processed:
            assert time.monotonic() < deadline, "the worker did not pick the packs up in time"
            assert worker.poll() is None, worker.communicate()[0]
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output


def labgate(hub: Hub, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LABGATE, *args], env=env(hub, folder), text=True, capture_output=True,
                          timeout=60)  # fmt: skip


def report(hub: Hub, folder: Path) -> tuple[int, dict[str, Any]]:
    done = labgate(hub, folder, "packs", "reconcile", "--json")
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
    run_worker_until(hub, folder, processed=2)

    code, unbalanced = report(hub, folder)
    [stream] = unbalanced["streams"]
    assert code == 1 and unbalanced["balanced"] is False
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
