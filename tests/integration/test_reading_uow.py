"""A unit of work opened for reading: the inbox's look-ups (a source's key, the held message
whose turn has come) run in one, beside a writer, and see what is committed."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from labgate.adapters.store.writer_turns import turns_for
from labgate.bootstrap import Hub
from labgate.domain.gates import GateTold
from polling import soon

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


def test_writers_of_one_process_take_their_turns_in_the_order_they_came(hub: Hub) -> None:
    # On SQLite they queue in this process (PostgreSQL locks rows, not the database: the
    # writers' own transactions decide there, and the numbers still come out one each).
    turns = turns_for(hub.engine)
    numbers: dict[str, int] = {}

    def writer(name: str) -> None:
        with hub.uow_factory() as uow:
            numbers[name] = uow.next_number("turns")
            uow.commit()

    with hub.uow_factory() as first:
        numbers["first"] = first.next_number("turns")
        threads = []
        for name in ("second", "third", "fourth"):
            threads.append(threading.Thread(target=writer, args=(name,)))
            threads[-1].start()
            if hub.engine.dialect.name == "sqlite":
                queued = len(threads)
                assert soon(lambda queued=queued: turns.waiting == queued)
        first.commit()
    for thread in threads:
        thread.join(30)
    assert sorted(numbers.values()) == [1, 2, 3, 4]
    if hub.engine.dialect.name == "sqlite":
        assert [numbers[n] for n in ("first", "second", "third", "fourth")] == [1, 2, 3, 4]
        assert turns.waiting == 0
