"""The `labgate` command line: serve, migrate, manage users, load master data, check the trail."""

from __future__ import annotations

import functools
import getpass
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ClassVar

import typer

from labgate.domain.errors import LabgateError
from labgate.entrypoints.cli.lazy import Lazy, LazyGroup

# Everything heavy is imported inside the command that uses it, so that `labgate --help` and
# `labgate evaluate` start in a fraction of a second (tests/e2e/test_cli.py holds them to it).
if TYPE_CHECKING:
    from rich.console import Console

    from labgate.bootstrap import Hub
    from labgate.compliance.access import Permission
    from labgate.config import Settings
    from labgate.database import Database
    from labgate.domain.commands import Context

CLI = "labgate.entrypoints.cli"


class Commands(LazyGroup):
    """labgate's commands, in the order `--help` lists them; each module imported when used."""

    lazy: ClassVar[Mapping[str, Lazy]] = {
        "coa": Lazy(
            f"{CLI}.certificates:coa",
            "Write a batch's Certificate of Analysis (PDF, HTML or JSON).",
        ),
        "dossier": Lazy(
            f"{CLI}.certificates:dossier", "Write a batch's dossier: EBR with its lab evidence."
        ),
        "evaluate": Lazy(
            f"{CLI}.evaluate:evaluate",
            "Round and evaluate one value against a limit, as labgate does.",
        ),
        "serve": Lazy(f"{CLI}.main:serve", "Serve the REST API (and /docs) until stopped."),
        "db": Lazy(f"{CLI}.main:db_app", "Database schema."),
        "users": Lazy(f"{CLI}.users:users_app", "People and system accounts."),
        "masterdata": Lazy(f"{CLI}.main:masterdata_app", "Master data."),
        "audit": Lazy(f"{CLI}.audit:audit_app", "The audit trail."),
        "backup": Lazy(
            f"{CLI}.backup:backup_app", "Backups of the database, and their restore test."
        ),
        "icd": Lazy(f"{CLI}.icd:icd_app", "The Interface Control Document."),
        "change": Lazy(
            f"{CLI}.change:change_app", "Change control: change requests and their due pass."
        ),
        "conformance": Lazy(
            f"{CLI}.conformance:conformance_app",
            "The conformance kit: play the ICD against a partner before go-live.",
        ),
        "dq": Lazy(f"{CLI}.dq:dq_app", "Data-quality controls."),
        "clock": Lazy(f"{CLI}.clock:clock_app", "Trusted time: the hub's clock against NTP."),
        "replay": Lazy(
            f"{CLI}.replay:replay_app", "Replay a stored decision and compare it with the record."
        ),
        "schemas": Lazy(f"{CLI}.schemas:schemas_app", "Message payload schemas."),
        "keys": Lazy(f"{CLI}.keys:keys_app", "Signing keys of source systems."),
        "worker": Lazy(f"{CLI}.workers:workers_app", "Channel consumers (workers)."),
        "b2mml": Lazy(f"{CLI}.b2mml:b2mml_app", "B2MML V0701 documents (ISA-95)."),
        "relay": Lazy(f"{CLI}.relay:relay_app", "The outbox relay."),
        "packs": Lazy(f"{CLI}.packs:packs_app", "File packs over a drop folder or SFTP."),
        "connector": Lazy(
            f"{CLI}.connector:connector_app",
            "Connectors: partner systems that do not speak labgate's messages.",
        ),
        "demo": Lazy(f"{CLI}.main:demo_app", "The demo plant."),
        # stability_studies adds its commands to stability's sub-app: importing it loads both.
        "stability": Lazy(
            f"{CLI}.stability_studies:stability_app",
            "Stability statistics: ICH Q1E shelf life and out-of-trend results.",
        ),
        "em": Lazy(f"{CLI}.em:em_app", "Environmental monitoring of cleanrooms."),
        "skip-lot": Lazy(f"{CLI}.skip_lot:skip_lot_app", "Skip-lot sampling of incoming material."),
        "validation": Lazy(f"{CLI}.validation:validation_app", "The validation pack (GAMP 5)."),
    }


