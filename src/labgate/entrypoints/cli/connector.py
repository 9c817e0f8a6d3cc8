"""`labgate connector rest-lims`: an external LIMS with a REST API of its own, joined to labgate
by a mapping file. The connector is loaded only when it is run, so every other `labgate`
command starts as fast as before."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

connector_app = typer.Typer(
    help="Connectors: partner systems that do not speak labgate's messages.",
    no_args_is_help=True,
)


@connector_app.callback()
def connectors() -> None:
    """Connectors: partner systems that do not speak labgate's messages."""


@connector_app.command("rest-lims")
def rest_lims(
    mapping: Annotated[Path, typer.Option(help="The YAML mapping file (docs/connectors.md).")],
    labgate_key: Annotated[
        Path, typer.Option(help="labgate's public JWK (`labgate relay public-key`).")
    ],
    state: Annotated[
        Path, typer.Option(help="JSON file of cursor, sequence, sample ids; back it up.")
    ] = Path("var/connector/rest-lims.state.json"),
    url: Annotated[str, typer.Option(help="labgate's base URL.")] = "http://127.0.0.1:8000",
    api_key: Annotated[
        str | None,
        typer.Option(envvar="LABGATE_CONNECTOR_API_KEY", help="The system account's API key."),
    ] = None,
    key_file: Annotated[
        Path, typer.Option(help="Private JWK to sign with; made if missing (register it).")
    ] = Path("var/connector/rest-lims.private.jwk.json"),
    kid: Annotated[str, typer.Option(help="Key id for a new key.")] = "rest-lims-1",
    source: Annotated[str, typer.Option(help="Source name: the LIMS's system account.")] = "lims",
    stream: Annotated[str, typer.Option(help="Stream of its messages.")] = "rest-lims",
    host: Annotated[str, typer.Option(help="Address the webhook listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Webhook port (LABGATE_LIMS_WEBHOOK_URL).")] = 8703,
    out: Annotated[Path | None, typer.Option(help="JSON-lines journal of what it did.")] = None,
    duration: Annotated[float | None, typer.Option(help="Stop after S seconds.")] = None,
) -> None:
    """A REST LIMS: registers the samples labgate asks for in it, and pulls its results.

    Sample requests arrive at its webhook (point LABGATE_LIMS_WEBHOOK_URL there); the LIMS's
    sample ids and results go to labgate's inbox signed with --key-file. Exits 2 on a bad
    mapping file, naming the field."""
    from labgate.adapters.connectors.process import ConnectorOptions, check, run

    options = ConnectorOptions(mapping, state, url, api_key, labgate_key, key_file, kid, source,
                               stream, host, port, out, duration)  # fmt: skip
    try:
        checked = check(options)
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    run(checked)
