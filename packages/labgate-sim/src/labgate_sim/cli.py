"""`labgate-sim lims|mes`: an external LIMS and an MES as separate processes, over the real
channels, with fault modes on demand. Broker and pack-exchange settings come from the same
LABGATE_* variables labgate's workers read; options override them. The simulators are
loaded only when one is run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    no_args_is_help=True, help="Simulated partner systems: an external LIMS and an MES."
)

ChannelOpt = Annotated[str, typer.Option(help="rest | amqp | mqtt (| files for the LIMS).")]
UrlOpt = Annotated[str, typer.Option(help="labgate's base URL.")]
ApiKeyOpt = Annotated[
    str | None, typer.Option(envvar="LABGATE_SIM_API_KEY", help="The system account's API key.")
]
KeyFileOpt = Annotated[
    Path | None, typer.Option(help="Private JWK to sign with; made if missing (register it).")
]
LabgateKeyOpt = Annotated[
    Path, typer.Option(help="labgate's public JWK (`labgate relay public-key`).")
]
FaultOpt = Annotated[
    list[str] | None, typer.Option("--fault", help="NAME=RATE, repeatable, e.g. duplicate=0.1.")
]
SeedOpt = Annotated[int, typer.Option(help="Seed for faults and values: runs repeat.")]
ResendOpt = Annotated[bool, typer.Option(help="Send the intact original after a damaged copy.")]
OutOpt = Annotated[Path | None, typer.Option(help="JSON-lines journal of what was sent and got.")]
DurationOpt = Annotated[float | None, typer.Option(help="Stop after S seconds (else on SIGTERM).")]
HostOpt = Annotated[str, typer.Option(help="Address the webhook listens on.")]
BrokenOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--broken",
        help="Skip one receiver check on purpose, repeatable: accept-bad-signature, "
        "accept-unknown-key, apply-duplicates, apply-out-of-order, accept-schema-drift, "
        "accept-stale (the conformance kit then fails that case).",
    ),
]
WindowOpt = Annotated[
    float, typer.Option(help="Seconds sent_at may differ from this clock (replay window).")
]


def _fail(error: Exception) -> typer.Exit:
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(2)


@app.command("lims")
def lims(
    labgate_key: LabgateKeyOpt,
    channel: ChannelOpt = "rest",
    url: UrlOpt = "http://127.0.0.1:8000",
    api_key: ApiKeyOpt = None,
    source: Annotated[str, typer.Option(help="Source name: the LIMS's system account.")] = "lims",
    key_file: KeyFileOpt = None,
    kid: Annotated[str | None, typer.Option(help="Key id for a new key.")] = None,
    host: HostOpt = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Webhook port (LABGATE_LIMS_WEBHOOK_URL).")] = 8702,
    stream: Annotated[str, typer.Option(help="Stream of its messages.")] = "lims-sim",
    turnaround: Annotated[float, typer.Option(help="Seconds to results (±50 %).")] = 20.0,
    speed: Annotated[float, typer.Option(help="Divides the turnaround.", min=0.001)] = 1.0,
    oos_rate: Annotated[float, typer.Option(help="Chance a result is out of spec.")] = 0.05,
    review: Annotated[str, typer.Option(help="approved (in the LIMS) | preliminary.")] = "approved",
    fault: FaultOpt = None,
    seed: SeedOpt = 0,
    resend: ResendOpt = True,
    delay_seconds: Annotated[float, typer.Option(help="How late a delayed message is.")] = 2.0,
    skew_seconds: Annotated[float, typer.Option(help="Clock skew of a skewed message.")] = 600.0,
    out: OutOpt = None,
    duration: DurationOpt = None,
    amqp_url: Annotated[str | None, typer.Option(help="Overrides LABGATE_AMQP_URL.")] = None,
    pack_folder: Annotated[Path | None, typer.Option(help="Drop folder for packs.")] = None,
    broken: BrokenOpt = None,
    replay_window: WindowOpt = 300.0,
) -> None:
    """An external LIMS: registers the samples labgate asks for, then reports their results.

    Sample requests arrive at its webhook (point LABGATE_LIMS_WEBHOOK_URL there); results go
    out after the turnaround over --channel (with packs, registrations go over REST)."""
    from labgate_sim.lims import LimsSettings
    from labgate_sim.runner import Common, run_lims

    if review not in ("approved", "preliminary") or not 0 <= oos_rate <= 1:
        raise _fail(ValueError("--review is approved or preliminary; --oos-rate is 0 to 1."))
    packs = channel == "files"
    settings = LimsSettings(stream + "-packs" if packs else stream, stream, packs,
                            turnaround, speed, oos_rate, review, seed=seed)  # fmt: skip
    try:
        common = Common("lims", channel, url, api_key, source, key_file, kid, labgate_key, host,
                        port, fault or [], seed, resend, delay_seconds, skew_seconds, out,
                        duration, amqp_url, pack_folder, tuple(broken or ()),
                        replay_window)  # fmt: skip
        run_lims(common, settings)
    except ValueError as error:
        raise _fail(error) from None


@app.command("mes")
def mes(
    labgate_key: LabgateKeyOpt,
    channel: ChannelOpt = "rest",
    url: UrlOpt = "http://127.0.0.1:8000",
    api_key: ApiKeyOpt = None,
    source: Annotated[str, typer.Option(help="Source name: the MES's system account.")] = "mes",
    key_file: KeyFileOpt = None,
    kid: Annotated[str | None, typer.Option(help="Key id for a new key.")] = None,
    host: HostOpt = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Webhook port (LABGATE_MES_WEBHOOK_URL).")] = 8701,
    stream: Annotated[str, typer.Option(help="Stream of its requests.")] = "mes-sim",
    site: Annotated[str, typer.Option(help="Site.")] = "PLT1",
    product: Annotated[str, typer.Option(help="Product sampled.")] = "PCM-500",
    batch: Annotated[str | None, typer.Option(help="Batch sampled.")] = "B-PCM-24002",
    sampling_point: Annotated[str | None, typer.Option(help="Sampling point.")] = "SP-PCM-REL",
    count: Annotated[int, typer.Option(help="How many sample requests.", min=0)] = 1,
    rate: Annotated[float, typer.Option(help="Requests per second.", min=0.001)] = 1.0,
    prefix: Annotated[str | None, typer.Option(help="MES request ids: PREFIX-0001...")] = None,
    message_format: Annotated[
        str, typer.Option("--format", help="json | b2mml (as labgate's LABGATE_MES_FORMAT).")
    ] = "json",
    fault: FaultOpt = None,
    seed: SeedOpt = 0,
    resend: ResendOpt = True,
    delay_seconds: Annotated[float, typer.Option(help="How late a delayed message is.")] = 2.0,
    skew_seconds: Annotated[float, typer.Option(help="Clock skew of a skewed message.")] = 600.0,
    out: OutOpt = None,
    duration: DurationOpt = None,
    amqp_url: Annotated[str | None, typer.Option(help="Overrides LABGATE_AMQP_URL.")] = None,
    broken: BrokenOpt = None,
    replay_window: WindowOpt = 300.0,
) -> None:
    """An MES: requests samples, and records and times what labgate sends back.

    COUNT requests at RATE a second go out over --channel; labgate's messages arrive at its
    webhook (point LABGATE_MES_WEBHOOK_URL there). A summary is printed on SIGTERM. With
    --format b2mml the requests are B2MML ProcessOperationsSchedule documents and the webhook
    also takes labgate's signed B2MML documents."""
    from labgate_sim.mes import MesSettings
    from labgate_sim.runner import Common, default_prefix, run_mes

    if channel == "files":
        raise _fail(ValueError("The MES sends sample requests over rest, amqp or mqtt."))
    if message_format not in ("json", "b2mml"):
        raise _fail(ValueError(f"--format is json or b2mml, not {message_format!r}."))
    settings = MesSettings(site, product, batch, sampling_point, count, rate,
                           prefix or default_prefix(), stream, message_format)  # fmt: skip
    try:
        common = Common("mes", channel, url, api_key, source, key_file, kid, labgate_key, host,
                        port, fault or [], seed, resend, delay_seconds, skew_seconds, out,
                        duration, amqp_url, None, tuple(broken or ()),
                        replay_window)  # fmt: skip
        run_mes(common, settings)
    except ValueError as error:
        raise _fail(error) from None
