"""Wiring: builds the real store, clock and converter unless a test passes its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from labgate.adapters.codecs.b2mml_envelope import decode_message
from labgate.adapters.codecs.filepack import pack_decoder
from labgate.adapters.codecs.pgp import PgpGate
from labgate.adapters.trend_check import regression_trend_check
from labgate.adapters.units_pint import PintUnitConverter
from labgate.compliance.access import role_conflicts
from labgate.compliance.clock import Clock, SystemClock
from labgate.config import Settings
from labgate.database import open_database
from labgate.service.deps import Deps
from labgate.service.inbox import Inbox
from labgate.service.messagebus import MessageBus
from labgate.service.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from labgate.adapters.channels.sftp import SftpTarget


@dataclass
class Hub:
    """One running labgate: settings, store, bus."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    bus: MessageBus
    uow_factory: Callable[[], UnitOfWork]
    inbox: Inbox

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()


def bootstrap(settings: Settings, clock: Clock | None = None, engine: Engine | None = None) -> Hub:
    """Build a hub; nothing connects until first use."""
    database = open_database(settings, engine)  # the same wiring as commands that need no bus
    uow_factory = database.uow_factory
    deps = Deps(clock or SystemClock(), PintUnitConverter, settings.lockout_after,
                lockout_period=timedelta(minutes=settings.lockout_minutes),
                anonymous_refusals_per_minute=settings.anonymous_refusals_per_minute,
                trend_check=regression_trend_check,
                role_conflicts=role_conflicts(settings.role_conflicts))  # fmt: skip
    bus = MessageBus(uow_factory, deps)
    packs = pack_decoder(pgp_gate(settings))
    inbox = Inbox(bus, uow_factory, timedelta(seconds=settings.replay_window_seconds),
                  timedelta(seconds=settings.hold_timeout_seconds),
                  decoders={"folder": packs, "sftp": packs},
                  default_decoder=decode_message,
                  channel_schemas=settings.channel_schemas)  # fmt: skip
    return Hub(settings, database.engine, database.sessions, bus, uow_factory, inbox)


def sftp_target(settings: Settings) -> SftpTarget | None:
    """The SFTP pack exchange from the settings, or None when no host is set."""
    if settings.sftp_host is None:
        return None
    if settings.sftp_user is None or settings.sftp_key_file is None:
        raise ValueError("Set LABGATE_SFTP_USER and LABGATE_SFTP_KEY_FILE for the SFTP host.")
    from labgate.adapters.channels.sftp import SftpTarget  # asyncssh: ~0.4 s, SFTP users only

    return SftpTarget(
        settings.sftp_host,
        settings.sftp_port,
        settings.sftp_user,
        settings.sftp_root,
        settings.sftp_key_file,
        settings.sftp_known_hosts,
    )


def pgp_gate(settings: Settings) -> PgpGate | None:
    """The PGP gate for packs, when labgate has a pack key."""
    if settings.pack_gpg_home is None:
        return None
    passphrase = settings.pack_gpg_passphrase
    return PgpGate(
        settings.pack_gpg_home,
        settings.pack_pgp_trusted,
        passphrase.get_secret_value() if passphrase else None,
        settings.pack_pgp_required,
    )
