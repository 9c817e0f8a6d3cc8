"""`labgate evaluate`: round one result and judge it against a limit, from the command line.

A thin edge: it parses the options into domain objects, calls `evaluate` and renders the outcome.
The command is a plain function; the CLI's app registers it with `app.command("evaluate")`.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from labgate.domain.errors import InvalidInput, LabgateError
from labgate.domain.limits import Evaluation, LimitRule, parse_limit
from labgate.domain.limits import evaluate as evaluate_result
from labgate.domain.numbers import RoundingPolicy, RoundingRule, to_plain

__all__ = ["evaluate"]

# Bad input exits 2, the same code Click uses for usage errors, so scripts see one "you asked
# wrongly" code whether Click or labgate caught the problem.
EXIT_BAD_INPUT = 2


def evaluate(
    rule: Annotated[str, typer.Option("--rule", help="Rounding rule: usp, astm-e29 or absolute.")],
    limit: Annotated[str, typer.Option("--limit", help='Limit, e.g. "NLT 98.0" or "95.0-105.0".')],
    value: Annotated[str, typer.Option("--value", help="The result as reported, e.g. 97.96.")],
    sig_figs: Annotated[
        int | None, typer.Option("--sig-figs", help="Round to N significant figures instead.")
    ] = None,
    alert: Annotated[
        str | None, typer.Option("--alert", help="Alert limit, e.g. NLT 98.5.")
    ] = None,
    action: Annotated[
        str | None, typer.Option("--action", help="Action limit, e.g. NLT 98.2.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Round a result under a rule and say whether it conforms to the limit."""
    try:
        policy = RoundingPolicy(_rounding_rule(rule), sig_figs)
        limit_rule = LimitRule(
            test_code="cli",
            limit=parse_limit(limit, "limit"),
            alert=None if alert is None else parse_limit(alert, "alert"),
            action=None if action is None else parse_limit(action, "action"),
        )
        outcome = evaluate_result(value, limit_rule, policy)
    except LabgateError as error:
        typer.echo(error.message, err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from error
    report = _report(policy, value, outcome)
    typer.echo(json.dumps(report) if as_json else _summary(report))


def _rounding_rule(text: str) -> RoundingRule:
    """Read a rule name, naming the accepted ones when it is unknown."""
    try:
        return RoundingRule(text.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in RoundingRule)
        raise InvalidInput(
            f"The rounding rule {text!r} is unknown; use one of {names}.",
            reason="rounding.rule_unknown",
            field="rule",
        ) from None


def _report(policy: RoundingPolicy, value: str, outcome: Evaluation) -> dict[str, object]:
    """Lay the outcome out as the JSON object the command prints."""
    return {
        "rule": policy.rule.value,
        "sig_figs": policy.sig_figs,
        "limit": outcome.limit_expression,
        "value": value,
        "reported": None if outcome.reported is None else to_plain(outcome.reported),
        "compared": None if outcome.compared is None else to_plain(outcome.compared),
        "conforms": outcome.conforms,
        "band": outcome.band.value,
        "rounding": outcome.rounding,
    }


def _summary(report: dict[str, object]) -> str:
    """Render the report as a few aligned lines for a person."""
    verdict = "conforms" if report["conforms"] else "does not conform"
    lines = [
        ("Limit", report["limit"]),
        ("Value", report["value"]),
        ("Reported", report["reported"] if report["reported"] is not None else "(not rounded)"),
        ("Compared", report["compared"] if report["compared"] is not None else "(text)"),
        ("Rounding", report["rounding"]),
        ("Band", report["band"]),
        ("Result", verdict),
    ]
    return "\n".join(f"{label + ':':<10} {text}" for label, text in lines)
