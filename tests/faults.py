"""Faults injected into a running hub, for the tests of what labgate does when they happen."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from labgate.bootstrap import Hub


@contextmanager
def database_away_at_commit(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Inside the block every command's transaction fails as it commits, as when the database
    goes away at that moment; the command's caller gets the OperationalError."""
    working = hub.bus.uow_factory

    def failing() -> Any:
        uow = working()

        def away() -> None:
            raise OperationalError("COMMIT", None, Exception("database went away"))

        uow._commit = away
        return uow

    monkeypatch.setattr(hub.bus, "uow_factory", failing)
    try:
        yield
    finally:
        monkeypatch.setattr(hub.bus, "uow_factory", working)
