"""Commands that open the database load the database and what they use, not the whole hub:
`labgate users list` and `audit verify` run without the bus's converter (pint),
statistics (numpy, SciPy, statsmodels), codecs (lxml), PGP and channels (aio-pika, aiomqtt,
asyncssh), and a SQLite database without PostgreSQL's dialects. The time itself is measured by
`make bench` (`cli.start.users_list`); the bench's small database is checked here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labgate_bench.cli_start import (
    ACCOUNTS,
    INTEGRATOR,
    INTEGRATOR_PASSWORD,
    labgate,
    small_database,
)

# What the hub wires beside the database, and the relay's transports: none of it is read by
# a command that lists accounts, verifies the trail or prints a certificate from the store.
NOT_NEEDED = {"pint", "numpy", "pandas", "scipy", "statsmodels", "matplotlib", "lxml", "gnupg",
              "aio_pika", "aiormq", "aiomqtt", "asyncssh", "httpx2", "fastapi", "uvicorn",
              "alembic"}  # fmt: skip
STATISTICS_AND_UNITS = {"pint", "numpy", "pandas", "scipy", "statsmodels"}
# Modules and packages (a name and what lies under it, not its namesakes: inbox_records is the
# unit of work's, service.inbox.admission the bus's).
NOT_NEEDED_LABGATE = ("labgate.bootstrap", "labgate.service.messagebus",
                      "labgate.service.inbox.admission",
                      "labgate.adapters.units_pint", "labgate.adapters.q1e_shelf_life",
                      "labgate.adapters.oot_regression", "labgate.adapters.stability_observations",
                      "labgate.adapters.codecs", "labgate.adapters.channels",
                      "sqlalchemy.dialects.postgresql")  # fmt: skip


def imported_by(
    argv: list[str], env: dict[str, str], typed: str | None = None
) -> tuple[set[str], str]:
    """The modules a fresh `labgate ...` process imports (`-X importtime`), and its output."""
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "labgate", *argv],
                         capture_output=True, text=True, env=env, input=typed)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in run.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "labgate.entrypoints.cli.main" in modules  # the probe saw the real start
    return modules, run.stdout


def heavy(modules: set[str]) -> list[str]:
    return sorted(
        m
        for m in modules
        if m.split(".")[0] in NOT_NEEDED
        or any(m == name or m.startswith(f"{name}.") for name in NOT_NEEDED_LABGATE)
    )


@pytest.mark.parametrize(
    ("argv", "shown"),
    [(["users", "list"], "reviewer1"), (["audit", "verify"], "audit trail intact")],
    ids=["users-list", "audit-verify"],
)
def test_a_command_that_reads_records_opens_the_database_alone(argv: list[str], shown: str) -> None:
    with small_database() as env:
        modules, output = imported_by(argv, env)
    assert "sqlalchemy.orm" in modules and "labgate.database" in modules
    assert heavy(modules) == []
    assert shown in output


def test_the_bench_database_holds_the_accounts_users_list_shows() -> None:
    with small_database() as env:
        url = env["LABGATE_DATABASE_URL"]
        assert url.startswith("sqlite:///") and Path(url.removeprefix("sqlite:///")).exists()
        listed = subprocess.run(
            [*labgate(), "users", "list"], capture_output=True, text=True, env=env, check=True
        )
    for username, role in ACCOUNTS:
        assert username in listed.stdout and role in listed.stdout
    assert not Path(url.removeprefix("sqlite:///")).exists()  # the folder went with the bench


def test_a_command_through_the_bus_imports_units_and_statistics_only_when_used(
    tmp_path: Path,
) -> None:
    """`masterdata import` goes through the bus (a hub), which imports pint's converter and
    the trend check's statistics when a message first needs them: loading a site needs neither."""
    document = tmp_path / "site.yaml"
    document.write_text("site: {code: B1, name: Bench plant}\n", encoding="utf-8")
    with small_database() as env:
        argv = ["masterdata", "import", str(document), "--reason", "CR-1: a site"]
        typed = env[INTEGRATOR_PASSWORD] + "\n"
        modules, output = imported_by([*argv, "--as", INTEGRATOR], env, typed)
    assert "labgate.bootstrap" in modules and "labgate.service.messagebus" in modules
    assert "created=1" in output  # the site was loaded
    assert sorted(m for m in modules if m.split(".")[0] in STATISTICS_AND_UNITS) == []


def test_a_server_hub_imports_units_and_statistics_as_it_starts(tmp_path: Path) -> None:
    """`bootstrap` preloads them by default (servers, workers), so no request waits for them."""
    probe = (
        "import sys; from labgate.bootstrap import bootstrap; from labgate.config import Settings;"
        "settings = Settings(database_url='sqlite://', token_secret='x' * 32);"
        "bootstrap(settings, preload=False).close(); lazy = 'pint' in sys.modules;"
        "bootstrap(settings).close();"
        "wanted = ('pint', 'numpy', 'labgate.adapters.trend_check');"
        "print(lazy, all(m in sys.modules for m in wanted))"
    )
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert shown.stdout.split() == ["False", "True"]
