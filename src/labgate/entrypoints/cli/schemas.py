"""`labgate schemas export`: the message payload schemas, as published JSON Schema files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from labgate.service.schema_catalog import json_schemas

schemas_app = typer.Typer(help="Message payload schemas.", no_args_is_help=True)


@schemas_app.command()
def export(
    out: Annotated[
        Path, typer.Option("--out", help="Directory to write one <schema id>.json per schema.")
    ],
) -> None:
    """Write every inbound and outbound payload schema, one JSON file each."""
    schemas = json_schemas()
    try:
        out.mkdir(parents=True, exist_ok=True)
        for schema_id, schema in sorted(schemas.items()):
            text = json.dumps(schema, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
            (out / f"{schema_id}.json").write_text(text, encoding="utf-8")
    except OSError as error:
        typer.echo(f"error: cannot write the schemas to {out}: {error.strerror}.", err=True)
        raise typer.Exit(1) from error
    typer.echo(f"Wrote {len(schemas)} schemas to {out}.")
