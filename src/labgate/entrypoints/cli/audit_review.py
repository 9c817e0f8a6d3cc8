"""`labgate audit review`: compute a periodic review of the trail, show it, write its report.
Marking the spot check and signing off take a person's e-signature: the console or the API."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from labgate.compliance.clock import as_utc
from labgate.domain.errors import LabgateError
from labgate.entrypoints.cli.formats import document_format

review_app = typer.Typer(help="Periodic audit-trail reviews (Annex 11 §9).", no_args_is_help=True)
Site = Annotated[str, typer.Option("--site", help="The site whose trail is reviewed.")]


def _moment(text: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        typer.echo(f"{option} takes an ISO 8601 time, e.g. 2026-11-01T00:00:00Z, not {text!r}.",
                   err=True)  # fmt: skip
        raise typer.Exit(2) from None
    if moment.tzinfo is None:
        typer.echo(f"{option} needs its UTC offset (Z or +01:00): {text!r} has none.", err=True)
        raise typer.Exit(2)
    return as_utc(moment)


@review_app.command("create")
def create(
    site: Site,
    start: Annotated[str, typer.Option("--from", help="Start of the period (UTC, ISO 8601).")],
    end: Annotated[str, typer.Option("--to", help="End of the period, exclusive (ISO 8601).")],
    source: Annotated[
        str | None, typer.Option("--source", help="One interface (source system); all if none.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Repeat a spot-check draw.")] = None,
    sample_size: Annotated[int, typer.Option(help="Transactions to spot-check (0-50).")] = 5,
) -> None:
    """Compute a review of the period's trail and print its code, counts and sample."""
    from labgate.domain.review_commands import CreateAuditReview
    from labgate.entrypoints.cli.main import cli_context, fail, open_hub

    command = CreateAuditReview(cli_context(), site, _moment(start, "--from"),
                                _moment(end, "--to"), source, seed, sample_size)  # fmt: skip
    try:
        with open_hub() as hub:
            code = hub.bus.handle(command)
            _print(_record(hub, site, code))
    except LabgateError as error:
        raise fail(error) from None


@review_app.command("show")
def show(
    review: Annotated[str, typer.Argument(help="The review, e.g. AR-000001.")], site: Site
) -> None:
    """Print a review: period, state, counts per category, the spot check and its marks."""
    from labgate.entrypoints.cli.main import fail, open_hub

    try:
        with open_hub() as hub:
            _print(_record(hub, site, review))
    except LabgateError as error:
        raise fail(error) from None


@review_app.command("report")
def report(
    review: Annotated[str, typer.Argument(help="The review, e.g. AR-000001.")],
    site: Site,
    out: Annotated[Path, typer.Option("--out", help="File or folder to write it to.")],
    format: Annotated[str, typer.Option("--format", help="pdf, html or json.")] = "pdf",
) -> None:
    """Write the review's report and print its file name and SHA-256."""
    from labgate.adapters.reports.audit_review_report import review_document
    from labgate.entrypoints.cli.main import fail, open_hub

    chosen = document_format(format)
    try:
        with open_hub() as hub:
            document = review_document(_record(hub, site, review), chosen)
    except LabgateError as error:
        raise fail(error) from None
    target = out / document.filename if out.is_dir() else out
    target.write_bytes(document.data)
    typer.echo(f"{target}  sha256 {hashlib.sha256(document.data).hexdigest()}")


def _record(hub: Any, site: str, code: str) -> dict[str, Any]:
    from labgate.adapters.store.audit_review_view import review_record

    with hub.sessions() as session:
        found: dict[str, Any] = review_record(session, site, code)
        return found


def _print(record: dict[str, Any]) -> None:
    scope = record["source"] or "all interfaces"
    typer.echo(f"{record['code']}  {record['state']}  {record['site']}  "
               f"{record['period_from']} .. {record['period_to']}  {scope}")  # fmt: skip
    typer.echo(f"content hash {record['content_hash']}  seed {record['seed']}")
    for c in record["categories"]:
        typer.echo(f"  {c['title']:<52} {c['count']:>7}")
    for item in record["sample"]:
        mark = item["mark"] or "unmarked"
        typer.echo(f"  spot check {item['message']:>6}  {item['source']}/{item['channel']}  "
                   f"{item['schema']}  {item['applied_at']}  {mark}")  # fmt: skip
    for s in record["signatures"]:
        typer.echo(f"signed by {s['printed_name']} ({s['signer']}) at {s['signed_at']}, "
                   f"meaning {s['meaning']}, {s['status']}")  # fmt: skip
