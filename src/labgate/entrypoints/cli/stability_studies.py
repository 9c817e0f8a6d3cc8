"""`labgate stability pull-due` and `labgate stability report`: the scheduler's run of due
pulls, and a study's shelf-life report as a file (the same bytes the API serves)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from labgate.adapters.reports.stability_report import report_content, report_document
from labgate.adapters.store.stability_views import trend_data
from labgate.bootstrap import bootstrap
from labgate.config import Settings
from labgate.domain.commands import Context
from labgate.domain.errors import LabgateError
from labgate.domain.stability import Pulled
from labgate.domain.stability_commands import PullDue
from labgate.entrypoints.cli.formats import document_format
from labgate.entrypoints.cli.stability import stability_app

EXIT_REFUSED = 1
SCHEDULER = "cli:stability-scheduler"  # the system actor the audit trail names for its pulls
Site = Annotated[str, typer.Option("--site", help="The site of the studies.")]


@stability_app.command("pull-due")
def pull_due(
    site: Site,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="ISO time with zone; default: now.")
    ] = None,
) -> None:
    """Pull every pull of the site's active studies that is due; print what was pulled and
    what was left for a person (its window has closed: it needs a reason)."""
    hub = bootstrap(Settings())
    try:
        moment = _moment(as_of) if as_of else hub.bus.deps.clock.now()
        outcome: Pulled = hub.bus.handle(PullDue(Context(SCHEDULER, "system"), site, moment))
    except LabgateError as error:
        typer.echo(f"{error.message} [{error.reason}]", err=True)
        raise typer.Exit(EXIT_REFUSED) from error
    finally:
        hub.close()
    typer.echo(json.dumps({"pulled": outcome.pulled, "skipped": outcome.skipped}))


@stability_app.command("report")
def report(
    study: Annotated[str, typer.Argument(help="The study, e.g. STAB-00001.")],
    site: Site,
    out: Annotated[Path, typer.Option("--out", help="File or folder to write it to.")],
    format: Annotated[str, typer.Option("--format", help="pdf, html or json.")] = "pdf",
) -> None:
    """Write the study's shelf-life report and print its file name and SHA-256."""
    chosen = document_format(format)
    hub = bootstrap(Settings())
    try:
        with hub.sessions() as session:
            content = report_content(trend_data(session, site, study))
    except LabgateError as error:
        typer.echo(f"{error.message} [{error.reason}]", err=True)
        raise typer.Exit(EXIT_REFUSED) from error
    finally:
        hub.close()
    document = report_document(content, chosen)
    target = out / document.filename if out.is_dir() else out
    target.write_bytes(document.data)
    typer.echo(f"{target}  sha256 {hashlib.sha256(document.data).hexdigest()}")


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        typer.echo(
            f"--as-of {text!r} must be an ISO time with its zone, e.g. 2026-11-25T08:00:00+00:00.",
            err=True,
        )
        raise typer.Exit(2)
    return moment.astimezone(UTC)
