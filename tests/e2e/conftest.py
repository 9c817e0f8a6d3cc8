"""Fixtures for the end-to-end tests that need a peer of their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sshd import Sshd, running_sshd


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A private OpenSSH sshd on a free loopback port (tests/sshd.py), shared by the session."""
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server
