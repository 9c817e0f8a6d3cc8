"""The `labgate` command line: serve, migrate, manage users, load master data, check the trail."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.markup import escape

from labgate.adapters.store.migrate import SchemaBehind, upgrade
from labgate.bootstrap import Hub, bootstrap
from labgate.config import Settings
from labgate.domain.commands import Context, ImportMasterData
from labgate.domain.errors import LabgateError
from labgate.entrypoints.cli import demo
from labgate.entrypoints.cli.audit import audit_app
from labgate.entrypoints.cli.b2mml import b2mml_app
from labgate.entrypoints.cli.certificates import coa, dossier
from labgate.entrypoints.cli.connector import connector_app
from labgate.entrypoints.cli.em import em_app
from labgate.entrypoints.cli.evaluate import evaluate
from labgate.entrypoints.cli.keys import keys_app
from labgate.entrypoints.cli.packs import files_worker, packs_app
from labgate.entrypoints.cli.relay import relay_app
from labgate.entrypoints.cli.schemas import schemas_app
from labgate.entrypoints.cli.sim import sim_app
from labgate.entrypoints.cli.skip_lot import skip_lot_app
from labgate.entrypoints.cli.stability import stability_app
from labgate.entrypoints.cli.stability_studies import pull_due  # noqa: F401 (registers)
from labgate.entrypoints.cli.users import users_app
from labgate.entrypoints.cli.workers import workers_app

app = typer.Typer(help="labgate: the MES ↔ LIMS integration hub.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
masterdata_app = typer.Typer(help="Master data.", no_args_is_help=True)
demo_app = typer.Typer(help="The demo plant.", no_args_is_help=True)
for sub, name in (
    (db_app, "db"),
    (users_app, "users"),
    (masterdata_app, "masterdata"),
    (audit_app, "audit"),
    (schemas_app, "schemas"),
    (keys_app, "keys"),
    (workers_app, "worker"),
    (b2mml_app, "b2mml"),
    (relay_app, "relay"),
    (packs_app, "packs"),
    (sim_app, "sim"),
    (connector_app, "connector"),
    (demo_app, "demo"),
    (stability_app, "stability"),
    (em_app, "em"),
    (skip_lot_app, "skip-lot"),
):
    app.add_typer(sub, name=name)
workers_app.command("files")(files_worker)
app.command("coa", help="Write a batch's Certificate of Analysis (PDF, HTML or JSON).")(coa)
app.command("dossier", help="Write a batch's dossier: EBR with its lab evidence.")(dossier)
app.command("evaluate", help="Round and evaluate one value against a limit, as labgate does.")(
    evaluate
)
# Soft wrap: a sentence, a path or a key prints on one line however wide the terminal is, so
# logs and copy-paste get it whole. No markup on stdout: names and paths print as written.
console = Console(soft_wrap=True, markup=False)
errors = Console(stderr=True, soft_wrap=True)


def cli_context() -> Context:
    """The operator at the server's console, attributable by OS account."""
    return Context(actor=f"cli:{getpass.getuser()}", actor_kind="system")


@contextmanager
def open_hub(settings: Settings | None = None) -> Iterator[Hub]:
    """A hub for one command, its connections closed afterwards."""
    hub = bootstrap(settings or Settings())
    try:
        yield hub
    finally:
        hub.close()


def fail(error: Exception, code: int = 1) -> typer.Exit:
    """Print the sentence that names the problem, the field at fault and the reason code, then
    exit non-zero."""
    message = str(error)
    if isinstance(error, LabgateError):
        message = error.message
        if error.field and error.field not in message:
            message += f" (field: {error.field})"
        message += f" [{error.reason}]"
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes, each with its own connections: more than one uses more "
            "cores (messages of one stream still take turns through the database).",
        ),
    ] = 1,
) -> None:
    """Serve the REST API (and /docs) until stopped."""
    import uvicorn

    from labgate.entrypoints.api.app import create_app
    from labgate.entrypoints.api.serving import uvicorn_options

    settings = Settings()
    host, port = host or settings.host, port or settings.port
    with open_hub(settings) as hub:  # create_app does not close a hub it was given
        try:
            api = create_app(settings, hub)  # the schema and settings checked once, here
        except (SchemaBehind, ValueError) as error:
            raise fail(error) from None
        console.print(
            f"labgate serving on http://{host}:{port} "
            f"(docs at /docs, database {settings.database_url}"
            f"{f', {workers} worker processes' if workers > 1 else ''})"
        )
        if workers == 1:
            uvicorn.run(api, host=host, port=port, log_level="info", **uvicorn_options(settings))
            return
    # Each worker builds its own app and hub from the environment (connections are not shared
    # across processes).
    factory = "labgate.entrypoints.api.app:app_from_environment"
    uvicorn.run(factory, factory=True, workers=workers, host=host, port=port, log_level="info",
                **uvicorn_options(settings))  # fmt: skip


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema up to date (creates the SQLite file if needed)."""
    settings = Settings()
    upgrade(settings.database_url)
    console.print(f"database at {settings.database_url} is up to date")


@masterdata_app.command("import")
def masterdata_import(
    file: Annotated[Path, typer.Argument(help="A YAML or JSON master-data document.")],
    reason: Annotated[str, typer.Option(help="Change-control reason, e.g. a CR number.")],
) -> None:
    """Validate and load a master-data document."""
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise fail(error, 2) from None
    with open_hub() as hub:
        try:
            summary = hub.bus.handle(ImportMasterData(cli_context(), document, reason))
        except LabgateError as error:
            raise fail(error) from None
        console.print(summary)


@demo_app.command("seed")
def demo_seed() -> None:
    """Load the demo plant: master data, one person per role, batches mid-flight."""
    settings = Settings()
    if not settings.demo:
        errors.print("The demo plant is seeded only in demo mode: set LABGATE_DEMO=1.")
        raise typer.Exit(2)
    with open_hub(settings) as hub:
        demo.seed(hub, console)


def main() -> None:
    """Entry point for `python -m labgate`."""
    app(prog_name="labgate")


if __name__ == "__main__":
    main()
