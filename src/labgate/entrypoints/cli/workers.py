"""`labgate worker amqp|mqtt`: channel consumers feeding the inbox, until stopped (Ctrl-C or
SIGTERM); each message is acknowledged only after its effect is committed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from typing import NoReturn

import typer
from rich.console import Console

from labgate.adapters.channels.amqp import AmqpInbox, QueueOutOfDate
from labgate.adapters.channels.message_log import configure
from labgate.adapters.channels.mqtt import MqttInbox
from labgate.bootstrap import Hub, bootstrap
from labgate.config import Settings
from labgate.entrypoints.cli.packs import files_worker

log = logging.getLogger("labgate.workers")
workers_app = typer.Typer(help="Channel consumers (workers).", no_args_is_help=True)
console = Console(soft_wrap=True, markup=False)


def _serve(run: Callable[[asyncio.Event], Awaitable[None]], hub: Hub) -> None:
    configure()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        expiry = asyncio.create_task(_expire_held(hub, stop))
        await run(stop)
        await expiry

    asyncio.run(main())


async def _expire_held(hub: Hub, stop: asyncio.Event) -> None:
    """Quarantine messages that waited past the hold timeout for a gap (checked every quarter of
    the timeout, at most every 30 s)."""
    every = min(hub.settings.hold_timeout_seconds / 4, 30.0)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        try:
            await asyncio.to_thread(hub.inbox.expire_held)
        except Exception:  # the database is away: the next round tries again
            log.exception("expiring held messages failed; trying again in %s s", every)


@workers_app.command("amqp")
def amqp() -> None:
    """Consume the inbound quorum queue (and its dead letters) from RabbitMQ."""
    settings = Settings()
    if settings.amqp_url is None:
        Console(stderr=True).print("Set LABGATE_AMQP_URL to the RabbitMQ URL first.")
        raise typer.Exit(2)
    url = settings.amqp_url.get_secret_value()
    hub = bootstrap(settings)
    try:
        console.print(f"consuming {url.split('@')[-1]} into the inbox")
        _serve(AmqpInbox(url, hub.inbox).run, hub)
    except QueueOutOfDate as error:
        _refuse(str(error))
    finally:
        hub.close()


@workers_app.command("mqtt")
def mqtt() -> None:
    """Subscribe to <prefix>/<site>/<source>/in for LABGATE_MQTT_SITE and each of
    LABGATE_MQTT_SOURCES, with a persistent session."""
    settings = Settings()
    if "LABGATE_MQTT_TOPIC" in os.environ:
        _refuse("LABGATE_MQTT_TOPIC is no longer read: a worker subscribes to its own partners' "
                "topics; set LABGATE_MQTT_SITE and LABGATE_MQTT_SOURCES instead.")  # fmt: skip
    if not settings.mqtt_site or not settings.mqtt_sources:
        _refuse("Set LABGATE_MQTT_SITE and LABGATE_MQTT_SOURCES (a JSON list): the worker takes "
                "the messages of that site's partners only.")  # fmt: skip
    hub = bootstrap(settings)
    try:
        try:
            inbox = MqttInbox(
                hub.inbox,
                settings.mqtt_site,
                settings.mqtt_sources,
                settings.mqtt_host,
                settings.mqtt_port,
                settings.mqtt_client_id,
                settings.mqtt_topic_prefix,
                on_subscribed=lambda: console.print(f"subscribed to {where}"),
            )
        except ValueError as error:
            _refuse(str(error))
        where = f"{settings.mqtt_host}:{settings.mqtt_port} {', '.join(inbox.topics)}"
        console.print(f"connecting to {where}")
        _serve(inbox.run, hub)
    finally:
        hub.close()


def _refuse(message: str) -> NoReturn:
    Console(stderr=True, soft_wrap=True, markup=False).print(message)
    raise typer.Exit(2)


# The pack pickup is a worker too; its code lives with the other file-pack commands.
workers_app.command("files")(files_worker)
