"""Wiring of a simulator process: its identity, channels and fault plan from the options and
the LABGATE_* settings labgate's workers read, then the run until --duration or SIGTERM. Kept
apart from the command line so that `labgate` starts without loading any of it."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from labgate.adapters.channels.packstore import FolderPackStore, PackStore
from labgate.adapters.channels.sftp import SftpPackStore
from labgate.adapters.connectors.partner.channels import (
    AmqpChannel,
    Labgate,
    MqttChannel,
    PackChannel,
    RestChannel,
)
from labgate.adapters.connectors.partner.dispatch import Channel, Dispatcher
from labgate.adapters.connectors.partner.identity import (
    Identity,
    Sequences,
    labgate_key,
    load_or_create_key,
    public_path,
)
from labgate.adapters.connectors.partner.journal import Journal
from labgate.adapters.connectors.partner.receiving import ReceiverRules
from labgate.adapters.connectors.partner.serving import say, serving
from labgate.adapters.connectors.partner.webhook import Documents, Handler, Webhook
from labgate.bootstrap import sftp_target
from labgate.config import Settings
from labgate.service.messages import OUTBOUND
from labgate_sim.faults import FaultPlan, parse_fault
from labgate_sim.lims import LimsSettings, LimsSim
from labgate_sim.mes import MesSettings, MesSim


@dataclass
class Common:
    """Options both simulators take."""

    name: str
    channel: str
    url: str
    api_key: str | None
    source: str
    key_file: Path | None
    kid: str | None
    labgate_key: Path
    host: str
    port: int
    faults: list[str]
    seed: int
    resend: bool
    delay_seconds: float
    skew_seconds: float
    out: Path | None
    duration: float | None
    amqp_url: str | None = None
    pack_folder: Path | None = None
    broken: tuple[str, ...] = ()  # receiver checks skipped on purpose (receiving.LAPSES)
    replay_window: float = 300.0

    def rules(self) -> ReceiverRules:
        """What its webhook checks: a conforming receiver's rules, less any --broken ones."""
        return ReceiverRules(timedelta(seconds=self.replay_window), OUTBOUND, True,
                             frozenset(self.broken))  # fmt: skip

    def __post_init__(self) -> None:
        """Refuse bad options before anything starts."""
        self.verifier = labgate_key(self.labgate_key)
        self.rates = dict(parse_fault(text) for text in self.faults)
        self.rules()  # an unknown --broken mode is refused here

    def identity(self) -> Identity:
        """The signing identity; a new key's public half is named so it can be registered."""
        path = self.key_file or Path("var/sim") / f"{self.source}.private.jwk.json"
        signer, created = load_or_create_key(path, self.kid or f"{self.source}-sim-1")
        if created:
            say(
                f"made key {signer.kid} at {path}; register {public_path(path)} for source "
                f"{self.source} (POST /api/v1/sources/{self.source}/keys) before it sends",
                err=True,
            )
        sequences = Sequences(path.with_name(path.name + ".sequences.json"))
        return Identity(self.source, signer, sequences)

    def plan(self) -> FaultPlan:
        """The fault plan from --fault NAME=RATE."""
        return FaultPlan(self.rates, self.seed, self.resend, self.delay_seconds, self.skew_seconds)

    def api(self) -> Labgate:
        """labgate's REST API as this system account."""
        if not self.api_key:
            raise ValueError("Give the system account's API key: LABGATE_SIM_API_KEY or --api-key.")
        return Labgate(self.url, self.api_key)

    def channel_for(self, kind: str, api: Labgate | None) -> Channel:
        """The channel of that kind, set up from the options and LABGATE_* settings."""
        settings = Settings()
        if kind == "rest":
            return RestChannel(api or self.api())
        if kind == "amqp":
            url = self.amqp_url or (
                settings.amqp_url.get_secret_value() if settings.amqp_url else None
            )
            if not url:
                raise ValueError("Set LABGATE_AMQP_URL or --amqp-url for the AMQP channel.")
            return AmqpChannel(url)
        if kind == "mqtt":
            client = f"labgate-sim-{self.source}-{secrets.token_hex(3)}"
            # Publish under the topics labgate's worker subscribes to (its prefix, our site).
            prefix = settings.mqtt_topic_prefix
            return MqttChannel(settings.mqtt_host, settings.mqtt_port, client, prefix)
        if kind == "files":
            return PackChannel(pack_store(settings, self.pack_folder))
        raise ValueError(f"Unknown channel {kind!r}; use rest, amqp, mqtt or files.")


