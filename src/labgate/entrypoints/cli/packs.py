"""`labgate packs`: the file-pack exchange (a drop folder or an SFTP server) — pick packs up,
send one, and reconcile what was expected against what was received and applied."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from labgate.adapters.channels.message_log import configure
from labgate.adapters.channels.pack_pickup import PackPickup
from labgate.adapters.channels.packstore import (
    FOLDERS,
    FolderPackStore,
    PackStore,
    TransportUnavailable,
)
from labgate.adapters.store.migrate import SchemaBehind, require_current_schema
from labgate.adapters.store.reconciliation import reconciliation
from labgate.bootstrap import bootstrap, sftp_target
from labgate.config import Settings
from labgate.domain.errors import LabgateError

packs_app = typer.Typer(help="File packs over a drop folder or SFTP.", no_args_is_help=True)
console = Console(soft_wrap=True, markup=False)
errors = Console(stderr=True, soft_wrap=True, markup=False)


def configured(settings: Settings) -> bool:
    """Whether a pack exchange is set up at all."""
    return settings.sftp_host is not None or settings.pack_folder is not None


@asynccontextmanager
async def pack_store(settings: Settings) -> AsyncIterator[PackStore]:
    """The exchange from the settings: SFTP when a host is set, else the drop folder."""
    target = sftp_target(settings)
    if target is not None:
        # asyncssh takes ~0.4 s to import: only a command that talks SFTP pays for it.
        from labgate.adapters.channels.sftp import SftpPackStore

        async with SftpPackStore(target) as sftp:
            yield sftp
        return
    if settings.pack_folder is None:
        raise ValueError("Set LABGATE_PACK_FOLDER, or LABGATE_SFTP_HOST and its settings.")
    folder = FolderPackStore(settings.pack_folder)
    try:
        yield folder
    finally:
        await folder.close()


def files_worker() -> None:
    """Pick packs up from the drop folder or SFTP server into the inbox, until stopped."""
    settings = Settings()
    configure()
    hub = bootstrap(settings)
    try:
        require_current_schema(hub.engine)

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            poll = timedelta(seconds=settings.pack_poll_seconds)
            while not stop.is_set():
                try:
                    async with pack_store(settings) as store:
                        console.print(f"picking packs up over {store.channel} into the inbox")
                        await PackPickup(store, hub.inbox).run(stop, poll)
                except TransportUnavailable as lost:  # reconnect at the next poll, for ever
                    errors.print(f"{lost.message}; reconnecting in {poll.total_seconds():g} s")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), poll.total_seconds())

        asyncio.run(main())
    except (ValueError, SchemaBehind, LabgateError) as error:
        errors.print(str(getattr(error, "message", error)))
        raise typer.Exit(2) from None
    finally:
        hub.close()


@packs_app.command("send")
def send(
    pack: Annotated[Path, typer.Argument(help="A pack file to publish in incoming/.")],
) -> None:
    """Publish a pack the way a sender must: a hidden temporary name, then an atomic rename."""
    settings = Settings()

    async def main() -> None:
        async with pack_store(settings) as store:
            await store.prepare()
            await store.put(pack.name, pack.read_bytes())

    try:
        asyncio.run(main())
    except (OSError, ValueError, LabgateError) as error:
        errors.print(str(getattr(error, "message", error)))
        raise typer.Exit(2) from None
    console.print(f"published {pack.name}")


@packs_app.command("reconcile")
def reconcile(
    since: Annotated[
        datetime | None, typer.Option(help="Only packs received since (ISO 8601, UTC).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Expected against received packs and records: exit 0 when everything balances, 3 when
    it does not, 2 when it cannot be made (settings, schema)."""
    settings = Settings()
    hub = bootstrap(settings)
    try:
        require_current_schema(hub.engine)
        folders = asyncio.run(_folders(settings)) if configured(settings) else None
        with hub.sessions() as session:
            report = reconciliation(session, hub.inbox.decode, since, folders)
    except (ValueError, SchemaBehind, LabgateError) as error:
        errors.print(str(getattr(error, "message", error)))
        raise typer.Exit(2) from None
    finally:
        hub.close()
    if as_json:
        console.print(json.dumps(report, indent=2))
    else:
        _print(report)
    raise typer.Exit(0 if report["balanced"] else NOT_BALANCED)


async def _folders(settings: Settings) -> dict[str, list[str]]:
    async with pack_store(settings) as store:
        await store.prepare()
        return {folder: await store.listing(folder) for folder in FOLDERS}


# Not 1: that is what Python exits with when a command fails; a report that does not balance
# is an answer, and a script must tell the two apart.
NOT_BALANCED = 3
COLUMNS = (
    *("source", "stream", "expected", "received", "missing", "applied", "held"),
    *("quarantined_open", "refused_open", "records_declared", "records_applied"),
)


def _print(report: dict[str, Any]) -> None:
    table = Table(title="File packs: expected against received")
    for column in COLUMNS:
        table.add_column(column.replace("_", " "))
    for line in report["streams"]:
        table.add_row(
            *(str(line[c]) for c in ("source", "stream", "expected", "received")),
            ", ".join(map(str, line["missing"])) or "-",
            *(str(line[c]) for c in ("applied", "held", "quarantined_open", "refused_open")),
            str(line["records_declared"]),
            str(line["records_applied"]),
        )
    console.print(table)
    for folder, names in report["waiting"].items():
        if names:
            console.print(f"waiting in {folder}/: {', '.join(names)}")
    for pack in report["packs"]:
        if pack["status"] != "applied":
            console.print(_pack_line(pack))
    console.print("balanced" if report["balanced"] else "NOT balanced")


def _pack_line(pack: dict[str, Any]) -> str:
    """One pack not applied: where it stands, its quarantine item, and what its number is."""
    where = (
        f"{pack['source']}/{pack['stream']} #{pack['sequence']}"
        if pack["stream"]
        else f"unreadable pack from {pack['source'] or 'an unknown sender'}"
    )
    item = (
        f"quarantine {pack['quarantine_id']} ({pack['reason']}, {pack['resolution']})"
        if pack["quarantine_id"]
        else "no quarantine item"
    )
    if pack["status"] == "held":
        number = "waits for the numbers before it"
    elif pack["number_used"]:
        number = "its number is used"
    else:
        number = "its number is free: the sender sends that sequence again"
    return f"{pack['status']}: {where}; {item}; {number}"
