"""`labgate relay`: deliver the outbox to the MES and LIMS webhooks, once or until stopped."""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from labgate.adapters.channels.amqp_relay import AmqpTransport
from labgate.adapters.channels.b2mml_webhook import B2mmlWebhook
from labgate.adapters.channels.webhook import WebhookTransport
from labgate.adapters.store.audit_store import make_checkpoint
from labgate.adapters.store.migrate import SchemaBehind, require_current_schema
from labgate.adapters.store.outbox_listen import OutboxListener
from labgate.adapters.store.outbox_store import SqlOutboxStore
from labgate.bootstrap import Hub, bootstrap
from labgate.compliance.checkpoints import TrailBroken
from labgate.compliance.signer import Signer
from labgate.config import Settings
from labgate.service.outbox import LIMS, MES
from labgate.service.relay import RELAY_ACTOR, Relay, RelayReport, Transport
from labgate.service.relay_loop import RelayLoop

log = logging.getLogger("labgate.relay")
relay_app = typer.Typer(help="The outbox relay.", no_args_is_help=True)

DEMO_KID = "labgate-demo"
# Made once and kept: receivers of the demo relay verify with one key across restarts.
DEMO_KEY_FILE = Path("var") / "labgate-demo.private.jwk.json"


@relay_app.callback()
def relay() -> None:
    """Deliver the messages labgate owes the MES and the LIMS, signed, at least once."""


def load_signer(settings: Settings) -> Signer:
    """labgate's signing key from LABGATE_SIGNING_KEY_FILE; in demo mode the demo key in var/,
    made on first use."""
    if settings.signing_key_file is not None:
        return Signer.from_file(settings.signing_key_file)
    if settings.demo:
        return demo_signer(DEMO_KEY_FILE)
    raise ValueError(
        "Set LABGATE_SIGNING_KEY_FILE to labgate's private JWK (make one with `labgate keys "
        "generate`), or run in demo mode (LABGATE_DEMO=1)."
    )


def demo_signer(path: Path) -> Signer:
    """The demo key kept at `path`; the first caller makes it (readable by its owner only)."""
    if not path.exists():
        signer = Signer.generate(DEMO_KID)
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.part")
        text = json.dumps({**signer.private_jwk, "kid": signer.kid})
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        try:
            os.link(draft, path)  # never replaces: of two first callers, one key wins
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return Signer.from_file(path)


def webhook_transport(settings: Settings) -> WebhookTransport | None:
    """One webhook per destination whose URL is set (and that the relay reaches by webhook);
    mutual TLS if a client certificate is."""
    configured = {MES: settings.mes_webhook_url, LIMS: settings.lims_webhook_url}
    by_webhook = {MES: settings.mes_transport, LIMS: settings.lims_transport}
    urls = {d: url for d, url in configured.items() if url and by_webhook[d] == "webhook"}
    if not urls:
        return None
    cert, key = settings.webhook_client_cert, settings.webhook_client_key
    if (cert is None) != (key is None):
        raise ValueError(
            "Set both LABGATE_WEBHOOK_CLIENT_CERT and LABGATE_WEBHOOK_CLIENT_KEY for mutual TLS, "
            "or neither."
        )
    return WebhookTransport(
        urls,
        timeout_s=settings.webhook_timeout_seconds,
        cert=(str(cert), str(key)) if cert and key else None,
        verify=str(settings.webhook_ca_file) if settings.webhook_ca_file else True,
    )


def amqp_transport(settings: Settings) -> AmqpTransport | None:
    """RabbitMQ for the destinations set to reach by AMQP."""
    wanted = [d for d, how in ((MES, settings.mes_transport), (LIMS, settings.lims_transport))
              if how == "amqp"]  # fmt: skip
    if not wanted:
        return None
    if settings.amqp_url is None:
        raise ValueError("Set LABGATE_AMQP_URL: the relay reaches " + " and ".join(wanted) +
                         " through RabbitMQ.")  # fmt: skip
    return AmqpTransport(settings.amqp_url.get_secret_value(), wanted,
                         timeout_s=settings.webhook_timeout_seconds)  # fmt: skip


def transports(settings: Settings, signer: Signer) -> tuple[dict[str, Transport], list[Any]]:
    """The relay's transport per destination, and what to close afterwards."""
    webhook, amqp = webhook_transport(settings), amqp_transport(settings)
    if webhook is None and amqp is None:
        raise ValueError(
            "Set LABGATE_MES_WEBHOOK_URL or LABGATE_LIMS_WEBHOOK_URL (or LABGATE_MES_TRANSPORT / "
            "LABGATE_LIMS_TRANSPORT=amqp with LABGATE_AMQP_URL): the relay has nowhere to send."
        )
    destinations: dict[str, Transport] = {}
    if webhook is not None:
        destinations |= dict.fromkeys(webhook.urls, webhook)
        if settings.mes_format == "b2mml" and MES in destinations:
            destinations[MES] = B2mmlWebhook(webhook, signer)
    if amqp is not None:
        destinations |= dict.fromkeys(amqp.destinations, amqp)
    return destinations, [t for t in (webhook, amqp) if t is not None]


