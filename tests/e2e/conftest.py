"""Fixtures for the end-to-end tests that need a peer of their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hubproc import Hub, Template, demo_template, running_hub
from sshd import Sshd, running_sshd


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A private OpenSSH sshd on a free loopback port (tests/sshd.py), shared by the session."""
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    """The demo plant seeded once per module on PostgreSQL, with the simulators' keys."""
    with demo_template(tmp_path_factory.mktemp("keys")) as seeded:
        yield seeded


@pytest.fixture
def running(template: Template, tmp_path: Path) -> Iterator[Hub]:
    """A copy of the template with labgate's environment; its processes stopped afterwards."""
    with running_hub(template, tmp_path) as hub:
        yield hub
