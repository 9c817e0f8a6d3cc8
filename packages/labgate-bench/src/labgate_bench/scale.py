"""Scale-out on PostgreSQL and RabbitMQ: does a second worker process buy throughput, and at
what cost in CPU?

AMQP: SCALE_RESULTS signed results on STREAMS streams (round-robin, so every run of deliveries
mixes them) are published to a fresh vhost's inbound queue first; then `labgate worker amqp`
drains them, as a plant runs it (a process of its own, configured by LABGATE_* settings), once
with one worker and, on a fresh copy of the same database and a fresh vhost, with two workers
on the same queue. The clock starts when every worker is consuming (what was applied by then is
not counted) and stops when every stream's position reached its last sequence. A run counts
only if every result was applied, exactly once, with nothing held or quarantined. The inbound
queue has a single active consumer: the second worker waits as a standby (it took turns with the
first before, which brought every stream to the inbox with gaps: 0.067 of one worker's rate),
so this line now says what the standby costs, and scale-out waits for the queue to be partitioned
by stream.
`postgres.scale.amqp_workers_2` is the two workers' rate against one worker's;
`postgres.scale.amqp_cpu_efficiency` is results per CPU-second of every process involved (the
workers, the PostgreSQL server's processes serving the run's database and its own background
processes, RabbitMQ's beam.smp; user + system time from /proc over the same window), two
workers against one. beam.smp and PostgreSQL's background processes also serve whatever else
runs on the machine, in both runs alike.

REST: `labgate serve --workers 2 --no-relay` against `--workers 1 --no-relay` (the relay does
not run in-process with more than one worker), each on a fresh copy of the database, with the
clients and envelopes of `ingest.rest_50` (latency.py)."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

import psycopg
from rich.progress import Progress
from sqlalchemy import create_engine, func, select

from labgate.adapters.channels.amqp import Topology
from labgate.adapters.store import tables as t
from labgate.compliance.passwords import new_api_key
from labgate.domain import commands as c
from labgate_bench.ingest import SOURCE, Lims, publish, vhost
from labgate_bench.latency import CLIENTS, REQUESTS, Work, clients, server
from labgate_bench.main import OUT, PG_ADMIN, Figure, percentile, prepare

SCALE_RESULTS = int(os.environ.get("LABGATE_BENCH_SCALE_RESULTS", "10000"))
STREAMS = 20
DRAIN_TIMEOUT = 1800.0  # seconds; a stream stuck on a held message fails the run instead
TICK = os.sysconf("SC_CLK_TCK")


class Plant(NamedTuple):
    """A PostgreSQL database holding the demo plant and the samples to report on, to be copied;
    the signed envelopes for it, and the LIMS account's API key."""

    database: str
    amqp: list[bytes]
    rest: Work
    api_key: str


def pg_url(database: str) -> str:
    """The SQLAlchemy URL of a database on the bench's server."""
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{database}"


def admin(sql: str) -> None:
    """One statement as the server's administrator, outside any transaction."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
        connection.execute(sql)  # type: ignore[arg-type,unused-ignore]


@contextmanager
def plant(amqp_results: int, rest_results: int) -> Iterator[Plant]:
    """The template database and its envelopes: AMQP ones on STREAMS streams, REST ones on a
    stream per client (a first one each for warming up). Dropped afterwards."""
    name = f"labgate_bench_scale_{secrets.token_hex(4)}"
    admin(f'CREATE DATABASE "{name}"')
    try:
        hub, results, lims_key = prepare(pg_url(name), amqp_results + rest_results)
        try:
            lims = Lims(hub, lims_key)
            amqp = [
                lims.envelope(f"scale-{n % STREAMS:02d}", n // STREAMS + 1, r, f"scale-{n}")
                for n, r in enumerate(results[:amqp_results])
            ]
            rest = rest_work(lims, results[amqp_results:])
        finally:
            hub.close()
        yield Plant(name, amqp, rest, lims_key)
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def rest_work(lims: Lims, results: Sequence[c.RecordResult]) -> Work:
    """The envelopes of ingest.rest_50: one stream per client, in order."""
    return [
        [lims.envelope(f"rest-{k:02d}", n, r, f"rest-{k}-{n}")
         for n, r in enumerate(results[k::CLIENTS], 1)]
        for k in range(CLIENTS)
    ]  # fmt: skip


@contextmanager
def copy_of(template: str) -> Iterator[str]:
    """A fresh copy of the template database (its name); dropped afterwards."""
    name = f"{template}_{secrets.token_hex(3)}"
    admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield name
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def hub_env(database: str, **extra: str) -> dict[str, str]:
    """labgate's settings for a process on `database` (no other LABGATE_* leaks in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABGATE_")}
    return {**env, "LABGATE_DATABASE_URL": pg_url(database), "LABGATE_TOKEN_SECRET":
            new_api_key(), "LABGATE_REPLAY_WINDOW_SECONDS": "3600", "LABGATE_DEMO": "0",
            **extra}  # fmt: skip


