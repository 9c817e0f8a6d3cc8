"""`labgate conformance run --partner mes|lims --target URL`: play labgate's side of the ICD
against a partner's own endpoint before go-live, and write a signed report of every case;
`--format b2mml` plays it as the B2MML V0701 documents labgate sends an MES that speaks B2MML
(LABGATE_MES_FORMAT=b2mml), for the message types that have a B2MML form.
`labgate conformance verify DIR` checks a report's signature.

Exit 0: every case passed; 1: a case failed (each named on stderr); 2: bad options or key."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from labgate.entrypoints.cli.main import fail

if TYPE_CHECKING:  # the kit is imported when a command runs (main.py says why)
    from labgate.compliance.signer import Signer

REPORT, SIGNATURE, TEXT = "conformance-report.json", "conformance-report.json.jws", "report.txt"
EXIT_FAILED, EXIT_USAGE = 1, 2

conformance_app = typer.Typer(
    help="The conformance kit: play the ICD against a partner before go-live.",
    no_args_is_help=True,
)


@conformance_app.command("run")
def run(
    partner: Annotated[str, typer.Option(help="mes | lims: whose message types to play.")],
    target: Annotated[str, typer.Option(help="The partner's webhook URL.")],
    out: Annotated[Path, typer.Option(help="Folder for the report.")] = Path("conformance"),
    site: Annotated[str, typer.Option(help="The site the envelopes name.")] = "PLT1",
    key_file: Annotated[
        Path | None,
        typer.Option(help="Private JWK to sign with (default LABGATE_SIGNING_KEY_FILE)."),
    ] = None,
    replay_window: Annotated[
        float, typer.Option(help="The partner's replay window, seconds (the ICD's).", min=1)
    ] = 300.0,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each answer.")] = 10.0,
    message_type: Annotated[
        list[str] | None,
        typer.Option("--message-type", help="Only this message type, repeatable (default all)."),
    ] = None,
    message_format: Annotated[
        str,
        typer.Option("--format", help="json (envelopes) | b2mml (documents, the MES only)."),
    ] = "json",
) -> None:
    """Send every case of every message type labgate sends PARTNER to TARGET; judge the
    answers (and the partner's record of what it applied, where it offers one)."""
    from labgate.adapters.conformance.http import HttpPartner
    from labgate.service.conformance.b2mml_cases import B2mmlPlay
    from labgate.service.conformance.cases import Play
    from labgate.service.conformance.report import RunFacts, build_report, report_text

    types = _types(partner, message_format, message_type)
    signer = _signer(key_file)
    started = datetime.now(UTC)
    with HttpPartner(target, timeout) as endpoint:
        window = timedelta(seconds=replay_window)
        play = Play(endpoint, signer, site, window, lambda: datetime.now(UTC))
        if message_format == "b2mml":
            from labgate.adapters.conformance.b2mml import B2mmlDocuments

            play = B2mmlPlay(endpoint, signer, site, window, lambda: datetime.now(UTC),
                             documents=B2mmlDocuments())  # fmt: skip
        outcomes = play.run(types)
    facts = RunFacts(partner, target, site, play.stream, started, datetime.now(UTC),
                     message_format)  # fmt: skip
    report = build_report(facts, outcomes, signer)
    _write(out, report, signer)
    typer.echo(report_text(report), nl=False)
    typer.echo(f"report: {out / REPORT} (signed: {out / SIGNATURE})")
    if report["failures"]:
        for line in report["failures"]:
            typer.echo(f"FAILED {line}", err=True)
        raise typer.Exit(EXIT_FAILED)


@conformance_app.command("verify")
def verify(
    folder: Annotated[Path, typer.Argument(help="The folder `conformance run` wrote.")],
    public_key: Annotated[
        Path | None, typer.Option(help="The public JWK to check with (default: the report's).")
    ] = None,
) -> None:
    """Check the report's detached signature; exit 1 if the report was changed."""
    from labgate.compliance.envelope import EnvelopeError
    from labgate.service.conformance.report import verify_report

    try:
        data = (folder / REPORT).read_bytes()
        token = (folder / SIGNATURE).read_text(encoding="utf-8").strip()
        jwk = (json.loads(public_key.read_text()) if public_key
               else json.loads(data)["signed_by"]["public_jwk"])  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise fail(ValueError(f"Cannot read the report in {folder}: {error}"), EXIT_USAGE) from None
    try:
        verify_report(data, token, {k: jwk[k] for k in ("kty", "crv", "x") if k in jwk})
    except EnvelopeError as error:
        raise fail(error, EXIT_FAILED) from None
    typer.echo(f"{folder / REPORT}: signature verified")


def _types(partner: str, message_format: str, wanted: list[str] | None) -> tuple[str, ...]:
    """The message types to play: the partner's (those with a B2MML form, for b2mml), or the
    ones asked for; exit 2 for a partner, format or type labgate does not send that way."""
    from labgate.service.conformance.examples import PARTNER_TYPES

    if partner not in PARTNER_TYPES:
        raise fail(ValueError(f"--partner is mes or lims, not {partner!r}."), EXIT_USAGE)
    if message_format not in ("json", "b2mml"):
        raise fail(ValueError(f"--format is json or b2mml, not {message_format!r}."), EXIT_USAGE)
    types = PARTNER_TYPES[partner]
    if message_format == "b2mml":
        if partner != "mes":  # the relay writes B2MML for the MES only (LABGATE_MES_FORMAT)
            why = (f"--format b2mml: labgate sends the {partner} JSON envelopes only; B2MML "
                   "goes to an MES (LABGATE_MES_FORMAT=b2mml). Run --partner "
                   f"{partner} without --format.")  # fmt: skip
            raise fail(ValueError(why), EXIT_USAGE)
        from labgate.adapters.conformance.b2mml import B2mmlDocuments

        types = tuple(t for t in types if B2mmlDocuments().has_form(t))
    unknown = sorted(set(wanted or ()) - set(types))
    if unknown:
        how = " as B2MML" if message_format == "b2mml" else ""
        raise fail(ValueError(f"labgate sends the {partner} no {unknown[0]!r}{how}; it sends "
                              f"{', '.join(types)}{how}."), EXIT_USAGE)  # fmt: skip
    return tuple(t for t in types if t in (wanted or types))


def _signer(key_file: Path | None) -> Signer:
    from labgate.compliance.signer import Signer
    from labgate.config import Settings
    from labgate.entrypoints.cli.relay import load_signer

    try:
        return Signer.from_file(key_file) if key_file else load_signer(Settings())
    except ValueError as error:
        raise fail(error, EXIT_USAGE) from None


def _write(out: Path, report: dict[str, Any], signer: Signer) -> None:
    from labgate.service.conformance.report import report_text, sign_report

    data, token = sign_report(report, signer)
    out.mkdir(parents=True, exist_ok=True)
    (out / REPORT).write_bytes(data)
    (out / SIGNATURE).write_text(token + "\n", encoding="utf-8")
    (out / TEXT).write_text(report_text(report), encoding="utf-8")
