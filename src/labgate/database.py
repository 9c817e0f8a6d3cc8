"""Wiring of the database alone: engine, sessions and units of work, with no bus, converter,
statistics, codecs or channels. `bootstrap` builds its hub on it; commands that only read or
administer records (`labgate users list`, `audit verify`, `coa`) open just this, which spares
them the imports of everything else (units, statistics, B2MML, PGP: about a second at start)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from labgate.adapters.store.config_store import SqlKeyRing, SqlSystemAccounts
from labgate.adapters.store.engine import make_engine
from labgate.adapters.store.mapping import start_mappers
from labgate.adapters.store.uow import SqlUnitOfWork
from labgate.config import Settings
from labgate.domain.channel_allow_list import as_allow_list
from labgate.service.config_cache import ApiKeyAccounts, ConfigCache, KeyRing
from labgate.service.outbox.relay_bell import RelayBell
from labgate.service.unit_of_work import UnitOfWork


@dataclass
class Database:
    """One database as labgate uses it: the engine, sessions and units of work over it."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    uow_factory: Callable[[], UnitOfWork]
    keys: KeyRing
    bell: RelayBell  # rung by every commit that wrote outbox rows
    accounts: ApiKeyAccounts  # the system account of an API key, from the cache

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()


def open_database(
    settings: Settings, engine: Engine | None = None, bell: RelayBell | None = None
) -> Database:
    """The database of these settings (or the engine given); nothing connects until first use.
    Its units of work ring `bell` (a new one if none is given) when they commit outbox rows."""
    start_mappers()
    engine = engine or make_engine(settings.database_url)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    cache = ConfigCache()  # keys, status map, units, aliases: read again when their version moves
    bell = bell or RelayBell()
    installed_channels = as_allow_list(settings.channel_schemas)

    def uow_factory() -> UnitOfWork:
        return SqlUnitOfWork(
            sessions,
            external_lims=settings.external_lims,
            config=cache,
            bell=bell,
            installed_channels=installed_channels,
        )

    return Database(settings, engine, sessions, uow_factory, SqlKeyRing(sessions, cache), bell,
                    SqlSystemAccounts(sessions, cache))  # fmt: skip
