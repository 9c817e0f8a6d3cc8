"""`labgate relay`: deliver the outbox to the MES and LIMS webhooks, once or until stopped."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

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
from labgate.entrypoints.cli.clock import ClockWatch
from labgate.entrypoints.cli.dq_schedule import DqSchedule
from labgate.entrypoints.cli.due_changes import DueChanges
from labgate.service.outbox.records import LIMS, MES
from labgate.service.outbox.relay import RELAY_ACTOR, Relay, RelayReport, Transport
from labgate.service.outbox.relay_loop import RelayLoop

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


NOT_CONFIGURED = (
    "Set LABGATE_MES_WEBHOOK_URL or LABGATE_LIMS_WEBHOOK_URL (or LABGATE_MES_TRANSPORT / "
    "LABGATE_LIMS_TRANSPORT=amqp with LABGATE_AMQP_URL): the relay has nowhere to send."
)


def relay_configured(settings: Settings) -> bool:
    """Whether the relay has somewhere to send: a destination reached by AMQP, or by a webhook
    whose URL is set."""
    ways = ((settings.mes_transport, settings.mes_webhook_url),
            (settings.lims_transport, settings.lims_webhook_url))  # fmt: skip
    return any(how == "amqp" or url for how, url in ways)


def transports(settings: Settings, signer: Signer) -> tuple[dict[str, Transport], list[Any]]:
    """The relay's transport per destination, and what to close afterwards."""
    webhook, amqp = webhook_transport(settings), amqp_transport(settings)
    if webhook is None and amqp is None:
        raise ValueError(NOT_CONFIGURED)
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
        checkpoints = Periodic(
            Checkpoints(hub, signer, settings.checkpoint_interval_seconds),
            ClockWatch(settings, hub.uow_factory, clock),
            DueChanges(hub, RELAY_ACTOR, settings.change_apply_seconds),
            DqSchedule(hub),
        )
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


class Periodic:
    """What the relay does after each pass besides delivering: each part decides whether it
    is due (audit checkpoints, the clock check, change requests whose date has come, the
    data-quality runs)."""

    def __init__(self, *parts: Callable[[], None]) -> None:
        self.parts = parts

    def __call__(self) -> None:
        """Run each part; each is due on its own interval."""
        for part in self.parts:
            part()


def where(settings: Settings, destinations: dict[str, Transport]) -> str:
    """Where the relay sends each destination, for a start-up line: the webhook's address
    (without any user or password in it) or RabbitMQ."""
    configured = {MES: settings.mes_webhook_url, LIMS: settings.lims_webhook_url}
    ways = []
    for destination in sorted(destinations):
        url = configured[destination]
        if isinstance(destinations[destination], AmqpTransport) or url is None:
            ways.append(f"{destination} by AMQP")
            continue
        parts = urlsplit(url)
        shown = parts._replace(netloc=parts.netloc.rpartition("@")[2], query="", fragment="")
        ways.append(f"{destination} to {shown.geturl()}")
    return ", ".join(ways)


