"""`labgate keys`: Ed25519 key pairs for partners and simulators that sign envelopes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from labgate.compliance.envelope import KID_PATTERN, generate_keypair

keys_app = typer.Typer(help="Signing keys of source systems.", no_args_is_help=True)


@keys_app.callback()
def keys() -> None:
    """Signing keys: the source keeps the private half, labgate registers the public half."""


@keys_app.command("generate")
def generate(
    kid: Annotated[str, typer.Option(help="Key id, e.g. lims-2026-1 (letters, digits, . _ -).")],
    out: Annotated[Path, typer.Option(help="Directory for the two JWK files.", file_okay=False)],
) -> None:
    """Write <kid>.private.jwk.json (mode 0600) and <kid>.public.jwk.json; print the public JWK."""
    if not KID_PATTERN.fullmatch(kid):
        rule = "1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        typer.echo(f"error: key id {kid!r} must be {rule}.", err=True)
        raise typer.Exit(2)
    private_path, public_path = out / f"{kid}.private.jwk.json", out / f"{kid}.public.jwk.json"
    existing = [str(p) for p in (private_path, public_path) if p.exists()]
    if existing:
        typer.echo(f"error: {existing[0]} exists; a key pair is never overwritten.", err=True)
        raise typer.Exit(1)
    private, public = generate_keypair()
    out.mkdir(parents=True, exist_ok=True)
    _write(private_path, {**private, "kid": kid}, 0o600)
    _write(public_path, {**public, "kid": kid}, 0o644)
    typer.echo(f"wrote {private_path} (keep it secret) and {public_path}", err=True)
    typer.echo(json.dumps({**public, "kid": kid}, indent=2))


def _write(path: Path, jwk: dict[str, Any], mode: int) -> None:
    # Created with its final mode and never over an existing file: no moment of wider access.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    os.fchmod(descriptor, mode)  # exactly this mode, whatever the umask
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(jwk, file, indent=2)
        file.write("\n")
