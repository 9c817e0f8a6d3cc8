"""Fixtures of the integration tests: the seeded plant, the MES and LIMS as signing senders, and
the peers some tests need (an sshd)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from labgate.bootstrap import Hub
from plant import Plant, SeededPlant
from senders import Sender, register
from sshd import Sshd, running_sshd


@pytest.fixture
def plant(hub: Hub, client: TestClient, seeded_plant: SeededPlant) -> Plant:
    return seeded_plant.on(client)


@pytest.fixture
def mes(hub: Hub, plant: Plant) -> Sender:
    return Sender(hub, "mes", "requests", "mes-1", register(hub, "mes", "mes-1"))


@pytest.fixture
def lims(hub: Hub, plant: Plant) -> Sender:
    return Sender(hub, "lims", "results", "lims-1", register(hub, "lims", "lims-1"))


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A private OpenSSH sshd on a free loopback port, shared by the session's SFTP tests."""
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server
