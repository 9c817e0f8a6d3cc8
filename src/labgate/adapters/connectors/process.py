"""Wiring of `labgate connector rest-lims`: the mapping, the state, the clients of labgate and of
the LIMS, the webhook for the relay, then the rounds until --duration or SIGTERM. The webhook,
the signing identity and the REST channel into labgate are the simulators' own building blocks."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx

from labgate.adapters.connectors.partner.channels import Labgate, RestChannel
from labgate.adapters.connectors.partner.identity import (
    labgate_key,
    load_or_create_key,
    public_path,
)
from labgate.adapters.connectors.partner.journal import Journal
from labgate.adapters.connectors.partner.serving import say, serving
from labgate.adapters.connectors.partner.webhook import Webhook
from labgate.adapters.connectors.rest_lims import RestLimsApi, RestLimsConnector, lims_headers
from labgate.adapters.connectors.rest_lims_mapping import RestLimsMapping, load_mapping
from labgate.adapters.connectors.state import ConnectorState
from labgate.compliance.signer import Signer


@dataclass(frozen=True)
class ConnectorOptions:
    """What the command line and the environment give the connector."""

    mapping: Path
    state: Path
    url: str
    api_key: str | None
    labgate_key: Path
    key_file: Path
    kid: str
    source: str
    stream: str
    host: str
    port: int
    out: Path | None = None
    duration: float | None = None


@dataclass(frozen=True)
class Checked:
    """The options read and checked: everything that can be refused before anything starts."""

    options: ConnectorOptions
    mapping: RestLimsMapping
    headers: dict[str, str]
    state: ConnectorState
    api_key: str
    signer: Signer


def check(options: ConnectorOptions) -> Checked:
    """Read the mapping, the LIMS credentials and the state; ValueError names what is wrong."""
    mapping = load_mapping(options.mapping)
    headers = lims_headers(mapping)
    if not options.api_key:
        raise ValueError(
            "Give the connector's system account API key: LABGATE_CONNECTOR_API_KEY or --api-key."
        )
    labgate_key(options.labgate_key)  # refused now, not at the first request
    state = ConnectorState.load(options.state, mapping.results.initial_cursor)
    signer, created = load_or_create_key(options.key_file, options.kid)
    if created:
        say(f"made key {signer.kid} at {options.key_file}; register {public_path(options.key_file)}"
            f" for source {options.source} before it sends", err=True)  # fmt: skip
    return Checked(options, mapping, headers, state, options.api_key, signer)


def run(checked: Checked) -> None:
    """The connector until stopped."""
    asyncio.run(_main(checked))


async def _main(checked: Checked) -> None:
    logging.basicConfig(format="%(asctime)s %(name)s %(levelname)s %(message)s")
    options, mapping = checked.options, checked.mapping
    api, journal = Labgate(options.url, checked.api_key), Journal(options.out)
    client = httpx.AsyncClient(
        base_url=mapping.base_url, headers=checked.headers, timeout=mapping.timeout_seconds
    )
    connector = RestLimsConnector(mapping, RestLimsApi(mapping, client), checked.state,
                                  RestChannel(api), checked.signer, journal, options.source,
                                  options.stream)  # fmt: skip
    webhook = Webhook(labgate_key(options.labgate_key), connector.handle, journal)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if options.duration:
        loop.call_later(options.duration, stop.set)
    try:
        async with serving(webhook.app(), options.host, options.port):
            where = f"http://{options.host}:{options.port}/"
            say(
                f"rest-lims connector: source {options.source}, stream {options.stream}, "
                f"LIMS {mapping.base_url}, webhook listening on {where}"
            )
            await connector.run(stop)
    finally:
        await client.aclose()
        await api.close()
        owed = len(connector.state.owed)
        journal.write("stopped", owed=owed, cursor=connector.state.cursor)
        journal.close()
        say(f"stopped: {owed} message(s) owed to labgate, LIMS cursor {connector.state.cursor}")
