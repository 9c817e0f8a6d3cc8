"""`labgate coa` and `labgate dossier`: a batch's Certificate of Analysis or its dossier (EBR
with linked lab evidence) as a file, the same bytes the API serves."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from labgate.adapters.reports.certificate import certificate_document
from labgate.adapters.reports.documents import Document, Format
from labgate.adapters.reports.dossier import dossier_document
from labgate.adapters.store.certificate_view import certificate
from labgate.adapters.store.dossier_view import dossier as compile_dossier
from labgate.config import Settings
from labgate.database import open_database
from labgate.domain.errors import LabgateError
from labgate.entrypoints.cli.formats import document_format

EXIT_REFUSED = 1
Batch = Annotated[str, typer.Argument(help="The batch, e.g. B1.")]
Site = Annotated[str, typer.Option("--site", help="The site of the batch.")]
Out = Annotated[Path, typer.Option("--out", help="File or folder to write it to.")]
FormatOption = Annotated[str, typer.Option("--format", help="pdf, html or json.")]


def coa(batch: Batch, site: Site, out: Out, format: FormatOption = "pdf") -> None:
    """Write the CoA (from approved results only) and print its file name and SHA-256."""
    _write(certificate, certificate_document, batch, site, out, format)


def dossier(batch: Batch, site: Site, out: Out, format: FormatOption = "pdf") -> None:
    """Write the batch dossier and print its file name and SHA-256."""
    _write(compile_dossier, dossier_document, batch, site, out, format)


def _write(
    compile_record: Callable[[Session, str, str], dict[str, Any]],
    render: Callable[[dict[str, Any], Format], Document],
    batch: str,
    site: str,
    out: Path,
    format: str,
) -> None:
    chosen = document_format(format)
    database = open_database(Settings())  # reading only: no bus, converter or channels
    try:
        with database.sessions() as session:
            content = compile_record(session, site, batch)
    except LabgateError as error:
        typer.echo(error.message, err=True)
        raise typer.Exit(EXIT_REFUSED) from error
    finally:
        database.close()
    document = render(content, chosen)
    target = out / document.filename if out.is_dir() else out
    target.write_bytes(document.data)
    typer.echo(f"{target}  sha256 {hashlib.sha256(document.data).hexdigest()}")
