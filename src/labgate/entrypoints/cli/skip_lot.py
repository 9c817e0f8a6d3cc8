"""`labgate skip-lot replay`: run a sequence of lots through an SkSP-2 skip-lot plan.

A thin edge, a validation aid: it parses the plan, one outcome and one draw per lot, calls
`replay` and renders each lot's state, draw and disposition. Outcomes are accept, reject or "-"
(no full-panel result); draws are "none" (normal inspection) or a number in [0, 1).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated

import typer

from labgate.domain.errors import InvalidInput, LabgateError
from labgate.domain.numbers import parse_decimal, to_plain
from labgate.domain.skip_lot import LotRecord, SkipLotPlan
from labgate.domain.skip_lot import replay as replay_lots

__all__ = ["replay", "skip_lot_app"]

# Bad input exits 2, the code Click uses for usage errors (as `labgate evaluate` does).
EXIT_BAD_INPUT = 2

_OUTCOMES: dict[str, bool | None] = {"accept": True, "reject": False, "-": None}

skip_lot_app = typer.Typer(help="Skip-lot sampling of incoming material.", no_args_is_help=True)


@skip_lot_app.callback()
def skip_lot() -> None:
    """Skip-lot sampling (SkSP-2, NIST/SEMATECH e-Handbook 6.2.7): the full panel on a fraction."""


@skip_lot_app.command("replay")
def replay(
    clearance: Annotated[
        int, typer.Option("--clearance", help="Consecutive accepted lots before skipping (i).")
    ],
    fraction: Annotated[
        str, typer.Option("--fraction", help="Fraction of lots inspected while skipping (f).")
    ],
    outcomes: Annotated[
        str, typer.Option("--outcomes", help="Per lot: accept, reject or -, comma-separated.")
    ],
    draws: Annotated[
        str, typer.Option("--draws", help="Per lot: none or a number in [0, 1), comma-separated.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Replay lots from normal inspection and show which got the full panel, and why."""
    try:
        plan = SkipLotPlan(clearance, parse_decimal(fraction, "--fraction"))
        records = replay_lots(plan, _outcomes(outcomes), _draws(draws))
    except LabgateError as error:
        typer.echo(error.message, err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from error
    report = _report(plan, records)
    typer.echo(json.dumps(report) if as_json else _summary(records))


def _tokens(text: str) -> list[str]:
    """Split a comma-separated list, trimming spaces and folding case."""
    return [token.strip().lower() for token in text.split(",")]


def _outcomes(text: str) -> list[bool | None]:
    """Read accept / reject / - per lot, naming the first lot with another word."""
    values = []
    for lot, token in enumerate(_tokens(text), start=1):
        if token not in _OUTCOMES:
            raise InvalidInput(
                f"The --outcomes entry {token!r} for lot {lot} is unknown; use accept, reject "
                "or - (no full-panel result).",
                reason="skip_lot.outcome_unknown",
                field="outcomes",
            )
        values.append(_OUTCOMES[token])
    return values


def _draws(text: str) -> list[Decimal | None]:
    """Read none or a decimal number per lot; the range is checked by the plan."""
    return [
        None if token == "none" else parse_decimal(token, f"--draws entry for lot {lot}")
        for lot, token in enumerate(_tokens(text), start=1)
    ]


def _report(plan: SkipLotPlan, records: list[LotRecord]) -> dict[str, object]:
    """Lay the replay out as the JSON object the command prints."""
    return {
        "clearance": plan.clearance,
        "fraction": to_plain(plan.fraction),
        "lots": [_lot(record) for record in records],
        "inspected": sum(record.inspected for record in records),
        "skipped": sum(not record.inspected for record in records),
    }


def _lot(record: LotRecord) -> dict[str, object]:
    """One lot as a JSON object."""
    return {
        "lot": record.lot,
        "state": record.state.value,
        "draw": None if record.draw is None else to_plain(record.draw),
        "inspected": record.inspected,
        "accepted": record.accepted,
        "reported": _token(record.reported),
    }


def _token(outcome: bool | None) -> str:
    """Write an outcome back as the word it was given as."""
    return next(word for word, value in _OUTCOMES.items() if value is outcome)


def _summary(records: list[LotRecord]) -> str:
    """Render one aligned line per lot for a person."""
    lines = [f"{'Lot':>4}  {'State':<9} {'Draw':<9} {'Full panel':<11} Disposition"]
    for r in records:
        draw = "-" if r.draw is None else to_plain(r.draw)
        panel = "inspected" if r.inspected else "skipped"
        verdict = "accepted" if r.accepted else "rejected"
        lines.append(f"{r.lot:>4}  {r.state.value:<9} {draw:<9} {panel:<11} {verdict}")
    return "\n".join(lines)
