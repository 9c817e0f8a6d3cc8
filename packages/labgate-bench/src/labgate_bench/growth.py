"""Growth: do the ingest lines hold up once the plant has years of history stored?

Per database kind, a model plant is made through the product itself: the demo plant, its
samples, and MODEL results ingested through the inbox on STREAMS streams (their outbox rows then
taken as delivered, as the relay leaves them). The rows those results brought — their batch,
samples and planned tests, the results, audit entries, inbox records (raw envelopes included),
outbox rows and the gates' rows — are the pattern (each copy a batch of its own, so what is read
per batch does not grow with the history, as in a plant): copies of it are written by plain SQL
(COPY on PostgreSQL, executemany on SQLite) with fresh keys, codes and message ids, until
BASE_ROWS results are stored in one copy of the model database and GROWTH_ROWS in another (the
audit head then points at the last entry written; PostgreSQL's sequences are moved past the
copies and its tables analysed, as autovacuum would). Both copies also hold the samples the
measured results are for.

`<db>.growth.rest_50` is the REST line of latency.py (`labgate serve`, 50 clients, the same
envelopes) and `<db>.growth.amqp` the AMQP line of ingest.py (`AmqpInbox` in-process), each
measured on the grown copy against the same line on the base copy in the same run."""

from __future__ import annotations

import asyncio
import json
import math
import os
import secrets
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
from rich.progress import Progress
from sqlalchemy import update

from labgate.adapters.store import tables as t
from labgate.bootstrap import Hub, bootstrap
from labgate.compliance.passwords import new_api_key
from labgate.config import Settings
from labgate.domain import commands as c
from labgate.service.inbox.admission import ReceiptRefused
from labgate.service.inbox.batch import receive_batch
from labgate_bench.ingest import COUNT, Lims, applied_cleanly, consume, publish, topology, vhost
from labgate_bench.latency import CLIENTS, REQUESTS
from labgate_bench.main import BATCH, OUT, Figure, percentile, prepare, seconds
from labgate_bench.scale import admin, copy_of, pg_url, rest_rate, rest_work

GROWTH_ROWS = int(os.environ.get("LABGATE_BENCH_GROWTH_ROWS", "1000000"))
BASE_ROWS = 10_000
MODEL = 1000  # results ingested by the product: the pattern the history is copied from
STREAMS = 20
PER_COPY = 1  # model copies written per round of the progress bar


class Column(NamedTuple):
    """How a copied column changes from one copy to the next."""

    kind: str  # "key": + copy * span of its table; "ref": + copy * span of `table`;
    # "code": suffixed with the copy; "uuid": a fresh message id
    table: str = ""


# What changes per copy; every other column is copied as it is.
PATTERN: dict[str, dict[str, Column]] = {
    "batches": {"id": Column("key"), "code": Column("code")},
    "samples": {"id": Column("key"), "code": Column("code"), "mes_request_id": Column("code"),
                "lims_sample_id": Column("code"), "batch": Column("code")},
    "planned_tests": {"id": Column("key"), "sample_id": Column("ref", "samples")},
    "results": {"id": Column("key"), "sample_id": Column("ref", "samples"),
                "code": Column("code")},
    "audit_entries": {"seq": Column("key")},
    "inbox_messages": {"id": Column("key"), "message_id": Column("uuid"),
                       "sequence": Column("ref", "sequence")},
    "outbox": {"id": Column("key"), "message_id": Column("uuid"),
               "seal_seq": Column("ref", "audit_entries"), "sequence": Column("ref", "outbox")},
    "gate_entries": {"id": Column("key"), "batch": Column("code"), "sample": Column("code")},
    "gates_told": {"id": Column("key"), "batch": Column("code"), "message_id": Column("code")},
}  # fmt: skip
KEYS = {"batches": "id", "samples": "id", "planned_tests": "id", "results": "id",
        "audit_entries": "seq", "inbox_messages": "id", "outbox": "id", "gate_entries": "id",
        "gates_told": "id"}  # fmt: skip
Model = dict[str, tuple[list[str], list[tuple[Any, ...]]]]


class Grown(NamedTuple):
    """A model plant ready to copy, and the envelopes to measure with."""

    url: str
    amqp: list[bytes]
    rest: list[list[bytes | None]]
    api_key: str


def stream_of(n: int) -> tuple[str, int]:
    """Where the n-th (from 0) model result goes: its stream and sequence."""
    return f"plant-{n % STREAMS:02d}", n // STREAMS + 1