@relay_app.command("run")
def run(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    interval: Annotated[
        float | None,
        typer.Option(
            help="Seconds between passes when nothing wakes the relay (default: "
            "LABGATE_RELAY_POLL_SECONDS, 1).",
            min=0.1,
        ),
    ] = None,
    batch: Annotated[
        int, typer.Option(help="Rows per destination in one pass.", min=1, max=10_000)
    ] = 100,
) -> None:
    """Deliver due messages until stopped (Ctrl-C): at once after a commit (on PostgreSQL, in
    any process), and every INTERVAL seconds in any case."""
    settings = Settings()
    try:
        signer = load_signer(settings)
        destinations, opened = transports(settings, signer)
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    hub = bootstrap(settings)
    try:
        require_current_schema(hub.engine)
        store, clock = SqlOutboxStore(hub.sessions), hub.bus.deps.clock
        relay = Relay(store, destinations, clock, signer, batch=batch)
        if signer.kid == DEMO_KID:
            typer.echo(f"demo signing key {DEMO_KID} ({DEMO_KEY_FILE}): "
                       f"{json.dumps(signer.public_jwk)}", err=True)  # fmt: skip
        checkpoints = Checkpoints(hub, signer, settings.checkpoint_interval_seconds)
        if once:
            _once(relay, checkpoints)
        else:
            poll = interval or settings.relay_poll_seconds
            _run_woken(relay, hub, sorted(destinations), poll, checkpoints)
    except SchemaBehind as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        for transport in opened:
            transport.close()
        hub.close()


class Checkpoints:
    """Signs a checkpoint of the audit trail's head after a pass, at most every `every`
    seconds (0: never), so a running hub's trail is anchored without a cron job."""

    def __init__(self, hub: Hub, signer: Signer, every: float) -> None:
        self.hub, self.signer, self.every = hub, signer, every
        self.due = time.monotonic()

    def __call__(self) -> None:
        """Make one if it is due; a trail that does not check out is logged, not signed."""
        if not self.every or time.monotonic() < self.due:
            return
        self.due = time.monotonic() + self.every
        try:
            now = self.hub.bus.deps.clock.now()
            make_checkpoint(self.hub.sessions, self.signer, now, RELAY_ACTOR)
        except TrailBroken as error:
            if error.reason != "audit.empty":
                log.error("no audit checkpoint signed: %s [%s]", error.message, error.reason)
        except Exception:  # the database went away, say: the next one is tried next time
            log.exception("audit checkpoint failed")


def _once(relay: Relay, checkpoint: Callable[[], None]) -> None:
    report = relay.run_once()  # a failure is the command's: it exits non-zero
    checkpoint()
    typer.echo(_summary(report))


def _run_woken(
    relay: Relay, hub: Hub, destinations: list[str], poll: float, checkpoint: Callable[[], None]
) -> None:
    """Passes until stopped, woken by the hub's bell; on PostgreSQL a listener rings it for
    commits in other processes too."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    listener = None
    if hub.engine.dialect.name == "postgresql":
        listener = OutboxListener(hub.settings.database_url, hub.bell, destinations).start()

    def after(report: RelayReport) -> None:
        checkpoint()
        if report != RelayReport():
            typer.echo(_summary(report))

    loop = RelayLoop(relay, hub.bell, poll, after)
    woken = "commits in any process" if listener else "commits in this process only"
    typer.echo(f"relay running: woken by {woken}, polling every {poll:g} s", err=True)
    # SIGTERM (a service manager's stop) lets the pass in progress finish, then stops.
    previous = signal.signal(signal.SIGTERM, lambda *_: loop.stop())
    try:
        loop.run()
    except KeyboardInterrupt:  # Ctrl-C: a row claimed but not settled goes out when its lease ends
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if listener is not None:
            listener.stop()
    typer.echo("relay stopped", err=True)


def _summary(report: RelayReport) -> str:
    held = f", held {report.held} (changed after commit)" if report.held else ""
    limit = (
        f"; stopped at the batch limit for {', '.join(report.at_limit)}: more may be due, "
        "run again (or raise --batch)"
        if report.at_limit
        else ""
    )
    return (
        f"delivered {report.delivered}, failed {report.failed}, dead-lettered {report.dead}"
        f"{held}{limit}"
    )


@relay_app.command("public-key")
def public_key() -> None:
    """Print labgate's public signing key (JWK), for receivers to verify envelopes with."""
    try:
        signer = load_signer(Settings())
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps({**signer.public_jwk, "kid": signer.kid}, indent=2))
