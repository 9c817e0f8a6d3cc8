"""A unit of work opened for reading: the inbox's look-ups (a source's key, the held message
whose turn has come) run in one, beside a writer, and see what is committed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from labgate.bootstrap import Hub
from labgate.domain.gates import GateTold

AT = datetime(2026, 12, 6, tzinfo=UTC)


def test_a_reader_does_not_wait_for_a_writer_and_sees_only_what_is_committed(hub: Hub) -> None:
    with hub.uow_factory() as writer:
        writer.records.add(GateTold("T1", "B1", "OP-1", True, "", AT, "m-1"))
        writer.flush()  # written inside the writer's transaction, not yet committed
        # The writer holds SQLite's writer lock until it ends; a reader that asked for that
        # lock too would wait out the 30 s busy timeout and fail with "database is locked".
        with hub.uow_factory().reading() as reader:
            assert reader.records.find(GateTold, site="T1") == []
        writer.commit()
    with hub.uow_factory().reading() as reader:
        assert [g.message_id for g in reader.records.find(GateTold, site="T1")] == ["m-1"]


def test_a_reader_never_commits(hub: Hub) -> None:
    reader = hub.uow_factory().reading()
    with reader, pytest.raises(RuntimeError, match="opened for reading does not commit"):
        reader.commit()