# --- CPU time from /proc --------------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int, float] | None:
    """A process's name, parent and user + system CPU seconds (None: it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
    return name, int(rest[1]), (int(rest[11]) + int(rest[12])) / TICK


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def cpu_of(roots: Sequence[int], database: str) -> dict[int, float]:
    """CPU seconds so far of the processes of a run: `roots` and their descendants (the
    workers), RabbitMQ's beam.smp, and PostgreSQL's server processes except the connections
    to other databases."""
    found: dict[int, float] = {}
    stats = {int(p.name): s for p in Path("/proc").iterdir() if p.name.isdigit()
             if (s := _stat(int(p.name))) is not None}  # fmt: skip
    ours = set(roots)
    for pid in sorted(stats):  # children come after their parents, mostly; repeat to be sure
        if stats[pid][1] in ours:
            ours.add(pid)
    postmaster = {pid for pid, (name, parent, _) in stats.items()
                  if name == "postgres" and parent == 1}  # fmt: skip
    for pid, (name, parent, cpu) in stats.items():
        if pid in ours or name == "beam.smp" or pid in postmaster:
            found[pid] = cpu
        elif parent in postmaster:
            line = _cmdline(pid)
            client = "(" in line or "[local]" in line
            if not client or f" {database} " in line:
                found[pid] = cpu
    return found


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two readings (a process started in between counts from zero)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


# --- AMQP workers ---------------------------------------------------------------------------


class Drained(NamedTuple):
    """One drain: results applied in the timed window, its seconds and CPU seconds."""

    results: int
    seconds: float
    cpu: float


def applied(database: str) -> int:
    """Results applied so far on the bench's streams (the sum of their positions)."""
    p = t.stream_positions.c
    engine = create_engine(pg_url(database), pool_size=1)
    try:
        with engine.connect() as connection:
            query = select(func.coalesce(func.sum(p.last_sequence), 0)).where(p.source == SOURCE)
            return int(connection.scalar(query) or 0)
    finally:
        engine.dispose()


def consumers(url: str) -> int:
    """Consumers on the inbound queue now, the standbys included (the queue has a single active
    consumer: the broker's own count leaves the waiting ones out)."""
    vhost = unquote(urlsplit(url).path[1:]) or "/"
    listed = subprocess.run(["rabbitmqctl", "list_consumers", "-q", "-p", vhost, "queue_name"],
                            check=True, capture_output=True, text=True).stdout  # fmt: skip
    return sum(line.strip() == Topology().inbound_queue for line in listed.splitlines())


def start_workers(database: str, url: str, count: int) -> list[subprocess.Popen[bytes]]:
    """`labgate worker amqp` processes on the database and vhost, output to var/bench."""
    labgate = str(Path(sys.executable).parent / "labgate")
    env = hub_env(database, LABGATE_AMQP_URL=url)
    started = []
    for n in range(count):
        with (OUT / f"scale-worker-{count}-{n}.log").open("wb") as out:
            started.append(subprocess.Popen([labgate, "worker", "amqp"], env=env, stdout=out,
                                            stderr=subprocess.STDOUT))  # fmt: skip
    return started