class InProcessRelay:
    """The relay inside `labgate serve`: `RelayLoop` on the hub's bell in a daemon thread (a
    commit of the server's own requests wakes it at once), on PostgreSQL a listener for the
    commits of other processes, and the audit checkpoints `relay run` signs. A failed pass is
    logged and the next one tries again; it never takes the server down."""

    def __init__(self, hub: Hub, settings: Settings, signer: Signer,
                 destinations: dict[str, Transport], opened: list[Any]) -> None:  # fmt: skip
        self.hub, self.opened, self.destinations = hub, opened, sorted(destinations)
        self.poll = settings.relay_poll_seconds
        self.stop_wait = settings.webhook_timeout_seconds + 5  # a pass's send may be in flight
        relay = Relay(SqlOutboxStore(hub.sessions), destinations, hub.bus.deps.clock, signer)
        checkpoints = Periodic(
            Checkpoints(hub, signer, settings.checkpoint_interval_seconds),
            ClockWatch(settings, hub.uow_factory, hub.bus.deps.clock),
            DueChanges(hub, RELAY_ACTOR, settings.change_apply_seconds),
            DqSchedule(hub),
        )

        def after(report: RelayReport) -> None:
            checkpoints()
            if report != RelayReport():
                log.info("relay: %s", _summary(report))

        self.loop = RelayLoop(relay, hub.bell, self.poll, after)
        self.listener: OutboxListener | None = None
        self.thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)

    @property
    def woken_by(self) -> str:
        """What wakes it, for the start-up line."""
        postgres = self.hub.engine.dialect.name == "postgresql"
        return "commits in any process" if postgres else "commits in this process"

    def start(self) -> InProcessRelay:
        """Listen (on PostgreSQL) and start the loop; its log lines go to stderr."""
        if not log.handlers:  # uvicorn configures its own loggers only
            handler = logging.StreamHandler()
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
            )
            log.addHandler(handler)
            log.setLevel(logging.INFO)
        if self.hub.engine.dialect.name == "postgresql":
            url = self.hub.settings.database_url
            self.listener = OutboxListener(url, self.hub.bell, self.destinations).start()
        self.thread.start()
        return self

    def stop(self) -> None:
        """Let the pass in progress finish, stop listening, close the transports."""
        self.loop.stop()
        self.thread.join(timeout=self.stop_wait)
        if self.listener is not None:
            self.listener.stop()
        for transport in self.opened:
            try:
                transport.close()
            except Exception:  # closing is best effort: the process is ending
                log.exception("relay: closing %s failed", type(transport).__name__)

    def _run(self) -> None:
        try:
            self.loop.run()
        except Exception:  # RelayLoop logs a failed pass itself; anything else ends the thread
            log.exception("relay stopped by an error; the server goes on without it")


def for_serve(
    settings: Settings, hub: Hub, asked: bool | None, workers: int
) -> tuple[InProcessRelay | None, str]:
    """The relay `labgate serve` runs in its process (not started yet), or None; and the line
    that says so, or why not. `asked`: --relay / --no-relay, or None for LABGATE_SERVE_RELAY
    (on by default: in-process whenever the relay has somewhere to send). A relay that is
    asked for (--relay) but cannot run, or that is configured wrongly (no signing key, say),
    raises ValueError: the server does not start without the delivery it was told to make."""
    if not (settings.serve_relay if asked is None else asked):
        return None, "relay: off in this process (run `labgate relay run` to deliver)"
    if not relay_configured(settings):
        if asked:
            raise ValueError(NOT_CONFIGURED)
        return None, ("relay: not configured (set LABGATE_MES_WEBHOOK_URL or "
                      "LABGATE_LIMS_WEBHOOK_URL to deliver from this process)")  # fmt: skip
    if workers > 1:
        # One relay per worker process would be safe (leases), but each would wake only for its
        # own commits on SQLite and contend for the write lock: scale-out runs one `relay run`.
        if asked:
            raise ValueError("--relay runs the relay in a single server process; with "
                             "--workers N > 1 run `labgate relay run` beside it.")  # fmt: skip
        return None, (f"relay: not in-process with {workers} worker processes (run "
                      "`labgate relay run` beside them)")  # fmt: skip
    try:
        signer = load_signer(settings)
        destinations, opened = transports(settings, signer)
    except ValueError as error:
        raise ValueError(f"{error} Or serve with --no-relay.") from None
    running = InProcessRelay(hub, settings, signer, destinations, opened)
    line = (f"relay: in-process, sending {where(settings, destinations)}; woken by "
            f"{running.woken_by}, polling every {running.poll:g} s")  # fmt: skip
    if signer.kid == DEMO_KID:
        line += f"; demo signing key {DEMO_KID} ({DEMO_KEY_FILE})"
    return running, line


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
