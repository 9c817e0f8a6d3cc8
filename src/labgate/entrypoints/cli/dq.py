"""`labgate dq`: run the data-quality rules (from cron, or by hand) and list them."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from labgate.domain.data_quality import RULES
from labgate.domain.errors import LabgateError
from labgate.entrypoints.cli.dq_schedule import site_codes

dq_app = typer.Typer(help="Data-quality controls.", no_args_is_help=True)
console = Console(soft_wrap=True)
EXIT_BREACH = 1


@dq_app.callback()
def dq() -> None:
    """Completeness, validity, uniqueness, timeliness and consistency of master data and
    interfaced records, against thresholds."""


@dq_app.command("rules")
def rules() -> None:
    """The rules: id, dimension, severity, threshold, what each checks."""
    table = Table("id", "dimension", "severity", "threshold", "checks", title="Data-quality rules")
    for rule in RULES:
        table.add_row(rule.id, rule.dimension.value, rule.severity.value, rule.threshold,
                      rule.checks)  # fmt: skip
    console.print(table)


@dq_app.command("run")
def run(
    site: Annotated[
        str | None, typer.Option("--site", help="One site; every site when not given.")
    ] = None,
) -> None:
    """Measure every rule, keep the run, open a deviation per rule newly in breach (a rule
    still in breach is noted on its open one). Exit 0: all within thresholds; 1: a breach."""
    from labgate.adapters.store.dq_view import run_view
    from labgate.config import dq_windows
    from labgate.domain.dq_commands import RunDataQuality
    from labgate.entrypoints.cli.main import cli_context, fail, open_hub

    breached = False
    with open_hub() as hub:
        for code in [site] if site else site_codes(hub):
            command = RunDataQuality(cli_context(), code, "cli", dq_windows(hub.settings))
            try:
                run_id = hub.bus.handle(command)
            except LabgateError as error:
                raise fail(error, 2) from None
            with hub.sessions() as session:
                shown = run_view(session, run_id)
            breached |= shown["breaches"] > 0
            _say(shown)
    raise typer.Exit(EXIT_BREACH if breached else 0)


def _say(run: dict[str, Any]) -> None:
    """One line per rule: plain text, for a person and for cron's mail alike."""
    console.print(f"Data-quality run {run['id']} at {run['site']}: {run['breaches']} of "
                  f"{run['rules']} rules in breach", markup=False)  # fmt: skip
    for x in run["results"]:
        deviation = f" · deviation {x['deviation']}" if x["deviation"] else ""
        examples = f" · e.g. {', '.join(x['examples'][:3])}" if x["examples"] else ""
        console.print(f"  {x['status']:<6} {x['rule']:<15} {x['dimension']:<12} "
                      f"{x['measured']} of {x['population']} failing ({x['threshold']})"
                      f"{deviation}{examples}", markup=False)  # fmt: skip
