"""`labgate dossier`: a batch's dossier (EBR with linked lab evidence) as a file, the same bytes
the API serves."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import typer

from labgate.adapters.reports.certificate import Format
from labgate.adapters.reports.dossier import dossier_document
from labgate.adapters.store.dossier_view import dossier as compile_dossier
from labgate.bootstrap import bootstrap
from labgate.config import Settings
from labgate.domain.errors import LabgateError

EXIT_REFUSED = 1


def dossier(
    batch: Annotated[str, typer.Argument(help="The batch, e.g. B1.")],
    site: Annotated[str, typer.Option("--site", help="The site of the batch.")],
    out: Annotated[Path, typer.Option("--out", help="File or folder to write it to.")],
    format: Annotated[str, typer.Option("--format", help="pdf, html or json.")] = "pdf",
) -> None:
    """Write the batch dossier and print its file name and SHA-256."""
    if format not in ("pdf", "html", "json"):
        typer.echo(f"--format must be pdf, html or json, not {format!r}.", err=True)
        raise typer.Exit(2)
    chosen: Format = "pdf" if format == "pdf" else "html" if format == "html" else "json"
    hub = bootstrap(Settings())
    try:
        with hub.sessions() as session:
            content = compile_dossier(session, site, batch)
    except LabgateError as error:
        typer.echo(error.message, err=True)
        raise typer.Exit(EXIT_REFUSED) from error
    finally:
        hub.close()
    document = dossier_document(content, chosen)
    target = out / document.filename if out.is_dir() else out
    target.write_bytes(document.data)
    typer.echo(f"{target}  sha256 {hashlib.sha256(document.data).hexdigest()}")
