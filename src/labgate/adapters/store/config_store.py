"""The cached configuration in the store: its versions (one row per kind), what moves them, and
how each kind is read when its version moved (service/config_cache.py says why).

A message's transaction reads the versions under a shared lock on PostgreSQL (FOR SHARE), and
every change of a kind moves its version with an UPDATE of that row in the change's own
transaction. So a revocation waits for the messages already checking their keys, and a message
that starts after it waits for its commit and then sees the new version: no message commits
with a key revoked before it. SQLite serialises writers already."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session, sessionmaker

from labgate.adapters.store import tables as t
from labgate.compliance.access import Account
from labgate.compliance.keys import SourceKey
from labgate.domain.change_control import StatusMapSchedule, StatusMapVersion, status_rules
from labgate.domain.channel_allow_list import (
    AllowListSchedule,
    ChannelAllowListVersion,
    as_allow_list,
)
from labgate.domain.lifecycle import ResultStatus
from labgate.domain.masterdata import Alias, AliasSystem, Unit
from labgate.domain.status_map import MesStatus, Outcome, StatusMap, StatusRule
from labgate.service.config_cache import (
    AccountTable,
    AliasTable,
    ConfigCache,
    KeyTable,
    UnitTable,
)

# The mapped records whose every change moves a version. status_rules is written only by
# migrations; a change request puts a new status map in force as a StatusMapVersion.
KIND_OF: dict[type, str] = {
    StatusMapVersion: "status_map",
    ChannelAllowListVersion: "channel_allow_list",
    SourceKey: "source_keys",
    Unit: "units",
    Alias: "aliases",
    Account: "accounts",  # any change: roles, API key, deactivation, a lock, a failed sign-in
}

_VERSIONS = select(t.config_versions.c.kind, t.config_versions.c.version)
_SHARED = _VERSIONS.with_for_update(read=True)  # FOR SHARE on PostgreSQL; nothing on SQLite
_BUMP = (
    update(t.config_versions)
    .where(t.config_versions.c.kind.in_(bindparam("kinds", expanding=True)))
    .values(version=t.config_versions.c.version + 1)
)


def read_versions(session: Session, shared: bool) -> dict[str, int]:
    """Every kind's version, in one SELECT; `shared` for a message's transaction."""
    return {kind: int(v) for kind, v in session.execute(_SHARED if shared else _VERSIONS)}


def bump(connection: Connection, kinds: Collection[str]) -> None:
    """Move these kinds' versions, in the transaction of the change."""
    connection.execute(_BUMP, {"kinds": sorted(kinds)})  # sorted: rows locked in one order


def note_changes(session: Session, _context: object, _instances: object) -> None:
    """Before each flush: the versions of the kinds it writes move with it (every writer, by
    the ORM: key registration and revocation, master data imports, whatever comes next)."""
    changed = {KIND_OF[type(o)] for o in (*session.new, *session.deleted) if type(o) in KIND_OF}
    for record in session.dirty:
        if type(record) in KIND_OF and session.is_modified(record):
            changed.add(KIND_OF[type(record)])
    if changed:
        bump(session.connection(), changed)


def load_keys(session: Session) -> KeyTable:
    """Every registered key, revoked ones included (they verify nothing: refused as revoked)."""
    columns = [c.name for c in t.source_keys.c if c.name != "id"]
    rows = session.execute(select(*[t.source_keys.c[name] for name in columns]))
    return {(r.source, r.kid): SourceKey(**dict(zip(columns, r, strict=True))) for r in rows}


def load_status_map(session: Session) -> StatusMapSchedule:
    """The installed status map and every approved version with its date. The caller picks
    by its own time (`in_force(now)`): a version is written at its approval, so the map moves
    at its date exactly, and the cache (moved by that write) needs no second move then."""
    v = t.status_map_versions.c
    versions = session.execute(select(v.effective_from, v.version, v.rules))
    dated = tuple((at, n, status_rules({"rules": rules}, n)) for at, n, rules in versions)
    rows = session.execute(select(t.status_rules).order_by(t.status_rules.c.id))
    installed = StatusMap(
        StatusRule(ResultStatus(r.lims_status), Outcome(r.outcome), MesStatus(r.mes_status))
        for r in rows
    )
    return StatusMapSchedule(installed, dated)


def load_channel_allow_lists(session: Session) -> AllowListSchedule:
    """Every approved channel allow-list with its date (picked by the caller's own time, as
    the status map's versions are)."""
    v = t.channel_allow_list_versions.c
    rows = session.execute(select(v.effective_from, v.version, v.channels))
    return AllowListSchedule(tuple((at, n, as_allow_list(chs)) for at, n, chs in rows))


