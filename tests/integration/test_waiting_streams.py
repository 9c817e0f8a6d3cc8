"""After a group, the inbox asks which of its streams now have a message waiting for the number
they take next. That look-up reads each stream at its next number, in the stream's index: it must
not read the stream's history (which grows without end), and it answers for any number of
streams (SQLite takes at most 500 branches in one compound query)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, insert

from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub

AT = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def message(stream: str, sequence: int, status: str) -> dict[str, Any]:
    return {"source": "lims", "message_id": f"{stream}-{sequence}", "stream": stream,
            "sequence": sequence, "schema": "labgate.result.v1", "site": "T1",
            "channel": "amqp", "received_at": AT, "payload_hash": "0" * 64, "raw": b"{}",
            "status": status}  # fmt: skip


def test_streams_with_their_next_message_waiting_are_found_among_many(hub: Hub) -> None:
    streams = [("lims", f"s{n:03d}") for n in range(600)]
    rows, positions = [], []
    for n, (_, stream) in enumerate(streams):
        rows += [message(stream, k, "applied") for k in range(1, 4)]  # its history
        positions.append({"source": "lims", "stream": stream, "last_sequence": 3})
        if n % 100 == 7:
            rows.append(message(stream, 4, "held"))  # next: waiting
        if n % 100 == 8:
            rows.append(message(stream, 5, "held"))  # one beyond next: still waits for 4
        if n % 100 == 9:
            rows.append(message(stream, 4, "quarantined"))  # next, expired into quarantine
    rows.append(message("s999", 1, "held"))  # a stream with no position yet: 1 is its next
    with hub.engine.begin() as connection:
        connection.execute(insert(t.inbox_messages), rows)
        connection.execute(insert(t.stream_positions), positions)
    with hub.bus.uow_factory() as uow:
        found = uow.waiting_streams([*streams, ("lims", "s999"), ("mes", "s007")])
    expected = {("lims", f"s{n:03d}") for n in range(600) if n % 100 in (7, 9)}
    assert found == expected | {("lims", "s999")}


def test_the_look_up_reads_each_stream_at_its_next_number_only(hub: Hub) -> None:
    seen: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM inbox_messages" in statement:
            seen.append((statement, parameters))

    event.listen(hub.engine, "before_cursor_execute", note)
    with hub.bus.uow_factory() as uow:
        uow.waiting_streams([("lims", "a"), ("lims", "b"), ("mes", "c")])
    event.remove(hub.engine, "before_cursor_execute", note)
    statement, parameters = seen[-1]
    with hub.engine.connect() as connection:
        if hub.engine.dialect.name == "sqlite":
            plan = [row[-1] for row in connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", parameters)]  # fmt: skip
            assert not [step for step in plan if step.startswith("SCAN")], plan
            assert sum("(source=? AND stream=? AND sequence=?)" in s for s in plan) == 3, plan
            return
        # PostgreSQL: with no rows to estimate from, make the planner show the index path it can
        # take; each stream's branch must name all three keys in its index condition.
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = [row[0] for row in connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)]
    conditions = [step for step in plan if "Index Cond" in step and "sequence =" in step]
    assert len(conditions) == 3, plan
    assert all("source" in step and "stream" in step for step in conditions), plan
