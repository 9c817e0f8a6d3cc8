"""`make bench`: labgate's hot paths against the raw limit measured in the same run.

Each line reads `BENCH <name> <rate> <unit> raw=<rate> ratio=<r>`; the same goes to
var/bench/latest.json. The raw limit is the same rows (or bytes) handled by plain means on the
same database with the same durability, so the ratio says what labgate's work costs. The
interface lines come from ingest.py (AMQP, file packs) and latency.py (REST under 50
clients, which adds `p50=<ms> p99=<ms>`; approval to MES, which has only those), and
`amqp.consume_and_ack_only`: the AMQP consumer's own rate with no work behind it, the ceiling the
AMQP ingest line sits under on this machine whatever labgate does. The `cli.start` lines
(cli_start.py) time `labgate --help`, `labgate evaluate` and `labgate users list` (on a small
database) against `python -c pass`. The `console` lines (console.py) time console pages on
the demo plant grown to 5,000 samples against the JSON API reads that give their data, with
`p50=` and `p95=` per page."""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
from rich.progress import Progress
from sqlalchemy import Engine, insert, select

from labgate.adapters.store import tables as t
from labgate.adapters.store.audit_store import snapshot, verify_stored
from labgate.adapters.store.migrate import upgrade
from labgate.adapters.store.views import iter_audit
from labgate.bootstrap import Hub, bootstrap
from labgate.compliance.audit import GENESIS_HASH
from labgate.compliance.passwords import new_api_key
from labgate.config import Settings
from labgate.domain import commands as c
from labgate.domain.interface_commands import MapIdentity
from labgate.domain.samples import Sample
from labgate.entrypoints.cli.demo import (
    first_own_password,
    plant_document,
    plausible_value,
    put_specs_in_force,
)

