"""The chain of a long trail walked in parallel: disjoint seq ranges, one per CPU, each in a
process of its own, all reading the same snapshot.

Given the stored rows, an entry checks out on its own: its hash over its own row, its link
equal to the stored hash of the entry before it. So range (lo, hi] is walked from entry lo's
stored hash (read by that range, checked by the range before it), and the ranges together
check every entry and every link, the boundaries included.

One snapshot: PostgreSQL's workers import the verifying transaction's (`pg_export_snapshot`,
`SET TRANSACTION SNAPSHOT`). SQLite's workers read only entries up to the head the verifying
transaction read: those were committed before it, and are append-only (triggers refuse UPDATE
and DELETE), so a later read transaction sees the same rows.

Only a verdict that every entry checks out is taken from the workers. Anything else (a broken
entry, a range ending short, a worker failing) sends the caller to the one-process walk, whose
report (the first entry at fault, the count checked) is the one given today."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import re
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import closing

from sqlalchemy import text
from sqlalchemy.orm import Session

from labgate.adapters.store.audit_scan import scan_seals
from labgate.adapters.store.engine import make_engine
from labgate.compliance.audit import ChainReport
from labgate.compliance.checkpoints import Walk, walk

PARALLEL_FROM = 200_000  # entries: below, starting processes costs more than it saves
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9A-F]+)?")


def cpus() -> int:
    """The CPUs this process may run on."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def walk_in_parallel(
    session: Session, last: int, wanted: frozenset[int], parts: int
) -> Walk | None:
    """Entries 1 up to `last` walked in `parts` ranges, the first in this session; None unless
    every range checked out to its end."""
    url, snapshot = _shared(session)
    if url is None:
        return None
    edges = [last * i // parts for i in range(parts + 1)]
    context = multiprocessing.get_context("fork")  # the workers need nothing re-imported
    with ProcessPoolExecutor(parts - 1, mp_context=context) as pool:
        rest: list[Future[Walk | None]] = [
            pool.submit(_walk_range, url, snapshot, lo, hi, wanted)
            for lo, hi in itertools.pairwise(edges[1:])
        ]
        with closing(scan_seals(session, last=edges[1])) as seals:
            first = walk(seals, wanted)
        walked = [first] + [_result(future) for future in rest]
    return _joined(walked, edges[1:])


def _shared(session: Session) -> tuple[str | None, str | None]:
    """The URL the workers connect to and the snapshot they import (None on SQLite)."""
    connection = session.connection()
    url = connection.engine.url
    if connection.dialect.name != "postgresql":
        if url.database in (None, "", ":memory:"):
            return None, None  # a database of this connection's own: no other can see it
        return url.render_as_string(hide_password=False), None
    snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
    return url.render_as_string(hide_password=False), snapshot


def _walk_range(
    url: str, snapshot: str | None, lo: int, hi: int, wanted: frozenset[int]
) -> Walk | None:
    """In a worker: entries lo+1 up to hi, from entry lo's stored hash."""
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            if snapshot is not None:
                if not _SNAPSHOT_ID.fullmatch(snapshot):
                    return None
                connection = session.connection(
                    execution_options={"isolation_level": "REPEATABLE READ"}
                )
                connection.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            with closing(scan_seals(session, first=lo, last=hi)) as seals:
                start = next(seals, None)
                if start is None or start.seq != lo:
                    return None
                return walk(seals, wanted, after=lo, prev_hash=start.hash)
    finally:
        engine.dispose()


def _result(future: Future[Walk | None]) -> Walk | None:
    try:
        return future.result()
    except Exception:  # any failure: the one-process walk decides, and says why
        return None


def _joined(walked: list[Walk | None], ends: list[int]) -> Walk | None:
    checked, seen = 0, dict[int, str]()
    for part, end in zip(walked, ends, strict=True):
        if part is None or not part.chain.ok or part.end.seq != end:
            return None
        checked += part.chain.checked
        seen |= part.seen
    last = walked[-1]
    assert last is not None
    return Walk(ChainReport(checked), last.end, seen)
