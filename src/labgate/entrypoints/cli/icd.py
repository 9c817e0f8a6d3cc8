"""`labgate icd`: the Interface Control Document — generate a version from the configuration in
force, show one (summary, or the document as JSON, HTML or PDF), say what changed between two.
QA approves a version through the API or the console, with an e-signature."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from labgate.entrypoints.cli.main import cli_context, open_hub

icd_app = typer.Typer(help="The Interface Control Document.", no_args_is_help=True)
console = Console(soft_wrap=True, markup=False)
errors = Console(stderr=True, soft_wrap=True, markup=False)
SiteOption = Annotated[
    str | None, typer.Option("--site", help="The site (default: the only site there is).")
]


@icd_app.command("generate")
def icd_generate(site: SiteOption = None) -> None:
    """A new draft version when the configuration in force says something the newest version
    does not (else the newest version is named); audited."""
    from labgate.domain.commands import GenerateIcd
    from labgate.entrypoints.api.routes.icd_config import current_icd

    with open_hub() as hub:
        where = _site(hub, site)
        with hub.sessions() as session:
            content = current_icd(session, hub.settings, where, hub.bus.deps.clock.now())
        before = {v["version"] for v in _versions(hub, where)}
        number = hub.bus.handle(GenerateIcd(cli_context(), where, content))
        made = _version(hub, where, number)
    said = "a new draft" if number not in before else "unchanged: the newest version says it"
    console.print(f"ICD {where} version {number} ({said}), status {made['status']}, "
                  f"SHA-256 {made['sha256']}")  # fmt: skip


@icd_app.command("show")
def icd_show(
    version: Annotated[
        int | None, typer.Argument(help="Default: the version in force, else the newest.")
    ] = None,
    site: SiteOption = None,
    form: Annotated[str, typer.Option("--format", help="json, html or pdf.")] = "",
    out: Annotated[Path | None, typer.Option(help="Write the document to this file.")] = None,
) -> None:
    """A version's summary; with --format, the document itself (to --out, or to the terminal
    for json and html)."""
    from labgate.adapters.reports.icd import FORMATS, icd_document

    if form and form not in FORMATS:
        errors.print(f"error: --format is one of {', '.join(FORMATS)}, not {form!r}")
        raise typer.Exit(2)
    with open_hub() as hub:
        where = _site(hub, site)
        versions = _versions(hub, where)
        if not versions:
            errors.print(f"error: {where} has no ICD yet: run `labgate icd generate` [icd.unknown]")
            raise typer.Exit(2)
        in_force = next((v for v in versions if v["status"] == "approved"), versions[0])
        shown = in_force if version is None else _version(hub, where, version)
    if not form:
        console.print(f"ICD {where} version {shown['version']} · {shown['status']} · "
                      f"SHA-256 {shown['sha256']}")  # fmt: skip
        console.print(f"generated {shown['generated_at']} by {shown['generated_by']}" + (
            f" · approved {shown['approved_at']} by {shown['approved_by']}"
            if shown["approved_by"] else ""))  # fmt: skip
        for section, value in shown["content"].items():
            size = f"{len(value)} entries" if isinstance(value, list) else "…"
            console.print(f"  {section}: {size}")
        return
    document = icd_document(shown, form)
    if out is not None:
        out.write_bytes(document)
        console.print(f"{out} ({len(document)} bytes)")
    elif form == "pdf":
        errors.print("error: a PDF goes to a file: add --out FILE")
        raise typer.Exit(2)
    else:
        typer.echo(document.decode())


@icd_app.command("diff")
def icd_diff(
    a: Annotated[int, typer.Argument(help="The earlier version.")],
    b: Annotated[int, typer.Argument(help="The later version.")],
    site: SiteOption = None,
) -> None:
    """What changed from version A to version B, in words, section by section."""
    from labgate.service.icd.changes import icd_changes

    with open_hub() as hub:
        where = _site(hub, site)
        old, new = _version(hub, where, a), _version(hub, where, b)
    said = icd_changes(old["content"], new["content"])
    console.print(f"ICD {where}: version {a} → {b}: " + (f"{len(said)} change(s)" if said else
                  "no change"))  # fmt: skip
    for line in said:
        console.print(f"  {line}")


def _site(hub: Any, site: str | None) -> str:
    from labgate.adapters.store.replay_view import sole_site
    from labgate.domain.errors import LabgateError

    try:
        return site or sole_site(hub.sessions)
    except LabgateError as error:
        errors.print(f"error: {error.message} [{error.reason}]")
        raise typer.Exit(2) from None


def _versions(hub: Any, site: str) -> list[dict[str, Any]]:
    from labgate.entrypoints.api.routes.icd import stored

    with hub.sessions() as session:
        return stored(session, site)


def _version(hub: Any, site: str, number: int) -> dict[str, Any]:
    from labgate.domain.errors import LabgateError
    from labgate.entrypoints.api.routes.icd import one

    try:
        with hub.sessions() as session:
            return one(session, site, number)
    except LabgateError as error:
        errors.print(f"error: {error.message} [{error.reason}]")
        raise typer.Exit(2) from None
