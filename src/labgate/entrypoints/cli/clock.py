"""`labgate clock`: check the hub's clock against the plant's NTP server, and show how it and
each source's clock have fared."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from labgate.adapters.clock.ntp import NtpUnanswered, ntp_reading
from labgate.adapters.store.clock_view import clock_overview
from labgate.adapters.store.migrate import SchemaBehind, require_current_schema
from labgate.compliance.clock import Clock, SystemClock, iso_utc
from labgate.compliance.time_check import ClockCheck, ClockStatus
from labgate.config import Settings
from labgate.database import open_database
from labgate.service.clock_watch import ClockUnread, check_clock
from labgate.service.unit_of_work import UnitOfWork

clock_app = typer.Typer(help="Trusted time: the hub's clock against NTP.", no_args_is_help=True)
console = Console(soft_wrap=True)
log = logging.getLogger("labgate.clock")
EXIT_CODES = {ClockStatus.OK: 0, ClockStatus.DRIFT: 1, ClockStatus.UNREACHABLE: 3}


def read_ntp(server: str) -> tuple[float, float]:
    """The NTP server's reading, or ClockUnread in words."""
    try:
        return ntp_reading(server)
    except NtpUnanswered as error:
        raise ClockUnread(str(error)) from error


class ClockWatch:
    """Checks the clock after a relay pass, at most every `every` seconds (0, or no server:
    never), so a running hub's clock is checked without a cron job; a check that fails to be
    recorded is logged and tried again next time."""

    def __init__(
        self, settings: Settings, uow_factory: Callable[[], UnitOfWork], clock: Clock
    ) -> None:
        self.server, self.threshold = settings.ntp_server, settings.ntp_max_offset_ms
        self.every = settings.ntp_check_seconds if self.server else 0
        self.uow_factory, self.clock = uow_factory, clock
        self.due = time.monotonic()

    def __call__(self) -> None:
        """Check if it is due."""
        if not self.every or self.server is None or time.monotonic() < self.due:
            return
        self.due = time.monotonic() + self.every
        try:
            check = check_clock(self.uow_factory(), self.clock, read_ntp, self.server,
                                self.threshold)  # fmt: skip
        except Exception:  # the database went away, say: the next check is tried next time
            log.exception("clock check failed")
            return
        if check.status is not ClockStatus.OK:
            log.error("clock %s: %s", check.status.value, check.detail)


@clock_app.command("check")
def clock_check(
    server: Annotated[
        str | None,
        typer.Option(help="host or host:port; LABGATE_NTP_SERVER when not given."),
    ] = None,
) -> None:
    """Check the hub's clock once: kept as history, audited when not ok. Exit 0 within
    LABGATE_NTP_MAX_OFFSET_MS, 1 drift, 3 no answer (run it from cron)."""
    settings = Settings()
    server = server or settings.ntp_server
    if not server:
        typer.echo("error: no NTP server: set LABGATE_NTP_SERVER or pass --server.", err=True)
        raise typer.Exit(2)
    database = open_database(settings)
    try:
        require_current_schema(database.engine)
        check = check_clock(database.uow_factory(), SystemClock(), read_ntp, server,
                            settings.ntp_max_offset_ms)  # fmt: skip
    except SchemaBehind as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        database.engine.dispose()
    _say(check)
    raise typer.Exit(EXIT_CODES[check.status])


def _say(check: ClockCheck) -> None:
    offset = "—" if check.offset_ms is None else f"{check.offset_ms:+.1f} ms"
    console.print(f"{check.status.value}: {check.detail}", markup=False)
    console.print(f"server {check.server} · offset {offset} · allowed ±{check.threshold_ms:g} ms · "
                  f"checked {iso_utc(check.checked_at)}", markup=False)  # fmt: skip


@clock_app.command("show")
def clock_show() -> None:
    """Each NTP server's state, the latest checks, and each source's clock skew (received_at -
    sent_at of its applied messages)."""
    settings = Settings()
    database = open_database(settings)
    try:
        require_current_schema(database.engine)
        with database.sessions() as session:
            overview = clock_overview(session)
    except SchemaBehind as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(2) from None
    finally:
        database.engine.dispose()
    if not overview["states"]:
        never = "The hub's clock was never checked (LABGATE_NTP_SERVER, `labgate clock check`)."
        console.print(never, markup=False)
    states = Table(
        "server", "status", "since", "last checked", "last offset ms", title="NTP servers"
    )
    for state in overview["states"]:
        states.add_row(state["server"], state["status"].value, iso_utc(state["since"]),
                       iso_utc(state["last_checked_at"]), _ms(state["last_offset_ms"]))  # fmt: skip
    checks = Table("checked", "server", "status", "offset ms", "delay ms", title="Latest checks")
    for check in overview["checks"]:
        checks.add_row(iso_utc(check["checked_at"]), check["server"], check["status"].value,
                       _ms(check["offset_ms"]), _ms(check["delay_ms"]))  # fmt: skip
    sources = Table("source", "messages", "mean ms", "min ms", "max ms", "last ms", "last received",
                    title="Source clocks (received_at - sent_at)")  # fmt: skip
    for row in overview["sources"]:
        sources.add_row(row["source"], str(row["messages"]), f"{row['mean_ms']:.1f}",
                        str(row["min_ms"]), str(row["max_ms"]), str(row["last_ms"]),
                        iso_utc(row["last_received_at"]))  # fmt: skip
    for table in (states, checks, sources):
        console.print(table)


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1f}"