def pack_store(settings: Settings, folder: Path | None) -> Callable[[], Awaitable[PackStore]]:
    """How to reach the pack exchange: --pack-folder, else SFTP if set up, else the folder."""
    target = None if folder is not None else sftp_target(settings)
    if target is not None:

        async def sftp() -> PackStore:
            return await SftpPackStore(target).open()

        return sftp
    root = folder or settings.pack_folder
    if root is None:
        raise ValueError("Set --pack-folder, LABGATE_PACK_FOLDER or LABGATE_SFTP_HOST for packs.")

    async def local() -> PackStore:
        return FolderPackStore(root)

    return local


async def _run(
    common: Common,
    handle: Handler,
    dispatchers: list[Dispatcher],
    closing: Sequence[Callable[[], Awaitable[None]]],
    summary: Callable[[Webhook], dict[str, Any]],
    work: Callable[[asyncio.Event], Coroutine[Any, Any, None]] | None = None,
    documents: Documents | None = None,
) -> None:
    logging.basicConfig(format="%(asctime)s %(name)s %(levelname)s %(message)s")
    journal = dispatchers[0].journal
    webhook = Webhook(common.verifier, handle, journal, documents, common.rules())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if common.duration:
        loop.call_later(common.duration, stop.set)
    try:
        async with serving(webhook.app(), common.host, common.port):
            speaks = " (JSON envelopes and B2MML documents)" if documents else ""
            if common.broken:
                say(f"{common.name} simulator BROKEN on purpose: {', '.join(common.broken)}")
            say(
                f"{common.name} simulator: source {common.source}, channel {common.channel}, "
                f"webhook listening on http://{common.host}:{common.port}/{speaks}"
            )
            tasks = [asyncio.create_task(d.run(stop)) for d in dict.fromkeys(dispatchers)]
            if work is not None:
                tasks.append(asyncio.create_task(work(stop)))
            await stop.wait()
            await asyncio.gather(*tasks)
    finally:
        for close in closing:
            await close()
        report = summary(webhook)
        journal.write("summary", **report)
        journal.close()
        say("summary " + json.dumps(report, sort_keys=True))


def run_lims(common: Common, settings: LimsSettings) -> None:
    """The LIMS until stopped; packs send registrations over REST."""

    async def main() -> None:
        api, journal = common.api(), Journal(common.out)
        results = Dispatcher(common.channel_for(common.channel, api), journal)
        registrations = Dispatcher(RestChannel(api), journal) if settings.packs else results
        sim = LimsSim(settings, common.identity(), api, registrations, results, common.plan(),
                      journal)  # fmt: skip
        closers = [results.channel.close, api.close]
        await _run(common, sim.handle, [results, registrations], closers, lambda _: sim.summary())

    asyncio.run(main())


def run_mes(common: Common, settings: MesSettings) -> None:
    """The MES until stopped."""

    async def main() -> None:
        journal = Journal(common.out)
        api = common.api() if common.channel == "rest" else None
        dispatcher = Dispatcher(common.channel_for(common.channel, api), journal)
        sim = MesSim(settings, common.identity(), dispatcher, common.plan(), journal)
        closers = [dispatcher.channel.close, *([api.close] if api else [])]
        documents = sim if settings.message_format == "b2mml" else None
        await _run(common, sim.handle, [dispatcher], closers, sim.summary, sim.request_all,
                   documents)  # fmt: skip

    asyncio.run(main())


def default_prefix() -> str:
    """MES request ids that differ from one run to the next (a re-sent id is the same sample)."""
    return "SIM-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