app = typer.Typer(
    cls=Commands, help="labgate: the MES ↔ LIMS integration hub.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
masterdata_app = typer.Typer(help="Master data.", no_args_is_help=True)
demo_app = typer.Typer(help="The demo plant.", no_args_is_help=True)


@app.callback()
def labgate() -> None:
    """labgate: the MES ↔ LIMS integration hub."""


# Soft wrap: a sentence, a path or a key prints on one line however wide the terminal is, so
# logs and copy-paste get it whole. No markup on stdout: names and paths print as written.
# The consoles are made on first use: importing Rich takes a tenth of a second.
@functools.cache
def stdout() -> Console:
    """The console commands print their output on."""
    from rich.console import Console

    return Console(soft_wrap=True, markup=False)


@functools.cache
def stderr() -> Console:
    """The console errors and advice go to."""
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


if TYPE_CHECKING:
    console: Console
    errors: Console
else:

    def __getattr__(name: str) -> Console:
        """`console` and `errors`, made when a command first prints."""
        if name in ("console", "errors"):
            return stdout() if name == "console" else stderr()
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def cli_context() -> Context:
    """The operator at the server's console, attributable by OS account."""
    from labgate.domain.commands import Context

    return Context(actor=f"cli:{getpass.getuser()}", actor_kind="system")


def sign_in_as(hub: Hub, username: str, password: str, permission: Permission) -> Context:
    """The person `username`, signed in as the API signs in (a failure counts towards the
    account's lockout), holding `permission`: the context their acts are recorded under."""
    from labgate.compliance.throttle import UNAUTHENTICATED
    from labgate.domain.commands import Context, SignIn

    account = hub.bus.handle(SignIn(Context(username, UNAUTHENTICATED), username, password))
    account.require(permission)
    return Context(username, "person")


@contextmanager
def open_hub(settings: Settings | None = None, *, preload: bool = False) -> Iterator[Hub]:
    """A hub for one command, its connections closed afterwards. Not `preload`ed: the unit
    converter and the trend check are imported only if the command uses them (a server
    preloads them, so that no request waits for the import)."""
    from labgate.bootstrap import bootstrap
    from labgate.config import Settings

    hub = bootstrap(settings or Settings(), preload=preload)
    try:
        yield hub
    finally:
        hub.close()


@contextmanager
def open_database(settings: Settings | None = None) -> Iterator[Database]:
    """The database alone for one command that reads or administers records without the bus
    (no units, statistics, codecs or channels imported), its connections closed afterwards."""
    from labgate.config import Settings
    from labgate.database import open_database as opened

    database = opened(settings or Settings())
    try:
        yield database
    finally:
        database.close()


def fail(error: Exception, code: int = 1) -> typer.Exit:
    """Print the sentence that names the problem, the field at fault and the reason code, then
    exit non-zero."""
    message = str(error)
    if isinstance(error, LabgateError):
        message = error.message
        if error.field and error.field not in message:
            message += f" (field: {error.field})"
        message += f" [{error.reason}]"
    from rich.markup import escape

    stderr().print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code)


class _Stopped(BaseException):
    """SIGTERM, once uvicorn has shut down gracefully (it re-raises the signal it caught)."""


