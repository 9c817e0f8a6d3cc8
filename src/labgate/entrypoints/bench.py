"""`make bench`: labgate's hot paths against the raw limit measured in the same run.

Each line reads `BENCH <name> <rate> <unit> raw=<rate> ratio=<r>`; the same goes to
var/bench/latest.json. The raw limit is the same rows (or bytes) handled by plain means on the
same database with the same durability, so the ratio says what labgate's work costs."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from rich.progress import Progress
from sqlalchemy import Engine, insert, select

from labgate.adapters.store import tables as t
from labgate.adapters.store.migrate import upgrade
from labgate.adapters.store.views import iter_audit
from labgate.bootstrap import Hub, bootstrap
from labgate.compliance.audit import GENESIS_HASH, verify_chain
from labgate.config import Settings
from labgate.domain import commands as c
from labgate.domain.samples import Sample
from labgate.entrypoints.cli.demo import plant_document, plausible_value, put_specs_in_force

RESULTS = int(os.environ.get("LABGATE_BENCH_RESULTS", "400"))
BATCH = 100
PG_ADMIN = os.environ.get("LABGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
OUT = Path("var/bench")


@dataclass(frozen=True)
class Figure:
    """One benchmark line."""

    name: str
    rate: float
    unit: str
    raw: float

    def line(self) -> str:
        """The BENCH line."""
        return (
            f"BENCH {self.name} {self.rate:.1f} {self.unit} raw={self.raw:.1f} "
            f"ratio={self.rate / self.raw:.3f}"
        )


def rate(count: int, work: Callable[[], object]) -> float:
    """Items per second for `work` handling `count` items."""
    start = time.perf_counter()
    work()
    return count / (time.perf_counter() - start)


def prepare(url: str) -> tuple[Hub, list[c.RecordResult]]:
    """The demo plant's master data in force, registered samples, and reviewed results to post."""
    upgrade(url)
    hub = bootstrap(Settings(database_url=url, token_secret=secrets.token_urlsafe(32)))
    qa_password = secrets.token_urlsafe(16)
    hub.bus.handle(c.CreateAccount(c.Context("bench", "system"), "qa", "QA", ("qa",), qa_password))
    document = plant_document()
    site = document["site"]["code"]
    hub.bus.handle(c.ImportMasterData(c.Context("bench", "system"), document, "bench"))
    put_specs_in_force(hub, site, document, qa_password)
    batch = document["batches"][0]
    procedure = next(p for p in document["procedures"] if p["code"] == batch["procedure"])
    point = procedure["sampling_points"][0]["code"]
    now, lims = hub.bus.deps.clock.now(), c.Context("lims", "system")
    commands: list[c.RecordResult] = []
    while len(commands) < 2 * RESULTS:
        request = c.RequestSample(
            c.Context("mes", "system"),
            site,
            None,
            batch["product"],
            now - timedelta(hours=1),
            batch=batch["code"],
            sampling_point=point,
            register_now=True,
        )
        code = hub.bus.handle(request)
        with hub.uow_factory() as uow:
            sample = uow.records.get(Sample, site=site, code=code)
            assert sample is not None
            for test in sample.tests:
                value = plausible_value(test.limit, out_of_spec=False)
                commands.append(
                    c.RecordResult(
                        lims,
                        site,
                        code,
                        test.test_code,
                        value,
                        test.unit,
                        test.method_version,
                        "analyst",
                        reviewer="reviewer",
                        approved_at=now,
                        lims_status="approved",
                    )
                )
    return hub, commands[: 2 * RESULTS]


def marks(engine: Engine) -> tuple[int, int, int]:
    """The highest result id, audit sequence number and outbox id."""
    with engine.connect() as connection:
        return (
            connection.scalar(select(t.results.c.id).order_by(t.results.c.id.desc())) or 0,
            connection.scalar(select(t.audit_entries.c.seq).order_by(t.audit_entries.c.seq.desc()))
            or 0,
            connection.scalar(select(t.outbox.c.id).order_by(t.outbox.c.id.desc())) or 0,
        )


def rows_between(engine: Engine, low: tuple[int, int, int], high: tuple[int, int, int]) -> Any:
    """The rows one phase wrote: results, audit entries, outbox messages."""
    with engine.connect() as connection:

        def fetch(table: Any, key: Any, a: int, b: int) -> list[dict[str, Any]]:
            query = select(table).where(key > a, key <= b).order_by(key)
            return [dict(r) for r in connection.execute(query).mappings()]

        return (
            fetch(t.results, t.results.c.id, low[0], high[0]),
            fetch(t.audit_entries, t.audit_entries.c.seq, low[1], high[1]),
            fetch(t.outbox, t.outbox.c.id, low[2], high[2]),
        )


