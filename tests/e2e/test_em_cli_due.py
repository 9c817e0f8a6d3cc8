"""`labgate em due`: the scheduler's command starts the rounds that are due, once, and names them.
On SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from typer.testing import CliRunner

from labgate.bootstrap import Hub
from labgate.domain import commands as c
from labgate.domain import em_commands as em
from labgate.entrypoints.cli.main import app

DUE = datetime.fromisoformat("2026-11-01T06:00:00+00:00")  # before the real clock's today
SUITE = {
    "site": {"code": "T9", "name": "EM plant"},
    "locations": [{"code": "ROOM-C", "name": "Grade C room"}],
}


def run(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["em", *args], env={"LABGATE_DATABASE_URL": url})
    return result.exit_code, result.output


def test_em_due_starts_the_rounds_that_are_due_once(hub: Hub, database_url: str) -> None:
    qa, why = c.Context("qa"), "CC-EM-1: suite set up"
    hub.bus.handle(c.ImportMasterData(c.Context("admin"), SUITE, why))
    hub.bus.handle(em.ConfigureEmLocation(qa, "T9", "ROOM-C", "C", "ROOM-C", 7, why))
    hub.bus.handle(em.ConfigureEmPoint(qa, "T9", "C-AIR", "ROOM-C", "air", "Air", 3, why))
    hub.bus.handle(em.ConfigureEmRoute(qa, "T9", "R-C", "Room C", ("C-AIR",), why))
    hub.bus.handle(em.ConfigureEmSchedule(qa, "T9", "S-C", "R-C", "at-rest", "weekly", DUE, why))
    code, printed = run(database_url, "due", "--site", "T9")
    assert code == 0, printed
    assert "1 round(s) started" in printed and "EMR-000001" in printed
    code, printed = run(database_url, "due", "--site", "T9")
    assert (code, printed.strip()) == (0, "0 round(s) started")