def _raise_stopped(*_: object) -> None:
    raise _Stopped


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
    relay: Annotated[
        bool | None,
        typer.Option(
            "--relay/--no-relay",
            help="Run the outbox relay in this process, woken by its commits (default: "
            "LABGATE_SERVE_RELAY, on, whenever the relay has somewhere to send; one worker "
            "process only: with --workers N run `labgate relay run` beside it).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the REST API (and /docs) until stopped; with the MES's or LIMS's webhook (or AMQP)
    configured, deliver the outbox from this process too."""
    import signal

    import uvicorn

    from labgate.adapters.store.migrate import SchemaBehind
    from labgate.config import Settings
    from labgate.entrypoints.api.serving import settle_heap, uvicorn_options
    from labgate.entrypoints.app import create_app
    from labgate.entrypoints.cli.relay import for_serve

    settings = Settings()
    host, port = host or settings.host, port or settings.port
    # create_app does not close a hub it was given; a server loads all it may use up front.
    with open_hub(settings, preload=True) as hub:
        try:
            api = create_app(settings, hub)  # the schema and settings checked once, here
        except (SchemaBehind, ValueError) as error:
            raise fail(error) from None
        try:
            relaying, relay_line = for_serve(settings, hub, relay, workers)
        except ValueError as error:
            raise fail(error, 2) from None
        stdout().print(
            f"labgate serving on http://{host}:{port} "
            f"(docs at /docs, database {settings.database_url}"
            f"{f', {workers} worker processes' if workers > 1 else ''})"
        )
        stdout().print(relay_line)
        if workers == 1:
            # uvicorn shuts down on SIGTERM, then raises it again: this handler turns that into
            # a clean exit, so the relay stops and its transports close before the process ends.
            previous = signal.signal(signal.SIGTERM, _raise_stopped)
            if relaying is not None:
                relaying.start()
            settle_heap()
            try:
                uvicorn.run(api, host=host, port=port, log_level="info",
                            **uvicorn_options(settings))  # fmt: skip
            except _Stopped:
                pass
            finally:
                signal.signal(signal.SIGTERM, previous)
                if relaying is not None:
                    relaying.stop()
            return
    # Each worker builds its own app and hub from the environment (connections are not shared
    # across processes).
    factory = "labgate.entrypoints.app:app_from_environment"
    uvicorn.run(factory, factory=True, workers=workers, host=host, port=port, log_level="info",
                **uvicorn_options(settings))  # fmt: skip


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Bring the database schema up to date (creates the SQLite file if needed)."""
    from labgate.adapters.store.migrate import upgrade
    from labgate.config import Settings

    settings = Settings()
    upgrade(settings.database_url)
    stdout().print(f"database at {settings.database_url} is up to date")


@masterdata_app.command("import")
def masterdata_import(
    file: Annotated[Path, typer.Argument(help="A YAML or JSON master-data document.")],
    reason: Annotated[str, typer.Option(help="Change-control reason, e.g. a CR number.")],
    as_user: Annotated[
        str,
        typer.Option(
            "--as",
            help="Your labgate username (master-data permission); your password is prompted "
            "for. The import is recorded as yours and you author its new specification versions.",
        ),
    ],
) -> None:
    """Validate and load a master-data document, signed in as the person who loads it."""
    import yaml

    from labgate.compliance.access import Permission
    from labgate.domain.commands import ImportMasterData

    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise fail(error, 2) from None
    password = typer.prompt("Password", hide_input=True)
    with open_hub() as hub:
        try:
            person = sign_in_as(hub, as_user, password, Permission.MANAGE_MASTERDATA)
            summary = hub.bus.handle(ImportMasterData(person, document, reason))
        except LabgateError as error:
            raise fail(error) from None
        stdout().print(summary)


@demo_app.command("seed")
def demo_seed() -> None:
    """Load the demo plant: master data, one person per role, batches mid-flight."""
    from labgate.config import Settings
    from labgate.entrypoints.cli import demo

    settings = Settings()
    if not settings.demo:
        stderr().print("The demo plant is seeded only in demo mode: set LABGATE_DEMO=1.")
        raise typer.Exit(2)
    with open_hub(settings) as hub:
        demo.seed(hub, stdout())


def main() -> None:
    """Entry point for `python -m labgate`."""
    app(prog_name="labgate")


if __name__ == "__main__":
    main()
