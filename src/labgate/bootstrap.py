"""Wiring: builds the real store, clock and converter unless a test passes its own."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from labgate.adapters.codecs.b2mml_envelope import decode_message
from labgate.adapters.codecs.filepack import pack_decoder
from labgate.adapters.codecs.pgp import PgpGate
from labgate.compliance.access import role_conflicts
from labgate.compliance.clock import Clock, SystemClock
from labgate.config import Settings
from labgate.database import open_database
from labgate.service.config_cache import ApiKeyAccounts
from labgate.service.deps import Deps
from labgate.service.inbox.admission import Inbox
from labgate.service.messagebus import MessageBus
from labgate.service.outbox.relay_bell import RelayBell
from labgate.service.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from labgate.adapters.channels.sftp import SftpTarget
    from labgate.domain.trending import TrendObservation, TrendVerdict
    from labgate.domain.units import UnitConverter

# What the bus reaches only for some messages: pint's converter (a result's unit) and the
# regression trend check (numpy, SciPy, statsmodels: a trended result). A server imports them as
# it starts, so no request waits for them; a one-shot command (`labgate users create`) imports
# them only if it uses them, about a second sooner done.
_ON_FIRST_USE = ("labgate.adapters.units_pint", "labgate.adapters.trend_check")


@dataclass
class Hub:
    """One running labgate: settings, store, bus."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    bus: MessageBus
    uow_factory: Callable[[], UnitOfWork]
    inbox: Inbox
    bell: RelayBell  # rung when a commit owes the MES or the LIMS something: relays here wake
    accounts: ApiKeyAccounts | None = None  # API keys' accounts, cached (None: read each)

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()


def bootstrap(
    settings: Settings,
    clock: Clock | None = None,
    engine: Engine | None = None,
    *,
    preload: bool = True,
) -> Hub:
    """Build a hub; nothing connects until first use. With `preload` (servers, workers) the unit
    converter and the trend check are imported now; without it, when the bus first uses them."""
    if preload:
        for module in _ON_FIRST_USE:
            importlib.import_module(module)
    bell = RelayBell()  # the hub's own: its units of work ring it, its relays wait on it
    database = open_database(settings, engine, bell)  # the wiring of commands that need no bus
    uow_factory = database.uow_factory
    deps = Deps(clock or SystemClock(), unit_converter, settings.lockout_after,
                lockout_period=timedelta(minutes=settings.lockout_minutes),
                anonymous_refusals_per_minute=settings.anonymous_refusals_per_minute,
                trend_check=trend_check,
                role_conflicts=role_conflicts(settings.role_conflicts))  # fmt: skip
    bus = MessageBus(uow_factory, deps)
    packs = pack_decoder(pgp_gate(settings))
    inbox = Inbox(bus, uow_factory, timedelta(seconds=settings.replay_window_seconds),
                  timedelta(seconds=settings.hold_timeout_seconds),
                  decoders={"folder": packs, "sftp": packs},
                  default_decoder=decode_message,
                  channel_schemas=settings.channel_schemas, keys=database.keys)  # fmt: skip
    return Hub(
        settings,
        database.engine,
        database.sessions,
        bus,
        uow_factory,
        inbox,
        bell,
        database.accounts,
    )


def unit_converter(units: Mapping[str, str]) -> UnitConverter:
    """pint's converter over the unit dictionary (adapters/units_pint.py), imported on first use."""
    from labgate.adapters.units_pint import PintUnitConverter

    return PintUnitConverter(units)


def trend_check(
    history: Sequence[TrendObservation], new: TrendObservation, alpha: Decimal
) -> TrendVerdict | None:
    """The regression control chart (adapters/trend_check.py), imported on first use."""
    from labgate.adapters.trend_check import regression_trend_check

    return regression_trend_check(history, new, alpha)


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
