"""The `cli.start` lines of `make bench`: how long `labgate --help`, `labgate evaluate` and
`labgate users list` (a command that opens the database: a SQLite file at the current schema
holding a few accounts) take from process start to exit, against `python -c pass` timed in the
same run.

Each command runs as an operator runs it (the installed `labgate` script, or `python -m labgate`
where there is none) in a fresh process. The runs are interleaved with the baseline's, so load
from other work falls on both alike. Rates are starts per second over all timed runs; p50 and
p99 are each start's wall time in milliseconds.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from labgate_bench.main import Figure, percentile

RUNS = int(os.environ.get("LABGATE_BENCH_CLI_RUNS", "20"))
BASELINE = [sys.executable, "-c", "pass"]
COMMANDS = {
    "cli.start.help": ["--help"],
    "cli.start.evaluate": ["evaluate", "--rule", "usp", "--limit", "NLT 98.0", "--value", "97.96"],
    "cli.start.users_list": ["users", "list"],  # opens the database: see small_database
}
ACCOUNTS = (("qa1", "qa"), ("analyst1", "qc_analyst"), ("reviewer1", "qc_reviewer"))
# A person who may load master data, whose own password (not a temporary one) the small
# database's environment carries under this name, for a command that signs in (`--as`).
INTEGRATOR, INTEGRATOR_PASSWORD = "integrator1", "LABGATE_BENCH_INTEGRATOR_PASSWORD"


def labgate() -> list[str]:
    """The command line that starts labgate: its console script beside this Python, if any."""
    script = Path(sys.executable).with_name("labgate")
    return [str(script)] if script.exists() else [sys.executable, "-m", "labgate"]


def start(argv: list[str], env: Mapping[str, str] | None = None) -> float:
    """Seconds from starting `argv` to its exit; a failing command stops the bench."""
    began = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - began


@contextmanager
def small_database() -> Iterator[dict[str, str]]:
    """The environment of a command run on a small database: a SQLite file in a temporary
    folder, at the current schema, with a few accounts made through the bus as `users create`
    makes them. Built in this process, so none of it is timed."""
    from labgate.adapters.store.migrate import upgrade
    from labgate.bootstrap import bootstrap
    from labgate.config import Settings
    from labgate.domain.account_commands import ChangePassword
    from labgate.domain.commands import Context, CreateAccount

    with tempfile.TemporaryDirectory(prefix="labgate-bench-cli-") as folder:
        url = f"sqlite:///{Path(folder) / 'cli.db'}"
        upgrade(url)
        hub = bootstrap(Settings(database_url=url, token_secret=secrets.token_urlsafe(32)))
        try:
            for username, role in (*ACCOUNTS, (INTEGRATOR, "integration_admin")):
                temporary = secrets.token_urlsafe(16)
                hub.bus.handle(CreateAccount(Context("bench", "system"), username,
                                             username.title(), (role,), temporary))  # fmt: skip
            own = secrets.token_urlsafe(16)
            hub.bus.handle(ChangePassword(Context(INTEGRATOR, "person"), INTEGRATOR,
                                          temporary, own))  # fmt: skip
        finally:
            hub.close()
        yield {**os.environ, "LABGATE_DATABASE_URL": url, INTEGRATOR_PASSWORD: own}


def run(runs: int = RUNS) -> list[Figure]:
    """Time each command and the baseline `runs` times, interleaved, after one untimed start
    of each (which brings the files into the page cache)."""
    argvs = {"baseline": BASELINE} | {name: labgate() + args for name, args in COMMANDS.items()}
    with small_database() as env:  # every command sees it; only `users list` reads it
        for argv in argvs.values():
            start(argv, env)
        times: dict[str, list[float]] = {name: [] for name in argvs}
        for _ in range(runs):
            for name, argv in argvs.items():
                times[name].append(start(argv, env))
    raw = runs / sum(times["baseline"])
    return [
        Figure(
            name,
            runs / sum(times[name]),
            "starts/s",
            raw,
            p50=percentile(times[name], 0.5) * 1000,
            p99=percentile(times[name], 0.99) * 1000,
        )
        for name in COMMANDS
    ]


if __name__ == "__main__":
    for figure in run():
        print(figure.line())