def model_plant(url: str) -> Grown:
    """The demo plant, MODEL results ingested through the inbox, and envelopes signed for the
    AMQP and REST lines (their samples registered, not yet reported on)."""
    hub, results, lims_key = prepare(url, MODEL + COUNT + CLIENTS + REQUESTS)
    try:
        lims = Lims(hub, lims_key)
        ingest_model(hub, lims, results[:MODEL])
        measured = results[MODEL:]
        amqp = [lims.envelope("growth-amqp", n, r, f"growth-{n}")
                for n, r in enumerate(measured[:COUNT], 1)]  # fmt: skip
        rest = rest_work(lims, measured[COUNT:])
    finally:
        hub.close()
    return Grown(url, amqp, rest, lims_key)


def ingest_model(hub: Hub, lims: Lims, results: list[c.RecordResult]) -> None:
    """The model results through the inbox in runs of BATCH, as a broker's consumer hands them
    over; their outbox rows delivered since."""
    bodies = [lims.envelope(*stream_of(n), r, f"model-{n}") for n, r in enumerate(results)]
    for start in range(0, len(bodies), BATCH):
        outcomes = receive_batch(hub.inbox, bodies[start : start + BATCH], "amqp")
        if any(isinstance(o, ReceiptRefused) or o.status != "applied" for o in outcomes):
            raise RuntimeError(f"model results not all applied: {outcomes}")
    with hub.engine.begin() as connection:
        o = t.outbox.c
        connection.execute(update(t.outbox).values(status="delivered", delivered_at=o.created_at))


def read_model(raw: Any) -> Model:
    """The pattern's rows, read with the driver itself (values as the database stores them):
    the samples that have results, their batch, planned tests and gate entries, the batch's
    gate decisions, every result and inbox record, and
    the outbox rows and audit entries from the first sample's on, except those of the samples
    still open (registered for the measured results: a plant's history is reported on)."""
    found: Model = {}
    first = raw.execute(
        "SELECT min(seq) FROM audit_entries WHERE record_type = 'sample'"
    ).fetchone()[0]
    reported = "id IN (SELECT sample_id FROM results)"
    open_ = "SELECT code FROM samples WHERE id NOT IN (SELECT sample_id FROM results)"
    theirs = f"SELECT message_id FROM outbox WHERE record_id IN ({open_})"
    batches = f"SELECT batch FROM samples WHERE {reported}"
    where = {
        "batches": f"code IN ({batches})",
        "gate_entries": f"sample NOT IN ({open_})",
        "gates_told": f"batch IN ({batches})",
        "samples": reported,
        "planned_tests": f"sample_{reported}",
        "audit_entries": f"seq >= {int(first)} AND record_id NOT IN ({open_}) "
        f"AND record_id NOT IN ({theirs})",
        "outbox": f"record_id NOT IN ({open_})",
    }
    for table in PATTERN:
        cursor = raw.execute(f"SELECT * FROM {table} WHERE {where.get(table, '1 = 1')}")
        columns = [d[0] for d in cursor.description]
        rows = [tuple(json.dumps(v) if isinstance(v, dict | list) else v for v in row)
                for row in cursor.fetchall()]  # fmt: skip
        found[table] = (columns, rows)
    return found


def spans(raw: Any) -> dict[str, int]:
    """How far each copy's keys (and sequences) move: past everything the model holds."""
    span = {t: int(raw.execute(f"SELECT coalesce(max({k}), 0) FROM {t}").fetchone()[0]) + 1
            for t, k in KEYS.items()}  # fmt: skip
    span["sequence"] = MODEL // STREAMS + 1
    return span


def copier(model: Model, span: dict[str, int]) -> dict[str, Callable[[int], list[tuple[Any, ...]]]]:
    """Per table, the rows of copy number `n` (from 1)."""

    def of(table: str) -> Callable[[int], list[tuple[Any, ...]]]:
        columns, rows = model[table]
        changes = [(i, PATTERN[table].get(name)) for i, name in enumerate(columns)]
        moved = [(i, how) for i, how in changes if how is not None]

        def copy(n: int) -> list[tuple[Any, ...]]:
            out = []
            for row in rows:
                values = list(row)
                for i, how in moved:
                    if values[i] is None:
                        continue
                    if how.kind == "key":
                        values[i] += n * span[table]
                    elif how.kind == "ref":
                        values[i] += n * span[how.table]
                    elif how.kind == "code":
                        values[i] = f"{values[i]}-g{n}"
                    else:
                        values[i] = str(uuid.uuid4())
                out.append(tuple(values))
            return out

        return copy

    return {table: of(table) for table in model}


