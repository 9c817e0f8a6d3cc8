"""`labgate audit`: verify the trail (in the database, or an export on its own), export it, and
sign checkpoints of its head."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from labgate.adapters.store.audit_parallel import PARALLEL_FROM
from labgate.adapters.store.audit_store import make_checkpoint, snapshot, verify_stored
from labgate.compliance.checkpoints import TrailReport, verify_trail
from labgate.compliance.clock import SystemClock, iso_utc
from labgate.compliance.signer import PUBLIC_MEMBERS, Signer
from labgate.config import Settings
from labgate.database import open_database
from labgate.domain.errors import LabgateError
from labgate.entrypoints.cli.audit_review import review_app

# These commands need the database alone, not a hub's bus, converter and channels (nor the
# relay's brokers and webhooks): `audit verify` starts without importing them. The export's
# writer and the relay's key loader are imported by the commands that use them.

audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
audit_app.add_typer(review_app, name="review")
console = Console(soft_wrap=True, markup=False)
errors = Console(stderr=True, soft_wrap=True)

PublicKeys = Annotated[
    list[Path] | None,
    typer.Option(
        "--public-key",
        help="labgate's public key (JWK file; repeat for keys rotated out): checkpoints must "
        "be signed by one of them. LABGATE_SIGNING_KEY_FILE's key counts too.",
    ),
]


@audit_app.command("verify")
def audit_verify(
    public_key: PublicKeys = None,
    export: Annotated[
        Path | None,
        typer.Option(help="Verify this export folder on its own instead of the database."),
    ] = None,
) -> None:
    """Check every entry's hash and link, that the trail ends at its head, and every signed
    checkpoint; name the first problem and exit 1 if any."""
    try:
        if export is not None:
            from labgate.adapters.reports import audit_export

            # Nothing but the export's files and the keys named: an auditor's machine has no
            # labgate settings.
            entries, head, checkpoints = audit_export.read_export(export)
            report = verify_trail(entries, head, checkpoints, trusted_keys(public_key or [], None))
        else:
            report = _verify_database(Settings(), public_key or [])
    except (LabgateError, ValueError) as error:
        raise _fail(error, 2) from None
    _show(report)


def _verify_database(settings: Settings, public_keys: list[Path]) -> TrailReport:
    trusted = trusted_keys(public_keys, settings)
    database = open_database(settings)
    try:
        with snapshot(database.sessions) as session:
            # This process has one thread: forking workers for a long trail is safe here.
            return verify_stored(session, trusted, parallel_from=PARALLEL_FROM)
    finally:
        database.close()


@audit_app.command("export")
def audit_export_command(
    out: Annotated[Path, typer.Option(help="Folder to write the export into.")],
    readable: Annotated[str, typer.Option(help="Readable format: html or csv.")] = "html",
) -> None:
    """Write the whole trail as JSON lines (machine), its head and signed checkpoints with their
    public keys, and HTML or CSV (readable). With a signing key, a checkpoint of the head is
    signed first, so the export proves itself complete to its end."""
    if readable not in ("html", "csv"):
        errors.print("--readable must be html or csv.")
        raise typer.Exit(2)
    from labgate.adapters.reports import audit_export

    settings = Settings()
    database = open_database(settings)
    try:
        if settings.signing_key_file is not None:
            signer = Signer.from_file(settings.signing_key_file)
            make_checkpoint(database.sessions, signer, SystemClock().now(), _operator())
        trusted = trusted_keys([], settings)
        with snapshot(database.sessions) as session:
            written = audit_export.export(session, out, readable, trusted)
    except (LabgateError, ValueError) as error:
        raise _fail(error) from None
    finally:
        database.close()
    for path in written:
        console.print(f"wrote {path}")


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign a checkpoint of the trail's head with labgate's key (LABGATE_SIGNING_KEY_FILE), once
    the entries since the previous one check out. Run it from cron; `labgate relay run` makes
    them too (LABGATE_CHECKPOINT_INTERVAL_SECONDS)."""
    from labgate.entrypoints.cli.relay import load_signer

    settings = Settings()
    try:
        signer = load_signer(settings)
    except ValueError as error:
        raise _fail(error, 2) from None
    database = open_database(settings)
    try:
        made = make_checkpoint(database.sessions, signer, SystemClock().now(), _operator())
    except LabgateError as error:
        raise _fail(error) from None
    finally:
        database.close()
    console.print(
        f"checkpoint of entry {made.seq} (hash {made.hash}) signed with key {made.kid} "
        f"at {iso_utc(made.at)}"
    )


def _operator() -> str:
    # The operator at the server's console, attributable by OS account (as main.cli_context).
    return f"cli:{getpass.getuser()}"


def trusted_keys(files: list[Path], settings: Settings | None) -> list[dict[str, Any]]:
    """The public keys checkpoints must be signed by: the files named, and labgate's own
    signing key when one is configured."""
    keys = [_public_key(path) for path in files]
    if settings is not None and settings.signing_key_file is not None:
        keys.append(Signer.from_file(settings.signing_key_file).public_jwk)
    return keys


def _public_key(path: Path) -> dict[str, Any]:
    try:
        jwk = json.loads(path.read_text(encoding="utf-8"))
        return {name: jwk[name] for name in PUBLIC_MEMBERS}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"Cannot read the public key {path} (a JWK with kty, crv, x): {error}."
        ) from None


def _show(report: TrailReport) -> None:
    if not report.ok:
        message = f"audit trail BROKEN at entry {report.first_broken}: {report.problem} "
        errors.print(escape(f"{message}[{report.reason}]"), highlight=False)
        raise typer.Exit(1)
    console.print(f"audit trail intact: {report.checked} entries verified")
    console.print(f"head: entry {report.checked}, the last entry of the chain")
    if not report.checkpoints:
        console.print(
            "checkpoints: none yet, so nothing proves the trail complete "
            "(run `labgate audit checkpoint`)"
        )
    else:
        console.print(
            f"checkpoints: {report.checkpoints}, every signature valid and every one in the "
            f"chain; the newest vouches for entry {report.last_checkpoint}"
        )
    console.print(f"entries after the newest checkpoint: {report.after_checkpoint}")
    if report.checkpoints and not report.keys_pinned:
        console.print(
            "note: signatures were checked against the keys the checkpoints carry; name "
            "labgate's public key with --public-key to rule out forged checkpoints"
        )
    for key in report.keys:
        console.print(f"signed by key {key}")


def _fail(error: Exception, code: int = 1) -> typer.Exit:
    message = str(error)
    if isinstance(error, LabgateError):
        field = (
            f" (field: {error.field})" if error.field and error.field not in error.message else ""
        )
        message = f"{error.message}{field} [{error.reason}]"
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code)