RESULTS = int(os.environ.get("LABGATE_BENCH_RESULTS", "400"))
BATCH = 100
PG_ADMIN = os.environ.get("LABGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
OUT = Path("var/bench")
ENVELOPE_BYTES = 650  # about a signed labgate.result.v1 envelope


@dataclass(frozen=True)
class Figure:
    """One benchmark line: a rate against its raw limit, and latency percentiles (ms) if any."""

    name: str
    rate: float | None
    unit: str = ""
    raw: float | None = None
    p50: float | None = None
    p99: float | None = None
    p95: float | None = None
    # CPU milliseconds per item of the server process, and of the raw limit's (load on the
    # machine stretches wall times, hardly CPU times: what the design costs per request).
    cpu_ms: float | None = None
    raw_cpu_ms: float | None = None

    def line(self) -> str:
        """The BENCH line."""
        parts = ["BENCH", self.name]
        if self.rate is not None:
            parts += [f"{self.rate:.1f}", self.unit]
            if self.raw is not None:
                parts += [f"raw={self.raw:.1f}", f"ratio={self.rate / self.raw:.3f}"]
        for label, value in (("p50", self.p50), ("p95", self.p95), ("p99", self.p99)):
            if value is not None:
                parts.append(f"{label}={value:.1f}")
        for label, value in (("cpu_ms", self.cpu_ms), ("raw_cpu_ms", self.raw_cpu_ms)):
            if value is not None:
                parts.append(f"{label}={value:.2f}")
        return " ".join(parts)

    def record(self) -> dict[str, Any]:
        """The figure as latest.json holds it (absent members left out)."""
        shown: dict[str, Any] = {"name": self.name}
        if self.rate is not None:
            shown |= {"rate": round(self.rate, 1), "unit": self.unit}
            if self.raw is not None:
                shown |= {"raw": round(self.raw, 1), "ratio": round(self.rate / self.raw, 3)}
        for label, value in (("p50", self.p50), ("p95", self.p95), ("p99", self.p99)):
            if value is not None:
                shown[f"{label}_ms"] = round(value, 1)
        for label, value in (("cpu_ms", self.cpu_ms), ("raw_cpu_ms", self.raw_cpu_ms)):
            if value is not None:
                shown[label] = round(value, 3)
        return shown


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seconds(work: Callable[[], object]) -> float:
    """How long `work` takes."""
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def rate(count: int, work: Callable[[], object]) -> float:
    """Items per second for `work` handling `count` items."""
    return count / seconds(work)


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile `q` (0 < q <= 1) of `values`."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class Prepared(NamedTuple):
    """A hub with the demo plant, the results to post, and the LIMS account's API key."""

    hub: Hub
    commands: list[c.RecordResult]
    lims_key: str


def lims_and_its_people(hub: Hub) -> str:
    """The LIMS's system account (its API key returned) and the two people its results name,
    mapped: an approved result naming people labgate does not know is refused."""
    ctx, key = c.Context("bench", "system"), new_api_key()
    hub.bus.handle(c.CreateAccount(ctx, "lims", "LIMS", ("lims_system",), None, "system", key))
    for user, role in (("analyst", "qc_analyst"), ("reviewer", "qc_reviewer")):
        password = secrets.token_urlsafe(16)
        hub.bus.handle(c.CreateAccount(ctx, user, user.title(), (role,), password))
        hub.bus.handle(MapIdentity(ctx, "lims", user, user, "bench: the LIMS's user ids"))
    return key


def prepare(url: str, count: int = 2 * RESULTS) -> Prepared:
    """The demo plant's master data in force, registered samples, and `count` reviewed results
    to post (each for a planned test of its own)."""
    upgrade(url)
    # A wide replay window: envelopes are signed before a phase, which may outlast 300 s at scale.
    settings = Settings(
        database_url=url, token_secret=secrets.token_urlsafe(32), replay_window_seconds=3600
    )
    hub = bootstrap(settings)
    qa_password = secrets.token_urlsafe(16)
    hub.bus.handle(c.CreateAccount(c.Context("bench", "system"), "qa", "QA", ("qa",), qa_password))
    qa_password = first_own_password(hub, "qa", qa_password)
    document = plant_document()
    site = document["site"]["code"]
    hub.bus.handle(c.ImportMasterData(c.Context("bench", "system"), document, "bench plant"))
    put_specs_in_force(hub, site, document, qa_password)
    lims_key = lims_and_its_people(hub)
    batch = document["batches"][0]
    procedure = next(p for p in document["procedures"] if p["code"] == batch["procedure"])
    point = procedure["sampling_points"][0]["code"]
    now, lims = hub.bus.deps.clock.now(), c.Context("lims", "system")
    commands: list[c.RecordResult] = []
    with Progress(transient=True) as progress:
        task = progress.add_task(f"preparing {count} results to post", total=count)
        while len(commands) < count:
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
            progress.update(task, completed=len(commands))
    return Prepared(hub, commands[:count], lims_key)


# The tables a phase writes, each with the key that orders it; results come first.
WRITTEN: tuple[tuple[Any, Any], ...] = (
    (t.results, t.results.c.id),
    (t.audit_entries, t.audit_entries.c.seq),
    (t.outbox, t.outbox.c.id),
)
Rows = list[tuple[Any, list[dict[str, Any]]]]


def marks(engine: Engine, written: Sequence[tuple[Any, Any]] = WRITTEN) -> tuple[int, ...]:
    """The highest key of each written table."""
    with engine.connect() as connection:
        return tuple(connection.scalar(select(key).order_by(key.desc())) or 0 for _, key in written)


def rows_between(
    engine: Engine,
    low: tuple[int, ...],
    high: tuple[int, ...],
    written: Sequence[tuple[Any, Any]] = WRITTEN,
) -> Rows:
    """The rows one phase wrote, table by table, in key order."""
    with engine.connect() as connection:
        found: Rows = []
        for (table, key), a, b in zip(written, low, high, strict=True):
            query = select(table).where(key > a, key <= b).order_by(key)
            found.append((table, [dict(r) for r in connection.execute(query).mappings()]))
        return found


def raw_insert(engine: Engine, rows: Rows, per_commit: int) -> float:
    """Seconds to write the same rows by plain INSERTs, `per_commit` results to a transaction;
    every other table's rows are spread evenly over the same transactions."""
    transactions = math.ceil(len(rows[0][1]) / per_commit)

    def work() -> None:
        for n in range(transactions):
            with engine.begin() as connection:
                for table, found in rows:
                    part = found[
                        n * len(found) // transactions : (n + 1) * len(found) // transactions
                    ]
                    if part:
                        connection.execute(insert(table), part)

    return seconds(work)


def copy_samples(source: Engine, target: Engine) -> None:
    """Samples and planned tests, so the raw results have their parents."""
    with source.connect() as read, target.begin() as write:
        for table in (t.samples, t.planned_tests):
            write.execute(insert(table), [dict(r) for r in read.execute(select(table)).mappings()])


def bench_results(label: str, url: str, raw_url: str) -> list[Figure]:
    """Approved results through the service layer, one commit each and batched."""
    hub, commands, _ = prepare(url)
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
    raw_single = len(single) / raw_insert(raw.engine, rows_between(hub.engine, start, middle), 1)
    raw_batched = len(batched) / raw_insert(
        raw.engine, rows_between(hub.engine, middle, end), BATCH
    )
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
        with snapshot(hub.sessions) as session:  # what `labgate audit verify` runs
            assert verify_stored(session).ok

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


@contextmanager
def databases(label: str, *names: str) -> Iterator[list[str]]:
    """Fresh databases, one per name: SQLite files under var/bench, or PostgreSQL databases
    dropped afterwards."""
    if label == "sqlite":
        yield [f"sqlite:///{OUT / name}.db" for name in names]
        return
    made = [f"labgate_bench_{name}_{secrets.token_hex(4)}" for name in names]
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        for name in made:
            admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    try:
        yield [f"{base}/{name}" for name in made]
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            for name in made:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


GROUPS = ("cli", "results", "ingest", "rest", "latency", "console", "verify", "scale", "growth")


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmarks named (all by default: `python -m labgate_bench [GROUP ...]`, groups
    cli, results, ingest, rest, latency, console, verify, scale, growth; `latency` includes
    `rest`),
    print the BENCH lines, write var/bench/latest.json."""
    # Imported here: the interface benchmarks build on this module's helpers.
    from labgate_bench import cli_start, console, growth, ingest, latency, scale, verify_growth

    wanted = set(sys.argv[1:] if argv is None else argv) or set(GROUPS)
    if wanted - set(GROUPS):
        raise SystemExit(f"unknown group(s) {sorted(wanted - set(GROUPS))}; choose from {GROUPS}")
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.db*"):
        old.unlink()
    figures: list[Figure] = cli_start.run() if "cli" in wanted else []  # needs no database
    with ingest.vhost() as amqp_url:
        for label in ("sqlite", "postgres"):
            names = ("service", "raw", "ingest", "ingest_raw", "latency", "console", "reference",
                     "verify")  # fmt: skip
            with databases(label, *names) as urls:
                if "results" in wanted:
                    figures += bench_results(label, urls[0], urls[1])
                if "ingest" in wanted:
                    figures += ingest.run(label, urls[2], urls[3], amqp_url)
                if "latency" in wanted:
                    figures += latency.run(label, urls[4], amqp_url, urls[6])
                elif "rest" in wanted:
                    figures += latency.run_rest(label, urls[4], urls[6])
                if "console" in wanted:
                    figures += console.run(label, urls[5])
                if "verify" in wanted:
                    figures += verify_growth.run(label, urls[7])
        if "ingest" in wanted:
            figures.append(ingest.bench_transport(amqp_url, ENVELOPE_BYTES))
    figures += scale.run() if "scale" in wanted else []  # fresh databases and vhosts of its own
    figures += growth.run() if "growth" in wanted else []
    for figure in figures:
        print(figure.line())
    report = [figure.record() for figure in figures]
    (OUT / "latest.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
