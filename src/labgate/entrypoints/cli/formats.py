"""The `--format` of the commands that write a printed record (CoA, dossier, reports)."""

from __future__ import annotations

import typer

from labgate.adapters.reports.documents import Format

FORMATS: tuple[Format, ...] = ("pdf", "html", "json")


def document_format(given: str) -> Format:
    """pdf, html or json; anything else ends the command (exit 2) saying so."""
    for known in FORMATS:
        if given == known:
            return known
    typer.echo(f"--format must be pdf, html or json, not {given!r}.", err=True)
    raise typer.Exit(2)
