"""`labgate replay result|batch ID`: recompute a stored decision from its record and the
versions it was bound to, and compare it with what was stored, step by step.

Exit 0: every step replays identically; 1: a step differs (each one is named); 2: no such
record (or the site is not clear)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from labgate.entrypoints.cli.main import cli_context, fail, open_hub, stdout

if TYPE_CHECKING:  # the replay and Rich are imported when a command runs (main.py says why)
    from labgate.service.replay.audited import Replayer
    from labgate.service.replay.steps import Replay

EXIT_DIFFERS, EXIT_UNKNOWN = 1, 2

replay_app = typer.Typer(
    help="Replay a stored decision and compare it with the record.", no_args_is_help=True
)
SiteOption = Annotated[
    str | None,
    typer.Option("--site", help="The record's site (default: the only site there is)."),
]


@replay_app.command("result")
def replay_result(
    result: Annotated[str, typer.Argument(help="The result, e.g. S-000001-R1.")],
    site: SiteOption = None,
) -> None:
    """Recompute a result's binding, conversion, rounding, evaluation and MES status."""
    from labgate.service.replay.audited import replay_stored_result

    _replay(replay_stored_result, site, result)


@replay_app.command("batch")
def replay_batch(
    batch: Annotated[str, typer.Argument(help="The batch, e.g. B-IBU-24001.")],
    site: SiteOption = None,
) -> None:
    """Recompute every result of a batch, its samples' MES statuses, its disposition checks
    and QA's decision."""
    from labgate.service.replay.audited import replay_stored_batch

    _replay(replay_stored_batch, site, batch)


def _replay(replay: Replayer, site: str | None, code: str) -> None:
    from labgate.adapters.store.replay_view import ReplayView, sole_site
    from labgate.domain.errors import LabgateError

    with open_hub() as hub:
        try:
            where = site or sole_site(hub.sessions)
            view = ReplayView(hub.sessions, hub.bus.deps.clock)
            done = replay(view, hub.uow_factory(), hub.bus.deps, cli_context(), where, code)
        except LabgateError as error:
            raise fail(error, EXIT_UNKNOWN) from None
    _show(done)
    if done.differing:
        raise typer.Exit(EXIT_DIFFERS)


def _show(replay: Replay) -> None:
    from rich.table import Table

    table = Table(title=f"replay of {replay.record_type} {replay.code} (site {replay.site})")
    for column in ("record", "step", "outcome"):
        table.add_column(column, no_wrap=True)  # a step's name is what a reader searches for
    for column in ("field", "stored", "recomputed"):
        table.add_column(column, overflow="fold")
    for step in replay.steps:
        if step.identical:
            table.add_row(step.subject, step.name, "identical", "", "", "")
        for d in step.differences:
            table.add_row(step.subject, step.name, "DIFFERS", d.field, _text(d.stored),
                          _text(d.recomputed))  # fmt: skip
    out = stdout()
    out.print(table)
    if replay.differing:
        named = "; ".join(f"{s.subject}: {s.name}" for s in replay.differing)
        out.print(f"differs: {len(replay.differing)} of {len(replay.steps)} steps ({named})")
    else:
        out.print(f"identical: all {len(replay.steps)} steps replay as stored")


def _text(value: object) -> str:
    """A JSON value as the record holds it: text unquoted, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)