def status_map_history(session: Session) -> list[tuple[datetime | None, StatusMap]]:
    """Every status map that was in force, oldest first: the one installed with the hub (from
    the beginning, None), then each version approved through a change request, from its date."""
    installed = StatusMap(
        StatusRule(ResultStatus(r.lims_status), Outcome(r.outcome), MesStatus(r.mes_status))
        for r in session.execute(select(t.status_rules).order_by(t.status_rules.c.id))
    )
    v = t.status_map_versions.c
    versions = session.execute(select(v.version, v.effective_from, v.rules).order_by(v.version))
    return [(None, installed)] + [
        (row.effective_from, status_rules({"rules": row.rules}, row.version)) for row in versions
    ]


def load_units(session: Session) -> UnitTable:
    """The unit dictionary with each unit's quantity kind, in one query."""
    units = t.units.c
    rows = session.execute(select(units.code, units.expression, units.kind))
    return {code: (expression, kind) for code, expression, kind in rows}


def load_aliases(session: Session) -> AliasTable:
    """Every site's aliases, oldest first, retired ones with their date (a handful per site:
    read at once; the caller picks those in force by its own time)."""
    a = t.aliases.c
    query = select(a.site, a.system, a.kind, a.external_code, a.canonical_code,
                   a.retired_from, a.retired_by).order_by(a.id)  # fmt: skip
    found: dict[str, list[Alias]] = {}
    for site, system, kind, external, canonical, retired_from, by in session.execute(query):
        found.setdefault(site, []).append(
            Alias(site, AliasSystem(system), kind, external, canonical, retired_from, by)
        )
    return {site: tuple(aliases) for site, aliases in found.items()}


def load_accounts(session: Session) -> AccountTable:
    """Every account, detached copies (hundreds of rows at most: read at once)."""
    columns = [c.name for c in t.accounts.c if c.name != "id"]
    rows = session.execute(select(*[t.accounts.c[name] for name in columns]))
    found = [Account(**dict(zip(columns, row, strict=True))) for row in rows]
    by_key = {a.api_key_hash: a for a in found if a.kind == "system" and a.api_key_hash}
    return AccountTable({a.username: a for a in found}, by_key)


class SqlSystemAccounts:
    """The system account holding an API key, from the cache, which one SELECT of the versions
    checks: a key issued, an account deactivated or locked moves the version at its commit."""

    def __init__(self, sessions: sessionmaker[Session], cache: ConfigCache) -> None:
        self.sessions, self.cache = sessions, cache

    def by_api_key(self, key_hash: str) -> Account | None:
        """A fresh copy of the account (a caller may change its copy; the cache keeps its own)."""
        with self.sessions() as session, session.begin():  # a read: a plain BEGIN on SQLite
            version = read_versions(session, shared=False)["accounts"]
            accounts = self.cache.accounts.at(version, lambda: load_accounts(session))
        found = accounts.by_api_key.get(key_hash)
        return replace(found, roles=list(found.roles)) if found is not None else None

    def known(self, key_hash: str) -> tuple[Account, int] | None:
        """The cached account itself (shared: read it, never change it; a copy per request
        was a twentieth of the intake's time) as last read, and that read's version."""
        last = self.cache.accounts.last()
        found = last[1].by_api_key.get(key_hash) if last is not None else None
        return (found, last[0]) if last is not None and found is not None else None

    def version(self) -> int:
        """The accounts' version, in a read transaction of its own."""
        with self.sessions() as session, session.begin():
            return read_versions(session, shared=False)["accounts"]


class SqlKeyRing:
    """Source keys from the cache; read in a transaction of their own only when the cache does
    not know a key (first use, a new key) or the caller asks for them fresh."""

    def __init__(self, sessions: sessionmaker[Session], cache: ConfigCache) -> None:
        self.sessions, self.cache = sessions, cache

    def find(
        self, source: str, kid: str, fresh: bool = False
    ) -> tuple[SourceKey | None, int | None]:
        """The key (None if unknown) and the version of the keys it was found in."""
        last = self.cache.source_keys.last()
        if not fresh and last is not None and (source, kid) in last[1]:
            return last[1][(source, kid)], last[0]
        with self.sessions() as session, session.begin():  # a read: a plain BEGIN on SQLite
            version = read_versions(session, shared=False)["source_keys"]
            keys = self.cache.source_keys.at(version, lambda: load_keys(session))
        return keys.get((source, kid)), version
