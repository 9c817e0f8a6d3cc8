"""`labgate worker amqp|mqtt`: channel consumers feeding the inbox, until stopped (Ctrl-C or
SIGTERM); each message is acknowledged only after its effect is committed."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

import typer
from rich.console import Console

from labgate.adapters.channels.amqp import AmqpInbox
from labgate.adapters.channels.mqtt import MqttInbox
from labgate.bootstrap import bootstrap
from labgate.config import Settings

workers_app = typer.Typer(help="Channel consumers (workers).", no_args_is_help=True)
console = Console(soft_wrap=True, markup=False)


def _serve(run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(stop)

    asyncio.run(main())


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
        _serve(AmqpInbox(url, hub.inbox).run)
    finally:
        hub.close()


@workers_app.command("mqtt")
def mqtt() -> None:
    """Subscribe to labgate/in/# on the MQTT broker with a persistent session."""
    settings = Settings()
    hub = bootstrap(settings)
    try:
        console.print(f"subscribed to {settings.mqtt_host}:{settings.mqtt_port} labgate/in/#")
        _serve(MqttInbox(hub.inbox, settings.mqtt_host, settings.mqtt_port).run)
    finally:
        hub.close()