def raw_insert(engine: Engine, rows: Any, per_commit: int) -> float:
    """The same rows by plain INSERTs, `per_commit` results to a transaction."""
    results, audit, outbox = rows
    audit_per, outbox_per = len(audit) // len(results), len(outbox) // len(results)

    def work() -> None:
        for i in range(0, len(results), per_commit):
            with engine.begin() as connection:
                connection.execute(insert(t.results), results[i : i + per_commit])
                connection.execute(
                    insert(t.audit_entries), audit[i * audit_per : (i + per_commit) * audit_per]
                )
                connection.execute(
                    insert(t.outbox), outbox[i * outbox_per : (i + per_commit) * outbox_per]
                )

    return rate(len(results), work)


def copy_samples(source: Engine, target: Engine) -> None:
    """Samples and planned tests, so the raw results have their parents."""
    with source.connect() as read, target.begin() as write:
        for table in (t.samples, t.planned_tests):
            write.execute(insert(table), [dict(r) for r in read.execute(select(table)).mappings()])


def bench_results(label: str, url: str, raw_url: str) -> list[Figure]:
    """Approved results through the service layer, one commit each and batched."""
    hub, commands = prepare(url)
    single, batched = commands[:RESULTS], commands[RESULTS:]
    start = marks(hub.engine)
    with Progress(transient=True) as progress:
        task = progress.add_task(f"{label}: results one per commit", total=len(single))

        def one_by_one() -> None:
            for command in single:
                hub.bus.handle(command)
                progress.advance(task)

        service_single = rate(len(single), one_by_one)
    middle = marks(hub.engine)
    service_batched = rate(
        len(batched),
        lambda: [
            hub.bus.handle(
                c.RecordResults(c.Context("lims", "system"), tuple(batched[i : i + BATCH]))
            )
            for i in range(0, len(batched), BATCH)
        ],
    )
    end = marks(hub.engine)
    upgrade(raw_url)
    raw = bootstrap(Settings(database_url=raw_url, token_secret=secrets.token_urlsafe(32)))
    copy_samples(hub.engine, raw.engine)
    raw_single = raw_insert(raw.engine, rows_between(hub.engine, start, middle), 1)
    raw_batched = raw_insert(raw.engine, rows_between(hub.engine, middle, end), BATCH)
    figures = [
        Figure(f"{label}.approved_results.commit_each", service_single, "results/s", raw_single),
        Figure(
            f"{label}.approved_results.batch_{BATCH}", service_batched, "results/s", raw_batched
        ),
        bench_verify(label, hub),
    ]
    hub.close()
    raw.close()
    return figures


def bench_verify(label: str, hub: Hub) -> Figure:
    """`audit verify` against a plain SHA-256 chain over the same canonical bytes."""
    with hub.sessions() as session:
        entries = list(iter_audit(session))
    payloads = [e.canonical() for e in entries]

    def verify() -> None:
        with hub.sessions() as session:
            assert verify_chain(iter_audit(session)).ok

    def plain_chain() -> None:
        previous = GENESIS_HASH.encode()
        for payload in payloads:
            previous = hashlib.sha256(previous + payload).hexdigest().encode()

    return Figure(
        f"{label}.audit_verify",
        rate(len(entries), verify),
        "entries/s",
        rate(len(payloads), plain_chain),
    )


def postgres_urls() -> tuple[str, str, Callable[[], None]]:
    """Two fresh PostgreSQL databases and a function that drops them."""
    names = [f"labgate_bench_{secrets.token_hex(4)}" for _ in range(2)]
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")

    def drop() -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            for name in names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{base}/{names[0]}", f"{base}/{names[1]}", drop


def main() -> None:
    """Run every benchmark, print the BENCH lines, write var/bench/latest.json."""
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.db*"):
        old.unlink()
    figures = bench_results(
        "sqlite", f"sqlite:///{OUT / 'service.db'}", f"sqlite:///{OUT / 'raw.db'}"
    )
    service, raw, drop = postgres_urls()
    try:
        figures += bench_results("postgres", service, raw)
    finally:
        drop()
    for figure in figures:
        print(figure.line())
    report = [
        {
            "name": f.name,
            "rate": round(f.rate, 1),
            "unit": f.unit,
            "raw": round(f.raw, 1),
            "ratio": round(f.rate / f.raw, 3),
        }
        for f in figures
    ]
    (OUT / "latest.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