def drain(database: str, url: str, bodies: list[bytes], workers: int) -> Drained:
    """Publish, start `workers` workers, and time them from all consuming to all applied."""
    asyncio.run(publish(url, Topology(), bodies))
    processes = start_workers(database, url, workers)
    try:
        while consumers(url) < workers:
            if any(p.poll() is not None for p in processes):
                raise RuntimeError(f"a worker exited; see {OUT}/scale-worker-*.log")
            time.sleep(0.02)
        start, cpu = time.perf_counter(), cpu_of([p.pid for p in processes], database)
        first = done = applied(database)
        with Progress(transient=True) as progress:
            bar = progress.add_task(f"AMQP, {workers} worker(s)", total=len(bodies))
            while done < len(bodies):
                if time.perf_counter() - start > DRAIN_TIMEOUT:
                    raise RuntimeError(f"not drained in {DRAIN_TIMEOUT:g} s: {done} applied")
                time.sleep(0.05)
                done = applied(database)
                progress.update(bar, completed=done)
        took = time.perf_counter() - start
        used = cpu_used(cpu, cpu_of([p.pid for p in processes], database))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)
    check_drained(database, len(bodies))
    return Drained(len(bodies) - first, took, used)


def check_drained(database: str, expected: int) -> None:
    """Refuse the run unless every result was applied exactly once, nothing held or
    quarantined."""
    engine = create_engine(pg_url(database), pool_size=1)
    i = t.inbox_messages.c
    try:
        with engine.connect() as connection:
            results = connection.scalar(select(func.count()).select_from(t.results))
            statuses: dict[str, int] = dict(connection.execute(
                select(i.status, func.count()).where(i.source == SOURCE).group_by(i.status)
            ).all())  # fmt: skip
            quarantined = connection.scalar(select(func.count()).select_from(t.quarantine))
    finally:
        engine.dispose()
    if results != expected or statuses != {"applied": expected} or quarantined:
        raise RuntimeError(f"not drained cleanly: {results} results of {expected}, inbox "
                           f"{statuses}, {quarantined} quarantined")  # fmt: skip


def bench_amqp(template: Plant) -> list[Figure]:
    """One worker, then two, each on a fresh copy and vhost."""
    runs = {}
    for workers in (1, 2):
        with copy_of(template.database) as database, vhost() as url:
            runs[workers] = drain(database, url, template.amqp, workers)
    rate = {w: d.results / d.seconds for w, d in runs.items()}
    per_cpu = {w: d.results / d.cpu for w, d in runs.items()}
    return [
        Figure("postgres.scale.amqp_workers_2", rate[2], "results/s", rate[1]),
        Figure("postgres.scale.amqp_cpu_efficiency", per_cpu[2], "results/cpu-s", per_cpu[1]),
    ]


# --- REST -----------------------------------------------------------------------------------


def rest_rate(
    database_url: str, api_key: str, streams: Work, log: Path, options: Sequence[str] = ()
) -> tuple[float, list[float]]:
    """Requests per second of `labgate serve` (with `options`) under the REST clients: each
    client's first envelope and a GET /docs untimed, the rest timed; and their latencies."""
    warm_up: Work = [[bodies[0], None] for bodies in streams]
    work: Work = [bodies[1:] for bodies in streams]
    count = sum(len(bodies) for bodies in work)
    with Progress(transient=True) as progress:
        task = progress.add_task(f"REST, {CLIENTS} clients {' '.join(options)}", total=count)
        with server(database_url, log, options=options) as base:
            asyncio.run(clients(base, api_key, warm_up, lambda: None))
            took, latencies = asyncio.run(
                clients(base, api_key, work, lambda: progress.advance(task))
            )
    return count / took, latencies


def bench_rest(template: Plant) -> Figure:
    """`serve --workers 2` against `--workers 1`, each on a fresh copy of the database."""
    rates: dict[int, float] = {}
    latencies: list[float] = []
    for workers in (1, 2):
        with copy_of(template.database) as database:
            options = ("--workers", str(workers), "--no-relay")
            log = OUT / f"scale-serve-{workers}.log"
            rates[workers], latencies = rest_rate(pg_url(database), template.api_key,
                                                  template.rest, log, options)  # fmt: skip
    p50, p99 = (1000 * percentile(latencies, q) for q in (0.50, 0.99))
    return Figure("postgres.scale.rest_workers_2", rates[2], "requests/s", rates[1], p50, p99)


def run() -> list[Figure]:
    """The scale lines (PostgreSQL only: SQLite has one writer whatever the processes)."""
    with plant(SCALE_RESULTS, CLIENTS + REQUESTS) as template:
        return [*bench_amqp(template), bench_rest(template)]