def seed(url: str, total: int, label: str) -> float:
    """Copy the pattern until `total` results are stored; the seconds it took."""
    start, copies = time.perf_counter(), math.ceil(total / MODEL) - 1
    with connect(url) as raw:
        model, span = read_model(raw), spans(raw)
        make = copier(model, span)
        with Progress() as progress:
            task = progress.add_task(f"{label}: seeding {total:,} results", total=copies)
            for n in range(1, copies + 1):
                for table, (columns, _) in model.items():
                    write(raw, table, columns, make[table](n))
                progress.advance(task)
                if n % 20 == 0 or n == copies:
                    raw.commit()
        finish(raw, copies, span)
        raw.commit()
    return time.perf_counter() - start


@contextmanager
def connect(url: str) -> Iterator[Any]:
    """The driver's own connection to the database behind a SQLAlchemy URL."""
    if url.startswith("sqlite"):
        connection: Any = sqlite3.connect(url.removeprefix("sqlite:///"))
    else:
        connection = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    try:
        yield connection
    finally:
        connection.close()


def write(raw: Any, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """Rows into a table: COPY on PostgreSQL, executemany on SQLite."""
    names = ", ".join(f'"{c}"' for c in columns)
    if isinstance(raw, sqlite3.Connection):
        marks = ", ".join("?" * len(columns))
        raw.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
        return
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def finish(raw: Any, copies: int, span: dict[str, int]) -> None:
    """The audit head on the last entry written; on PostgreSQL, sequences past the copies and
    fresh planner statistics."""
    seq, digest = raw.execute(
        "SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    raw.execute(f"UPDATE audit_head SET seq = {int(seq)}, hash = '{digest}'")
    if isinstance(raw, sqlite3.Connection):
        return
    for table, key in KEYS.items():
        if key == "id":
            raw.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))")  # fmt: skip
    raw.commit()
    raw.autocommit = True
    raw.execute("ANALYZE")
    raw.autocommit = False


@contextmanager
def database(label: str, name: str, model: str | None = None) -> Iterator[str]:
    """A database of the run, empty or (`model`) a copy of the model's; removed afterwards."""
    if label == "sqlite":
        path = OUT / f"growth-{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
            if model is not None and Path(f"{model}{suffix}").exists():
                shutil.copyfile(f"{model}{suffix}", f"{path}{suffix}")
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    if model is not None:
        with copy_of(model.rsplit("/", 1)[1]) as copy:
            yield pg_url(copy)
        return
    made = f"labgate_bench_growth_{secrets.token_hex(4)}"
    admin(f'CREATE DATABASE "{made}"')
    try:
        yield pg_url(made)
    finally:
        admin(f'DROP DATABASE IF EXISTS "{made}" WITH (FORCE)')


def amqp_rate(url: str, amqp_url: str, bodies: list[bytes], tag: str) -> float:
    """The AMQP line of ingest.py on the database `url`: results per second."""
    hub = bootstrap(Settings(database_url=url, token_secret=new_api_key(),
                             replay_window_seconds=3600))  # fmt: skip
    try:
        names = topology(tag)
        asyncio.run(publish(amqp_url, names, bodies))
        took = seconds(lambda: asyncio.run(consume(amqp_url, names, hub, "growth-amqp",
                                                   len(bodies))))  # fmt: skip
        applied_cleanly(hub, "growth-amqp")
    finally:
        hub.close()
    return len(bodies) / took


def bench(label: str, amqp_url: str) -> list[Figure]:
    """Seed a base and a grown copy of the model plant; the two lines on each."""
    with database(label, "model") as model_url:
        grown = model_plant(model_url)
        with database(label, "base", model_url.removeprefix("sqlite:///")) as base, \
                database(label, "grown", model_url.removeprefix("sqlite:///")) as big:  # fmt: skip
            for url, total in ((base, BASE_ROWS), (big, GROWTH_ROWS)):
                took = seed(url, total, label)
                print(f"growth: {label} seeded to {total:,} results in {took:.0f} s", flush=True)
            rest: dict[str, float] = {}
            latencies: list[float] = []
            for size, url in (("base", base), ("grown", big)):
                log = OUT / f"growth-serve-{label}-{size}.log"
                rest[size], latencies = rest_rate(url, grown.api_key, grown.rest, log)
            amqp = {size: amqp_rate(url, amqp_url, grown.amqp, f"{label}-growth-{size}")
                    for size, url in (("base", base), ("grown", big))}  # fmt: skip
    p50, p99 = (1000 * percentile(latencies, q) for q in (0.50, 0.99))
    return [
        Figure(f"{label}.growth.rest_{CLIENTS}", rest["grown"], "requests/s", rest["base"],
               p50, p99),
        Figure(f"{label}.growth.amqp", amqp["grown"], "results/s", amqp["base"]),
    ]  # fmt: skip


def run() -> list[Figure]:
    """The growth lines on SQLite and PostgreSQL, in a vhost of their own."""
    with vhost() as amqp_url:
        return [figure for label in ("sqlite", "postgres") for figure in bench(label, amqp_url)]
