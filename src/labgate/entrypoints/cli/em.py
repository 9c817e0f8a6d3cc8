"""`labgate em evaluate`: judge one environmental-monitoring count against EU GMP Annex 1 (2022).

A thin edge, a validation aid: it parses the options into domain objects, calls `evaluate_count`
on the shipped Annex 1 table and renders the outcome. Site tables arrive with the service layer.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from labgate.domain.em_limits import (
    ANNEX1_2022,
    EmEvaluation,
    evaluate_count,
    parse_count,
    parse_grade,
    parse_sample_type,
    parse_state,
    parse_whole,
)
from labgate.domain.errors import LabgateError
from labgate.domain.numbers import to_plain

__all__ = ["due", "em_app", "evaluate"]

# Bad input exits 2, the code Click uses for usage errors (as `labgate evaluate` does).
EXIT_BAD_INPUT = 2

em_app = typer.Typer(help="Environmental monitoring of cleanrooms.", no_args_is_help=True)


@em_app.callback()
def em() -> None:
    """Environmental monitoring: counts against EU GMP Annex 1 (2022) Tables 5 and 6."""


@em_app.command("evaluate")
def evaluate(
    grade: Annotated[str, typer.Option("--grade", help="Cleanroom grade: A, B, C or D.")],
    state: Annotated[str, typer.Option("--state", help="at-rest or in-operation.")],
    sample_type: Annotated[
        str,
        typer.Option("--type", help="air, settle, contact, glove, particles-0.5 or particles-5."),
    ],
    count: Annotated[str, typer.Option("--count", help="CFU, or particles/m³ for particles.")],
    alert: Annotated[
        str | None, typer.Option("--alert", help="The site's alert level, below the action limit.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Say whether a count is within, above the alert level or above the action limit."""
    try:
        kind = parse_sample_type(sample_type, "--type")
        outcome = evaluate_count(
            ANNEX1_2022,
            parse_grade(grade, "--grade"),
            parse_state(state, "--state"),
            kind,
            parse_count(count, kind, "--count"),
            None if alert is None else parse_whole(alert, "--alert"),
        )
    except LabgateError as error:
        typer.echo(error.message, err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from error
    report = _report(outcome)
    typer.echo(json.dumps(report) if as_json else _summary(report))


@em_app.command("due")
def due(
    site: Annotated[str, typer.Option("--site", help="The site whose schedules to run.")],
) -> None:
    """Start a round for every EM schedule that is due now (run it from cron or a timer)."""
    from labgate.domain.em_commands import StartDueRounds
    from labgate.entrypoints.cli.main import cli_context, fail, open_hub

    with open_hub() as hub:
        try:
            started = hub.bus.handle(StartDueRounds(cli_context(), site))
        except LabgateError as error:
            raise fail(error) from None
    typer.echo(f"{len(started)} round(s) started" + "".join(f"\n  {r}" for r in started))


def _report(outcome: EmEvaluation) -> dict[str, object]:
    """Lay the outcome out as the JSON object the command prints."""
    cell = outcome.limit
    return {
        "grade": cell.grade.value,
        "state": cell.state.value,
        "type": cell.sample_type.value,
        "count": to_plain(outcome.count),
        "outcome": outcome.outcome.value,
        "action": cell.action,
        "no_growth": cell.no_growth,
        "alert": outcome.alert,
        "alert_source": outcome.alert_source,
        "unit": cell.unit,
        "source": cell.source,
        "notes": list(cell.notes),
    }


def _summary(report: dict[str, object]) -> str:
    """Render the report as a few aligned lines for a person."""
    action = "no growth" if report["no_growth"] else report["action"]
    lines = [
        ("Cell", f"grade {report['grade']}, {report['state']}, {report['type']}"),
        ("Count", f"{report['count']} {report['unit']}"),
        ("Action", "(none)" if action is None else action),
        ("Alert", "(none)" if report["alert"] is None else report["alert"]),
        ("Source", report["source"]),
        ("Outcome", report["outcome"]),
    ]
    notes = report["notes"]
    assert isinstance(notes, list)
    lines += [("Note", note) for note in notes]
    return "\n".join(f"{label + ':':<8} {text}" for label, text in lines)
